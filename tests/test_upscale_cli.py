"""``srgan upscale`` for a new user (issue 12): feedback while it works, Real-ESRGAN's option spellings,
and inputs that are never destroyed."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sigterm import sigterm_when_called
from srgan.checkpoint import save_generator
from srgan.cli import main
from srgan.imagewrite import write_image
from srgan.models import Generator
from srgan.outputs import unfit_outputs
from srgan.upscaling import upscale_file


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    return save_generator(Generator(num_blocks=1, channels=8).eval(), tmp_path_factory.mktemp("w") / "tiny.safetensors")


def _photo(path: Path, h: int = 12, w: int = 10, mode: str = "RGB", seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, len(mode)), dtype=np.uint8)
    Image.fromarray(arr, mode).save(path)
    return path


def _run(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _up(weights, *args):
    return ["upscale", *args, "-n", weights, "--device", "cpu", "--precision", "fp32"]


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


# --------------------------------------------------------------------------- feedback (item 2)


def test_pipe_gets_no_bar_but_a_closing_line(weights, tmp_path, capsys):
    src = _photo(tmp_path / "photo.png")
    code, out, err = _run(capsys, *_up(weights, src, "-o", tmp_path / "out"))
    assert code == 0 and out == ""
    assert err.splitlines() == [err.strip()] and "\r" not in err  # one line, no bar: stderr is not a terminal
    assert err.startswith(f"srgan: wrote {tmp_path / 'out' / 'photo.png'} (40x48) in ")


def test_closing_line_for_several_images(weights, tmp_path, capsys):
    _photo(tmp_path / "in" / "a.png")
    _photo(tmp_path / "in" / "b.png", 20, 16)
    code, _out, err = _run(capsys, *_up(weights, tmp_path / "in", "-o", tmp_path / "out"))
    assert code == 0 and f"srgan: wrote 2 images to {tmp_path / 'out'} in " in err and "(largest 64x80)" in err


def test_terminal_gets_a_per_tile_bar(weights, tmp_path, capsys, monkeypatch):
    src = _photo(tmp_path / "photo.png", 40, 40)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setenv("COLUMNS", "100")  # the captured stream has no terminal width of its own
    code, _out, err = _run(capsys, *_up(weights, src, "-o", tmp_path / "out", "--tile", "10"))
    assert code == 0
    assert "photo.png:" in err and "/1.60k [" in err and "px/s]" in err  # tqdm: LR pixels, a rate, an ETA


def test_quiet_prints_nothing(weights, tmp_path, capsys, monkeypatch):
    src = _photo(tmp_path / "photo.png")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, out, err = _run(capsys, *_up(weights, src, "-o", tmp_path / "out", "--quiet"))
    assert (code, out, err) == (0, "", "")


def test_tiny_tiles_warn_and_say_what_auto_picks(weights, tmp_path, capsys):
    src = _photo(tmp_path / "photo.png", 64, 64)
    code, _out, err = _run(capsys, *_up(weights, src, "-o", tmp_path / "out", "--tile", "4", "--quiet"))
    assert code == 0
    (line,) = err.splitlines()
    assert line.startswith("srgan: warning: --tile 4 recomputes") and "x the work of --tile auto, which picks" in line
    code, _out, err = _run(capsys, *_up(weights, src, "-o", tmp_path / "o2", "--tile", "48", "--quiet"))
    assert err == ""  # a tile near the image size costs little: no warning


def test_animated_input_warns_that_only_the_first_frame_is_upscaled(weights, tmp_path, capsys):
    frames = [Image.fromarray(np.full((12, 10, 3), v, np.uint8)) for v in (0, 128, 255)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    single = _photo(tmp_path / "photo.png")
    code, _out, err = _run(capsys, *_up(weights, tmp_path / "anim.gif", single, "-o", tmp_path / "out", "--quiet"))
    assert code == 0 and _tree(tmp_path / "out") == ["anim.png", "photo.png"]
    assert err.splitlines() == [f"srgan: warning: {tmp_path / 'anim.gif'}: 3 frames (animated or multi-page); "
                                "only the first is upscaled"]


# --------------------------------------------------------------------------- Real-ESRGAN habits (item 3)


def test_real_esrgan_spellings(weights, tmp_path, capsys):
    a = _photo(tmp_path / "a.png", 12, 10)
    b = _photo(tmp_path / "b.png", 9, 7, mode="RGBA")
    code, _out, err = _run(capsys, "upscale", "-i", a, "-i", b, "-o", tmp_path / "results", "-n", weights,
                           "-s", "2.5", "--suffix", "out", "--fp32", "--tile-pad", "10", "-t", "0", "--debug")
    assert code == 0, err
    assert _tree(tmp_path / "results") == ["a_out.png", "b_out.png"]
    with Image.open(tmp_path / "results" / "a_out.png") as im:
        assert im.size == (25, 30)  # x4 by the model, then resized to x2.5
    with Image.open(tmp_path / "results" / "b_out.png") as im:
        assert (im.size, im.mode) == ((18, 22), "RGBA")  # round(7 * 2.5) = 18 (half to even), alpha kept


def test_outscale_of_the_model_scale_is_the_plain_output(weights, tmp_path, capsys):
    src = _photo(tmp_path / "a.png")
    assert _run(capsys, *_up(weights, src, "-o", tmp_path / "plain.png"))[0] == 0
    assert _run(capsys, *_up(weights, src, "-o", tmp_path / "s4.png", "-s", "4"))[0] == 0
    assert (tmp_path / "plain.png").read_bytes() == (tmp_path / "s4.png").read_bytes()


def test_fp32_and_another_precision_contradict(weights, tmp_path, capsys):
    src = _photo(tmp_path / "a.png")
    code, _out, err = _run(capsys, "upscale", src, "-o", tmp_path / "o", "-n", weights, "--fp32",
                           "--precision", "bf16")
    assert code == 1 and err == "srgan: error: --fp32 and --precision bf16 contradict each other; give one\n"


def test_skip_existing_says_which_kept_outputs_this_run_would_not_write(weights, tmp_path, capsys):
    """A rerun with another -s, or over a frame another tool cut short, kept them without a word: a video's frames
    came in two sizes, or one frame was broken."""
    for i in range(3):
        _photo(tmp_path / "frames" / f"{i:06d}.png", seed=i)  # 10x12
    _run(capsys, *_up(weights, tmp_path / "frames" / "000000.png", "-o", tmp_path / "up" / "000000.png", "-s", "2"))
    (tmp_path / "up" / "000001.png").write_bytes(b"")
    code, _out, err = _run(capsys, *_up(weights, tmp_path / "frames", "-o", tmp_path / "up", "--skip-existing",
                                        "--quiet", "-s", "3"))
    up = tmp_path / "up"
    assert code == 0 and err == (f"srgan: warning: 2 existing output(s) kept by --skip-existing are not what this run "
                                 f"writes: {up / '000000.png'} (20x24, not 30x36) and 1 more; delete them, or pass "
                                 "--overwrite\n")
    code, _out, err = _run(capsys, *_up(weights, tmp_path / "frames", "-o", tmp_path / "up", "--skip-existing",
                                        "--quiet"))  # the model's scale unknown: only the unreadable one
    assert code == 0 and f"1 existing output(s) kept by --skip-existing are not what this run writes: " \
                         f"{up / '000001.png'} (empty or unreadable);" in err
    # a copy stopped after the header: its size read right, and it was kept as done
    pairs = [(tmp_path / "frames" / f"{name}.png", up / f"{name}{ext}") for name, ext in (("000000", ".png"),
                                                                                           ("000002", ".jpg"))]
    for src, dest in pairs:
        _run(capsys, *_up(weights, src, "-o", dest, "--overwrite"))
    assert unfit_outputs(pairs, 4) == []
    for _src, dest in pairs:  # padding, or data another tool appends after the end (a Motion Photo's video): whole
        dest.write_bytes(dest.read_bytes() + bytes(16))
    assert unfit_outputs(pairs, 4) == []
    for _src, dest in pairs:
        dest.write_bytes(dest.read_bytes()[:-16])
    for _src, dest in pairs:
        dest.write_bytes(dest.read_bytes()[:-20])
    assert unfit_outputs(pairs, 4) == [f"{up / '000000.png'} (cut short)", f"{up / '000002.jpg'} (cut short)"]


def test_a_jpeg_cut_short_is_found_whatever_its_header_holds(tmp_path):
    """An ICC profile's tables can hold the end marker's bytes: a JPEG cut just after its header read as whole."""
    import io

    from srgan.outputs import _cut_short

    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(
        buffer, "JPEG", icc_profile=bytes(rng.integers(0, 256, 20_000, dtype=np.uint8)) + b"\xff\xd9" * 4)
    whole = buffer.getvalue()
    for name, data, cut in (("whole", whole, False), ("cut", whole[:30_000], True), ("padded", whole + bytes(99), False)):
        (tmp_path / f"{name}.jpg").write_bytes(data)
        assert _cut_short(tmp_path / f"{name}.jpg") == cut, name


def test_skip_existing_goes_on_where_a_stopped_run_stopped(weights, tmp_path, capsys):
    """A folder of video frames upscaled in two goes: the second run passes over what the first wrote, quietly
    and with exit 0 (without the flag each existing output is an error line and the exit code is 1)."""
    for i in range(3):
        _photo(tmp_path / "frames" / f"{i:06d}.png", seed=i)
    _run(capsys, *_up(weights, tmp_path / "frames" / "000000.png", "-o", tmp_path / "up" / "000000.png"))
    done = (tmp_path / "up" / "000000.png").read_bytes()
    (tmp_path / "up" / "000000.png").touch()  # so that a rewrite would show in the mtime too
    before = (tmp_path / "up" / "000000.png").stat().st_mtime_ns
    code, _out, err = _run(capsys, *_up(weights, tmp_path / "frames", "-o", tmp_path / "up", "--skip-existing"))
    assert code == 0 and err.splitlines()[0] == "srgan: 1 output(s) already exist; skipped (--skip-existing)"
    assert _tree(tmp_path / "up") == ["000000.png", "000001.png", "000002.png"]
    assert (tmp_path / "up" / "000000.png").read_bytes() == done
    assert (tmp_path / "up" / "000000.png").stat().st_mtime_ns == before
    code, _out, err = _run(capsys, *_up(weights, tmp_path / "frames", "-o", tmp_path / "up", "--skip-existing"))
    assert (code, err) == (0, "srgan: 3 output(s) already exist; skipped (--skip-existing)\n")  # all done
    code, _out, err = _run(capsys, *_up(weights, tmp_path / "frames", "-o", tmp_path / "up", "--skip-existing",
                                        "--overwrite"))
    assert code == 1 and err == "srgan: error: --skip-existing and --overwrite contradict each other; give one\n"


def test_usage_error_prints_the_commands_usage(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["upscale", "photo.png", "-o", "out", "--bogus"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("usage: srgan upscale ") and "srgan upscale: error: unrecognized arguments: --bogus" in err


def test_debug_after_the_command_shows_the_traceback(capsys):
    from srgan.checkpoint import CheckpointError

    with pytest.raises(CheckpointError):
        main(["eval", "--model", "no-such.pt", "--data", "Set5", "--debug"])
    assert main(["eval", "--model", "no-such.pt", "--data", "Set5"]) == 1  # without it: one line
    assert capsys.readouterr().err.count("\n") == 1


# --------------------------------------------------------------------------- never destroy an input (item 4)


def test_output_folder_that_is_the_input_folder_needs_a_suffix(weights, tmp_path, capsys):
    folder = tmp_path / "photos"
    _photo(folder / "a.jpg")
    _photo(folder / "b.png", seed=1)
    before = {p: p.read_bytes() for p in folder.iterdir()}
    code, _out, err = _run(capsys, *_up(weights, folder, "-o", folder, "--overwrite"))
    assert code == 1 and err.count("\n") == 1 and "is the folder of the input" in err and "--suffix" in err
    assert {p: p.read_bytes() for p in folder.iterdir()} == before

    assert _run(capsys, *_up(weights, folder, "-o", folder, "--suffix", "x4"))[0] == 0
    assert _tree(folder) == ["a.jpg", "a_x4.png", "b.png", "b_x4.png"]
    # A second run does not take its earlier outputs for inputs (no b_x4_x4.png)
    assert _run(capsys, *_up(weights, folder, "-o", folder, "--suffix", "x4", "--overwrite"))[0] == 0
    assert _tree(folder) == ["a.jpg", "a_x4.png", "b.png", "b_x4.png"]
    assert all(folder.joinpath(name).read_bytes() == data for name, data in
               ((p.name, d) for p, d in before.items()))


def test_output_folder_inside_the_input_folder_is_not_read_back(weights, tmp_path, capsys):
    folder = tmp_path / "photos"
    _photo(folder / "a.png")
    assert _run(capsys, *_up(weights, folder, "-o", folder / "big"))[0] == 0
    code, _out, err = _run(capsys, *_up(weights, folder, "-o", folder / "big", "--overwrite"))
    assert code == 0 and _tree(folder) == ["a.png", "big", "big/a.png"]
    assert "srgan: 1 file(s) in the output folder taken for earlier outputs, not inputs" in err


def test_output_file_equal_to_the_input_is_refused(weights, tmp_path, capsys):
    src = _photo(tmp_path / "a.png")
    before = src.read_bytes()
    code, _out, err = _run(capsys, *_up(weights, src, "-o", src, "--overwrite"))
    assert code == 1 and "is the input file itself; refused" in err and src.read_bytes() == before


def test_output_that_is_another_input_is_refused(weights, tmp_path, capsys):
    """x.png with --suffix up is written to x_up.png: when x_up.png is itself an input, it is refused."""
    x, x_up = _photo(tmp_path / "x.png"), _photo(tmp_path / "x_up.png", seed=1)
    before = x_up.read_bytes()
    code, _out, err = _run(capsys, *_up(weights, x, x_up, "-o", tmp_path, "--suffix", "up", "--overwrite"))
    assert code == 1 and f"{x_up}: is the input {x_up}; refused" in err and x_up.read_bytes() == before
    assert (tmp_path / "x_up_up.png").is_file()  # the other input's output is written


def test_output_in_a_format_srgan_cannot_write_is_an_error_not_a_folder(weights, tmp_path, capsys):
    src = _photo(tmp_path / "a.png")
    code, _out, err = _run(capsys, *_up(weights, src, "-o", tmp_path / "out.gif"))
    assert code == 1 and err.startswith(f"srgan: error: {tmp_path / 'out.gif'}: srgan cannot write .gif files")
    assert not (tmp_path / "out.gif").exists()
    for unknown_to_pillow in ("out.heic", "out.jxl"):  # a folder of that name was made, exit 0
        code, _out, err = _run(capsys, *_up(weights, src, "-o", tmp_path / unknown_to_pillow))
        assert code == 1 and f"srgan cannot write {unknown_to_pillow[3:]} files" in err
        assert not (tmp_path / unknown_to_pillow).exists()
    assert _run(capsys, *_up(weights, src, "-o", tmp_path / "out.webp"))[0] == 0
    assert (tmp_path / "out.webp").is_file()


def test_a_run_where_every_input_fails_leaves_no_output_folder(weights, tmp_path, capsys):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "broken.png").write_bytes(b"not a png")
    (tmp_path / "in" / "sub" / "truncated.png").write_bytes(_photo(tmp_path / "ok.png").read_bytes()[:40])
    out = tmp_path / "new" / "out"
    code, _out, err = _run(capsys, *_up(weights, tmp_path / "in", "-o", out))
    assert code == 1 and "0 image(s) written, 2 failed" in err
    assert not (tmp_path / "new").exists()  # neither out nor the parent folder it would have created


def test_an_image_name_for_a_folder_input_is_an_error_not_a_folder(weights, tmp_path, capsys):
    _photo(tmp_path / "in" / "a.png")
    code, _out, err = _run(capsys, *_up(weights, tmp_path / "in", "-o", tmp_path / "big.png"))
    assert code == 1 and "a folder input or several inputs need an output folder" in err
    assert not (tmp_path / "big.png").exists()


def test_ext_or_suffix_beside_an_output_file_name_is_an_error(weights, tmp_path, capsys):
    """They name an output folder's files: `-o up.png --ext jpg` wrote a PNG, `--suffix x4` was dropped."""
    src = _photo(tmp_path / "a.png")
    for options, said in [(["--ext", "jpg"], "--ext names"), (["--suffix", "x4"], "--suffix names"),
                          (["--ext", "jpg", "--suffix", "x4"], "--ext and --suffix name")]:
        code, _out, err = _run(capsys, *_up(weights, src, "-o", tmp_path / "up.png", *options))
        assert code == 1 and f"up.png names the output file itself; {said} the files of an output folder" in err
        assert not (tmp_path / "up.png").exists()
    code, _out, _err = _run(capsys, *_up(weights, src, "-o", tmp_path / "up.png", "--ext", ".PNG"))  # agrees
    assert code == 0 and (tmp_path / "up.png").is_file()
    code, _out, _err = _run(capsys, *_up(weights, src, "-o", tmp_path / "up.jpg", "--ext", "jpeg"))  # the same format
    assert code == 0 and (tmp_path / "up.jpg").is_file()
    code, _out, err = _run(capsys, *_up(weights, src, "-o", tmp_path / "folder", "--ext", ""))  # an unset $EXT
    assert code == 1 and "--ext must be one of .png" in err and not (tmp_path / "folder").exists()


