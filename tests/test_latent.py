"""Latent maths: mix, blend, ramps, resizing, sampling."""

import pytest
import torch

from artvae.ops.latent import (
    Code,
    blend,
    fine_band,
    mix,
    quilt,
    resize,
    sample,
    spatial_ramp,
    with_texture,
)


def make_code(seed: int, size=(4, 6)) -> Code:
    g = torch.Generator().manual_seed(seed)
    return Code.full_size(torch.randn(1, 4, *size, generator=g), torch.randn(1, 8, generator=g))


def test_mix_with_one_hot_weights_reproduces_input():
    a, b = make_code(0), make_code(1)
    out = mix([a, b], [0.0, 1.0], structure_from=1)
    assert torch.allclose(out.style, b.style, atol=1e-6)
    assert torch.equal(out.structure, b.structure)


def test_mix_weights_are_normalised():
    a, b = make_code(0), make_code(1)
    assert torch.allclose(mix([a, b], [1, 3]).style, mix([a, b], [0.25, 0.75]).style)


def test_mix_of_a_texture_with_itself_is_that_texture():
    a = make_code(0)
    out = mix([a, a], [0.3, 0.7], structure_from=None)
    assert torch.allclose(out.structure, a.structure, atol=1e-5)
    assert torch.allclose(out.style, a.style, atol=1e-5)


def test_mix_keeps_the_spread_of_unrelated_structures():
    a, b = make_code(0, (16, 16)), make_code(1, (16, 16))
    out = mix([a, b], [0.5, 0.5], structure_from=None)
    plain = 0.5 * (a.structure + b.structure)
    assert plain.std() < 0.85 * a.structure.std()  # the plain average washes out
    expected = 0.5 * (a.structure.std() + b.structure.std()).item()
    assert out.structure.std().item() == pytest.approx(expected, rel=0.05)


def test_mix_rejects_negative_or_zero_weights():
    with pytest.raises(ValueError):
        mix([make_code(0), make_code(1)], [-1.0, 2.0])
    with pytest.raises(ValueError):
        mix([make_code(0), make_code(1)], [0.0, 0.0])


@pytest.mark.parametrize("mode", ["full", "style", "spatial"])
def test_blend_endpoints_reproduce_inputs(mode):
    a, b = make_code(0), make_code(1)
    start, end = blend(a, b, 0.0, mode), blend(a, b, 1.0, mode)
    assert torch.allclose(start.structure, a.structure, atol=1e-5)
    assert torch.allclose(
        start.style.expand_as(end.style) if mode == "spatial" else start.style,
        a.style[..., None, None].expand_as(end.style) if mode == "spatial" else a.style,
        atol=1e-5,
    )
    if mode == "full":
        assert torch.allclose(end.structure, b.structure, atol=1e-5)
    expected_end = b.style[..., None, None].expand_as(end.style) if mode == "spatial" else b.style
    assert torch.allclose(end.style, expected_end, atol=1e-5)


def correlation(x: torch.Tensor, y: torch.Tensor) -> float:
    x, y = x.flatten() - x.mean(), y.flatten() - y.mean()
    return float((x * y).sum() / (x.norm() * y.norm()))


def test_blend_style_mode_keeps_layout():
    """A's own map at t = 0; as B's style arrives only A's bare places take B's grain, so a
    detailed layout stays nearly as it was."""
    a, b = make_code(0, (16, 16)), make_code(1, (16, 16))
    assert torch.equal(blend(a, b, 0.0, "style").structure, a.structure)
    assert correlation(blend(a, b, 0.5, "style").structure, a.structure) > 0.9


def smooth_map(size: int = 32) -> torch.Tensor:
    """(1, 4, size, size) a layout with no detail of its own: ramps, unit spread per channel."""
    ramp = torch.linspace(-1, 1, size)
    maps = torch.stack([ramp.expand(size, size), ramp[:, None].expand(size, size),
                        -ramp.expand(size, size), (ramp[:, None] * ramp).expand(size, size)])
    return maps[None] / maps.std(dim=(-2, -1), keepdim=True)[None]


