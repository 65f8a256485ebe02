"""Publishing the app to a Hugging Face Space, and the LFS rules that come with it.

Pushes go to the Hub stand-in on 127.0.0.1 (tests/hub_standin_uploads.py) through
huggingface_hub's own upload code, with hf_xet switched off so that the weights (20 MB, over the
Hub's 10 MiB limit for plain files) take the LFS batch path the stand-in speaks. The pushes start
from a copy of the app strewn with what a working tree collects (data, runs, caches, a
virtualenv, __pycache__), none of which may reach the Space. The git tests fake a developer's
git-lfs with a clean filter that writes a pointer, so they run where git-lfs is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import constants, metadata_load
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from artvae.__main__ import main
from artvae.model.hub import MODEL_REPO
from artvae.space import SpaceError, card_problems, publish_space, space_files, space_gitattributes
from tests.hub_standin_uploads import HubUploadStandIn

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "hf_you_can_write"
SPACE, KEY = "you/artvae", "spaces/you/artvae"
WEIGHTS = "checkpoints/artvae-textures/model.safetensors"
HUB_RULES = (  # the .gitattributes the Hub puts in a new repository
    "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib", "*.lfs.*",
    "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.parquet", "*.pb",
    "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors", "saved_model/**/*", "*.tar.*",
    "*.tar", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip", "*.zst", "*tfevents*",
)
JUNK = (  # what a working tree collects; none of it belongs in the Space
    "data/corpus/train/a.png", "runs/default/last.pt", ".venv/lib/python3.11/site-packages/x.py",
    "artvae/__pycache__/space.cpython-311.pyc", "artvae/model/__pycache__/hub.cpython-311.py",
    "artvae/.ipynb_checkpoints/space-checkpoint.py", "test-artifacts/browser/shot.png",
    ".git/config", ".pytest_cache/v/cache/nodeids", ".ruff_cache/0.17/x", "examples/.DS_Store",
    "checkpoints/other-run/model.safetensors", "notes.md", "scratch.py", "docs/.serving.md.swp",
)


def git(*args: str, cwd: Path = ROOT, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True, **kwargs)


def tracked(*pathspecs: str) -> set[str]:
    """The files git tracks here under `pathspecs`: the project's, never a run's leftovers."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout of the project")
    return set(git("ls-files", "-z", "--", *pathspecs).stdout.decode().split("\0")) - {""}


def expected_files() -> set[str]:
    return {"app.py", "requirements.txt", "README.md"} | tracked(
        "artvae/*.py", "examples", "docs", "checkpoints"
    )


def copy_of_the_app(root: Path) -> Path:
    """The Space's files and .gitattributes copied to `root` (the weights hard-linked where the
    file system allows: no test writes to them), plus junk."""
    for name, path in [*space_files(ROOT).items(), (".gitattributes", ROOT / ".gitattributes")]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        try:
            if name != WEIGHTS:
                raise OSError("copy: a test may edit it")
            os.link(path, root / name)
        except OSError:
            shutil.copy(path, root / name)
    for name in JUNK:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"\0junk")
    return root


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return copy_of_the_app(tmp_path / "app")


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubUploadStandIn]:
    """huggingface_hub in this process talks to the stand-in, with no token of its own."""
    with HubUploadStandIn() as server:
        server.tokens[TOKEN] = "you"
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)  # large files take the LFS path
        monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
        yield server


def card() -> dict:
    return metadata_load(ROOT / "README.md") or {}


# -- the Space card ------------------------------------------------------------------------------


def test_the_space_card_runs_app_py_with_the_gradio_the_requirements_pin():
    assert card_problems(ROOT, space_files(ROOT)) == []
    assert card()["sdk"] == "gradio" and card()["app_file"] == "app.py"
    assert f"gradio=={card()['sdk_version']}\n" in (ROOT / "requirements.txt").read_text()


def test_the_space_card_python_version_is_one_the_code_and_every_requirement_run_on():
    version = card()["python_version"]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert Version(version) in SpecifierSet(requires)
    markers = re.findall(r";\s*([^#\n]+)", (ROOT / "requirements.txt").read_text())
    assert markers, "av's python_version marker"
    assert all(Marker(m).evaluate({"python_version": version}) for m in markers)


def test_the_space_card_names_the_model_repository_of_the_bundled_weights():
    assert card()["models"] == [MODEL_REPO]


def test_every_relative_link_in_the_spaces_markdown_points_at_a_file_of_the_space():
    files = space_files(ROOT)
    missing = []
    for name in (n for n in files if n.endswith(".md")):
        for link in re.findall(r"\]\(([^)#\s]+)", files[name].read_text()):
            target = os.path.normpath(Path(name).parent / link)
            if "://" not in link and not link.startswith("mailto:") and target not in files:
                missing.append(f"{name} -> {link}")
    assert missing == []


