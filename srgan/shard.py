"""``torchrun ... srgan upscale DIR -o OUT``: the files shared out across processes (one per GPU, or CPU ranks).

Every rank plans the same (input, output) list from the same arguments and takes every W-th pair, starting at
its rank, so each file belongs to exactly one rank. Pairs are assigned before finished outputs are skipped:
a rank decides only about its own outputs, which no other rank writes, so the assignment never depends on
how far the others have got. A rerun after an interruption skips the outputs already written (writes are
atomic, so an existing output is a finished one); ``--overwrite`` redoes them. Rank 0 prints the summary of
all ranks; the exit status is non-zero on every rank if any rank failed.

The processes only exchange the final counts, over gloo (CPU tensors, whatever device upscales).
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist

from .distributed import init, launched_by_torchrun, local_device
from .device import resolve_device
from .images import printable


def mine(pairs: list, args: argparse.Namespace) -> list:
    """The pairs this rank upscales (all of them outside torchrun): :func:`sharded` sets ``args.shard``."""
    keep = getattr(args, "shard", None)
    return pairs if keep is None else [p for p in pairs if p in keep]


def sharded(upscale_from_cli: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run ``srgan upscale`` on this rank's share of the files; a plain call outside torchrun."""
    if not launched_by_torchrun():
        return upscale_from_cli(args)
    from .imagefind import passed_over_note
    from .outputs import drop_earlier_outputs, lookalike_warning, plan_outputs, unfit_warning

    if not dist.is_initialized():
        # The summary waits for the slowest rank, which can be hours behind on an uneven folder.
        dist.init_process_group("gloo", timeout=datetime.timedelta(days=7))
    info = init(torch.device("cpu"))  # this rank and the world size, from torchrun's environment
    device = local_device(resolve_device(args.device), info)
    args.device = str(device)
    inputs = [*args.inputs, *(args.input or [])]
    plan = plan_outputs(inputs, args.output, args.ext, args.suffix)
    drop_earlier_outputs(plan)  # as each rank's upscale_from_cli does: left out, not failed
    for warning in (lookalike_warning(plan), passed_over_note(plan.others)):
        if info.is_main and warning:
            print(f"srgan: warning: {printable(warning)}", file=sys.stderr)
    if info.is_main and not args.overwrite:  # each rank's upscale_from_cli sees only what is left to do
        kept = [(src, dest) for src, dest in plan.pairs if os.path.lexists(dest)]
        if kept and (warning := unfit_warning(kept, args.outscale, args.model, "a torchrun rerun")):
            print(f"srgan: warning: {printable(warning)}", file=sys.stderr)
    share = plan.pairs[info.rank::info.world_size]
    todo = [(src, dest) for src, dest in share if args.overwrite or not dest.exists()]
    # The plan's own errors (a missing input, a broken link) are every rank's: rank 0 alone reports and counts them.
    planned_errors = plan.errors if info.is_main else []
    for line in planned_errors:
        print(f"srgan: {printable(line)}", file=sys.stderr)
    if not info.is_main:
        args.quiet = True  # one progress bar and one closing line: rank 0's
    code = 1 if planned_errors else 0
    before = {dest: _stamp(dest) for _src, dest in todo}  # with --overwrite, a kept old file is not a written one
    if todo:
        args.shard = set(todo)
        try:
            code = max(code, upscale_from_cli(args))
        except Exception as exc:  # a rank that fails must still join the summary, or the others wait forever
            print(f"srgan: rank {info.rank}: {exc}", file=sys.stderr)
            code = 1
    written = sum(_stamp(dest) not in (None, before[dest]) for _src, dest in todo)
    counts = torch.tensor([written, len(todo) - written + len(planned_errors), len(share) - len(todo), int(code != 0)])
    dist.all_reduce(counts)
    written, failed, skipped, failed_ranks = counts.tolist()
    if info.is_main:
        print(f"srgan: {info.world_size} processes: {written} image(s) written, {skipped} already done "
              f"(skipped), {failed} failed", file=sys.stderr)
    dist.destroy_process_group()
    return 1 if failed_ranks else 0


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """(inode, mtime, size) of an output, or None when there is none: outputs are written by renaming a new file
    into place, so a written one differs from what was there before."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size
