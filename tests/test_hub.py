"""Resolving weights: local folders, the bundled default, and the real Hub download path.

Hub downloads go through huggingface_hub's own `hf_hub_download` to a stand-in on 127.0.0.1
(`tests/hub_standin.py`). huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE once, at import,
into `huggingface_hub.constants`, and reads those constants again on every request; so most tests
point the constants at the stand-in with monkeypatch (fast, in-process), and two tests run a fresh
Python with the environment variables set, as a user would. Publishing is tested with a mocked
HfApi, and once for real against the stand-in's write API (tests/hub_standin_uploads.py), with
hf_xet off so that the weights take the LFS path the stand-in speaks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
import torch
from huggingface_hub import constants
from safetensors.torch import load_file, save_file

from artvae.model import hub
from artvae.model.autoencoder import ArtVAE
from artvae.model.config import ModelConfig
from artvae.model.hub import WeightsError, describe_weights, load_model, parse_weights_spec, publish
from tests.hub_standin import HubStandIn
from tests.hub_standin_uploads import HubUploadStandIn

REPO_ROOT = Path(__file__).resolve().parent.parent
REPO = "artvae/textures"


def _checkpoint(folder: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    ArtVAE(ModelConfig.tiny()).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two tiny checkpoints with different weights: the repo's first and second commit."""
    root = tmp_path_factory.mktemp("checkpoints")
    return {"old": _checkpoint(root / "old", seed=0), "new": _checkpoint(root / "new", seed=1)}


@pytest.fixture
def standin(checkpoints: dict[str, Path]) -> Iterator[HubStandIn]:
    """The stand-in with REPO: commit `old`, then `new` on main (shas in `.first`, `.head`)."""
    with HubStandIn() as server:
        server.first = server.commit_folder(REPO, checkpoints["old"])  # type: ignore[attr-defined]
        server.head = server.commit_folder(REPO, checkpoints["new"])  # type: ignore[attr-defined]
        yield server


@pytest.fixture
def online(standin: HubStandIn, monkeypatch: pytest.MonkeyPatch) -> HubStandIn:
    """huggingface_hub in this process talks to the stand-in, as HF_ENDPOINT would make it."""
    monkeypatch.setattr(constants, "ENDPOINT", standin.url)
    template = standin.url + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv(hub.WEIGHTS_ENV, raising=False)
    return standin


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "hf-cache"


def assert_same_weights(model: torch.nn.Module, folder: Path) -> None:
    expected = load_file(folder / "model.safetensors")
    actual = model.state_dict()
    assert actual.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(actual[name], tensor), name


def run_fresh_python(spec: str, out: Path, env: dict[str, str]) -> str:
    """load_model(spec) in a new interpreter; its weights go to `out`; returns describe_weights."""
    script = (
        "import sys\n"
        "from safetensors.torch import save_file\n"
        "from artvae.model.hub import describe_weights, load_model\n"
        "spec = sys.argv[1] or None\n"
        "save_file(load_model(spec).state_dict(), sys.argv[2])\n"
        "print(describe_weights(spec))\n"
    )
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(out.parent),
        "PYTHONPATH": str(REPO_ROOT),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "OMP_NUM_THREADS": "1",
    }
    result = subprocess.run(
        [sys.executable, "-c", script, spec, str(out)],
        env=base | env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


# -- specs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("user/repo", ("user/repo", None)),
        ("user/repo@main", ("user/repo", "main")),
        ("user/repo@v1.0", ("user/repo", "v1.0")),
        ("user/repo@" + "a" * 40, ("user/repo", "a" * 40)),
        ("gpt2", ("gpt2", None)),
    ],
)
def test_parse_weights_spec_splits_repo_id_and_revision(spec, expected):
    assert parse_weights_spec(spec) == expected


@pytest.mark.parametrize("spec", ["", "@main", "user/repo@"])
def test_parse_weights_spec_rejects_an_empty_repo_id_or_revision(spec):
    with pytest.raises(WeightsError, match=r"user/repo@revision"):
        parse_weights_spec(spec)


