"""One SRResNet (``mse``) or SRGAN (``gan``) training step, and everything a checkpoint holds.

The GAN step, per global batch (paper Sec. 2-3, D and G alternate one update each):
  1. SR = G(LR), once, with its graph;
  2. D update on BCE(D(HR), smoothed 1) + BCE(D(SR.detach()), 0); D(HR)/D(SR) for the log are the sigmoid
     means of exactly these logits (no extra forward pass);
  3. G update on content(SR, HR) + w * BCE(D(SR), 1) through the *updated* D, whose parameters are frozen
     (``requires_grad_(False)``) so they accumulate no gradients, called without its DDP wrapper.
A non-finite loss (on any rank) skips the update(s): a bad D loss skips the whole step, a bad G loss the G
update; BatchNorm running statistics touched by a skipped step are restored, so no NaN reaches the weights.
"""
from __future__ import annotations

import math
import random
import uuid

import numpy as np
import torch
from torch import nn

from . import distributed as ddp
from .config import TrainConfig, resolved_paths
from .device import autocast, resolve_precision
from .losses import ContentLoss, discriminator_loss, generator_loss
from .models import Discriminator, Generator

CHECKPOINT_FORMAT = "srgan-train-v1"


class Trainer:
    def __init__(self, config: TrainConfig, device: torch.device, info: ddp.DistInfo = ddp.DistInfo(),
                 init_generator: dict[str, torch.Tensor] | None = None):
        c = self.config = config
        device = torch.device(device)  # a name ("cpu") was an AttributeError (.type) further on
        self.device, self.info = device, info
        self.dtype = resolve_precision(c.precision, device)
        self.memory_format = torch.channels_last if c.channels_last else torch.contiguous_format
        torch.manual_seed(c.seed)  # identical initial weights on every rank and every run
        self.g = Generator(c.scale, c.num_blocks, c.channels)
        if init_generator is not None:
            self.g.load_state_dict(init_generator)
        self.d = Discriminator() if c.phase == "gan" else None
        self.content = ContentLoss(c.content_loss, vgg_weights=c.vgg_weights or None, vgg_weight=c.vgg_weight,
                                   vgg_feature_scale=c.vgg_feature_scale)
        self.vgg_sha256 = self.content.vgg.weights_sha256() if self.content.vgg is not None else None
        for module in (self.g, self.d, self.content):
            if module is not None:
                module.to(device, memory_format=self.memory_format)
        self.g.train()

        # An absolute step, fixed at the run's first start and kept in the checkpoint: resuming with another
        # `steps` must not move the decay (that once sent lr back up to 1e-4 after it had decayed). Half up, and
        # never step 0: round() took 0.5 x 1 step to 0, so a 1-step run trained at the decayed lr throughout.
        self.lr_decay_step = c.lr_decay_step or max(1, math.floor(c.lr_decay_at * c.steps + 0.5))
        self.opt_g, self.sched_g, self.scaler_g = self._optimizer(self.g)
        self.g_train = ddp.wrap(self.g, device, info)
        if self.d is not None:
            self.d.train()
            self.opt_d, self.sched_d, self.scaler_d = self._optimizer(self.d)
            self.d_train, self.d_frozen = ddp.wrap(self.d, device, info), self.d
        if c.compile:
            self.g_train = torch.compile(self.g_train)
            if self.d is not None:
                self.d_train, self.d_frozen = torch.compile(self.d_train), torch.compile(self.d)
            if self.content.vgg is not None:
                self.content.vgg = torch.compile(self.content.vgg)
        self.run_id = uuid.uuid4().hex  # a fresh run's; a resumed one keeps its checkpoint's (srgan.rundir)
        self.step = 0
        self.bad_in_row = 0
        self.bad_total = 0

    # ------------------------------------------------------------------ set-up

    def lr_factor(self, step: int) -> float:
        """gan phase: 1 before step ``lr_decay_step``, then ``lr_decay``. mse phase: constant."""
        c = self.config
        if c.phase == "gan" and step >= self.lr_decay_step:
            return c.lr_decay
        return 1.0

    def _optimizer(self, module: nn.Module):
        c = self.config
        opt = torch.optim.Adam(module.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, self.lr_factor)
        # fp16 needs loss scaling (CUDA only); for bf16/fp32 the scaler is disabled and a pass-through.
        scaler = torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16)
        return opt, sched, scaler

    @property
    def lr(self) -> float:
        return self.opt_g.param_groups[0]["lr"]

    # ------------------------------------------------------------------ steps

    def train_step(self, lr: torch.Tensor, hr: torch.Tensor) -> tuple[dict[str, float], bool]:
        """One optimisation step on this rank's share of the batch; returns (rank-averaged losses, bad)."""
        mf = self.memory_format
        lr = lr.to(self.device, non_blocking=True).contiguous(memory_format=mf)
        hr = hr.to(self.device, non_blocking=True).contiguous(memory_format=mf)
        parts = self.config.grad_accum
        lrs, hrs = lr.chunk(parts), hr.chunk(parts)
        saved = self._buffers()
        self.last_lr = self.lr  # the lr this step uses (the scheduler moves on below)
        metrics, bad = (self._mse_step if self.d is None else self._gan_step)(lrs, hrs)
        if bad:
            self._restore_buffers(saved)
        self.sched_g.step()
        if self.d is not None:
            self.sched_d.step()
        self.step += 1
        return metrics, bad

    def _mse_step(self, lrs, hrs):
        self.opt_g.zero_grad(set_to_none=True)
        total = torch.zeros((), device=self.device)
        for lr, hr in zip(lrs, hrs):
            with autocast(self.device, self.dtype):
                loss = self.content(self.g_train(lr), hr)
            self.scaler_g.scale(loss / len(lrs)).backward()
            total += loss.detach().float()
        (loss,), bad = self._reduce([total / len(lrs)])
        if not bad:
            self.scaler_g.step(self.opt_g)
            self.scaler_g.update()
        return {"loss_g": loss}, bad

    def _gan_step(self, lrs, hrs):
        c, n = self.config, len(lrs)
        with autocast(self.device, self.dtype):
            srs = [self.g_train(lr) for lr in lrs]

        # D update on this step's real and (detached) fake images.
        self.d.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        noise = self._label_noise_generator(lrs[0].shape[0] * n)
        sums = torch.zeros(3, device=self.device)
        for sr, hr in zip(srs, hrs):
            with autocast(self.device, self.dtype):
                real, fake = self.d_train(hr), self.d_train(sr.detach())
            loss_d = discriminator_loss(real, fake, label_smoothing=c.label_smoothing, generator=noise)
            self.scaler_d.scale(loss_d / n).backward()
            sums += torch.stack([loss_d.detach(), torch.sigmoid(real.detach().float()).mean(),
                                 torch.sigmoid(fake.detach().float()).mean()])
        (loss_d, d_hr, d_sr), bad = self._reduce(list(sums / n))
        metrics = {"loss_d": loss_d, "d_hr": d_hr, "d_sr": d_sr}
        if bad:  # skip the whole step: no D update, no G update
            return {**metrics, **{k: float("nan") for k in ("loss_g", *self._g_terms())}}, True
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()

        # G update through the updated, frozen D.
        self.d.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        terms_logged = self._g_terms()
        sums = torch.zeros(1 + len(terms_logged), device=self.device)
        for sr, hr in zip(srs, hrs):
            with autocast(self.device, self.dtype):
                loss_g, terms = generator_loss(sr, hr, self.d_frozen(sr), self.content,
                                               adversarial_weight=c.adversarial_weight, grid_weight=c.grid_weight,
                                               scale=c.scale)
            self.scaler_g.scale(loss_g / n).backward()
            sums += torch.stack([loss_g.detach().float(), *(terms[k].float() for k in terms_logged)])
        values, bad = self._reduce(list(sums / n))
        if not bad:
            self.scaler_g.step(self.opt_g)
            self.scaler_g.update()
        return {**metrics, **dict(zip(("loss_g", *terms_logged), values))}, bad

    def _g_terms(self) -> tuple[str, ...]:
        """G's loss terms logged beside its total: the grid term too where it is on (it had to be backed out)."""
        return ("content", "adversarial") + (("grid",) if self.config.grid_weight else ())

    def _label_noise_generator(self, local_batch: int) -> torch.Generator:
        """D's label-smoothing noise: one draw per sample of the *global* batch, from (seed, step)."""
        seed = int(np.random.SeedSequence([self.config.seed, self.step, 1]).generate_state(1)[0])
        generator = torch.Generator().manual_seed(seed)
        skip = self.info.rank * local_batch  # this rank's slice of the global draw
        if skip:
            torch.rand(skip, generator=generator)
        return generator

    def _reduce(self, values: list[torch.Tensor]) -> tuple[list[float], bool]:
        """Average over ranks (one tiny all-reduce); bad = any value non-finite on any rank."""
        out = ddp.all_reduce_mean(torch.stack([v.float() for v in values]), self.info).tolist()
        return out, not all(np.isfinite(out))

    def _buffers(self) -> list[torch.Tensor]:
        return [b.detach().clone() for m in (self.g, self.d) if m is not None for b in m.buffers()]

    def _restore_buffers(self, saved: list[torch.Tensor]) -> None:
        live = [b for m in (self.g, self.d) if m is not None for b in m.buffers()]
        with torch.no_grad():
            for b, s in zip(live, saved):
                b.copy_(s)

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict:
        """Everything needed to continue exactly; plain tensors and data only (loads with weights_only)."""
        state = {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "run_id": self.run_id,  # which run a checkpoint belongs to: one copied into another run's folder is refused
            "phase": self.config.phase,
            "config": self.config.to_dict(),
            "paths": resolved_paths(self.config),  # --resume from another working folder (srgan.train)
            "generator": self.g.state_dict(),
            "optimizer_g": self.opt_g.state_dict(),
            "scheduler_g": self.sched_g.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "bad_steps": {"in_row": self.bad_in_row, "total": self.bad_total},
            "lr_decay_step": self.lr_decay_step,
            "world_size": self.info.world_size,  # on the CPU, BatchNorm's batch statistics are per process
            "vgg_sha256": self.vgg_sha256,  # vgg_weights may be spelled anew on resume, not be other weights
            "rng": rng_state(),  # the batches need nothing more: they follow from step, seed and batch_size
        }
        if self.d is not None:
            state.update(discriminator=self.d.state_dict(), optimizer_d=self.opt_d.state_dict(),
                         scheduler_d=self.sched_d.state_dict(), scaler_d=self.scaler_d.state_dict())
        return state

    def load_state_dict(self, state: dict) -> None:
        self.g.load_state_dict(state["generator"])
        self.opt_g.load_state_dict(state["optimizer_g"])
        self.sched_g.load_state_dict(state["scheduler_g"])
        _load_scaler(self.scaler_g, state["scaler_g"])
        if self.d is not None:
            self.d.load_state_dict(state["discriminator"])
            self.opt_d.load_state_dict(state["optimizer_d"])
            self.sched_d.load_state_dict(state["scheduler_d"])
            _load_scaler(self.scaler_d, state["scaler_d"])
        self.step = int(state["step"])
        self.run_id = state.get("run_id") or self.run_id  # checkpoints from before run ids: from here on, a new one
        if not self.config.lr_decay_step:  # not set explicitly (a set one must match the checkpoint's config)
            saved = state["config"]  # checkpoints from before lr_decay_step: resolved from the steps they ran to
            self.lr_decay_step = int(state.get("lr_decay_step", round(saved["lr_decay_at"] * saved["steps"])))
        self.bad_in_row, self.bad_total = int(state["bad_steps"]["in_row"]), int(state["bad_steps"]["total"])
        set_rng_state(state["rng"])


def _load_scaler(scaler, saved: dict) -> None:
    """A GradScaler's state, if it had one: a run saved in fp32 or bf16 keeps an empty one, which an enabled (fp16)
    scaler refuses to load, and precision may change on --resume (auto is bf16 on an H100, fp16 on a V100)."""
    if saved:
        scaler.load_state_dict(saved)


def rng_state() -> dict:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    version, py_state, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        # the current GPU's only: all of them (8 under torchrun) could not be restored where fewer are visible
        "cuda": [torch.cuda.get_rng_state()] if torch.cuda.is_available() else [],
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(gauss)},
        "python": {"version": version, "state": list(py_state), "gauss": py_gauss},
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():  # the current GPU's (older checkpoints: every GPU's, first)
        torch.cuda.set_rng_state(state["cuda"][0])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
