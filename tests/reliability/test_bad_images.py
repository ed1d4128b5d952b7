"""Catalogue: odd and broken input images through ``srgan upscale`` (and one through ``srgan eval``).

A bad file costs that file only: one ``srgan: <file>: <problem>`` line, exit 1, every other image written.
An odd but valid file (1x1, CMYK, palette, LA, 16-bit, RGBA, EXIF-rotated) is upscaled, keeping what it has.
"""
from __future__ import annotations

import builtins
import errno
import os

import numpy as np
import pytest
from PIL import Image

from srgan import images, imagewrite
from support import rgb, save, snapshot, upscale_args


def _with_good_neighbour(folder):
    """Every bad-file case sits next to a good image, which must still be written."""
    return save(folder / "good.png", rgb(6, 5, seed=1))


def _assert_good_written(out):
    with Image.open(out / "good.png") as im:
        assert im.size == (20, 24) and im.mode == "RGB"


def _bad_file_case(cli, weights, tmp_path, name, data, problem):
    src = tmp_path / "in"
    _with_good_neighbour(src)
    (src / name).write_bytes(data)
    before = snapshot(src)
    result = cli(*upscale_args(src, tmp_path / "out", weights))
    assert result.code == 1
    line = result.error_line(name, problem)
    assert "1 image(s) written, 1 failed" in result.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.png"]  # no output, no temp file
    _assert_good_written(tmp_path / "out")
    assert snapshot(src) == before  # inputs are never touched
    return line


def _png_bytes(tmp_path, h=24, w=20):
    return save(tmp_path / "src.png", rgb(h, w, seed=2)).read_bytes()


