"""Shared fixtures: tiny weights, and the app started as people start it (`python app.py`) on a
free loopback port, for the API tests and the browser tests. And the session's one network rule:
nothing beyond 127.0.0.1, set here for every test and every process a test starts."""

import ipaddress
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Before anything imports gradio, gradio_client or huggingface_hub: they read these at import.
# gradio_client's Client sends a telemetry request to the Hub on creation whatever
# GRADIO_ANALYTICS_ENABLED says (its `analytics_enabled=True` default wins); huggingface_hub
# drops it with HF_HUB_DISABLE_TELEMETRY or HF_HUB_OFFLINE. The app started by `running_app` and
# the CLI runs inherit these. tests/test_hub.py points huggingface_hub at its loopback stand-in
# itself (its `online` fixture, or a fresh interpreter's own environment).
OFFLINE = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1",
           "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1"}
os.environ.update(OFFLINE)
# Test files run in parallel, one per CPU (pytest-xdist): each worker, and each app or CLI run
# it starts, computes on one thread, so workers do not fight over the cores they share.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from artvae.train.data import build, folder_candidates  # noqa: E402 - imports huggingface_hub

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "checkpoints" / "artvae-textures" / "model.safetensors"
STARTUP_S = 180  # generous: a loaded 2-core CI machine imports torch + gradio slowly


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(scratch: Path, *args: str, weights: Path | None = None, env: dict | None = None):
    """`python app.py ARGS` in a subprocess; yields (process, its URL); stops it on exit.
    Without `weights`, ARTVAE_WEIGHTS is unset so the app loads the bundled checkpoint."""
    scratch.mkdir(parents=True, exist_ok=True)
    child_env = {**os.environ, **OFFLINE, "PYTHONUNBUFFERED": "1",
                 "GRADIO_TEMP_DIR": str(scratch / "gradio"), "TMPDIR": str(scratch),
                 **(env or {})}
    child_env.pop("ARTVAE_WEIGHTS", None)
    if weights is not None:
        child_env["ARTVAE_WEIGHTS"] = str(weights)
    proc = subprocess.Popen([sys.executable, "app.py", *args], cwd=ROOT, env=child_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = _wait_for_url(proc)
        # keep reading, or a chatty server would block on a full pipe
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield proc, url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_url(proc: subprocess.Popen) -> str:
    """Read the app's output until it prints its URL (or dies, or STARTUP_S pass)."""
    seen, deadline = [], time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], deadline - time.monotonic())
        line = proc.stdout.readline() if ready else ""
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        found = re.search(r"Running on local URL:\s+(\S+)", line)
        if found:
            return found[1].rstrip("/")
    raise RuntimeError("the app did not start:\n" + "".join(seen))


# ---- nothing beyond loopback ------------------------------------------------------------------

