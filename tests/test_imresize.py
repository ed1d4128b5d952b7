"""srgan.imresize against the two golden references in shared/data and basic invariants."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from extras import need
from srgan.imresize import (
    contributions,
    cubic,
    degrade_uint8,
    imresize,
    imresize_np,
    imresize_uint8,
    mod_crop,
    output_size,
    resize_matrix,
)

SETS = {"Set5": 5, "Set14": 14, "BSD100": 100}


def _load_png(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.array(im)


def _chw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a[..., None] if a.ndim == 2 else a)).permute(2, 0, 1)


@pytest.fixture(scope="module")
def mats(shared_data):
    sio = need("scipy.io", "reading MATLAB .mat files needs scipy (the dev extra)")
    root = shared_data / "benchmarks" / "matlab_golden"
    return {name: sio.loadmat(str(root / f"{name}.mat")) for name in ("butterfly_GT", "face")}


# ---------------------------------------------------------------- kernel / tables


def test_keys_kernel_values():
    x = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, -0.5, -1.5])
    np.testing.assert_allclose(cubic(x), [1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0, 0.5625, -0.0625])


def test_upscale_x2_interior_weights_by_hand():
    # Output 10 (0-based) of a x2 upscale reads u0 = (10 + 0.5)/2 - 0.5 = 4.75 (0-based),
    # i.e. taps 3,4,5,6 at distances 1.75, 0.75, 0.25, 1.25 with a = -0.5.
    m = resize_matrix(20, 40, 2.0, "symmetric").numpy()
    row = m[10]
    expected = cubic(np.array([1.75, 0.75, 0.25, 1.25]))
    assert expected.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(row[3:7], expected, atol=1e-15)
    assert np.count_nonzero(row) == 4


def test_downscale_table_is_antialiased_and_normalised():
    m = resize_matrix(64, 16, 0.25, "symmetric").numpy()
    np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-14)
    # Stretched kernel: 16 nonzero taps per interior output (not the 4 of a plain cubic).
    assert np.count_nonzero(m[8]) == 16
    # Replicate border differs from symmetric only in the first/last 2 outputs.
    r = resize_matrix(64, 16, 0.25, "replicate").numpy()
    differ = np.nonzero(np.abs(m - r).max(axis=1) > 0)[0].tolist()
    assert differ == [0, 1, 14, 15]


def test_contributions_are_matlabs_and_cached():
    idx, wts = contributions(100, 25, 0.25, "replicate")
    assert contributions(100, 25, 0.25, "replicate")[0] is idx
    # 4/scale + 2 = 18 candidate taps; MATLAB drops the columns whose weight is zero for every output (the two
    # outermost, 8.5 px from each output's centre): 16 remain.
    assert idx.shape == wts.shape == (25, 16) and not wts.flags.writeable
    assert idx.min() == 0 and idx.max() == 99  # clamped into the image, not merged
    np.testing.assert_allclose(wts.sum(axis=1), 1.0, atol=1e-14)
    np.testing.assert_array_equal(idx[0, :6], [0] * 6)  # output 1 reads inputs -5..10 (1-based): 6 clamp to 1


def _gather_resize(x: np.ndarray, axis: int, in_len: int, out_len: int, scale: float, border: str) -> np.ndarray:
    """An independent 1-D pass: MATLAB's sum over taps of weight x gathered pixel (no matrix, no bands)."""
    idx, wts = contributions(in_len, out_len, scale, border)
    x = np.moveaxis(x, axis, -1)
    y = (x[..., idx] * wts).sum(axis=-1)
    return np.moveaxis(y, -1, axis)


@pytest.mark.parametrize("hw,scale", [((7, 5), 0.25), ((300, 2000), 0.25), ((41, 1300), 1 / 3), ((130, 9), 4),
                                      ((3, 700), 2), ((257, 129), 0.5)])
def test_banded_passes_equal_the_gathered_sum(hw, scale):
    """The banded matmuls against a plain gather: many bands, one band, images smaller than the kernel."""
    rng = np.random.default_rng(7)
    x = rng.random((2, *hw)) * 255
    (oh, ow), _ = output_size(hw, scale)
    expected = _gather_resize(_gather_resize(x, 1, hw[0], oh, scale, "symmetric"), 2, hw[1], ow, scale, "symmetric")
    np.testing.assert_allclose(imresize(torch.from_numpy(x), scale).numpy(), expected, rtol=0, atol=1e-10)
    u8 = (x.round()).astype(np.uint8)
    half = np.floor(_gather_resize(u8.astype(np.float64), 1, hw[0], oh, scale, "replicate") + 0.5).clip(0, 255)
    full = np.floor(_gather_resize(half, 2, hw[1], ow, scale, "replicate") + 0.5).clip(0, 255)
    assert np.array_equal(imresize_uint8(torch.from_numpy(u8), scale).numpy(), full)


