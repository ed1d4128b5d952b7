"""srgan upscale on a folder (srgan.pipeline): same-size small images batched, outcomes in input order, the same
pixels as one file at a time; the PNG level changes bytes, never pixels."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from srgan.checkpoint import save_generator
from srgan.cli import main
from srgan.models import Generator
from srgan.engines import prepare
from srgan.upscaling import upscale_file


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    return save_generator(Generator(num_blocks=1, channels=8).eval(), tmp_path_factory.mktemp("w") / "g.safetensors")


def _folder(root):
    """20 8x8 RGB, then a 9x8, an 8x8 gray, an 8x8 RGBA, a broken file and a 70x50 photo; names sort in this order."""
    rng = np.random.default_rng(0)
    root.mkdir()
    names = []
    for i in range(20):
        names.append(f"a{i:02d}.png")
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / names[-1])
    for name, shape, mode in [("b.png", (9, 8, 3), "RGB"), ("c.png", (8, 8), "L"), ("d.png", (8, 8, 4), "RGBA"),
                              ("f.png", (50, 70, 3), "RGB")]:
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(root / name)
        names.append(name)
    (root / "e.png").write_bytes(b"not a png")
    return sorted(names + ["e.png"])


def test_folder_is_batched_in_order_and_matches_one_file_at_a_time(weights, tmp_path, monkeypatch, capsys):
    names = _folder(tmp_path / "in")
    engine = prepare(str(weights), "cpu", "fp32")
    batches = []
    features = engine.features
    monkeypatch.setattr(engine, "features", lambda x: batches.append(x.shape[0]) or features(x))
    monkeypatch.setattr("srgan.engines.prepare", lambda *a, **k: engine)
    code = main(["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model", str(weights)])
    err = capsys.readouterr().err
    assert code == 1 and "e.png" in err and "24 image(s) written, 1 failed" in err
    # The twenty 8x8 RGB images went through the network as one batch; the others one by one.
    assert batches[0] == 20 and sorted(batches[1:]) == [1, 1, 1, 1]
    for name in names:
        if name == "e.png":
            continue
        ref = upscale_file(engine, tmp_path / "in" / name, tmp_path / "ref" / name)
        with Image.open(tmp_path / "out" / name) as got, Image.open(ref) as want:
            assert got.mode == want.mode and got.size == want.size, name
            diff = np.abs(np.asarray(got, np.int16) - np.asarray(want, np.int16)).max()
            assert diff <= 1, (name, diff)  # batch vs single: float summation order at most


def test_outcomes_come_back_in_input_order(weights, tmp_path):
    from srgan.pipeline import upscale_files, write_output

    names = _folder(tmp_path / "in")
    engine = prepare(str(weights), "cpu", "fp32")
    pairs = [(tmp_path / "in" / n, tmp_path / "out" / n) for n in names]
    outcomes = list(upscale_files(engine, pairs, lambda img, y, a, dest, **kw: write_output(img, y, a, dest, scale=4, **kw),
                                  tile="auto", max_pixels=None, progress=lambda *a: _no_bar()))
    assert [(s, d) for s, d, _p in outcomes] == pairs
    assert [s.name for s, _d, p in outcomes if p] == ["e.png"]


def _no_bar():
    from contextlib import nullcontext

    return nullcontext()


def test_png_level_changes_size_not_pixels(weights, tmp_path):
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(tmp_path / "p.png")
    sizes, pixels = {}, {}
    for level in (0, 9):
        dest = tmp_path / f"{level}.png"
        assert main(["upscale", str(tmp_path / "p.png"), "-o", str(dest), "--model", str(weights), "--png-level",
                     str(level), "--quiet"]) == 0
        sizes[level] = dest.stat().st_size
        pixels[level] = np.asarray(Image.open(dest))
    assert sizes[0] > sizes[9] and np.array_equal(pixels[0], pixels[9])


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("level", [0, 1, 6])
def test_png_levels_write_the_same_pixels(tmp_path, channels, level):
    """Levels 0-1 go through srgan's own encoder, 2-9 through Pillow's: same pixels and ICC profile either way."""
    from PIL import ImageCms

    from srgan.imagewrite import write_image

    rng = np.random.default_rng(channels)
    rgb = rng.integers(0, 256, (13, 21, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (13, 21), dtype=np.uint8) if channels in (2, 4) else None
    gray = channels < 3
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    dest = write_image(tmp_path / "x.png", rgb, alpha=alpha, grayscale=gray, icc_profile=None if gray else icc,
                       png_level=level)
    ref = write_image(tmp_path / "ref.png", rgb, alpha=alpha, grayscale=gray, png_level=9)
    with Image.open(dest) as got, Image.open(ref) as want:
        assert got.mode == want.mode == {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
        assert np.array_equal(np.asarray(got), np.asarray(want))
        assert got.info.get("icc_profile") == (None if gray else icc)


@pytest.mark.filterwarnings("ignore:tile=\\d+ recomputes")  # small tiles on purpose: several per image
def test_a_large_image_is_encoded_while_its_later_tiles_run(weights, tmp_path, monkeypatch):
    """One 8-bit RGB image in rows of tiles: the PNG writer reads its first rows before the model has finished the
    last row of tiles, and the file is the one written after the model (same bytes)."""
    import srgan.imagewrite as imagewrite
    from srgan.pipeline import upscale_files, write_output

    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (90, 60, 3), dtype=np.uint8)).save(tmp_path / "big.png")
    engine = prepare(str(weights), "cpu", "fp32")
    events = []
    reconstruct = engine.reconstruct  # the HR half, run window by window (the features half may batch them)
    monkeypatch.setattr(engine, "reconstruct", lambda f: events.append("tile") or reconstruct(f))
    write_png = imagewrite._write_png

    def spy(f, planes, icc, level, rows_ready=None):
        def ready(y):
            rows_ready(y)
            events.append(("rows", y))
        return write_png(f, planes, icc, level, ready if rows_ready else None)

    monkeypatch.setattr(imagewrite, "_write_png", spy)
    monkeypatch.setattr(imagewrite, "PNG_BLOCK_BYTES", 240 * 3 * 8)  # 8 of the 360 output rows at a time

    def write(img, y, a, dest, **kw):
        return write_output(img, y, a, dest, scale=4, png_level=1, **kw)

    outcomes = list(upscale_files(engine, [(tmp_path / "big.png", tmp_path / "out.png")], write, tile=20,
                                  max_pixels=None, progress=lambda *a: _no_bar()))
    assert outcomes == [(tmp_path / "big.png", tmp_path / "out.png", None)]
    tiles = [i for i, e in enumerate(events) if e == "tile"]
    first_rows = next(i for i, e in enumerate(events) if e != "tile")
    assert len(tiles) >= 15 and first_rows < tiles[-1]  # 5 rows x 3 columns of 20-px tiles; encoding began early
    ref = upscale_file(engine, tmp_path / "big.png", tmp_path / "ref.png", tile=20, png_level=1)
    assert (tmp_path / "out.png").read_bytes() == ref.read_bytes()


@pytest.mark.parametrize("error", [
    MemoryError(),
    RuntimeError("[enforce fail at alloc_cpu.cpp:127] data. DefaultCPUAllocator: can't allocate memory: you tried "
                 "to allocate 4915200000 bytes. Error code 12 (Cannot allocate memory)"),  # was fatal for the folder
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
], ids=["MemoryError", "cpu-allocator", "cuda"])
def test_a_model_failure_mid_image_leaves_no_partial_file(weights, tmp_path, error):
    from srgan.pipeline import upscale_files, write_output

    rng = np.random.default_rng(2)
    Image.fromarray(rng.integers(0, 256, (60, 60, 3), dtype=np.uint8)).save(tmp_path / "big.png")
    engine = prepare(str(weights), "cpu", "fp32")
    calls = []
    reconstruct = engine.reconstruct

    def failing(f):
        calls.append(1)
        if len(calls) == 5:  # the second row of 20-px tiles: the writer has begun the file
            raise error
        return reconstruct(f)

    engine.reconstruct = failing
    outcomes = list(upscale_files(engine, [(tmp_path / "big.png", tmp_path / "out" / "big.png")],
                                  lambda img, y, a, dest, **kw: write_output(img, y, a, dest, scale=4, **kw),
                                  tile=20, max_pixels=None, progress=lambda *a: _no_bar()))
    assert outcomes == [(tmp_path / "big.png", tmp_path / "out" / "big.png",
                         f"{tmp_path / 'big.png'}: out of memory (a 240x240 output; a smaller --tile lowers only the "
                         "model's share of it)")]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_an_output_too_large_for_memory_costs_that_file_only(weights, tmp_path, capsys, monkeypatch):
    """The 8-bit output array is allocated before the model runs; a MemoryError there (a 10000x10000 JPEG under a
    memory limit) ended the whole folder with an error naming no file, the other images never upscaled."""
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (60, 70, 3), dtype=np.uint8)).save(tmp_path / "a_huge.png")
    Image.fromarray(rng.integers(0, 256, (8, 9, 3), dtype=np.uint8)).save(tmp_path / "b_small.png")
    real_empty = np.empty

    def empty(shape, *args, **kwargs):
        if shape[:2] == (240, 280):  # a_huge's x4 output
            raise MemoryError("Unable to allocate 4.47 GiB for an array with shape (40000, 40000, 3)")
        return real_empty(shape, *args, **kwargs)

    monkeypatch.setattr(np, "empty", empty)
    code = main(["upscale", str(tmp_path / "a_huge.png"), str(tmp_path / "b_small.png"), "-o", str(tmp_path / "o"),
                 "--model", str(weights), "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and f"srgan: {tmp_path / 'a_huge.png'}: out of memory (a 280x240 output;" in err
    assert "1 image(s) written, 1 failed" in err and sorted(os.listdir(tmp_path / "o")) == ["b_small.png"]
