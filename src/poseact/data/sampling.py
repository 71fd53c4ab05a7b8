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

    def segment_sizes(self) -> list[int]:
        """Lengths of the parts of this epoch's order that batches must not straddle."""
        return [self.num_samples]

    def __iter__(self) -> Iterator[int]:
        return iter(self.order().tolist())

    def __len__(self) -> int:
        return self.num_samples


class _ActionSampler(EpochPermutation):
    """Base of the per-action samplers: knows the action of every sample."""

    def __init__(self, sample_action: np.ndarray, seed: int = 0) -> None:
        super().__init__(len(sample_action), seed=seed, shuffle=True)
        self.actions = np.unique(sample_action)
        self.pools = [np.flatnonzero(sample_action == a) for a in self.actions]


class CycledActions(_ActionSampler):
    """Bai's per-action training: an epoch is one cycle through the actions, each action's samples
    a contiguous shuffled segment (one *unit-epoch*), the actions in a fixed order or in a new
    random order every cycle. Batches never straddle two actions."""

    def __init__(self, sample_action: np.ndarray, seed: int = 0, shuffle_actions: bool = False) -> None:
        super().__init__(sample_action, seed)
        self.shuffle_actions = shuffle_actions

    def _action_order(self, rng: np.random.Generator) -> np.ndarray:
        return rng.permutation(len(self.actions)) if self.shuffle_actions else np.arange(len(self.actions))

    def order(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch])
        return np.concatenate([rng.permutation(self.pools[a]) for a in self._action_order(rng)])

    def segment_sizes(self) -> list[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        return [len(self.pools[a]) for a in self._action_order(rng)]


class BalancedActions(_ActionSampler):
    """Every action equally often: an epoch of ``num_samples`` draws ``num_samples / A`` samples of
    each of the ``A`` actions (cycling through a shuffled pool when it is smaller), shuffled."""

    def order(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch])
        quota = np.full(len(self.actions), self.num_samples // len(self.actions))
        quota[: self.num_samples % len(self.actions)] += 1
        drawn = [np.resize(rng.permutation(pool), q) for pool, q in zip(self.pools, quota)]
        return rng.permutation(np.concatenate(drawn))


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
        step = self.batch_size * self.world_size
        bounds, start = [0], 0
        for size in self.sampler.segment_sizes():
            inner = list(range(start + step, start + size, step)) + [start + size]
            if len(inner) > 1 and inner[-1] - inner[-2] < 2 * self.world_size:
                del inner[-2]
            bounds += inner
            start += size
        return bounds

    def __iter__(self) -> Iterator[np.ndarray]:
        order = self.sampler.order()
        bounds = self._global_bounds()
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            yield np.array_split(order[lo:hi], self.world_size)[self.rank]

    def __len__(self) -> int:
        return len(self._global_bounds()) - 1


class EndlessPermutation:
    """An endless stream of shuffled indices ``0..n-1``: element ``i`` of the stream is
    ``perm_c[i % n]`` with ``c = i // n`` and ``perm_c`` drawn from ``(seed, c)``.

    Any slice of the stream is computed from its position alone, so a stream that never restarts
    at epoch boundaries (the reference's unlabeled generator) still resumes exactly.
    """

    def __init__(self, num_samples: int, seed: int) -> None:
        if num_samples <= 0:
            raise ValueError("the unlabeled stream is empty: check data.subjects_unlabeled")
        self.num_samples, self.seed = num_samples, seed

    def take(self, start: int, count: int) -> np.ndarray:
        positions = np.arange(start, start + count, dtype=np.int64)
        cycles = positions // self.num_samples
        out = np.empty(count, dtype=np.int64)
        for c in np.unique(cycles):
            mask = cycles == c
            perm = np.random.default_rng([self.seed, int(c)]).permutation(self.num_samples)
            out[mask] = perm[positions[mask] % self.num_samples]
        return out


class SemiSupervisedBatchSampler(Sampler[tuple[np.ndarray, np.ndarray]]):
    """Pairs every labeled batch with an unlabeled batch of the same size (VideoPose3D's
    ``zip(labeled, unlabeled)``): the labeled epoch sets the epoch length, the unlabeled stream
    runs on across epochs. During the warm-up epochs the unlabeled part is empty.

    Yields ``(labeled_indices, unlabeled_indices)`` for this rank.
    """

    def __init__(self, labeled: ShardedBatchSampler, unlabeled: EndlessPermutation, warmup_epochs: int = 0) -> None:
        self.labeled, self.unlabeled, self.warmup_epochs = labeled, unlabeled, warmup_epochs

    @property
    def sampler(self) -> EpochPermutation:
        """The labeled order (Lightning calls its ``set_epoch``)."""
        return self.labeled.sampler

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        epoch = self.sampler.epoch
        order = self.sampler.order()
        bounds = self.labeled._global_bounds()
        offset = epoch * self.sampler.num_samples  # unlabeled samples consumed by earlier epochs
        w, r = self.labeled.world_size, self.labeled.rank
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            labeled = np.array_split(order[lo:hi], w)[r]
            if epoch < self.warmup_epochs:
                unlabeled = np.zeros(0, dtype=np.int64)
            else:
                unlabeled = np.array_split(self.unlabeled.take(offset + lo, hi - lo), w)[r]
            yield labeled, unlabeled

    def __len__(self) -> int:
        return len(self.labeled)
