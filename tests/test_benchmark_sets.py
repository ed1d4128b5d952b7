"""srgan.benchmark_sets: the benchmark layouts, their LR images, and ``srgan degrade`` (bit-exact LR PNGs)."""
import numpy as np
import pytest
from PIL import Image

from srgan.benchmark_sets import BenchmarkSet, content_correlation, degrade_folder
from srgan.images import read_rgb_uint8
from srgan.imresize import degrade_uint8


def _rgb(h, w):
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), ((x + y) * 3) % 256], -1)
    return np.clip(base + np.random.default_rng(0).integers(-20, 21, size=(h, w, 3)), 0, 255).astype(np.uint8)


def _save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def _png(path):
    with Image.open(path) as im:
        return np.array(im)


def test_degrade_set5_reproduces_the_lr_pngs_bit_exactly(shared_data, tmp_path):
    set5 = shared_data / "benchmarks" / "Set5"
    written = degrade_folder(set5 / "HR", tmp_path / "lr", 4)
    assert len(written) == 5
    for path in sorted((set5 / "LR_bicubic_x4").glob("*.png")):
        ours = _png(tmp_path / "lr" / path.name)
        np.testing.assert_array_equal(ours, _png(path))


def test_degrade_writes_all_or_nothing(tmp_path, capsys):
    """An image that fails after others were written (here one smaller than the scale, sorted last) used to leave a
    partial LR set, which a rerun then refused as existing; now the run removes what it wrote, and its folders."""
    from srgan.cli import main

    _save(tmp_path / "hr" / "a.png", _rgb(40, 40))
    _save(tmp_path / "hr" / "sub" / "b.png", _rgb(40, 40))
    _save(tmp_path / "hr" / "z_tiny.png", _rgb(3, 3))
    with pytest.raises(ValueError, match=r"z_tiny\.png: image smaller than the scale factor 4$"):
        degrade_folder(tmp_path / "hr", tmp_path / "out" / "lr", 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hr"]
    (tmp_path / "lr").mkdir()  # an existing folder with an existing file: both stay
    _save(tmp_path / "lr" / "keep.png", _rgb(8, 8))
    assert main(["degrade", str(tmp_path / "hr"), "-o", str(tmp_path / "lr")]) == 1
    assert [p.name for p in (tmp_path / "lr").iterdir()] == ["keep.png"]
    assert main(["degrade", str(tmp_path / "hr" / "a.png"), "-o", str(tmp_path / "lr")]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"srgan: error: {tmp_path / 'hr' / 'a.png'}: is a file; degrade takes a folder of HR images (or a benchmark name)")
    (tmp_path / "notes.txt").write_text("keep")  # -o a file: "cannot write file (File exists)"
    assert main(["degrade", str(tmp_path / "hr" / "sub"), "-o", str(tmp_path / "notes.txt")]) == 1
    assert capsys.readouterr().err == (f"srgan: error: {tmp_path / 'notes.txt' / 'b.png'}: a parent is a file, "
                                       "not a folder\n")  # found before any image is read
    assert (tmp_path / "notes.txt").read_text() == "keep"



@pytest.mark.parametrize("layout", ["link to the input folder", "output folder inside the input folder",
                                    "link to an input in the output folder"])
def test_degrade_never_writes_over_an_input(tmp_path, layout):
    """Even with overwrite: an output that is an input file (through a symbolic link, or another input's name
    in an output folder inside the input folder) is refused and nothing is written. An output folder that is
    the HR folder or inside it is refused before that: its LR images would be read as HR by the next run."""
    hr = tmp_path / "hr"
    _save(hr / "a.png", _rgb(16, 16))
    message = "is inside the HR folder"
    if layout == "link to the input folder":
        (tmp_path / "lr").symlink_to(hr)
        lr, victim = tmp_path / "lr", hr / "a.png"
    elif layout == "output folder inside the input folder":
        _save(hr / "sub" / "a.png", _rgb(20, 20))  # an input, and where hr/a.png's LR would go
        lr, victim = hr / "sub", hr / "sub" / "a.png"
    else:
        lr, victim, message = tmp_path / "lr", hr / "a.png", "a.png: output would replace the input"
        lr.mkdir()
        (lr / "a.png").symlink_to(victim)
    before = victim.read_bytes()
    with pytest.raises(ValueError, match=message):
        degrade_folder(hr, lr, 4, overwrite=True)
    assert victim.read_bytes() == before


def test_degrade_into_its_hr_folder_is_refused_unless_an_lr_subfolder(tmp_path, capsys):
    """An LR folder inside the HR folder made the next degrade refuse its own earlier outputs as "inputs" and
    the next eval score them as more HR images (3 images became 6, 28.4 dB became 24.6); one named LR_* is
    left out of HR searches, so it is allowed, and a rerun says its targets exist."""
    from srgan.cli import main

    hr = tmp_path / "T" / "HR"
    for name in ("a", "b"):
        _save(hr / f"{name}.png", _rgb(32, 32))
    assert main(["degrade", str(hr), "-o", str(hr / "small")]) == 1
    assert capsys.readouterr().err == (f"srgan: error: {hr / 'small'}: is inside the HR folder {hr}, where its LR "
                                       "images would be taken for HR images by the next eval or degrade; choose a "
                                       "folder outside it (or an LR or LR_* subfolder, which HR searches leave out)\n")
    assert not (hr / "small").exists()
    assert main(["degrade", str(hr), "-o", str(hr / "LR_bicubic_x4")]) == 0
    assert main(["degrade", str(hr), "-o", str(hr / "LR_bicubic_x4")]) == 1
    assert "2 output file(s) already exist" in capsys.readouterr().err
    assert main(["degrade", str(hr), "-o", str(hr / "LR_bicubic_x4"), "--overwrite"]) == 0
    assert len(BenchmarkSet(tmp_path / "T")) == 2


def test_degrade_mod_crops_keeps_names_and_refuses_to_overwrite(tmp_path):
    img = _rgb(101, 99)
    _save(tmp_path / "hr" / "odd.jpg", img)  # -> odd.png
    _save(tmp_path / "hr" / "sub" / "g.png", img[..., 0])  # grayscale stays grayscale
    degrade_folder(tmp_path / "hr", tmp_path / "lr", 4)
    out = _png(tmp_path / "lr" / "odd.png")
    assert out.shape == (25, 24, 3)
    np.testing.assert_array_equal(out, degrade_uint8(np.array(Image.open(tmp_path / "hr" / "odd.jpg"))[:100, :96], 4))
    gray = Image.open(tmp_path / "lr" / "sub" / "g.png")
    assert gray.mode == "L" and gray.size == (24, 25)
    before = (tmp_path / "lr" / "odd.png").stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="already exist"):
        degrade_folder(tmp_path / "hr", tmp_path / "lr", 4)
    assert (tmp_path / "lr" / "odd.png").stat().st_mtime_ns == before
    assert len(degrade_folder(tmp_path / "hr", tmp_path / "lr", 4, overwrite=True)) == 2


