"""srgan.metrics: Y conversion, PSNR/SSIM conventions, and the bicubic baseline."""
import math

import numpy as np
import pytest
import torch

from extras import need
from srgan.imresize import imresize
from srgan.metrics import (
    gaussian_window,
    psnr,
    psnr_ssim_y,
    psnr_ssim_y_tensor,
    rgb_to_y,
    ssim,
    to_uint8,
)


def _load_png(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.array(im)


def _bicubic_x4_uint8(lr: np.ndarray) -> np.ndarray:
    """MATLAB bicubic x4 (float path) of a uint8 LR image, clamped and rounded to uint8."""
    t = torch.from_numpy(np.ascontiguousarray(lr[..., None] if lr.ndim == 2 else lr)).permute(2, 0, 1)
    up = imresize(t.to(torch.float64), 4).clamp(0, 255)
    out = torch.round(up).to(torch.uint8).permute(1, 2, 0).numpy()
    return out[..., 0] if lr.ndim == 2 else out


@pytest.fixture(scope="module")
def mats(shared_data):
    sio = need("scipy.io", "reading MATLAB .mat files needs scipy (the dev extra)")
    root = shared_data / "benchmarks" / "matlab_golden"
    return {name: sio.loadmat(str(root / f"{name}.mat")) for name in ("butterfly_GT", "face")}


def _rng_pair(shape, seed=0, noise=12):
    rng = np.random.default_rng(seed)
    hr = rng.integers(0, 256, shape).astype(np.uint8)
    sr = np.clip(hr.astype(int) + rng.integers(-noise, noise + 1, shape), 0, 255).astype(np.uint8)
    return sr, hr


# ---------------------------------------------------------------- Y conversion


@pytest.mark.parametrize("name", ["butterfly_GT", "face"])
def test_rgb_to_y_matches_matlab(mats, name):
    m = mats[name]
    y = rgb_to_y(m["im_gt"])
    assert y.dtype == np.float64
    assert np.abs(y - m["im_gt_y"]).max() <= 1e-10


def test_rgb_to_y_range_and_grayscale():
    assert rgb_to_y(np.zeros((1, 1, 3), np.uint8))[0, 0] == pytest.approx(16.0)
    assert rgb_to_y(np.full((1, 1, 3), 255, np.uint8))[0, 0] == pytest.approx(235.0)
    g = np.random.default_rng(3).integers(0, 256, (9, 11)).astype(np.uint8)
    y_gray = rgb_to_y(g)
    np.testing.assert_allclose(y_gray, 16 + 219 * g.astype(np.float64) / 255.0, atol=1e-12)
    np.testing.assert_allclose(y_gray, rgb_to_y(np.stack([g] * 3, -1)), atol=1e-12)
    np.testing.assert_allclose(y_gray, rgb_to_y(g[..., None]), atol=0)


# ---------------------------------------------------------------- PSNR


def test_psnr_identical_is_inf_and_ssim_one():
    _, hr = _rng_pair((40, 40, 3))
    assert psnr(hr, hr, 4) == math.inf
    assert ssim(hr, hr, 4) == pytest.approx(1.0, abs=1e-12)
    assert psnr_ssim_y(hr, hr, 4)[0] == math.inf


def test_psnr_known_mse():
    hr = np.full((20, 20), 100, np.uint8)
    sr = hr + 5
    # Raw values: MSE 25.
    assert psnr(sr, hr, to_y=False) == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-12)
    # Y of grayscale: a step of 5 grey levels is 5*219/255 in Y (unrounded).
    mse_y = (5 * 219 / 255) ** 2
    assert psnr(sr, hr, round_y=False) == pytest.approx(10 * math.log10(255**2 / mse_y), abs=1e-12)
    # Rounded Y: 16+219*100/255 = 101.88 -> 102, 16+219*105/255 = 106.18 -> 106: MSE 16.
    assert psnr(sr, hr) == pytest.approx(10 * math.log10(255**2 / 16), abs=1e-12)


def test_border_is_shaved():
    hr = np.full((30, 30, 3), 120, np.uint8)
    sr = hr.copy()
    sr[:4, :] = 0
    sr[:, -4:] = 255
    assert psnr(sr, hr, 4) == math.inf
    assert psnr(sr, hr, 3) < 30
    with pytest.raises(ValueError):
        psnr(sr, hr[:-1], 4)


