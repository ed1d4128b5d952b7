import numpy
import pytest
import torch

from srgan import Discriminator, Generator
from srgan.models import UpsampleBlock, count_parameters


@pytest.mark.parametrize("scale", [2, 4, 8])
@pytest.mark.parametrize("size", [(24, 24), (17, 31)])
def test_generator_output_shape_and_range(scale, size):
    torch.manual_seed(0)
    g = Generator(scale=scale, num_blocks=2, channels=16).eval()
    with torch.no_grad():
        out = g(torch.rand(2, 3, *size))
    assert out.shape == (2, 3, size[0] * scale, size[1] * scale)
    assert out.min() >= 0 and out.max() <= 1


def test_generator_layout_matches_paper():
    g = Generator()
    assert len(g.body) == 16 and len(g.upsample) == 2
    assert g.head[0].kernel_size == (9, 9) and g.tail.kernel_size == (9, 9)
    assert g.upsample[0].conv.out_channels == 256 and g.upsample[0].shuffle.upscale_factor == 2
    # 16 residual blocks of 2 x 64*64*9 conv weights + BN/PReLU dominate: the paper's ~1.5M parameters.
    assert count_parameters(g) == 1_547_350
    assert g.architecture == {"scale": 4, "num_blocks": 16, "channels": 64}


def test_generator_rejects_unsupported_scale():
    with pytest.raises(ValueError, match="scale"):
        Generator(scale=3)


@pytest.mark.parametrize("arguments, error, message", [
    ({"scale": 4.0}, TypeError, "scale must be an integer, got float 4.0"),  # built, then refused by every loader
    ({"num_blocks": 2.5}, TypeError, "num_blocks must be an integer, got float 2.5"),
    ({"channels": "64"}, TypeError, "channels must be an integer, got str '64'"),
    ({"channels": True}, TypeError, "channels must be an integer, got bool True"),
    ({"num_blocks": 257}, ValueError, "num_blocks must be in 1..256 and channels in 1..1024, got 257 and 8"),
    ({"channels": 1025}, ValueError, "got 1 and 1025"),  # saved, then no loader read the file back
])
def test_generator_arguments_are_ints_that_every_loader_reads(arguments, error, message):
    with pytest.raises(error, match=message):
        Generator(**{"num_blocks": 1, "channels": 8, **arguments})


def test_generator_takes_numpy_integers_as_ints():
    assert type(Generator(scale=numpy.int64(2), num_blocks=1, channels=8).scale) is int


def test_generator_long_skip_carries_the_head_features_past_the_trunk():
    """With the trunk's last BN zeroed, the residual trunk adds nothing: what reaches the upsampler is the head's
    output itself, through the long skip (paper Fig. 4). Without the skip the output would be a constant."""
    torch.manual_seed(0)
    g = Generator(num_blocks=2, channels=8).eval()
    torch.nn.init.zeros_(g.body_tail[1].weight)
    torch.nn.init.zeros_(g.body_tail[1].bias)
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        expected = (torch.tanh(g.tail(g.upsample(g.head(x)))) + 1) / 2
        assert torch.equal(g(x), expected)
        assert expected.std() > 1e-3  # the skip carries the image, not a constant


@pytest.mark.parametrize("size", [96, 128])
def test_discriminator_shapes(size):
    d = Discriminator().eval()
    with torch.no_grad():
        logits = d(torch.rand(3, 3, size, size))
    assert logits.shape == (3,)
    assert torch.isfinite(logits).all()


def test_discriminator_layout_matches_paper():
    d = Discriminator()
    convs = [m for m in d.features.modules() if isinstance(m, torch.nn.Conv2d)]
    bns = [m for m in d.features.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert len(bns) == 7  # every block but the first
    assert d.classifier[1].in_features == 18432 and d.classifier[1].out_features == 1024
    assert d.classifier[3].out_features == 1


def test_discriminator_sees_the_papers_minus_one_to_one_range():
    """Images come in [0, 1]; D's first conv sees them mapped to the paper's HR range [-1, 1]."""
    torch.manual_seed(0)
    d = Discriminator().eval()
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        assert torch.equal(d(x), d.classifier(d.pool(d.features(2 * x - 1))).squeeze(1))
        assert not torch.allclose(d(x), d.classifier(d.pool(d.features(x))).squeeze(1))


def test_upsample_starts_as_nearest_neighbour_icnr():
    """ICNR: at initialisation each 2x2 output block of the sub-pixel layer is constant (no checkerboard)."""
    torch.manual_seed(0)
    block = UpsampleBlock(8)
    out = block(torch.randn(2, 8, 5, 7))
    assert out.shape == (2, 8, 10, 14)
    blocks = out.reshape(2, 8, 5, 2, 7, 2)
    spread = (blocks - blocks[:, :, :, :1, :, :1]).abs().max()
    assert spread == 0
    assert out.std() > 0.05  # and it is not trivially zero
