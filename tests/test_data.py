"""srgan.data: training patches, cache, bad files."""
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srgan.data import TrainDataset, augment, lr_crop, train_loader
from srgan.imagecache import CACHE_VERSION
from srgan.imresize import degrade_uint8, mod_crop

RNG = np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _reseed():
    """Each test draws the same inputs whichever tests ran before it (-k, -x, another order)."""
    global RNG
    RNG = np.random.default_rng(1234)


def _rgb(h, w):
    # smooth + noise so that different crops / transforms differ
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), ((x + y) * 3) % 256], -1)
    return np.clip(base + RNG.integers(-20, 21, size=(h, w, 3)), 0, 255).astype(np.uint8)


def _save(path, arr, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode=mode).save(path) if mode else Image.fromarray(arr).save(path)
    return path


def _dihedral(a):
    return [augment(a, h, v, r) for h in (0, 1) for v in (0, 1) for r in (0, 1)]


def _is_dihedral_of(hr, img):
    return any(t.shape == hr.shape and np.array_equal(t, hr) for t in _dihedral(img))


@pytest.fixture()
def cache_dir(tmp_path):
    return tmp_path / "cache"


@pytest.fixture()
def tree(tmp_path):
    """Two roots: nested PNG/JPEG/BMP in one, a TIFF in the other."""
    a, b = tmp_path / "a", tmp_path / "b"
    _save(a / "x.png", _rgb(120, 130))
    _save(a / "sub" / "deeper" / "y.bmp", _rgb(100, 140))
    Image.fromarray(_rgb(110, 100)).save(a / "sub" / "z.jpg", quality=95)
    _save(b / "w.tif", _rgb(97, 200))
    return [a, b]


# ------------------------------------------------------------------ augment


def test_augment_is_the_exact_dihedral_group():
    a = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(augment(a, True, False, False), a[:, ::-1])
    np.testing.assert_array_equal(augment(a, False, True, False), a[::-1])
    np.testing.assert_array_equal(augment(a, False, False, True), np.rot90(a))
    np.testing.assert_array_equal(augment(a, False, False, True), [[2, 5], [1, 4], [0, 3]])
    np.testing.assert_array_equal(augment(a, True, True, True), np.rot90(a[::-1, ::-1]))
    outs = _dihedral(np.arange(9).reshape(3, 3))
    assert len({o.tobytes() for o in map(np.ascontiguousarray, outs)}) == 8  # all 8 symmetries, distinct
    for o in outs:
        assert sorted(o.ravel()) == list(range(9))  # a permutation: no pixel lost or changed
    c = np.arange(24).reshape(2, 4, 3)
    np.testing.assert_array_equal(augment(c, False, False, True), np.rot90(c, axes=(0, 1)))


# ------------------------------------------------------------------ dataset basics


