"""Multi-process training with ``torchrun``: process group, DDP wrapping, collectives (each rank's share of a
batch is :mod:`srgan.batches`).

One process per device. ``torchrun`` sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``; without them training is a
single process and everything here is a no-op. The global batch is ``batch_size`` samples per step whatever
the number of processes: rank ``r`` of ``W`` trains on samples ``[r*b, (r+1)*b)`` of it, ``b = batch_size / W``,
and DDP averages the gradients, so W processes take the same optimizer steps as one process would (up to
BatchNorm statistics, which are per rank unless SyncBatchNorm is on: CUDA only).
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device: torch.device) -> DistInfo:
    """Join the process group torchrun describes (nccl on CUDA, gloo on CPU); a no-op for one process."""
    if not launched_by_torchrun():
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
    return info


def local_device(device: torch.device, info: DistInfo) -> torch.device:
    """CUDA: this rank's GPU (cuda:LOCAL_RANK). Other devices are used as they are."""
    if device.type == "cuda" and info.enabled:  # CUDA-only
        torch.cuda.set_device(info.local_rank)
        return torch.device("cuda", info.local_rank)
    return device


def wrap(module: nn.Module, device: torch.device, info: DistInfo) -> nn.Module:
    """DDP-wrap a module for training (SyncBatchNorm first, on CUDA only); the module itself when single."""
    if not info.enabled:
        return module
    if device.type == "cuda":  # CUDA-only: gloo has no SyncBatchNorm
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
        return nn.parallel.DistributedDataParallel(module, device_ids=[device.index])
    return nn.parallel.DistributedDataParallel(module)


def all_reduce_mean(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean over ranks of a small tensor (losses, flags); the tensor itself when single."""
    if info.enabled:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        values /= info.world_size
    return values


def teardown(info: DistInfo, wait: bool = True) -> None:
    """Wait for every rank (``wait``: after a clean run only), then leave the process group."""
    if info.enabled and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()
