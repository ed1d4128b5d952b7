import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from srgan import Generator, load_generator, save_generator
from srgan.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, strip_prefixes


def small_generator(seed=0, **kw):
    torch.manual_seed(seed)
    g = Generator(num_blocks=kw.get("num_blocks", 2), channels=kw.get("channels", 8), scale=kw.get("scale", 4))
    for m in g.modules():  # non-default BN stats so a lost buffer would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return g.eval()


def same_output(a, b):
    x = torch.rand(1, 3, 10, 12)
    with torch.no_grad():
        return torch.equal(a(x), b(x))


def test_safetensors_round_trip_keeps_architecture(tmp_path):
    g = small_generator(scale=2, num_blocks=3, channels=8)
    path = save_generator(g, tmp_path / "g.safetensors", metadata={"steps": 5, "note": "test"})
    loaded = load_generator(path)
    assert loaded.architecture == {"scale": 2, "num_blocks": 3, "channels": 8}
    assert same_output(g, loaded) and not loaded.training


def test_save_generator_refuses_what_no_loader_would_read_back(tmp_path):
    """Each of these was written without a word, and then refused or misread by every loader."""
    from srgan import Discriminator
    from srgan.inference import fast_generator

    g = small_generator()
    with pytest.raises(ValueError, match=r"m.pt: generator weights are safetensors; name the file .safetensors"):
        save_generator(g, tmp_path / "m.pt")  # safetensors bytes under .pt: "not a torch.save file"
    with pytest.raises(ValueError, match="metadata 'scale' is written by save_generator itself"):
        save_generator(g, tmp_path / "m.safetensors", metadata={"scale": 2})  # it replaced the architecture
    with pytest.raises(TypeError, match="saves an srgan Generator, got FastGenerator"):
        save_generator(fast_generator(g), tmp_path / "m.safetensors")
    with pytest.raises(TypeError, match="saves an srgan Generator, got Discriminator"):  # an AttributeError
        save_generator(Discriminator(), tmp_path / "m.safetensors")

    class WithSkip(Generator):  # a researcher's variant: same weights, another forward
        def forward(self, lr):
            return super().forward(lr) * 0.5

    with pytest.raises(TypeError, match="got WithSkip; a subclass would load back as the plain Generator"):
        save_generator(WithSkip(scale=4, num_blocks=1, channels=8), tmp_path / "m.safetensors")
    variant = WithSkip(scale=4, num_blocks=1, channels=8).eval()
    assert type(fast_generator(variant)) is WithSkip  # its own forward runs, in upscale too
    import srgan

    x = torch.rand(3, 12, 10)
    with torch.no_grad():
        own = variant(x[None])[0]
    assert (srgan.upscale(x, model=variant, precision="fp32", tile=0) - own).abs().max() < 1e-5
    with torch.no_grad():
        g.tail.bias[0] = float("nan")
    with pytest.raises(CheckpointError, match=r"m.safetensors: weights hold NaN or Inf values \(in tail.bias\)"):
        save_generator(g, tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_a_long_list_of_bad_tensors_names_four_and_counts_the_rest():
    from srgan.checkpoint import refuse_nonfinite

    state = {f"body.{i}.weight": torch.tensor([float("nan")]) for i in range(6)}
    with pytest.raises(CheckpointError, match=r"^m: weights hold NaN or Inf values \(in body.0.weight, body.1.weight, "
                                              r"body.2.weight, body.3.weight \(\+2 more\)\); refused$"):
        refuse_nonfinite(state, "m")


def test_load_generator_reads_an_upper_case_name_and_checks_the_device_first(tmp_path):
    g = small_generator()
    path = save_generator(g, tmp_path / "G.safetensors").rename(tmp_path / "G.SAFETENSORS")
    assert same_output(g, load_generator(path))  # it went to torch.load: "not a torch.save file"
    with pytest.raises(ValueError, match="device must be one of .* got 'gpu'"):  # torch's list of every device type
        load_generator(path, device="gpu")


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod.", "module._orig_mod."])
def test_prefixed_state_dicts_load(tmp_path, prefix):
    g = small_generator()
    path = tmp_path / "g.pth"
    torch.save({prefix + k: v for k, v in g.state_dict().items()}, path)
    assert same_output(g, load_generator(path))


def test_training_checkpoint_loads_as_generator(tmp_path):
    g = small_generator()
    save_checkpoint({"generator": g.state_dict(), "step": 3, "config": {"scale": 4}}, tmp_path / "c.pt")
    assert same_output(g, load_generator(tmp_path / "c.pt"))
    assert load_checkpoint(tmp_path / "c.pt")["step"] == 3


def test_wrong_architecture_names_the_mismatch(tmp_path):
    g = small_generator(channels=8)
    state = g.state_dict()
    state["tail.weight"] = torch.zeros(3, 16, 9, 9)
    del state["body.0.bn1.running_var"]
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "bad.safetensors",
              metadata={"scale": "4", "num_blocks": "2", "channels": "8"})
    with pytest.raises(CheckpointError) as info:
        load_generator(tmp_path / "bad.safetensors")
    message = str(info.value)
    assert "tail.weight (3, 16, 9, 9) vs (3, 8, 9, 9)" in message and "body.0.bn1.running_var" in message
    assert "\n" not in message