def test_benchmark_set_layouts(shared_data, tmp_path):
    set5 = shared_data / "benchmarks" / "Set5"
    bench = BenchmarkSet(set5)
    assert bench.name == "Set5" and len(bench) == 5 and bench.lr_dir is not None
    items = list(bench)
    assert [n for n, _, _ in items] == ["baby", "bird", "butterfly", "head", "woman"]
    for name, lr, hr in items:
        assert lr.dtype == hr.dtype == np.uint8 and lr.shape[0] * 4 == hr.shape[0]
    # only HR images: LR generated with the exact uint8 path equals the shipped LR PNGs
    for sub in ("plain", "Mine/HR"):
        folder = tmp_path / sub
        folder.mkdir(parents=True)
        for name in ("bird", "woman"):
            (folder / f"{name}.png").write_bytes((set5 / "HR" / f"{name}.png").read_bytes())
        gen = BenchmarkSet(folder)
        assert gen.name == ("plain" if sub == "plain" else "Mine") and gen.lr_dir is None
        pairs = list(zip(gen, [i for i in items if i[0] in ("bird", "woman")], strict=True))
        assert [name for (name, _, _), _ in pairs] == ["bird", "woman"]
        for (name, lr, hr), (_, lr_ref, hr_ref) in pairs:
            np.testing.assert_array_equal(lr, lr_ref)
            np.testing.assert_array_equal(hr, hr_ref)