def test_an_image_name_with_a_trailing_slash_is_a_folder(weights, tmp_path, capsys):
    src = _photo(tmp_path / "a.png")
    code, _out, _err = _run(capsys, *_up(weights, src, "-o", f"{tmp_path / 'shots.png'}/"))
    assert code == 0 and (tmp_path / "shots.png").is_dir() and (tmp_path / "shots.png" / "a.png").is_file()


def test_a_suffix_with_a_path_separator_is_refused(weights, tmp_path, capsys):
    src = _photo(tmp_path / "a.png")
    code, _out, err = _run(capsys, *_up(weights, src, "-o", tmp_path / "out", "--suffix", "x/4"))
    assert code == 1 and err == "srgan: error: --suffix is added to file names, so it cannot hold a path separator, got 'x/4'\n"
    assert not (tmp_path / "out").exists()


def test_alpha_dropped_by_a_jpeg_output_is_said(weights, tmp_path, capsys):
    src = _photo(tmp_path / "logo.png", mode="RGBA")
    code, _out, err = _run(capsys, *_up(weights, src, "-o", tmp_path / "logo.jpg"))
    assert code == 0 and (f"srgan: warning: {tmp_path / 'logo.jpg'}: JPEG has no transparency; the input's alpha "
                          "is dropped") in err
    code, _out, err = _run(capsys, *_up(weights, src, "-o", tmp_path / "logo_x4.png"))
    assert code == 0 and "warning" not in err


