"""LPIPS v0.1 (srgan/lpips.py): the authors' linear layers, torchvision's backbone layout, the paper's formula.

No ImageNet AlexNet/VGG16 weights exist on this machine, so the backbone is a seeded stand-in with torchvision's
keys; the linear layers are the authors' real v0.1 files from the shared data."""
from __future__ import annotations

import hashlib
import json
import os
import http.server
import threading
from functools import partial

import numpy as np
import pytest
import torch
from PIL import Image

from srgan import lpips as lpips_module
from srgan.cli import main
from srgan.evaluate import evaluate
from srgan.lpips import BACKBONES, LINEAR_FILES, LPIPS, _alexnet_features, _vgg16_features, linear_weights, lpips
from srgan.pretrained import WeightsMissing, weights_sha256

FEATURES = {"alex": _alexnet_features, "vgg": _vgg16_features}


@pytest.fixture()
def linear_dir(shared_data):
    return shared_data / "weights" / "richzhang_PerceptualSimilarity" / "v0.1"


def stand_in_backbone(net: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A torchvision-style state dict (``features.*``, plus a classifier entry to ignore) with seeded values."""
    torch.manual_seed(seed)
    layers, _, _ = FEATURES[net]()
    state = {f"features.{k}": v for k, v in layers.state_dict().items()}
    state["classifier.1.weight"] = torch.randn(8, 8)
    return state


def test_the_linear_layers_are_the_authors(linear_dir):
    for net in ("alex", "vgg"):
        data = (linear_dir / f"{net}.pth").read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == LINEAR_FILES[net]
        state = torch.load(linear_dir / f"{net}.pth", map_location="cpu", weights_only=True)
        _, _, channels = FEATURES[net]()
        assert [tuple(state[f"lin{i}.model.1.weight"].shape) for i in range(5)] == [(1, c, 1, 1) for c in channels]
        assert min(float(v.min()) for v in state.values()) >= 0  # trained with the weights clamped to >= 0


def test_backbones_have_torchvisions_layout():
    alex, taps, channels = _alexnet_features()
    assert sorted({int(k.split(".")[0]) for k in alex.state_dict()}) == [0, 3, 6, 8, 10]  # alexnet().features
    assert [alex[t - 1].out_channels for t in taps] == channels == [64, 192, 384, 256, 256]
    vgg, taps, channels = _vgg16_features()
    assert sorted({int(k.split(".")[0]) for k in vgg.state_dict()}) == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26,
                                                                         28]  # vgg16().features up to conv5_3
    assert [vgg[t - 1].out_channels for t in taps] == channels == [64, 128, 256, 512, 512]
    # the ReLUs the authors tap: AlexNet's after each conv; VGG16's relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
    assert _alexnet_features()[1] == [1, 4, 7, 9, 11] and _vgg16_features()[1] == [3, 8, 15, 22, 29]
    for layers, taps in ((alex, _alexnet_features()[1]), (vgg, _vgg16_features()[1])):
        assert all(isinstance(layers[t], torch.nn.ReLU) for t in taps)


def reference_lpips(net: str, backbone: dict, linear: dict, x: torch.Tensor, y: torch.Tensor) -> float:
    """The paper's formula written out in float64, one image at a time, from the raw state dicts."""
    layers, taps, _ = FEATURES[net]()
    layers = layers.double()
    layers.load_state_dict({k.removeprefix("features."): v.double() for k, v in backbone.items()
                            if k.startswith("features.")})
    shift = torch.tensor([-0.030, -0.088, -0.188], dtype=torch.float64).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450], dtype=torch.float64).view(1, 3, 1, 1)

    def taps_of(image):
        h, out = (image.double() * 2 - 1 - shift) / scale, []
        for i, layer in enumerate(layers):
            h = layer(h)
            if i in taps:
                out.append(h.clone())
        return out

    total = 0.0
    with torch.no_grad():
        pairs = list(zip(taps_of(x), taps_of(y)))
    for i, (a, b) in enumerate(pairs):
        a = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        b = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        w = linear[f"lin{i}.model.1.weight"].double().view(1, -1, 1, 1)
        total += float(((a - b) ** 2 * w).sum(1).mean())
    return total


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_distance_is_the_papers_formula(net, linear_dir):
    backbone = stand_in_backbone(net)
    linear = torch.load(linear_dir / f"{net}.pth", map_location="cpu", weights_only=True)
    model = LPIPS(net, backbone=backbone, linear=linear)
    torch.manual_seed(1)
    x, y = torch.rand(2, 3, 64, 72), torch.rand(2, 3, 64, 72)
    with torch.no_grad():
        d = model(x, y)
        assert torch.equal(model(x, x), torch.zeros(2))
        torch.testing.assert_close(model(y, x), d, rtol=1e-5, atol=1e-7)
    for k in range(2):
        assert float(d[k]) == pytest.approx(reference_lpips(net, backbone, linear, x[k:k + 1], y[k:k + 1]), rel=1e-4)
    assert model.train().training is False  # no dropout in a metric
    with pytest.raises(ValueError, match="two images of one size"):
        model(x, y[..., :-1])