def test_basicsr_selfexsr_and_lr_subfolder_layouts(shared_data, tmp_path):
    """Only LR_* subfolders were left out of a plain folder's HR search: BasicSR's Set5 (GTmod12 + LRbicx4) and a
    folder with its LR in LR/ were scored as 10 images at 25.56 dB, SelfExSR's image_SRF_4 as 4 images for 2."""
    set5 = shared_data / "benchmarks" / "Set5"
    names = ("bird", "woman")
    reference = [(n, lr.copy(), hr.copy()) for n, lr, hr in BenchmarkSet(set5, names=names)]

    def copy(name, source, target):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((set5 / source / f"{name}.png").read_bytes())

    for name in names:
        copy(name, "HR", tmp_path / "basicsr" / "Set5" / "GTmod12" / f"{name}.png")
        copy(name, "LR_bicubic_x4", tmp_path / "basicsr" / "Set5" / "LRbicx4" / f"{name}.png")
        copy(name, "HR", tmp_path / "plain" / f"{name}.png")
        copy(name, "LR_bicubic_x4", tmp_path / "plain" / "LR" / f"{name}.png")
        i = names.index(name) + 1
        srf = tmp_path / "SelfExSR" / "Set5" / "image_SRF_4"
        copy(name, "HR", srf / f"img_00{i}_SRF_4_HR.png")
        copy(name, "LR_bicubic_x4", srf / f"img_00{i}_SRF_4_LR.png")
        copy(name, "HR", srf / f"img_00{i}_SRF_4_bicubic.png")  # another method's result: not read
        (tmp_path / "SelfExSR" / "Set5" / "image_SRF_2").mkdir(exist_ok=True)
    cases = [(tmp_path / "basicsr" / "Set5", "Set5", "LRbicx4", list(names)),
             (tmp_path / "basicsr" / "Set5" / "GTmod12", "Set5", "LRbicx4", list(names)),
             (tmp_path / "plain", "plain", None, list(names)),  # LR/ is left out; its scale is not said: LR made
             (tmp_path / "SelfExSR" / "Set5", "Set5", "image_SRF_4", ["img_001_SRF_4", "img_002_SRF_4"]),
             (srf, "Set5", "image_SRF_4", ["img_001_SRF_4", "img_002_SRF_4"])]
    for folder, set_name, lr_folder, item_names in cases:
        bench = BenchmarkSet(folder)
        assert (bench.name, None if bench.lr_dir is None else bench.lr_dir.name) == (set_name, lr_folder)
        pairs = list(bench)
        assert [n for n, _lr, _hr in pairs] == item_names
        for (_n, lr, hr), (_m, lr_ref, hr_ref) in zip(pairs, reference, strict=True):
            np.testing.assert_array_equal(lr, lr_ref)
            np.testing.assert_array_equal(hr, hr_ref)
    with pytest.raises(ValueError, match=r"image_SRF_2: SelfExSR's x2 pairs, but the scale is 4; pass --scale 2 or "
                                         r"the image_SRF_4 folder"):
        BenchmarkSet(tmp_path / "SelfExSR" / "Set5" / "image_SRF_2")
    with pytest.raises(ValueError, match=r"Set5: SelfExSR's set has image_SRF_2, image_SRF_4, no image_SRF_8 for x8"):
        BenchmarkSet(tmp_path / "SelfExSR" / "Set5", scale=8)  # its files were all scored as HR images
    # a set folder whose own name has LR in it is still a set; DIV2K's LR folder is not one
    (tmp_path / "Set5_HR_LR_pairs").symlink_to(set5, target_is_directory=True)
    assert len(BenchmarkSet(tmp_path / "Set5_HR_LR_pairs")) == 5
    (tmp_path / "DIV2K_valid_LR_bicubic" / "X4").mkdir(parents=True)
    copy("bird", "LR_bicubic_x4", tmp_path / "DIV2K_valid_LR_bicubic" / "X4" / "0801x4.png")
    with pytest.raises(ValueError, match="X4: a low-resolution folder, not a set's HR images; pass the folder of its "
                                         "HR images"):  # not DIV2K/, which holds the train and valid HR both
        BenchmarkSet(tmp_path / "DIV2K_valid_LR_bicubic" / "X4")
    with pytest.raises(ValueError, match=r"holds 1 benchmark sets \(Set5\), not one"):
        BenchmarkSet(tmp_path / "basicsr")
    for low in (set5 / "LR_bicubic_x4", tmp_path / "basicsr" / "Set5" / "LRbicx4"):  # scored as HR images
        with pytest.raises(ValueError, match=f"{low}: a low-resolution folder, not a set's HR images; pass the "
                                             f"set's folder \\({low.parent}\\) or its HR images' folder"):
            BenchmarkSet(low)


