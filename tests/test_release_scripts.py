"""How scripts/choose_release.py picks the SRGAN snapshot to ship (issue 15's gates)."""
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "choose_release.py"


@pytest.fixture(scope="module")
def choose():
    spec = importlib.util.spec_from_file_location("choose_release", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.choose


RESULTS = {
    "srresnet": {"psnr": 27.2, "niqe": 6.9, "checkerboard_db": 6.9},
    "gan_step_000100.safetensors": {"psnr": 26.9, "niqe": 5.5, "checkerboard_db": 7.0},
    "gan_step_000200.safetensors": {"psnr": 26.4, "niqe": 4.9, "checkerboard_db": 9.0},
    "gan_step_000300.safetensors": {"psnr": 25.9, "niqe": 4.4, "checkerboard_db": 9.5},
    "gan_step_000400.safetensors": {"psnr": 25.5, "niqe": 4.2, "checkerboard_db": 14.0},
}


def test_lowest_niqe_under_the_grid_gate(choose):
    assert choose(RESULTS) == {"srgan": "gan_step_000300.safetensors", "gate_db": 10.0, "psnr_floor": None,
                               "passed_gate": True}


def test_psnr_floor_excludes_snapshots_that_lost_too_much(choose):
    chosen = choose(RESULTS, max_psnr_loss=1.0)
    assert chosen["srgan"] == "gan_step_000200.safetensors"
    assert chosen["psnr_floor"] == pytest.approx(26.2)


def test_when_nothing_passes_the_lowest_niqe_is_taken_and_flagged(choose):
    chosen = choose(RESULTS, max_psnr_loss=0.1)
    assert (chosen["srgan"], chosen["passed_gate"]) == ("gan_step_000400.safetensors", False)