@pytest.mark.parametrize(
    ("line", "edited", "problem"),
    [
        ("sdk_version: 6.31.0", "sdk_version: 6.0.0", "not the gradio pinned"),
        ("app_file: app.py", "app_file: main.py", "app_file 'main.py' is not among"),
        ("sdk: gradio", "sdk: docker", "sdk is 'docker'"),
    ],
)
def test_a_card_that_would_not_run_is_refused_before_any_request(app, hub, line, edited, problem):
    readme = app / "README.md"
    readme.write_text(readme.read_text().replace(line, edited, 1))
    with pytest.raises(SpaceError, match=f"Space card .*{problem}"):
        publish_space(SPACE, token=TOKEN, root=app)
    assert hub.requests == []


# -- what the Space gets -----------------------------------------------------------------------


def test_the_space_gets_the_app_and_nothing_a_working_tree_collects(app):
    assert set(space_files(app)) == expected_files()


def test_publish_pushes_the_app_to_a_new_gradio_space_in_one_commit(app, hub):
    url = publish_space(SPACE, token=TOKEN, root=app)
    assert url == f"{hub.url}/{KEY}"
    assert hub.repos[KEY]["type"] == "space" and hub.repos[KEY]["sdk"] == "gradio"
    assert "visibility" not in hub.repos[KEY]
    assert len(hub.pushes) == 1
    there = hub.head(KEY)
    assert set(there) == expected_files() | {".gitattributes"}
    assert all(there[name] == (app / name).read_bytes() for name in expected_files())
    assert there[".gitattributes"].decode() == space_gitattributes(ROOT)


def test_the_weights_go_to_large_file_storage_and_the_code_stays_plain(app, hub):
    publish_space(SPACE, token=TOKEN, root=app)
    stored_as = hub.stored_as[KEY]
    assert stored_as[WEIGHTS] == "lfs"  # over 10 MiB
    assert stored_as["examples/bricks.png"] == "lfs"  # binary
    assert stored_as["app.py"] == stored_as["artvae/space.py"] == "regular"
    assert any(method == "PUT" and "/lfs-objects/" in path for method, path in hub.requests)


def test_publishing_again_deletes_modules_gone_here_sends_no_weights_and_keeps_other_files(
    app, hub
):
    (app / "artvae" / "ops" / "retired.py").write_text("OLD = 1\n")
    publish_space(SPACE, token=TOKEN, root=app)
    hub.commit(KEY, hub.head(KEY) | {"packages.txt": b"ffmpeg\n"})  # added on the Hub
    hub.stored_as[KEY]["packages.txt"] = "regular"
    (app / "artvae" / "ops" / "retired.py").unlink()
    hub.requests.clear()
    publish_space(SPACE, token=TOKEN, root=app)
    assert hub.pushes[-1]["deleted"] == ["artvae/ops/retired.py"]
    assert set(hub.head(KEY)) == expected_files() | {".gitattributes", "packages.txt"}
    assert not any(method == "PUT" for method, _ in hub.requests)  # the Hub has the weights


def test_private_creates_a_private_space(app, hub):
    publish_space(SPACE, token=TOKEN, root=app, private=True)
    assert hub.repos[KEY]["visibility"] == "private"


# -- refusals ----------------------------------------------------------------------------------


def test_without_a_token_publish_says_how_to_log_in_and_sends_nothing(app, hub):
    with pytest.raises(SpaceError, match=r"needs a Hugging Face token .*hf auth login.*HF_TOKEN"):
        publish_space(SPACE, root=app)
    assert hub.requests == []


@pytest.mark.parametrize("repo_id", ["you/art vae", "you/artvae/extra", "you/", "-you/artvae"])
def test_a_malformed_space_id_is_refused_before_any_request(app, hub, repo_id):
    with pytest.raises(SpaceError, match=r"is not a valid Hub repo id \(user/name\)"):
        publish_space(repo_id, token=TOKEN, root=app)
    assert hub.requests == []


@pytest.mark.parametrize(
    ("repo_id", "token", "status"),
    [(SPACE, "hf_revoked", 401), ("someone-else/artvae", TOKEN, 403)],
    ids=["unknown token", "another namespace"],
)
def test_a_refused_push_says_to_log_in_with_a_token_that_can_write(
    app, hub, repo_id, token, status
):
    refusal = rf"spaces/{repo_id}: the Hub answered {status}\b.*\. Log in"
    with pytest.raises(SpaceError, match=refusal):
        publish_space(repo_id, token=token, root=app)
    assert hub.pushes == []