def test_not_a_generator_state_dict(tmp_path):
    torch.save({"weight": torch.zeros(1)}, tmp_path / "x.pth")
    with pytest.raises(CheckpointError, match="not an srgan Generator"):
        load_generator(tmp_path / "x.pth")


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    save_checkpoint({"generator": small_generator().state_dict()}, tmp_path / "c.pt")
    data = (tmp_path / "c.pt").read_bytes()
    for cut in (1000, len(data) // 2):  # torch's zip reader fails in two ways: no central directory, and EINVAL
        (tmp_path / "t.pt").write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=r"t.pt: cannot load checkpoint: truncated or corrupt \("):
            load_checkpoint(tmp_path / "t.pt")


class Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


class ShellExploit:  # the usual payload; torch words a blocked module (posix) otherwise than other globals
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickle_that_runs_code_is_refused(tmp_path, capsys):
    torch.save({"generator": Exploit()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match=r"plain data \(print\); refused for safety$"):
        load_checkpoint(tmp_path / "evil.pt")
    torch.save({"generator": ShellExploit()}, tmp_path / "shell.pt")  # it said only "Weights only load failed"
    with pytest.raises(CheckpointError, match=r"plain data \((posix|nt)\.system\); refused for safety$"):
        load_checkpoint(tmp_path / "shell.pt")
    with open(tmp_path / "evil.pkl", "wb") as handle:  # the same in a plain pickle: refused too, at its first byte
        pickle.dump({"generator": Exploit()}, handle, protocol=4)
    with pytest.raises(CheckpointError, match="evil.pkl: cannot load checkpoint: not a torch.save file"):
        load_checkpoint(tmp_path / "evil.pkl")
    assert "pwned" not in capsys.readouterr().out


@pytest.mark.parametrize("content, problem", [
    (b"", "empty file (0 bytes)"),
    (b"\x89PNG\r\n\x1a\n" + bytes(64), "not a torch.save file (safetensors weights need the .safetensors extension)"),
    (b"hello world\n", "not a torch.save file"),
    (bytes(range(256)) * 4, "not a torch.save file"),
    (b"root:x:0:0:root:/root:/bin/bash\n", "not a torch.save file"),  # was "list index out of range"
    ("npz", "a zip archive, but not a torch.save file (numpy's .npz is one too)"),  # "[enforce fail at inline_..."
], ids=["empty", "png", "text", "binary", "passwd", "npz"])
def test_a_file_that_is_no_checkpoint_says_so(tmp_path, content, problem):
    # every weights-only failure mentions weights_only; this used to call an image "pickled objects ... refused"
    if content == "npz":
        import numpy as np

        with open(tmp_path / "x.pth", "wb") as handle:
            np.savez(handle, mu=np.zeros(3))
    else:
        (tmp_path / "x.pth").write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "x.pth")
    assert str(info.value).startswith(f"{tmp_path / 'x.pth'}: cannot load checkpoint: {problem}")


