"""The SRGAN networks (Ledig et al., CVPR 2017, Fig. 4) as plain ``nn.Module``s.

Public contract of both networks: images are float tensors in [0, 1], NCHW. The paper scales LR inputs to
[0, 1] and HR images to [-1, 1] (the generator ends in tanh); that [-1, 1] range is kept *inside* the
modules, so callers never see it.
"""
from __future__ import annotations

import math
import operator

import torch
from torch import nn

SUPPORTED_SCALES = (2, 4, 8)
#: Largest generator srgan builds (the paper's has 16 blocks of 64 channels): a 44 KB weights file must not make us
#: build a network of gigabytes before its tensors are found not to fit, and training must not make weights that
#: nothing would load.
MAX_BLOCKS, MAX_CHANNELS = 256, 1024


def _whole(value, name: str) -> int:
    """``value`` as an int (numpy's integers too); a float, a bool or a string is refused."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    return operator.index(value)


class ResidualBlock(nn.Module):
    """conv3x3-BN-PReLU-conv3x3-BN plus identity (the paper's B residual blocks)."""

    def __init__(self, channels: int):
        super().__init__()
        # The convolutions feed a BatchNorm, whose shift makes a conv bias redundant.
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.prelu = nn.PReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))


def icnr_(conv: nn.Conv2d, factor: int = 2) -> nn.Conv2d:
    """ICNR initialisation (Aitken et al. 2017) of a conv that feeds ``PixelShuffle(factor)``.

    All ``factor**2`` output channels that the shuffle spreads over one output pixel block start with the same
    kernel and bias, so at initialisation the sub-pixel layer is a conv followed by nearest-neighbour
    upsampling: no checkerboard to unlearn. The shared kernel is drawn as ``nn.Conv2d`` draws its own.
    """
    groups = factor**2
    shared = nn.Conv2d(conv.in_channels, conv.out_channels // groups, conv.kernel_size, bias=conv.bias is not None)
    with torch.no_grad():
        # PixelShuffle reads channel c * factor**2 + k for sub-pixel k of output channel c.
        conv.weight.copy_(shared.weight.repeat_interleave(groups, dim=0))
        if conv.bias is not None:
            conv.bias.copy_(shared.bias.repeat_interleave(groups))
    return conv


class UpsampleBlock(nn.Module):
    """conv3x3 to 4x channels, PixelShuffle(2), PReLU: doubles H and W (the paper's sub-pixel layer).

    The conv starts from ICNR (:func:`icnr_`), a known remedy for sub-pixel checkerboard that keeps the
    paper's architecture.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.conv = icnr_(nn.Conv2d(channels, channels * 4, 3, padding=1))
        self.shuffle = nn.PixelShuffle(2)
        self.prelu = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.shuffle(self.conv(x)))


class Generator(nn.Module):
    """SRResNet / the SRGAN generator. Fully convolutional: any input H, W gives ``scale`` x H, W.

    Input and output are RGB in [0, 1]; the final tanh output is mapped from [-1, 1] to [0, 1].
    """

    def __init__(self, scale: int = 4, num_blocks: int = 16, channels: int = 64):
        super().__init__()
        # Plain ints in the ranges every loader reads: scale=4.0 built a network that upscale and load_generator
        # then refused, and 300 blocks were saved into a file no loader would read back.
        scale, num_blocks, channels = (_whole(value, name) for value, name in
                                       ((scale, "scale"), (num_blocks, "num_blocks"), (channels, "channels")))
        if scale not in SUPPORTED_SCALES:
            raise ValueError(f"scale must be one of {SUPPORTED_SCALES}, got {scale!r}")
        if not (1 <= num_blocks <= MAX_BLOCKS and 1 <= channels <= MAX_CHANNELS):
            raise ValueError(f"num_blocks must be in 1..{MAX_BLOCKS} and channels in 1..{MAX_CHANNELS}, got "
                             f"{num_blocks} and {channels}")
        self.scale, self.num_blocks, self.channels = scale, num_blocks, channels

        self.head = nn.Sequential(nn.Conv2d(3, channels, 9, padding=4), nn.PReLU())
        self.body = nn.Sequential(*(ResidualBlock(channels) for _ in range(num_blocks)))
        self.body_tail = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
        )
        self.upsample = nn.Sequential(*(UpsampleBlock(channels) for _ in range(int(math.log2(scale)))))
        self.tail = nn.Conv2d(channels, 3, 9, padding=4)

    @property
    def architecture(self) -> dict[str, int]:
        return {"scale": self.scale, "num_blocks": self.num_blocks, "channels": self.channels}

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        features = self.head(lr)
        # Long skip from the first layer over all residual blocks (paper Fig. 4).
        features = features + self.body_tail(self.body(features))
        out = torch.tanh(self.tail(self.upsample(features)))
        return (out + 1) / 2


def _disc_block(in_ch: int, out_ch: int, stride: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_ch))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


class Discriminator(nn.Module):
    """The SRGAN discriminator: 8 conv blocks, adaptive pooling to 6x6, two dense layers, one logit.

    BatchNorm follows every conv block but the first, as in the paper's Fig. 4 (the seed README's table puts
    it on all 8; the paper, DCGAN and every faithful port leave the first block without it).
    Adaptive pooling makes D accept any patch of 96 px or more; at 96 px the pool is the identity.
    Input is RGB in [0, 1]; the output is a logit (use BCE-with-logits, no sigmoid here).
    """

    CHANNELS = (64, 64, 128, 128, 256, 256, 512, 512)

    def __init__(self):
        super().__init__()
        blocks, in_ch = [], 3
        for i, out_ch in enumerate(self.CHANNELS):
            blocks.append(_disc_block(in_ch, out_ch, stride=1 + i % 2, batch_norm=i > 0))
            in_ch = out_ch
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(6)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(512 * 6 * 6, 1024),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(1024, 1),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        # D sees images in the paper's HR range [-1, 1].
        return self.classifier(self.pool(self.features(image * 2 - 1))).squeeze(1)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
