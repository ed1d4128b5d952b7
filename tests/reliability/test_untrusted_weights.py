"""Catalogue: weights files are untrusted input, for every loader (``upscale``, ``eval``, ``init_from``, ``export``).

A file is checked against the Generator it claims to be before anything is built: metadata values are whole
numbers within bounds, every tensor name and shape fits, no tensor holds NaN or Inf, and a ``.pt`` zip may not
inflate past its own size. Each refusal is one ``srgan: error: <file>: ...`` line, with no warning beside it.
"""
from __future__ import annotations

import io
import os
import zipfile

import pytest
import torch
from safetensors.torch import save_file

from srgan.models import Generator
from support import only_error, rgb, save, tiny_generator, train_args, upscale_args


@pytest.fixture
def photo(tmp_path):
    return save(tmp_path / "in" / "photo.png", rgb(6, 5, seed=1))


def _loader_args(command, model, photo, tmp_path, train_data):
    if command == "upscale":
        return upscale_args(photo, tmp_path / "out", model)
    if command == "eval":
        save(tmp_path / "Set" / "HR" / "a.png", rgb(32, 32, seed=2))
        return ["eval", "--model", model, "--data", tmp_path / "Set", "--device", "cpu"]
    if command == "init_from":
        return train_args(train_data, tmp_path / "run", "phase=gan", f"init_from={model}", "crop_size=96")
    return ["export", "--model", model, "--onnx", tmp_path / "g.onnx"]


def _tiny_state():
    return {k: v.contiguous() for k, v in tiny_generator().state_dict().items()}


@pytest.fixture
def no_big_generator(monkeypatch):
    """Fails the test if a Generator beyond the paper's size is built on a real device (meta is free)."""
    real_init = Generator.__init__

    def init(self, scale=4, num_blocks=16, channels=64):
        if torch.get_default_device().type != "meta" and (num_blocks > 16 or channels > 64):
            raise AssertionError(f"Generator(num_blocks={num_blocks}, channels={channels}) built before checking")
        real_init(self, scale, num_blocks, channels)

    monkeypatch.setattr(Generator, "__init__", init)


@pytest.mark.parametrize("metadata, needles", [
    ({"num_blocks": "1000000", "channels": "100000"}, ["num_blocks 1000000 is outside 1..256",
                                                       "refused before building anything"]),
    ({"channels": "4096"}, ["channels 4096 is outside 1..1024"]),
    ({"channels": "64.5"}, ["metadata 'channels' is not a whole number: '64.5'"]),
    ({"scale": "x4"}, ["metadata 'scale' is not a whole number: 'x4'"]),
    ({"scale": "3"}, ["scale 3 is not one of (2, 4, 8)"]),
    ({"num_blocks": "200"}, ["weights do not fit Generator(scale=4, num_blocks=200, channels=8)",
                             "missing body.1."]),
], ids=["absurd size", "too wide", "not a whole number", "not a number", "scale 3", "more blocks than tensors"])
def test_metadata_is_checked_before_anything_is_built(cli, photo, tmp_path, no_big_generator, metadata, needles):
    """A 44 KB file whose metadata claims an absurd network is refused at once (it used to build it first)."""
    path = tmp_path / "claims.safetensors"
    save_file(_tiny_state(), path, metadata={"format": "srgan-generator", "scale": "4", "num_blocks": "1",
                                             "channels": "8", **metadata})
    only_error(cli(*upscale_args(photo, tmp_path / "out", path)), os.fspath(path), *needles)
    assert not list(tmp_path.glob("out/*"))


def test_state_dict_claiming_an_absurd_depth_is_refused(cli, photo, tmp_path, no_big_generator):
    """A .pt whose tensor names claim 10000 blocks (each a tiny tensor) is refused before the network is built."""
    state = _tiny_state()
    state.update({f"body.{i}.conv1.weight": torch.zeros(1) for i in range(1, 10000)})
    torch.save(state, tmp_path / "deep.pt")
    only_error(cli(*upscale_args(photo, tmp_path / "out", tmp_path / "deep.pt")), os.fspath(tmp_path / "deep.pt"),
               "num_blocks 10000 is outside 1..256")


@pytest.mark.parametrize("command", ["upscale", "eval", "init_from", "export"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["NaN", "Inf"])
def test_nonfinite_weights_are_refused(cli, photo, train_data, tmp_path, command, value):
    """NaN/Inf weights used to give an all-black image and exit 0; now every loader refuses them by name."""
    state = _tiny_state()
    state["body.0.conv1.weight"][0, 0, 0, 0] = value
    path = tmp_path / "poisoned.safetensors"
    save_file(state, path)
    result = cli(*_loader_args(command, path, photo, tmp_path, train_data))
    only_error(result, os.fspath(path), "weights hold NaN or Inf values (in body.0.conv1.weight); refused")
    assert not list(tmp_path.glob("out/*")) and not (tmp_path / "run").exists() and not (tmp_path / "g.onnx").exists()


def test_nonfinite_weights_in_a_training_checkpoint_are_refused(cli, photo, trained_run, tmp_path):
    state = torch.load(trained_run / "last.pt", weights_only=True)
    state["generator"]["tail.bias"][1] = float("nan")
    torch.save(state, tmp_path / "nan.pt")
    only_error(cli(*upscale_args(photo, tmp_path / "out", tmp_path / "nan.pt")), os.fspath(tmp_path / "nan.pt"),
               "weights hold NaN or Inf values (in tail.bias)")


def _zip_bomb(path):
    """A 34 KB .pt whose deflated zip record inflates to 32 MB (a larger ratio makes the same file gigabytes)."""
    buffer = io.BytesIO()
    torch.save({"big": torch.zeros(8 << 20)}, buffer)
    plain = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in plain.infolist():
            archive.writestr(info.filename, plain.read(info.filename))
    assert path.stat().st_size < 64 << 10
    return path


def test_zip_bomb_checkpoint_is_refused_before_inflating(cli, photo, tmp_path):
    """Refused from the zip directory alone; torch would inflate it."""
    bomb = _zip_bomb(tmp_path / "bomb.pt")
    only_error(cli(*upscale_args(photo, tmp_path / "out", bomb)), os.fspath(bomb), "cannot load checkpoint",
               "would inflate to 33,55", "(torch.save does not compress); refused")


def test_zip_bomb_vgg_or_lpips_weights_are_refused_before_inflating(tmp_path, monkeypatch):
    """VGG19 and LPIPS files (a config's vgg_weights, $TORCH_HOME) were loaded without the checkpoints' check."""
    from srgan.pretrained import load_state_dict_file

    bomb = _zip_bomb(tmp_path / "vgg19.pth")
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load was called"))
    with pytest.raises(ValueError, match=rf"^{bomb}: cannot read VGG19 weights: its zip records would inflate to "
                                         r"33,55\d,\d+ bytes from a [\d,]+-byte file \(torch.save does not compress\); "
                                         r"refused$"):
        load_state_dict_file(bomb, "VGG19")


def test_non_tensor_values_in_a_state_dict(cli, photo, tmp_path):
    state = dict(tiny_generator().state_dict(), note="trained on my laptop")
    torch.save(state, tmp_path / "odd.pt")
    only_error(cli(*upscale_args(photo, tmp_path / "out", tmp_path / "odd.pt")), os.fspath(tmp_path / "odd.pt"),
               "not a state dict of tensors (note are not tensors)")
