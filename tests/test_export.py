"""srgan export: ONNX with dynamic H and W, checked against torch with onnxruntime (the [export] extra)."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from extras import need

onnx = need("onnx", "ONNX export tests need the [export] extra (onnx)")
need("onnxscript", "ONNX export tests need the [export] extra (onnxscript)")
ort = need("onnxruntime", "ONNX export tests need the [export] extra (onnxruntime)")

from srgan.cli import main  # noqa: E402


def _convs(path) -> set[tuple[int, int, int]]:
    """(output channels, kernel height, width) of the graph's Conv nodes, from their weight initializers."""
    model = onnx.load(str(path))
    shapes = {t.name: tuple(t.dims) for t in model.graph.initializer}
    return {(s[0], *s[2:]) for n in model.graph.node if n.op_type == "Conv" and (s := shapes.get(n.input[1]))}


@pytest.mark.parametrize("plain", [False, True], ids=["fast", "plain"])
def test_export_cli_dynamic_hw_matches_torch(tmp_path, capsys, plain, saved_small_generator):
    g, weights = saved_small_generator
    out = tmp_path / "g.onnx"
    assert main(["export", "--model", str(weights), "--onnx", str(out), *(["--plain"] if plain else [])]) == 0
    assert f"({weights}, {'plain Generator' if plain else 'fast form'};" in capsys.readouterr().out
    # The default is the fast form: not the HR 9x9 64->3 tail, the polyphase 5x5 one (12 phases padded to 16).
    assert ((3, 9, 9) in _convs(out)) == plain and ((16, 5, 5) in _convs(out)) != plain
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["lr"]
    for shape in [(1, 3, 17, 23), (2, 3, 40, 31)]:
        x = torch.rand(*shape)
        with torch.inference_mode():
            ref = g(x).numpy()
        got = session.run(None, {"lr": x.numpy()})[0]
        assert got.shape == ref.shape == (shape[0], 3, 4 * shape[2], 4 * shape[3])
        assert np.abs(got - ref).max() <= 1e-4
    # An existing output is never replaced without --overwrite.
    before = out.read_bytes()
    assert main(["export", "--model", str(weights), "--onnx", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["export", "--model", str(weights), "--onnx", str(out), "--overwrite"]) == 0


def test_export_defaults_to_the_model_upscale_runs(monkeypatch):
    """export took the SRGAN unless told, upscale the SRResNet (chosen by measurement, docs/RESULTS.md): 'the
    default' deployed through ONNX was the model upscale had been moved off."""
    from srgan.shipped import DEFAULT_MODEL

    asked = []
    monkeypatch.setattr("srgan.export.export_from_cli", lambda args: asked.append(args.model) or 0)
    assert main(["export", "--onnx", "m.onnx"]) == 0 and asked == [DEFAULT_MODEL] == ["srresnet"]


def test_export_refuses_a_folder_or_another_extension_before_loading(tmp_path, capsys):
    """``--onnx out/`` used to write a file named ``out``, ``--onnx folder`` said "already exists" and
    ``--onnx g.txt`` wrote ONNX under that name; now each is one line, before the model is loaded."""
    (tmp_path / "folder").mkdir()
    cases = [(f"{tmp_path}/out/", "is a folder; --onnx takes a file name such as"),
             (str(tmp_path / "folder"), "is a folder; --onnx takes a file name such as"),
             (str(tmp_path / "g.txt"), "--onnx takes a .onnx file name"),
             # these two failed after the export (seconds), the first naming the temporary file, and left n1/n2
             (str(tmp_path / "n1" / "n2" / ("a" * 251 + ".onnx")), "file name too long (256 bytes; at most 255)"),
             (str(tmp_path / "notes.txt" / "g.onnx"), "a parent is a file, not a folder")]
    (tmp_path / "notes.txt").write_text("keep")
    for dest, problem in cases:
        assert main(["export", "--model", str(tmp_path / "missing.safetensors"), "--onnx", dest]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"srgan: error: {dest}: {problem}") and err.count("\n") == 1  # not the missing model
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "notes.txt"]
    assert not any((tmp_path / "folder").iterdir())
    # export_onnx too: it traced first, then wrote ONNX under any name or failed on a folder
    from srgan.export import export_onnx

    with pytest.raises(IsADirectoryError, match="folder: is a folder; export_onnx's path takes a file name"):
        export_onnx(tmp_path / "missing.safetensors", tmp_path / "folder")
    with pytest.raises(ValueError, match="g.txt: export_onnx's path takes a .onnx file name"):
        export_onnx(tmp_path / "missing.safetensors", tmp_path / "g.txt")