@pytest.mark.parametrize("fast_bf16", [False, True])
def test_bf16_asked_for_on_a_cpu_that_emulates_it_is_warned_about(weights, tmp_path, capsys, monkeypatch, fast_bf16):
    """--precision bf16 on an AVX2 CPU ran several times slower than fp32 without a word (srgan info knew)."""
    monkeypatch.setattr("srgan.device.cpu_has_fast_bf16", lambda: fast_bf16)
    src = _photo(tmp_path / "a.png")
    code, _out, err = _run(capsys, "upscale", src, "-o", tmp_path / "a_x4.png", "-n", weights, "--device", "cpu",
                           "--precision", "bf16", "--quiet")
    warned = "srgan: warning: bf16 is emulated on this CPU (no AVX512-BF16 or AMX): several times slower than fp32"
    assert code == 0 and (warned in err) != fast_bf16


def test_an_icc_profile_dropped_by_a_bmp_output_is_said(weights, tmp_path, capsys):
    """An Adobe RGB photo written as .bmp lost its profile without a word: its colours shown as sRGB."""
    from PIL import ImageCms

    src = tmp_path / "tagged.png"
    Image.open(_photo(tmp_path / "plain.png")).save(src, icc_profile=ImageCms.ImageCmsProfile(
        ImageCms.createProfile("sRGB")).tobytes())
    code, _out, err = _run(capsys, *_up(weights, src, "-o", tmp_path / "out.bmp"))
    assert code == 0 and err.startswith(f"srgan: warning: {tmp_path / 'out.bmp'}: BMP cannot hold the input's ICC "
                                        "colour profile; it is dropped")
    for kept in (_up(weights, src, "-o", tmp_path / "out.png"), _up(weights, tmp_path / "plain.png", "-o",
                                                                     tmp_path / "plain.bmp")):
        code, _out, err = _run(capsys, *kept, "--quiet")
        assert code == 0 and err == ""