def test_benchmark_set_mod_crops_and_checks_lr_size(tmp_path):
    original = _rgb(50, 47)
    _save(tmp_path / "S" / "HR" / "a.png", original)
    name, lr, hr = next(iter(BenchmarkSet(tmp_path / "S")))
    np.testing.assert_array_equal(hr, original[:48, :44])  # the top-left, as MATLAB's modcrop
    np.testing.assert_array_equal(lr, degrade_uint8(original[:48, :44], 4))
    assert name == "a"
    _save(tmp_path / "S" / "LR_bicubic_x4" / "a.png", _rgb(10, 10))
    with pytest.raises(ValueError, match="not x4"):
        list(BenchmarkSet(tmp_path / "S"))
    with pytest.raises(ValueError, match="not found"):
        BenchmarkSet(tmp_path / "missing")


def test_lr_folder_must_hold_every_hr_images_lr(tmp_path):
    """An LR folder whose names do not match the HR names was ignored without a word (generated LR scored
    instead); DIV2K's <name>x4 spelling is matched, and an HR image without an LR image is an error."""
    hr_a, hr_b = _rgb(48, 44), _rgb(40, 40)
    _save(tmp_path / "S" / "HR" / "a.png", hr_a)
    _save(tmp_path / "S" / "HR" / "b.png", hr_b)
    lr_a = degrade_uint8(hr_a, 4)  # not exactly the bicubic LR: proves the file is what gets scored
    lr_a[::2, ::2] ^= 8
    _save(tmp_path / "S" / "LR_bicubic_x4" / "ax4.png", lr_a)
    with pytest.raises(ValueError, match=r"LR_bicubic_x4: no LR image for 1 of the 2 HR images \(e\.g\. b\)"):
        BenchmarkSet(tmp_path / "S")
    _save(tmp_path / "S" / "LR_bicubic_x4" / "b_x4.png", degrade_uint8(hr_b, 4))
    items = {name: lr for name, lr, _hr in BenchmarkSet(tmp_path / "S")}
    np.testing.assert_array_equal(items["a"], lr_a)
    np.testing.assert_array_equal(items["b"], degrade_uint8(hr_b, 4))


def test_two_lr_images_of_one_name_are_refused(tmp_path):
    """LR/a.png beside LR/a.jpg (a JPEG of it): the first in name order was scored without a word (28.38 dB
    instead of the PNG's 31.45 in the report that found it); the HR side already refused two of one name."""
    hr = _rgb(48, 44)
    _save(tmp_path / "S" / "HR" / "a.png", hr)
    _save(tmp_path / "S" / "LR_bicubic_x4" / "a.png", degrade_uint8(hr, 4))
    Image.fromarray(degrade_uint8(hr, 4)).save(tmp_path / "S" / "LR_bicubic_x4" / "a.jpg", quality=40)
    with pytest.raises(ValueError, match=r"LR_bicubic_x4: two images named 'a' \(a\.jpg, a\.png\); keep the LR "
                                         r"of a only"):
        BenchmarkSet(tmp_path / "S")
    (tmp_path / "S" / "LR_bicubic_x4" / "a.jpg").rename(tmp_path / "S" / "LR_bicubic_x4" / "b.jpg")  # not a's
    assert [name for name, _lr, _hr in BenchmarkSet(tmp_path / "S")] == ["a"]