# -- local folders -----------------------------------------------------------------------------


def test_local_folder_loads_from_disk_without_network(online, checkpoints):
    model = load_model(str(checkpoints["old"]))
    assert_same_weights(model, checkpoints["old"])
    assert not model.training
    assert online.requests == []
    assert describe_weights(str(checkpoints["old"])).startswith("old#")


def test_weights_env_var_picks_the_folder_when_no_spec_is_given(checkpoints, monkeypatch):
    monkeypatch.setenv(hub.WEIGHTS_ENV, str(checkpoints["new"]))
    assert_same_weights(load_model(), checkpoints["new"])


def test_bundled_checkpoint_is_the_default(checkpoints, monkeypatch):
    monkeypatch.delenv(hub.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(hub, "BUNDLED_WEIGHTS", checkpoints["old"])
    assert_same_weights(load_model(), checkpoints["old"])
    assert describe_weights(None).startswith("old#")


@pytest.mark.parametrize("missing", ["config.json", "model.safetensors"])
def test_folder_missing_a_file_raises_weights_error_naming_it(checkpoints, tmp_path, missing):
    folder = shutil.copytree(checkpoints["old"], tmp_path / "partial")
    (folder / missing).unlink()
    with pytest.raises(WeightsError, match=rf"No weights found at folder .*missing {missing}"):
        load_model(str(folder))


def test_path_that_does_not_exist_raises_weights_error_not_a_hub_lookup(online, tmp_path):
    with pytest.raises(WeightsError, match=r"No weights found at folder .*does not exist"):
        load_model(str(tmp_path / "nowhere"))
    assert online.requests == []


@pytest.mark.parametrize("change", ["extra key", "missing key"])
def test_strict_loading_rejects_a_safetensors_with_an_extra_or_missing_key(
    checkpoints, tmp_path, change
):
    folder = shutil.copytree(checkpoints["old"], tmp_path / "edited")
    tensors = load_file(folder / "model.safetensors")
    if change == "extra key":
        tensors["decoder.extra.weight"] = torch.zeros(3)
        key = "decoder.extra.weight"
    else:
        key = "decoder.out.weight"
        del tensors[key]
    save_file(tensors, folder / "model.safetensors")
    with pytest.raises(WeightsError, match=rf"do not match its config.json .*{key}"):
        load_model(str(folder))


def test_invalid_config_json_raises_weights_error(checkpoints, tmp_path):
    folder = shutil.copytree(checkpoints["old"], tmp_path / "bad-config")
    (folder / "config.json").write_text('{"style_dim": 8, "colour": "blue"}')
    with pytest.raises(WeightsError, match=r"config.json .* is not a valid ArtVAE config"):
        load_model(str(folder))


def test_corrupt_local_safetensors_raises_weights_error(checkpoints, tmp_path):
    folder = shutil.copytree(checkpoints["old"], tmp_path / "corrupt")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 3])
    with pytest.raises(WeightsError, match=r"corrupt or truncated"):
        load_model(str(folder))


# -- the Hub download path -----------------------------------------------------------------------


def test_first_download_loads_the_weights_of_the_branch_head(online, checkpoints, cache):
    model = load_model(REPO, cache_dir=cache)
    assert_same_weights(model, checkpoints["new"])
    assert not model.training
    fetched = {(method, path.rsplit("/", 1)[-1]) for method, path in online.requests}
    assert {("GET", "model.safetensors"), ("GET", "config.json")} <= fetched


def test_describe_weights_names_the_cached_commit_and_reloads_it(online, checkpoints, cache):
    load_model(REPO, cache_dir=cache)
    described = describe_weights(REPO, cache_dir=cache)
    assert described == f"{REPO}@{online.head}"
    assert_same_weights(load_model(described, cache_dir=cache), checkpoints["new"])


