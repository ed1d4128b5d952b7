"""DDP on CPU (gloo, 2 processes via torchrun) against one process, and the sharding it relies on.

What the comparison proves, precisely: with W ranks, DDP averages per-rank gradients, each computed with
BatchNorm statistics of that rank's ``batch_size / W`` samples (SyncBatchNorm is CUDA-only). One process with
``grad_accum=W`` computes exactly that average (each micro-batch normalised by its own statistics) from the
same samples. So 2 gloo ranks must match 1 process with grad_accum=2 up to float summation order; the plain
1-process batch (full-batch BN statistics) is a genuinely different update, and the test checks that it is
measurably further away.

Float summation order depends on the number of threads (oneDNN splits reductions per thread), and Adam
divides each gradient by its own magnitude, so thread-count rounding in near-zero gradients shows up as
~1e-4 weight differences after a few steps. torchrun gives each rank one thread; with the reference run
on one thread too the two agree bit for bit (``torch.equal``), which is what the tests assert: the
tolerance is zero.
"""
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from srgan.batches import StepBatches
from srgan.checkpoint import load_checkpoint, save_generator
from srgan.config import load_config
from srgan.distributed import DistInfo
from srgan.models import Generator
from srgan.pipeline import one_thread
from srgan.train import train
from srgan.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp_images")
    rng = np.random.default_rng(1)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def common(images, out_dir, *extra):
    return [f"train_data={images}", f"out_dir={out_dir}", "cache=false", "progress=false", "tensorboard=false",
            "device=cpu", "batch_size=4", "checkpoint_every=1000", "log_every=1", *extra]


def torchrun(args):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "srgan", "train", "--config", "smoke", *args]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def params(path, key):
    state = load_checkpoint(path)[key]
    return {k: v for k, v in state.items() if v.is_floating_point() and "running" not in k}


def max_diff(a, b):
    return max((a[k] - b[k]).abs().max().item() for k in a)


def test_ranks_split_the_global_batch_and_resume_anywhere():
    one = StepBatches(7, 4, seed=3, start=0, stop=6)
    ranks = [StepBatches(7, 4, seed=3, start=0, stop=6, rank=r, world_size=2) for r in (0, 1)]
    for step in range(6):
        assert ranks[0].batch(step) + ranks[1].batch(step) == one.batch(step)
    assert list(StepBatches(7, 4, seed=3, start=4, stop=6)) == list(one)[4:]
    epoch0 = [i for step in range(7) for e, i in one.batch(step) if e == 0]
    assert sorted(epoch0) == list(range(7))  # each epoch is a permutation of the samples


def test_label_noise_slices_match_the_global_draw():
    """Rank r skips r * local draws, so the ranks' noise is the 1-process draw, in order; it follows the step."""
    def noise(step, rank, world_size, local_batch):
        trainer = SimpleNamespace(config=SimpleNamespace(seed=5), step=step,
                                  info=DistInfo(rank=rank, world_size=world_size))
        return torch.rand(local_batch, generator=Trainer._label_noise_generator(trainer, local_batch))

    whole = noise(7, 0, 1, 4)
    assert torch.equal(torch.cat([noise(7, rank, 2, 2) for rank in (0, 1)]), whole)
    assert not torch.equal(noise(8, 0, 1, 4), whole)


def test_mse_two_gloo_ranks_match_one_process(images, tmp_path):
    steps = ["steps=3"]
    torchrun(common(images, tmp_path / "ddp", *steps))
    with one_thread():
        train(load_config("smoke", common(images, tmp_path / "accum", *steps, "grad_accum=2")))
        train(load_config("smoke", common(images, tmp_path / "plain", *steps)))
    ddp = params(tmp_path / "ddp" / "last.pt", "generator")
    accum = params(tmp_path / "accum" / "last.pt", "generator")
    assert all(torch.equal(ddp[k], accum[k]) for k in ddp)
    assert max_diff(ddp, params(tmp_path / "plain" / "last.pt", "generator")) > 1e-5  # full-batch BN differs
    state = load_checkpoint(tmp_path / "ddp" / "last.pt")
    assert not any(k.startswith("module.") for k in state["generator"])
    log = (tmp_path / "ddp" / "log.jsonl").read_text().splitlines()
    assert len(log) == 3  # rank 0 alone logs


def test_gan_two_gloo_ranks_match_one_process(images, tmp_path):
    init = tmp_path / "init.safetensors"
    torch.manual_seed(0)
    save_generator(Generator(4, 2, 16), init)
    steps = ["phase=gan", f"init_from={init}", "steps=2"]
    torchrun(common(images, tmp_path / "ddp", *steps))
    with one_thread():
        train(load_config("smoke", common(images, tmp_path / "accum", *steps, "grad_accum=2")))
    for key in ("generator", "discriminator"):
        a = params(tmp_path / "ddp" / "last.pt", key)
        b = params(tmp_path / "accum" / "last.pt", key)
        assert all(torch.equal(a[k], b[k]) for k in a), (key, max_diff(a, b))



def test_an_error_on_rank_0_alone_ends_the_run_at_once(images, tmp_path):
    """Rank 0 cannot take the run folder's lock (another process holds it) while rank 1 goes on into DDP: the
    error used to be followed by a barrier that waited 30 minutes for rank 1, without printing the error."""
    import fcntl

    out = tmp_path / "busy"
    out.mkdir()
    with open(out / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("12345 elsewhere\n")
        held.flush()
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "srgan", "train", "--config", "smoke", *common(images, out, "steps=2")]
        result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert result.returncode != 0 and f"out_dir {out} is in use by another srgan train" in result.stderr

def test_stop_flag_is_reduced_on_the_training_device(monkeypatch):
    """NCCL reduces only CUDA tensors: the stop flag must be made on the training device, not the CPU."""
    from srgan import train as train_module
    from srgan.distributed import DistInfo

    seen = []  # the device of each tensor reduced; the fake reduction says another rank got a signal
    monkeypatch.setattr(train_module.ddp, "all_reduce_mean", lambda values, info: seen.append(values.device) or torch.ones(1))
    assert train_module._agreed_stop(False, DistInfo(0, 2, 0), torch.device("meta")) is True
    assert seen == [torch.device("meta")]