def test_uint8_images_and_the_wrong_weights(linear_dir):
    model = LPIPS("alex", backbone=stand_in_backbone("alex"), linear=linear_dir / "alex.pth")
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(2))
    with torch.no_grad():
        expected = float(model(torch.from_numpy(a).permute(2, 0, 1)[None] / 255.0,
                               torch.from_numpy(b).permute(2, 0, 1)[None] / 255.0)[0])
    assert lpips(a, b, model) == pytest.approx(expected, rel=1e-6) and lpips(a, a, model) == 0
    with pytest.raises(ValueError, match="not a torchvision VGG16 state dict: missing features.2.weight"):
        LPIPS("vgg", backbone=stand_in_backbone("alex"), linear=linear_dir / "vgg.pth")
    wrong_linear = r"not an LPIPS v0.1 linear-layer state dict: lin1.model.1.weight \(1, 192, 1, 1\) != \(1, 128"
    with pytest.raises(ValueError, match=wrong_linear):
        LPIPS("vgg", backbone=stand_in_backbone("vgg"), linear=linear_dir / "alex.pth")


@pytest.mark.parametrize("net, smallest", [("alex", 31), ("vgg", 16)])
def test_inputs_it_cannot_score_are_one_clear_error(net, smallest, linear_dir):
    """Each of these failed in torch's words (a pooling's "Output size is too small", a permute's "number of
    dimensions", "Input type (double) and bias type (float)") or gave a silent NaN; one grey plane was broadcast."""
    model = LPIPS(net, backbone=stand_in_backbone(net), linear=linear_dir / f"{net}.pth")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (smallest, smallest + 3, 3), dtype=np.uint8)
    assert lpips(a, a, model) == 0 and lpips(Image.fromarray(a), a, model) == 0  # the smallest; PIL too
    small = a[1:]
    with pytest.raises(ValueError, match=rf"^LPIPS \({net}\) needs images of at least {smallest} px a side, got "
                                         rf"{smallest + 3}x{smallest - 1}$"):
        lpips(small, small, model)
    with pytest.raises(ValueError, match=r"^lpips takes two HxWx3 uint8 RGB images, got uint8 \(\d+, \d+\)$"):
        lpips(a, a[..., 0], model)  # a grayscale reference
    x = torch.rand(1, 3, 40, 40)
    for bad in (x[:, :1], x.permute(0, 2, 3, 1), x[0]):
        with pytest.raises(ValueError, match=r"^LPIPS takes \(N, 3, H, W\) float RGB in \[0, 1\]"):
            model(bad, bad)
    assert float(model(x.double(), x.double())[0]) == 0
    with pytest.raises(ValueError, match="^LPIPS got NaN or infinite pixels$"):
        model(x, torch.full_like(x, float("nan")))


def test_input_on_another_scale_is_refused_and_overshoot_is_scored(linear_dir):
    """[-1, 1] input (the lpips package's convention) and 0-255 floats gave believable wrong distances without a
    word; a model's overshoot past [0, 1] (LPIPS as a training loss) must still be scored, gradient and all."""
    model = LPIPS("alex", backbone=stand_in_backbone("alex"), linear=linear_dir / "alex.pth")
    torch.manual_seed(2)
    x, y = torch.rand(1, 3, 40, 40), torch.rand(1, 3, 40, 40)
    minus_one = r"\(the lpips package's \[-1, 1\] convention\? pass \(x \+ 1\) / 2\)$"
    for a, b, message in [(x * 2 - 1, y * 2 - 1, minus_one),
                          (x * 255, y * 255, r"\(a 0-255 image\? divide it by 255\)$"),
                          (x, y * 65535, r"\(16-bit values\? divide them by 65535; an HDR image")]:
        with pytest.raises(ValueError, match=r"^LPIPS takes RGB in \[0, 1\], got values in \[-?0\.\d+, \d+(\.\d+)?\] "
                                             + message):
            model(a, b)
    overshoot = (x * 1.2 - 0.1).requires_grad_()
    d = model(overshoot, y)
    d.sum().backward()
    assert overshoot.grad is not None and float(d.detach()[0]) > 0
    with pytest.raises(ValueError, match="^LPIPS got NaN or infinite pixels$"):
        model(torch.full_like(x, float("nan")), y)  # NaN in either image, first or second
    with pytest.raises(ValueError, match="^LPIPS got NaN or infinite pixels$"):
        model(x, torch.where(y > 0.5, float("inf"), y))


