"""srgan.backproject: the correction tiles exactly, makes the output agree with its input, and its benchmark gain."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import srgan
from srgan.backproject import BackProjected
from srgan.cli import main
from srgan.evaluate import evaluate
from srgan.imresize import imresize
from srgan.models import Generator
from srgan.engines import prepare
from srgan.upscaling import upscale_planes


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return Generator(num_blocks=2, channels=8).eval()


@pytest.mark.parametrize("tile", [5, 13, 40])
def test_back_projected_tiles_equal_the_whole_image(tiny_model, tile):
    engine = prepare(tiny_model, "cpu", "fp32", back_project=True)
    x = torch.rand(3, 130, 150, generator=torch.Generator().manual_seed(1))
    whole, _ = upscale_planes(engine, x, tile=0, out="float32")
    tiled, _ = upscale_planes(engine, x, tile=tile, out="float32")
    assert np.abs(tiled - whole).max() <= 1e-5


def test_output_agrees_with_the_input_far_better(tiny_model):
    """down(SR) - LR shrinks to what one step leaves, (I - down(up)) of it: the low frequencies are the input's."""
    photo = np.asarray(Image.open(Path(srgan.__file__).parent / "samples" / "astronaut.png").convert("RGB"))
    lr = imresize(torch.from_numpy(photo[:160, :192].astype(np.float32) / 255).permute(2, 0, 1)[None], 0.25)
    with torch.inference_mode():
        plain = tiny_model(lr).clamp(0, 1)
        corrected = BackProjected(tiny_model, 4, radius=0)(lr)
    before = (imresize(plain, 0.25) - lr)[..., 4:-4, 4:-4].abs().mean()
    after = (imresize(corrected, 0.25) - lr)[..., 4:-4, 4:-4].abs().mean()
    assert after < 0.25 * before


def test_float_output_stays_in_range_at_sharp_edges(tiny_model):
    """A black square on white overshot to -0.27..1.08 as float output; upscale() then refused it as input."""
    a = np.ones((16, 16, 3), np.float32)
    a[4:12, 4:12] = 0
    y = srgan.upscale(a, tiny_model, device="cpu", precision="fp32", back_project=True)
    assert y.dtype == np.float32 and y.min() >= 0 and y.max() <= 1
    assert srgan.upscale(y, tiny_model, device="cpu", precision="fp32").shape == (256, 256, 3)
    with torch.inference_mode():  # the whole range is still used: clamped, not squeezed
        noise = (torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2)) > 0.5).float()
        out = BackProjected(tiny_model, 4, radius=0)(noise)
    assert out.min().item() == 0 and out.max().item() == 1


def test_api_and_cli_give_the_same_image_and_refuse_what_cannot_be_back_projected(tiny_model, tmp_path):
    from srgan.checkpoint import save_generator

    photo = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "in.png")
    weights = save_generator(tiny_model, tmp_path / "tiny.safetensors")
    api = srgan.upscale(photo, model=tiny_model, device="cpu", precision="fp32", back_project=True)
    assert not np.array_equal(api, srgan.upscale(photo, model=tiny_model, device="cpu", precision="fp32"))
    assert main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "-n", str(weights),
                 "--device", "cpu", "--precision", "fp32", "--back-project"]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), api)
    # An engine is back-projected or not from prepare(); upscale() asks it as prepare(engine, ...) does. It
    # used to refuse back_project=True even for an engine prepared with it.
    with pytest.raises(ValueError, match="prepared for cpu, fp32; for back-projection prepare another"):
        srgan.upscale(photo, model=prepare(tiny_model, "cpu", "fp32"), back_project=True)
    engine = prepare(tiny_model, "cpu", "fp32", back_project=True)
    assert np.array_equal(srgan.upscale(photo, model=engine, back_project=True), api)
    with pytest.raises(ValueError, match="torch backend, not int8 or OpenVINO"):
        prepare("srresnet", "cpu", "int8", back_project=True)


def test_shipped_srgan_gains_on_set5(shared_data):
    """docs/RESULTS.md's back-projection table, Set5 row (fp32 on the CPU)."""
    plain = evaluate("srgan", [shared_data / "benchmarks" / "Set5"], device="cpu")["Set5"]
    fixed = evaluate("srgan", [shared_data / "benchmarks" / "Set5"], device="cpu", back_project=True)["Set5"]
    assert plain["psnr"] == pytest.approx(29.5186, abs=1e-3)
    assert fixed["psnr"] == pytest.approx(29.75, abs=0.01) and fixed["ssim"] == pytest.approx(0.8358, abs=1e-4)


def test_eval_back_projects_bicubic_in_float64_as_labelled():
    """`srgan eval --model bicubic --back-project` said fp64, but the wrapper hid the bicubic from eval's float64
    path, so it ran in float32."""
    from srgan.evaluate import super_resolve
    from srgan.loading import resolve_model

    bicubic = resolve_model("bicubic", "cpu")
    seen = []
    forward = bicubic.forward
    bicubic.forward = lambda x: seen.append(x.dtype) or forward(x)
    lr = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    out = super_resolve(BackProjected(bicubic, 4, radius=0), lr, "cpu")
    assert seen == [torch.float64] and out.shape == (48, 40, 3) and out.dtype == np.uint8
