"""LPIPS v0.1 (Zhang et al., CVPR 2018): the learned perceptual distance SR papers report beside PSNR and NIQE.

For each of five layers l of an ImageNet backbone, the features of both images are scaled to unit length along
the channels at every position; their squared difference is weighted per channel by the learned linear layer
``w_l`` (a 1x1 convolution), averaged over the positions, and the five averages are summed:

    LPIPS(x, y) = sum_l mean_hw sum_c w_lc (f_lchw(x) / |f_lhw(x)| - f_lchw(y) / |f_lhw(y)|)^2

Inputs are RGB in [-1, 1] shifted and scaled per channel (richzhang/PerceptualSimilarity's ScalingLayer); 0 means
identical. Backbones, with torchvision's ``features.*`` keys so its ImageNet files load as they are:

* ``alex`` (the default, as the authors recommend for a metric): the ReLU after each of AlexNet's 5 convolutions;
* ``vgg``: VGG16's relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.

Weights (:mod:`srgan.pretrained`: path, environment variable, cache, checked download): the backbone's
torchvision file, and the authors' linear layers (``alex.pth``/``vgg.pth``, a few KB each) from
richzhang/PerceptualSimilarity at a pinned commit, sha256-checked. ``srgan eval --metrics lpips`` scores the whole
SR image against the whole (mod-cropped) HR, as the authors' ``lpips_2imgs.py`` does, with ``alex``.
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .metrics import OVERSHOOT
from .pixels import float_range_hint, value_scale
from .pretrained import (WeightsMissing, find_weights, load_matching, load_state_dict_file, say_if_unpublished,
                         torch_cache_file)
from .vgg import VGG16_LAYOUT, build_vgg_features

#: Backbone -> (torchvision file, its sha256, its size in bytes, environment variable).
BACKBONES = {
    "alex": ("alexnet-owt-7be5be79.pth", "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
             244_408_911, "SRGAN_ALEXNET_WEIGHTS"),
    "vgg": ("vgg16-397923af.pth", "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
            553_433_881, "SRGAN_VGG16_WEIGHTS"),
}
BACKBONE_URL = "https://download.pytorch.org/models/"
LINEAR_COMMIT = "082bb24f84c091ea94de2867d34c4544f68e0963"
LINEAR_URL = f"https://raw.githubusercontent.com/richzhang/PerceptualSimilarity/{LINEAR_COMMIT}/lpips/weights/v0.1/"
#: sha256 and size of the v0.1 linear layers (the same bytes as ../shared/data/weights/richzhang_PerceptualSimilarity).
LINEAR_FILES = {
    "alex": ("df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0", 6009),
    "vgg": ("a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868", 7289),
}
LINEAR_ENV = "SRGAN_LPIPS_WEIGHTS"  # a folder holding alex.pth / vgg.pth

log = logging.getLogger(__name__)

# The authors' ScalingLayer: (x - shift) / scale, for x in [-1, 1].
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-10  # as the authors' normalize_tensor


def _alexnet_features() -> tuple[nn.Sequential, list[int], list[int]]:
    """torchvision's ``alexnet().features``; the 5 taps (indices of ReLUs) and their channels."""
    layers = nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True))  # (the final max-pool is never reached)
    return layers, [1, 4, 7, 9, 11], [64, 192, 384, 256, 256]


def _vgg16_features() -> tuple[nn.Sequential, list[int], list[int]]:
    """torchvision's ``vgg16().features`` up to relu5_3; the 5 taps and their channels."""
    return build_vgg_features(VGG16_LAYOUT, 30), [3, 8, 15, 22, 29], [64, 128, 256, 512, 512]


#: The smallest side each backbone reaches its last tap with (AlexNet's stride-4 11x11 convolution and two
#: poolings; VGG16's four poolings).
MIN_SIDE = {"alex": 31, "vgg": 16}


