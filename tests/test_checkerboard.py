import numpy as np
import pytest

from srgan.checkerboard import checkerboard_score


def _smooth(h=320, w=384):
    """A flat-ish RGB image: a gentle gradient (every tile counts as flat)."""
    y, x = np.mgrid[0:h, 0:w]
    base = 100 + 0.2 * x + 0.1 * y
    return np.repeat(base[..., None], 3, axis=2)


def _u8(a):
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


def test_a_four_pixel_grid_stands_out():
    rng = np.random.default_rng(0)
    bicubic = _smooth()
    cell = rng.normal(0, 3, (4, 4))
    grid = np.tile(cell, (bicubic.shape[0] // 4, bicubic.shape[1] // 4))
    sr = bicubic + grid[..., None] + rng.normal(0, 2, bicubic.shape[:2])[..., None]
    assert checkerboard_score(_u8(sr), _u8(bicubic)) > 15


def test_noise_without_a_period_scores_near_zero():
    rng = np.random.default_rng(1)
    bicubic = _smooth()
    sr = bicubic + rng.normal(0, 3, bicubic.shape[:2])[..., None]
    assert checkerboard_score(_u8(sr), _u8(bicubic)) < 4
    assert checkerboard_score(_u8(bicubic), _u8(bicubic)) == 0  # nothing added, nothing to see


def test_only_the_flattest_tiles_count():
    """A grid confined to a busy region (where texture masks it) is not what the score reports."""
    rng = np.random.default_rng(2)
    bicubic = _smooth()
    bicubic[:, :192] += rng.normal(0, 40, (bicubic.shape[0], 192, 1))  # left half: strong texture
    grid = np.tile(rng.normal(0, 3, (4, 4)), (bicubic.shape[0] // 4, 192 // 4))
    sr = bicubic.copy()
    sr[:, :192] += grid[..., None]
    sr += rng.normal(0, 2, bicubic.shape[:2])[..., None]
    assert checkerboard_score(_u8(sr), _u8(bicubic)) < 4


def test_bad_input():
    a = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="shape mismatch"):
        checkerboard_score(a, np.zeros((64, 60, 3), np.uint8))
    with pytest.raises(ValueError, match="too small"):
        checkerboard_score(a[:40, :40], a[:40, :40])
