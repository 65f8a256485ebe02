"""Decoding any canvas in bands, layer by layer: bounded memory, the same image.

`decode(decoder, structure, style, tileable)` computes what `Decoder.forward` computes, but
never holds more than one band of any wide intermediate: each layer runs over horizontal bands
of its input (with a one-row halo per 3x3 convolution, wrapped around on tileable canvases, so
they stay seamless). GroupNorm needs statistics of the whole map, so each norm first reads its
input once, band by band, for per-group means and spreads, then applies them band by band.
The maps at 1/8 and 1/4 resolution are kept whole (a 4096 px canvas: 256 MB each); the last,
widest stage (1/2 resolution, 32 channels, then pixels) runs one band at a time straight into
the image.

Two exact rewrites make it faster than the plain forward pass, whatever the size:
- "nearest 2x upsample, then 3x3 conv" is four 2x2 convs on the small map, one per output
  phase, interleaved by a pixel shuffle: 16 instead of 36 multiply-adds per input pair.
- a spatial style (B, D_w, h', w') is resized to each band's rows only, never to the map.

A decoder with noise inputs gets the same noise fields as its plain forward pass
(`Decoder.noise_fields`), added band by band.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from artvae.model.autoencoder import Decoder
from artvae.model.blocks import Conv, ResBlock

BAND_ELEMENTS = 1 << 22  # values in one band of a wide map (16 MB in float32)
RowFn = Callable[[int, int], torch.Tensor]  # (a, b) -> rows a..b-1 of some (B, C, H, W) map


def _band_rows(channels: int, width: int) -> int:
    """Rows per band of a map `width` wide with `channels` (times the batch) channels."""
    return max(4, BAND_ELEMENTS // max(1, channels * width))


def _bands(height: int, rows: int):
    """(a, b) row ranges covering 0..height in steps of `rows`."""
    for a in range(0, height, rows):
        yield a, min(a + rows, height)


def _window(rows: RowFn, r0: int, r1: int, height: int, tileable: bool) -> torch.Tensor:
    """Rows r0..r1-1 of a map `height` rows tall, given by `rows(a, b)` for 0 <= a < b <=
    height, with one more column on each side: rows and columns outside wrap around (tileable)
    or are zeros (the convs' zero padding). (B, C, r1-r0, W+2), channels-last, made with one
    copy (F.pad's circular mode would return a channels-first copy: two layout changes)."""
    pieces, r = [], r0
    while r < r1:  # runs of rows inside the map (mod height when tileable)
        if tileable:
            start = r % height
            n = min(r1 - r, height - start)
            pieces.append((r - r0, rows(start, start + n)))
        elif r < 0:
            n = min(r1, 0) - r
        elif r >= height:
            n = r1 - r
        else:
            n = min(r1, height) - r
            pieces.append((r - r0, rows(r, r + n)))
        r += n
    first = pieces[0][1]
    b, c, _, w = first.shape
    window = first.new_empty((b, c, r1 - r0, w + 2)).contiguous(memory_format=torch.channels_last)
    if not tileable:
        window.zero_()
    for at, piece in pieces:
        window[:, :, at:at + piece.shape[2], 1:w + 1] = piece
    if tileable:
        window[..., 0], window[..., w + 1] = window[..., w], window[..., 1]
    return window


def _conv_band(conv: Conv, act: RowFn, a: int, b: int, height: int,
               tileable: bool) -> torch.Tensor:
    """Rows a..b-1 of conv(act map), a 3x3 conv with stride 1."""
    return F.conv2d(_window(act, a - 1, b + 1, height, tileable), conv.weight, conv.bias)


def _phase_kernels(weight: torch.Tensor) -> list[torch.Tensor]:
    """3x3 kernel (O, I, 3, 3) of a conv after a nearest 2x upsample -> four 2x2 kernels, for
    output rows/columns of phase (p, q), acting on the small map. Phase 0 reads the rows
    (i-1, i), so kernel rows (0) and (1, 2) fold; phase 1 reads (i, i+1): (0, 1) and (2)."""
    folds = (((0,), (1, 2)), ((0, 1), (2,)))

    def fold(w: torch.Tensor, phase: int, dim: int) -> torch.Tensor:
        return torch.stack([w.index_select(dim, torch.tensor(taps, device=w.device)).sum(dim)
                            for taps in folds[phase]], dim=dim)

    return [fold(fold(weight, p, 2), q, 3) for p in (0, 1) for q in (0, 1)]


def _upconv_band(conv: Conv, kernels: list[torch.Tensor], act: RowFn, a: int, b: int,
                 height: int, tileable: bool) -> torch.Tensor:
    """Rows 2a..2b-1 of conv(nearest_upsample_2x(act map)), from rows a-1..b of the small map:
    (B, O, 2(b-a), 2W)."""
    window = _window(act, a - 1, b + 1, height, tileable)  # (B, I, b-a+2, W+2)
    n, w = b - a, window.shape[-1] - 2
    out = None
    for (p, q), k in zip(((0, 0), (0, 1), (1, 0), (1, 1)), kernels, strict=True):
        # rows sliced before the conv (still channels-last), columns after: no input copy
        phase = F.conv2d(window[:, :, p:p + n + 1], k, conv.bias)[..., q:q + w]  # (B, O, n, W)
        if out is None:
            out = phase.new_empty((*phase.shape[:2], 2 * n, 2 * w)).contiguous(
                memory_format=torch.channels_last)
        out[:, :, p::2, q::2] = phase  # output row 2i + p, column 2j + q
    return out


def _resize_rows(x: torch.Tensor, a: int, b: int, height: int, width: int) -> torch.Tensor:
    """Rows a..b-1 of F.interpolate(x, (height, width), bilinear, align_corners=False), from
    x (B, C, h, w) without making the whole resized map; (1, 1) maps stay (1, 1)."""
    h, w = x.shape[-2:]
    if (h, w) == (1, 1):
        return x
    if h != height:
        src = ((torch.arange(a, b, dtype=torch.float64) + 0.5) * (h / height) - 0.5).clamp_min(0)
        i0 = src.floor().long().clamp_max(h - 1)
        i1 = (i0 + 1).clamp_max(h - 1)
        frac = (src - i0).to(x.dtype).view(1, 1, -1, 1)
        x = x.index_select(2, i0) * (1 - frac) + x.index_select(2, i1) * frac
    else:
        x = x[:, :, a:b]
    if w != width:  # the rows are already at their final height: this resizes columns only
        x = F.interpolate(x, size=(x.shape[2], width), mode="bilinear", align_corners=False)
    return x


def _modulation(film: torch.nn.Conv2d, part: int, parts: int, style: torch.Tensor, a: int,
                b: int, height: int, width: int) -> list[torch.Tensor]:
    """The FiLM (scale, shift) pair number `part` of `parts` for rows a..b-1 of a (height,
    width) map: (B, C, 1, 1) each for a global style, (B, C, b-a, width) for a style map."""
    c = film.out_channels // parts
    weight = film.weight[part * c:(part + 1) * c]
    bias = film.bias[part * c:(part + 1) * c]
    if style.dim() == 2:  # a plain matrix product (a 1x1 conv on a 1x1 map takes a slow path)
        return list(F.linear(style, weight.flatten(1), bias)[:, :, None, None].chunk(2, dim=1))
    style = _resize_rows(style, a, b, height, width)
    return list(F.conv2d(style, weight, bias).chunk(2, dim=1))


def _style_rows(conv: torch.nn.Conv2d, style: torch.Tensor, a: int, b: int, height: int,
                width: int) -> torch.Tensor:
    """A 1x1 conv of the style, rows a..b-1 of a (height, width) map: (B, C, 1, 1) for a
    global style, (B, C, b-a, width) for a style map."""
    if style.dim() == 2:
        return F.linear(style, conv.weight.flatten(1), conv.bias)[:, :, None, None]
    return F.conv2d(_resize_rows(style, a, b, height, width), conv.weight, conv.bias)


def _add_noise(x: torch.Tensor, strength: torch.nn.Conv2d, style: torch.Tensor,
               noise: torch.Tensor) -> torch.Tensor:
    """x (B, C, H, W) += noise (1 or B, 1, H, W) scaled by the style's strength, band by band
    (a noise input of the decoder); x is updated in place."""
    batch, c, height, width = x.shape
    for a, b in _bands(height, _band_rows(batch * c, width)):
        x[:, :, a:b] += (_style_rows(strength, style, a, b, height, width)
                         * noise[:, :, a:b].to(x.dtype))
    return x


def _group_stats(x: torch.Tensor, groups: int, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (B, C, 1, 1) mean and 1/std of x's group, over the whole map, read in bands
    (two passes: the mean, then the spread around it, as GroupNorm computes it)."""
    b, c, h, w = x.shape
    rows = _band_rows(b * c, w)
    count = (c // groups) * h * w
    total = x.new_zeros(b, c, dtype=torch.float32)
    for a, e in _bands(h, rows):
        total += x[:, :, a:e].float().sum((2, 3))
    mean = (total.view(b, groups, -1).sum(2) / count).repeat_interleave(c // groups, 1)
    mean = mean.view(b, c, 1, 1)
    spread = x.new_zeros(b, c, dtype=torch.float32)
    for a, e in _bands(h, rows):
        spread += (x[:, :, a:e].float() - mean).square().sum((2, 3))
    var = (spread.view(b, groups, -1).sum(2) / count).repeat_interleave(c // groups, 1)
    return mean, torch.rsqrt(var + eps).view(b, c, 1, 1)


def _normed(norm: torch.nn.GroupNorm, x: torch.Tensor) -> Callable:
    """(a, b, scale, shift) -> silu(norm(x)[rows a..b-1] * (1 + scale) + shift), with the
    norm's statistics taken over all of x; norm and FiLM folded into one multiply-add."""
    mean, rstd = _group_stats(x, norm.num_groups, norm.eps)
    gain, offset = rstd, -mean * rstd  # norm(x) = x * gain + offset
    if norm.affine:
        weight = norm.weight.view(1, -1, 1, 1).float()
        gain, offset = gain * weight, offset * weight + norm.bias.view(1, -1, 1, 1).float()

    def rows(a: int, b: int, scale: torch.Tensor | None, shift: torch.Tensor | None):
        g, o = gain, offset
        if scale is not None:
            g, o = g * (1 + scale), o * (1 + scale) + shift
        return F.silu(torch.addcmul(o, x[:, :, a:b], g), inplace=True)

    return rows


def _resblock(block: ResBlock, x: torch.Tensor, style: torch.Tensor,
              tileable: bool) -> torch.Tensor:
    """x + conv2(act(norm2(conv1(act(norm1(x)))))), band by band; x is updated in place."""
    batch, c, height, width = x.shape
    rows = _band_rows(batch * c, width)

    def modulated(norm_rows: Callable, part: int) -> RowFn:
        def act(a: int, b: int) -> torch.Tensor:
            if block.film is None:
                return norm_rows(a, b, None, None)
            scale, shift = _modulation(block.film, part, 2, style, a, b, height, width)
            return norm_rows(a, b, scale, shift)
        return act

    first = modulated(_normed(block.norm1, x), 0)
    h = _map((height, width), lambda a, b: _conv_band(block.conv1, first, a, b, height,
                                                      tileable), height, rows)
    second = modulated(_normed(block.norm2, h), 1)
    for a, b in _bands(height, rows):
        x[:, :, a:b] += _conv_band(block.conv2, second, a, b, height, tileable)
    return x


def _map(shape: tuple[int, ...], band: Callable[[int, int], torch.Tensor], height: int,
         rows: int, scale: int = 1) -> torch.Tensor:
    """A whole map made band by band: `band(a, b)` gives its rows scale*a .. scale*b - 1."""
    if rows >= height:  # one band: the map itself, no copy
        return band(0, height)
    out = None
    for a, b in _bands(height, rows):
        piece = band(a, b)
        if out is None:
            out = piece.new_empty((*piece.shape[:2], *shape)).contiguous(
                memory_format=torch.channels_last)
        out[:, :, scale * a:scale * b] = piece
    return out


def decode(decoder: Decoder, structure: torch.Tensor, style: torch.Tensor,
           tileable: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """The same as `decoder(structure, style, tileable, generator)`: (B, C_s, h, w) + (B, D_w)
    or (B, D_w, h', w') -> (B, 3, 8h, 8w), in bounded memory and fewer operations."""
    noise = (None, None)
    if decoder.noise4 is not None:
        noise = decoder.noise_fields(structure, generator)  # (n, 1, 2h, 2w), (n, 1, 4h, 4w)
    h8, w8 = structure.shape[-2:]
    source = lambda a, b: structure[:, :, a:b]  # noqa: E731 - the stem reads the map as it is
    x = _map((h8, w8), lambda a, b: _conv_band(decoder.stem, source, a, b, h8, tileable),
             h8, _band_rows(len(structure) * decoder.stem.out_channels, w8))
    for block in decoder.blocks8:
        x = _resblock(block, x, style, tileable)
    x4 = _upsampled(decoder.up4, x, tileable)
    del x  # the 1/8 map is done with
    if noise[0] is not None:
        x4 = _add_noise(x4, decoder.noise4, style, noise[0])
    for block in decoder.blocks4:
        x4 = _resblock(block, x4, style, tileable)
    return _last_stage(decoder, x4, style, tileable, noise[1])


def _upsampled(conv: Conv, x: torch.Tensor, tileable: bool) -> torch.Tensor:
    """conv(nearest_upsample_2x(x)), made band by band: (B, I, h, w) -> (B, O, 2h, 2w)."""
    h, w = x.shape[-2:]
    kernels = _phase_kernels(conv.weight)
    rows = lambda a, b: x[:, :, a:b]  # noqa: E731
    return _map((2 * h, 2 * w),
                lambda a, b: _upconv_band(conv, kernels, rows, a, b, h, tileable), h,
                max(1, _band_rows(len(x) * conv.out_channels, 2 * w) // 2), scale=2)


def _last_stage(decoder: Decoder, x4: torch.Tensor, style: torch.Tensor, tileable: bool,
                noise: torch.Tensor | None = None) -> torch.Tensor:
    """(B, C4, h4, w4) -> image (B, 3, 4h4, 4w4): up2, its noise input (`noise` (n, 1, 2h4,
    2w4), if any), film2, out and the pixel shuffle, one band of image rows at a time (the
    1/2-resolution map is never whole)."""
    h4, w4 = x4.shape[-2:]
    h2, w2 = 2 * h4, 2 * w4
    kernels = _phase_kernels(decoder.up2.weight)
    act4 = lambda a, b: F.silu(x4[:, :, a:b])  # noqa: E731

    def act2(a: int, b: int) -> torch.Tensor:
        """Rows a..b-1 of silu(film2(up2(...))) at 1/2 resolution."""
        lo, hi = a // 2, (b + 1) // 2
        h = _upconv_band(decoder.up2, kernels, act4, lo, hi, h4, tileable)[:, :, a - 2 * lo:
                                                                            b - 2 * lo]
        if noise is not None:
            h = h + (_style_rows(decoder.noise2, style, a, b, h2, w2)
                     * noise[:, :, a:b].to(h.dtype))
        scale, shift = _modulation(decoder.film2, 0, 1, style, a, b, h2, w2)
        return F.silu(torch.addcmul(shift, h, 1 + scale), inplace=True)

    def image_rows(a: int, b: int) -> torch.Tensor:  # 1/2-resolution rows a..b-1 -> pixels
        window = _window(act2, a - 1, b + 1, h2, tileable)
        return F.pixel_shuffle(F.conv2d(window, decoder.out.weight, decoder.out.bias), 2)

    rows = max(2, _band_rows(len(x4) * 2 * decoder.up2.out_channels, w2))
    return _map((2 * h2, 2 * w2), image_rows, h2, rows, scale=2)
