"""Catalogue: every output problem that can be known up front is reported before any upscaling or scoring;
signals and full disks leave nothing half-written behind; an output folder is never written through a symbolic
link that leads outside it."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import srgan.evaluate as evaluate_module
from srgan import imagewrite, runlog
from support import PYTHON, REPO, only_error, rgb, save, subprocess_env, train_args, upscale_args


@pytest.fixture
def upscaled(monkeypatch):
    """The inputs decoded for the network, in order (srgan upscale decodes only the files it upscales)."""
    import srgan.pipeline as pipeline

    seen = []
    original = pipeline.read_image

    def read_image(src, **kwargs):
        seen.append(os.path.basename(src))
        return original(src, **kwargs)

    monkeypatch.setattr(pipeline, "read_image", read_image)
    return seen


@pytest.mark.parametrize("ext, width, side, fmt, limit", [(".webp", 4100, 16400, "WebP", 16383),
                                                          (".jpg", 16376, 65504, "JPEG", 65500)])
def test_format_size_limit_is_checked_before_upscaling(cli, weights, tmp_path, upscaled, ext, width, side, fmt, limit):
    """An input whose x4 side is past what the format holds: refused from the header before any upscaling (it used
    to be upscaled, then fail in the encoder); the other image is written."""
    save(tmp_path / "in" / "wide.png", rgb(2, width))
    save(tmp_path / "in" / "small.png", rgb(5, 6))
    result = cli(*upscale_args(tmp_path / "in", tmp_path / "out", weights, "--ext", ext))
    assert result.code == 1
    result.error_line(os.fspath(tmp_path / "out" / f"wide{ext}"), f"a {side}-px side is more than {fmt} can hold "
                      f"({limit} px); skipped (write a .png)")
    assert upscaled == ["small.png"] and sorted(os.listdir(tmp_path / "out")) == [f"small{ext}"]


def test_output_names_too_long_for_the_file_system(cli, weights, tmp_path, upscaled):
    """A 256-byte output name was a bare "[Errno 36] File name too long" that ended the whole run; a 255-byte
    one failed when written (its temporary file's name was 14 bytes longer)."""
    save(tmp_path / "in" / ("a" * 248 + ".png"), rgb(5, 6))  # a_x4.png is 255 bytes, _x44 256
    result = cli(*upscale_args(tmp_path / "in", tmp_path / "out", weights, "--suffix", "x44"))
    assert result.code == 1 and upscaled == []
    result.error_line(os.fspath(tmp_path / "out" / ("a" * 248 + "_x44.png")),
                      "file name too long (256 bytes; at most 255); skipped")
    result = cli(*upscale_args(tmp_path / "in", tmp_path / "out", weights, "--suffix", "x4"))
    assert result.code == 0 and os.listdir(tmp_path / "out") == ["a" * 248 + "_x4.png"]


def test_absurd_outscale_is_refused_before_upscaling(cli, weights, tmp_path, upscaled):
    """-s 1e9 used to upscale, then fail in the resize with 'OverflowError: signed integer is greater than maximum'.
    An output may have as many pixels as the largest input allowed (--max-pixels) gives at the model's x4."""
    photo = save(tmp_path / "photo.png", rgb(5, 6))
    result = cli(*upscale_args(photo, tmp_path / "out", weights, "-s", "1e9"))
    assert result.code == 1 and upscaled == [] and not (tmp_path / "out").exists()
    result.error_line(os.fspath(tmp_path / "out" / "photo.png"), "a 6000000000x5000000000 output is more than "
                      "3,200,000,000 pixels (--max-pixels times the model's scale squared); skipped (lower -s)")
    result = cli(*upscale_args(photo, tmp_path / "out", weights, "-s", "12", "--max-pixels", "200"))
    assert result.code == 1 and "a 72x60 output is more than 3,200 pixels" in result.err  # 200 x 4 squared
    result = cli(*upscale_args(photo, tmp_path / "out", weights, "-s", "9", "--max-pixels", "200"))
    assert result.code == 0 and upscaled == ["photo.png"]  # 54x45 = 2,430 pixels fit


def test_ext_keep_with_an_extension_srgan_cannot_write(cli, weights, tmp_path, upscaled):
    """``--ext keep`` for a GIF named on the command line: refused up front (it used to fail after upscaling)."""
    gif = save(tmp_path / "anim.gif", rgb(5, 6), mode="P")
    png = save(tmp_path / "ok.png", rgb(5, 6))
    result = cli(*upscale_args([gif, png], tmp_path / "out", weights, "--ext", "keep"))
    assert result.code == 1
    result.error_line(os.fspath(gif), "--ext keep cannot write a .gif file; skipped")
    assert upscaled == ["ok.png"] and os.listdir(tmp_path / "out") == ["ok.png"]


@pytest.mark.parametrize("layout", ["file", "folder --ext keep"])
def test_output_equal_to_an_input_is_refused_even_with_overwrite(cli, weights, tmp_path, upscaled, layout):
    photo = save(tmp_path / "in" / "photo.png", rgb(5, 6))
    before = photo.read_bytes()
    if layout == "file":
        args = upscale_args(photo, photo, weights, "--overwrite")
    else:
        args = upscale_args(tmp_path / "in", tmp_path / "in", weights, "--ext", "keep", "--overwrite")
    result = cli(*args)
    assert result.code == 1
    if layout == "file":
        result.error_line(os.fspath(photo), "is the input file itself; refused (choose another output)")
    else:  # issue 12: an output folder that is the input folder needs a --suffix, so no name can collide
        result.error_line("is the folder of the input", "pass --suffix")
    assert photo.read_bytes() == before and upscaled == []


def test_eval_json_pointing_at_a_folder(cli, weights, tmp_path, monkeypatch):
    """Refused before scoring (it used to score every image, then fail to write the report)."""
    save(tmp_path / "Set" / "HR" / "a.png", rgb(32, 32))
    (tmp_path / "report").mkdir()
    monkeypatch.setattr(evaluate_module, "evaluate", lambda *a, **k: pytest.fail("scored before the check"))
    result = cli("eval", "--model", weights, "--data", tmp_path / "Set", "--device", "cpu",
                 "--json", tmp_path / "report")
    only_error(result, os.fspath(tmp_path / "report"), "is a folder; --json takes a file name")
    result = cli("eval", "--model", weights, "--data", tmp_path / "Set", "--device", "cpu",
                 "--json", f"{tmp_path}/new/")  # a folder by its spelling: it used to become a file called new
    only_error(result, f"{tmp_path}/new/", "is a folder; --json takes a file name")

    long_name = tmp_path / "j1" / ("r" * 251 + ".json")  # failed after scoring, naming the temporary file
    only_error(cli("eval", "--model", weights, "--data", tmp_path / "Set", "--device", "cpu", "--json", long_name),
               f"{long_name}: file name too long (256 bytes; at most 255)")
    (tmp_path / "notes.txt").write_text("keep")
    only_error(cli("eval", "--model", weights, "--data", tmp_path / "Set", "--device", "cpu", "--json",
                   tmp_path / "notes.txt" / "r.json"), "notes.txt/r.json: a parent is a file, not a folder")
    assert not (tmp_path / "j1").exists() and (tmp_path / "notes.txt").read_text() == "keep"


def test_eval_json_replaces_only_an_earlier_report(cli, weights, tmp_path, monkeypatch):
    """--json naming the model file (or an image) used to replace it with the report: refused before scoring.
    An earlier report is replaced, as documented."""
    save(tmp_path / "Set" / "HR" / "a.png", rgb(32, 32))
    model = tmp_path / "model.safetensors"
    model.write_bytes(Path(weights).read_bytes())
    monkeypatch.setattr(evaluate_module, "evaluate", lambda *a, **k: pytest.fail("scored before the check"))
    # Any JSON object used to count as a report: a package.json was replaced by the scores.
    package = tmp_path / "package.json"
    package.write_text('{"name": "my-app", "dependencies": {"left-pad": "1.0"}}')
    renamed_model = tmp_path / "model.json"
    renamed_model.write_bytes(model.read_bytes())
    for target in (renamed_model, package):
        before = target.read_bytes()
        result = cli("eval", "--model", model, "--data", tmp_path / "Set", "--device", "cpu", "--json", target)
        only_error(result, os.fspath(target), "exists and is not an srgan eval report")
        assert target.read_bytes() == before
    # A name that is not .json is refused whether it exists or not: `--json out/Set/a.png` with --save-images out
    # used to replace the image the same run had just saved.
    for target in (model, tmp_path / "Set" / "HR" / "a.png", tmp_path / "new.png", "-"):
        result = cli("eval", "--model", model, "--data", tmp_path / "Set", "--device", "cpu", "--json", target)
        only_error(result, os.fspath(target), "--json takes a .json file name")
    assert not (tmp_path / "new.png").exists()
    monkeypatch.undo()
    report = tmp_path / "report.json"
    report.write_text('{"Set": {"psnr": 1.0, "images": {"old": {"psnr": 1.0}}}}')  # a report before "run" existed
    assert cli("eval", "--model", model, "--data", tmp_path / "Set", "--device", "cpu", "--json", report).code == 0
    assert set(json.loads(report.read_text())["Set"]["images"]) == {"a"}  # the new report

def test_output_folder_with_a_symlink_to_a_folder_outside(cli, weights, tmp_path):
    """out/sub is a link to a folder elsewhere: in/sub/a.png is not written through it (it used to land in the
    other folder); in/b.png is written."""
    save(tmp_path / "in" / "sub" / "a.png", rgb(5, 6))
    save(tmp_path / "in" / "b.png", rgb(5, 6))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sub").symlink_to(tmp_path / "elsewhere")
    result = cli(*upscale_args(tmp_path / "in", tmp_path / "out", weights))
    assert result.code == 1
    result.error_line(os.fspath(tmp_path / "out" / "sub" / "a.png"), "is a symbolic link to",
                      f"outside the output folder {tmp_path / 'out'}; not written through")
    assert os.listdir(tmp_path / "elsewhere") == [] and (tmp_path / "out" / "b.png").is_file()


# `srgan upscale` that parks half-way through writing its first output (the marker says when).
PARKED_WRITER = r"""
import pathlib, signal, sys, time
from srgan import imagewrite

# Ctrl-C reaches a foreground process, whose SIGINT raises KeyboardInterrupt. A test runner started in the
# background (`pytest &` in a script) hands its children SIGINT ignored, which srgan rightly keeps ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)

marker = pathlib.Path(sys.argv[1])
real_encoder = imagewrite._encoder

def encoder(*args, **kwargs):
    def save(f):
        f.write(b"\x89PNG\r\n\x1a\n partial")
        f.flush()
        marker.write_text("writing")
        time.sleep(300)
    return save

imagewrite._encoder = encoder
from srgan.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_during_upscale_leaves_no_temp_file(weights, tmp_path, signum):
    """SIGTERM (or Ctrl-C) while an output is half written: exit 130, "srgan: interrupted", no temporary file and
    no output (SIGTERM used to kill the process and leave `.photo.png.*.tmp`)."""
    script, marker, out = tmp_path / "parked.py", tmp_path / "marker", tmp_path / "out"
    script.write_text(PARKED_WRITER)
    photo = save(tmp_path / "in" / "photo.png", rgb(5, 6))
    proc = subprocess.Popen([PYTHON, script, marker, *map(str, upscale_args(photo, out, weights))], cwd=REPO,
                            env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not marker.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert marker.exists(), proc.stderr.read()
        assert [p.name for p in out.iterdir()][0].startswith(".photo.png.")  # the temporary file, mid-write
        proc.send_signal(signum)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, proc.returncode
    assert proc.stderr.read().strip() == "srgan: interrupted"
    assert not out.exists()  # no temporary file, and (issue 12) no empty output folder the run created


def test_sigterm_ignored_at_start_stays_ignored(cli, weights, tmp_path, monkeypatch):
    """A SIGTERM ignored when `srgan upscale` starts (a supervisor's choice) does not interrupt it: the output is
    written. It used to be replaced by srgan's own handler, which stopped the run."""
    real_encoder = imagewrite._encoder

    def encoder(*args, **kwargs):
        encode = real_encoder(*args, **kwargs)

        def encode_after_sigterm(f):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # the main thread's turn to run a handler, had one been installed
            return encode(f)
        return encode_after_sigterm

    monkeypatch.setattr(imagewrite, "_encoder", encoder)
    photo = save(tmp_path / "in" / "photo.png", rgb(5, 6))
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        result = cli(*upscale_args(photo, tmp_path / "out", weights))
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result.code == 0, result.err
    assert (tmp_path / "out" / "photo.png").is_file()


def test_disk_full_on_the_training_log(cli, train_data, tmp_path, monkeypatch):
    """ENOSPC while appending to log.jsonl: one line naming the file and saying "disk full" (it used to be a bare
    "[Errno 28] No space left on device")."""
    class FullFile:
        def __init__(self, path):
            self.name, self.lines = os.fspath(path), 0

        def write(self, text):
            self.lines += 1
            if self.lines == 2:
                raise OSError(errno.ENOSPC, "No space left on device")

        def close(self):
            pass

    monkeypatch.setattr(runlog, "open", lambda path, *args, **kwargs: FullFile(path), raising=False)
    run = tmp_path / "run"
    result = cli(*train_args(train_data, run))
    assert result.code == 1
    line = result.error_line("srgan: error: ", os.fspath(run / "log.jsonl"),
                             "cannot write (disk full, no space left on device)")
    assert line == result.err.splitlines()[-1]
