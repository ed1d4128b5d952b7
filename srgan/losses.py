"""SRGAN losses (paper Sec. 2.2) on [0, 1] images and discriminator logits.

Perceptual loss for G:  content + 1e-3 * BCE(D(SR), 1), content one of the paper's Table 1 variants:
  - ``mse``:   pixel MSE on the paper's [-1, 1] HR range (4x the MSE on [0, 1] images);
  - ``vgg22`` / ``vgg54``: ``vgg_weight * MSE(s * phi(SR), s * phi(HR))``, phi torchvision-layout VGG19
    features, s = ``vgg_feature_scale``. Defaults: weight 1, s = 1 (plain torchvision features).
Discriminator: BCE(D(HR), 1 - 0.1 * U(0, 1)) + BCE(D(SR), 0), the seed's one-sided label smoothing.

Why weight 1 on plain features, not the paper's 0.006. The paper rescaled *Caffe* VGG features by 1/12.75
(a 0.006 weight on their MSE). torchvision's vgg19 was trained anew in PyTorch on [0, 1] inputs normalised by
mean/std, not converted from Caffe, so no factor is known to map its feature magnitudes onto Caffe's (an
earlier default of 255 * mean(std) assumed one; nothing showed it). What is published: a PyTorch SRGAN trained
VGG54 content with weight 1 on plain torchvision features and 1e-3 adversarial, and landed near the paper
(Set5 29.72 / Set14 26.51 / BSD100 25.53 dB against the paper's 29.40 / 26.02 / 25.16). So that is the
default; ``vgg_feature_scale`` stays a hyperparameter (the loss scales as its square). VGG22 has no such
evidence and uses the same defaults. See docs/LOSSES.md.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .vgg import VGGFeatures

CONTENT_LOSSES = ("mse", "vgg22", "vgg54")
PAPER_ADVERSARIAL_WEIGHT = 1e-3
DEFAULT_VGG_WEIGHT = 1.0          # on plain torchvision VGG54 features: the published PyTorch evidence above
DEFAULT_VGG_FEATURE_SCALE = 1.0   # features as torchvision computes them


def pixel_mse(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """MSE on the paper's [-1, 1] range for [0, 1] inputs."""
    return F.mse_loss(sr * 2 - 1, hr * 2 - 1)


class ContentLoss(nn.Module):
    """The content term of the perceptual loss. Builds its VGG once; the VGG is frozen and never trained."""

    def __init__(self, kind: str = "mse", *, vgg_weights=None, vgg_weight: float = DEFAULT_VGG_WEIGHT,
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


def phase_grid_loss(sr: torch.Tensor, hr: torch.Tensor, *, scale: int = 4, cells: int = 8) -> torch.Tensor:
    """The part of the error SR - HR that repeats every ``scale`` pixels: the sub-pixel grid, as a loss.

    A x4 pixel-shuffle generator paints each of the 16 phases (y mod 4, x mod 4) of its output with its own
    weights. A grid is those phases disagreeing in their local mean. Here the error (on [-1, 1]) is split into
    its phases (``pixel_unshuffle``), each phase is averaged over ``cells`` x ``cells`` cells (32 x 32 px at x4:
    real detail averages out, a phase-locked offset does not), and the loss is the mean square of each phase's
    local mean minus the mean over the phases. It measures in the loss what srgan.checkerboard scores on
    outputs. Not part of the paper's loss: an optional extra (config ``grid_weight``; ``--grid-weight`` of
    scripts/train_release_gpu.py), which removed the shipped SRGAN's grid (docs/TRAINING.md).
    """
    error = (sr.float() - hr.float()) * 2
    local = F.avg_pool2d(F.pixel_unshuffle(error, scale), cells)
    local = local.unflatten(1, (error.shape[1], scale * scale))
    return (local - local.mean(2, keepdim=True)).pow(2).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, *, label_smoothing: float = 0.1,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """BCE(D(HR), 1 - s*U(0,1)) + BCE(D(SR), 0); ``fake_logits`` must come from a detached SR."""
    if not 0 <= label_smoothing < 1:  # s = 2 made real targets negative, which BCE takes without a word
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    # The noise is drawn where ``generator`` lives (CPU by default: the same numbers on any device), so a
    # CUDA generator keeps the step free of host-device syncs.
    noise_device = generator.device if generator is not None else torch.device("cpu")
    noise = torch.rand(real_logits.shape, generator=generator, device=noise_device).to(real_logits)
    real_targets = 1 - label_smoothing * noise
    real = F.binary_cross_entropy_with_logits(real_logits.float(), real_targets.float())
    fake = F.binary_cross_entropy_with_logits(fake_logits.float(), torch.zeros_like(fake_logits, dtype=torch.float))
    return real + fake


def adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's non-saturating adversarial term, -log D(G(LR)) = BCE(D(SR), 1)."""
    return F.binary_cross_entropy_with_logits(fake_logits.float(), torch.ones_like(fake_logits, dtype=torch.float))


def generator_loss(sr: torch.Tensor, hr: torch.Tensor, fake_logits: torch.Tensor, content: ContentLoss, *,
                   adversarial_weight: float = PAPER_ADVERSARIAL_WEIGHT, grid_weight: float = 0.0,
                   scale: int = 4) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Perceptual loss l^SR = content + adversarial_weight * adversarial (+ grid_weight * the x``scale`` grid
    term, :func:`phase_grid_loss`, when it is not 0). Returns (total, detached parts)."""
    content_term = content(sr, hr)
    adversarial_term = adversarial_loss(fake_logits)
    total = content_term + adversarial_weight * adversarial_term
    parts = {"content": content_term.detach(), "adversarial": adversarial_term.detach()}
    if grid_weight:
        grid_term = phase_grid_loss(sr, hr, scale=scale)
        total = total + grid_weight * grid_term
        parts["grid"] = grid_term.detach()
    return total, parts