def band_spectrum(maps: torch.Tensor) -> torch.Tensor:
    """Power of a map's fine band in 4 rings of spatial frequency, as shares: (4,)."""
    power = torch.fft.fft2(fine_band(maps)).abs().pow(2).sum(dim=(0, 1))
    fy = torch.fft.fftfreq(power.shape[0])[:, None]
    fx = torch.fft.fftfreq(power.shape[1])[None]
    ring = ((fx**2 + fy**2).sqrt() / 0.71 * 4).long().clamp(max=3)
    rings = torch.stack([power[ring == k].sum() for k in range(4)])
    return rings / rings.sum()


def test_with_texture_gives_a_bare_layout_the_sources_grain_and_keeps_a_detailed_one():
    bare = smooth_map()
    donor = make_code(3, (32, 32)).structure
    donor = donor / donor.std(dim=(-2, -1), keepdim=True)
    donor[..., 8:24, 15:17] += 4.0  # an object of the style image: a bar
    textured = with_texture(bare, [donor], [1.0])
    # the bare layout now has fine detail with the donor's grain (its spectrum), not the
    # donor's arrangement (its bar, its places); its broad shape stays (a share of it: the
    # sum is scaled back to the layout's spread)
    assert fine_band(textured).pow(2).mean() > 0.3 * fine_band(donor).pow(2).mean()
    assert (band_spectrum(textured) - band_spectrum(donor)).abs().max() < 0.1
    assert abs(correlation(fine_band(textured), fine_band(donor))) < 0.3
    assert correlation(textured, bare) > 0.4
    assert torch.equal(with_texture(bare, [donor], [1.0]), textured)  # one request, one image
    # a layout with as much detail as the donor everywhere is left nearly as it was
    detailed = make_code(4, (32, 32)).structure
    detailed = detailed / detailed.std(dim=(-2, -1), keepdim=True)
    assert correlation(with_texture(detailed, [donor], [1.0]), detailed) > 0.9
    # weight 0: nothing asked for, nothing added
    assert torch.allclose(with_texture(bare, [donor], [0.0]), bare, atol=1e-5)
    # each channel keeps the layout's spread
    assert torch.allclose(textured.std(dim=(-2, -1)), bare.std(dim=(-2, -1)), atol=1e-4)


def test_mix_gives_a_bare_layout_the_style_sources_grain():
    bare = Code.full_size(smooth_map(), torch.zeros(1, 8))
    donor = make_code(5, (32, 32))
    out = mix([bare, donor], [0.0, 1.0], structure_from=0)
    assert fine_band(out.structure).pow(2).mean() > 0.4 * fine_band(
        donor.structure / donor.structure.std(dim=(-2, -1), keepdim=True)).pow(2).mean()
    alone = mix([bare], [1.0], structure_from=0)  # no other style: the layout as it is
    assert torch.equal(alone.structure, bare.structure)


def test_blend_rejects_unknown_mode_and_bad_t():
    with pytest.raises(ValueError, match="mode"):
        blend(make_code(0), make_code(1), 0.5, "sideways")
    with pytest.raises(ValueError):
        blend(make_code(0), make_code(1), 1.5)


@pytest.mark.parametrize("shape", ["left-right", "radial"])
def test_spatial_ramp_is_monotonic_and_moves_with_t(shape):
    ramp = spatial_ramp((8, 16), 0.5, shape)[0, 0]
    line = ramp[4] if shape == "left-right" else ramp[4, 8:]
    assert (line[1:] <= line[:-1] + 1e-6).all()  # A on the left (centre), B on the right (rim)
    assert spatial_ramp((8, 16), 0.2, shape).mean() < spatial_ramp((8, 16), 0.8, shape).mean()
    assert spatial_ramp((8, 16), 0.0, shape).max() == 0
    assert spatial_ramp((8, 16), 1.0, shape).min() == 1


def test_resize_tiles_the_structure_to_any_size():
    a = make_code(0, (4, 4))
    big = resize(a, (100, 70))
    assert big.structure.shape[-2:] == (13, 9)
    assert big.size == (100, 70)
    assert torch.equal(big.structure[..., 8:12, 0:4], a.structure)
    # neighbouring tiles are mirror images: the layout continues across their border
    assert torch.equal(big.structure[..., 4:8, 0:4], a.structure.flip(-2))
    assert torch.equal(big.structure[..., 0:4, 4:8], a.structure.flip(-1))