def test_psnr_matches_skimage():
    metrics = need("skimage.metrics", "needs scikit-image (the dev extra)")
    sr, hr = _rng_pair((48, 52, 3), seed=5)
    for round_y in (False, True):
        ys, yh = rgb_to_y(sr)[4:-4, 4:-4], rgb_to_y(hr)[4:-4, 4:-4]
        if round_y:
            ys, yh = np.floor(ys + 0.5), np.floor(yh + 0.5)
        ref = metrics.peak_signal_noise_ratio(yh, ys, data_range=255)
        assert psnr(sr, hr, 4, round_y=round_y) == pytest.approx(ref, abs=1e-10)


# ---------------------------------------------------------------- SSIM


def test_gaussian_window_is_fspecial():
    g = gaussian_window()
    w = np.outer(g, g)
    assert w.shape == (11, 11) and w.sum() == pytest.approx(1.0, abs=1e-15)
    t = np.arange(-5, 6)
    ref = np.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2 * 1.5**2))
    np.testing.assert_allclose(w, ref / ref.sum(), atol=1e-16)


def test_ssim_matches_bruteforce_definition():
    """Direct per-window evaluation of Wang et al.'s formula on a small image."""
    sr, hr = _rng_pair((17, 19), seed=7, noise=30)
    a, b = sr.astype(np.float64), hr.astype(np.float64)
    w = np.outer(gaussian_window(), gaussian_window())
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(17 - 10):
        for j in range(19 - 10):
            pa, pb = a[i : i + 11, j : j + 11], b[i : i + 11, j : j + 11]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va = (w * (pa - ma) ** 2).sum()
            vb = (w * (pb - mb) ** 2).sum()
            cv = (w * (pa - ma) * (pb - mb)).sum()
            vals.append((2 * ma * mb + c1) * (2 * cv + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    assert ssim(sr, hr, to_y=False) == pytest.approx(np.mean(vals), abs=1e-12)


def test_ssim_matches_skimage_on_valid_region(mats):
    """skimage with Wang's settings pads, then crops (11-1)//2 = 5 px off its map before
    averaging: that is exactly the valid region, so the means must agree to rounding."""
    metrics = need("skimage.metrics", "needs scikit-image (the dev extra)")
    m = mats["butterfly_GT"]
    hr = m["im_gt"]
    sr = np.round(np.clip(m["im_b"], 0, 255)).astype(np.uint8)
    for round_y in (False, True):
        ys, yh = rgb_to_y(sr)[4:-4, 4:-4], rgb_to_y(hr)[4:-4, 4:-4]
        if round_y:
            ys, yh = np.floor(ys + 0.5), np.floor(yh + 0.5)
        ref, smap = metrics.structural_similarity(
            yh, ys, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
            data_range=255, full=True,
        )
        ours = ssim(sr, hr, 4, round_y=round_y)
        assert ours == pytest.approx(ref, abs=1e-12)
        assert ours == pytest.approx(smap[5:-5, 5:-5].mean(), abs=1e-12)
        # Including skimage's padded margin is a different (wrong) number.
        assert abs(smap.mean() - ours) > 1e-4
    default = metrics.structural_similarity(yh, ys, data_range=255)  # 7x7 uniform, sample cov.
    assert abs(default - ssim(sr, hr, 4)) > 1e-3


# ---------------------------------------------------------------- values from the MATLAB arrays


@pytest.mark.parametrize("name", ["butterfly_GT", "face"])
def test_metrics_of_our_bicubic_equal_metrics_of_matlab_arrays(mats, name):
    """Full chain (our down/up-scaling + our Y) vs MATLAB's own double arrays."""
    m = mats[name]
    gt = torch.from_numpy(m["im_gt"]).permute(2, 0, 1).double()
    ours_b = imresize(imresize(gt, 0.25), 4).clamp(0, 255).permute(1, 2, 0).numpy()
    # Float Y planes, no rounding anywhere: compare with im_gt_y / im_b_y from MATLAB.
    p_mat = psnr(m["im_b_y"], m["im_gt_y"], 4, to_y=False)
    p_ours = psnr(_y_chain(m["im_gt"]), rgb_to_y(m["im_gt"]), 4, to_y=False)
    assert p_ours == pytest.approx(p_mat, abs=1e-9)
    s_mat = ssim(m["im_b_y"], m["im_gt_y"], 4, to_y=False)
    assert ssim(_y_chain(m["im_gt"]), rgb_to_y(m["im_gt"]), 4, to_y=False) == pytest.approx(s_mat, abs=1e-12)
    # RGB path, rounded to uint8 as an SR output would be.
    sr_ours = np.round(ours_b).astype(np.uint8)
    sr_mat = np.round(m["im_b"]).astype(np.uint8)
    assert np.array_equal(sr_ours, sr_mat)  # so every metric of them is MATLAB's too
    assert 20 < psnr(sr_mat, m["im_gt"], 4) < 40


def _y_chain(im_gt: np.ndarray) -> np.ndarray:
    y = torch.from_numpy(rgb_to_y(im_gt))[None]
    return imresize(imresize(y, 0.25), 4)[0].numpy()


# ---------------------------------------------------------------- grayscale, uint8, tensors


def test_grayscale_equals_replicated_rgb():
    sr, hr = _rng_pair((40, 36), seed=11)
    sr3, hr3 = np.stack([sr] * 3, -1), np.stack([hr] * 3, -1)
    for round_y in (False, True):
        assert psnr(sr, hr, 4, round_y=round_y) == pytest.approx(psnr(sr3, hr3, 4, round_y=round_y), abs=1e-10)
        assert ssim(sr, hr, 4, round_y=round_y) == pytest.approx(ssim(sr3, hr3, 4, round_y=round_y), abs=1e-12)
    # Y of grey is not the grey value itself: raw-grey PSNR is a different number.
    assert abs(psnr(sr, hr, 4, round_y=False) - psnr(sr, hr, 4, to_y=False) - 20 * math.log10(255 / 219)) < 1e-9


def test_to_uint8_clamps_rounds_and_transposes():
    a = np.array([-0.2, 0.0, 0.5 / 255, 1.5 / 255, 2.5 / 255, 100.4 / 255, 1.0, 1.3])  # a model's overshoot
    # np.round: half to even (0.5 -> 0, 1.5 -> 2, 2.5 -> 2).
    np.testing.assert_array_equal(to_uint8(a), [0, 0, 0, 2, 2, 100, 255, 255])
    t = torch.rand(3, 5, 7)
    u = to_uint8(t)
    assert u.shape == (5, 7, 3) and u.dtype == np.uint8
    np.testing.assert_array_equal(u, np.round(t.double().permute(1, 2, 0).numpy() * 255).astype(np.uint8))
    assert to_uint8(torch.rand(2, 3, 5, 7)).shape == (2, 5, 7, 3)


def test_tensor_entry_point():
    torch.manual_seed(4)
    hr = torch.rand(3, 40, 44)
    sr = (hr + 0.03 * torch.randn_like(hr)).clamp(-0.1, 1.1)
    got = psnr_ssim_y_tensor(sr, hr, 4)
    assert got == psnr_ssim_y(to_uint8(sr), to_uint8(hr), 4)
    assert 20 < got[0] < 40 and 0 < got[1] < 1


# ---------------------------------------------------------------- bicubic baseline


def _bicubic_baseline(shared_data, set_name, round_y=True):
    bench = shared_data / "benchmarks" / set_name
    scores = {}
    for p in sorted((bench / "HR").glob("*.png")):
        hr = _load_png(p)
        sr = _bicubic_x4_uint8(_load_png(bench / "LR_bicubic_x4" / p.name))
        assert sr.shape == hr.shape
        scores[p.stem] = psnr_ssim_y(sr, hr, 4, round_y=round_y)
    return scores


# Published x4 bicubic PSNR: Set5 28.42, Set14 26.00, BSD100 25.96. Our convention
# (rounded Y, as MATLAB rgb2ycbcr of uint8) measured 28.4189 / 26.0885 / 25.9575.
@pytest.mark.parametrize(
    "set_name,n,psnr_expected,ssim_expected",
    [("Set5", 5, 28.42, 0.8102), ("Set14", 14, 26.0885, 0.7042), ("BSD100", 100, 25.96, 0.6673)],
)
def test_bicubic_baseline(shared_data, set_name, n, psnr_expected, ssim_expected):
    scores = _bicubic_baseline(shared_data, set_name)
    assert len(scores) == n
    mean_psnr = float(np.mean([v[0] for v in scores.values()]))
    mean_ssim = float(np.mean([v[1] for v in scores.values()]))
    assert abs(mean_psnr - psnr_expected) <= 0.005, mean_psnr
    assert abs(mean_ssim - ssim_expected) <= 0.0005, mean_ssim


def test_bicubic_baseline_conventions_explained(shared_data):
    """Unrounded Y (BasicSR) reads 28.43 on Set5; Set14's published 26.00 comes from
    measuring grayscale ``bridge`` on raw grey values instead of studio-swing Y."""
    set5 = _bicubic_baseline(shared_data, "Set5", round_y=False)
    assert abs(np.mean([v[0] for v in set5.values()]) - 28.4318) <= 0.001
    bench = shared_data / "benchmarks" / "Set14"
    vals = []
    for p in sorted((bench / "HR").glob("*.png")):
        hr = _load_png(p)
        sr = _bicubic_x4_uint8(_load_png(bench / "LR_bicubic_x4" / p.name))
        vals.append(psnr(sr, hr, 4, to_y=False) if hr.ndim == 2 else psnr(sr, hr, 4))
    assert abs(np.mean(vals) - 26.00) <= 0.01, np.mean(vals)


@pytest.mark.parametrize("convert, message", [
    (lambda a: a / 255.0, r"sr looks like a \[0, 1\] float image \(max 1\); PSNR and SSIM here take 0-255"),
    (lambda a: a.astype(np.uint16) * 257, r"sr values 0\.\.65535 are not 8-bit \(0-255\)"),
    (lambda a: np.dstack([a, np.full(a.shape[:2], 255, np.uint8)]), "sr has 4 channels; expected RGB or grayscale"),
    (lambda a: np.ascontiguousarray(a.transpose(2, 0, 1)),  # was "sr has 32 channels ... (drop alpha first)"
     r"sr is 3x32x32: channels first \(CHW\)\? PSNR and SSIM here take HxWxC images"),
    # These three passed: an unclamped [0, 1] SR (bicubic overshoot), 16-bit values held as floats, one NaN.
    (lambda a: a / 255.0 * 1.015, r"sr looks like a \[0, 1\] float image \(max 1\.015\)"),
    (lambda a: a.astype(np.float64) * 257, r"sr values 0\.\.65535 are not 8-bit \(0-255\)"),
    (lambda a: np.where(np.arange(a.size).reshape(a.shape) == 7, np.nan, a.astype(np.float64)),
     "sr has NaN or infinite values"),
], ids=["float01", "uint16", "rgba", "chw", "float01-overshoot", "float-uint16", "nan"])
def test_inputs_on_another_scale_are_refused(convert, message):
    """They gave plausible wrong numbers: 67.57 dB for [0, 1] floats, -16.41 dB for 16-bit, alpha ignored."""
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    sr = hr.copy()
    sr[0, 0] = 255 - sr[0, 0]
    sr[-1, -1] = 0
    sr[-1, -2] = 255
    for metric in (psnr, ssim, lambda a, b: psnr_ssim_y(a, b, 4)):
        with pytest.raises(ValueError, match=message):
            metric(convert(sr), convert(hr))
    assert psnr(sr.astype(np.float64), hr) == psnr(sr, hr)  # 0-255 floats stay welcome


def test_bool_images_and_borders_that_are_not_whole_pixels_are_refused():
    """A bool mask scored 67.9 dB; border=2.7 shaved 2 px and border=nan failed in int()'s words."""
    hr = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    with pytest.raises(TypeError, match="sr is a bool array; PSNR and SSIM here take uint8"):
        psnr(hr > 128, hr > 100)
    for border in (2.7, float("nan"), True, -1):
        with pytest.raises(ValueError, match="border must be a whole number of pixels >= 0"):
            psnr_ssim_y(hr, hr, border)
    assert psnr(hr, hr ^ 1, 4.0) == psnr(hr, hr ^ 1, 4)


def test_to_uint8_keeps_uint8_and_refuses_what_it_would_garble():
    """uint8 input was clipped to [0, 1] and x255: [0, 1, 2, 128, 255] became [0, 255, 255, 255, 255], so
    psnr_ssim_y_tensor of uint8 tensors of Set5-like images read 26.62 dB instead of 31.77; NaN cast to 0."""
    values = np.array([0, 1, 2, 128, 255], np.uint8)
    np.testing.assert_array_equal(to_uint8(values), values)
    rng = np.random.default_rng(1)
    hr = rng.integers(0, 256, (3, 40, 44), dtype=np.uint8)
    sr = np.clip(hr.astype(int) + rng.integers(-9, 10, hr.shape), 0, 255).astype(np.uint8)
    got = psnr_ssim_y_tensor(torch.from_numpy(sr), torch.from_numpy(hr), 4)
    assert got == psnr_ssim_y(sr.transpose(1, 2, 0), hr.transpose(1, 2, 0), 4)
    with pytest.raises(TypeError, match="to_uint8 takes a float image in \\[0, 1\\] .* got uint16"):
        to_uint8(values.astype(np.uint16))
    with pytest.raises(ValueError, match="the image has NaN or infinite values"):
        psnr_ssim_y_tensor(torch.full((3, 40, 44), float("nan")), torch.rand(3, 40, 44), 4)


@pytest.fixture(scope="module")
def baby(shared_data):
    """Set5 baby: (bicubic x4 SR, HR), uint8 HxWx3."""
    bench = shared_data / "benchmarks" / "Set5"
    return _bicubic_x4_uint8(_load_png(bench / "LR_bicubic_x4" / "baby.png")), _load_png(bench / "HR" / "baby.png")


def test_the_tensor_path_refuses_another_scale_rather_than_clamp_it(baby):
    """to_uint8 clamped whatever it got: 0-255 (and x257) float tensors of Set5 baby's srgan upscale (32.06 dB /
    0.8618) read 24.36 / 0.9614, [-1, 1] ones 33.90 / 0.9074. A model's overshoot is still clamped."""
    sr, hr = baby
    t = lambda a: torch.from_numpy(a).permute(2, 0, 1).double()  # noqa: E731
    truth = psnr_ssim_y(sr, hr, 4)
    assert psnr_ssim_y_tensor(t(sr) / 255, t(hr) / 255, 4) == truth
    bad = [(t(sr), t(hr), r"\(a 0-255 image\? divide it by 255, or pass uint8\)$"),
           (t(sr) / 127.5 - 1, t(hr) / 127.5 - 1, r"\(a \[-1, 1\] image\? map it to \[0, 1\] with \(x \+ 1\) / 2\)$"),
           (t(sr) * 257, t(hr) * 257, r"\(16-bit values\? divide them by 65535; an HDR image\? tone-map it"),
           (t(sr) / 255, t(hr) / 127.5 - 1, r"^hr: to_uint8 takes a float image in \[0, 1\] .*got \[-1, 1\]")]
    for a, b, message in bad:
        with pytest.raises(ValueError, match=message) as info:
            psnr_ssim_y_tensor(a, b, 4)
        assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match=r"^sr: to_uint8 takes a float image in \[0, 1\] \(a model's overshoot up to "
                                         r"0\.5 past it is clamped\), got \[0, 255\] \(a 0-255 image"):
        psnr_ssim_y_tensor(t(sr), t(hr), 4)
    with pytest.raises(ValueError, match=r"^to_uint8 takes a float image in \[0, 1\] .*got \[-0\.2, 1\.7\]"):
        to_uint8(np.array([-0.2, 1.7]))
    np.testing.assert_array_equal(to_uint8(np.array([-0.5, 1.5])), [0, 255])  # within the overshoot: clamped


def test_advice_for_values_on_another_scale_gives_the_true_numbers(baby):
    """"quantise first (to_uint8)" sent 16-bit values held as floats into to_uint8's clamp: all white, 24.36 dB."""
    sr, hr = baby
    truth = psnr(sr, hr, 4)
    sixteen = sr.astype(np.float64) * 257
    with pytest.raises(ValueError, match=r"^sr values 0\.\.65535 are not 8-bit \(0-255\); 16-bit values\? pass "
                                         r"to_uint8\(x / 65535\)$"):
        psnr(sixteen, hr, 4)
    assert psnr(to_uint8(sixteen / 65535), hr, 4) == truth
    with pytest.raises(ValueError, match=r"; a \[-1, 1\] image\? pass to_uint8\(\(x \+ 1\) / 2\)$"):
        ssim(sr / 127.5 - 1, hr, 4)
    assert psnr(to_uint8((sr / 127.5 - 1 + 1) / 2), hr, 4) == truth
    with pytest.raises(ValueError, match=r"^sr values -3\.\.258 are not 8-bit \(0-255\); clamp and round it first: "
                                         r"to_uint8\(x / 255\)$"):
        psnr(np.clip(sr.astype(np.float64), 2, 254) + np.where(sr > 200, 4.0, np.where(sr < 50, -5.0, 0.0)), hr, 4)


def test_channels_first_or_a_batch_is_named_in_one_line():
    """rgb_to_y of (3, H, W) returned a (3, W) "Y"; the tensor path called an HWC tensor "512 channels ... (drop
    alpha first)" and a batch "expected HxW, HxWx1 or HxWx3, got shape (1, H, W, 3)"."""
    hr = torch.rand(3, 40, 44)
    with pytest.raises(ValueError, match=r"^expected HxW, HxWx1 or HxWx3, got shape \(3, 40, 44\) \(channels first\? "
                                         r"take HxWx3: a tensor's \.permute\(1, 2, 0\)\)$"):
        rgb_to_y(hr.numpy())
    with pytest.raises(ValueError, match=r"^expected HxW, HxWx1 or HxWx3, got shape \(40, 44, 4\)$"):
        rgb_to_y(np.zeros((40, 44, 4), np.uint8))  # RGBA was read as RGB
    with pytest.raises(ValueError, match=r"^sr is 40x44x3: channels last \(HWC\)\? psnr_ssim_y_tensor takes CHW "
                                         r"tensors \(sr\.permute\(2, 0, 1\)\); psnr_ssim_y takes HWC arrays$"):
        psnr_ssim_y_tensor(hr.permute(1, 2, 0), hr.permute(1, 2, 0), 4)
    with pytest.raises(ValueError, match=r"^sr is a batch \(1, 3, 40, 44\); psnr_ssim_y_tensor takes one CHW image: "
                                         r"pass sr\[i\] \(or sr\.squeeze\(0\) for a batch of one\)$"):
        psnr_ssim_y_tensor(hr[None], hr[None], 4)
    assert psnr_ssim_y_tensor(hr[:1], hr[:1], 4) == (math.inf, 1.0)  # one grey channel is fine


def test_psnr_and_ssim_of_tensors_that_require_grad():
    """They failed in torch's words: "Can't call numpy() on Tensor that requires grad"."""
    sr, hr = _rng_pair((40, 36, 3), seed=3)
    want = psnr(sr, hr, 4), ssim(sr, hr, 4)
    tracked = torch.from_numpy(sr).double().requires_grad_()
    assert (psnr(tracked, torch.from_numpy(hr), 4), ssim(tracked, hr, 4)) == want
    assert psnr(tracked.bfloat16(), hr, 4) == want[0]  # bf16 has no numpy dtype; whole numbers to 255 are exact


def test_rgb_to_y_refuses_values_on_another_scale():
    """A [0, 1] float image came out as Y 16..16.9, a plausible dark plane; 16-bit values as Y up to 65k."""
    rgb = np.random.default_rng(5).integers(0, 256, (8, 9, 3), dtype=np.uint8)
    np.testing.assert_array_equal(rgb_to_y(rgb.astype(np.float32)), rgb_to_y(rgb))  # 0-255 floats are welcome
    with pytest.raises(ValueError, match=r"^rgb_to_y's input looks like a \[0, 1\] float image \(max 1\); "
                                         r"rgb_to_y takes 0-255 values: quantise first \(to_uint8\)$"):
        rgb_to_y(rgb / 255.0)
    with pytest.raises(ValueError, match=r"^rgb_to_y's input values 0\.\.65535 are not 8-bit \(0-255\); 16-bit "
                                         r"values\? pass to_uint8\(x / 65535\)$"):
        rgb_to_y(rgb.astype(np.uint16) * 257)
    with pytest.raises(TypeError, match="^rgb_to_y's input is a bool array; rgb_to_y takes uint8"):
        rgb_to_y(rgb > 128)


def test_every_hint_reads_an_unclamped_0_255_image_alike():
    """An unclamped 0-255 SR (0..262) was told by to_uint8 to divide by 65535 (near black, a believable score) while
    psnr said divide by 255; one overshooting below zero (-3..250) got no hint. One guess now serves them all."""
    for lo, hi in ((0, 262), (-3, 250)):
        a = np.linspace(lo, hi, 48, dtype=np.float32).reshape(4, 4, 3)
        with pytest.raises(ValueError, match=r"\(a 0-255 image\? divide it by 255, or pass uint8\)$"):
            to_uint8(a)
        with pytest.raises(ValueError, match=r"clamp and round it first: to_uint8\(x / 255\)$"):
            psnr(a, np.zeros((4, 4, 3), np.uint8))
