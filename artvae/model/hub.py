"""Where the weights come from, and how a checkpoint is published to the Hugging Face Hub.

A weights *spec* is an existing folder (read from disk, no network), or a Hub repo id with an
optional revision, `user/repo` or `user/repo@revision`, downloaded into huggingface_hub's cache
(so `HF_ENDPOINT`, `HF_HUB_OFFLINE` and `HF_HUB_CACHE` work as they do for any Hub library).
With no spec, `$ARTVAE_WEIGHTS` is used, then the bundled `checkpoints/artvae-textures`, so the
app works offline; the same weights are published on the Hub as `MODEL_REPO`. Only
`model.safetensors` is ever loaded, never a pickle, and loading is strict: a missing or
unexpected tensor is an error. Everything a person can cause or fix (a mistyped repo id, no
network, a truncated download, weights that do not match their config) is raised as a
`WeightsError` whose message says what to do next.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import warnings
from pathlib import Path

from huggingface_hub import (
    _CACHED_NO_EXIST,
    HfApi,
    constants,
    hf_hub_download,
    try_to_load_from_cache,
)
from huggingface_hub.errors import (
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from safetensors import SafetensorError

from .autoencoder import ArtVAE
from .config import ModelConfig
from .controls import CONTROLS_FILE, read_controls

BUNDLED_WEIGHTS = Path(__file__).resolve().parents[2] / "checkpoints" / "artvae-textures"
MODEL_REPO = "artvae/artvae-textures"  # the bundled weights on the Hub (the Space card's `models:`)
WEIGHTS_ENV = "ARTVAE_WEIGHTS"

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
CHECKPOINT_FILES = (CONFIG_FILE, WEIGHTS_FILE)  # what a folder needs to load
PUBLISHED_FILES = (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE)  # what a Hub repo gets, and nothing else
OPTIONAL_FILES = (CONTROLS_FILE,)  # published and loaded where a folder has them

_COMMIT = re.compile(r"[0-9a-f]{40}")
_FOLDER_HINT = "Pass another folder or a Hub repo id with --weights (or set ARTVAE_WEIGHTS)."


class WeightsError(RuntimeError):
    """Weights could not be found, downloaded or loaded; the message says what to do about it."""


def parse_weights_spec(spec: str) -> tuple[str, str | None]:
    """'user/repo@rev' -> ('user/repo', 'rev'); 'user/repo' -> ('user/repo', None)."""
    repo_id, at, revision = spec.strip().partition("@")
    if not repo_id or (at and not revision):
        raise WeightsError(
            f"'{spec}' is not a weights spec: give a folder, or a Hub repo id as user/repo or "
            "user/repo@revision."
        )
    return repo_id, revision or None


def load_model(
    spec: str | None = None,
    *,
    cache_dir: str | Path | None = None,
    local_files_only: bool | None = None,
) -> ArtVAE:
    """Load ArtVAE weights from a folder or a Hub repo id[@revision]; in eval mode, on the CPU.

    `spec` None means $ARTVAE_WEIGHTS, else the bundled checkpoint. `local_files_only=None` leaves
    the choice to huggingface_hub (downloads allowed unless HF_HUB_OFFLINE is set).
    """
    spec = _spec_in_force(spec)
    if _is_folder_spec(spec):
        model = _load_folder(Path(spec).expanduser())
    else:
        model = _load_from_hub(spec, cache_dir=cache_dir, local_files_only=bool(local_files_only))
    return model.eval()


def describe_weights(spec: str | None = None, *, cache_dir: str | Path | None = None) -> str:
    """What `load_model(spec)` loads, in a few words for recipes: a folder's name with a short
    hash of its weights (`artvae-textures#3f2a9c1d0b4e`), or repo@commit.

    For a Hub spec the commit is read from the local cache (no network); a `repo@commit` answer is
    itself a spec that reloads exactly those weights.
    """
    spec = _spec_in_force(spec)
    if _is_folder_spec(spec):
        folder = Path(spec).expanduser().resolve()
        weights = folder / WEIGHTS_FILE
        if not weights.is_file():
            return folder.name
        digest = file_sha256(weights)[:12]  # the folder's revision: which weights exactly
        return f"{folder.name}#{digest}"
    repo_id, revision = parse_weights_spec(spec)
    if revision is not None and _COMMIT.fullmatch(revision):
        return f"{repo_id}@{revision}"
    try:
        cached = try_to_load_from_cache(
            repo_id, WEIGHTS_FILE, cache_dir=cache_dir, revision=revision
        )
    except ValueError:  # not a valid repo id: say what was asked for
        return spec
    if isinstance(cached, str):  # .../snapshots/<commit>/model.safetensors
        return f"{repo_id}@{Path(cached).parent.name}"
    return f"{repo_id}@{revision or constants.DEFAULT_REVISION}"


def publish(
    folder: str | Path, repo_id: str, *, private: bool = False, token: str | None = None
) -> str:
    """Create (or reuse) the Hub repo `repo_id` and upload a checkpoint folder; return its URL.

    Only config.json, model.safetensors, the README.md model card and the style controls (where
    the folder has them) are uploaded, and only after
    the weights have been loaded back strictly, so a broken checkpoint is never published.
    """
    folder = Path(folder).expanduser()
    missing = [name for name in PUBLISHED_FILES if not (folder / name).is_file()]
    if missing:
        raise WeightsError(
            f"Cannot publish {folder}: it lacks {', '.join(missing)}. A checkpoint folder needs "
            "config.json, model.safetensors and a README.md model card, as written by "
            "`ArtVAE.save_pretrained` (or `python -m artvae export`)."
        )
    _load_folder(folder)
    api, where = HfApi(token=token), f"{constants.ENDPOINT}/{repo_id}"
    try:
        url = api.create_repo(repo_id, private=private or None, exist_ok=True)
        api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            allow_patterns=list(PUBLISHED_FILES) + [
                name for name in OPTIONAL_FILES if (folder / name).is_file()],
            commit_message=f"Upload ArtVAE weights from {folder.name}",
        )
    except Exception as error:
        raise WeightsError(upload_failure(error, repo_id, where)) from error
    return str(url)


def upload_failure(error: Exception, repo_id: str, where: str) -> str:
    """What went wrong creating or uploading to the Hub repo `repo_id` at `where`, and what to do.

    Shared by `publish` (a checkpoint) and `artvae.space` (the app, as a Space).
    """
    if isinstance(error, HFValidationError):
        return f"'{repo_id}' is not a valid Hub repo id (user/name)."
    if isinstance(error, HfHubHTTPError):
        status = error.response.status_code if error.response is not None else "?"
        advice = (
            "Log in with `hf auth login` (or set HF_TOKEN) with a token that can write to it."
            if status in (401, 403)
            else "Try again later."
        )
        said = (error.server_message or "").strip().splitlines()  # the Hub's own words, if any
        detail = f" ({said[0]})" if said else ""
        return f"Could not publish to {where}: the Hub answered {status}{detail}. {advice}"
    # no network, DNS, TLS: the transport's own exception types
    return (
        f"Could not publish to {where} ({type(error).__name__}: {_first_line(error)}). "
        "Check your connection and try again."
    )


def _spec_in_force(spec: str | None) -> str:
    """The argument, else $ARTVAE_WEIGHTS, else the bundled folder."""
    return spec or os.environ.get(WEIGHTS_ENV) or str(BUNDLED_WEIGHTS)


def _is_folder_spec(spec: str) -> bool:
    """An existing path, or something only a path looks like ('./x', '/x', '~/x', 'a/b/c')."""
    if Path(spec).expanduser().exists():
        return True
    return spec.startswith((".", "/", "~")) or "\\" in spec or spec.count("/") > 1


def _load_folder(folder: Path) -> ArtVAE:
    """Strictly load a checkpoint folder from disk; no network."""
    if not folder.is_dir():
        problem = "it is a file" if folder.exists() else "it does not exist"
        raise WeightsError(
            f"No weights found at folder {folder} ({problem}; expected a folder holding "
            f"config.json and model.safetensors). {_FOLDER_HINT}"
        )
    missing = [name for name in CHECKPOINT_FILES if not (folder / name).is_file()]
    if missing:
        raise WeightsError(
            f"No weights found at folder {folder} (expected config.json and model.safetensors; "
            f"missing {', '.join(missing)}). {_FOLDER_HINT}"
        )
    fix = f"Re-export the checkpoint into {folder}, or pass other weights with --weights."
    _check_config(folder / CONFIG_FILE, str(folder), fix)
    model = _from_pretrained(str(folder), str(folder), folder / WEIGHTS_FILE, fix)
    return _with_controls(model, folder / CONTROLS_FILE, folder / WEIGHTS_FILE, str(folder))


def _load_from_hub(spec: str, *, cache_dir: str | Path | None, local_files_only: bool) -> ArtVAE:
    """Download (or find in the cache) one commit's files, then load them strictly."""
    repo_id, revision = parse_weights_spec(spec)
    weights_file = _download(spec, repo_id, revision, WEIGHTS_FILE, cache_dir, local_files_only)
    # The cache keeps files as .../models--user--repo/snapshots/<commit>/<file>. Pinning the
    # config and from_pretrained to that commit keeps both files from one commit (even if the
    # branch moves meanwhile), and lets from_pretrained find everything cached: no more requests,
    # and never its fallback to a pickled pytorch_model.bin.
    commit = weights_file.parent.name
    if not _COMMIT.fullmatch(commit):
        commit = revision
    config_file = _download(spec, repo_id, commit, CONFIG_FILE, cache_dir, local_files_only)
    label = f"{repo_id}@{commit}"
    fix = f"Delete the cached copy in {weights_file.parents[2]} and try again."
    _check_config(config_file, label, fix)
    model = _from_pretrained(
        repo_id,
        label,
        weights_file,
        fix,
        revision=commit,
        cache_dir=cache_dir,
        local_files_only=local_files_only,
    )
    controls = _optional_download(repo_id, commit, CONTROLS_FILE, cache_dir, local_files_only)
    return _with_controls(model, controls, weights_file, label)


