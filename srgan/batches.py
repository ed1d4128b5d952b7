"""Which training samples make up each step's batch: a pure function of (seed, step, rank).

Sample position ``p = step * batch_size + k`` of the run is sample ``perm_e[p mod n]`` of epoch
``e = p // n``, where ``perm_e`` is a permutation of the ``n`` dataset samples seeded by ``(seed, e)``, and
``TrainDataset.sample(i, epoch)`` cuts the crop from ``(seed, epoch, i)`` alone. So the sampler's whole state
is the step counter: resuming at step s, or splitting the global batch over ranks, draws exactly the samples
one uninterrupted single process would have drawn.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .data import to_chw_float, worker_init


class StepBatches(Sampler):
    """Yields, for steps ``start .. stop-1``, this rank's share of the global batch as ``(epoch, index)`` pairs."""

    def __init__(self, num_samples: int, batch_size: int, seed: int, start: int, stop: int,
                 rank: int = 0, world_size: int = 1):
        if batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} is not divisible by the {world_size} processes")
        self.n, self.batch_size, self.seed = int(num_samples), int(batch_size), int(seed)
        self.start, self.stop = int(start), int(stop)
        self.per_rank = self.batch_size // world_size
        self.offset = rank * self.per_rank
        # this sampler's own (an lru_cache on the method kept every sampler alive)
        self._permutations: dict[int, np.ndarray] = {}

    def permutation(self, epoch: int) -> np.ndarray:
        if epoch not in self._permutations:
            if len(self._permutations) >= 2:  # epochs come in order: the oldest is not asked for again
                self._permutations.pop(min(self._permutations))
            self._permutations[epoch] = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        return self._permutations[epoch]

    def batch(self, step: int) -> list[tuple[int, int]]:
        first = step * self.batch_size + self.offset
        out = []
        for position in range(first, first + self.per_rank):
            epoch, k = divmod(position, self.n)
            out.append((epoch, int(self.permutation(epoch)[k])))
        return out

    def __iter__(self):
        for step in range(self.start, self.stop):
            yield self.batch(step)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


class EpochSamples(Dataset):
    """``dataset[(epoch, i)]`` -> ``TrainDataset.sample(i, epoch)`` as float32 CHW tensors in [0, 1]."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = key
        lr, hr = self.dataset.sample(index, epoch)
        return to_chw_float(lr), to_chw_float(hr)


def step_loader(dataset, batches: StepBatches, num_workers: int = 0, pin_memory: bool = False) -> DataLoader:
    # Its own generator: the loader draws a base seed when iterated, and from the global RNG that draw made a
    # resumed run's saved torch RNG state differ from the uninterrupted run's.
    return DataLoader(EpochSamples(dataset), batch_sampler=batches, num_workers=num_workers,
                      pin_memory=pin_memory, worker_init_fn=worker_init if num_workers else None,
                      persistent_workers=False, generator=torch.Generator())