def test_sixteen_bits_rounded_by_a_tiff_output_are_said(weights, tmp_path, capsys):
    """A 16-bit colour input written as .tif came out 8-bit without a word (grayscale TIFF keeps 16 bits)."""
    rgb16 = tmp_path / "rgb16.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 65536, (12, 10), dtype=np.uint16)).save(tmp_path / "g.png")
    write_image(rgb16, np.random.default_rng(1).integers(0, 65536, (12, 10, 3), dtype=np.uint16))
    code, _out, err = _run(capsys, *_up(weights, rgb16, "-o", tmp_path / "rgb16.tif"))
    assert code == 0 and err.startswith(f"srgan: warning: {tmp_path / 'rgb16.tif'}: srgan writes colour or alpha "
                                        "TIFF with 8 bits per channel; the input's 16 bits are rounded")
    assert Image.open(tmp_path / "rgb16.tif").mode == "RGB"
    kept_16_bits = [_up(weights, tmp_path / "g.png", "-o", tmp_path / "g.tif"),
                    _up(weights, rgb16, "-o", tmp_path / "c.png")]
    for kept in (*kept_16_bits, _up(weights, tmp_path / "g.png", "-o", tmp_path / "g.jpg")):  # JPEG is 8-bit anyway
        code, _out, err = _run(capsys, *kept, "--quiet")
        assert code == 0 and err == ""
    with pytest.warns(UserWarning, match="srgan writes colour or alpha TIFF with 8 bits per channel"):
        upscale_file(str(weights), rgb16, tmp_path / "api.tif")


