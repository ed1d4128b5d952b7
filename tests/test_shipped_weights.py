"""The shipped generators reproduce every number README.md and docs/RESULTS.md claim for them (issue 15)."""
import pytest
from safetensors import safe_open

from srgan.evaluate import evaluate
from srgan.shipped import weights_file

# docs/perception_distortion.json (RESULTS.md and the README round these): PSNR (dB) / SSIM on Y and NIQE of
# the SR outputs, x4, 4-px border, fp32 on the CPU.
RESULTS = {
    ("srresnet", "Set5"): (31.3228, 0.88034, 8.5901), ("srresnet", "Set14"): (28.0720, 0.76668, 6.4672),
    ("srresnet", "BSD100"): (27.2612, 0.72307, 6.8668),
    ("srgan", "Set5"): (29.5186, 0.83210, 5.3754), ("srgan", "Set14"): (26.9217, 0.73181, 4.4100),
    ("srgan", "BSD100"): (26.5282, 0.69614, 4.5957),
}


@pytest.mark.parametrize("model, bench", list(RESULTS), ids=lambda v: str(v))
def test_shipped_weights_reproduce_results(shared_data, model, bench):
    result = evaluate(model, [shared_data / "benchmarks" / bench], scale=4, device="cpu",
                      metrics="psnr,ssim,niqe")[bench]
    psnr, ssim, niqe = RESULTS[model, bench]
    assert result["psnr"] == pytest.approx(psnr, abs=1e-3)
    assert result["ssim"] == pytest.approx(ssim, abs=2e-5)
    assert result["niqe"] == pytest.approx(niqe, abs=1e-3)


def test_the_pinned_numbers_keep_the_bars():
    """Bars the shipped pair must keep, checked on the pinned numbers (which the test above reproduces), so that
    weights pinned with worse numbers fail here: issue 6's SRResNet PSNR, issue 15's SRGAN Set5 PSNR and BSD100
    NIQE. (As a check after each reproduction, they followed from it and could not fail.)"""
    bars = {("srresnet", "Set5"): 31.0, ("srresnet", "BSD100"): 26.9, ("srgan", "Set5"): 29.5}
    assert all(RESULTS[key][0] >= psnr for key, psnr in bars.items())
    assert RESULTS["srgan", "BSD100"][2] <= 4.8


@pytest.mark.parametrize("name", ["srresnet", "srgan"])
def test_shipped_files_are_small_and_described(name):
    path = weights_file(name)
    assert path.stat().st_size <= 7 * 1024 * 1024
    with safe_open(path, framework="pt") as handle:
        meta = handle.metadata()
    assert (meta["scale"], meta["num_blocks"], meta["channels"]) == ("4", "16", "64")
    assert meta["phase"] == {"srresnet": "mse", "srgan": "gan"}[name]