def test_sample_is_seeded():
    bank = torch.randn(3, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    stats = (bank, torch.zeros(8), torch.eye(8)[:3], torch.ones(3))
    one = sample(*stats, size=(64, 64), generator=torch.Generator().manual_seed(7))
    two = sample(*stats, size=(64, 64), generator=torch.Generator().manual_seed(7))
    other = sample(*stats, size=(64, 64), generator=torch.Generator().manual_seed(8))
    assert torch.equal(one.structure, two.structure) and torch.equal(one.style, two.style)
    assert not torch.equal(one.structure, other.structure)
    assert one.structure.shape == (1, 4, 8, 8) and one.style.shape == (1, 8)


def test_sampled_structure_keeps_the_stored_maps_spectrum_and_mean():
    x = torch.arange(32, dtype=torch.float32)
    stripes = torch.cos(2 * torch.pi * 4 * x / 32).expand(32, 32)  # 4 cycles across, none down
    means = torch.tensor([1.0, -2.0])[:, None, None]
    bank = (torch.stack([stripes, torch.zeros(32, 32)]) + means)[None]
    style = (torch.zeros(2), torch.eye(2)[:1], torch.ones(1))
    code = sample(bank, *style, size=(512, 512), generator=torch.Generator().manual_seed(3))
    field = code.structure[0]  # (2, 64, 64)
    assert torch.allclose(field[1], torch.full((64, 64), -2.0))  # a flat channel stays flat
    power = torch.fft.rfft2(field[0] - field[0].mean()).abs().pow(2)  # (ky, kx) over 64 x 33
    stripe_band = power[:, 6:11].sum() / power.sum()  # 4 per 32 px is 8 per 64: kx near 8
    assert stripe_band > 0.8  # white noise would put about 5/33 there
    # the map's mean (1) and spread (a cosine's: 0.71) carry over
    assert abs(field[0].mean() - 1.0) < 0.2 and 0.4 < field[0].std() < 1.0
    flat = sample(bank, *style, size=(512, 512), temperature=0.0,
                  generator=torch.Generator().manual_seed(3))
    assert torch.allclose(flat.structure[0, 0], torch.ones(64, 64))  # no deviation: the mean


def test_quilting_keeps_a_periodic_layout_in_phase_and_wraps_around():
    # vertical stripes of period 4 and horizontal ones of period 6, a brick wall's kind of order
    y, x = torch.meshgrid(torch.arange(24.0), torch.arange(24.0), indexing="ij")
    spot = torch.stack([torch.sin(x * torch.pi / 2) + (x % 4 == 0), torch.cos(y * torch.pi / 3),
                        ((x + 2 * (y // 3)) % 4 < 2).float()])
    field = quilt(spot, (48, 72), torch.Generator().manual_seed(0))
    assert field.shape == (1, 3, 48, 72)
    # in phase everywhere, the seams and the wrap-around included: one period later it repeats
    assert torch.allclose(field, field.roll(4, -1), atol=1e-5)
    assert torch.allclose(field[:, :2], field[:, :2].roll(6, -2), atol=1e-5)


def test_quilting_rearranges_a_layout_by_seed_without_tiling_it():
    spot = torch.randn(4, 16, 16, generator=torch.Generator().manual_seed(1))
    first = quilt(spot, (40, 40), torch.Generator().manual_seed(0))
    assert torch.equal(first, quilt(spot, (40, 40), torch.Generator().manual_seed(0)))
    assert not torch.allclose(first, quilt(spot, (40, 40), torch.Generator().manual_seed(1)))
    tiled = spot.repeat(1, 3, 3)[None, :, :40, :40]
    assert (first - tiled).abs().mean() > 0.3
    # made of the map's own pieces: its values stay within the map's range, its spread close
    assert first.min() >= spot.min() - 1e-5 and first.max() <= spot.max() + 1e-5
    assert 0.6 < first.std() / spot.std() < 1.05