def test_a_file_named_twice_is_upscaled_once(weights, tmp_path, capsys):
    src = _photo(tmp_path / "a.png")
    code, _out, err = _run(capsys, *_up(weights, src, src, "-o", tmp_path / "out"))
    assert code == 0 and "would also be written" not in err and _tree(tmp_path / "out") == ["a.png"]
    folder = _photo(tmp_path / "in" / "a.png").parent
    code, _out, err = _run(capsys, *_up(weights, folder, folder / "a.png", "-o", tmp_path / "o2"))  # and a file in it
    assert code == 0 and _tree(tmp_path / "o2") == ["a.png"]


def test_a_link_under_another_name_is_an_input_of_its_own(weights, tmp_path, capsys):
    """b.png -> a.png was taken for a.png named twice and dropped without a word (exit 0, no b.png)."""
    _photo(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "b.png").symlink_to("a.png")
    code, _out, _err = _run(capsys, *_up(weights, tmp_path / "in", "-o", tmp_path / "out", "--quiet"))
    assert code == 0 and _tree(tmp_path / "out") == ["a.png", "b.png"]
    assert (tmp_path / "out" / "a.png").read_bytes() == (tmp_path / "out" / "b.png").read_bytes()


def test_quiet_keeps_the_warning_that_alpha_is_dropped(weights, tmp_path, capsys):
    """--quiet: "no progress bar ..., no closing line; warnings and errors remain"; this one was hidden."""
    src = _photo(tmp_path / "logo.png", mode="RGBA")
    code, _out, err = _run(capsys, *_up(weights, src, "-o", tmp_path / "logo.jpg", "--quiet"))
    assert code == 0 and err == (f"srgan: warning: {tmp_path / 'logo.jpg'}: JPEG has no transparency; the input's "
                                 "alpha is dropped (write .png, .webp or .tif to keep it)\n")


