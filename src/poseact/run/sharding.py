"""Seeded epoch orders cut into global steps and sharded over DDP ranks — for every family.

The order of epoch ``e`` depends only on ``(seed, e)``, never on how many epochs this process has
run, so a run resumed from a checkpoint sees exactly the batches of an uninterrupted run.
``data.batch_size`` is the *global* batch: a step consumes ``batch_size`` consecutive samples of
the epoch's order, split evenly over the ranks, and every rank runs the same number of steps.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


class EpochPermutation(Sampler[int]):
    """Indices ``0..n-1`` in a fresh random order every epoch (or in order if not shuffled).

    ``order(epoch)`` and ``segment_sizes(epoch)`` are pure functions of the epoch (default: the
    one ``set_epoch`` chose, as Lightning calls it at every epoch start)."""

    def __init__(self, num_samples: int, seed: int = 0, shuffle: bool = True) -> None:
        if num_samples <= 0:
            raise ValueError("the sampler got an empty dataset: check the subject/action filters")
        self.num_samples, self.seed, self.shuffle = num_samples, seed, shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _epoch(self, epoch: int | None) -> int:
        return self.epoch if epoch is None else epoch

    def order(self, epoch: int | None = None) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.num_samples, dtype=np.int64)
        return np.random.default_rng([self.seed, self._epoch(epoch)]).permutation(self.num_samples)

    def segment_sizes(self, epoch: int | None = None) -> list[int]:
        """Lengths of the parts of an epoch's order that steps must not straddle."""
        return [self.num_samples]

    def __iter__(self) -> Iterator[int]:
        return iter(self.order().tolist())

    def __len__(self) -> int:
        return self.num_samples


def step_bounds(segment_sizes: Sequence[int], per_rank: int, world: int = 1, min_per_rank: int = 2) -> np.ndarray:
    """Global sample bounds of an epoch's steps: step ``i`` covers ``[b[i], b[i + 1])`` of the order.

    Each segment is cut into steps of ``per_rank * world`` samples; a tail too small to give every
    rank ``min_per_rank`` samples (BatchNorm over one sample fails) joins the step before it. With one
    process and ``min_per_rank=2`` this is VideoPose3D's batching: full batches, then a smaller last one.
    """
    step = per_rank * world
    bounds, start = [0], 0
    for size in segment_sizes:
        inner = list(range(start + step, start + size, step)) + [start + size]
        if len(inner) > 1 and inner[-1] - inner[-2] < min_per_rank * world:
            del inner[-2]
        bounds += inner
        start += size
    return np.asarray(bounds, dtype=np.int64)


class ShardedBatchSampler(Sampler[np.ndarray]):
    """Cut one epoch's order into global steps (:func:`step_bounds`); this rank's share of each."""

    def __init__(self, sampler: EpochPermutation, batch_size: int, rank: int = 0, world_size: int = 1,
                 min_per_rank: int = 2) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.sampler, self.batch_size, self.rank, self.world_size = sampler, batch_size, rank, world_size
        self.min_per_rank = min_per_rank

    @classmethod
    def global_batch(cls, sampler: EpochPermutation, global_batch: int, rank: int = 0, world_size: int = 1,
                     min_per_rank: int = 2) -> "ShardedBatchSampler":
        """Steps of ``global_batch`` samples over all ranks (each rank ``global_batch // world_size``)."""
        return cls(sampler, max(1, global_batch // world_size), rank, world_size, min_per_rank)

    def bounds(self, epoch: int | None = None) -> np.ndarray:
        return step_bounds(self.sampler.segment_sizes(epoch), self.batch_size, self.world_size, self.min_per_rank)

    def __iter__(self) -> Iterator[np.ndarray]:
        order = self.sampler.order()
        bounds = self.bounds()
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            yield np.array_split(order[lo:hi], self.world_size)[self.rank]

    def __len__(self) -> int:
        return len(self.bounds()) - 1


def round_robin(order: np.ndarray, rank: int, world: int) -> list[int]:
    """This rank's items of an evaluation ``order``: every ``world``-th, starting at ``rank``
    (disjoint shares that cover every item once; no padding, so gathered metrics are exact)."""
    return np.asarray(order)[rank::world].tolist()
