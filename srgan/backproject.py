"""Back-projection: make a super-resolved image agree with its input under the bicubic degradation.

One step of iterative back-projection (Irani & Peleg, 1991): ``SR + up(LR - down(SR))``, where ``down`` is
MATLAB's bicubic downscale (the degradation the benchmarks and the shipped models' training data use) and ``up``
its bicubic upscale. What the network invented at frequencies the LR image holds is pulled back to the LR image;
texture above them is kept. It is opt-in (``--back-project``): the paper's models and numbers are without it.

Measured on the shipped SRGAN (docs/RESULTS.md, "Back-projection"): its local colour drift (each image's largest
mean offset of a 32-px block, the median over Set14) falls from 4.4 to 0.8 levels; on Set5 / Set14 / BSD100 PSNR
rises 0.09-0.23 dB and NIQE 0.03-0.06.

The correction reads the SR image 2 LR pixels around each LR pixel and the residual 2 LR pixels around each output
pixel, so :class:`BackProjected` tiles exactly with the wrapped network's radius plus 4 (plus 1 to spare).
"""
from __future__ import annotations

import torch
from torch import nn

from .imresize import imresize

#: LR pixels of context the correction adds to the network's own receptive-field radius.
EXTRA_RADIUS = 5


class BackProjected(nn.Module):
    """``model``'s output, back-projected onto its [0, 1] input; float32 out (float64 for a float64 input: eval's
    bicubic), clamped SR in, clamped out."""

    def __init__(self, model: nn.Module, scale: int, radius: int):
        super().__init__()
        self.model, self.scale, self.radius = model, int(scale), int(radius) + EXTRA_RADIUS

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        dtype = torch.float64 if lr.dtype == torch.float64 else torch.float32
        sr = self.model(lr).to(dtype).clamp(0, 1)
        with torch.autocast(lr.device.type, enabled=False):  # the resizes in `dtype` even under autocast
            residual = lr.to(dtype) - imresize(sr, 1 / self.scale)
            # Clamped as every model's output is: a sharp edge overshoots (-0.27..1.08 on a black square, -0.89..1.75
            # on binary noise), which float outputs returned as they were and upscale() then refused as input.
            return (sr + imresize(residual, self.scale)).clamp_(0, 1)
