"""Samplers: a seeded per-epoch order of samples, cut into batches and sharded over DDP ranks.

The order of epoch ``e`` depends only on ``(seed, e)``, never on how many epochs this process
has run, so a run resumed from a checkpoint sees exactly the batches of an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


class EpochPermutation(Sampler[int]):
    """Indices ``0..n-1`` in a fresh random order every epoch (or in order if not shuffled)."""

    def __init__(self, num_samples: int, seed: int = 0, shuffle: bool = True) -> None:
        if num_samples <= 0:
            raise ValueError("the sampler got an empty dataset: check the subject/action filters")
        self.num_samples, self.seed, self.shuffle = num_samples, seed, shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at every epoch start (and on resume)."""
        self.epoch = epoch

    def order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.num_samples, dtype=np.int64)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.num_samples)

    def __iter__(self) -> Iterator[int]:
        return iter(self.order().tolist())

    def __len__(self) -> int:
        return self.num_samples


class ShardedBatchSampler(Sampler[np.ndarray]):
    """Cut one epoch's order into batches; with DDP each rank takes a disjoint part.

    A global step consumes ``batch_size * world_size`` consecutive indices, split evenly over the
    ranks, so every rank runs the same number of steps and every sample is used once per epoch.
    A tail too small to give each rank two samples (BatchNorm needs two) joins the last step.
    With one process this is VideoPose3D's batching: full batches, then a smaller last one.
    """

    def __init__(self, sampler: EpochPermutation, batch_size: int, rank: int = 0, world_size: int = 1) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.sampler, self.batch_size, self.rank, self.world_size = sampler, batch_size, rank, world_size

    def _global_bounds(self) -> list[int]:
        n, step = self.sampler.num_samples, self.batch_size * self.world_size
        bounds = list(range(0, n, step)) + [n]
        if len(bounds) > 2 and bounds[-1] - bounds[-2] < 2 * self.world_size:
            del bounds[-2]
        return bounds

    def __iter__(self) -> Iterator[np.ndarray]:
        order = self.sampler.order()
        bounds = self._global_bounds()
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            yield np.array_split(order[lo:hi], self.world_size)[self.rank]

    def __len__(self) -> int:
        return len(self._global_bounds()) - 1
