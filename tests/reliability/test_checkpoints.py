"""Catalogue: weights and checkpoint files that cannot be used, for ``upscale``, ``eval`` and ``train --resume``.

Every bad file is one ``srgan: error: <file>: ...`` line and exit 1 before any work; nothing is unpickled
that is not plain data (``torch.load(weights_only=True)``); the run folder is left byte for byte as it was.
"""
from __future__ import annotations

import os
import shutil

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from srgan import Discriminator, save_generator
from srgan.checkpoint import load_checkpoint
from support import copy_run, only_error, rgb, save, snapshot, tiny_generator, train_args, upscale_args


def _truncate(path, dest=None):
    data = path.read_bytes()
    dest = dest or path
    tmp = dest.with_name(dest.name + ".new")
    tmp.write_bytes(data[: len(data) // 2])
    os.replace(tmp, dest)  # a new file: a hard-linked twin (step_*.pt of last.pt) keeps its bytes
    return dest


@pytest.fixture
def photo(tmp_path):
    return save(tmp_path / "in" / "photo.png", rgb(6, 5, seed=1))


@pytest.fixture
def bench(tmp_path):
    save(tmp_path / "Set" / "HR" / "a.png", rgb(32, 32, seed=2))
    return tmp_path / "Set"


def test_truncated_checkpoint_for_upscale(cli, photo, trained_run, tmp_path):
    ckpt = _truncate(trained_run / "last.pt", tmp_path / "half.pt")
    result = cli(*upscale_args(photo, tmp_path / "out", ckpt))
    only_error(result, os.fspath(ckpt), "cannot load checkpoint")
    assert not any((tmp_path / "out").glob("*"))


def test_truncated_safetensors_for_upscale(cli, photo, weights, tmp_path):
    cut = _truncate(weights, tmp_path / "half.safetensors")
    result = cli(*upscale_args(photo, tmp_path / "out", cut))
    only_error(result, os.fspath(cut), "not a readable safetensors file")


def test_empty_safetensors_says_it_is_empty(cli, photo, tmp_path):
    """An empty .pt said "empty file (0 bytes)"; an empty .safetensors said safetensors' "header too small"."""
    (tmp_path / "empty.safetensors").write_bytes(b"")
    for extra in ((), ("--precision", "int8")):  # the int8 path reads the file's metadata first
        result = cli(*upscale_args(photo, tmp_path / "out", tmp_path / "empty.safetensors"), *extra)
        only_error(result, "empty.safetensors: not a readable safetensors file (empty file, 0 bytes)")


def test_a_checkpoint_renamed_to_safetensors_says_so(cli, photo, trained_run, train_data, tmp_path):
    """It was safetensors' "Error while deserializing header: header too large"."""
    renamed = tmp_path / "model.safetensors"
    renamed.write_bytes((trained_run / "last.pt").read_bytes())
    needle = f"{renamed}: a torch.save file named .safetensors; rename it to .pt"
    only_error(cli(*upscale_args(photo, tmp_path / "out", renamed)), needle)
    only_error(cli(*train_args(train_data, tmp_path / "run", f"init_from={renamed}")), needle)


def test_truncated_checkpoint_for_eval(cli, bench, trained_run, tmp_path):
    ckpt = _truncate(trained_run / "step_000002.pt", tmp_path / "half.pt")
    result = cli("eval", "--model", ckpt, "--data", bench, "--device", "cpu", "--json", tmp_path / "r.json")
    only_error(result, os.fspath(ckpt), "cannot load checkpoint")
    assert not (tmp_path / "r.json").exists()


def test_truncated_last_checkpoint_for_resume(cli, trained_run, train_data, tmp_path):
    """A damaged last.pt stops --resume with its name; nothing in the run folder changes; an older one resumes."""
    run = copy_run(trained_run, tmp_path / "run")
    _truncate(run / "last.pt")
    before = snapshot(run)
    result = cli(*train_args(train_data, run, "steps=6", resume="last"))
    only_error(result, os.fspath(run / "last.pt"), "cannot load checkpoint")
    assert snapshot(run) == before
    result = cli(*train_args(train_data, run, "steps=6", resume=str(run / "step_000004.pt")))
    assert result.code == 0, result.err
    assert load_checkpoint(run / "last.pt")["step"] == 6


@pytest.mark.parametrize("edit, what", [(lambda s: s.pop("rng"), "rng"), (lambda s: s.update(optimizer_g=5), "optimizer_g"),
                                        (lambda s: s.update(step="4"), "step"), (lambda s: s.update(step=-1), "step")],
                         ids=["no rng", "optimizer_g=5", "step='4'", "step=-1"])
def test_a_checkpoint_missing_part_of_its_state_is_named(cli, trained_run, train_data, tmp_path, edit, what):
    """A hand-edited or foreign checkpoint failed with "KeyError: 'rng' (rerun with --debug ...)" or "'>=' not
    supported between 'str' and 'int'", after the data was decoded."""
    run = copy_run(trained_run, tmp_path / "run")
    state = load_checkpoint(run / "step_000004.pt")
    edit(state)
    (run / "last.pt").unlink()
    torch.save(state, run / "last.pt")
    before = snapshot(run)
    only_error(cli(*train_args(train_data, run, "steps=6", resume="last")),
               f"--resume: {run / 'last.pt'} is damaged: {what} missing or of the wrong kind")
    assert snapshot(run) == before


class RunsCode:
    """Unpickling this runs ``exec``: it writes a marker file (what a malicious checkpoint would do)."""

    def __init__(self, marker):
        self.marker = os.fspath(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


@pytest.mark.parametrize("command", ["upscale", "eval", "train --resume", "train init_from"])
def test_pickle_that_would_run_code_is_refused(cli, command, photo, bench, trained_run, train_data, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "model.pt"
    torch.save({"format": "srgan-train-v1", "step": 1, "generator": RunsCode(marker)}, evil)
    if command == "upscale":
        args = upscale_args(photo, tmp_path / "out", evil)
    elif command == "eval":
        args = ["eval", "--model", evil, "--data", bench, "--device", "cpu"]
    elif command == "train --resume":
        args = train_args(train_data, tmp_path / "run", "steps=6", resume=str(evil))
    else:
        args = train_args(train_data, tmp_path / "run", "phase=gan", f"init_from={evil}", "crop_size=96")
    result = cli(*args)
    only_error(result, os.fspath(evil), "plain data (exec); refused for safety")
    assert not marker.exists() and not (tmp_path / "run").exists()
    torch.load(evil, weights_only=False)  # proof that the file was live: plain unpickling runs its code
    assert marker.read_text() == "pwned"


def test_state_dict_for_another_architecture(cli, photo, tmp_path):
    """Weights whose keys do not fit a Generator: the message names what is missing and what is extra."""
    state = tiny_generator().state_dict()
    del state["body.0.bn2.running_mean"]
    state["body.0.attention.weight"] = torch.zeros(8)
    torch.save(state, tmp_path / "other.pth")
    result = cli(*upscale_args(photo, tmp_path / "out", tmp_path / "other.pth"))
    only_error(result, os.fspath(tmp_path / "other.pth"), "weights do not fit Generator",
               "missing body.0.bn2.running_mean", "unexpected body.0.attention.weight")


def test_safetensors_metadata_for_another_size(cli, photo, tmp_path):
    """The file says channels=16 but holds 8-channel weights: every mismatched shape is listed by name."""
    state = {k: v.contiguous() for k, v in tiny_generator().state_dict().items()}
    path = tmp_path / "liar.safetensors"
    save_file(state, path, metadata={"format": "srgan-generator", "scale": "4", "num_blocks": "1", "channels": "16"})
    result = cli(*upscale_args(photo, tmp_path / "out", path))
    only_error(result, os.fspath(path), "shape mismatch", "head.0.weight (8, 3, 9, 9) vs (16, 3, 9, 9)")


def test_discriminator_weights_given_as_the_model(cli, photo, tmp_path):
    torch.save(Discriminator().state_dict(), tmp_path / "disc.pth")
    result = cli(*upscale_args(photo, tmp_path / "out", tmp_path / "disc.pth"))
    only_error(result, os.fspath(tmp_path / "disc.pth"), "not an srgan Generator state dict")


def test_model_for_another_scale_in_eval(cli, bench, tmp_path):
    x2 = save_generator(tiny_generator(scale=2), tmp_path / "x2.safetensors")
    result = cli("eval", "--model", x2, "--data", bench, "--device", "cpu", "--scale", "4")
    only_error(result, os.fspath(x2), "the model upscales x2 but --scale is 4")


def test_gan_start_from_a_checkpoint_of_another_scale(cli, trained_run, train_data, tmp_path):
    """init_from an x4 run with scale=2: refused before the discriminator is even built; no run folder."""
    result = cli(*train_args(train_data, tmp_path / "gan", "phase=gan", f"init_from={trained_run / 'last.pt'}",
                             "scale=2", "crop_size=96"))
    only_error(result, "config 'init_from'", os.fspath(trained_run / "last.pt"), "'scale': 4", "'scale': 2")
    assert not (tmp_path / "gan").exists()


def test_model_path_is_a_folder(cli, photo, weights, tmp_path):
    (tmp_path / "weights.safetensors").mkdir()
    result = cli(*upscale_args(photo, tmp_path / "out", tmp_path / "weights.safetensors"))
    only_error(result, "weights.safetensors", "no such weights file (a folder, not a training run's)")
    # a run folder, as --resume takes one, is its generator.safetensors (it was "no such weights file")
    (tmp_path / "run").mkdir()
    shutil.copy(weights, tmp_path / "run" / "generator.safetensors")
    result = cli(*upscale_args(photo, tmp_path / "by_run.png", tmp_path / "run"))
    assert result.code == 0, result.err
    assert cli(*upscale_args(photo, tmp_path / "by_file.png", weights)).code == 0
    assert (tmp_path / "by_run.png").read_bytes() == (tmp_path / "by_file.png").read_bytes()
    (tmp_path / "model.onnx").write_bytes(b"\x08\x08\x12\x07pytorch")  # an ONNX protobuf's first bytes
    only_error(cli(*upscale_args(photo, tmp_path / "o.png", tmp_path / "model.onnx")), "model.onnx",
               "an ONNX model, which onnxruntime or OpenVINO runs; srgan reads its own weights")
    # a mistyped --model was hidden behind "already exists; not overwritten" when the output was there
    only_error(cli(*upscale_args(photo, tmp_path / "by_file.png", tmp_path / "nonexist.safetensors")),
               "nonexist.safetensors: no such weights file;")


@pytest.mark.parametrize("layout", ["bare state dict", "training checkpoint"])
def test_ddp_checkpoint_with_module_prefixes(cli, photo, weights, tmp_path, layout):
    """Weights saved from a DistributedDataParallel (or torch.compile) wrapper load as the plain model."""
    state = {f"module.{k}": v for k, v in tiny_generator().state_dict().items()}  # the weights of `weights`
    ddp = tmp_path / "ddp.pt"
    torch.save(state if layout == "bare state dict" else {"generator": state, "step": 7}, ddp)
    assert cli(*upscale_args(photo, tmp_path / "plain", weights)).code == 0
    result = cli(*upscale_args(photo, tmp_path / "ddp", ddp))
    assert result.code == 0 and result.err == ""
    assert (tmp_path / "ddp" / "photo.png").read_bytes() == (tmp_path / "plain" / "photo.png").read_bytes()
    with Image.open(tmp_path / "ddp" / "photo.png") as im:
        assert im.size == (20, 24)
