"""The lifter's sampling modes (Bai's per-action training and its alternatives) and the unlabeled
stream of semi-supervised training.

``mixed`` is :class:`~poseact.run.sharding.EpochPermutation` over every window; ``cycled`` and
``balanced`` are below. Like every sampler of :mod:`poseact.run.sharding`, an epoch's order is a
function of ``(seed, epoch)`` alone, so resumed runs see exactly the batches of uninterrupted ones.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from poseact.run.sharding import EpochPermutation, ShardedBatchSampler


class _ActionSampler(EpochPermutation):
    """Base of the per-action samplers: knows the action of every sample."""

    def __init__(self, sample_action: np.ndarray, seed: int = 0) -> None:
        super().__init__(len(sample_action), seed=seed, shuffle=True)
        self.actions, inverse = np.unique(sample_action, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        self.pools = np.split(order, np.cumsum(np.bincount(inverse, minlength=len(self.actions)))[:-1])


class CycledActions(_ActionSampler):
    """Bai's per-action training: an epoch is one cycle through the actions, each action's samples
    a contiguous shuffled segment (one *unit-epoch*), the actions in a fixed order or in a new
    random order every cycle. Batches never straddle two actions."""

    def __init__(self, sample_action: np.ndarray, seed: int = 0, shuffle_actions: bool = False) -> None:
        super().__init__(sample_action, seed)
        self.shuffle_actions = shuffle_actions

    def _action_order(self, rng: np.random.Generator) -> np.ndarray:
        return rng.permutation(len(self.actions)) if self.shuffle_actions else np.arange(len(self.actions))

    def order(self, epoch: int | None = None) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self._epoch(epoch)])
        return np.concatenate([rng.permutation(self.pools[a]) for a in self._action_order(rng)])

    def segment_sizes(self, epoch: int | None = None) -> list[int]:
        rng = np.random.default_rng([self.seed, self._epoch(epoch)])
        return [len(self.pools[a]) for a in self._action_order(rng)]


class BalancedActions(_ActionSampler):
    """Every action equally often: an epoch of ``num_samples`` draws ``num_samples / A`` samples of
    each of the ``A`` actions (cycling through a shuffled pool when it is smaller), shuffled."""

    def order(self, epoch: int | None = None) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self._epoch(epoch)])
        quota = np.full(len(self.actions), self.num_samples // len(self.actions))
        quota[: self.num_samples % len(self.actions)] += 1
        drawn = [np.resize(rng.permutation(pool), q) for pool, q in zip(self.pools, quota)]
        return rng.permutation(np.concatenate(drawn))


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

    def take(self, start: int, count: int, world_size: int = 1, rank: int = 0) -> np.ndarray:
        """Stream positions ``start .. start + count``; with ``world_size`` ranks, rank ``rank``'s share."""
        if world_size > 1:
            return np.array_split(self.take(start, count), world_size)[rank]
        positions = np.arange(start, start + count, dtype=np.int64)
        cycles = positions // self.num_samples
        out = np.empty(count, dtype=np.int64)
        for c in np.unique(cycles):
            mask = cycles == c
            perm = np.random.default_rng([self.seed, int(c)]).permutation(self.num_samples)
            out[mask] = perm[positions[mask] % self.num_samples]
        return out


class InstantStream:
    """The unlabeled stream of the multi-view term: whole instants (every view's window of one moment,
    :func:`~poseact.lifting.multiview.instants`) instead of single windows, in an
    :class:`EndlessPermutation` of the instants.

    ``take(start, count)`` (positions counted in windows, as :class:`EndlessPermutation`'s) returns the
    windows of the instants at positions ``start / m`` to ``(start + count) / m`` of the instant
    stream (``m`` = windows per instant on average; at least one instant), so a batch holds about
    ``count`` windows and, as every stream here, depends on its position alone. Only plain (not
    mirrored) windows: a mirrored view is another camera.
    """

    def __init__(self, instant_of_window: np.ndarray, seed: int) -> None:
        ids = np.asarray(instant_of_window, dtype=np.int64)
        self.num_instants = int(ids.max()) + 1 if len(ids) else 0
        self.instants = EndlessPermutation(self.num_instants, seed)
        order = np.argsort(ids, kind="stable")
        self.members = np.split(order, np.cumsum(np.bincount(ids, minlength=self.num_instants))[:-1])
        self.per_instant = len(ids) / self.num_instants

    def take(self, start: int, count: int, world_size: int = 1, rank: int = 0) -> np.ndarray:
        """The windows of the batch at ``start`` (``count`` windows about); with ``world_size`` ranks,
        rank ``rank``'s share, cut between instants so that the views of one instant stay together."""
        lo = int(start // self.per_instant)
        hi = max(lo + 1, int((start + count) // self.per_instant))
        share = np.array_split(self.instants.take(lo, hi - lo), world_size)[rank]
        if not len(share):
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([self.members[i] for i in share])


class SemiSupervisedBatchSampler(Sampler[tuple[np.ndarray, np.ndarray]]):
    """Pairs every labeled batch with an unlabeled batch of the same size (VideoPose3D's
    ``zip(labeled, unlabeled)``): the labeled epoch sets the epoch length, the unlabeled stream
    runs on across epochs. During the warm-up epochs the unlabeled part is empty.

    Yields ``(labeled_indices, unlabeled_indices)`` for this rank.
    """

    def __init__(self, labeled: ShardedBatchSampler, unlabeled: EndlessPermutation | InstantStream,
                 warmup_epochs: int = 0) -> None:
        self.labeled, self.unlabeled, self.warmup_epochs = labeled, unlabeled, warmup_epochs

    @property
    def sampler(self) -> EpochPermutation:
        """The labeled order (Lightning calls its ``set_epoch``)."""
        return self.labeled.sampler

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        epoch = self.sampler.epoch
        order = self.sampler.order()
        bounds = self.labeled.bounds()
        offset = epoch * self.sampler.num_samples  # unlabeled samples consumed by earlier epochs
        w, r = self.labeled.world_size, self.labeled.rank
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            labeled = np.array_split(order[lo:hi], w)[r]
            if epoch < self.warmup_epochs:
                unlabeled = np.zeros(0, dtype=np.int64)
            else:
                unlabeled = self.unlabeled.take(offset + lo, hi - lo, w, r)
            yield labeled, unlabeled

    def __len__(self) -> int:
        return len(self.labeled)
