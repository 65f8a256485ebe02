"""Publishing the app to a Hugging Face Space: `python -m artvae publish --space user/name`.

A Space is a Hub repository that runs `app.py` with the SDK its README front matter names. The
files it gets come from an explicit allow-list: the app, the package's Python files, the
requirements, the README as the Space card, the docs and pictures the card links to, the examples,
and the bundled checkpoint, so that the Space runs offline-first as a local run does (no download
at start, no dependency on the model repository being reachable). Nothing generated goes: no
data/, runs/, caches, virtualenv, __pycache__, test artifacts or .git. The Hub's LFS rules, the
first part of this repository's `.gitattributes`, become the Space's `.gitattributes`.

Everything goes in one commit (a Space rebuilds on every commit) through huggingface_hub's HTTP
upload API: the Hub sends files over 10 MB, and binary files, to its large-file storage by itself,
so neither git nor git-lfs is needed. Files under the folders the Space gets from here that are
gone here (a module removed since) are deleted there; other files in the Space are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    constants,
    get_token,
    metadata_load,
)
from huggingface_hub.errors import HFValidationError, RepositoryNotFoundError, RevisionNotFoundError
from huggingface_hub.utils import validate_repo_id

from .model.hub import BUNDLED_WEIGHTS, load_model, upload_failure

APP_ROOT = Path(__file__).resolve().parents[1]  # the folder holding app.py and artvae/
WEIGHTS_FOLDER = BUNDLED_WEIGHTS.relative_to(APP_ROOT).as_posix()  # checkpoints/artvae-textures

# The allow-list. Top-level files, then folders (searched recursively) with the names they give.
SPACE_FILES = ("app.py", "requirements.txt", "README.md")
SPACE_FOLDERS = {
    "artvae": ("*.py",),
    "examples": ("*.png", "*.md", "*.py"),  # the pictures, and the README that credits them
    "docs": ("*.md", "*.jpg"),  # the Space card links to them
    WEIGHTS_FOLDER: ("config.json", "model.safetensors", "README.md",
                     "style_controls.safetensors"),  # the named style controls
}
GITATTRIBUTES = ".gitattributes"
REPO_ONLY = "# --- This repository only"  # .gitattributes: the Space's copy ends before this line


class SpaceError(RuntimeError):
    """The app could not be published as a Space; the message says what to do about it."""


def space_files(root: Path = APP_ROOT) -> dict[str, Path]:
    """{path in the Space: file here} for every file of the allow-list found under `root`."""
    found = {name: root / name for name in SPACE_FILES if (root / name).is_file()}
    for folder, names in SPACE_FOLDERS.items():
        for name in names:
            for path in (root / folder).rglob(name):
                relative = path.relative_to(root)
                hidden = any(part.startswith((".", "__pycache__")) for part in relative.parts)
                if path.is_file() and not hidden:
                    found[relative.as_posix()] = path
    return dict(sorted(found.items()))


def space_gitattributes(root: Path = APP_ROOT) -> str:
    """The Space's .gitattributes: this repository's, up to its 'this repository only' part."""
    text = (root / GITATTRIBUTES).read_text(encoding="utf-8")
    return text.split(REPO_ONLY, 1)[0].rstrip() + "\n"


def card_problems(root: Path, files: Iterable[str]) -> list[str]:
    """What in the Space card (README.md front matter) would stop the Space from running."""
    card = metadata_load(root / "README.md") or {}
    pins = re.findall(r"^gradio==([^\s;#]+)", (root / "requirements.txt").read_text(), re.M)
    problems = []
    if card.get("sdk") != "gradio":
        problems.append(f"sdk is {card.get('sdk')!r}, not 'gradio'")
    if card.get("app_file") not in set(files):
        problems.append(f"app_file {card.get('app_file')!r} is not among the Space's files")
    if [str(card.get("sdk_version"))] != pins:
        problems.append(
            f"sdk_version {card.get('sdk_version')!r} is not the gradio pinned in requirements.txt "
            f"({', '.join(pins) or 'none'})"
        )
    return problems


def publish_space(
    repo_id: str, *, private: bool = False, token: str | None = None, root: Path = APP_ROOT
) -> str:
    """Create (or reuse) the Gradio Space `repo_id`, push the app to it in one commit; its URL.

    Refuses, before any network call, a malformed repo id, a missing token, a Space card that
    does not match the requirements, and bundled weights that do not load.
    """
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise SpaceError(f"'{repo_id}' is not a valid Hub repo id (user/name).") from error
    token = token or get_token()
    if token is None:
        raise SpaceError(
            "Publishing a Space needs a Hugging Face token that can write: log in with "
            "`hf auth login`, or set HF_TOKEN."
        )
    files = space_files(root)
    problems = card_problems(root, files)
    if problems:
        raise SpaceError(
            f"The Space card in {root / 'README.md'} is not ready: " + "; ".join(problems) + "."
        )
    load_model(str(root / WEIGHTS_FOLDER))  # strict: broken weights are never published
    api = HfApi(token=token)
    where = f"{constants.ENDPOINT}/spaces/{repo_id}"
    try:
        url = api.create_repo(
            repo_id, repo_type="space", space_sdk="gradio", private=private or None, exist_ok=True
        )
        operations = [
            *_stale(api, repo_id, files),
            *(CommitOperationAdd(name, str(path)) for name, path in files.items()),
            CommitOperationAdd(GITATTRIBUTES, space_gitattributes(root).encode()),
        ]
        api.create_commit(
            repo_id,
            operations,
            repo_type="space",
            commit_message="Publish the ArtVAE app (python -m artvae publish --space)",
        )
    except Exception as error:
        raise SpaceError(upload_failure(error, repo_id, where)) from error
    return str(url)


def _stale(api: HfApi, repo_id: str, files: dict[str, Path]) -> list[CommitOperationDelete]:
    """Deletions for files in the Space's copies of our folders that are no longer here."""
    try:
        there = api.list_repo_files(repo_id, repo_type="space")
    except (RepositoryNotFoundError, RevisionNotFoundError):  # nothing committed there yet
        return []
    ours = tuple(folder + "/" for folder in SPACE_FOLDERS)
    return [
        CommitOperationDelete(name) for name in there if name.startswith(ours) and name not in files
    ]