def test_truncated_png(cli, weights, tmp_path):
    data = _png_bytes(tmp_path)
    _bad_file_case(cli, weights, tmp_path, "cut.png", data[: len(data) // 2], "truncated or corrupt image")


def test_truncated_jpeg(cli, weights, tmp_path):
    data = save(tmp_path / "src.jpg", rgb(64, 64, seed=2), quality=90).read_bytes()
    _bad_file_case(cli, weights, tmp_path, "cut.jpg", data[: len(data) // 2], "truncated or corrupt image")


def test_zero_byte_file(cli, weights, tmp_path):
    _bad_file_case(cli, weights, tmp_path, "empty.png", b"", "empty file (0 bytes)")


def test_text_file_named_png(cli, weights, tmp_path):
    _bad_file_case(cli, weights, tmp_path, "notes.png", b"meeting notes, not a picture\n",
                   "not an image file")


def test_decompression_bomb_is_refused(cli, weights, tmp_path):
    src = tmp_path / "in"
    _with_good_neighbour(src)  # 30 pixels: under the limit
    save(src / "bomb.png", np.zeros((100, 100, 3), np.uint8))  # 10000 pixels: "a bomb" for --max-pixels 1000
    result = cli(*upscale_args(src, tmp_path / "out", weights, "--max-pixels", "1000"))
    assert result.code == 1
    result.error_line("bomb.png", "100x100 = 10000 pixels exceeds the limit of 1000", "decompression bomb",
                      "upscale and serve take a larger --max-pixels")  # it said "raise max_pixels", the API's name
    assert not (tmp_path / "out" / "bomb.png").exists()
    _assert_good_written(tmp_path / "out")


def test_one_pixel_image(cli, weights, tmp_path):
    src = save(tmp_path / "dot.png", np.array([[[200, 10, 30]]], np.uint8))
    result = cli(*upscale_args(src, tmp_path / "out", weights))
    assert result.code == 0 and result.err == ""
    with Image.open(tmp_path / "out" / "dot.png") as im:
        assert im.size == (4, 4) and im.mode == "RGB"


@pytest.mark.parametrize("name, mode, out_mode, alpha", [
    ("cmyk.jpg", "CMYK", "RGB", False),
    ("palette.png", "P", "RGB", False),
    ("la.png", "LA", "LA", True),
    ("rgba.png", "RGBA", "RGBA", True),
])
def test_colour_modes(cli, weights, tmp_path, name, mode, out_mode, alpha):
    """CMYK JPEG and palette PNG become RGB; LA and RGBA keep their alpha, upscaled, never dropped."""
    base = Image.fromarray(rgb(6, 5, seed=3)).convert(mode)
    if alpha:  # left half opaque, right half transparent
        a = np.zeros((6, 5), np.uint8)
        a[:, :2] = 255
        base.putalpha(Image.fromarray(a))
    src = tmp_path / name
    base.save(src)
    with Image.open(src) as im:
        assert im.mode == mode
    result = cli(*upscale_args(src, tmp_path / "out", weights))
    assert result.code == 0, result.err
    with Image.open(tmp_path / "out" / (src.stem + ".png")) as im:
        assert im.size == (20, 24) and im.mode == out_mode
        if alpha:
            a = np.asarray(im)[..., -1]
            assert a[:, :6].min() == 255 and a[:, -4:].max() == 0  # opaque stays opaque, clear stays clear


def test_16bit_grayscale_png_gives_16bit_output(cli, weights, tmp_path):
    gray = (np.arange(30, dtype=np.uint16).reshape(6, 5) * 2000 + 7)
    src = tmp_path / "gray16.png"
    Image.fromarray(gray).save(src)
    assert images.read_image(src).bit_depth == 16
    result = cli(*upscale_args(src, tmp_path / "out", weights))
    assert result.code == 0, result.err
    out = images.read_image(tmp_path / "out" / "gray16.png")
    assert out.bit_depth == 16 and out.grayscale and out.size == (20, 24)
    with Image.open(tmp_path / "out" / "gray16.png") as im:
        assert im.mode.startswith("I;16")


def test_16bit_rgb_png_gives_16bit_output(cli, weights, tmp_path):
    src = tmp_path / "rgb16.png"
    values = np.random.default_rng(4).integers(0, 65536, (6, 5, 3)).astype(np.float32) / 65535
    imagewrite.write_image(src, values, bit_depth=16)
    assert images.read_image(src).bit_depth == 16
    result = cli(*upscale_args(src, tmp_path / "out", weights))
    assert result.code == 0, result.err
    out = images.read_image(tmp_path / "out" / "rgb16.png")
    assert out.bit_depth == 16 and not out.grayscale and out.size == (20, 24)
    assert (tmp_path / "out" / "rgb16.png").read_bytes()[24:26] == bytes([16, 2])  # IHDR: 16 bits, truecolour
    # really 16 bits: values a 8-bit file could not hold
    assert np.any(np.abs(out.rgb * 255 - np.rint(out.rgb * 255)) > 1e-3)


def test_exif_rotated_jpeg_is_upscaled_upright(cli, weights, tmp_path):
    stored = rgb(6, 10, seed=5)  # stored 10 wide, 6 high; orientation 6 = display rotated 90 degrees
    exif = Image.Exif()
    exif[0x0112] = 6
    src = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(src, exif=exif, quality=95)
    result = cli(*upscale_args(src, tmp_path / "out", weights))
    assert result.code == 0, result.err
    with Image.open(tmp_path / "out" / "phone.png") as im:
        assert im.size == (24, 40)  # upright: 6 wide, 10 high, x4
        assert 0x0112 not in im.getexif()  # no orientation left to apply twice


def test_unreadable_file_permission_denied(cli, weights, tmp_path, monkeypatch):
    """Tests run as root, which reads any file: the refusal is simulated where srgan.images opens files."""
    src = tmp_path / "in"
    _with_good_neighbour(src)
    secret = save(src / "secret.png", rgb(6, 5, seed=6))
    if os.geteuid() != 0:
        secret.chmod(0)
    else:
        def guarded_open(path, *args, **kwargs):
            if os.fspath(path) == os.fspath(secret):
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
            return builtins.open(path, *args, **kwargs)

        monkeypatch.setattr(images, "open", guarded_open, raising=False)
    result = cli(*upscale_args(src, tmp_path / "out", weights))
    assert result.code == 1
    result.error_line("secret.png", "permission denied")
    assert not (tmp_path / "out" / "secret.png").exists()
    _assert_good_written(tmp_path / "out")


def test_directory_named_like_an_image(cli, weights, tmp_path):
    """A folder called ``holiday.png`` inside an input folder is not an image: passed over, others written.
    Named on its own, it is searched as a folder; empty, nothing is there to do."""
    src = tmp_path / "in"
    _with_good_neighbour(src)
    (src / "holiday.png").mkdir()
    result = cli(*upscale_args(src, tmp_path / "out", weights))
    assert result.code == 0 and result.err == ""
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.png"]
    result = cli(*upscale_args(src / "holiday.png", tmp_path / "out2", weights))
    assert result.code == 1 and result.err == f"srgan: no input images found in {src / 'holiday.png'}\n"
    # read directly (as training and eval do), it is a one-line error, not an IsADirectoryError traceback
    with pytest.raises(images.ImageError, match="holiday.png: is a folder, not an image file"):
        images.read_image(src / "holiday.png")


def test_non_ascii_and_space_file_names(cli, weights, tmp_path):
    src = tmp_path / "Fotos 2024"
    names = ["Grüße aus Köln.png", "日本 語.jpg", "a  b.png"]
    for i, name in enumerate(names):
        save(src / name, rgb(6, 5, seed=i), quality=95)
    data = _png_bytes(tmp_path)
    (src / "kaputt ü.png").write_bytes(data[: len(data) // 2])
    result = cli(*upscale_args(src, tmp_path / "Ausgabe ä", weights))
    assert result.code == 1
    result.error_line(os.fspath(src / "kaputt ü.png"), "truncated or corrupt image")
    for name in names:
        with Image.open(tmp_path / "Ausgabe ä" / (os.path.splitext(name)[0] + ".png")) as im:
            assert im.size == (20, 24)


def test_missing_input_among_others(cli, weights, tmp_path):
    src = tmp_path / "in"
    good = _with_good_neighbour(src)
    result = cli(*upscale_args([good, tmp_path / "gone.png"], tmp_path / "out", weights))
    assert result.code == 1
    result.error_line("gone.png", "no such file or folder")
    _assert_good_written(tmp_path / "out")


def test_eval_reports_a_corrupt_benchmark_image(cli, weights, tmp_path):
    """eval scores a whole set or nothing: a corrupt HR image stops it with one line naming the file."""
    hr = tmp_path / "Set" / "HR"
    save(hr / "a.png", rgb(32, 32, seed=7))
    data = _png_bytes(tmp_path, 32, 32)
    (hr / "b.png").write_bytes(data[: len(data) // 2])
    report = tmp_path / "report.json"
    result = cli("eval", "--model", weights, "--data", tmp_path / "Set", "--device", "cpu", "--json", report)
    assert result.code == 1
    line = result.error_line("b.png", "truncated or corrupt image")
    assert result.err.splitlines() == ["srgan: eval Set: 2 image(s)", line]  # the set it was scoring, then the error
    assert not report.exists()


def test_eval_benchmark_image_too_small_to_score(cli, weights, tmp_path):
    """A 16x16 HR image leaves 8x8 after the 4-px border: too small for SSIM's 11x11 window, said by name."""
    save(tmp_path / "Set" / "HR" / "thumb.png", rgb(16, 16, seed=8))
    result = cli("eval", "--model", weights, "--data", tmp_path / "Set", "--device", "cpu")
    line = result.error_line("Set/thumb", "smaller than the 11x11 SSIM window")
    assert result.code == 1 and result.err.splitlines() == ["srgan: eval Set: 1 image(s)", line]


def test_broken_symlink_among_inputs(cli, weights, tmp_path):
    src = tmp_path / "in"
    good = _with_good_neighbour(src)
    (tmp_path / "moved.png").symlink_to(tmp_path / "was here.png")
    result = cli(*upscale_args([good, tmp_path / "moved.png"], tmp_path / "out", weights))
    assert result.code == 1
    result.error_line("moved.png", "broken symbolic link")
    _assert_good_written(tmp_path / "out")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_named_pipe_called_png_does_not_hang(cli, weights, tmp_path):
    """Reading a FIFO would block for ever: it is refused as 'not a regular file' without opening it."""
    src = tmp_path / "in"
    good = _with_good_neighbour(src)
    os.mkfifo(src / "pipe.png")
    result = cli(*upscale_args([good, src / "pipe.png"], tmp_path / "out", weights))
    assert result.code == 1
    result.error_line("pipe.png", "not a regular file")
    _assert_good_written(tmp_path / "out")
    assert not (tmp_path / "out" / "pipe.png").exists()
