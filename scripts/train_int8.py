"""Quantization-aware fine-tuning of the shipped SRResNet for ``--precision int8`` (issue 14, item 4).

    python scripts/train_int8.py --data ../shared/data/train --minutes 20 \\
        --out srgan/weights/srresnet_int8.safetensors --log docs/training-logs/int8.jsonl

1. The int8 model (:class:`srgan.quantize.QuantGenerator`: BN folded, every convolution's input and weights
   fake-quantized) starts from the shipped fp32 weights, its activation scales calibrated on ``--calib``
   training batches (:func:`srgan.quantize.calibrate`). ``--minutes 0`` stops here: post-training quantization.
2. It is then trained to reproduce the fp32 model's output (distillation: MSE between the int8 and fp32 SR
   images of training-pool crops, so it learns to undo its rounding, not to become a different model), weights
   and LSQ activation scales together, Adam, cosine decay from ``--lr``.
3. Every ``--eval-every`` steps both are scored on the held-out validation split (srgan.validation, PSNR-Y);
   the int8 state with the highest validation PSNR is written to ``--out``. ``--state`` is a resumable
   checkpoint (written at every evaluation): rerun the same command to continue.

Set5/Set14/BSD100 are not looked at here: report them afterwards with ``srgan eval --precision int8``.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srgan.data import TrainDataset, train_loader  # noqa: E402
from srgan.inference import FastGenerator  # noqa: E402
from srgan.metrics import psnr_ssim_y, to_uint8  # noqa: E402
from srgan.quantize import calibrate, from_generator, save_int8  # noqa: E402
from srgan.upscale import load_model  # noqa: E402
from srgan.validation import hold_out_rule, validation_set  # noqa: E402


@torch.no_grad()
def validate(model, val_pairs) -> float:
    model.eval()
    scores = [psnr_ssim_y(to_uint8(model(lr)[0].permute(1, 2, 0).numpy()), hr, 4)[0] for lr, hr in val_pairs]
    return float(np.mean(scores))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data/train", help="training pool (holds BSDS500_test200/)")
    p.add_argument("--model", default="srresnet", help="fp32 weights to quantize")
    p.add_argument("--out", default="srgan/weights/srresnet_int8.safetensors")
    p.add_argument("--state", default="runs/int8/state.pt", help="resumable training state")
    p.add_argument("--log", default=None, help="JSON lines: one per evaluation")
    p.add_argument("--minutes", type=float, default=20.0, help="training time (0: calibration only)")
    p.add_argument("--steps", type=int, default=3000, help="schedule length (cosine decay over these)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr-crop", type=int, default=32, help="LR crop side")
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--calib", type=int, default=8, help="training batches for the initial calibration")
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)

    generator = load_model(args.model, "cpu").float().eval()
    teacher = FastGenerator(generator).eval().requires_grad_(False)
    data = TrainDataset([args.data], crop_size=4 * args.lr_crop, scale=4, seed=args.seed,
                        length=args.steps * args.batch, hold_out=hold_out_rule("pool"), progress=False)
    val = [(torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255, hr)
           for _, lr, hr in validation_set("pool", [args.data], 4)]
    with torch.no_grad():
        teacher_val = validate(teacher, val)
    student = from_generator(generator)
    state_path = Path(args.state)
    opt = torch.optim.Adam(student.parameters(), lr=args.lr)
    step, best, log = 0, None, []
    if state_path.exists():
        saved = torch.load(state_path, weights_only=True)
        student.load_state_dict(saved["student"])
        opt.load_state_dict(saved["opt"])
        step, best, log = saved["step"], saved["best"], json.loads(saved["log"])
        print(f"resumed at step {step}")
    else:
        loader = iter(train_loader(data, args.batch, seed=args.seed + 1))
        calibrate(student, (next(loader)[0] for _ in range(args.calib)))
        score = validate(student, val)
        best = {"step": 0, "val_psnr": score, "state": copy.deepcopy(student.state_dict())}
        log.append({"step": 0, "val_psnr": score, "val_psnr_fp32": teacher_val})
        print(f"calibrated: val PSNR {score:.4f} dB, fp32 {teacher_val:.4f} dB ({score - teacher_val:+.4f})")

    deadline = time.monotonic() + 60 * args.minutes
    data.set_epoch(0)
    loader = iter(train_loader(data, args.batch, seed=args.seed + 2))
    for _ in range(step):  # the same batches in the same order after a resume
        next(loader)
    start = time.monotonic()
    while args.minutes > 0 and step < args.steps and time.monotonic() < deadline:
        student.train()
        lr_batch, _hr = next(loader)
        for group in opt.param_groups:
            group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        with torch.no_grad():
            target = teacher(lr_batch)
        loss = torch.nn.functional.mse_loss(student(lr_batch), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            student.act_scales.clamp_(min=1e-6)
        step += 1
        if step % args.eval_every == 0 or step == args.steps or time.monotonic() >= deadline:
            score = validate(student, val)
            log.append({"step": step, "loss": float(loss), "val_psnr": score, "val_psnr_fp32": teacher_val,
                        "s_per_step": (time.monotonic() - start) / max(1, step - log[-1]["step"])})
            start = time.monotonic()
            print(json.dumps(log[-1]), flush=True)
            if score > best["val_psnr"]:
                best = {"step": step, "val_psnr": score, "state": copy.deepcopy(student.state_dict())}
            state_path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"student": student.state_dict(), "opt": opt.state_dict(), "step": step, "best": best,
                        "log": json.dumps(log)}, state_path)

    student.load_state_dict(best["state"])
    save_int8(student, args.out, {
        "from": args.model, "phase": "int8", "qat_steps": best["step"], "val_psnr": round(best["val_psnr"], 4),
        "val_psnr_fp32": round(teacher_val, 4), "trained": date.today().isoformat(),
        "recipe": f"distillation from fp32, batch {args.batch}, LR crop {args.lr_crop}, Adam lr {args.lr} cosine "
                  f"over {args.steps} steps, validation split of {args.data}"})
    if args.log:
        Path(args.log).parent.mkdir(parents=True, exist_ok=True)
        Path(args.log).write_text("".join(json.dumps(e) + "\n" for e in log))
    print(f"wrote {args.out}: step {best['step']}, val PSNR {best['val_psnr']:.4f} dB "
          f"({best['val_psnr'] - teacher_val:+.4f} vs fp32)")


if __name__ == "__main__":
    main()