def _optional_download(repo_id: str, commit: str | None, filename: str,
                       cache_dir: str | Path | None, local_files_only: bool) -> Path | None:
    """A file the repo may or may not have, at the weights' commit: its cached copy, else a
    download (unless offline); None when it is not there or cannot be had. A missing file is
    remembered by the cache, so a later load asks nothing."""
    with contextlib.suppress(Exception):
        cached = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir, revision=commit)
        if cached is _CACHED_NO_EXIST:
            return None
        if isinstance(cached, str):
            return Path(cached)
        if local_files_only or constants.HF_HUB_OFFLINE:
            return None
        return Path(hf_hub_download(repo_id, filename, revision=commit, cache_dir=cache_dir))
    return None


def _with_controls(model: ArtVAE, controls: Path | None, weights_file: Path,
                   label: str) -> ArtVAE:
    """The model with the named style controls of the file beside its weights, where there
    is one (`artvae.model.controls`). A file that does not fit these weights is left out with a
    warning; one learned for other weights (the weights changed since) is kept with one."""
    if controls is None or not controls.is_file():
        return model
    refill = (f"refill them with `python -m artvae controls --weights {label} "
              "--data data/corpus`")
    try:
        model.style_controls = read_controls(controls, model.config.style_dim)
    except (ValueError, KeyError, SafetensorError) as error:
        warnings.warn(f"The style controls of {label} do not fit its weights ({error}); "
                      f"they are left out: {refill}.", stacklevel=3)
        return model
    made_for = model.style_controls.info.get("weights_sha256")
    if made_for and made_for != file_sha256(weights_file)[:len(made_for)]:
        warnings.warn(f"The style controls of {label} were learned for other weights: "
                      f"{refill}.", stacklevel=3)
    return model


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, in hex."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _download(
    spec: str,
    repo_id: str,
    revision: str | None,
    filename: str,
    cache_dir: str | Path | None,
    local_files_only: bool,
) -> Path:
    """hf_hub_download, with each way it can fail turned into a WeightsError."""
    source = f"Could not download weights '{spec}' from {constants.ENDPOINT}/{repo_id}"
    try:
        path = hf_hub_download(
            repo_id,
            filename,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
        )
    except HFValidationError as error:
        raise WeightsError(
            f"'{spec}' is neither a folder nor a Hub repo id (user/repo or user/repo@revision). "
            "Check the path or the repo id."
        ) from error
    except RepositoryNotFoundError as error:  # also private or gated repos without access
        raise WeightsError(
            f"{source}: repository not found (or it is private and you are not logged in). "
            "Check the repo id, or pass a local folder with --weights."
        ) from error
    except RevisionNotFoundError as error:
        raise WeightsError(
            f"{source}: revision '{revision}' not found. Check the branch, tag or commit, "
            "or leave out '@...' to get the latest."
        ) from error
    except RemoteEntryNotFoundError as error:
        raise WeightsError(
            f"{source}: the repository has no {filename}. ArtVAE weights are a config.json and "
            "a model.safetensors, as `python -m artvae publish` uploads them."
        ) from error
    except LocalEntryNotFoundError as error:
        if local_files_only or constants.HF_HUB_OFFLINE:
            raise WeightsError(
                f"Weights '{spec}' are not in the local cache and downloads are turned off "
                "(HF_HUB_OFFLINE or local_files_only). Download them once while online, or pass "
                "a local folder with --weights."
            ) from error
        raise WeightsError(
            f"{source}: the Hub could not be reached and there is no cached copy. Check your "
            "connection (and HF_ENDPOINT, if set), or pass a local folder with --weights."
        ) from error
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else "?"
        raise WeightsError(
            f"{source}: the server answered {status}. If the repo is private, log in with "
            "`hf auth login`; otherwise try again later."
        ) from error
    except OSError as error:  # size check failed (cut-off download), disk full, permissions
        raise WeightsError(
            f"{source}: the download of {filename} failed ({_first_line(error)}). Try again."
        ) from error
    except Exception as error:  # the transport's own exceptions: connection reset mid-download
        raise WeightsError(
            f"{source} ({type(error).__name__}: {_first_line(error)}). Check your connection and "
            "try again, or pass a local folder with --weights."
        ) from error
    return Path(path)


