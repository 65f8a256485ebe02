"""Result files the app serves: the folder they are written to, swept by age, and the morph's
exports (a looping GIF, an H.264 MP4, a zip of its frames, each frame's PNG carrying the recipe).
"""

from __future__ import annotations

import atexit
import math
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from artvae.ops.images import image_digest, save_png

from .checks import flag, number
from .playground import Result


class OutputFolder:
    """Where result files are written for the app to serve, in time buckets: folders named for
    the `max_age_s / 4` slice of time they were made in. When a new slice begins, buckets whose
    every file is older than `max_age_s` are deleted whole, so a long-running server neither
    fills its disk nor looks at every result on every request."""

    def __init__(self, root: Path | None = None, max_age_s: float = 3600.0,
                 clock: Callable[[], float] = time.time):
        if root is None:  # our own temporary folder: gone when the server stops
            root = tempfile.mkdtemp(prefix="artvae-results-")
            atexit.register(shutil.rmtree, root, ignore_errors=True)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_age_s, self.bucket_s, self.clock = max_age_s, max_age_s / 4, clock
        self._bucket: int | None = None
        self._lock = threading.Lock()

    def new(self) -> Path:
        """A fresh, empty folder for one result."""
        bucket = int(self.clock() // self.bucket_s)
        with self._lock:
            if bucket != self._bucket:  # once per slice of time, not per request
                self._bucket = bucket
                self._sweep(bucket)
            folder = self.root / f"{bucket:012d}"
            folder.mkdir(exist_ok=True)
        return Path(tempfile.mkdtemp(dir=folder))

    def _sweep(self, now: int) -> None:
        """Delete the buckets that ended more than max_age_s ago (nothing else in the root)."""
        keep = math.ceil(self.max_age_s / self.bucket_s)  # buckets that may hold young files
        for old in self.root.iterdir():
            if old.name.isdigit() and int(old.name) < now - keep:
                shutil.rmtree(old, ignore_errors=True)  # another process may be at it too

    def save(self, result: Result) -> Path:
        """The result as a PNG carrying its recipe, named for what made it; written with light
        compression, as the app answers while sliders move."""
        name = f"artvae-{result.recipe['op']}-{image_digest(result.image)[:8]}.png"
        return save_png(result.image, self.new() / name, recipe=result.recipe, compress_level=1)


def ping_pong(frames: list) -> list:
    """A -> B -> A without repeating the turning frames: 0 1 2 3 2 1."""
    return frames + frames[-2:0:-1]


def write_gif(frames: list[Image.Image], path: Path, fps: float, max_side: int = 512) -> Path:
    """An animated GIF, looping; at most `max_side` wide (a preview: the MP4 and the zip keep
    the full size)."""
    scale = min(1.0, max_side / max(frames[0].size))
    if scale < 1.0:
        size = (round(frames[0].width * scale), round(frames[0].height * scale))
        frames = [f.resize(size, Image.Resampling.BOX) for f in frames]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=round(1000 / fps),
                   loop=0)
    return path


def write_mp4(frames: list[Image.Image], path: Path, fps: float) -> Path | None:
    """H.264 in MP4 via PyAV (its wheels bundle FFmpeg); None when PyAV is not installed."""
    try:
        import av
    except ImportError:
        return None
    w, h = frames[0].width // 2 * 2, frames[0].height // 2 * 2  # yuv420p needs even sides
    with av.open(str(path), mode="w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "18", "preset": "fast"}
        for frame in frames:
            picture = av.VideoFrame.from_image(frame.crop((0, 0, w, h)))
            container.mux(stream.encode(picture))
        container.mux(stream.encode())
    return path


def export_morph(frames: list[Image.Image], recipe: dict, folder: Path, fps,
                 there_and_back) -> list[Path]:
    """The morph as a GIF and an MP4 (ping-pong if `there_and_back`) and a zip of its frames;
    no MP4 without PyAV."""
    fps = number(fps, "fps", 1, 60)
    played = ping_pong(frames) if flag(there_and_back, "ping-pong") else frames
    files = [write_gif(played, folder / "artvae-morph.gif", fps),
             write_mp4(played, folder / "artvae-morph.mp4", fps),
             write_zip(frames, folder / "artvae-morph-frames.zip", recipe)]
    return [f for f in files if f is not None]


def write_zip(frames: list[Image.Image], path: Path, recipe: dict) -> Path:
    """Every frame as a PNG (000.png ...) carrying the recipe and its own t."""
    steps = max(1, len(frames) - 1)
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(path, "w") as archive:
        for i, frame in enumerate(frames):
            png = save_png(frame, Path(tmp) / f"{i:03d}.png",
                           recipe={**recipe, "frame": i, "t": i / steps})
            archive.write(png, png.name)
    return path