def test_lr_images_are_found_beside_or_inside_an_hr_folder_never_scored_as_hr(tmp_path):
    """A plain folder holding LR_bicubic_x4/ scored the LR images as more HR images (10 in Set5, 25.56 dB), and
    --data Set5/HR made LR from HR although Set5/LR_bicubic_x4 was beside it."""
    hr = _rgb(48, 44)
    lr = degrade_uint8(hr, 4)
    lr[0, 0] ^= 8  # the folder's own, told apart from a generated one
    _save(tmp_path / "plain" / "a.png", hr)
    _save(tmp_path / "plain" / "LR_bicubic_x4" / "a.png", lr)
    _save(tmp_path / "Set" / "HR" / "a.png", hr)
    _save(tmp_path / "Set" / "LR_bicubic_x4" / "a.png", lr)
    for folder, name in ((tmp_path / "plain", "plain"), (tmp_path / "Set" / "HR", "Set")):
        bench = BenchmarkSet(folder)
        assert (bench.name, len(bench), bench.lr_dir.name) == (name, 1, "LR_bicubic_x4")
        np.testing.assert_array_equal(next(iter(bench))[1], lr)


def test_an_lr_image_that_is_not_its_hrs_downscale_is_refused(tmp_path):
    """Same-size pairs were checked for size only: swapped names scored ~12 dB as if real, a grayscale LR beside
    a colour HR scored nearly the colour numbers, and an EXIF turn of a square photo scored 10 dB."""
    a, b = _rgb(48, 48), np.ascontiguousarray(_rgb(48, 48)[::-1, ::-1])
    _save(tmp_path / "S" / "HR" / "a.png", a)
    _save(tmp_path / "S" / "HR" / "b.png", b)
    _save(tmp_path / "S" / "LR_bicubic_x4" / "a.png", degrade_uint8(b, 4))  # swapped
    _save(tmp_path / "S" / "LR_bicubic_x4" / "b.png", degrade_uint8(a, 4))
    with pytest.raises(ValueError, match=r"LR_bicubic_x4/a.png: not the x4 downscale of a.png \(against its bicubic "
                                         r"downscale: PSNR-Y \d+\.\d dB, content correlation -?\d\.\d\d; an LR has "
                                         r">= 20 dB, and under 30 dB a correlation >= 0.7\): a swapped or misnamed "
                                         r"pair\?"):
        list(BenchmarkSet(tmp_path / "S"))
    _save(tmp_path / "S" / "LR_bicubic_x4" / "a.png", degrade_uint8(a, 4).mean(axis=2).round().astype(np.uint8))
    _save(tmp_path / "S" / "LR_bicubic_x4" / "b.png", degrade_uint8(b, 4))
    with pytest.raises(ValueError, match="a.png: LR is grayscale but its HR a.png is in colour"):
        list(BenchmarkSet(tmp_path / "S"))
    _save(tmp_path / "S" / "LR_bicubic_x4" / "a.png", degrade_uint8(a, 4))
    assert [name for name, _lr, _hr in BenchmarkSet(tmp_path / "S")] == ["a", "b"]
    _save(tmp_path / "T" / "HR" / "a.png", _rgb(48, 44))
    _save(tmp_path / "T" / "LR_bicubic_x4" / "a.png", degrade_uint8(_rgb(44, 48), 4))
    with pytest.raises(ValueError, match=r"not x4 of it \(turned: an EXIF orientation tag on one of them\?\)"):
        list(BenchmarkSet(tmp_path / "T"))