def test_eval_scores_lpips_with_one_model(shared_data, linear_dir, tmp_path, monkeypatch, capsys, caplog):
    backbone = tmp_path / BACKBONES["alex"][0]
    torch.save(stand_in_backbone("alex"), backbone)
    monkeypatch.setenv("SRGAN_ALEXNET_WEIGHTS", str(backbone))
    monkeypatch.setenv("SRGAN_LPIPS_WEIGHTS", str(linear_dir))
    built = []
    monkeypatch.setattr("srgan.evaluate.LPIPS", lambda net: built.append(net) or LPIPS(net))
    res = evaluate("bicubic", [shared_data / "benchmarks" / "Set5"], metrics="psnr,lpips")["Set5"]
    assert built == ["alex"]  # one model for the whole run (the seed code reloaded its VGG at every call)
    # The stand-in is not the published AlexNet, and says so; the authors' linear layers are theirs (silent).
    said = [r.getMessage() for r in caplog.records if r.name == "srgan.lpips"]
    assert said == [f"{backbone}: not the published torchvision AlexNet weights (another sha256): its LPIPS is not "
                    "comparable with published numbers"]
    assert res["psnr"] == pytest.approx(28.419, abs=0.002) and 0 < res["lpips"] < 1
    assert res["lpips"] == pytest.approx(np.mean([v["lpips"] for v in res["images"].values()]))
    assert "lpips" not in evaluate("hr", [shared_data / "benchmarks" / "Set5"], metrics="lpips,niqe")["Set5"]
    monkeypatch.setenv("SRGAN_LPIPS_WEIGHTS", str(linear_dir / "alex.pth"))  # the file itself will do too
    capsys.readouterr()
    assert main(["eval", "--model", "bicubic", "--metrics", "psnr,lpips", "--data",
                 str(shared_data / "benchmarks" / "Set5")]) == 0
    out, err = capsys.readouterr()
    assert "x4, PSNR on Y, 4-px border, LPIPS on RGB, whole image, device" in out
    assert f"srgan: warning: {backbone}: not the published torchvision AlexNet weights" in err
    monkeypatch.setenv("SRGAN_LPIPS_WEIGHTS", str(linear_dir / "nothing.pth"))
    with pytest.raises(WeightsMissing, match=r"^\$SRGAN_LPIPS_WEIGHTS is .*nothing.pth, which is neither alex.pth "
                                             r"nor a folder holding it$"):
        linear_weights("alex")


def test_eval_json_with_lpips_reads_each_weights_file_once(shared_data, linear_dir, tmp_path, monkeypatch):
    """The load checks each file's sha256 and the --json report records it: the 244 MB AlexNet file was read
    twice for that. The files are recorded absolute, as the model's weights are (a relative one was kept as typed)."""
    import srgan.fetch
    import srgan.pretrained

    backbone = tmp_path / BACKBONES["alex"][0]
    torch.save(stand_in_backbone("alex"), backbone)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SRGAN_ALEXNET_WEIGHTS", backbone.name)  # relative: the report said it as typed
    monkeypatch.setenv("SRGAN_LPIPS_WEIGHTS", str(linear_dir))
    monkeypatch.setattr(srgan.pretrained, "_DIGESTS", {}, raising=False)  # none from earlier tests
    hashed = []
    original = srgan.fetch.file_sha256
    monkeypatch.setattr(srgan.fetch, "file_sha256", lambda path: hashed.append(os.fspath(path)) or original(path))
    out = tmp_path / "r.json"
    assert main(["eval", "--model", "bicubic", "--metrics", "lpips", "--data", str(shared_data / "benchmarks" / "Set5"),
                 "--json", str(out)]) == 0
    assert sorted(hashed) == sorted([backbone.name, str(linear_dir / "alex.pth")])
    recorded = json.loads(out.read_text())["Set5"]["run"]["lpips_weights"]
    assert (recorded["alexnet"]["file"], recorded["linear"]["file"]) == (str(backbone), str(linear_dir / "alex.pth"))
    assert recorded["alexnet"]["sha256"] == hashlib.sha256(backbone.read_bytes()).hexdigest()
    assert recorded["linear"]["sha256"] == LINEAR_FILES["alex"][0]