# -- the command line --------------------------------------------------------------------------


def test_the_command_prints_the_space_url(hub, tmp_path):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": TOKEN,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "OMP_NUM_THREADS": "1",
    }
    run = subprocess.run(
        [sys.executable, "-m", "artvae", "publish", "--space", SPACE, "--private"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == f"{hub.url}/{KEY}"
    assert hub.repos[KEY]["visibility"] == "private"
    assert set(hub.head(KEY)) == set(space_files(ROOT)) | {".gitattributes"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--space", SPACE], "error: Publishing a Space needs a Hugging Face token"),
        (["--space", SPACE, "--weights", "runs/x"], "error: --weights goes with --repo-id"),
    ],
)
def test_the_command_reports_a_refusal_in_one_line(hub, args, message):
    with pytest.raises(SystemExit) as exit_:
        main(["publish", *args])
    assert str(exit_.value.code).startswith(message)
    assert hub.requests == []


# -- .gitattributes: LFS in a Space, real files here -------------------------------------------


def rules(text: str) -> set[str]:
    return {line.split()[0] for line in text.splitlines() if line.endswith(" -text")}


def test_gitattributes_has_the_hubs_lfs_rules_and_the_space_gets_them_without_the_override():
    here = (ROOT / ".gitattributes").read_text()
    there = space_gitattributes(ROOT)
    for pattern in HUB_RULES:
        assert f"{pattern} filter=lfs diff=lfs merge=lfs -text" in here.splitlines()
    assert rules(there) == rules(here) >= set(HUB_RULES) | {"*.png", "*.jpg"}
    assert "* !filter !diff !merge" in here.splitlines()
    assert "!filter" not in there and "-filter" not in there


def check_attr(where: Path, *paths: str) -> dict[str, str]:
    out = git("check-attr", "filter", "--", *paths, cwd=where, text=True).stdout
    return dict(line.rsplit(": filter: ", 1) for line in out.splitlines())


def repo_with(tmp_path: Path, gitattributes: str, files: dict[str, bytes]) -> Path:
    """A new git repository holding `.gitattributes` and `files`, none of them added yet."""
    tracked()  # skips without git
    repo = tmp_path / "repo"
    git("init", "-q", str(repo))
    (repo / ".gitattributes").write_text(gitattributes)
    for name, content in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(content)
    return repo


def test_git_would_filter_weights_and_pictures_through_lfs_in_a_space_and_never_here(tmp_path):
    paths = (WEIGHTS, "examples/bricks.png", "runs/x/last.pt", "app.py")
    assert set(check_attr(ROOT, *paths).values()) == {"unspecified"}
    space = repo_with(tmp_path, space_gitattributes(ROOT), {})
    assert check_attr(space, *paths) == dict.fromkeys(paths[:3], "lfs") | {"app.py": "unspecified"}


POINTER = b"version https://git-lfs.github.com/spec/v1\n"


@pytest.mark.parametrize("where", ["here", "space"])
def test_a_developer_with_git_lfs_commits_real_weights_here_and_pointers_in_a_space(
    tmp_path, where
):
    weights = b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + bytes(range(256))
    text = (ROOT / ".gitattributes").read_text() if where == "here" else space_gitattributes(ROOT)
    repo = repo_with(tmp_path, text, {WEIGHTS: weights})
    fake_lfs = tmp_path / "git-lfs-clean"  # what `git lfs install` sets up: a clean filter
    fake_lfs.write_text(f"#!/bin/sh\ncat >/dev/null\nprintf '{POINTER.decode().strip()}\\n'\n")
    fake_lfs.chmod(0o755)
    filters = ["-c", f"filter.lfs.clean={fake_lfs}", "-c", "filter.lfs.required=true"]
    git(*filters, "add", WEIGHTS, cwd=repo)
    stored = git("cat-file", "blob", f":{WEIGHTS}", cwd=repo).stdout
    assert stored == (weights if where == "here" else POINTER)


def test_no_tracked_weights_file_is_an_lfs_pointer():
    weights = tracked("*.safetensors", "*.pt", "*.pth", "*.bin", "*.ckpt")
    assert WEIGHTS in weights
    for name in sorted(weights):
        committed = git("cat-file", "blob", f":{name}").stdout  # as the index holds it
        assert not committed.startswith(b"version https://git-lfs"), name
        assert not (ROOT / name).read_bytes()[:100].startswith(b"version https://git-lfs"), name
    assert len(git("cat-file", "blob", f":{WEIGHTS}").stdout) > 10 * 1024 * 1024