def test_a_swap_of_two_low_contrast_photos_is_refused_and_a_noisy_lr_is_not(shared_data, tmp_path):
    """BSD100's 3096 (a plane in the sky) and 196073 (a snake on sand) are alike enough that each one's LR is
    20.5 dB from the other's: over the 20 dB bar, the swap was scored (19.90 dB for bicubic). Their content
    hardly correlates (0.28). An LR with noise of sigma 30 (DN degradation) is 23-25 dB and correlates >= 0.83."""
    bsd = shared_data / "benchmarks" / "BSD100"
    for name in ("3096", "196073"):
        (tmp_path / "S" / "HR").mkdir(parents=True, exist_ok=True)
        (tmp_path / "S" / "HR" / f"{name}.png").write_bytes((bsd / "HR" / f"{name}.png").read_bytes())
    (tmp_path / "S" / "LR_bicubic_x4").mkdir()
    for name, other in (("3096", "196073"), ("196073", "3096")):
        (tmp_path / "S" / "LR_bicubic_x4" / f"{name}.png").write_bytes((bsd / "LR_bicubic_x4" / f"{other}.png")
                                                                        .read_bytes())
    with pytest.raises(ValueError, match=r"196073.png: not the x4 downscale of 196073.png \(against its bicubic "
                                         r"downscale: PSNR-Y 20.5 dB, content correlation 0.28;"):
        list(BenchmarkSet(tmp_path / "S"))
    rng = np.random.default_rng(0)
    for name in ("3096", "196073"):
        lr = read_rgb_uint8(bsd / "LR_bicubic_x4" / f"{name}.png").astype(np.float64)
        _save(tmp_path / "S" / "LR_bicubic_x4" / f"{name}.png",
              (lr + rng.normal(0, 30, lr.shape)).clip(0, 255).round().astype(np.uint8))
    assert [name for name, _lr, _hr in BenchmarkSet(tmp_path / "S")] == ["196073", "3096"]
    # A near-flat wall: its content is noise, so a good LR (Pillow's bicubic, 64 dB) correlated 0.43 and was
    # refused; a black LR of a dark low-contrast image was taken for flat and correlated 1.0
    wall = (180 + np.random.default_rng(1).normal(0, 1, (64, 64, 3))).round().astype(np.uint8)
    dark = (12 + 6 * np.random.default_rng(2).random((64, 64, 3))).round().astype(np.uint8)
    _save(tmp_path / "W" / "HR" / "wall.png", wall)
    pillow = np.asarray(Image.fromarray(wall).resize((16, 16), Image.BICUBIC))
    _save(tmp_path / "W" / "LR_bicubic_x4" / "wall.png", pillow)
    assert len(list(BenchmarkSet(tmp_path / "W"))) == 1
    _save(tmp_path / "D" / "HR" / "dark.png", dark)
    _save(tmp_path / "D" / "LR_bicubic_x4" / "dark.png", np.full((16, 16, 3), (2, 0, 0), np.uint8))  # flat, colour
    assert content_correlation(np.zeros((16, 16, 3), np.uint8), degrade_uint8(dark, 4)) == 0.0
    with pytest.raises(ValueError, match=r"dark.png: not the x4 downscale of dark.png .* correlation 0.00"):
        list(BenchmarkSet(tmp_path / "D"))
    assert content_correlation(np.zeros((3, 3, 3), np.uint8), np.ones((3, 3, 3), np.uint8)) == 1.0  # under a block


def test_degrade_names_an_output_name_too_long_before_any_work(tmp_path, capsys):
    """An LR folder name over 255 bytes was "[Errno 36] File name too long: '<whole path>/a.png'" from Path.is_file."""
    from srgan.cli import main

    _save(tmp_path / "HR" / "a.png", _rgb(16, 16))
    long = tmp_path / ("x" * 300) / "LR"
    assert main(["degrade", str(tmp_path / "HR"), "-o", str(long)]) == 1
    assert capsys.readouterr().err == f"srgan: error: {long / 'a.png'}: folder name too long (300 bytes; at most 255)\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["HR"]