def test_atomic_save_keeps_previous_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint({"step": 1}, path)

    def broken_save(obj, f, *a, **k):
        with open(f, "wb") as handle:
            handle.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        save_checkpoint({"step": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_a_folder_that_cannot_be_made_is_one_line(tmp_path):
    """It was a bare "[Errno 17] File exists: '.../notes.txt'" (srgan export --onnx notes.txt/model.onnx)."""
    (tmp_path / "notes.txt").write_text("mine")
    target = tmp_path / "notes.txt" / "sub" / "c.pt"
    with pytest.raises(OSError) as info:
        save_checkpoint({"step": 1}, target)
    assert str(info.value) == f"{target}: cannot create its folder (a parent is a file, not a folder)"
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_failed_write_leaves_no_folder_it_made_and_takes_the_longest_name(tmp_path):
    from srgan.files import atomic_write

    def fail(tmp):
        raise RuntimeError("encoder broke")

    with pytest.raises(OSError, match=r"x\.json: cannot write \(encoder broke\); no existing file was replaced$"):
        atomic_write(tmp_path / "a" / "b" / "x.json", fail)
    assert list(tmp_path.iterdir()) == []  # a/b was left behind
    longest = tmp_path / "a" / ("r" * 250 + ".json")  # 255 bytes: its temporary name was 269 ("File name too long")
    atomic_write(longest, lambda tmp: Path(tmp).write_text("{}"))
    assert [p.name for p in longest.parent.iterdir()] == [longest.name]
    with pytest.raises(OSError, match=r"cannot write \(file name too long \(256 bytes; at most 255\)\)"):
        atomic_write(tmp_path / "c" / ("r" * 251 + ".json"), lambda tmp: pytest.fail("written"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_strip_prefixes():
    assert list(strip_prefixes({"module._orig_mod.a.b": 1, "c": 2})) == ["a.b", "c"]


def test_weights_files_get_the_permissions_of_a_plain_open(tmp_path):
    """safetensors recreates its file 0600: trained weights were unreadable to other users (checkpoints were not)."""
    import os

    umask = os.umask(0o022)
    try:
        weights = save_generator(Generator(num_blocks=1, channels=8), tmp_path / "g.safetensors")
        checkpoint = save_checkpoint({"step": 1}, tmp_path / "last.pt")
    finally:
        os.umask(umask)
    assert weights.stat().st_mode & 0o777 == checkpoint.stat().st_mode & 0o777 == 0o644


def test_a_safetensors_name_in_capitals_is_safetensors_everywhere(tmp_path):
    """load_generator read G.SAFETENSORS, but resolve_model (upscale, eval, export, serve) took it for a torch.save
    file ("not a torch.save file"), the int8 check for no int8 file, and a gan run's init_from check failed on it."""
    import shutil

    from srgan.loading import resolve_model
    from srgan.quantize import is_int8_file
    from srgan.shipped import WEIGHTS_DIR
    from srgan.train import _gan_checkpoint

    g = Generator(scale=4, num_blocks=1, channels=8)
    path = save_generator(g, tmp_path / "G.SAFETENSORS")
    assert isinstance(resolve_model(path), Generator) and isinstance(load_generator(path), Generator)
    assert _gan_checkpoint(str(path)) is False
    assert is_int8_file(shutil.copy(WEIGHTS_DIR / "srresnet_int8.safetensors", tmp_path / "Q.SafeTensors"))
    with pytest.raises(CheckpointError, match="G.SAFETENSORS: generator weights \\(safetensors\\), not a training "
                                              "checkpoint; load_generator reads them"):
        load_checkpoint(path)  # it said "safetensors weights need the .safetensors extension"


def test_a_write_failure_is_called_disk_full_only_when_it_may_be(tmp_path, monkeypatch):
    """Any failure on a file system with under 1 MiB free was "disk full": export to /proc/x.onnx (ENOENT there,
    and /proc reports no free space) said so. Only a failure without an errno (torch's RuntimeError) is now."""
    import errno

    from srgan.files import atomic_write

    usage = type("usage", (), {"total": 1 << 30, "used": 1 << 30, "free": 0})
    monkeypatch.setattr("srgan.files.shutil.disk_usage", lambda path: usage)

    def fails(exc):
        def write(tmp):
            raise exc
        with pytest.raises(OSError) as info:
            atomic_write(tmp_path / "g.onnx", write)
        return str(info.value)

    assert fails(OSError(errno.ENOENT, "No such file or directory")) == (
        f"{tmp_path / 'g.onnx'}: cannot write (No such file or directory); no existing file was replaced")
    assert "(disk full, no space left on device)" in fails(RuntimeError("unexpected pos 704 vs 598"))
    assert "(disk full, no space left on device)" in fails(OSError(errno.ENOSPC, "No space left on device"))
    assert not any(tmp_path.iterdir())


def test_an_atomic_write_persists_its_rename(tmp_path, monkeypatch):
    """The file was fsync'ed but not its folder, so after a crash the folder could still name the old file
    (image writes did both); checkpoints, reports and ONNX files now do both."""
    from srgan import files

    synced = []
    monkeypatch.setattr(files, "fsync_folder", synced.append)
    path = files.atomic_write(tmp_path / "sub" / "r.json", lambda tmp: Path(tmp).write_text("{}"))
    assert synced == [tmp_path / "sub"] and path.read_text() == "{}"


# ------------------------------------------------------------------ generators saved by other training code


def _prefixed(prefix, state):
    return {prefix + k: v for k, v in state.items()}


@pytest.mark.parametrize("wrap", [
    lambda g, d: {"state_dict": {**_prefixed("generator.", g), **_prefixed("discriminator.", d)}, "epoch": 3},
    lambda g, d: {"state_dict": g, "epoch": 3},
    lambda g, d: _prefixed("netG.", g),
    lambda g, d: {"model": _prefixed("module.", g)},
    lambda g, d: {"params": g},
    lambda g, d: {"state_dict": _prefixed("model.generator.", g), "optimizer_states": []},
    lambda g, d: {**_prefixed("netG.", g), **_prefixed("netD.", d), "step": 7},
], ids=["lightning", "state_dict", "netG-prefix", "model-module", "basicsr", "nested-prefix", "netG-netD"])
def test_generators_wrapped_or_prefixed_by_other_training_code_load(tmp_path, wrap):
    """Lightning, BasicSR and others wrap the state dict or prefix its names; each said only "no 'head.0.weight'"."""
    from srgan import Discriminator, load_model

    g = small_generator()
    torch.save(wrap(g.state_dict(), Discriminator().state_dict()), tmp_path / "g.ckpt")
    assert same_output(g, load_generator(tmp_path / "g.ckpt"))
    assert same_output(g, load_model(tmp_path / "g.ckpt"))  # --model: read once, for either layout


def test_basicsr_params_ema_is_loaded_over_params(tmp_path):
    """BasicSR saves the averaged weights beside the trained ones; its tests and Real-ESRGAN run params_ema."""
    trained, averaged = small_generator(seed=1), small_generator(seed=2)
    torch.save({"params": trained.state_dict(), "params_ema": averaged.state_dict()}, tmp_path / "net_g.pth")
    assert same_output(averaged, load_generator(tmp_path / "net_g.pth"))


def test_a_prefixed_safetensors_file_loads(tmp_path):
    g = small_generator()
    state = {k: v.contiguous() for k, v in _prefixed("generator.", g.state_dict()).items()}
    save_file(state, tmp_path / "g.safetensors")
    assert same_output(g, load_generator(tmp_path / "g.safetensors"))


def test_two_generators_in_one_file_are_refused_naming_both(tmp_path):
    state = {**_prefixed("generator.", small_generator(seed=1).state_dict()),
             **_prefixed("g_ema.", small_generator(seed=2).state_dict())}
    torch.save({"state_dict": state}, tmp_path / "two.ckpt")
    with pytest.raises(CheckpointError) as info:
        load_generator(tmp_path / "two.ckpt")
    assert str(info.value) == (f"{tmp_path / 'two.ckpt'}: holds 2 generator state dicts (state_dict: g_ema.*, "
                               "state_dict: generator.*); save the one to load on its own (torch.save(state_dict)) "
                               "and load that")


def test_a_file_holding_no_generator_names_what_it_holds(tmp_path):
    state = {k.replace("head.", "first."): v for k, v in small_generator().state_dict().items()}
    torch.save({"state_dict": _prefixed("net.", state), "epoch": 3, "global_step": 9, "lr": 0.1, "seed": 1},
               tmp_path / "x.ckpt")
    with pytest.raises(CheckpointError) as info:
        load_generator(tmp_path / "x.ckpt")
    assert str(info.value) == (f"{tmp_path / 'x.ckpt'}: not an srgan Generator state dict (no 'head.0.weight'); its "
                               "keys: state_dict, epoch, global_step (+2 more); under 'state_dict': "
                               f"net.first.0.weight, net.first.0.bias, net.first.1.weight (+{len(state) - 3} more)")


@pytest.mark.parametrize("wrap", [lambda s: s, lambda s: {"state_dict": s}, lambda s: _prefixed("netG.", s)],
                         ids=["bare", "state_dict", "netG-prefix"])
def test_leftthomas_generators_load_with_load_model_and_load_generator_says_so(tmp_path, wrap):
    """load_generator reads srgan's layout only; it said "no 'head.0.weight'" where srgan.load_model would run it."""
    import srgan
    from srgan.peers import LeftthomasGenerator

    torch.manual_seed(0)
    peer = LeftthomasGenerator(channels=8).eval()
    path = tmp_path / "netG_epoch_4_100.pth"
    torch.save(wrap(peer.state_dict()), path)
    assert same_output(peer, srgan.load_model(path))
    with pytest.raises(CheckpointError) as info:
        load_generator(path)
    assert str(info.value) == (f"{path}: a leftthomas/SRGAN generator, not srgan's Generator layout; "
                               f"srgan.load_model({str(path)!r}) or --model {path} runs it")


def test_a_model_saved_whole_is_refused_with_the_way_to_save_it(tmp_path):
    torch.save(small_generator(), tmp_path / "whole.pt")  # torch.save(model): unpickling it would run its class
    with pytest.raises(CheckpointError) as info:
        load_generator(tmp_path / "whole.pt")
    assert str(info.value) == (f"{tmp_path / 'whole.pt'}: cannot load checkpoint: it holds pickled objects other "
                               "than tensors and plain data (srgan.models.Generator); refused for safety; if it is "
                               "a model saved whole (torch.save(model)), save model.state_dict() instead "
                               "(torch.save or safetensors) and load that")