def test_wide_axis_tables_stay_linear_in_size():
    """A 120000-px axis: the dense matrix this module first built was 30000 x 120000 float64 (29 GB)."""
    from srgan.imresize import _bands

    bands = _bands(120000, 30000, 0.25, "replicate", torch.device("cpu"), torch.float64)
    assert sum(block.numel() for _, _, block in bands) < 30000 * 100
    x = torch.arange(120000, dtype=torch.float64)[None, None, None, :].expand(1, 1, 2, -1)
    y = imresize(x, (1, 0.25))
    # A linear ramp stays a ramp away from the mirrored borders: output o samples input 4o + 1.5 (0-based).
    torch.testing.assert_close(y[0, 0, 0, 2:-2], torch.arange(2, 29998, dtype=torch.float64) * 4 + 1.5)


# ---------------------------------------------------------------- float path vs MATLAB


@pytest.mark.parametrize("name", ["butterfly_GT", "face"])
def test_float_path_matches_matlab_double(mats, name):
    m = mats[name]
    gt = _chw(m["im_gt"]).to(torch.float64)
    im_l = imresize(gt, 0.25)
    im_b = imresize(im_l, 4).clamp(0, 255)
    y_l = imresize(torch.from_numpy(m["im_gt_y"])[None], 1 / 4)
    y_b = imresize(y_l, 4)
    diffs = {
        "im_l": np.abs(im_l.permute(1, 2, 0).numpy() - m["im_l"]).max(),
        "im_b": np.abs(im_b.permute(1, 2, 0).numpy() - m["im_b"]).max(),
        "im_l_y": np.abs(y_l[0].numpy() - m["im_l_y"]).max(),
        "im_b_y": np.abs(y_b[0].numpy() - m["im_b_y"]).max(),
    }
    assert im_l.shape[-2:] == m["im_l"].shape[:2]
    # Spec: <= 1e-6. Measured ~3e-13 (summation order only), so hold it much tighter.
    assert max(diffs.values()) <= 1e-9, diffs


def test_float_path_size_argument_equals_scale(mats):
    gt = _chw(mats["face"]["im_gt"]).to(torch.float64)
    np.testing.assert_array_equal(imresize(gt, size=(69, 69)).numpy(), imresize(gt, 0.25).numpy())


# ---------------------------------------------------------------- uint8 path vs the LR PNGs


@pytest.mark.parametrize("set_name", list(SETS))
def test_uint8_path_regenerates_lr_pngs_bit_exactly(shared_data, set_name):
    bench = shared_data / "benchmarks" / set_name
    hr_paths = sorted((bench / "HR").glob("*.png"))
    assert len(hr_paths) == SETS[set_name]
    failures = []
    for p in hr_paths:
        hr = _load_png(p)
        lr = _load_png(bench / "LR_bicubic_x4" / p.name)
        out = imresize_uint8(_chw(hr), 1 / 4).permute(1, 2, 0).numpy()
        if hr.ndim == 2:  # Set14 bridge is mode L
            out = out[..., 0]
        if out.shape != lr.shape:
            failures.append(f"{p.name}: shape {out.shape} vs {lr.shape}")
        elif not np.array_equal(out, lr):
            d = np.abs(out.astype(int) - lr.astype(int))
            failures.append(f"{p.name}: {np.count_nonzero(d)} px differ, max {d.max()}")
    assert not failures, f"{len(hr_paths) - len(failures)}/{len(hr_paths)} exact; " + "; ".join(failures)