def _address(host) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`host` as an IP address; None for a name."""
    try:
        return ipaddress.ip_address((host.decode() if isinstance(host, bytes) else str(host))
                                    .split("%")[0])
    except ValueError:
        return None


def _local_name(host) -> bool:
    """None or "" (as for bind), localhost and its subdomains: names that resolve to here."""
    host = host.decode() if isinstance(host, bytes) else host
    return host in (None, "", "localhost") or str(host).endswith(".localhost")


def _stays_here(host) -> bool:
    address = _address(host)
    return _local_name(host) if address is None else (address.is_loopback
                                                       or address.is_unspecified)


@pytest.fixture(scope="session", autouse=True)
def reached_beyond_loopback():
    """Everything this process tried to reach beyond loopback (refused, and the test fails):
    socket connects, sync and asyncio alike, and look-ups of names (a DNS query leaves the
    machine). Processes the tests start are covered by the environment (OFFLINE) instead."""
    from huggingface_hub import constants

    assert constants.HF_HUB_DISABLE_TELEMETRY and constants.HF_HUB_OFFLINE, (
        "huggingface_hub would call home: OFFLINE must be set before it is imported")
    attempts: list[str] = []
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex
    getaddrinfo = socket.getaddrinfo

    def refused(what: str) -> str:
        attempts.append(what)
        return f"tests reach nothing beyond 127.0.0.1: {what}"

    def checked(address) -> None:  # a (host, port, ...) tuple; a path for AF_UNIX
        if isinstance(address, tuple) and not _stays_here(address[0]):
            raise ConnectionRefusedError(refused(f"connect to {address[:2]}"))

    def guarded_connect(sock, address):
        checked(address)
        return connect(sock, address)

    def guarded_connect_ex(sock, address):
        checked(address)
        return connect_ex(sock, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if _address(host) is None and not _local_name(host):  # an address: nothing to look up
            raise socket.gaierror(socket.EAI_NONAME, refused(f"look up {host!r}"))
        return getaddrinfo(host, *args, **kwargs)

    patch = pytest.MonkeyPatch()
    patch.setattr(socket.socket, "connect", guarded_connect)
    patch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    patch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield attempts
    patch.undo()
    assert not attempts, f"the session tried to reach beyond 127.0.0.1: {attempts}"


@pytest.fixture(autouse=True)
def stays_on_loopback(reached_beyond_loopback):
    """Fails the test during which something tried to reach beyond loopback."""
    before = len(reached_beyond_loopback)
    yield
    tried = reached_beyond_loopback[before:]
    assert not tried, f"this test tried to reach beyond 127.0.0.1: {tried}"


def made_up_controls(style_dim: int, seed: int = 0):
    """Named style controls of the right shapes for tiny weights (fixed random directions;
    saturation's step depends on the style), in place of `python -m artvae controls`."""
    import torch

    from artvae.model.controls import STYLE_CONTROLS, StyleControls

    g = torch.Generator().manual_seed(seed)
    k = len(STYLE_CONTROLS)
    linear = torch.zeros(k, style_dim, style_dim)
    linear[STYLE_CONTROLS.index("saturation")] = 0.3 * torch.eye(style_dim)
    return StyleControls(STYLE_CONTROLS, torch.zeros(style_dim),
                         torch.randn(k, style_dim, generator=g), linear,
                         torch.full((k, 2), 0.5), {"made_up": True})


# ---- weights, the app, a corpus -------------------------------------------------------------

@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """Tiny random weights, seeded, with made-up named style controls beside them, that show
    the settings people change as trained weights do:
    explore directions (untrained: none, so a style coordinate would change nothing), and styles
    that differ from image to image (a random style encoder gives every image nearly the same
    one, so blending two styles would change nothing to see)."""
    import torch

    from artvae.model.autoencoder import ArtVAE
    from artvae.model.config import ModelConfig

    folder = tmp_path_factory.mktemp("weights") / "tiny"
    torch.manual_seed(0)
    model = ArtVAE(ModelConfig.tiny())
    k, d = model.style_basis.shape
    with torch.no_grad():
        model.style_basis.copy_(torch.eye(k, d))  # (K, D_w): unit rows
        model.encoder.style_head[-1].weight[:d].mul_(30)  # the rows giving the style's mean
    model.style_controls = made_up_controls(model.config.style_dim)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_prior_weights(tmp_path_factory) -> Path:
    """Tiny weights with an (untrained) learned prior over structure maps."""
    from dataclasses import replace

    import torch

    from artvae.model.autoencoder import ArtVAE
    from artvae.model.config import ModelConfig

    folder = tmp_path_factory.mktemp("weights") / "tiny_prior"
    torch.manual_seed(0)
    ArtVAE(replace(ModelConfig.tiny(), prior_width=8)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def app_url(tmp_path_factory, tiny_weights) -> str:
    """One app on tiny weights for the whole session (API and browser tests share it)."""
    scratch = tmp_path_factory.mktemp("app")
    with running_app(scratch, "--port", str(free_port()), weights=tiny_weights) as (_, url):
        yield url


@pytest.fixture(scope="session")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """A dozen small striped/noisy textures, built through the real corpus builder."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(12):
        y, x = np.mgrid[0:96, 0:96]
        stripes = np.sin((x * (1 + i % 4) + y * (i % 3)) / 4.0)[..., None]
        colour = rng.uniform(0.2, 0.8, 3)
        pixels = np.clip(colour + 0.25 * stripes + 0.05 * rng.normal(size=(96, 96, 3)), 0, 1)
        Image.fromarray((pixels * 255).astype(np.uint8)).save(folder / f"t{i:02d}.png")
    out = tmp_path_factory.mktemp("corpus")
    manifest = build(folder_candidates(folder), out)
    if not manifest["counts"]["val"]:  # the name-hash split may hold none out of twelve
        for entry in manifest["textures"][:2]:
            entry["split"] = "val"
        (out / "manifest.json").write_text(__import__("json").dumps(manifest))
    return out