def test_pinned_commit_loads_that_commits_weights(online, checkpoints, cache):
    model = load_model(f"{REPO}@{online.first}", cache_dir=cache)
    assert_same_weights(model, checkpoints["old"])


def test_cached_pinned_commit_reloads_without_any_request(online, checkpoints, cache):
    load_model(f"{REPO}@{online.first}", cache_dir=cache)
    online.requests.clear()
    assert_same_weights(load_model(f"{REPO}@{online.first}", cache_dir=cache), checkpoints["old"])
    assert online.requests == []


def test_branch_name_after_at_sign_loads_that_branch(online, checkpoints, cache):
    model = load_model(f"{REPO}@main", cache_dir=cache)
    assert_same_weights(model, checkpoints["new"])


def test_missing_repo_raises_weights_error_naming_the_repo(online, cache):
    with pytest.raises(WeightsError, match=r"'someone/no-such-repo'.*repository not found"):
        load_model("someone/no-such-repo", cache_dir=cache)


def test_missing_revision_raises_weights_error_naming_the_revision(online, cache):
    with pytest.raises(WeightsError, match=r"revision 'v9' not found"):
        load_model(f"{REPO}@v9", cache_dir=cache)


def test_repo_without_safetensors_raises_and_never_falls_back_to_a_pickle(online, cache):
    online.commit("someone/pickles", {"config.json": b"{}", "pytorch_model.bin": b"\x80\x04."})
    with pytest.raises(WeightsError, match=r"has no model.safetensors"):
        load_model("someone/pickles", cache_dir=cache)
    assert not any(path.endswith("pytorch_model.bin") for _, path in online.requests)


def test_truncated_download_raises_weights_error_saying_which_cache_to_delete(online, cache):
    online.damage[(REPO, "model.safetensors")] = "truncated"
    with pytest.raises(WeightsError, match=r"model.safetensors .* corrupt or truncated") as caught:
        load_model(REPO, cache_dir=cache)
    assert f"Delete the cached copy in {cache.resolve() / 'models--artvae--textures'}" in str(
        caught.value
    )


def test_deleting_the_cached_copy_as_advised_recovers(online, checkpoints, cache):
    online.damage[(REPO, "model.safetensors")] = "truncated"
    with pytest.raises(WeightsError):
        load_model(REPO, cache_dir=cache)
    online.damage.clear()
    shutil.rmtree(cache / "models--artvae--textures")
    assert_same_weights(load_model(REPO, cache_dir=cache), checkpoints["new"])


def test_download_cut_short_raises_weights_error_and_caches_nothing(online, cache):
    online.damage[(REPO, "model.safetensors")] = "cut"
    with pytest.raises(WeightsError, match=r"download of model.safetensors failed") as caught:
        load_model(REPO, cache_dir=cache)
    assert "Try again" in str(caught.value)
    assert not list(cache.glob("models--artvae--textures/snapshots/*/model.safetensors"))


def test_offline_without_a_cached_copy_raises_weights_error(online, cache):
    with pytest.raises(WeightsError, match=r"not in the local cache and downloads are turned off"):
        load_model(REPO, cache_dir=cache, local_files_only=True)
    assert online.requests == []


# -- the environment variables, in a fresh interpreter -------------------------------------------


def test_hf_endpoint_and_artvae_weights_env_vars_select_the_hub_repo(
    standin, checkpoints, tmp_path
):
    env = {
        "HF_ENDPOINT": standin.url,
        "HF_HOME": str(tmp_path / "hf"),
        hub.WEIGHTS_ENV: REPO,
    }
    described = run_fresh_python("", tmp_path / "loaded.safetensors", env)
    assert described == f"{REPO}@{standin.head}"
    assert standin.requests, "the download should have gone to the stand-in"
    expected = load_file(checkpoints["new"] / "model.safetensors")
    loaded = load_file(tmp_path / "loaded.safetensors")
    assert all(torch.equal(loaded[name], tensor) for name, tensor in expected.items())