def _aligned_pair_of(lr, hr, image, scale):
    """True when (lr, hr) is one dihedral transform of an HR crop at multiples of ``scale`` of the mod-cropped
    ``image`` and of the same crop (position / scale) of the whole image's MATLAB downscale."""
    full = mod_crop(image, scale)
    full_lr = degrade_uint8(full, scale)
    c, s = max(hr.shape[:2]), scale
    for top in range(0, full.shape[0] - c + 1, s):
        for left in range(0, full.shape[1] - c + 1, s):
            for flips in ((h, v, r) for h in (0, 1) for v in (0, 1) for r in (0, 1)):
                if np.array_equal(augment(full[top:top + c, left:left + c], *flips), hr):
                    return np.array_equal(augment(full_lr[top // s:(top + c) // s, left // s:(left + c) // s],
                                                  *flips), lr)
    return False


def test_samples_shapes_ranges_and_exact_lr(tree, cache_dir):
    ds = TrainDataset(tree, crop_size=96, scale=4, cache_dir=cache_dir, seed=3, length=20, progress=False)
    assert ds.num_images == 4 and len(ds) == 20
    assert sorted(p.name for p in ds.files) == ["w.tif", "x.png", "y.bmp", "z.jpg"]
    for i in (0, 5, 19):
        lr, hr = ds[i]
        assert lr.shape == (3, 24, 24) and hr.shape == (3, 96, 96)
        assert lr.dtype == hr.dtype == torch.float32
        assert 0 <= float(hr.min()) and float(hr.max()) <= 1 and 0 <= float(lr.min()) and float(lr.max()) <= 1
        lr8, hr8 = ds.sample(i)
        np.testing.assert_array_equal(torch.round(hr * 255).to(torch.uint8).permute(1, 2, 0).numpy(), hr8)
        np.testing.assert_array_equal(torch.round(lr * 255).to(torch.uint8).permute(1, 2, 0).numpy(), lr8)
    with pytest.raises(IndexError):
        ds[20]


@pytest.mark.parametrize("cache", [True, False])
def test_lr_patch_is_the_crop_of_the_whole_image_downscale(tmp_path, cache_dir, cache):
    """Issue 10: a crop downscaled on its own differed from the benchmark-style LR in its outer 2-px ring."""
    image = _rgb(131, 117)  # not multiples of 4: the pool is mod-cropped first, as a benchmark HR
    _save(tmp_path / "d" / "one.png", image)
    ds = TrainDataset([tmp_path / "d"], cache=cache, cache_dir=cache_dir, seed=5, length=24, progress=False)
    for i in range(24):
        lr, hr = ds.sample(i)
        assert _aligned_pair_of(lr, hr, image, 4), i
        # what the old per-crop downscale gave: off by several levels on the ring
        assert np.abs(degrade_uint8(hr, 4).astype(int) - lr).max() >= 2


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_lr_crop_equals_the_whole_image_downscale_everywhere(scale):
    image = mod_crop(_rgb(77, 64), scale)
    full = degrade_uint8(image, scale)
    c = 8 * scale
    for top in range(0, image.shape[0] - c + 1, scale):
        for left in range(0, image.shape[1] - c + 1, scale):
            np.testing.assert_array_equal(lr_crop(image, top, left, c, scale),
                                          full[top // scale:(top + c) // scale, left // scale:(left + c) // scale])


def test_crop_is_dihedral_transform_of_the_whole_image(tmp_path, cache_dir):
    img = _rgb(96, 96)
    _save(tmp_path / "d" / "one.png", img)
    ds = TrainDataset([tmp_path / "d"], cache_dir=cache_dir, length=64, progress=False)
    seen = set()
    for i in range(len(ds)):
        _, hr = ds.sample(i)
        assert _is_dihedral_of(hr, img)
        seen.add(hr.tobytes())
    assert len(seen) == 8  # every symmetry is drawn


def test_reproducible_cache_equals_no_cache_and_workers(tree, cache_dir):
    kw = dict(crop_size=48, scale=4, seed=7, length=16, progress=False)
    cached = TrainDataset(tree, cache_dir=cache_dir, **kw)
    plain = TrainDataset(tree, cache=False, **kw)
    entries = list((cache_dir / f"decoded-v{CACHE_VERSION}").glob("*.npy"))
    assert plain.cache is None and len(entries) == 8  # HR + LR each
    for i in range(16):
        for x, y in zip(cached.sample(i), plain.sample(i)):
            np.testing.assert_array_equal(x, y)
    again = TrainDataset(tree, cache_dir=cache_dir, **kw)  # from the existing cache
    np.testing.assert_array_equal(again[3][1], cached[3][1])
    other = TrainDataset(tree, cache_dir=cache_dir, **{**kw, "seed": 8})
    assert not torch.equal(other[3][1], cached[3][1])
    cached.set_epoch(1)
    assert not np.array_equal(cached.sample(3)[1], plain.sample(3)[1])
    cached.set_epoch(0)
    # same batches with 0 and 2 DataLoader workers (seeded shuffling, per-sample generators)
    b0 = [b[1] for b in train_loader(cached, 4, num_workers=0)]
    b2 = [b[1] for b in train_loader(cached, 4, num_workers=2)]
    assert len(b0) == len(b2) == 4 and all(torch.equal(x, y) for x, y in zip(b0, b2))


def test_grayscale_rgba_and_16bit_sources(tmp_path, cache_dir):
    gray = RNG.integers(0, 256, size=(96, 96), dtype=np.uint8)
    rgba = np.dstack([_rgb(96, 96), RNG.integers(0, 256, size=(96, 96), dtype=np.uint8)])
    g16 = RNG.integers(0, 65536, size=(96, 96)).astype(np.uint16)
    _save(tmp_path / "g" / "gray.png", gray)
    _save(tmp_path / "r" / "rgba.png", rgba)
    (tmp_path / "s").mkdir()
    Image.fromarray(g16).save(tmp_path / "s" / "g16.png")  # mode I;16
    for folder, expected in (("g", np.repeat(gray[..., None], 3, 2)),
                             ("r", rgba[..., :3]),  # alpha dropped, colour kept as stored
                             ("s", np.repeat(np.rint(g16 / 65535 * 255).astype(np.uint8)[..., None], 3, 2))):
        for cache in (True, False):
            ds = TrainDataset([tmp_path / folder], cache=cache, cache_dir=cache_dir, length=4, progress=False)
            for i in range(4):
                lr, hr = ds.sample(i)
                assert hr.shape == (96, 96, 3) and lr.shape == (24, 24, 3)
                assert _is_dihedral_of(hr, expected), (folder, cache)


# ------------------------------------------------------------------ bad input


def test_small_images_skipped_and_counted_once(tmp_path, cache_dir, caplog):
    _save(tmp_path / "d" / "big.png", _rgb(100, 100))
    _save(tmp_path / "d" / "tiny.png", _rgb(40, 200))
    _save(tmp_path / "d" / "tiny2.bmp", _rgb(95, 95))
    for cache in (True, False):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="srgan.data"):
            ds = TrainDataset([tmp_path / "d"], cache=cache, cache_dir=cache_dir, length=10, progress=False)
            for i in range(10):
                ds[i]
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 1, lines
        assert "2 image(s) smaller than the 96-px crop" in lines[0]
        assert "tiny.png" in lines[0] and "tiny2.bmp" in lines[0]
        assert ds.num_images == 1 and len(ds.skipped_small) == 2


def test_corrupt_files_reported_once_and_skipped(tmp_path, cache_dir, caplog):
    d = tmp_path / "d"
    _save(d / "good.png", _rgb(100, 100))
    data = (_save(d / "trunc.png", _rgb(120, 120))).read_bytes()
    (d / "trunc.png").write_bytes(data[: len(data) // 2])  # valid header, truncated pixels
    (d / "junk.jpg").write_bytes(b"this is not an image at all")
    (d / "empty.webp").write_bytes(b"")
    for cache in (True, False):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="srgan.data"):
            ds = TrainDataset([d], cache=cache, cache_dir=cache_dir, length=12, progress=False)
            for _ in range(2):
                for i in range(12):
                    lr, hr = ds[i]
                    assert hr.shape == (3, 96, 96)
        lines = [r.getMessage() for r in caplog.records]
        for name in ("trunc.png", "junk.jpg", "empty.webp"):
            assert sum(name in line for line in lines) == 1, (cache, name, lines)
        assert all("\n" not in line for line in lines)
        assert len(lines) == 3


def test_mixed_formats_gray_and_small_never_crash(tmp_path, cache_dir, caplog):
    """Issue 10 / MANIFEST §7: JPEG (any case), TIFF, grayscale, CMYK, palette and 16-bit files all load; images
    under the crop and broken files are skipped with one line each; sampling never raises."""
    d = tmp_path / "pool"
    rgb, gray = _rgb(120, 130), RNG.integers(0, 256, size=(104, 100), dtype=np.uint8)
    d.mkdir()
    Image.fromarray(rgb).save(d / "n01_photo.JPEG", quality=90)
    Image.fromarray(gray).save(d / "n02_gray.jpg", quality=90)                      # ImageNet's mode L
    Image.fromarray(rgb).save(d / "lzw.tiff", compression="tiff_lzw")
    Image.fromarray((gray.astype(np.uint16) * 257)).save(d / "gray16.tif")          # I;16
    Image.fromarray(rgb).convert("CMYK").save(d / "cmyk.jpg")
    Image.fromarray(rgb).convert("P").save(d / "palette.png")
    Image.fromarray(rgb[:56, :75]).save(d / "n03_tusker.JPEG")                      # 75x56, under the crop
    Image.fromarray(gray[:95, :95]).save(d / "n04_bearskin.jpg")                    # 95x95, one px short
    data = (d / "n01_photo.JPEG").read_bytes()
    (d / "truncated.jpg").write_bytes(data[: len(data) // 2])
    for cache in (True, False):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="srgan.data"):
            ds = TrainDataset([d], cache=cache, cache_dir=cache_dir, length=24, progress=False)
            pairs = [ds.sample(i) for i in range(24)]
            batches = list(train_loader(ds, 4))
        assert sorted(p.name for p in ds.files) == ["cmyk.jpg", "gray16.tif", "lzw.tiff", "n01_photo.JPEG",
                                                     "n02_gray.jpg", "palette.png"] + (["truncated.jpg"] * (not cache))
        lines = [r.getMessage() for r in caplog.records]
        assert sum("2 image(s) smaller than the 96-px crop" in line for line in lines) == 1
        assert sum("truncated.jpg" in line for line in lines) == 1 and len(lines) == 2, lines
        assert len(batches) == 6 and all(b[0].shape == (4, 3, 24, 24) and b[1].shape == (4, 3, 96, 96) for b in batches)
        for i, (lr, hr) in enumerate(pairs):
            path = ds.files[i % ds.num_images]
            if path.name in ("n02_gray.jpg", "gray16.tif"):  # grayscale -> R = G = B, in HR and LR alike
                assert (hr[..., 0] == hr[..., 2]).all() and (lr[..., 0] == lr[..., 2]).all()
            if path.name == "gray16.tif":
                assert _aligned_pair_of(lr, hr, np.repeat(mod_crop(gray, 4)[..., None], 3, 2), 4)


def test_empty_and_unusable_roots_raise_clear_errors(tmp_path, cache_dir):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no usable training images in .*empty"):
        TrainDataset([tmp_path / "empty"], cache_dir=cache_dir, progress=False)
    _save(tmp_path / "small" / "s.png", _rgb(20, 20))
    with pytest.raises(ValueError, match="1 smaller than the 96-px crop"):
        TrainDataset([tmp_path / "small"], cache_dir=cache_dir, progress=False)
    with pytest.raises(ValueError, match="nope"):
        TrainDataset([tmp_path / "nope"], cache_dir=cache_dir, progress=False)
    with pytest.raises(ValueError, match="multiple of scale"):
        TrainDataset([tmp_path / "small"], crop_size=90, scale=4, cache_dir=cache_dir)


def test_unwritable_cache_dir_falls_back(tmp_path, caplog):
    _save(tmp_path / "d" / "a.png", _rgb(100, 100))
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")  # fails for root too, unlike chmod
    with caplog.at_level(logging.WARNING, logger="srgan.data"):
        ds = TrainDataset([tmp_path / "d"], cache_dir=blocker / "sub", progress=False)
    assert ds.cache is None and ds[0][1].shape == (3, 96, 96)
    assert [r.getMessage() for r in caplog.records if "not writable" in r.getMessage()]


def test_default_cache_dir_is_not_next_to_the_data(tmp_path, monkeypatch):
    from srgan.datasets import cache_root, default_cache_dir

    monkeypatch.setenv("SRGAN_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    assert cache_root() == tmp_path / "c" / "data"  # downloaded data went to ~/.cache whatever this said
    monkeypatch.delenv("SRGAN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "srgan" and cache_root() == tmp_path / "x" / "srgan" / "data"
    monkeypatch.setenv("XDG_CACHE_HOME", "~/xdg")  # expanded (the data cache took it as a folder named ~)
    assert cache_root() == Path.home() / "xdg" / "srgan" / "data"


def test_linked_folders_are_followed_and_each_file_taken_once(tmp_path, cache_dir):
    """A pool of links to datasets: a linked subfolder was skipped without a word (os.walk does not follow), while
    a folder named twice, or a file reached by two names, was trained on twice."""
    real = tmp_path / "real"
    for name in ("x", "y"):
        _save(real / f"{name}.png", _rgb(40, 40))
    pool = tmp_path / "pool"
    pool.mkdir()
    (pool / "linked").symlink_to(real)
    (pool / "loop").symlink_to(pool)  # a link back up: followed, it would never end
    (real / "sub").mkdir()
    (real / "sub" / "back").symlink_to(pool)  # a loop of two links: pool/linked/sub/back is pool again
    (pool / "up").symlink_to(tmp_path)  # a link above the folder named: the folders around it are not its images
    _save(tmp_path / "elsewhere" / "not_mine.png", _rgb(40, 40))
    (pool / "z.png").hardlink_to(real / "x.png")
    data = TrainDataset([pool, real], crop_size=16, cache=False, progress=False)
    assert [p.relative_to(tmp_path).as_posix() for p in data.files] == ["pool/linked/x.png", "pool/linked/y.png"]


def test_lr_folders_are_not_training_targets(tmp_path, cache_dir, caplog):
    """A benchmark-style folder's LR_bicubic_x4 images were trained on as HR patches."""
    for name in ("a", "b"):
        _save(tmp_path / "Set" / "HR" / f"{name}.png", _rgb(64, 64))
        _save(tmp_path / "Set" / "LR_bicubic_x4" / f"{name}.png", _rgb(16, 16))
    _save(tmp_path / "Set" / "LRbicx4" / "c.png", _rgb(16, 16))  # BasicSR's name
    _save(tmp_path / "Set" / "DIV2K_train_LR_bicubic" / "X4" / "d.png", _rgb(16, 16))
    _save(tmp_path / "Set" / "2019 LR exports" / "e.png", _rgb(64, 64))  # Lightroom's LR: HR photos
    with caplog.at_level(logging.WARNING, logger="srgan"):
        data = TrainDataset([tmp_path / "Set"], crop_size=16, cache=False, progress=False)
    assert [p.relative_to(tmp_path).as_posix() for p in data.files] == ["Set/2019 LR exports/e.png", "Set/HR/a.png",
                                                                          "Set/HR/b.png"]
    assert (f"left out 4 image(s) in low-resolution folders ({tmp_path / 'Set' / 'DIV2K_train_LR_bicubic' / 'X4'} "
            "and 2 more; LR, LR_*, LRbicx4, ...): inputs, not training targets; rename a folder to train on it"
            in caplog.text)
    # every image in such a folder: the error counted them nowhere ("0 image file(s) found")
    _save(tmp_path / "exports" / "lr-export" / "f.png", _rgb(64, 64))
    with pytest.raises(ValueError, match=r": 0 image file\(s\) found, .* 0 unreadable, 1 in low-resolution folders "
                                         r"\(left out\)$"):
        TrainDataset([tmp_path / "exports"], crop_size=16, cache=False, progress=False)


def test_an_unreadable_training_folder_is_named(tmp_path, cache_dir, caplog, monkeypatch):
    """A subfolder that cannot be read was left out of training without a word. (Simulated: root reads all.)"""
    _save(tmp_path / "pool" / "a.png", _rgb(32, 32))
    _save(tmp_path / "pool" / "locked" / "b.png", _rgb(32, 32))
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == os.fspath(tmp_path / "pool" / "locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with caplog.at_level(logging.WARNING, logger="srgan"):
        data = TrainDataset([tmp_path / "pool"], crop_size=16, cache=False, progress=False)
    assert data.files == [tmp_path / "pool" / "a.png"]
    assert (f"{tmp_path / 'pool' / 'locked'}: cannot read this folder (Permission denied); its images are left out"
            in caplog.text)


def test_files_in_formats_not_scanned_for_are_named(tmp_path, cache_dir, caplog):
    """A GIF (or HEIC) in the pool was passed over without a word."""
    _save(tmp_path / "pool" / "a.png", _rgb(32, 32))
    _save(tmp_path / "pool" / "sub" / "b.gif", _rgb(32, 32))
    (tmp_path / "pool" / "c.heic").write_bytes(b"not decoded")
    (tmp_path / "pool" / "notes.txt").write_text("not an image: not named")
    with caplog.at_level(logging.WARNING, logger="srgan"):
        data = TrainDataset([tmp_path / "pool"], crop_size=16, cache=False, progress=False)
    assert [p.name for p in data.files] == ["a.png"]
    assert (f"left out 2 file(s) in formats that folders are not scanned for: {tmp_path / 'pool' / 'c.heic'} and 1 "
            f"more; convert them to .png to use them (scanned: .png, .jpg,") in caplog.text  # HEIC: no plugin here


def test_a_val_data_folder_of_links_into_the_pool_holds_them_out(tmp_path):
    """hold_out_rule compared paths: a val_data folder of symbolic or hard links to pool images held nothing out,
    and validation scored images the model trained on."""
    from srgan.validation import hold_out_rule

    pool = [_save(tmp_path / "pool" / f"p{i}.png", _rgb(24, 24)) for i in range(3)]
    (tmp_path / "val").mkdir()
    (tmp_path / "val" / "s.png").symlink_to(pool[0])
    (tmp_path / "val" / "h.png").hardlink_to(pool[1])
    rule = hold_out_rule(str(tmp_path / "val"))
    assert [rule(p) for p in pool] == [True, True, False]


def test_a_replaced_image_with_the_same_size_and_mtime_is_decoded_again(tmp_path, cache_dir):
    """The cache key was path, mtime and size: a BMP (its size follows from its dimensions) replaced by another
    with its mtime kept (cp -p, tar, unzip) was served from the old entry."""
    path = _save(tmp_path / "img" / "a.bmp", np.zeros((32, 32, 3), np.uint8))
    before = path.stat()
    first = TrainDataset([tmp_path / "img"], crop_size=16, cache_dir=cache_dir, progress=False)
    assert first.sample(0)[1].max() == 0
    _save(path, np.full((32, 32, 3), 255, np.uint8))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    again = TrainDataset([tmp_path / "img"], crop_size=16, cache_dir=cache_dir, progress=False)
    assert again.sample(0)[1].min() == 255
