"""srgan eval --sr-images (srgan.sr_images): SR images made elsewhere, scored exactly as a model's outputs."""
import json

import numpy as np
import pytest
from PIL import Image

from srgan.cli import main
from srgan.evaluate import evaluate
from srgan.imagewrite import write_image
from srgan.metrics import psnr_ssim_y
from srgan.sr_images import SRImages


@pytest.fixture(scope="module")
def bicubic_set5(shared_data, tmp_path_factory):
    """(results, folder): bicubic's Set5 scores and its SR images, saved as eval saves them (<folder>/Set5/*.png)."""
    folder = tmp_path_factory.mktemp("sr")
    return evaluate("bicubic", [shared_data / "benchmarks" / "Set5"], save_images=folder), folder


def _rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_sr_images_of_bicubic_score_as_bicubic(bicubic_set5, shared_data, tmp_path, capsys):
    results, folder = bicubic_set5
    out = tmp_path / "sr.json"
    assert main(["eval", "--sr-images", str(folder), "--data", str(shared_data / "benchmarks" / "Set5"),
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"SR images {folder}, x4, PSNR/SSIM on Y, 4-px border" in printed and "device" not in printed
    assert "| Set5 | 5 | 28.42 | 0.8102 |" in printed and f"SR images: Set5 from {folder / 'Set5'}" in printed
    report = json.loads(out.read_text())["Set5"]
    assert report["images"] == results["Set5"]["images"]  # exactly, image by image
    assert report["psnr"] == results["Set5"]["psnr"] == pytest.approx(28.419, abs=0.002)  # as test_evaluate pins
    assert report["ssim"] == pytest.approx(0.8102, abs=5e-4)
    run = report["run"]
    assert run["sr_images"] == str(folder / "Set5") and "model" not in run and "weights" not in run
    assert run["precision"] is None and run["lr"] is None
    assert "device" not in run and "back_project" not in run  # no model ran: nothing ran on a device
    # a flat folder of outputs named as methods name them (baby_x4_SR.png), through the API
    for path in (folder / "Set5").iterdir():
        (tmp_path / "flat").mkdir(exist_ok=True)
        (tmp_path / "flat" / f"{path.stem}_x4_SR.png").write_bytes(path.read_bytes())
    flat = evaluate(SRImages(tmp_path / "flat"), ["Set5"], metrics="psnr,ssim,niqe")
    assert {k: {m: v[m] for m in ("psnr", "ssim")} for k, v in flat["Set5"]["images"].items()} == \
        results["Set5"]["images"]
    assert flat["Set5"]["niqe"] == pytest.approx(evaluate("bicubic", ["Set5"], metrics="niqe")["Set5"]["niqe"])


def test_a_missing_or_ambiguous_sr_image_is_named_before_any_work(bicubic_set5, tmp_path, capsys):
    _results, folder = bicubic_set5
    sr = tmp_path / "sr"
    for path in (folder / "Set5").iterdir():
        if path.stem != "head":
            sr.mkdir(exist_ok=True)
            (sr / path.name).write_bytes(path.read_bytes())
    assert main(["eval", "--sr-images", str(sr), "--data", "Set5"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{sr}: no SR image for 1 of the 5 HR images of Set5 (head)" in err, err
    (sr / "head_x4_SR.png").write_bytes((folder / "Set5" / "head.png").read_bytes())
    (sr / "head_SRGAN.png").write_bytes((folder / "Set5" / "head.png").read_bytes())
    with pytest.raises(ValueError, match=r"2 SR images for Set5's head \(head_SRGAN.png, head_x4_SR.png\); keep one"):
        evaluate(SRImages(sr), ["Set5"])
    (sr / "head.png").write_bytes((folder / "Set5" / "head.png").read_bytes())  # the same name goes first
    assert len(evaluate(SRImages(sr), ["Set5"])["Set5"]["images"]) == 5


def test_an_sr_image_of_another_size_is_one_line_naming_both(tmp_path, capsys):
    """The HR as scored is mod-cropped (50x45 -> 48x44); an SR of the uncropped size is not cropped to fit."""
    hr = _rgb(45, 50)
    write_image(tmp_path / "Set" / "HR" / "a.png", hr)
    write_image(tmp_path / "sr" / "a.png", hr)
    assert main(["eval", "--sr-images", str(tmp_path / "sr"), "--data", str(tmp_path / "Set")]) == 1
    err = capsys.readouterr().err.splitlines()  # the progress line, then one error line
    assert len(err) == 2 and err[1].startswith(f"srgan: error: {tmp_path / 'sr' / 'a.png'}: SR is 50x45 but its HR "
                                               "as scored is 48x44 (cropped to a multiple of 4 from the top-left)")


def test_grayscale_and_16_bit_sr_images_are_read_as_the_hr_images_are(tmp_path):
    hr, gray = _rgb(48, 40, 1), _rgb(40, 48, 2)[..., 0]
    write_image(tmp_path / "Set" / "HR" / "colour.png", hr)
    Image.fromarray(gray).save(tmp_path / "Set" / "HR" / "gray.png")
    sr_colour = np.clip(hr.astype(int) + _rgb(48, 40, 3) // 32 - 4, 0, 255).astype(np.uint8)
    sr_gray = np.clip(gray.astype(int) + 3, 0, 255).astype(np.uint8)
    write_image(tmp_path / "sr" / "colour.png", sr_colour.astype(np.uint16) * 257)  # 16-bit RGB, v * 257
    Image.fromarray(sr_gray.astype(np.uint16) * 257).save(tmp_path / "sr" / "gray.png")  # 16-bit grey
    # PNG IHDR: bit depth 16, colour type 2 (RGB) and 0 (grey)
    assert [(tmp_path / "sr" / f).read_bytes()[24:26] for f in ("colour.png", "gray.png")] == [b"\x10\x02", b"\x10\x00"]
    scores = evaluate(SRImages(tmp_path / "sr"), [tmp_path / "Set"])["Set"]
    as_rgb = np.repeat(gray[..., None], 3, axis=2)
    expected = {"colour": psnr_ssim_y(sr_colour, hr, 4), "gray": psnr_ssim_y(np.repeat(sr_gray[..., None], 3, 2),
                                                                            as_rgb, 4)}
    assert {k: (v["psnr"], v["ssim"]) for k, v in scores["images"].items()} == expected
    assert scores["grayscale"] == ["gray"]


def test_sr_images_take_no_model_options(bicubic_set5, tmp_path, capsys):
    _results, folder = bicubic_set5
    base = ["eval", "--sr-images", str(folder), "--data", "Set5"]
    with pytest.raises(SystemExit):  # a usage error: one or the other
        main([*base, "--model", "bicubic"])
    assert "not allowed with argument" in capsys.readouterr().err
    for extra, said in ((["--precision", "bf16"], "--sr-images runs no model"),
                        (["--back-project"], "not to int8, hr or --sr-images"),
                        (["--save-images", str(tmp_path / "again")], "are saved already")):
        assert main([*base, *extra]) == 1
        assert said in capsys.readouterr().err
    assert not (tmp_path / "again").exists()
    assert main(["eval", "--sr-images", str(tmp_path / "nothing"), "--data", "Set5"]) == 1
    assert "nothing: --sr-images folder not found" in capsys.readouterr().err


def test_names_go_to_the_longest_hr_name_they_are_named_after(tmp_path):
    for name in ("a", "a_b"):
        write_image(tmp_path / "Set" / "HR" / f"{name}.png", _rgb(16, 16))
        write_image(tmp_path / "sr" / f"{name}_SR.png", _rgb(16, 16))
    from srgan.benchmark_sets import BenchmarkSet

    files = SRImages(tmp_path / "sr").files(BenchmarkSet(tmp_path / "Set", lr=False))
    assert {k: v.name for k, v in files.items()} == {"a": "a_SR.png", "a_b": "a_b_SR.png"}


def test_two_sets_of_one_name_read_the_folders_save_images_wrote(tmp_path):
    """The second of two sets called `test` is saved as `test#2/`; --sr-images read `test/` for it and scored its HR
    images against the first set's SR images without a word."""
    sets = []
    for i, parent in enumerate(("p1", "p2")):
        hr = tmp_path / parent / "test"
        hr.mkdir(parents=True)
        for name in ("a", "b"):
            Image.fromarray(_rgb(32, 32, seed=10 * i + len(name) + ord(name))).save(hr / f"{name}.png")
        sets.append(hr)
    saved = evaluate("bicubic", sets, save_images=tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["test", "test#2"]
    scored = evaluate(SRImages(tmp_path / "out"), sets)
    assert scored["test"]["images"] == saved["test"]["images"]
    assert scored["test#2"]["images"] == saved["test#2"]["images"]
    flat = tmp_path / "flat"  # one folder cannot hold both sets' a.png
    flat.mkdir()
    for sr in (tmp_path / "out" / "test").iterdir():
        (flat / sr.name).write_bytes(sr.read_bytes())
    with pytest.raises(ValueError, match=r"two sets are named test; give each its own folder of SR images"):
        evaluate(SRImages(flat), sets)
