import json

import numpy as np
import pytest

from srgan.cli import main
from srgan.demo import LABELS, comparison_image


def test_demo_runs_end_to_end_with_shipped_weights(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    (run,) = list(tmp_path.iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    # SRResNet beats bicubic on the samples; SRGAN trades PSNR for texture, as in the paper.
    assert metrics["srresnet"]["psnr"] > metrics["bicubic"]["psnr"] + 0.3
    assert metrics["srresnet"]["psnr"] > metrics["srgan"]["psnr"]
    assert sorted(p.name for p in (run / "upscaled").iterdir()) == ["astronaut.png", "chelsea.png", "coffee.png"]
    assert (run / "comparison.png").stat().st_size > 10_000
    assert str(run / "comparison.png") in out and "| model |" in out
    assert f"{run / 'upscaled'} (the SRGAN's, from lr/)" in out  # which model: upscale's default is SRResNet


def test_an_interrupted_demo_leaves_no_empty_folder(tmp_path, monkeypatch):
    """Ctrl-C a few seconds in left an empty dated folder."""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("srgan.evaluate.evaluate", interrupted)
    assert main(["demo", "-o", str(tmp_path / "d"), "--device", "cpu"]) == 130  # "srgan: interrupted"
    assert not (tmp_path / "d").exists()  # nor the -o folder it made


def test_comparison_image_titles_every_column():
    rows = [[np.full((200, 200, 3), v, np.uint8) for v in (40, 100, 160, 220)]] * 2
    image = comparison_image(rows, LABELS)  # 128-px crops at 2x
    header = image.shape[0] - 2 * 256 - 4
    assert header > 0 and image.shape[1:] == (4 * 256 + 3 * 4, 3)
    for c in range(4):  # every column's title puts dark text on the white strip above it
        strip = image[:header, c * 260:c * 260 + 256]
        assert (strip < 100).any()
    assert (image[header:header + 256, :256] == 40).all()
    with pytest.raises(ValueError, match="3 labels for 4 columns"):
        comparison_image(rows, LABELS[:3])


def test_demo_output_that_is_a_file_is_one_line_error(tmp_path, capsys):
    from srgan.cli import main

    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    assert main(["demo", "-o", str(notes)]) == 1  # was "[Errno 20] Not a directory: 'notes.txt/2026...'"
    assert capsys.readouterr().err == f"srgan: error: {notes}: is a file; -o takes the folder the demo's outputs go in\n"
    assert notes.read_text() == "mine"
    assert main(["demo", "-o", str(notes / "demo")]) == 1  # was "[Errno 20] Not a directory: '.../notes.txt/demo'"
    assert capsys.readouterr().err == (f"srgan: error: {notes / 'demo'}: cannot create output folder (a parent is "
                                       "a file, not a folder)\n")


def test_demo_folder_names_too_long_and_two_demos_in_one_second(tmp_path, capsys, monkeypatch):
    """`-o` with a 300-byte name was "[Errno 36] File name too long: 'xxx...'" (Path.exists() raises on it); two
    demos started in the same second wanted one folder, and the second failed with "[Errno 17] File exists"."""
    import srgan.demo as demo

    long = "x" * 300
    assert main(["demo", "-o", str(tmp_path / long)]) == 1
    assert capsys.readouterr().err == f"srgan: error: {tmp_path / long}: folder name too long (300 bytes; at most 255)\n"
    monkeypatch.setattr(demo.time, "strftime", lambda _format: "20261207-141105")
    assert [demo._new_run_folder(tmp_path).name for _ in range(3)] == [
        "20261207-141105", "20261207-141105-2", "20261207-141105-3"]