def test_a_run_where_every_input_fails_before_work_still_ends_with_the_count(weights, tmp_path, capsys):
    code, _out, err = _run(capsys, *_up(weights, tmp_path / "nothere.png", "-o", tmp_path / "out"))
    assert code == 1 and err == (f"srgan: {tmp_path / 'nothere.png'}: no such file or folder\n"
                                 "srgan: 0 image(s) written, 1 failed\n")


def test_sigterm_while_the_model_loads_interrupts_and_leaves_no_folder(weights, tmp_path, capsys, monkeypatch):
    """The handler used to be installed only around the file loop: a kill during the model's loading (int8
    conversion takes seconds) ended with 143, no message, and the empty output folder it had made."""
    import srgan.engines

    with sigterm_when_called(monkeypatch, srgan.engines, "prepare"):
        code, _out, err = _run(capsys, *_up(weights, _photo(tmp_path / "in" / "a.png"), "-o", tmp_path / "out/"))
    assert (code, err) == (130, "srgan: interrupted\n")
    assert not (tmp_path / "out").exists()


def test_a_photos_colour_profile_is_kept_and_its_exif_gps_and_dpi_are_not(weights, tmp_path, capsys):
    """The ICC profile describes the output's colours too; EXIF (camera, GPS position), and the DPI that would give
    the 4x output another print size, are not copied: the output is a new picture, not the photo's file."""
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0)}  # GPS: latitude
    src = tmp_path / "photo.jpg"
    Image.fromarray(np.full((12, 10, 3), 90, np.uint8)).save(src, icc_profile=icc, exif=exif, dpi=(300, 300))
    with Image.open(src) as im:
        assert im.info.get("icc_profile") == icc and "exif" in im.info and im.info.get("dpi") == (300, 300)
    for out in (tmp_path / "out.jpg", tmp_path / "out.png"):
        code, _out, _err = _run(capsys, *_up(weights, src, "-o", out))
        assert code == 0
        with Image.open(out) as im:
            assert im.info.get("icc_profile") == icc
            assert "exif" not in im.info and not im.getexif() and "dpi" not in im.info


def test_tiny_images_keep_their_colour_through_the_cli(tmp_path, capsys):
    """Small 8-bit images run batched, straight through the network: that path skipped the edge padding of tiny
    ones, so `srgan upscale` still turned a 1x1 mid-grey pixel into 85 (the review's repro) while the API did not."""
    for name, size in (("one.png", (1, 1)), ("two.png", (2, 2)), ("strip.png", (1, 30))):
        Image.fromarray(np.full((*size, 3), 128, np.uint8)).save(tmp_path / name)
    for tile in ("auto", "0", "64"):
        out = tmp_path / f"out_{tile}"
        code, _out, err = _run(capsys, "upscale", tmp_path / "one.png", tmp_path / "two.png", tmp_path / "strip.png",
                               "-o", out, "-n", "srresnet", "--device", "cpu", "--precision", "fp32", "-t", tile)
        assert code == 0, err
        for name in ("one.png", "two.png", "strip.png"):
            assert abs(np.asarray(Image.open(out / name), np.float64).mean() - 128) < 2, (tile, name)


