import pytest
import torch

from srgan.losses import ContentLoss
from srgan.vgg import (CUTS, VGG19_FILENAME, VGGFeatures, VGGWeightsMissing, build_vgg19_features,
                       resolve_vgg19_weights)


def torchvision_style_state_dict(seed=0):
    """A full vgg19 state dict with torchvision's keys (features.* and classifier.*), random values."""
    torch.manual_seed(seed)
    state = {f"features.{k}": v for k, v in build_vgg19_features().state_dict().items()}
    state.update({"classifier.0.weight": torch.randn(4096, 25088), "classifier.0.bias": torch.zeros(4096)})
    return state


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vgg") / VGG19_FILENAME
    torch.save(torchvision_style_state_dict(), path)
    return path


def test_torchvision_keys_and_cut_points():
    keys = build_vgg19_features().state_dict().keys()
    # torchvision's vgg19().features: 16 convs at these indices.
    convs = sorted({int(k.split(".")[0]) for k in keys})
    assert convs == [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    full = build_vgg19_features()
    assert isinstance(full[CUTS["vgg22"] - 1], torch.nn.ReLU) and full[CUTS["vgg22"] - 2].out_channels == 128
    assert isinstance(full[CUTS["vgg54"] - 1], torch.nn.ReLU) and full[CUTS["vgg54"] - 2] is full[34]
    assert isinstance(full[CUTS["vgg54"]], torch.nn.MaxPool2d)  # relu5_4 is right before the 5th pool


def test_loads_torchvision_file_and_is_frozen(vgg_file, caplog):
    vgg = VGGFeatures("vgg54", vgg_file)
    # A stand-in is not torchvision's file, and says so: with random weights the content loss sat at 1e-10 and a
    # vgg54 run trained on the adversarial term alone, without a word
    assert [r.getMessage() for r in caplog.records if r.name == "srgan.vgg"] == [
        f"{vgg_file}: not torchvision's ImageNet VGG19 weights (another sha256): the vgg22/vgg54 content loss is "
        "the paper's only with those"]
    state = torch.load(vgg_file, weights_only=True)
    assert torch.equal(vgg.features[34].weight, state["features.34.weight"])
    assert not any(p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training
    assert vgg(torch.rand(1, 3, 32, 32)).shape == (1, 512, 2, 2)



def test_features_are_torchvisions_on_imagenet_normalised_input(vgg_file):
    """torchvision's VGG19 expects (x - mean) / std with ImageNet's statistics; VGGFeatures takes [0, 1] RGB and
    normalises inside. The reference: the bare layers, given the torchvision weights and the normalised image."""
    state = torch.load(vgg_file, weights_only=True)
    bare = build_vgg19_features(CUTS["vgg22"])
    bare.load_state_dict({k.removeprefix("features."): v for k, v in state.items()
                          if k.startswith("features.") and int(k.split(".")[1]) < CUTS["vgg22"]})
    x = torch.rand(2, 3, 24, 24)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(VGGFeatures("vgg22", vgg_file)(x), bare((x - mean) / std), rtol=0, atol=1e-6)

def test_missing_weights_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("SRGAN_VGG19_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(VGGWeightsMissing) as info:
        resolve_vgg19_weights(None, download=False)
    message = str(info.value)
    assert "SRGAN_VGG19_WEIGHTS" in message and VGG19_FILENAME in message and str(tmp_path) in message


def test_a_file_that_is_not_vgg19_names_itself(tmp_path):
    """vgg_weights=<a generator checkpoint> said "not a torchvision VGG19 state dict: ...", naming neither the file
    nor the setting."""
    from srgan import Generator

    torch.save(Generator(num_blocks=1, channels=8).state_dict(), tmp_path / "g.pt")
    with pytest.raises(ValueError, match=f"{tmp_path / 'g.pt'}: not a torchvision VGG19 state dict: missing "
                                         r"features.0.weight.* \(the VGG19 weights: vgg_weights, "
                                         r"\$SRGAN_VGG19_WEIGHTS"):
        VGGFeatures("vgg54", tmp_path / "g.pt")


def test_weight_sources_in_order(tmp_path, monkeypatch, vgg_file):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = tmp_path / "hub" / "checkpoints" / VGG19_FILENAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(vgg_file.read_bytes())
    monkeypatch.delenv("SRGAN_VGG19_WEIGHTS", raising=False)
    assert resolve_vgg19_weights() == cached
    monkeypatch.setenv("SRGAN_VGG19_WEIGHTS", str(vgg_file))
    assert resolve_vgg19_weights() == vgg_file
    explicit = tmp_path / "explicit.pth"
    explicit.write_bytes(b"x")
    assert resolve_vgg19_weights(explicit) == explicit


def test_download_checks_hash(tmp_path, monkeypatch):
    import http.server
    import threading
    from functools import partial

    from srgan import vgg as vgg_module

    served = tmp_path / "srv"
    served.mkdir()
    (served / VGG19_FILENAME).write_bytes(b"not the real weights")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(vgg_module, "VGG19_URL", f"http://127.0.0.1:{server.server_port}/{VGG19_FILENAME}")
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
        monkeypatch.delenv("SRGAN_VGG19_WEIGHTS", raising=False)
        with pytest.raises(VGGWeightsMissing, match="sends 20 bytes where the file has 574673361; not the file"):
            resolve_vgg19_weights()
        monkeypatch.setattr(vgg_module, "VGG19_BYTES", 20)
        with pytest.raises(VGGWeightsMissing, match="checksum mismatch"):
            resolve_vgg19_weights()
        assert not (tmp_path / "home" / "hub" / "checkpoints" / VGG19_FILENAME).exists()
        assert not list((tmp_path / "home" / "hub" / "checkpoints").glob("*.part"))
        # With the right size and sha256 the file lands in the cache; the 8 digits in its name were not enough.
        served_sha = __import__("hashlib").sha256(b"not the real weights").hexdigest()
        monkeypatch.setattr(vgg_module, "VGG19_SHA256", served_sha[:8] + "0" * 56)
        with pytest.raises(VGGWeightsMissing, match="checksum mismatch"):
            resolve_vgg19_weights()
        monkeypatch.setattr(vgg_module, "VGG19_SHA256", served_sha)
        assert resolve_vgg19_weights().read_bytes() == b"not the real weights"
    finally:
        server.shutdown()


def test_content_loss_regression_seed_bug(vgg_file):
    """The seed compared the image with itself; ours is 0 only for identical images and trains G."""
    torch.manual_seed(0)
    loss = ContentLoss("vgg54", vgg_weights=vgg_file)
    hr = torch.rand(2, 3, 48, 48)
    assert loss(hr, hr.clone()).item() == 0.0
    from srgan import Generator

    g = Generator(num_blocks=1, channels=8)
    sr = g(torch.rand(2, 3, 12, 12))
    value = loss(sr, hr)
    assert value.item() > 0
    value.backward()
    grads = [p.grad for p in g.parameters()]
    assert all(gr is not None for gr in grads) and sum(gr.abs().sum() for gr in grads) > 0
    assert all(p.grad is None for p in loss.vgg.parameters())  # VGG gets no weight gradients


def test_default_content_loss_is_plain_torchvision_feature_mse(vgg_file):
    """Issue 10: the default was 0.006 * MSE of features x 255 mean(std) (~20x this), on an unproven premise."""
    from srgan.config import TrainConfig

    assert (TrainConfig().vgg_weight, TrainConfig().vgg_feature_scale) == (1.0, 1.0)
    torch.manual_seed(1)
    sr, hr = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    loss = ContentLoss("vgg54", vgg_weights=vgg_file)
    plain = torch.nn.functional.mse_loss(loss.vgg(sr), loss.vgg(hr)).item()
    assert plain > 0 and loss(sr, hr).item() == pytest.approx(plain, rel=1e-5)
    # the scale stays a hyperparameter: the loss grows as its square
    scaled = ContentLoss("vgg54", vgg_weights=vgg_file, vgg_weight=0.5, vgg_feature_scale=3.0)
    assert scaled(sr, hr).item() == pytest.approx(0.5 * 9 * plain, rel=1e-5)
