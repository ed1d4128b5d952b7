"""VGG19 feature extractor for the paper's perceptual content loss, written here (no torchvision).

The layer layout and state-dict keys are torchvision's ``vgg19().features`` (``features.0.weight`` ...), so the
official ImageNet file ``vgg19-dcbb9e9d.pth`` loads as is. The network is cut after the ReLU that follows
conv2_2 (``vgg22``, the paper's phi_2,2) or conv5_4 (``vgg54``, phi_5,4).
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import torch
from torch import nn

from .pretrained import (WeightsMissing, find_weights, load_matching, load_state_dict_file, say_if_unpublished,
                         torch_cache_file)

VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_FILENAME = "vgg19-dcbb9e9d.pth"
# torchvision names its files <name>-<first 8 hex digits of the sha256>; the download is checked against all 64.
VGG19_SHA256 = "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44"
VGG19_BYTES = 574_673_361
WEIGHTS_ENV = "SRGAN_VGG19_WEIGHTS"

# "M" is a 2x2 max-pool. Same order as torchvision's cfg "E".
_VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")  # cfg "D"
# Number of `features` modules to keep: index of the wanted ReLU + 1.
CUTS = {"vgg22": 9, "vgg54": 36}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGWeightsMissing(WeightsMissing):
    pass


def build_vgg19_features(num_layers: int | None = None) -> nn.Sequential:
    """torchvision's ``vgg19().features`` (conv, ReLU, pool modules in order), truncated to ``num_layers``."""
    return build_vgg_features(_VGG19_LAYOUT, num_layers)


def build_vgg_features(layout: tuple, num_layers: int | None = None) -> nn.Sequential:
    """torchvision's VGG ``features`` for a layout (channels, "M" for a max-pool), truncated to ``num_layers``."""
    layers: list[nn.Module] = []
    in_ch = 3
    for item in layout:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(in_ch, item, 3, padding=1), nn.ReLU(inplace=True)]
            in_ch = item
    return nn.Sequential(*layers[:num_layers])


def resolve_vgg19_weights(path: str | os.PathLike | None = None, *, download: bool = True) -> Path:
    """Find the ImageNet VGG19 weights: explicit path, ``$SRGAN_VGG19_WEIGHTS``, torchvision's cache, download
    (:func:`srgan.pretrained.find_weights`)."""
    return find_weights(path, env=WEIGHTS_ENV, cached=torch_cache_file(VGG19_FILENAME), url=VGG19_URL,
                        sha256=VGG19_SHA256, size=VGG19_BYTES, what="ImageNet VGG19", give="config vgg_weights=...",
                        download=download, missing=VGGWeightsMissing,
                        note="The vgg22/vgg54 content loss needs them; the 'mse' content loss needs none.")


class VGGFeatures(nn.Module):
    """Frozen VGG19 features up to ``layer`` ('vgg22' or 'vgg54'); takes RGB in [0, 1].

    ImageNet mean/std normalisation happens inside, so callers pass images as they are.
    """

    def __init__(self, layer: str = "vgg54", weights: str | os.PathLike | dict | None = None):
        super().__init__()
        if layer not in CUTS:
            raise ValueError(f"VGG layer must be one of {sorted(CUTS)}, got {layer!r}")
        self.layer = layer
        self.features = build_vgg19_features(CUTS[layer])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if isinstance(weights, dict):
            self.load_torchvision_state_dict(weights)
        else:
            path = resolve_vgg19_weights(weights)
            say_if_unpublished(path, VGG19_SHA256, logging.getLogger(__name__), "torchvision's ImageNet VGG19",
                               "the vgg22/vgg54 content loss is the paper's only with those")
            try:
                self.load_torchvision_state_dict(load_state_dict_file(path, "VGG19"))
            except ValueError as exc:  # "not a torchvision VGG19 state dict: ..." named neither file nor setting
                message = str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}"
                raise ValueError(f"{message} (the VGG19 weights: vgg_weights, $SRGAN_VGG19_WEIGHTS or torch's "
                                 "cache)") from None
        self.requires_grad_(False)
        self.eval()

    def load_torchvision_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load the ``features.*`` entries we keep; ``classifier.*`` and deeper layers are ignored."""
        load_matching(self, state, "a torchvision VGG19")

    def weights_sha256(self) -> str:
        """A hash of the weights in use (not of the file: a copy, or the same weights saved again, is the same).
        Training checkpoints keep it: a resumed run's content loss is the run's only with the run's VGG19."""
        digest = hashlib.sha256()
        for name, tensor in self.features.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy())
        return digest.hexdigest()

    def train(self, mode: bool = True) -> "VGGFeatures":
        # Always eval: the loss network must not change with the trainer's mode switches.
        return super().train(False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.features((image - self.mean) / self.std)