def test_missing_weights_say_every_way_to_give_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("SRGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SRGAN_ALEXNET_WEIGHTS", raising=False)
    monkeypatch.delenv("SRGAN_LPIPS_WEIGHTS", raising=False)
    with pytest.raises(WeightsMissing) as info:
        lpips_module.backbone_weights("alex", download=False)
    message = str(info.value)
    assert "$SRGAN_ALEXNET_WEIGHTS" in message and str(tmp_path / "torch" / "hub" / "checkpoints") in message
    assert "alexnet-owt-7be5be79.pth" in message and "\n" not in message
    with pytest.raises(WeightsMissing, match=r"\$SRGAN_LPIPS_WEIGHTS"):
        linear_weights("vgg", download=False)
    # With neither file there, one error names both (it named the backbone, then the linear layers once that came)
    monkeypatch.setattr("srgan.pretrained.download_file", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(WeightsMissing) as info:
        lpips_module.LPIPS("alex")
    message = str(info.value)
    assert "alexnet-owt-7be5be79.pth" in message and "Also: LPIPS v0.1 linear-layer weights are needed" in message
    assert "\n" not in message


def test_linear_weights_download_is_checked(linear_dir, tmp_path, monkeypatch):
    """Served by a local HTTP server: the real file lands in srgan's cache; other bytes are refused, not kept."""
    served = tmp_path / "srv"
    served.mkdir()
    (served / "alex.pth").write_bytes((linear_dir / "alex.pth").read_bytes())
    (served / "vgg.pth").write_bytes(b"x" * LINEAR_FILES["vgg"][1])  # the right size, other bytes
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(http.server.SimpleHTTPRequestHandler,
                                                                       directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(lpips_module, "LINEAR_URL", f"http://127.0.0.1:{server.server_port}/")
        monkeypatch.setenv("SRGAN_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.delenv("SRGAN_LPIPS_WEIGHTS", raising=False)
        with pytest.raises(WeightsMissing, match="checksum mismatch"):  # a first, failed download: no folders
            linear_weights("vgg")
        assert not (tmp_path / "cache").exists()  # left behind, empty
        got = linear_weights("alex")
        assert got == tmp_path / "cache" / "lpips" / "v0.1" / "alex.pth"
        assert got.read_bytes() == (linear_dir / "alex.pth").read_bytes()
        umask = os.umask(0)
        os.umask(umask)
        assert got.stat().st_mode & 0o777 == 0o666 & ~umask  # a shared cache's file (mkstemp made it 0600)
        with monkeypatch.context() as m:  # checked as it came: the load's check does not read it again
            m.setattr("srgan.fetch.file_sha256", lambda path: pytest.fail(f"{path} hashed again"))
            assert weights_sha256(got) == LINEAR_FILES["alex"][0]
        with pytest.raises(WeightsMissing, match="checksum mismatch"):
            linear_weights("vgg")
        (served / "vgg.pth").write_bytes(b"not the authors' weights")
        with pytest.raises(WeightsMissing, match="the server sends 24 bytes where the file has 7289; not the file"):
            linear_weights("vgg")
        assert sorted(p.name for p in got.parent.iterdir()) == ["alex.pth"]
    finally:
        server.shutdown()


def test_a_file_that_is_not_weights_gets_a_clear_line(tmp_path):
    """torch's own message was passed through: for an image it advised re-running with weights_only=False
    ("can result in arbitrary code execution"), for a text file it said "KeyError: 101"."""
    from srgan.pretrained import load_state_dict_file

    (tmp_path / "in.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    (tmp_path / "ck.txt").write_text("hello")
    for name in ("in.png", "ck.txt"):
        with pytest.raises(ValueError) as error:
            load_state_dict_file(tmp_path / name, "VGG19")
        assert str(error.value) == (f"{tmp_path / name}: cannot read VGG19 weights: not a torch.save file "
                                    "(safetensors weights need the .safetensors extension)")