def test_a_folder_of_sets_or_a_data_root_is_not_one_set(tmp_path, capsys):
    """`srgan eval --data <benchmarks folder>` merged Set5, Set14 and BSD100 into one row, made their LR anew
    (ignoring their LR folders); `--data <data root>` also took every training image: 10 minutes without a word."""
    from srgan.cli import main

    rng = np.random.default_rng(0)
    for name in ("Set5", "Set14"):
        _save(tmp_path / "root" / "benchmarks" / name / "HR" / "a.png", rng.integers(0, 256, (48, 48, 3), np.uint8))
    _save(tmp_path / "root" / "train" / "T91" / "t.png", rng.integers(0, 256, (48, 48, 3), np.uint8))
    sets, root = tmp_path / "root" / "benchmarks", tmp_path / "root"
    with pytest.raises(ValueError, match=rf"^{sets}: holds 2 benchmark sets \(Set14, Set5\), not one; pass each "
                                         rf"set's folder \(--data {sets / 'Set14'} \.\.\.\)$"):
        BenchmarkSet(sets)
    assert main(["eval", "--model", "bicubic", "--data", str(root)]) == 1
    assert capsys.readouterr().err == (f"srgan: error: {root}: a data root, not a benchmark set; pass --data-root "
                                       f"{root} with set names (--data Set5 Set14 BSD100)\n")
    assert [name for name, _lr, _hr in BenchmarkSet(sets / "Set5")] == ["a"]  # one set, as before
    assert main(["eval", "--model", "bicubic", "--data", "Set5", "Set14", "--data-root", str(root)]) == 0


def test_a_subfolder_of_saved_results_is_not_more_hr_images(shared_data, tmp_path, capsys):
    """plain/*.png = Set5 HR and plain/results_srresnet/*.png = SR outputs: eval scored 10 images (30.04 dB, not
    28.42) with keys such as results_srresnet/baby. Genuinely nested sets are still searched recursively."""
    from srgan.cli import main

    hr = sorted((shared_data / "benchmarks" / "Set5" / "HR").glob("*.png"))
    for path in hr:
        _save(tmp_path / "plain" / path.name, read_rgb_uint8(path))
        _save(tmp_path / "plain" / "results_srresnet" / path.name, read_rgb_uint8(path)[:-4])
    assert main(["eval", "--model", "bicubic", "--data", str(tmp_path / "plain")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "results_srresnet: 5 image(s) named after HR images in" in err, err
    assert "(baby, bird, butterfly, ...): saved results" in err
    # results named as SR methods name them are the same signature; a longer HR name takes its own results
    for path in (tmp_path / "plain" / "results_srresnet").iterdir():
        path.rename(path.with_name(f"{path.stem}_x4_SR.png"))
    with pytest.raises(ValueError, match="results_srresnet: 5 image"):
        BenchmarkSet(tmp_path / "plain")
    # nested sets whose subfolders share no names with the images above them stay recursive
    _save(tmp_path / "nested" / "top.png", _rgb(16, 16))
    _save(tmp_path / "nested" / "a" / "x.png", _rgb(16, 16))
    _save(tmp_path / "nested" / "b" / "x.png", _rgb(16, 16))  # siblings may share a name: a/x and b/x
    _save(tmp_path / "nested" / "b" / "topline.png", _rgb(16, 16))  # "top" + letters, not "top_": not a result
    assert [name for name, _p in BenchmarkSet(tmp_path / "nested").items] == ["a/x", "b/topline", "b/x", "top"]


def test_degrade_makes_lr_of_a_pool_with_edited_copies(tmp_path):
    """A pool's aug/0001_rot90.png beside 0001.png looks like saved results by name; degrade refused the whole pool,
    though it makes LR images of whatever it is given (only a set to be scored is checked)."""
    for path in ("0001.png", "0002.png", "aug/0001_rot90.png", "aug/0002_rot90.png"):
        _save(tmp_path / "pool" / path, _rgb(16, 16))
    written = degrade_folder(tmp_path / "pool", tmp_path / "lr")
    assert sorted(p.relative_to(tmp_path / "lr").as_posix() for p in written) == [
        "0001.png", "0002.png", "aug/0001_rot90.png", "aug/0002_rot90.png"]
    with pytest.raises(ValueError, match="aug: 2 image"):  # scored as a set, it is refused
        BenchmarkSet(tmp_path / "pool")
