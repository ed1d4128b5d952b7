"""Make the int8 weights of ``--precision int8`` from fp32 weights (issue 14, item 4).

    python scripts/make_int8.py --data ../shared/data/train --out srgan/weights/srresnet_int8.safetensors \
        --log docs/training-logs/int8.jsonl

1. **Calibrate.** The int8 model (:class:`srgan.quantize.QuantGenerator`: BN folded, convolution inputs and
   weights fake-quantized) gets the fp32 weights and activation scales that minimise each conv input's own
   int8 error over ``--calib`` training batches (:func:`srgan.quantize.calibrate`).
2. **Refine.** Each scale is then tried at a few multiples and the one giving the least MSE between the int8
   and fp32 SR images of a ``--refine-batch`` of training crops is kept, conv by conv, ``--refine-passes``
   times (:func:`srgan.quantize.refine`; ~5 minutes a pass on 2 cores).
3. **Quantization-aware training** (``--minutes`` > 0, off by default): distillation (MSE between the int8 and
   fp32 SR images of training crops), weights at ``--lr``, LSQ activation scales at ``--scale-lr``, Adam,
   cosine decay. Tried for the shipped weights and not used: 100-200 steps (batch 8, lr 2e-5 and 1e-6) lowered
   the validation PSNR (docs/PERFORMANCE.md). ``--start INT8_FILE`` trains from int8 weights made earlier
   instead of calibrating anew; ``--state`` is a resumable checkpoint.

After every stage the model is scored on the held-out validation split (srgan.validation, PSNR-Y); the state
after refinement (or the start), or a training step that scored higher, is written to ``--out``.
Set5/Set14/BSD100 are not looked at here: report them afterwards with ``srgan eval --precision int8`` or
``python benchmarks/int8.py``.
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
from safetensors import safe_open

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srgan.data import TrainDataset, train_loader  # noqa: E402
from srgan.datasets import development_data  # noqa: E402
from srgan.inference import FastGenerator  # noqa: E402
from srgan.metrics import psnr_ssim_y, to_uint8  # noqa: E402
from srgan.quantize import calibrate, from_generator, load_int8, refine, save_int8  # noqa: E402
from srgan.engines import load_model  # noqa: E402
from srgan.validation import hold_out_rule, validation_set  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@torch.no_grad()
def validate(model, val_pairs) -> float:
    model.eval()
    scores = [psnr_ssim_y(to_uint8(model(lr)[0].permute(1, 2, 0).numpy()), hr, 4)[0] for lr, hr in val_pairs]
    return float(np.mean(scores))


def _count(minimum: int):
    """An argparse type: a whole number of at least ``minimum`` (0 batches or crops failed later, or wrote weights
    that were never calibrated)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, got {text!r}")
        return value
    return parse


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(development_data() / "train"), help="training pool (holds BSDS500_test200/)")
    p.add_argument("--model", default="srresnet", help="fp32 weights to quantize")
    p.add_argument("--out", default=str(REPO / "srgan" / "weights" / "srresnet_int8.safetensors"))
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists (the default is the "
                   "shipped int8 weights)")
    p.add_argument("--state", default="runs/int8/state.pt", help="resumable training state")
    p.add_argument("--log", default=None, help="JSON lines: one per evaluation")
    p.add_argument("--minutes", type=float, default=0.0, help="quantization-aware training time (0: none)")
    p.add_argument("--start", default=None, help="int8 weights to start the training from (no calibration)")
    p.add_argument("--refine-batch", type=_count(1), default=16, help="training crops for the output-aware refinement")
    p.add_argument("--refine-passes", type=_count(0), default=2)
    p.add_argument("--steps", type=_count(1), default=3000, help="schedule length (cosine decay over these)")
    p.add_argument("--batch", type=_count(1), default=8)
    p.add_argument("--lr-crop", type=_count(4), default=32, help="LR crop side")
    p.add_argument("--lr", type=float, default=1e-6, help="Adam lr of the weights and biases")
    p.add_argument("--scale-lr", type=float, default=1e-5, help="Adam lr of the activation scales")
    p.add_argument("--calib", type=_count(1), default=32, help="training batches for the initial calibration")
    p.add_argument("--eval-every", type=_count(1), default=100)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if Path(args.out).exists() and not args.overwrite:  # before the minutes of work, not after
        p.error(f"--out {args.out} exists; pass --overwrite to replace it")
    if not Path(args.data).is_dir():
        p.error(f"--data {args.data}: no such folder")
    if args.refine_passes > 2:  # two factor lists: a third pass ran nothing, and 3 was recorded
        p.error(f"--refine-passes is 0, 1 or 2, got {args.refine_passes}")
    if args.start and not Path(args.start).is_file():  # read after the data and the validation set were loaded
        p.error(f"--start {args.start}: no such file")
    made_from = {"model": str(args.model), "data": os.path.realpath(args.data)}
    saved = torch.load(args.state, weights_only=True) if Path(args.state).exists() else None
    # a state of other weights or data was resumed without a word, and written out as this model's int8 weights
    if saved is not None and saved.get("made_from", made_from) != made_from:
        p.error(f"--state {args.state} was made from {saved['made_from']}, not {made_from}; pass another --state, "
                "or remove it to start again")
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
    # Adam moves every parameter by ~lr a step whatever its gradient: the weights, already good, get a much smaller
    # lr than the activation scales (at 2e-5 for both, validation PSNR fell for the first 200 steps).
    weights = [*student.weights, *student.biases]
    opt = torch.optim.Adam([{"params": weights, "lr": args.lr, "base_lr": args.lr},
                            {"params": [student.act_scales], "lr": args.scale_lr, "base_lr": args.scale_lr}])
    step, best, log = 0, None, []
    if saved is not None:
        student.load_state_dict(saved["student"])
        opt.load_state_dict(saved["opt"])
        step, best, log = saved["step"], saved["best"], json.loads(saved["log"])
        print(f"resumed at step {step}")
    elif args.start:  # continue from int8 weights made earlier (skips calibration and refinement)
        student.load_state_dict(load_int8(args.start).state_dict())
        score = validate(student, val)
        best = {"step": 0, "val_psnr": score, "state": copy.deepcopy(student.state_dict())}
        log.append({"stage": f"start {args.start}", "step": 0, "val_psnr": score, "val_psnr_fp32": teacher_val})
        print(f"start: val PSNR {score:.4f} dB ({score - teacher_val:+.4f})")
    else:
        loader = iter(train_loader(data, args.batch, seed=args.seed + 1))
        calibrate(student, (next(loader)[0] for _ in range(args.calib)))
        score = validate(student, val)
        log.append({"stage": "calibrated", "step": 0, "val_psnr": score, "val_psnr_fp32": teacher_val})
        print(f"calibrated: val PSNR {score:.4f} dB, fp32 {teacher_val:.4f} dB ({score - teacher_val:+.4f})")
        if args.refine_passes:  # the refinement crops decode the pool (minutes): not for 0 passes
            refine_data = TrainDataset([args.data], crop_size=192, scale=4, seed=args.seed + 3,
                                       hold_out=hold_out_rule("pool"), progress=False)
            x = next(iter(train_loader(refine_data, args.refine_batch, seed=args.seed + 3)))[0]
        for k, factors in enumerate([(0.8, 0.9, 1.1, 1.25), (0.6, 0.7, 0.85, 1.15)][: args.refine_passes]):
            refine(student, teacher, x, factors)
            score = validate(student, val)
            log.append({"stage": f"refined {k + 1}", "step": 0, "val_psnr": score, "val_psnr_fp32": teacher_val,
                        "act_scales": [round(v, 6) for v in student.act_scales.tolist()]})
            print(f"refined ({k + 1}): val PSNR {score:.4f} dB ({score - teacher_val:+.4f})", flush=True)
        best = {"step": 0, "val_psnr": score, "state": copy.deepcopy(student.state_dict())}

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
            group["lr"] = group["base_lr"] * 0.5 * (1 + math.cos(math.pi * step / args.steps))
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
            log.append({"step": step, "loss": loss.item(), "val_psnr": score, "val_psnr_fp32": teacher_val,
                        "s_per_step": (time.monotonic() - start) / max(1, step - log[-1]["step"])})
            start = time.monotonic()
            print(json.dumps(log[-1]), flush=True)
            if score > best["val_psnr"]:
                best = {"step": step, "val_psnr": score, "state": copy.deepcopy(student.state_dict())}
            state_path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"student": student.state_dict(), "opt": opt.state_dict(), "step": step, "best": best,
                        "log": json.dumps(log), "made_from": made_from}, state_path)

    student.load_state_dict(best["state"])
    if args.start:  # read here, not at the start: a run resumed from --state skips that branch
        with safe_open(args.start, "pt") as handle:
            origin = f"{args.start} ({(handle.metadata() or {}).get('recipe', 'no recipe recorded')})"
    else:
        origin = (f"calibration on {args.calib} batches of {args.batch} LR crops of {args.lr_crop} px, output-aware "
                  f"refinement on {args.refine_batch} crops of 48 px ({args.refine_passes} passes)")
    qat = (f", then QAT: distillation, batch {args.batch}, Adam lr {args.lr} (scales {args.scale_lr}) cosine over "
           f"{args.steps} steps, best at step {best['step']}") if best["step"] else ""
    save_int8(student, args.out, {
        "from": args.model, "phase": "int8", "qat_steps": best["step"], "val_psnr": round(best["val_psnr"], 4),
        "val_psnr_fp32": round(teacher_val, 4), "trained": date.today().isoformat(),
        "recipe": f"{origin}{qat}; chosen on the validation split of {args.data}"})
    if args.log:
        Path(args.log).parent.mkdir(parents=True, exist_ok=True)
        Path(args.log).write_text("".join(json.dumps(e) + "\n" for e in log))
    print(f"wrote {args.out}: step {best['step']}, val PSNR {best['val_psnr']:.4f} dB "
          f"({best['val_psnr'] - teacher_val:+.4f} vs fp32)")


if __name__ == "__main__":
    main()