def _check_config(config_file: Path, label: str, fix: str) -> None:
    """Raise a WeightsError unless config_file holds a ModelConfig ArtVAE can be built from."""
    try:
        values = json.loads(config_file.read_text(encoding="utf-8"))
        if not isinstance(values, dict):
            raise ValueError("expected a JSON object of model settings")
        ArtVAE(ModelConfig.from_dict(values))  # unknown fields, impossible widths
    except (ValueError, TypeError) as error:  # json.JSONDecodeError is a ValueError
        raise WeightsError(
            f"The config.json of {label} is not a valid ArtVAE config ({_first_line(error)}). {fix}"
        ) from error


def _from_pretrained(model_id: str, label: str, weights_file: Path, fix: str, **kwargs) -> ArtVAE:
    """ArtVAE.from_pretrained(strict=True), with load failures turned into WeightsErrors."""
    try:
        return ArtVAE.from_pretrained(model_id, strict=True, **kwargs)
    except SafetensorError as error:
        raise WeightsError(
            f"The file {WEIGHTS_FILE} of {label} is corrupt or truncated ({_first_line(error)}; "
            f"{_size(weights_file)}). {fix}"
        ) from error
    except RuntimeError as error:  # strict loading: missing or unexpected tensors, wrong shapes
        raise WeightsError(
            f"The weights of {label} do not match its config.json ({_shorten(error)}). They may "
            f"come from another model or another version of ArtVAE. {fix}"
        ) from error


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _shorten(error: BaseException, limit: int = 300) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _size(path: Path) -> str:
    try:
        return f"{path.stat().st_size} bytes"
    except OSError:
        return "unreadable"
