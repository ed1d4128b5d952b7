import math

import pytest
import torch

from srgan.losses import (ContentLoss, adversarial_loss, discriminator_loss, generator_loss, phase_grid_loss,
                          pixel_mse, DEFAULT_VGG_FEATURE_SCALE, DEFAULT_VGG_WEIGHT, PAPER_ADVERSARIAL_WEIGHT)


def bce(logit, target):
    p = 1 / (1 + math.exp(-logit))
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


def test_discriminator_loss_hand_computed():
    real = torch.tensor([2.0, -1.0])
    fake = torch.tensor([0.5, -3.0])
    gen = torch.Generator().manual_seed(123)
    noise = torch.rand(2, generator=torch.Generator().manual_seed(123))
    targets = [1 - 0.1 * n.item() for n in noise]
    expected = (bce(2.0, targets[0]) + bce(-1.0, targets[1])) / 2 + (bce(0.5, 0) + bce(-3.0, 0)) / 2
    got = discriminator_loss(real, fake, label_smoothing=0.1, generator=gen)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_discriminator_loss_without_smoothing():
    real, fake = torch.tensor([1.0]), torch.tensor([-2.0])
    assert discriminator_loss(real, fake, label_smoothing=0).item() == pytest.approx(bce(1.0, 1) + bce(-2.0, 0))
    for absurd in (1.0, 2.0, -0.1):  # 2 made the real targets negative, taken by BCE without a word
        with pytest.raises(ValueError, match=f"label_smoothing must be in \\[0, 1\\), got {absurd}"):
            discriminator_loss(real, fake, label_smoothing=absurd)


def test_generator_loss_hand_computed():
    sr = torch.tensor([[[[0.25, 0.75]]]]).expand(1, 3, 1, 2)
    hr = torch.tensor([[[[0.5, 0.5]]]]).expand(1, 3, 1, 2)
    fake = torch.tensor([0.3])
    total, parts = generator_loss(sr, hr, fake, ContentLoss("mse"), adversarial_weight=1e-3)
    # MSE on the paper's [-1, 1] range: differences 0.5 and 0.5 -> 0.25.
    assert parts["content"].item() == pytest.approx(0.25)
    assert parts["adversarial"].item() == pytest.approx(bce(0.3, 1), rel=1e-6)
    assert "grid" not in parts  # grid_weight 0: the paper's loss, nothing added
    assert total.item() == pytest.approx(0.25 + 1e-3 * bce(0.3, 1), rel=1e-6)


def test_pixel_mse_is_on_minus_one_one_range():
    a, b = torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.5)
    assert pixel_mse(a, b).item() == pytest.approx(4 * 0.25)


def test_adversarial_loss_pushes_towards_real():
    fake = torch.tensor([0.0], requires_grad=True)
    adversarial_loss(fake).backward()
    assert fake.grad.item() < 0  # raising D(SR) lowers the loss


def test_paper_constants():
    assert (DEFAULT_VGG_WEIGHT, DEFAULT_VGG_FEATURE_SCALE, PAPER_ADVERSARIAL_WEIGHT) == (1.0, 1.0, 1e-3)
    with pytest.raises(ValueError):
        ContentLoss("vgg33")


def test_phase_grid_loss_is_the_4px_periodic_part_of_the_error():
    hr = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.25
    pattern = torch.linspace(-0.02, 0.02, 16).view(4, 4)
    pattern = pattern - pattern.mean()  # a grid: phases that disagree, mean offset zero
    grid = pattern.repeat(16, 16)  # period 4 over 64 x 64
    assert phase_grid_loss(hr, hr).item() == 0
    # The error on [-1, 1] is twice the pattern, so the loss is 4 x its mean square, exactly.
    assert phase_grid_loss(hr + grid, hr).item() == pytest.approx(4 * pattern.pow(2).mean().item(), rel=1e-5)
    # A uniform brightness offset is no grid. A ramp's phases differ only by its slope across one 4-px cell
    # (offsets -1.5..1.5 px, mean square 1.25 px^2): 2% of this grid's loss for a steep 0.1-per-64-px ramp.
    assert phase_grid_loss(hr + 0.05, hr).item() == pytest.approx(0, abs=1e-12)
    slope = 0.1 / 63
    ramp = torch.linspace(0, 0.1, 64).view(1, 64)
    assert phase_grid_loss(hr + ramp, hr).item() == pytest.approx(4 * 1.25 * slope ** 2, rel=1e-4)
    # Its gradient pulls each phase back toward the others.
    sr = (hr + grid).requires_grad_()
    phase_grid_loss(sr, hr).backward()
    assert torch.sign(sr.grad[0, 0, :4, :4]).equal(torch.sign(pattern))


def test_generator_loss_adds_the_grid_term_only_when_weighted():
    hr = torch.full((1, 3, 64, 64), 0.5)
    pattern = torch.tensor([[0.01, -0.01], [-0.01, 0.01]]).repeat(32, 32)  # a period-2 grid: every x2 phase
    sr, fake = hr + pattern, torch.tensor([0.3])
    plain, _ = generator_loss(sr, hr, fake, ContentLoss("mse"))
    total, parts = generator_loss(sr, hr, fake, ContentLoss("mse"), grid_weight=100, scale=2)
    assert parts["grid"].item() == pytest.approx(4 * 0.01 ** 2, rel=1e-4)  # [-1, 1] range: 4 x the mean square
    assert (total - plain).item() == pytest.approx(100 * 4 * 0.01 ** 2, rel=1e-4)