def test_another_opset_is_written_without_the_converters_log(tmp_path, capsys, caplog, monkeypatch,
                                                             saved_small_generator):
    """--opset 17 printed onnxscript's "The model version conversion is not supported by the onnxscript version
    converter and fallback is enabled ..." (the file was right)."""
    _g, weights = saved_small_generator
    assert main(["export", "--model", str(weights), "--onnx", str(tmp_path / "a.onnx"), "--opset", "17"]) == 0
    assert capsys.readouterr().err == "" and not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert onnx.load(str(tmp_path / "a.onnx")).opset_import[0].version == 17
    # a conversion that fails leaves the exporter's own opset, which torch said in a log line only
    real_export = torch.onnx.export

    def unconverted(*args, **kwargs):
        program = real_export(*args, **{**kwargs, "opset_version": 18})
        return program

    monkeypatch.setattr(torch.onnx, "export", unconverted)
    assert main(["export", "--model", str(weights), "--onnx", str(tmp_path / "b.onnx"), "--opset", "17"]) == 1
    assert capsys.readouterr().err == ("srgan: error: --opset 17: the exporter could not convert the graph to it "
                                       "(it is opset 18); nothing written (pass --opset 18)\n")
    assert not (tmp_path / "b.onnx").exists()


def test_export_refuses_an_opset_it_cannot_write_and_bicubic(tmp_path, capsys):
    """--opset 99 used to print the converter's traceback and write an opset-18 file with exit 0; bicubic ended
    in a torch.export error full of terminal escape codes."""
    newest = onnx.defs.onnx_opset_version()
    for opset in (16, newest + 1):
        assert main(["export", "--model", "srresnet", "--onnx", str(tmp_path / "a.onnx"), "--opset", str(opset)]) == 1
        assert capsys.readouterr().err.startswith(f"srgan: error: --opset must be 17 (the dynamo exporter's lowest) "
                                                  f"to {newest}")
    assert main(["export", "--model", "bicubic", "--onnx", str(tmp_path / "b.onnx")]) == 1
    assert capsys.readouterr().err == "srgan: error: bicubic: not a network (it has no weights); there is nothing to export\n"
    assert not any(tmp_path.iterdir())


def test_export_names_a_peer_network_as_exported_as_it_is(tmp_path, capsys):
    """A leftthomas/SRGAN generator has no fast form; export used to say "fast form" (and, with --plain,
    "plain Generator") for it all the same."""
    from srgan.peers import LeftthomasGenerator

    torch.manual_seed(0)
    peer = LeftthomasGenerator(scale=4, channels=8).eval()
    weights = tmp_path / "netG.pth"
    torch.save(peer.state_dict(), weights)
    for flags in ([], ["--plain"]):
        out = tmp_path / "peer.onnx"
        assert main(["export", "--model", str(weights), "--onnx", str(out), "--overwrite", *flags]) == 0
        assert f"wrote {out} ({weights}, LeftthomasGenerator, exported as it is; input 'lr'" in capsys.readouterr().out
        x = torch.rand(1, 3, 13, 11)
        with torch.inference_mode():
            ref = peer(x).numpy()
        got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"lr": x.numpy()})[0]
        assert got.shape == (1, 3, 52, 44) and np.abs(got - ref).max() <= 1e-4