class LPIPS(nn.Module):
    """LPIPS v0.1 with backbone ``net`` ('alex' or 'vgg'). ``backbone`` / ``linear``: a path or a state dict each
    (None: found by :func:`backbone_weights` / :func:`linear_weights`). ``forward(x, y)`` takes (N,3,H,W) RGB in
    [0, 1] and returns the N distances; values more than :data:`srgan.metrics.OVERSHOOT` outside [0, 1] (the lpips
    package's [-1, 1], 0-255) are a ValueError, a model's smaller overshoot is scored as it is."""

    def __init__(self, net: str = "alex", backbone=None, linear=None):
        super().__init__()
        if net not in BACKBONES:
            raise ValueError(f"LPIPS net must be one of {', '.join(BACKBONES)}, got {net!r}")
        self.net = net
        self.features, self.taps, channels = _alexnet_features() if net == "alex" else _vgg16_features()
        self.linear = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in channels)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        what = f"torchvision {'AlexNet' if net == 'alex' else 'VGG16'}"
        # Both files are looked for before either is read: with neither there, the error named the backbone only,
        # and the linear layers only once it was supplied.
        found, missing = {}, []
        for kind, given, find in (("backbone", backbone, backbone_weights), ("linear", linear, linear_weights)):
            if not isinstance(given, dict):
                try:
                    found[kind] = find(net, given)
                except WeightsMissing as exc:
                    missing.append(exc)
        if missing:
            raise type(missing[0])(" Also: ".join(str(exc) for exc in missing))
        for kind, path in found.items():
            say_if_unpublished(path, BACKBONES[net][1] if kind == "backbone" else LINEAR_FILES[net][0], log,
                               f"the published {what if kind == 'backbone' else 'LPIPS v0.1 linear-layer'}",
                               "its LPIPS is not comparable with published numbers")
        if not isinstance(backbone, dict):
            backbone = load_state_dict_file(found["backbone"], what)
        load_matching(self.features, backbone, f"a {what}", prefix="features.")
        if not isinstance(linear, dict):
            linear = load_state_dict_file(found["linear"], "LPIPS linear")
        for i, conv in enumerate(self.linear):
            load_matching(conv, linear, "an LPIPS v0.1 linear-layer", prefix=f"lin{i}.model.1.")
        self.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> "LPIPS":
        return super().train(False)  # a metric: no dropout, ever

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape:
            raise ValueError(f"LPIPS needs two images of one size, got {tuple(x.shape)} and {tuple(y.shape)}")
        if x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point() or not y.is_floating_point():
            raise ValueError(f"LPIPS takes (N, 3, H, W) float RGB in [0, 1], got {tuple(x.shape)} {x.dtype}")
        if min(x.shape[2:]) < MIN_SIDE[self.net]:  # else a pooling fails deep inside, in torch's words
            raise ValueError(f"LPIPS ({self.net}) needs images of at least {MIN_SIDE[self.net]} px a side, got "
                             f"{x.shape[3]}x{x.shape[2]}")
        # [-1, 1] input (the lpips package's convention) or 0-255 floats gave believable wrong distances. A model's
        # overshoot past [0, 1], as when LPIPS is a training loss, is scored as it is: it is the picture.
        ends = torch.stack([v.detach().float() for v in (*torch.aminmax(x), *torch.aminmax(y))]).tolist()  # one sync
        if not all(map(math.isfinite, ends)):  # NaN and inf reach these (Python's min() would drop a NaN)
            raise ValueError("LPIPS got NaN or infinite pixels")
        lo, hi = min(ends[0], ends[2]), max(ends[1], ends[3])
        if lo < -OVERSHOOT or hi > 1 + OVERSHOOT:
            hint = (" (the lpips package's [-1, 1] convention? pass (x + 1) / 2)"
                    if value_scale(lo, hi, OVERSHOOT) == "[-1, 1]" else float_range_hint(lo, hi, OVERSHOOT, False))
            raise ValueError(f"LPIPS takes RGB in [0, 1], got values in [{lo:g}, {hi:g}]{hint}")
        both = (torch.cat([x, y]).to(self.shift.dtype) * 2 - 1 - self.shift) / self.scale
        total = torch.zeros(x.shape[0], device=x.device)
        taps = iter(zip(self.taps, self.linear))
        tap, linear = next(taps)
        for i, layer in enumerate(self.features):
            both = layer(both)
            if i == tap:
                unit = both / (both.pow(2).sum(dim=1, keepdim=True).sqrt() + _EPS)
                a, b = unit.chunk(2)
                total += linear((a - b) ** 2).mean(dim=(1, 2, 3))
                tap, linear = next(taps, (None, None))
                if tap is None:
                    break
        return total


def lpips(sr: np.ndarray, hr: np.ndarray, model: LPIPS) -> float:
    """LPIPS of two HxWx3 uint8 RGB images (the whole images; RGB PIL images work too)."""
    sr, hr = np.asarray(sr), np.asarray(hr)
    for a in (sr, hr):
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(f"lpips takes two HxWx3 uint8 RGB images, got {a.dtype} {a.shape}")
    to = lambda a: torch.from_numpy(np.require(a, requirements="CW")).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    with torch.inference_mode():
        return float(model(to(sr), to(hr))[0])


def backbone_weights(net: str, path: str | os.PathLike | None = None, *, download: bool = True) -> Path:
    """The ImageNet backbone file: ``path``, ``$SRGAN_ALEXNET_WEIGHTS``/``$SRGAN_VGG16_WEIGHTS``, torchvision's
    cache, or a checked download into it."""
    filename, sha, size, env = BACKBONES[net]
    return find_weights(path, env=env, cached=torch_cache_file(filename), url=BACKBONE_URL + filename, sha256=sha,
                        size=size, what=f"ImageNet {'AlexNet' if net == 'alex' else 'VGG16'} (for LPIPS)",
                        give="the API's LPIPS(backbone=...)", download=download)


def linear_weights(net: str, path: str | os.PathLike | None = None, *, download: bool = True) -> Path:
    """The authors' v0.1 linear layers for ``net``: ``path``, ``$SRGAN_LPIPS_WEIGHTS`` (the folder holding
    ``<net>.pth``, or that file), srgan's cache, or a checked download into it."""
    from .datasets import default_cache_dir

    given = os.environ.get(LINEAR_ENV)
    if path is None and given:
        given = Path(given).expanduser()
        path = given / f"{net}.pth" if given.is_dir() else given
        if not path.is_file():
            raise WeightsMissing(f"${LINEAR_ENV} is {given}, which is neither {net}.pth nor a folder holding it")
    sha, size = LINEAR_FILES[net]
    return find_weights(path, env=LINEAR_ENV, cached=default_cache_dir() / "lpips" / "v0.1" / f"{net}.pth",
                        url=LINEAR_URL + f"{net}.pth", sha256=sha, size=size, what="LPIPS v0.1 linear-layer",
                        give="the API's LPIPS(linear=...)", download=download,
                        note=f"${LINEAR_ENV} takes the folder of alex.pth and vgg.pth, or the file.")
