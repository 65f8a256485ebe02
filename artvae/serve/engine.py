"""The Engine: one loaded model on one device, turning images into codes and codes into images.

Everything that serves people (the app, the CLI, the web API) goes through it. It owns the
device and dtype choice (via `device.py`), preprocessing (the safe loader, padding to a multiple
of 8), `torch.inference_mode`, and a cache of encodings keyed by image content, so moving a
slider in the UI only decodes.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial

import torch
import torch.nn.functional as F
from PIL import Image

from artvae.model.autoencoder import DOWNSCALE, ArtVAE
from artvae.model.device import autocast_dtype, pick_device
from artvae.model.hub import describe_weights, load_model
from artvae.ops import borders, generate, latent, restyle, tiled
from artvae.ops.images import image_digest, image_to_tensor, load_image, tensor_to_image
from artvae.ops.latent import Code
from artvae.ops.refine import refine

from .batching import ModelWorkers

MAX_SIDE = 2048  # inputs are downscaled to this before encoding: bounded work per request
MAX_OUTPUT_PIXELS = 4096 * 4096  # largest decode: ~25 s and ~3 GB on a 2-core CPU
MAX_FRAMES = 121  # longest morph
SIZED_CACHE = 16  # codes on other canvases kept (a 2048 px one holds 2 MB of structure)
FILE_DIGESTS = 256  # files whose content digest is remembered (by path, size and mtime)
GUESSES = 4  # first guesses kept for the encodes that follow them (`first_guess`)
GUESS_SHRINK = 2  # a first guess is shown this many times smaller (drawn at full size)
MAX_REFINE_STEPS = 500  # a refined reconstruction's gradient steps: bounded work per call
# a step is a forward and backward pass of the decoder in float32: ~80 ms at 256 px on 2 CPU
# cores, ~16x that at 1024 px; larger images are not refined
MAX_REFINE_PIXELS = 1024 * 1024
REFINE_UPLOAD_PIXELS = 512 * 512  # `refine_uploads` refines images up to this size (~5 s)
MAX_BATCH_PIXELS = 1024 * 1024  # larger canvases decode one at a time: bounded memory
# from this many pixels on, decode in bands (`tiled`): less memory, and faster (at 512 px the
# plain forward pass is faster on a 2-core CPU: measured 0.74 s against 1.32 s under load)
BANDED_PIXELS = 1024 * 1024
RESTYLE_BATCH = 8  # images of one size restyled as one batch (at most MAX_BATCH_PIXELS)
RESTYLE_WINDOW = 64  # inputs a restyle loads at a time: its batches are formed among them


def pad_to_multiple(x: torch.Tensor, multiple: int = DOWNSCALE) -> torch.Tensor:
    """(B, C, H, W) -> reflect-padded on the right/bottom to multiples of `multiple`."""
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    if not (pad_h or pad_w):
        return x
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def checked_size(size: tuple[int, int]) -> tuple[int, int]:
    """(H, W) as ints, or ValueError when it is outside 8x8 .. MAX_OUTPUT_PIXELS."""
    h, w = int(size[0]), int(size[1])
    if min(h, w) < 8 or h * w > MAX_OUTPUT_PIXELS:
        raise ValueError(f"output size must be at least 8x8 and at most "
                         f"{MAX_OUTPUT_PIXELS // 1_000_000} MP; got {w}x{h}")
    return h, w


def remember(cache: OrderedDict, key, value, most: int) -> None:
    """Keep `value` in `cache` under `key` as the newest entry, the oldest dropped beyond
    `most` (hold the cache's lock)."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > most:
        cache.popitem(last=False)


def file_stamp(source) -> tuple | None:
    """(path, inode, size, mtime in ns) of a file source, None for any other source (or a path
    that cannot be read: the loader then says why). Equal stamps: the same bytes, short of a
    rewrite within the file system's clock resolution to the same size."""
    if not isinstance(source, str | os.PathLike):
        return None
    try:
        st = os.stat(source)
    except (OSError, ValueError):
        return None
    return os.fspath(source), st.st_ino, st.st_size, st.st_mtime_ns


class Engine:
    """A model ready for inference. Thread-safe: Gradio calls it from worker threads."""

    def __init__(
        self,
        weights: str | None = None,
        device: str | None = None,
        model: ArtVAE | None = None,
        cache_size: int = 64,
        workers: int = 1,
        threads: int | None = None,
        precision: str | None = None,
        batch_window_ms: float | None = None,
        max_batch: int = 8,
        refine_uploads: int = 0,
    ):
        """`workers` model threads (0: each caller runs the model itself, as ZeroGPU needs)
        of `threads` torch threads each (default: all cores
        between them) run every forward pass; decodes of one kind arriving within
        `batch_window_ms` of each other share a batch of up to `max_batch` (default: 5 ms on a
        GPU; none on a CPU, where waiting did not pay: only decodes already queued together
        share a batch). `precision`:
        "auto" (see `device.autocast_dtype`), "float32" or "bfloat16". `refine_uploads` > 0:
        the code of every image up to REFINE_UPLOAD_PIXELS is refined by that many steps
        through the decoder once, when it is first encoded (`refined`): closer and as crisp
        reconstructions, mixes and blends, at about 0.8 s (256 px) to 5 s (512 px) per new
        image on 2 CPU cores; larger images keep the encoder's code."""
        if not 0 <= refine_uploads <= MAX_REFINE_STEPS:
            raise ValueError(f"refine_uploads must be 0-{MAX_REFINE_STEPS}; got {refine_uploads}")
        self.refine_uploads = refine_uploads
        self.device = pick_device(device)
        self.dtype = autocast_dtype(self.device, precision)
        self.precision = str(self.dtype or torch.float32).removeprefix("torch.")
        self.model = (model or load_model(weights)).to(self.device).eval()
        if self.device.type == "cpu":  # oneDNN convs are ~2x faster channels-last on CPU
            self.model = self.model.to(memory_format=torch.channels_last)
        self.weights = describe_weights(weights) if model is None else "in-memory model"
        self._cache: OrderedDict[str, Code] = OrderedDict()
        self._sized: OrderedDict[tuple, Code] = OrderedDict()  # codes on canvases, refined
        self._digests: OrderedDict[tuple, str] = OrderedDict()  # file_stamp -> content digest
        self._guesses: OrderedDict[str, Code] = OrderedDict()  # digest -> the encoder's code
        self._cache_size = cache_size
        self._lock = threading.Lock()
        if batch_window_ms is None:
            batch_window_ms = 5.0 if self.device.type == "cuda" else 0.0
        self.workers = ModelWorkers(workers, threads, batch_window_ms / 1000, max_batch)

    def autocast(self):
        """Reduced-precision context for a forward pass (bf16 on CPU only where it is
        native, or where asked for); nothing at float32."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def encode(self, source) -> Code:
        """Image -> its Code (posterior means), cached by pixel content."""
        return self._encode_keyed(source)[1]

    def upload_refine_steps(self, image: Image.Image) -> int:
        """The refine steps `encode` gives this (loaded) image's code: `refine_uploads` up to
        REFINE_UPLOAD_PIXELS, else 0 (the encoder's code)."""
        small = image.width * image.height <= REFINE_UPLOAD_PIXELS
        return self.refine_uploads if small else 0

    def code_at(self, source, size: tuple[int, int] | None) -> Code:
        """The image's code on a canvas of `size` (None: its own size). A larger canvas holds
        its layout quilted from its own pieces (`generate.expanded`), not a mirrored repeat;
        cached like the encoding, so a slider that moves a blend between two
        such canvases only decodes."""
        key, code = self._encode_keyed(source)
        if size is None:
            return code
        size = checked_size(size)
        with self._lock:
            if (key, size) in self._sized:
                self._sized.move_to_end((key, size))
                return self._sized[(key, size)]
        sized = self.workers.call(generate.expanded, self.model, code, size)
        with self._lock:
            remember(self._sized, (key, size), sized, SIZED_CACHE)
        return sized

    def _identified(self, source) -> tuple[str, Image.Image | Code]:
        """(the image's content digest, its cached Code, else the image loaded).
        A file met before, unchanged (`file_stamp`), is not decoded again to find its digest:
        a slider moving a blend of two uploads re-reads neither (two 512 px PNGs: about 15 ms
        of each frame)."""
        stamp = file_stamp(source)
        with self._lock:
            key = self._digests.get(stamp) if stamp else None
            if key in self._cache:
                self._digests.move_to_end(stamp)
                self._cache.move_to_end(key)
                return key, self._cache[key]
        image = load_image(source, max_side=MAX_SIDE)
        key = image_digest(image)
        with self._lock:
            if stamp:
                remember(self._digests, stamp, key, FILE_DIGESTS)
            if key in self._cache:
                self._cache.move_to_end(key)
                return key, self._cache[key]
        return key, image

    def first_guess(self, source) -> Code | None:
        """The encoder's first guess at the code of an image still to be encoded, before the
        corrector: something a new upload can show at once (decoded GUESS_SHRINK times
        smaller, a 512 px image's guess is on screen in a fifth of the encode's time: 70 +
        30 ms against 540 ms on 2 AVX2 cores in float32). The encode that follows starts
        from it. None where there is nothing to gain: the code is made already, there is no
        corrector to wait for, or the code is refined instead."""
        key, image = self._identified(source)
        if (isinstance(image, Code) or self.model.corrector is None
                or self.upload_refine_steps(image)):
            return None
        x = pad_to_multiple(ArtVAE.to_model_range(image_to_tensor(image)))
        structure, style = self.workers.call(self._encode, x, uncorrected=True)
        code = Code(structure, style, (image.height, image.width), encoded=True)
        with self._lock:
            remember(self._guesses, key, code, GUESSES)
        return code

    def _encode_keyed(self, source) -> tuple[str, Code]:
        """(the image's content digest, its Code), cached (`_identified`)."""
        key, image = self._identified(source)
        if isinstance(image, Code):
            return key, image
        x = pad_to_multiple(ArtVAE.to_model_range(image_to_tensor(image)))
        with self._lock:
            guess = self._guesses.pop(key, None)
        if steps := self.upload_refine_steps(image):
            structure, style = self.workers.call(self._refine, x, steps, False)
        else:
            structure, style = self.workers.call(self._encode, x, guess=guess)
        code = Code(structure, style, (image.height, image.width), encoded=True)
        with self._lock:
            remember(self._cache, key, code, self._cache_size)
        return key, code

    def decode(self, code: Code, tileable: bool = False, shrink: int = 1,
               render: int = 1) -> Image.Image:
        """Code -> image, cropped to the code's size; `shrink` > 1: a picture that many times
        smaller of the same canvas, decoded in about 1/shrink^2 of the time (a preview);
        `render` > 1: the code's canvas is that many times the image's (`edit`)."""
        x = self.decode_tensor(latent.shrink(code, shrink), tileable)
        h, w = (-(-n // (shrink * render)) for n in code.size)
        return tensor_to_image(restyle.shrunk_back(x, (h, w))[0])

    def decode_tensor(self, code: Code, tileable: bool = False) -> torch.Tensor:
        """Code -> (B, 3, H, W) in [0, 1] on the CPU, cropped to the code's size. Canvases of
        BANDED_PIXELS and more are decoded in bands (`tiled.decode`): the same image in
        bounded memory; a single canvas up to MAX_BATCH_PIXELS may share a batch with others
        like it."""
        structure, style, margin = borders.made(code, tileable)  # made borders
        h8, w8 = structure.shape[-2:]
        if structure.shape[0] == 1 and h8 * w8 * DOWNSCALE**2 <= MAX_BATCH_PIXELS:
            key = ("decode", tuple(structure.shape[1:]), tuple(style.shape[1:]), tileable)
            x = self.workers.batched(key, partial(self._decode_batch, tileable=tileable),
                                     (structure, style))
        else:
            x = self.workers.call(self._decode, structure, style, tileable)
        h, w = code.size
        return ArtVAE.to_image_range(borders.cut(x, margin)[..., :h, :w].float()).cpu()

    @property
    def controls(self):
        """The weights' named style controls (`artvae.model.controls`), None without them."""
        return self.model.style_controls

    def edit(self, code: Code, edits: dict[str, float] | None = None, scale: float = 1.0,
             tileable: bool = False) -> tuple[Code, int]:
        """(the code with the named style controls moved by `edits` ({name: units}) and its
        pattern `scale` times as big, the `render` factor `decode` takes with it:
        `restyle.edited`)."""
        return restyle.edited(code, self.controls, edits, scale, tileable,
                              self.model.config.structure_norm)

    # ---- run on a model worker (`self.workers`), never in a request's thread -----------------
    def _refine(self, x: torch.Tensor, steps: int, tileable: bool
                ) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.to(self.device).contiguous(memory_format=torch.channels_last)
        structure, style = refine(self.model, x, steps, tileable=tileable)  # float32: gradients
        return structure.float().cpu(), style.float().cpu()

    def _encode(self, x: torch.Tensor, wrap: bool = False, guess: Code | None = None,
                uncorrected: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) in [-1, 1] -> posterior means (structure, style), float32 on the CPU;
        `wrap`: encoded as tiles (`restyle.wrapped_codes`); `guess`: the encoder's code of x
        already (`first_guess`), where the corrector starts; `uncorrected`: the encoder's
        code alone."""
        x = x.to(self.device).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), self.autocast():
            if wrap:
                structure, style = restyle.wrapped_codes(self.model, x)
            elif guess is not None:
                structure, style = self.model.corrected_passes(
                    x, guess.structure.to(self.device), guess.style.to(self.device))
            else:
                q_s, q_w = (self.model.guess if uncorrected else self.model.encode)(x)
                structure, style = q_s.mode(), q_w.mode()
        return structure.float().cpu(), style.float().cpu()

    def _decode(self, structure: torch.Tensor, style: torch.Tensor,
                tileable: bool) -> torch.Tensor:
        structure = structure.to(self.device).contiguous(memory_format=torch.channels_last)
        banded = structure.shape[-2] * structure.shape[-1] * DOWNSCALE**2 >= BANDED_PIXELS
        decode = partial(tiled.decode, self.model.decoder) if banded else self.model.decode
        with torch.inference_mode(), self.autocast():
            return decode(structure, style.to(self.device), tileable)

    def _decode_batch(self, items: list[tuple[torch.Tensor, torch.Tensor]],
                      tileable: bool) -> list[torch.Tensor]:
        """Codes of one shape decoded as one batch -> one (1, 3, H, W) image each."""
        if len(items) == 1:
            return [self._decode(*items[0], tileable)]
        structures, styles = zip(*items, strict=True)
        x = self._decode(torch.cat(structures), torch.cat(styles), tileable)
        return list(x.split(1))

    def reconstruct(self, source, tileable: bool = False, refine_steps: int = 0) -> Image.Image:
        """Image -> D(E(image)), the same size as the input; with `refine_steps`, the code is
        refined through the decoder first (`refined`)."""
        code = self.refined(source, refine_steps, tileable) if refine_steps else self.encode(source)
        return self.decode(code, tileable)

    def refined(self, source, steps: int, tileable: bool = False) -> Code:
        """The image's code after `steps` gradient steps through the decoder
        (`refine.refine`): a closer reconstruction than the encoder's, at a forward and
        backward pass of the decoder per step. The last few are kept (by content, steps and
        tiling), so the Encode tab's named controls move a refined code without refining it
        again."""
        if not 0 <= steps <= MAX_REFINE_STEPS:
            raise ValueError(f"refine steps must be 0-{MAX_REFINE_STEPS}; got {steps}")
        image = load_image(source, max_side=MAX_SIDE)
        if image.width * image.height > MAX_REFINE_PIXELS:
            raise ValueError(f"Refining takes images up to 1024x1024 px; this one is "
                             f"{image.width}x{image.height}: leave Refine off, or use a "
                             "smaller image.")
        key = ("refined", image_digest(image), steps, tileable)
        with self._lock:
            if key in self._sized:
                return self._sized[key]
        x = pad_to_multiple(ArtVAE.to_model_range(image_to_tensor(image)))
        structure, style = self.workers.call(self._refine, x, steps, tileable)
        code = Code(structure, style, (image.height, image.width), encoded=True)
        with self._lock:
            remember(self._sized, key, code, SIZED_CACHE)
        return code

    def mix(self, sources: list, weights: list[float], structure_from: int | None = 0,
            tileable: bool = False, size: tuple[int, int] | None = None,
            shrink: int = 1, edits: dict[str, float] | None = None,
            scale: float = 1.0) -> Image.Image:
        """Mix the styles of several images (weights are normalised); the layout comes from
        `sources[structure_from]`, or from all of them (None or -1); then the named `edits`
        and `scale` (`edit`)."""
        if not sources:
            raise ValueError("give at least one image to mix")
        if structure_from is not None and structure_from < 0:
            structure_from = None
        if structure_from is not None and structure_from >= len(sources):
            raise ValueError(f"structure_from={structure_from}, but there are only "
                             f"{len(sources)} images")
        codes = [self.code_at(s, size) for s in sources]
        code = latent.mix(codes, weights, structure_from, self.model.style_mean)
        code, render = self.edit(code, edits, scale, tileable)
        return self.decode(code, tileable, shrink, render)

    def blend(self, a, b, t: float, mode: str = "full", tileable: bool = False,
              size: tuple[int, int] | None = None, ramp: str = "left-right",
              shrink: int = 1, edits: dict[str, float] | None = None,
              scale: float = 1.0) -> Image.Image:
        """One frame of the morph from image a to image b at t in [0, 1], then the named
        `edits` and `scale` (`edit`)."""
        code = latent.blend(self.code_at(a, size), self.code_at(b, size), float(t), mode,
                            self.model.style_mean, ramp)
        code, render = self.edit(code, edits, scale, tileable)
        return self.decode(code, tileable, shrink, render)

    def blend_frames(self, a, b, steps: int, mode: str = "full", tileable: bool = False,
                     size: tuple[int, int] | None = None, ramp: str = "left-right",
                     progress=None, edits: dict[str, float] | None = None,
                     scale: float = 1.0) -> list[Image.Image]:
        """Frames 0..steps of the morph a -> b (frame 0 reconstructs a, the last b), each with
        the named `edits` and `scale` (`edit`)."""
        if not 1 <= steps < MAX_FRAMES:
            raise ValueError(f"steps must be between 1 and {MAX_FRAMES - 1}")
        code_a, code_b = self.code_at(a, size), self.code_at(b, size)
        frames = []
        for i in range(steps + 1):
            code = latent.blend(code_a, code_b, i / steps, mode, self.model.style_mean, ramp)
            code, render = self.edit(code, edits, scale, tileable)
            frames.append(self.decode(code, tileable, render=render))
            if progress is not None:
                progress((i + 1) / (steps + 1))
        return frames

    def sample(self, seed: int, size: tuple[int, int] = (512, 512), tileable: bool = False,
               temperature: float = 1.0, coords: list[float] | None = None,
               fast: bool = False, offsets: list[float] | None = None,
               shrink: int = 1, edits: dict[str, float] | None = None,
               scale: float = 1.0) -> Image.Image:
        """A random texture from a seed; `coords` sets the style along the explore directions,
        `offsets` move the seed's own style along them; `fast` draws the layout as a
        random-phase field instead of from the prior; then the named `edits` and `scale`."""
        code = self.workers.call(generate.sample_code, self.model, seed, checked_size(size),
                                 temperature, coords, fast, offsets)
        code, render = self.edit(code, edits, scale, tileable)
        return self.decode(code, tileable, shrink, render)

    def variations(self, source, seed: int, size: tuple[int, int] | None = None,
                   strength: float = generate.VARIATION_STRENGTH,
                   tileable: bool = False) -> Image.Image:
        """A new layout of the image's kind in its style (strength 1: a fresh layout for its
        style; small: close to its own)."""
        code = self.encode(source)
        return self.decode(self.workers.call(
            generate.variation_code, self.model, code, seed,
            None if size is None else checked_size(size), strength), tileable)

    def expand(self, source, size: tuple[int, int] = (1024, 1024), seed: int = 0,
               tileable: bool = True) -> Image.Image:
        """The image grown to a (by default seamless) canvas of `size` with no mirrored
        repeat: its layout quilted from its own pieces (`generate.expanded`), per seed."""
        code = self.encode(source)
        return self.decode(self.workers.call(generate.expanded, self.model, code,
                                             checked_size(size), seed), tileable)

    def restyle(self, sources: list, style=None, strength: float = 1.0,
                edits: dict[str, float] | None = None, scale: float = 1.0,
                tileable: bool = False, batch: int = RESTYLE_BATCH,
                progress: Callable[[int, int], None] | None = None
                ) -> list[Image.Image | Exception]:
        """Each source restyled at its own size, its layout kept: its style `strength` (0-1)
        of the way to `style`'s (an image; None: its own), then the named `edits` and
        `scale` (`restyle.restyled`). `tileable`: seamless inputs stay seamless (encoded and
        decoded wrapping around; sides that are multiples of 8). Sources of one size run
        through the model `batch` at a time. One answer per source, in order: the image, or
        the exception that source raised (an unreadable file); the others go on.
        `progress(done, total)` after each batch."""
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be between 0 and 1; got {strength}")
        style_code = None if style is None else self.encode(style)
        if style_code is not None and style_code.style.dim() != 2:
            raise ValueError("the style image must have one global style")
        restyle.check_edits(self.controls, edits, scale)  # before any work
        results: list = [None] * len(sources)
        done = 0
        for start in range(0, len(sources), RESTYLE_WINDOW):
            groups: dict[tuple[int, int], list[tuple[int, Image.Image]]] = {}
            for i in range(start, min(start + RESTYLE_WINDOW, len(sources))):
                try:
                    image = load_image(sources[i], max_side=MAX_SIDE)
                except (ValueError, OSError) as error:  # ImageError is a ValueError
                    results[i] = error
                    done += 1
                    continue
                groups.setdefault((image.height, image.width), []).append((i, image))
            for (h, w), members in groups.items():
                render = restyle.render_factor(scale, (h, w))  # a smaller pattern: bigger decodes
                per = max(1, min(batch, MAX_BATCH_PIXELS // (h * w * render**2)))
                for first in range(0, len(members), per):
                    chunk = members[first:first + per]
                    made = self._restyle_batch([im for _, im in chunk], style_code, strength,
                                               edits, scale, tileable)
                    for (i, _), out in zip(chunk, made, strict=True):
                        results[i] = out
                    done += len(chunk)
                    if progress is not None:
                        progress(done, len(sources))
        return results

    def _restyle_batch(self, images: list[Image.Image], style: Code | None, strength: float,
                       edits: dict[str, float] | None, scale: float,
                       tileable: bool) -> list[Image.Image]:
        """Images of one size restyled as one batch (`restyle`)."""
        x = pad_to_multiple(ArtVAE.to_model_range(torch.cat([image_to_tensor(im)
                                                              for im in images])))
        structure, own = self.workers.call(self._encode, x, tileable)
        size = (images[0].height, images[0].width)
        code, _ = restyle.restyled(Code(structure, own, size), style, strength,
                                   self.controls, edits, scale, tileable,
                                   self.model.style_mean.cpu(),
                                   self.model.config.structure_norm)
        x = restyle.shrunk_back(self.decode_tensor(code, tileable), size)
        return [tensor_to_image(t) for t in x]
