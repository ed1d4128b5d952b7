"""Train the shipped weights on one GPU in a fixed wall-clock budget: SRResNet (MSE), then SRGAN-MSE from it.

    python3 scripts/train_release_gpu.py --data .devdata/a .devdata/b --val .devdata/val --out $OUT/release \
        --mse-init srgan/weights/srresnet.safetensors --mse-seconds 470 --gan-seconds 0 --batch auto
                                                                          (the runbook: docs/TRAINING.md)

Why a script beside `srgan train`: on an H200 the trainer's CPU DataLoader held SRResNet to ~17 ms a step at
batch 64, a fraction of what the GPU does. Here the whole pool is decoded once and kept on the GPU as uint8 HR
images together with their full-image MATLAB bicubic x4 downscales (srgan.imresize.imresize_uint8, the
benchmarks' own recipe), and every batch is cropped there: an LR patch is exactly the matching crop of the
downscaled image (no border effects from downscaling a crop), flipped/transposed per sample.
The networks, losses and weight files are srgan's own; the recipe is the paper's (Adam beta1 0.9, MSE on [-1, 1],
then MSE + 1e-3 BCE adversarial, D with one-sided label smoothing) with what makes a short schedule work:
a larger batch, linear warm-up then cosine decay, and an EMA of the weights. Which SRResNet (raw or EMA, which
step) is kept is decided on the held-out validation split (srgan/validation.py), never on a benchmark.

Outputs in --out: srresnet.safetensors (the best on validation), gan_step_*.safetensors (snapshots, chosen
from afterwards with NIQE on the validation split), log.jsonl (losses, lr, validation PSNR over time).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a bare GPU machine has the checkout, no install

from srgan.checkpoint import load_generator, save_generator  # noqa: E402
from srgan.imagefind import find_images  # noqa: E402
from srgan.images import read_rgb_uint8  # noqa: E402
from srgan.imresize import imresize_uint8, mod_crop  # noqa: E402
from srgan.losses import ContentLoss, discriminator_loss, generator_loss, pixel_mse  # noqa: E402
from srgan.metrics import psnr, to_uint8  # noqa: E402
from srgan.models import Discriminator, Generator  # noqa: E402
from srgan.signals import stop_requests  # noqa: E402
from srgan.validation import is_validation_image, validation_set  # noqa: E402

SCALE = 4


class Log:
    def __init__(self, path: Path):
        self.file = path.open("a")
        self.start = time.time()

    def __call__(self, **fields) -> None:
        fields = {"t": round(time.time() - self.start, 1), **fields}
        line = json.dumps(fields)
        print(line, flush=True)
        self.file.write(line + "\n")
        self.file.flush()


def load_pool(roots: list[str], device: torch.device, patch: int, log: Log) -> tuple[list, list]:
    """Decode every training image (validation split left out) to uint8 CHW on ``device``, with its LR."""
    files = [p for p in find_images(roots) if not is_validation_image(p)]

    def read(path):
        try:
            return path, read_rgb_uint8(path)
        except Exception as exc:  # one bad file must not end a paid-for GPU run
            return path, exc

    hrs, lrs, skipped = [], [], []
    with ThreadPoolExecutor(16) as pool:
        for path, img in pool.map(read, files):
            if isinstance(img, Exception) or min(img.shape[:2]) < patch:
                skipped.append(f"{path.name} ({img if isinstance(img, Exception) else 'smaller than the crop'})")
                continue
            hr = mod_crop(torch.from_numpy(img).permute(2, 0, 1), SCALE).to(device)
            hrs.append(hr)
            lrs.append(imresize_uint8(hr, 1 / SCALE))
    pixels = sum(h.shape[1] * h.shape[2] for h in hrs)
    log(event="pool", images=len(hrs), megapixels=round(pixels / 1e6, 1), skipped=skipped)
    if not hrs:  # an IndexError in Batches followed
        raise SystemExit(f"no usable training images in {', '.join(roots)} ({len(files)} found, {len(skipped)} "
                         "skipped: see log.jsonl)")
    return hrs, lrs


class Batches:
    """Random aligned (LR, HR) crops from GPU-resident images, one image drawn uniformly per sample.

    The images are kept as two flat uint8 buffers (HR, LR) and a batch is one gather from each, its random
    draws made on the images' device: a Python loop of per-sample slices (and a host-to-device copy of its
    draws) costs milliseconds a step at batch 256, where a step is bound by per-step overhead (--batch auto)."""

    def __init__(self, hrs: list[torch.Tensor], lrs: list[torch.Tensor], patch: int, seed: int):
        device = hrs[0].device
        self.lr_patch = patch // SCALE
        self.lr_hw = torch.tensor([lr.shape[1:] for lr in lrs], device=device)  # (images, 2): LR height, width
        self.hr_flat, self.hr_start = _flatten(hrs)
        self.lr_flat, self.lr_start = _flatten(lrs)
        self.generator = torch.Generator(device).manual_seed(seed)

    def draw(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(image, LR top, LR left) for each sample, uniform over the images and over each one's crops."""
        g, device = self.generator, self.lr_hw.device
        image = torch.randint(len(self.lr_hw), (batch,), generator=g, device=device)
        room = self.lr_hw[image] - self.lr_patch  # the last top/left a crop can have
        corner = (torch.rand(batch, 2, generator=g, device=device) * (room + 1)).long()
        corner = torch.minimum(corner, room)  # float rounding could give room + 1
        return image, corner[:, 0], corner[:, 1]

    def crops(self, image: torch.Tensor, top: torch.Tensor, left: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 (LR, HR) crops: LR ``lr_patch`` px at (top, left), HR the same region at SCALE x."""
        h, w = self.lr_hw[image, 0], self.lr_hw[image, 1]
        lr = _gather(self.lr_flat, self.lr_start[image], h, w, top, left, self.lr_patch)
        hr = _gather(self.hr_flat, self.hr_start[image], SCALE * h, SCALE * w, SCALE * top, SCALE * left,
                     SCALE * self.lr_patch)
        return lr, hr

    def __call__(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        lr, hr = self.crops(*self.draw(batch))
        flips = torch.rand((3, batch, 1, 1, 1), device=lr.device, generator=self.generator) < 0.5
        lr, hr = _augment(lr, flips), _augment(hr, flips)
        return lr.float().div_(255), hr.float().div_(255)


def _flatten(images: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """CHW images -> (one flat buffer, each image's start in it)."""
    sizes = torch.tensor([img.numel() for img in images])
    starts = torch.cumsum(sizes, 0) - sizes
    return torch.cat([img.reshape(-1) for img in images]), starts.to(images[0].device)


def _gather(flat, start, height, width, top, left, size: int) -> torch.Tensor:
    """(batch, 3, size, size) crops of CHW images stored flat: sample i is image rows top[i]:top[i] + size,
    columns left[i]:left[i] + size, of the image at start[i] with height[i] x width[i] pixels."""
    span = torch.arange(size, device=flat.device)
    channel = torch.arange(3, device=flat.device).view(1, 3, 1, 1) * (height * width).view(-1, 1, 1, 1)
    rows = ((top.view(-1, 1) + span) * width.view(-1, 1)).view(-1, 1, size, 1)
    cols = (left.view(-1, 1) + span).view(-1, 1, 1, size)
    return flat[start.view(-1, 1, 1, 1) + channel + rows + cols]


def _augment(x: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    x = torch.where(flips[0], x.flip(-1), x)
    x = torch.where(flips[1], x.flip(-2), x)
    return torch.where(flips[2], x.transpose(-1, -2), x)  # square crops: a transpose keeps the shape


class EMA:
    """Exponential moving average of parameters and BN statistics (the copy that gets evaluated)."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.floats = [k for k, v in self.state.items() if v.is_floating_point()]

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        current = model.state_dict()
        torch._foreach_lerp_([self.state[k] for k in self.floats], [current[k] for k in self.floats],
                             1 - self.decay)


class Budget:
    """A phase's wall-clock budget. Its schedules follow the fraction of the time spent, not a step count planned
    from early speed: the shipped run planned 18,702 steps from steps 100-300, slowed from 14 to 22-25 ms a step
    and stopped at 13,870 with its cosine at lr 5.2e-5 instead of the 3e-6 floor. SIGTERM (a device command's
    time limit) ends it early, like the deadline, so that the phase saves what it has."""

    def __init__(self, seconds: float, stop: dict):
        self.start, self.deadline, self.stop = time.time(), time.time() + seconds, stop

    def fraction(self, since: float | None = None) -> float:
        begin = self.start if since is None else since
        return min(1.0, (time.time() - begin) / max(1e-9, self.deadline - begin))

    def over(self) -> bool:
        return time.time() >= self.deadline or self.stop["signal"] is not None


def cosine_lr(step: int, progress: float, peak: float, warmup: int, floor: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine from ``peak`` to ``floor`` as ``progress`` (the fraction
    of the time left after the warm-up that has been spent) goes from 0 to 1."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def validate(model: Generator, state: dict, val: list, device: torch.device) -> float:
    """Mean PSNR-Y (4-px shave, MATLAB-rounded Y) of ``state`` on the validation images, fp32."""
    model.load_state_dict(state)
    model.eval()
    scores, tf32 = [], torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # true fp32, as `srgan eval` measures
    for _name, lr, hr in val:
        sr = model(torch.from_numpy(lr).permute(2, 0, 1).to(device).float().div(255).unsqueeze(0))[0]
        scores.append(psnr(to_uint8(sr), hr, border=SCALE))
    torch.backends.cudnn.allow_tf32 = tf32
    return float(np.mean(scores))


class Precision(NamedTuple):
    memory_format: torch.memory_format
    amp: torch.dtype | None  # autocast dtype; None = fp32 (TF32 convolutions on CUDA)

    def __str__(self) -> str:
        layout = "channels_last" if self.memory_format == torch.channels_last else "NCHW"
        return f"{layout}/{str(self.amp).replace('torch.', '') if self.amp else 'fp32'}"

    def autocast(self, device: torch.device):
        return torch.autocast(device.type, dtype=self.amp or torch.bfloat16, enabled=self.amp is not None)


CANDIDATES = [Precision(f, a) for a in (torch.bfloat16, None) for f in (torch.channels_last, torch.contiguous_format)]


def fastest(make_step, batches: Batches, batch: int, device: torch.device, log: Log, phase: str) -> Precision:
    """Time a few steps of each layout/precision on throw-away models and keep the fastest.

    cuDNN's kernels for the 3-channel 9x9 convolutions at either end of the networks differ a lot between
    layouts and dtypes, so this is measured, not assumed. On a CPU the answer depends on the chip (bf16 is
    emulated on AVX2-only ones, native on AVX512-BF16 ones: 2.3x fp32 for the GAN step on a 2-core Zen 4),
    so it is measured there too, with fewer steps since each takes seconds."""
    timings = {precision: seconds_per_step(make_step(precision, lr=1e-6)[-1], batches, batch, device)
               for precision in CANDIDATES}
    best = min(timings, key=timings.get)
    log(event="precision", phase=phase, s_per_step={str(p): round(t, 5) for p, t in timings.items()}, chosen=str(best))
    return best


def seconds_per_step(step, batches: Batches, batch: int, device: torch.device) -> float:
    """Wall time of one training step (its batch drawn included), after a warm-up. The batches' random state is
    put back: how many sizes were timed (auto_batch stops early) must not change the training batches after."""
    cuda = device.type == "cuda"
    warmup, timed = (10, 25) if cuda else (1, 2)  # on CUDA the warm-up is cuDNN's autotuning
    rng = batches.generator.get_state()
    for _ in range(warmup):
        step(*batches(batch), 1e-6)
    if cuda:
        torch.cuda.synchronize()
    start = time.time()
    for _ in range(timed):
        step(*batches(batch), 1e-6)
    if cuda:
        torch.cuda.synchronize()
    seconds = (time.time() - start) / timed
    batches.generator.set_state(rng)
    return seconds


AUTO_BATCHES = (64, 128, 256)
AUTO_BATCH_SLOWDOWN = 1.25


def pick_batch(timings: dict[int, float]) -> int:
    """The largest batch whose step takes at most AUTO_BATCH_SLOWDOWN x the smallest batch's.

    A step that costs about the same at 4x the batch is bound by per-step overhead (kernel launches, Python),
    not arithmetic: the H200 took 23 ms a step at batch 16 and 24 ms at 64 (docs/PERFORMANCE.md), and on the
    H100 bf16 was slower than fp32 at batch 64 (docs/training-logs/release-log.jsonl). There the larger batch is
    nearly free: about as many steps in the time budget, each on more patches. Where the step time grows with
    the batch (a CPU), the smallest is kept and the step count is not traded away."""
    smallest = min(timings)
    return max(b for b, t in timings.items() if t <= AUTO_BATCH_SLOWDOWN * timings[smallest])


def auto_batch(make_step, precision: Precision, batches: Batches, device: torch.device, log: Log) -> int:
    timings = {}
    for batch in AUTO_BATCHES:
        timings[batch] = seconds_per_step(make_step(precision, lr=1e-6)[-1], batches, batch, device)
        if timings[batch] > AUTO_BATCH_SLOWDOWN * timings[AUTO_BATCHES[0]]:
            break  # larger ones would not be taken either
    chosen = pick_batch(timings)
    log(event="batch", phase="mse", precision=str(precision), s_per_step={str(b): round(t, 5)
        for b, t in timings.items()}, chosen=chosen)
    return chosen


def srresnet_step(args, device, precision: Precision, lr: float):
    g = Generator()
    if args.mse_init:
        g.load_state_dict(load_generator(args.mse_init).state_dict())
    g = g.to(device, memory_format=precision.memory_format).train()
    opt = torch.optim.Adam(g.parameters(), lr=lr, betas=(0.9, 0.999), **_fused(device))
    ema = EMA(g, args.ema)

    def step(lr_batch, hr_batch, lr_now):
        for group in opt.param_groups:
            group["lr"] = lr_now
        with precision.autocast(device):
            loss = pixel_mse(g(lr_batch.contiguous(memory_format=precision.memory_format)).float(), hr_batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ema.update(g)
        return loss.detach()

    return g, ema, step


def cpu_copy(state: dict) -> dict:
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def train_srresnet(args, batches: Batches, val: list, device, log: Log, stop: dict) -> dict:
    make_step = lambda p, lr: srresnet_step(args, device, p, lr)  # noqa: E731
    precision = fastest(make_step, batches, AUTO_BATCHES[0] if args.batch == "auto" else args.batch, device, log,
                        "mse")
    batch = auto_batch(make_step, precision, batches, device, log) if args.batch == "auto" else args.batch
    torch.manual_seed(args.seed)
    g, ema, train_step = srresnet_step(args, device, precision, args.lr)
    probe = Generator().to(device)  # evaluation copy, fp32
    origin = f" from {Path(args.mse_init).name}" if args.mse_init else ""

    def keep(best) -> None:  # written at once: a run killed later still brings its best back
        probe.load_state_dict(best[1])
        save_generator(probe, Path(args.out) / "srresnet.safetensors",
                       {"phase": "mse",
                        "trained": f"{step} steps of batch {batch}{origin}, chosen {best[2]} on validation"})

    step, best, losses = 0, (-1.0, None, None), []
    if args.mse_init:  # continuing earlier training: those weights stay unless something beats them
        best = (validate(probe, g.state_dict(), val, device), cpu_copy(g.state_dict()), "init")
        log(phase="mse", step=0, val_psnr_raw=round(best[0], 4), val_psnr_ema=round(best[0], 4))
        keep(best)
    budget = Budget(args.mse_seconds, stop)  # from here: validating the start is not training time
    next_eval, warm_end, t_log = budget.start + args.eval_seconds, None, time.time()
    while not budget.over():
        if step == args.warmup:
            warm_end = time.time()
        lr_now = cosine_lr(step, budget.fraction(warm_end) if warm_end else 0.0, args.lr, args.warmup, args.lr * 0.01)
        losses.append(train_step(*batches(batch), lr_now))
        step += 1
        if step % 500 == 0:
            log(phase="mse", step=step, loss=float(torch.stack(losses).mean()), lr=lr_now,
                s_per_step=round((time.time() - t_log) / 500, 5))
            losses, t_log = [], time.time()
        if time.time() >= next_eval or budget.over():
            scores = {"raw": validate(probe, g.state_dict(), val, device),
                      "ema": validate(probe, ema.state, val, device)}
            log(phase="mse", step=step, val_psnr_raw=round(scores["raw"], 4), val_psnr_ema=round(scores["ema"], 4))
            for kind, score in scores.items():
                if score > best[0]:
                    source = g.state_dict() if kind == "raw" else ema.state
                    best = (score, cpu_copy(source), f"{kind}@{step}")
                    keep(best)
            next_eval = time.time() + args.eval_seconds
    log(event="mse_done", steps=step, best_val_psnr=round(best[0], 4), chosen=best[2],
        stopped_by=stop["signal"] or "time")
    if best[1] is not None:  # none when stopped before the first step
        keep(best)  # again, with the final step count in its metadata
    return best[1]


def shifted(images: torch.Tensor, period: int = SCALE) -> torch.Tensor:
    """Each image cropped by a random 0..period-1 pixels at top and left (and the rest at bottom and right).

    The discriminator's stride-2 convolutions make its gradient with respect to its input periodic; the
    generator's x4 pixel shuffle gives each of its 16 output phases its own weights, so a flat region can follow
    that periodic gradient exactly: a 4-px grid. Seen at a random phase each sample, D's periodic pull averages
    out across phases, while everything D learns about texture (which does not depend on the phase) stays.
    The phases are stratified: a batch of 16 holds each of the 4x4 (y, x) offsets once, in random order.
    Measured alone (with independent phases) on 2 CPU cores, lr 2e-5: the validation checkerboard score after
    ~330 steps was 18.1 dB instead of 22.6, so it helps but does not remove the grid; --gan-freeze does."""
    size = images.shape[-1] - period + 1
    phases = [(y, x) for y in range(period) for x in range(period)]
    order = torch.randperm(len(phases) * -(-images.shape[0] // len(phases))) % len(phases)
    offsets = [phases[i] for i in order[:images.shape[0]].tolist()]
    return torch.stack([img[:, y:y + size, x:x + size] for img, (y, x) in zip(images, offsets)])


def srgan_step(args, device, precision: Precision, lr: float, init_state: dict):
    g = Generator()
    g.load_state_dict(init_state)
    g = g.to(device, memory_format=precision.memory_format).train()
    d = Discriminator().to(device, memory_format=precision.memory_format).train()
    for name, param in g.named_parameters():
        # --gan-freeze: these keep the SRResNet's weights. The grid lives in the sub-pixel convs and the tail:
        # putting the SRResNet's back into a gridded GAN snapshot took its validation checkerboard score from
        # 18.1 to 7.2 dB (the SRResNet: 6.9), where restoring either alone left 13-16 dB (scripts/grid_report.py).
        param.requires_grad_(not name.startswith(tuple(args.gan_freeze)))
    opt_g = torch.optim.Adam([p for p in g.parameters() if p.requires_grad], lr=lr, betas=(0.9, 0.999),
                             **_fused(device))
    opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.9, 0.999), **_fused(device))
    noise = torch.Generator(device).manual_seed(args.seed)
    content = ContentLoss("mse")

    def step(lr_batch, hr_batch, lr_now, train_g: bool = True):
        for opt, scale in ((opt_g, 1.0), (opt_d, args.d_lr_scale)):
            for group in opt.param_groups:
                group["lr"] = lr_now * scale
        lr_batch = lr_batch.contiguous(memory_format=precision.memory_format)
        hr_in = hr_batch.contiguous(memory_format=precision.memory_format)
        g.train(train_g)  # D-only steps see the generator exactly as it is, BN running statistics untouched
        with precision.autocast(device), torch.set_grad_enabled(train_g):
            sr = g(lr_batch)
        d_real, d_fake = (shifted(hr_in), shifted(sr)) if args.d_shift else (hr_in, sr)
        with precision.autocast(device):
            loss_d = discriminator_loss(d(d_real), d(d_fake.detach()), generator=noise)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        if not train_g:
            return torch.cat([loss_d.detach().view(1), loss_d.new_zeros(2)])  # (loss_d, content, adversarial)
        d.requires_grad_(False)  # G's update goes through the updated D without touching it
        with precision.autocast(device):
            loss_g, parts = generator_loss(sr.float(), hr_batch, d(d_fake), content,
                                           adversarial_weight=args.adversarial_weight, grid_weight=args.grid_weight)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        d.requires_grad_(True)
        return torch.stack([loss_d.detach(), parts["content"], parts["adversarial"]])

    return g, d, step


def train_srgan(args, init_state: dict, batches: Batches, val: list, device, log: Log, stop: dict) -> None:
    precision = fastest(lambda p, lr: srgan_step(args, device, p, lr, init_state), batches, args.gan_batch,
                        device, log, "gan")
    torch.manual_seed(args.seed + 1)
    g, d, train_step = srgan_step(args, device, precision, args.gan_lr, init_state)
    probe = Generator().to(device)
    # --d-warmup: D alone first, so that G's first adversarial gradients come from a D that has learnt something
    # about photos rather than from a random one. Measured on 2 CPU cores (docs/TRAINING.md): 500 such steps
    # moved G along the same PSNR/NIQE/grid curve ~300 steps faster, no better at any grid level.
    loss_d = []
    for step in range(1, args.d_warmup + 1):
        loss_d.append(train_step(*batches(args.gan_batch), args.gan_lr, train_g=False)[0])
        if step % 100 == 0 or step == args.d_warmup:
            log(phase="d_warmup", step=step, loss_d=float(torch.stack(loss_d).mean()))
            loss_d = []
    budget = Budget(args.gan_seconds, stop)
    snapshot_every = args.gan_seconds / args.snapshots
    next_snapshot, step, sums = budget.start + snapshot_every, 0, 0
    ema = EMA(g, args.gan_ema) if args.gan_ema else None
    while not budget.over():
        # The paper's schedule shape: the rate drops 10x for the last part (the second half of the time by default).
        lr_now = args.gan_lr * (0.1 if budget.fraction() >= args.gan_lr_drop else 1.0)
        sums = sums + train_step(*batches(args.gan_batch), lr_now)
        if ema is not None:
            ema.update(g)
        step += 1
        if step % 500 == 0:
            loss_d, content, adversarial = (sums / 500).tolist()
            log(phase="gan", step=step, lr=lr_now, loss_d=loss_d, content=content, adversarial=adversarial)
            sums = 0
        if time.time() >= next_snapshot or budget.over():
            trained = (f"SRGAN-MSE from {Path(args.init).name if args.init else 'the SRResNet'}, {step} steps of "
                       f"batch {args.gan_batch}" + (f", grid weight {args.grid_weight:g}" if args.grid_weight else ""))
            for kind, state in [("", g.state_dict())] + ([("_ema", ema.state)] if ema else []):
                score = validate(probe, state, val, device)
                log(phase="gan", step=step, weights=kind[1:] or "raw", val_psnr=round(score, 4))
                save_generator(probe, Path(args.out) / f"gan_step_{step:06d}{kind}.safetensors",
                               {"phase": "gan", "trained": trained + (f", EMA {args.gan_ema}" if kind else "")})
            next_snapshot += snapshot_every
    log(event="gan_done", steps=step, stopped_by=stop["signal"] or "time")


def _batch_arg(text: str) -> int | str:
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a positive whole number or auto")
    return int(text)


def _fused(device: torch.device) -> dict:
    return {"fused": True} if device.type == "cuda" else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, help="training folders (searched recursively)")
    parser.add_argument("--val", required=True,
                        help="a pool root holding the validation split's BSDS500_test200/ (pack --validation)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--init", help="start SRGAN from these generator weights and skip the SRResNet phase")
    parser.add_argument("--mse-init", help="continue SRResNet training from these weights (e.g. the shipped "
                        "ones, so that each session's GPU time adds to the earlier sessions')")
    parser.add_argument("--mse-seconds", type=float, default=280)
    parser.add_argument("--gan-seconds", type=float, default=170)
    parser.add_argument("--batch", type=_batch_arg, default=64,
                        help="SRResNet batch, or auto: the largest of 64/128/256 whose step costs at most 1.25x "
                        "batch 64's (see pick_batch)")
    parser.add_argument("--gan-batch", type=int, default=32)
    parser.add_argument("--patch", type=int, default=96, help="HR crop size")
    parser.add_argument("--lr", type=float, default=3e-4, help="SRResNet peak learning rate")
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--ema", type=float, default=0.999)
    parser.add_argument("--gan-lr", type=float, default=1e-4)
    parser.add_argument("--gan-lr-drop", type=float, default=0.5,
                        help="fraction of the GAN steps after which the rate drops 10x (1 = never)")
    parser.add_argument("--gan-freeze", nargs="*", default=[], metavar="PREFIX",
                        help="generator parameters (by name prefix, e.g. upsample tail) the GAN phase leaves as "
                        "they are: the 4-px grid lives in the sub-pixel convolutions and the tail")
    parser.add_argument("--gan-ema", type=float, default=0,
                        help="also keep an EMA of G's weights with this decay; each snapshot saves both (_ema)")
    parser.add_argument("--d-shift", action="store_true",
                        help="show D each image at a random 0-3 px offset (against the 4-px grid; see shifted())")
    parser.add_argument("--d-warmup", type=int, default=0, metavar="STEPS",
                        help="train D alone on the starting G's outputs for this many steps before the GAN "
                        "(not counted in --gan-seconds)")
    parser.add_argument("--d-lr-scale", type=float, default=1.0,
                        help="D's learning rate as a multiple of G's (two time-scale updates, Heusel et al. 2017; "
                        "4 was worse on a CPU run: higher NIQE at the same grid level, docs/TRAINING.md)")
    parser.add_argument("--adversarial-weight", type=float, default=1e-3)
    parser.add_argument("--grid-weight", type=float, default=0,
                        help="add this times srgan.losses.phase_grid_loss (the 4-px periodic part of SR - HR) to "
                        "G's loss; not in the paper (docs/TRAINING.md)")
    parser.add_argument("--snapshots", type=int, default=6)
    parser.add_argument("--eval-seconds", type=float, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    # before the data is packed onto the device: each of these failed minutes into a lent GPU's time
    if args.gan_batch < 1 or args.snapshots < 1 or args.patch < 4 * SCALE or args.patch % SCALE:
        parser.error("--gan-batch and --snapshots must be positive, --patch a multiple of 4 of at least 16")
    if args.warmup < 0 or args.d_warmup < 0:  # a negative --warmup never ended: no cosine decay, without a word
        parser.error(f"--warmup and --d-warmup must be >= 0, got {args.warmup} and {args.d_warmup}")
    for flag, path in (("--init", args.init), ("--mse-init", args.mse_init)):  # read after the pool was loaded
        if path and not Path(path).is_file():
            parser.error(f"{flag} {path}: no such weights file")
    missing = [root for root in args.data if not Path(root).exists()]
    if missing:
        parser.error(f"--data {' '.join(missing)}: no such folder")
    if args.mse_seconds <= 0 and not (args.init or args.mse_init):
        parser.error("--mse-seconds 0 trains no SRResNet: pass --init (or --mse-init) WEIGHTS for the SRGAN to "
                     "start from")
    if args.gan_freeze:
        names = [name for name, _ in Generator().named_parameters()]
        unmatched = [p for p in args.gan_freeze if not any(n.startswith(p) for n in names)]
        if unmatched:  # froze nothing, without a word
            parser.error(f"--gan-freeze {' '.join(unmatched)}: no generator parameter starts with it (its modules: "
                         f"{', '.join(sorted({n.split('.')[0] for n in names}))})")
    try:  # before the run folder and its log are made
        val = list(validation_set("pool", [args.val], SCALE))  # (name, LR, HR) uint8, as `srgan train`
    except (FileNotFoundError, ValueError) as exc:  # no validation split in --val
        parser.error(str(exc))

    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = Log(out / "log.jsonl")
    log(event="start", device=torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        torch=torch.__version__, args=vars(args))
    batches = Batches(*load_pool(args.data, device, args.patch, log), args.patch, args.seed)  # the lists are freed
    with stop_requests() as stop:  # SIGTERM or Ctrl-C: the phase ends and saves, as at its deadline
        if args.init:
            init = load_generator(args.init).state_dict()
        else:
            init = train_srresnet(args, batches, val, device, log, stop)
        if args.gan_seconds > 0 and stop["signal"] is None:
            train_srgan(args, init, batches, val, device, log, stop)


if __name__ == "__main__":
    main()
