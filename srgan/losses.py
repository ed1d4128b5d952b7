"""SRGAN losses (paper Sec. 2.2) on [0, 1] images and discriminator logits.

Perceptual loss for G:  content + 1e-3 * BCE(D(SR), 1), content one of the paper's Table 1 variants:
  - ``mse``:   pixel MSE on the paper's [-1, 1] HR range (4x the MSE on [0, 1] images);
  - ``vgg22`` / ``vgg54``: 0.006 * MSE between VGG19 feature maps of SR and HR.
Discriminator: BCE(D(HR), 1 - 0.1 * U(0, 1)) + BCE(D(SR), 0), the seed's one-sided label smoothing.

Calibrating the 0.006 (= 1/12.75^2). The paper's VGG was Caffe's: it saw BGR pixels in [0, 255] minus the
mean. torchvision's VGG sees (x - mean) / std with x in [0, 1], inputs about 1 / (255 * std) ~ 1/57.6 as large.
A ReLU network without biases is positively homogeneous, so its features shrink by the same factor and their
MSE by ~3300x: the paper's weight applied to torchvision features would make the content loss ~3300x weaker
against the adversarial term than in the paper. We therefore multiply the features by
``vgg_feature_scale = 255 * mean(std)`` before the MSE, restoring the paper's magnitudes (up to the biases),
so that 0.006 keeps the meaning it has in the paper. Set ``vgg_feature_scale = 1`` to get plain
torchvision-feature MSE. See docs/LOSSES.md.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .vgg import IMAGENET_STD, VGGFeatures

CONTENT_LOSSES = ("mse", "vgg22", "vgg54")
PAPER_VGG_WEIGHT = 1 / 12.75**2  # 0.00615..., the paper's "0.006"
PAPER_ADVERSARIAL_WEIGHT = 1e-3
DEFAULT_VGG_FEATURE_SCALE = 255 * sum(IMAGENET_STD) / 3


def pixel_mse(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """MSE on the paper's [-1, 1] range for [0, 1] inputs."""
    return F.mse_loss(sr * 2 - 1, hr * 2 - 1)


class ContentLoss(nn.Module):
    """The content term of the perceptual loss. Builds its VGG once; the VGG is frozen and never trained."""

    def __init__(self, kind: str = "mse", *, vgg_weights=None, vgg_weight: float = PAPER_VGG_WEIGHT,
                 vgg_feature_scale: float = DEFAULT_VGG_FEATURE_SCALE):
        super().__init__()
        if kind not in CONTENT_LOSSES:
            raise ValueError(f"content loss must be one of {CONTENT_LOSSES}, got {kind!r}")
        self.kind = kind
        self.vgg_weight = vgg_weight
        self.vgg_feature_scale = vgg_feature_scale
        self.vgg = VGGFeatures(kind, vgg_weights) if kind != "mse" else None

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if self.vgg is None:
            return pixel_mse(sr, hr)
        with torch.no_grad():  # the target's features need no graph
            hr_features = self.vgg(hr)
        sr_features = self.vgg(sr)
        scale = self.vgg_feature_scale
        return self.vgg_weight * F.mse_loss(sr_features.float() * scale, hr_features.float() * scale)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, *, label_smoothing: float = 0.1,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """BCE(D(HR), 1 - s*U(0,1)) + BCE(D(SR), 0); ``fake_logits`` must come from a detached SR."""
    noise = torch.rand(real_logits.shape, generator=generator, device="cpu").to(real_logits)
    real_targets = 1 - label_smoothing * noise
    real = F.binary_cross_entropy_with_logits(real_logits.float(), real_targets.float())
    fake = F.binary_cross_entropy_with_logits(fake_logits.float(), torch.zeros_like(fake_logits, dtype=torch.float))
    return real + fake


def adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's non-saturating adversarial term, -log D(G(LR)) = BCE(D(SR), 1)."""
    return F.binary_cross_entropy_with_logits(fake_logits.float(), torch.ones_like(fake_logits, dtype=torch.float))


def generator_loss(sr: torch.Tensor, hr: torch.Tensor, fake_logits: torch.Tensor, content: ContentLoss, *,
                   adversarial_weight: float = PAPER_ADVERSARIAL_WEIGHT) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Perceptual loss l^SR = content + adversarial_weight * adversarial. Returns (total, detached parts)."""
    content_term = content(sr, hr)
    adversarial_term = adversarial_loss(fake_logits)
    total = content_term + adversarial_weight * adversarial_term
    return total, {"content": content_term.detach(), "adversarial": adversarial_term.detach()}