def test_single_rounding_is_not_the_png_recipe(shared_data):
    """Negative control: the double path rounded once does not give the PNG bytes."""
    bench = shared_data / "benchmarks" / "Set5"
    hr = _load_png(bench / "HR" / "butterfly.png")
    lr = _load_png(bench / "LR_bicubic_x4" / "butterfly.png")
    once = imresize(_chw(hr).double(), 0.25).clamp(0, 255)
    once = torch.floor(once + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    assert not np.array_equal(once, lr)
    assert np.array_equal(imresize_uint8(_chw(hr), 0.25).permute(1, 2, 0).numpy(), lr)


def test_uint8_grayscale_and_ranks():
    g = torch.randint(0, 256, (1, 37, 41), dtype=torch.uint8)
    out3 = imresize_uint8(g, 0.5)
    out4 = imresize_uint8(g[None], 0.5)
    assert out3.shape == (1, 19, 21) and out3.dtype == torch.uint8
    assert torch.equal(out4[0], out3)
    # A 1-channel image equals the same channel inside a 3-channel image.
    rgb = g.expand(3, -1, -1).contiguous()
    assert torch.equal(imresize_uint8(rgb, 0.5)[1:2], out3)


def test_dtype_errors():
    with pytest.raises(TypeError):
        imresize(torch.zeros(1, 8, 8, dtype=torch.uint8), 0.5)
    with pytest.raises(TypeError):
        imresize_uint8(torch.zeros(1, 8, 8), 0.5)
    with pytest.raises(ValueError):
        imresize(torch.zeros(8, 8), 0.5)
    with pytest.raises(ValueError):
        imresize(torch.zeros(1, 8, 8), scale=0.5, size=(4, 4))


@pytest.mark.parametrize("call, message", [
    (lambda: imresize(torch.rand(3, 0, 16), 0.25), r"empty image \(0x16 pixels\)"),  # range() arg 3 must not be zero
    (lambda: imresize(torch.rand(3, 0, 16), size=(4, 4)), r"empty image"),  # ZeroDivisionError
    (lambda: imresize(torch.rand(3, 8, 8), float("nan")), "scale must be a positive finite number"),
    (lambda: imresize(torch.rand(3, 8, 8), float("inf")), "scale must be a positive finite number"),
    (lambda: imresize(torch.rand(3, 8, 8), size=2.7), r"size must be whole numbers of pixels > 0, got 2\.7"),
    (lambda: imresize(torch.rand(3, 8, 8), size=(4, 4.9)), "size must be whole numbers"),  # was cut to (4, 4)
    (lambda: degrade_uint8(np.zeros((8, 8, 3), np.uint8), 0), "scale must be a whole number >= 1, got 0"),
    (lambda: mod_crop(np.zeros((8, 8)), 0), "scale must be a whole number >= 1"),  # ZeroDivisionError
    (lambda: imresize_np(np.zeros(8), 0.5), r"imresize_np expects an HxW or HxWxC array, got shape \(8,\)"),
])
def test_arguments_it_cannot_use_are_one_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_nan_or_inf_is_refused_rather_than_spread_over_a_band():
    """0 x NaN = NaN in the banded product: one NaN pixel of a 512x512 image became a 16x16 NaN block at x1/4
    (about 2x2 where its kernel reaches), and 16,384 NaN outputs at x2."""
    x = torch.rand(1, 64, 64, dtype=torch.float64)
    for bad in (float("nan"), float("inf")):
        y = x.clone()
        y[0, 0, 0] = bad
        for scale in (0.25, 2):
            with pytest.raises(ValueError, match="imresize: the image has NaN or infinite values"):
                imresize(y, scale)
    huge = torch.full((1, 8, 8), 1e38)  # finite values whose float32 sum overflows: the slow check clears them
    assert torch.isfinite(imresize(huge, 0.5)).all()


# ---------------------------------------------------------------- invariants


def test_batched_equals_per_image():
    torch.manual_seed(0)
    x = torch.rand(4, 3, 50, 38, dtype=torch.float64) * 255
    for s in (0.25, 1 / 3, 2, 3):
        batched = imresize(x, s)
        single = torch.stack([imresize(x[i], s) for i in range(4)])
        torch.testing.assert_close(batched, single, rtol=0, atol=1e-12)
    xu = (torch.rand(4, 3, 48, 40) * 255).to(torch.uint8)
    assert torch.equal(imresize_uint8(xu, 0.25), torch.stack([imresize_uint8(xu[i], 0.25) for i in range(4)]))


def test_float32_agrees_with_float64():
    torch.manual_seed(1)
    x = torch.rand(2, 3, 64, 72, dtype=torch.float64) * 255
    for s in (0.25, 4):
        d = (imresize(x.float(), s).double() - imresize(x, s)).abs().max().item()
        assert d < 1e-4, (s, d)  # on a 0..255 scale
        assert imresize(x.float(), s).dtype == torch.float32


@pytest.mark.parametrize(
    "hw,scale,expected",
    [
        ((9, 7), 0.5, (5, 4)),
        ((9, 7), 1 / 3, (3, 3)),
        ((10, 11), 1 / 3, (4, 4)),
        ((13, 17), 0.25, (4, 5)),
        ((9, 7), 2, (18, 14)),
        ((9, 7), 3, (27, 21)),
        ((9, 7), 4, (36, 28)),
        ((300, 299), 1 / 3, (100, 100)),
    ],
)
def test_output_sizes(hw, scale, expected):
    assert output_size(hw, scale)[0] == expected
    x = torch.rand(1, 2, *hw, dtype=torch.float64)
    assert tuple(imresize(x, scale).shape) == (1, 2, *expected)
    assert tuple(imresize_uint8((x * 255).to(torch.uint8), scale).shape) == (1, 2, *expected)


def test_ceil_output_size_matches_exact_fractions():
    from fractions import Fraction

    for den in (2, 3, 4, 6, 8, 12):
        for n in range(1, 1500):
            assert output_size((n, n), 1 / den)[0][0] == math.ceil(Fraction(n, den))


def test_explicit_size_and_anisotropic_scale():
    x = torch.rand(3, 20, 30, dtype=torch.float64)
    assert imresize(x, size=(7, 11)).shape == (3, 7, 11)
    # (sh, sw): the height gets the x0.5 kernel (antialiased, 20 -> 10), the width the x2 one (30 -> 60)
    expected = resize_matrix(20, 10, 0.5) @ x @ resize_matrix(30, 60, 2).T
    torch.testing.assert_close(imresize(x, scale=(0.5, 2)), expected, rtol=0, atol=1e-12)


def test_uint8_resizes_the_smaller_scale_first():
    """MATLAB's dimensionOrder: with rounding after each pass, the order shows in the bytes."""
    x = torch.from_numpy(np.random.default_rng(3).integers(0, 256, (1, 40, 36), dtype=np.uint8))

    def one_pass(t, matrix, dim):  # a rounded 1-D pass by the dense matrix
        t = matrix @ t.double() if dim == -2 else t.double() @ matrix.T
        return torch.floor(t + 0.5).clamp(0, 255)

    mh, mw = resize_matrix(40, 20, 0.5, "replicate"), resize_matrix(36, 9, 0.25, "replicate")
    width_first = one_pass(one_pass(x, mw, -1), mh, -2).to(torch.uint8)
    height_first = one_pass(one_pass(x, mh, -2), mw, -1).to(torch.uint8)
    assert not torch.equal(width_first, height_first)
    assert torch.equal(imresize_uint8(x, (0.5, 0.25)), width_first)


def test_constant_image_is_preserved():
    for border_fn in (imresize, lambda t, s: imresize_uint8(t.to(torch.uint8), s).double()):
        x = torch.full((1, 3, 21, 18), 77.0, dtype=torch.float64)
        for s in (0.25, 1 / 3, 2, 4):
            assert torch.allclose(border_fn(x, s), torch.full_like(border_fn(x, s), 77.0), atol=1e-12)


def test_scale_one_is_identity():
    x = torch.rand(2, 3, 15, 16, dtype=torch.float64)
    torch.testing.assert_close(imresize(x, 1), x, rtol=0, atol=1e-15)


def test_numpy_wrapper_and_mod_crop():
    a = np.random.default_rng(0).integers(0, 256, (50, 43, 3), dtype=np.uint8)
    c = mod_crop(a, 4)
    assert c.shape == (48, 40, 3) and np.array_equal(c, a[:48, :40])
    t = mod_crop(_chw(a), 4)
    assert t.shape == (3, 48, 40) and torch.equal(t, _chw(a)[:, :48, :40])
    lr = imresize_np(c, 0.25)
    assert lr.dtype == np.uint8 and lr.shape == (12, 10, 3)
    np.testing.assert_array_equal(lr, imresize_uint8(_chw(c), 0.25).permute(1, 2, 0).numpy())
    g = imresize_np(c[..., 0].astype(np.float64), 0.25)
    assert g.shape == (12, 10) and g.dtype == np.float64


# ---------------------------------------------------------------- fast path, measured


def test_interpolate_antialias_matches_interior_only(shared_data):
    """F.interpolate(bicubic, antialias=True) equals the exact path >= 2 px from the border."""
    interior, full = 0.0, 0.0
    for p in sorted((shared_data / "benchmarks" / "Set5" / "HR").glob("*.png")):
        x = _chw(_load_png(p))[None].float() / 255
        exact = imresize(x, 0.25)
        fast = F.interpolate(x, size=(x.shape[2] // 4, x.shape[3] // 4), mode="bicubic", antialias=True,
                             align_corners=False)
        d = (exact - fast).abs()
        interior = max(interior, d[..., 2:-2, 2:-2].max().item())
        full = max(full, d.max().item())
    assert interior < 1e-5, interior  # measured 3.6e-7 (float32 rounding)
    assert full > 1e-3, full  # measured 5.9e-2: borders are clipped, not mirrored


def test_plain_interpolate_bicubic_is_not_matlab():
    """Why F.interpolate without antialias is not an option: a = -0.75 and aliasing."""
    torch.manual_seed(2)
    x = torch.rand(1, 1, 64, 64, dtype=torch.float64)
    plain = torch.nn.functional.interpolate(x, scale_factor=0.25, mode="bicubic", align_corners=False)
    assert (plain - imresize(x, 0.25))[..., 2:-2, 2:-2].abs().max().item() > 0.05


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    x = (torch.rand(2, 3, 64, 48) * 255).to(torch.uint8)
    assert torch.equal(imresize_uint8(x.cuda(), 0.25).cpu(), imresize_uint8(x, 0.25))
    xf = x.double()
    torch.testing.assert_close(imresize(xf.cuda(), 0.25).cpu(), imresize(xf, 0.25), rtol=0, atol=1e-9)
