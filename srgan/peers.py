"""Other people's released generators, rebuilt here so ``srgan eval`` can score them beside ours.

leftthomas/SRGAN
    ``netG_epoch_4_100.pth`` from leftthomas/SRGAN at commit b0323c6 (MIT): a legacy torch
    pickle holding a plain state dict (79 tensors, 735,372 parameters). The architecture
    below was read off the state-dict keys and shapes:

    * ``block1``: Conv9x9(3->64) + PReLU
    * ``block2..block6``: 5 residual blocks, conv3x3(bias)-BN-PReLU-conv3x3(bias)-BN + identity
    * ``block7``: Conv3x3(64->64) + **PReLU** (``block7.1.weight`` has shape (1,); the repo's
      model.py after 2019 has a BatchNorm there instead, which does not fit these weights)
    * ``block8``: log2(scale) x [Conv3x3(64->256), PixelShuffle(2), PReLU] + Conv9x9(64->3)
    * global skip ``block8(block1 + block7)``; output ``(tanh(x) + 1) / 2``.

    Input is RGB in [0, 1] (no mean/std normalisation), output RGB in [0, 1], as our own
    generator. It was trained on VOC2012 crops degraded with PIL bicubic, not MATLAB's.
"""
from __future__ import annotations

import math
import os
import re

import torch
from torch import nn

from .checkpoint import CheckpointError, generator_parts, load_checkpoint, pick_part, refuse_nonfinite, strip_prefixes
from .models import MAX_CHANNELS, SUPPORTED_SCALES

__all__ = ["LeftthomasGenerator", "is_leftthomas_state_dict", "leftthomas_from_state_dict", "leftthomas_part",
           "load_leftthomas"]


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.prelu = nn.PReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))


class _Upsample(nn.Module):
    def __init__(self, channels: int, factor: int = 2):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * factor * factor, 3, padding=1)
        self.pixel_shuffle = nn.PixelShuffle(factor)
        self.prelu = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.pixel_shuffle(self.conv(x)))


class LeftthomasGenerator(nn.Module):
    """The leftthomas/SRGAN ``Generator(scale_factor)`` at commit b0323c6; [0, 1] in, [0, 1] out."""

    NUM_RESIDUAL = 5

    def __init__(self, scale: int = 4, channels: int = 64):
        super().__init__()
        steps = int(math.log2(scale))
        if scale < 2 or 2 ** steps != scale:
            raise ValueError(f"scale must be a power of two >= 2, got {scale}")
        self.scale = scale
        self.block1 = nn.Sequential(nn.Conv2d(3, channels, 9, padding=4), nn.PReLU())
        for k in range(2, 2 + self.NUM_RESIDUAL):
            setattr(self, f"block{k}", _ResidualBlock(channels))
        self.block7 = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.PReLU())
        self.block8 = nn.Sequential(*(_Upsample(channels) for _ in range(steps)),
                                    nn.Conv2d(channels, 3, 9, padding=4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.block1(x)
        y = head
        for k in range(2, 2 + self.NUM_RESIDUAL):
            y = getattr(self, f"block{k}")(y)
        y = self.block8(head + self.block7(y))
        return (torch.tanh(y) + 1) / 2


_SIGNATURE = ("block1.0.weight", "block7.0.weight", "block7.1.weight", "block2.conv1.weight", "block2.bn1.running_mean")


def is_leftthomas_state_dict(state) -> bool:
    """True for a (possibly ``module.``-prefixed) state dict of the leftthomas/SRGAN generator."""
    if not isinstance(state, dict):
        return False
    keys = {k.split("module.", 1)[-1] if k.startswith("module.") else k for k in state}
    return all(k in keys for k in _SIGNATURE)


def leftthomas_part(tree, source: str = "state dict") -> dict | None:
    """The leftthomas/SRGAN generator's state dict in what ``torch.load`` returned (bare, or wrapped or prefixed as
    :func:`srgan.checkpoint.generator_parts` finds srgan's), or None."""
    if not isinstance(tree, dict):
        return None
    part = pick_part(generator_parts(tree, "block1.0.weight", is_leftthomas_state_dict), source)
    return part.state if part else None


def leftthomas_from_state_dict(state: dict, source: str = "state dict") -> LeftthomasGenerator:
    """Build the module for ``state`` (scale inferred from the upsampling blocks) and load it strictly."""
    state = strip_prefixes(state)
    if not is_leftthomas_state_dict(state):
        raise CheckpointError(f"{source}: not a leftthomas/SRGAN generator state dict")
    ups = {int(m.group(1)) for k in state if (m := re.match(r"block8\.(\d+)\.conv\.weight$", k))}
    channels = int(state["block1.0.weight"].shape[0])
    if state["block7.1.weight"].numel() != 1:
        raise CheckpointError(f"{source}: block7.1 is not a PReLU (a BatchNorm block7 is the post-2019 "
                              "model.py, which this loader does not build)")
    if 2 ** len(ups) not in SUPPORTED_SCALES or not 1 <= channels <= MAX_CHANNELS:  # before building anything
        raise CheckpointError(f"{source}: a leftthomas/SRGAN generator of scale {2 ** min(len(ups), 16)} and "
                              f"{channels} channels is outside scales {SUPPORTED_SCALES}, 1..{MAX_CHANNELS} channels")
    refuse_nonfinite(state, source)
    model = LeftthomasGenerator(scale=2 ** len(ups), channels=channels)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = " ".join(str(exc).split())[:300]
        raise CheckpointError(f"{source}: weights do not fit the leftthomas/SRGAN generator: {first}") from None
    return model.eval()


def load_leftthomas(path, device="cpu") -> LeftthomasGenerator:
    """Load ``netG_epoch_*.pth`` of leftthomas/SRGAN (``weights_only=True``, strict) in eval mode."""
    state = load_checkpoint(path)
    part = leftthomas_part(state, os.fspath(path))
    return leftthomas_from_state_dict(state if part is None else part, source=os.fspath(path)).to(device)