def test_a_newline_in_a_file_name_cannot_split_or_forge_an_error_line(tmp_path, capsys):
    """The name went into messages verbatim: `ok<newline>srgan: error: fake.png` printed a forged error line, and
    eval's one-line error kept only `nl/bad`."""
    folder = tmp_path / "nl"
    folder.mkdir()
    (folder / "ok\nsrgan: error: fake.png").write_bytes(b"not an image")
    assert main(["upscale", str(folder), "-o", str(tmp_path / "out"), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert f"srgan: {folder}/ok\\nsrgan: error: fake.png: not an image file" in err
    assert not any(line.startswith("srgan: error: fake.png") for line in err.splitlines())
    assert main(["eval", "--model", "bicubic", "--data", str(folder)]) == 1
    assert capsys.readouterr().err == (f"srgan: eval nl: 1 image(s)\nsrgan: error: {folder}/ok\\nsrgan: error: "
                                       "fake.png: not an image file, or a format Pillow cannot read\n")
    named = tmp_path / "set\nsrgan: error: forged"  # the set's own name, in eval's progress line
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save((named.mkdir() or named) / "a.png")
    assert main(["eval", "--model", "bicubic", "--data", str(named)]) == 0
    assert capsys.readouterr().err == "srgan: eval set\\nsrgan: error: forged: 1 image(s)\n"


def test_files_in_formats_not_scanned_for_are_named(weights, tmp_path, capsys):
    """A folder of GIFs said only "no input images found"; beside PNGs, the GIFs were passed over silently."""
    (tmp_path / "in").mkdir()
    gif = tmp_path / "in" / "a.gif"
    Image.new("RGB", (8, 8)).save(gif)
    note = (f"srgan: warning: left out 1 file(s) in formats that folders are not scanned for: {gif}; name them, or "
            "convert them to .png, to use them (scanned: .png, .jpg, .jpeg, .jfif, .bmp, .webp, .tif, .tiff)\n")
    code, _out, err = _run(capsys, *_up(weights, tmp_path / "in", "-o", tmp_path / "out"))
    assert code == 1 and err.startswith(note) and "no input images found" in err
    _photo(tmp_path / "in" / "b.png")
    code, _out, err = _run(capsys, *_up(weights, tmp_path / "in", "-o", tmp_path / "out", "--quiet"))
    assert code == 0 and err == note and _tree(tmp_path / "out") == ["b.png"]
    code, _out, err = _run(capsys, *_up(weights, tmp_path / "in" / "a.gif", "-o", tmp_path / "named", "--quiet"))
    assert code == 0 and err == ""  # named, a GIF is read (its first frame)


def test_earlier_outputs_in_the_input_folder_are_not_upscaled_again(weights, tmp_path, capsys):
    """A second run into a new folder inside the input folder (-o p/x4_srgan after -o p/x4), or with another
    --suffix beside the originals, took the first run's outputs for photos and upscaled them x16, without a word."""
    p = tmp_path / "p"
    _photo(p / "a.png")
    _photo(p / "b.png", seed=1)
    assert _run(capsys, *_up(weights, p, "-o", p / "x4", "--quiet"))[0] == 0
    code, _out, err = _run(capsys, *_up(weights, p, "-o", p / "x4_srgan", "--quiet"))
    assert code == 0 and _tree(p / "x4_srgan") == ["a.png", "b.png"]
    assert err == (f"srgan: warning: left out 2 file(s) that look like earlier outputs of other inputs: "
                   f"{p / 'x4' / 'a.png'} ({p / 'a.png'}'s name, x4 its size) and 1 more; name a file to upscale it\n")
    code, _out, err = _run(capsys, *_up(weights, p, "-o", p, "--suffix", "x2", "--quiet"))
    assert code == 0 and sorted(f.name for f in p.glob("*.png")) == ["a.png", "a_x2.png", "b.png", "b_x2.png"]
    assert "left out 4 file(s)" in err
    # Named on the command line, an earlier output is upscaled as asked; one of another size is not taken for one.
    code, _out, err = _run(capsys, *_up(weights, p / "x4" / "a.png", "-o", tmp_path / "named", "--quiet"))
    assert code == 0 and Image.open(tmp_path / "named" / "a.png").size == (160, 192)
    _photo(p / "a_crop.png", h=20, w=20)
    assert "a_crop" not in _run(capsys, *_up(weights, p, "-o", tmp_path / "q", "--quiet"))[2]
    # Named as well as found in its folder, it is upscaled: "name a file to upscale it" did not work.
    code, _out, err = _run(capsys, *_up(weights, p, p / "x4" / "a.png", "-o", tmp_path / "both", "--quiet"))
    assert code == 0 and (tmp_path / "both" / "x4" / "a.png").is_file() and "left out 5 file(s)" in err


def test_only_names_srgan_gives_its_outputs_are_taken_for_them(weights, tmp_path, capsys):
    """Any name that began with another input's and was k times its size was left out: iOS icon@2x/@3x assets,
    ab.png beside a.png; and an earlier output of an EXIF-rotated photo (written upright) was not found."""
    assets = tmp_path / "assets"
    _photo(assets / "icon.png", h=5, w=5)
    _photo(assets / "icon@2x.png", h=10, w=10, seed=1)
    _photo(assets / "a.png", h=4, w=4, seed=2)
    _photo(assets / "ab.png", h=12, w=12, seed=3)
    code, _out, err = _run(capsys, *_up(weights, assets, "-o", tmp_path / "out", "--quiet"))
    assert code == 0 and err == "" and len(_tree(tmp_path / "out")) == 4
    photos = tmp_path / "photos"
    photos.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 12x8, shown (and upscaled) 8x12
    Image.fromarray(np.zeros((8, 12, 3), np.uint8)).save(photos / "portrait.jpg", exif=exif)
    assert _run(capsys, *_up(weights, photos, "-o", photos / "x4", "--quiet"))[0] == 0
    assert Image.open(photos / "x4" / "portrait.png").size == (32, 48)
    code, _out, err = _run(capsys, *_up(weights, photos, "-o", photos / "x4_again", "--quiet"))
    assert code == 0 and "left out 1 file(s)" in err and not (photos / "x4_again" / "x4").exists()


def test_a_folder_input_that_is_the_output_folder_with_a_suffix_is_upscaled(weights, tmp_path, capsys):
    """`srgan upscale photos c.png -o photos --suffix x4` wrote c_x4.png only: the folder was taken for a glob
    naming the output folder."""
    photos = tmp_path / "photos"
    _photo(photos / "a.png")
    other = _photo(tmp_path / "c.png", seed=1)
    code, _out, err = _run(capsys, *_up(weights, photos, other, "-o", photos, "--suffix", "x4", "--quiet"))
    assert code == 0 and sorted(f.name for f in photos.iterdir()) == ["a.png", "a_x4.png", "c_x4.png"]


def test_a_glob_that_names_the_output_folder_resumes(weights, tmp_path, capsys):
    """`srgan upscale photos/* -o photos/up --skip-existing` (the shell's glob names photos/up too) was refused
    with "pass --suffix", and with it wrote the outputs a second time beside the first."""
    photos = tmp_path / "photos"
    _photo(photos / "a.png")
    _photo(photos / "b.png", seed=1)
    glob = lambda: sorted(photos.iterdir())  # noqa: E731
    assert _run(capsys, *_up(weights, *glob(), "-o", photos / "up", "--quiet"))[0] == 0
    code, _out, err = _run(capsys, *_up(weights, *glob(), "-o", photos / "up", "--skip-existing"))
    assert code == 0 and _tree(photos / "up") == ["a.png", "b.png"]
    assert "2 output(s) already exist; skipped (--skip-existing)" in err


def test_an_output_that_is_a_broken_link_or_a_folder_is_found_before_work(weights, tmp_path, capsys):
    """A broken symbolic link at the output was found by the write, after the model had run, and --skip-existing
    did not pass over it; a folder there was answered "pass --skip-existing" when that had been passed."""
    src = _photo(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").symlink_to(tmp_path / "nowhere.png")
    code, _out, err = _run(capsys, *_up(weights, src, "-o", out))
    assert code == 1 and err.startswith(f"srgan: {out / 'a.png'}: already exists; not overwritten")
    assert "wrote" not in err and (out / "a.png").is_symlink()
    code, _out, err = _run(capsys, *_up(weights, src, "-o", out, "--skip-existing"))
    assert code == 0 and "1 output(s) already exist; skipped (--skip-existing)" in err
    (out / "a.png").unlink()
    (out / "a.png").mkdir()
    code, _out, err = _run(capsys, *_up(weights, src, "-o", out, "--skip-existing"))
    assert code == 1 and err.startswith(f"srgan: {out / 'a.png'}: is a folder\n")


def test_output_to_standard_output_is_refused(weights, tmp_path, capsys, monkeypatch):
    """-o - made a folder called "-"."""
    monkeypatch.chdir(tmp_path)
    code, _out, err = _run(capsys, *_up(weights, _photo(tmp_path / "a.png"), "-o", "-"))
    assert code == 1 and err == ("srgan: error: -o -: srgan upscale writes files, not standard output; name an output "
                                 "file or folder\n")
    assert not (tmp_path / "-").exists()