def test_second_load_with_hf_hub_offline_uses_the_cache_and_makes_no_request(
    online, checkpoints, cache, tmp_path
):
    load_model(REPO, cache_dir=cache)  # first load, online, fills the cache
    online.requests.clear()
    env = {"HF_ENDPOINT": online.url, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    described = run_fresh_python(REPO, tmp_path / "loaded.safetensors", env)
    assert online.requests == []
    assert described == f"{REPO}@{online.head}"
    expected = load_file(checkpoints["new"] / "model.safetensors")
    loaded = load_file(tmp_path / "loaded.safetensors")
    assert all(torch.equal(loaded[name], tensor) for name, tensor in expected.items())


# -- publishing --------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["config.json", "model.safetensors", "README.md"])
def test_publish_refuses_a_folder_without_a_checkpoint_file(checkpoints, tmp_path, missing):
    folder = shutil.copytree(checkpoints["old"], tmp_path / "partial")
    (folder / missing).unlink()
    api = mock.MagicMock()
    with (
        mock.patch.object(hub, "HfApi", return_value=api),
        pytest.raises(WeightsError, match=rf"Cannot publish .*lacks {missing}"),
    ):
        publish(folder, "someone/textures")
    api.create_repo.assert_not_called()
    api.upload_folder.assert_not_called()


def test_publish_creates_the_repo_and_uploads_only_the_checkpoint_files(checkpoints):
    api = mock.MagicMock()
    api.create_repo.return_value = "https://huggingface.co/someone/textures"
    with mock.patch.object(hub, "HfApi", return_value=api) as make_api:
        url = publish(checkpoints["old"], "someone/textures", private=True, token="hf_x")
    assert url == "https://huggingface.co/someone/textures"
    make_api.assert_called_once_with(token="hf_x")
    api.create_repo.assert_called_once_with("someone/textures", private=True, exist_ok=True)
    upload = api.upload_folder.call_args.kwargs
    assert upload["repo_id"] == "someone/textures"
    assert Path(upload["folder_path"]) == checkpoints["old"]
    assert sorted(upload["allow_patterns"]) == ["README.md", "config.json", "model.safetensors"]


def test_publish_uploads_the_checkpoint_files_and_nothing_else_to_the_hub(
    checkpoints, tmp_path, monkeypatch
):
    folder = shutil.copytree(checkpoints["old"], tmp_path / "textures")
    (folder / "notes.txt").write_text("kept here")
    with HubUploadStandIn() as server:
        server.tokens["hf_x"] = "someone"
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        assert publish(folder, "someone/textures", token="hf_x") == f"{server.url}/someone/textures"
        there = server.head("someone/textures")
    assert set(there) == {".gitattributes", "README.md", "config.json", "model.safetensors"}
    assert all(there[name] == (folder / name).read_bytes() for name in hub.PUBLISHED_FILES)
    assert server.stored_as["someone/textures"]["model.safetensors"] == "lfs"


# -- the named style controls beside the weights --------------------------------------------------


def test_a_repo_with_style_controls_loads_them_and_a_cached_reload_asks_nothing(
    checkpoints, cache, tmp_path, online
):
    from artvae.model.controls import CONTROLS_FILE, write_controls
    from tests.conftest import made_up_controls

    folder = shutil.copytree(checkpoints["new"], tmp_path / "with-controls")
    write_controls(folder, made_up_controls(8))
    commit = online.commit_folder("artvae/controlled", folder)
    model = load_model(f"artvae/controlled@{commit}", cache_dir=cache)
    assert model.style_controls is not None
    assert ("GET", CONTROLS_FILE) in {(m, p.rsplit("/", 1)[-1]) for m, p in online.requests}
    online.requests.clear()
    assert load_model(f"artvae/controlled@{commit}", cache_dir=cache).style_controls is not None
    assert online.requests == []


def test_a_repo_without_style_controls_loads_without_them(online, cache):
    model = load_model(f"{REPO}@{online.first}", cache_dir=cache)
    assert model.style_controls is None
