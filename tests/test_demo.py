import json

from srgan.cli import main


def test_demo_runs_end_to_end_with_shipped_weights(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    (run,) = list(tmp_path.iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    # Trained models beat bicubic on the samples; SRGAN trades PSNR for texture, as in the paper.
    assert metrics["srresnet"]["psnr"] > metrics["srgan"]["psnr"] > metrics["bicubic"]["psnr"] + 0.3
    assert sorted(p.name for p in (run / "upscaled").iterdir()) == ["astronaut.png", "chelsea.png", "coffee.png"]
    assert (run / "comparison.png").stat().st_size > 10_000
    assert str(run / "comparison.png") in out and "| model |" in out
