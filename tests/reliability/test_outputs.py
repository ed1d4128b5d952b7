"""Catalogue: where results go. Existing files are never replaced without ``--overwrite``; a folder that
cannot be written fails before any work; a write that fails (disk full) leaves no partial file and the old
file intact; the other outputs of the run are still written."""
from __future__ import annotations

import errno
import os

import pytest
from PIL import Image

from srgan import imagewrite
from support import only_error, rgb, save, snapshot, upscale_args



def _two_inputs(folder):
    return save(folder / "a.png", rgb(6, 5, seed=1)), save(folder / "b.png", rgb(6, 5, seed=2))


def _no_temp_files(folder):
    return [p.name for p in folder.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")] == []


def test_existing_output_is_not_overwritten(cli, weights, tmp_path):
    _two_inputs(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"yesterday's result")
    result = cli(*upscale_args(tmp_path / "in", out, weights))
    assert result.code == 1
    result.error_line(os.fspath(out / "a.png"), "already exists", "--overwrite")
    assert (out / "a.png").read_bytes() == b"yesterday's result"
    with Image.open(out / "b.png") as im:  # the other input is still done
        assert im.size == (20, 24)
    result = cli(*upscale_args(tmp_path / "in", out, weights, "--overwrite"))
    assert result.code == 0 and result.err == ""
    with Image.open(out / "a.png") as im:
        assert im.size == (20, 24)


def test_existing_single_output_file_is_not_overwritten(cli, weights, tmp_path):
    a, _ = _two_inputs(tmp_path / "in")
    dest = tmp_path / "result.jpg"
    dest.write_bytes(b"keep me")
    result = cli(*upscale_args(a, dest, weights))
    assert result.code == 1
    result.error_line(os.fspath(dest), "already exists")
    assert dest.read_bytes() == b"keep me"


def test_output_into_the_input_folder_never_replaces_inputs(cli, weights, tmp_path):
    src = tmp_path / "photos"
    _two_inputs(src)
    before = snapshot(src)
    result = cli(*upscale_args(src, src, weights, "--ext", "keep"))
    only_error(result, "is the folder of the input", "--suffix")  # issue 12: same folder needs a --suffix
    result = cli(*upscale_args(src, src, weights, "--ext", "keep", "--overwrite"))
    only_error(result, "--suffix")
    assert snapshot(src) == before


def test_two_inputs_for_one_output_name(cli, weights, tmp_path):
    """photo.jpg and photo.png would both become photo.png: the second is skipped, not written over the first."""
    src = tmp_path / "in"
    save(src / "photo.jpg", rgb(6, 5, seed=1), quality=95)
    save(src / "photo.png", rgb(6, 5, seed=2))
    out = tmp_path / "out"
    result = cli(*upscale_args(src, out, weights))
    assert result.code == 1
    result.error_line("photo.png", "would also be written for", "skipped")
    assert sorted(p.name for p in out.iterdir()) == ["photo.png"]
    result = cli(*upscale_args(src, tmp_path / "kept", weights, "--ext", "keep"))
    assert result.code == 0 and sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["photo.jpg", "photo.png"]
    # IMG_0001.jpg on two memory cards: --ext keep cannot help, and was advised
    save(tmp_path / "card2" / "photo.jpg", rgb(6, 5, seed=3), quality=95)
    result = cli(*upscale_args([src / "photo.jpg", tmp_path / "card2" / "photo.jpg"], tmp_path / "two", weights,
                               "--ext", "keep"))
    assert result.code == 1
    result.error_line(f"{tmp_path / 'card2' / 'photo.jpg'}: output {tmp_path / 'two' / 'photo.jpg'} would also be "
                      f"written for {src / 'photo.jpg'}; skipped (use separate runs)")


def test_an_unreadable_subfolder_is_reported_not_skipped(cli, weights, tmp_path, monkeypatch):
    """A subfolder that cannot be read (chmod 000, another user's) was left out without a word, exit 0; named
    alone it said "no input images found". (Simulated: root reads every folder.)"""
    src = tmp_path / "in"
    save(src / "a.png", rgb(6, 5, seed=1))
    save(src / "locked" / "b.png", rgb(6, 5, seed=2))
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == os.fspath(src / "locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = cli(*upscale_args(src, tmp_path / "out", weights))
    assert result.code == 1
    result.error_line(f"{src / 'locked'}: cannot read this folder (Permission denied); its images are left out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]


def test_output_folder_under_a_regular_file(cli, weights, tmp_path, monkeypatch):
    """Unwritable output (works for root too): the folder would have to be created inside a file."""
    _two_inputs(tmp_path / "in")
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")

    def no_work(*args, **kwargs):
        raise AssertionError("the model was loaded before the output folder was checked")

    monkeypatch.setattr("srgan.engines.prepare", no_work)
    result = cli(*upscale_args(tmp_path / "in", blocker / "out", weights))
    only_error(result, os.fspath(blocker / "out"), "cannot create output folder", "a parent is a file")
    assert "ImageError" not in result.err and blocker.read_text() == "a file, not a folder"


def test_output_folder_without_write_permission(cli, weights, tmp_path, monkeypatch):
    """Root may write anywhere, so for root the refusal is simulated at os.open in that folder."""
    _two_inputs(tmp_path / "in")
    out = tmp_path / "locked"
    out.mkdir()
    if os.geteuid() != 0:
        out.chmod(0o555)
    else:
        real_open = os.open

        def guarded(path, flags, *args, **kwargs):
            if os.path.dirname(os.path.abspath(path)) == os.fspath(out) and flags & os.O_CREAT:
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", guarded)
    monkeypatch.setattr("srgan.engines.prepare", lambda *a, **k: pytest.fail("model loaded before the check"))
    try:
        result = cli(*upscale_args(tmp_path / "in", out, weights))
    finally:
        out.chmod(0o755)
    only_error(result, os.fspath(out), "output folder is not writable", "Permission denied")
    assert list(out.iterdir()) == []


def test_disk_full_while_writing(cli, weights, tmp_path, monkeypatch):
    """ENOSPC half-way through b.png: clear message, no partial file, the old b.png intact, a.png written."""
    # b is one row taller than a, so the encoder can tell them apart: writer threads encode in any order.
    save(tmp_path / "in" / "a.png", rgb(6, 5, seed=1)), save(tmp_path / "in" / "b.png", rgb(7, 5, seed=2))
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.png").write_bytes(b"the old b")
    real_encoder = imagewrite._encoder

    def encoder(fmt, rgb_out, *args, **kwargs):
        save_image = real_encoder(fmt, rgb_out, *args, **kwargs)
        if rgb_out.shape[0] != 28:  # a.png's output is 24 rows high, b.png's 28
            return save_image

        def fill_the_disk(f):
            f.write(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
            raise OSError(errno.ENOSPC, "No space left on device")
        return fill_the_disk

    monkeypatch.setattr(imagewrite, "_encoder", encoder)
    result = cli(*upscale_args(tmp_path / "in", out, weights, "--overwrite"))
    assert result.code == 1
    result.error_line(os.fspath(out / "b.png"), "disk full", "nothing was written")
    assert "1 image(s) written, 1 failed" in result.err
    assert (out / "b.png").read_bytes() == b"the old b"
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"] and _no_temp_files(out)
    with Image.open(out / "a.png") as im:
        assert im.size == (20, 24)


def test_eval_save_images_never_overwrites(cli, weights, tmp_path):
    """``eval --save-images`` into a folder that already holds one of its SR images: refused before scoring."""
    save(tmp_path / "Set" / "HR" / "a.png", rgb(32, 32, seed=1))
    save(tmp_path / "Set" / "HR" / "b.png", rgb(32, 32, seed=2))
    sr = tmp_path / "sr"
    (sr / "Set").mkdir(parents=True)
    (sr / "Set" / "b.png").write_bytes(b"earlier SR")
    result = cli("eval", "--model", weights, "--data", tmp_path / "Set", "--device", "cpu", "--save-images", sr,
                 "--json", tmp_path / "r.json")
    only_error(result, os.fspath(sr / "Set" / "b.png"), "already exist")
    assert snapshot(sr) == {"Set/b.png": b"earlier SR"} and not (tmp_path / "r.json").exists()


def test_degrade_refuses_when_any_output_exists(cli, tmp_path):
    """degrade checks every target first: one existing LR file means nothing is written at all."""
    for i in range(3):
        save(tmp_path / "HR" / f"im{i}.png", rgb(16, 16, seed=i))
    lr = tmp_path / "LR"
    lr.mkdir()
    (lr / "im1.png").write_bytes(b"hand-made LR")
    result = cli("degrade", tmp_path / "HR", "-o", lr)
    only_error(result, os.fspath(lr / "im1.png"), "already exist", "--overwrite")
    assert snapshot(lr) == {"im1.png": b"hand-made LR"}
