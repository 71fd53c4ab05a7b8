"""The training clock: budgets and the lr / BatchNorm-momentum schedules, counted in samples.

A run's position is the number of training samples consumed before the current batch, a
function of (epoch, batch index) alone, so schedules resume exactly. :class:`TrainingClock` is
built once per run from the epoch sampler and the :class:`Schedule`, and handed to both the
trainer (how many steps, when to validate) and the module (lr and momentum before every step).
The budget unit decides what the schedules count:

* ``epochs`` — passes over this run's training set; lr × ``lr_decay`` after each, BatchNorm
  momentum stepped per epoch (the reference, exactly).
* ``unit_epochs`` — passes over one action's data on average (Bai: ~15 per H36M epoch); lr and
  momentum step per unit-epoch (what Bai's per-action runs did).
* ``samples`` / ``steps`` — a budget of samples or optimizer steps; lr decays continuously by
  ``lr_decay`` per pass over the *full* mixed training set and momentum follows the fraction of
  the budget used, so every sampling mode gets the same schedule at matched compute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from poseact.run.sharding import EpochPermutation, step_bounds


def bn_momentum(epoch: float, total_epochs: float, start: float = 0.1, end: float = 0.001) -> float:
    """Exponentially decayed BatchNorm momentum: ``start * (end / start) ** (epoch / total_epochs)``.

    ``epoch`` is the number of finished epochs (0 -> ``start``, ``total_epochs`` -> ``end``).
    """
    if total_epochs <= 0:
        raise ValueError(f"total_epochs must be positive, got {total_epochs}")
    return start * (end / start) ** (epoch / total_epochs)


@dataclass(frozen=True)
class Schedule:
    unit: str
    samples_per_unit: float  # samples in one budget unit
    total_samples: int  # the budget
    samples_per_decay: float  # lr x lr_decay every this many samples
    stepwise: bool  # schedules change at unit boundaries only
    lr: float
    lr_decay: float
    bn_start: float
    bn_end: float

    @property
    def total_units(self) -> float:
        return self.total_samples / self.samples_per_unit

    def units(self, samples: int) -> float:
        """Budget units consumed after ``samples`` (whole units when stepwise)."""
        u = samples / self.samples_per_unit
        return math.floor(u + 1e-9) if self.stepwise else u

    def lr_at(self, samples: int) -> float:
        decays = samples / self.samples_per_decay
        return self.lr * self.lr_decay ** (math.floor(decays + 1e-9) if self.stepwise else decays)

    def bn_momentum_at(self, samples: int) -> float:
        return bn_momentum(self.units(samples), self.total_units, self.bn_start, self.bn_end)


def make_schedule(unit: str, amount: float, epoch_samples: int, full_epoch_samples: int, num_actions: int,
                  batch_size: int, lr: float, lr_decay: float, bn_start: float, bn_end: float) -> Schedule:
    """The schedule of a budget of ``amount`` ``unit``s.

    ``epoch_samples``: samples in one epoch of this run's sampler; ``full_epoch_samples``: in one
    epoch over all training actions (mixed); ``num_actions``: actions this run trains on.
    """
    per_unit = {"epochs": epoch_samples, "unit_epochs": epoch_samples / num_actions, "samples": 1.0,
                "steps": float(batch_size)}[unit]
    per_decay = {"epochs": epoch_samples, "unit_epochs": epoch_samples / num_actions}.get(unit, full_epoch_samples)
    return Schedule(unit=unit, samples_per_unit=per_unit, total_samples=int(round(amount * per_unit)),
                    samples_per_decay=per_decay, stepwise=unit in ("epochs", "unit_epochs"), lr=lr,
                    lr_decay=lr_decay, bn_start=bn_start, bn_end=bn_end)


# The final BatchNorm momentum m averages running statistics over about 1/m steps. The reference
# ends at 0.001 (1,000 steps) after ~100k steps, when the lr has decayed and the weights barely
# move. Over a short run the same window spans most of the run while the weights still change, and
# evaluation uses statistics of older weights: measured on the synthetic set (4-epoch, 627-step
# budget, benchmarks/RESULTS.md), P1 84 mm with the reference's 0.001 against 44 mm with 0.01.
BN_WINDOW_WARN_FRACTION = 0.25


def short_run_warning(schedule: Schedule, total_steps: int) -> str | None:
    """A warning when the final BatchNorm averaging window (``1 / bn_end`` steps) covers more than
    :data:`BN_WINDOW_WARN_FRACTION` of a run of ``total_steps`` optimizer steps, else None."""
    if schedule.bn_end <= 0 or total_steps <= 0:
        return None
    window = 1.0 / schedule.bn_end
    if window <= BN_WINDOW_WARN_FRACTION * total_steps:
        return None
    suggestion = 1.0 / (0.1 * total_steps)  # a window of a tenth of the run
    return (f"BatchNorm momentum ends at optim.bn_momentum_end={schedule.bn_end:g}, i.e. running statistics "
            f"averaged over the last ~{window:,.0f} steps, but this run has {total_steps:,} steps: evaluation "
            f"would use statistics of much older weights. The reference's value suits its ~100k-step runs; "
            f"for this one set optim.bn_momentum_end={min(0.1, suggestion):.2g} or more.")


class TrainingClock:
    """Where a run is, in training samples consumed over all ranks, and what that means for the
    schedules. ``position(epoch, batch)`` costs a lookup: each epoch's step bounds are computed
    once (they depend on the epoch only through the sampler's segments) and cached.

    Args:
        schedule: the run's budget and schedules.
        sampler: the epoch order of the training samples (its ``segment_sizes(epoch)`` is read,
            its state never changed).
        per_rank: samples per rank per step; ``world``: ranks; ``min_per_rank``: see
            :func:`~poseact.run.sharding.step_bounds`.
    """

    def __init__(self, schedule: Schedule, sampler: EpochPermutation, per_rank: int, world: int = 1,
                 min_per_rank: int = 2) -> None:
        self.schedule, self.sampler = schedule, sampler
        self.per_rank, self.world, self.min_per_rank = per_rank, world, min_per_rank
        self.epoch_samples = sampler.num_samples
        self._bounds: dict[int, np.ndarray] = {}
        self._constant = type(sampler).segment_sizes is EpochPermutation.segment_sizes  # one segment, every epoch

    def bounds(self, epoch: int) -> np.ndarray:
        """Global sample bounds of the steps of ``epoch`` (within the epoch)."""
        key = 0 if self._constant else epoch
        if key not in self._bounds:
            if len(self._bounds) > 8:
                self._bounds.clear()
            self._bounds[key] = step_bounds(self.sampler.segment_sizes(epoch), self.per_rank, self.world,
                                            self.min_per_rank)
        return self._bounds[key]

    def steps_per_epoch(self, epoch: int) -> int:
        return len(self.bounds(epoch)) - 1

    def position(self, epoch: int, batch_idx: int) -> int:
        """Training samples consumed (over all ranks) before step ``batch_idx`` of ``epoch``."""
        return epoch * self.epoch_samples + int(self.bounds(epoch)[batch_idx])

    def steps_for(self, total_samples: int) -> int:
        """Optimizer steps until ``total_samples`` are consumed."""
        steps, seen, epoch = 0, 0, 0
        while seen < total_samples:
            sizes = np.diff(self.bounds(epoch))
            cumulative = seen + np.cumsum(sizes)
            if cumulative[-1] >= total_samples:
                return steps + int(np.searchsorted(cumulative, total_samples)) + 1
            steps, seen, epoch = steps + len(sizes), int(cumulative[-1]), epoch + 1
        return steps

    @property
    def total_steps(self) -> int:
        """Steps of the whole budget."""
        return self.steps_for(self.schedule.total_samples)

    def lr_at(self, samples: int) -> float:
        return self.schedule.lr_at(samples)

    def bn_momentum_at(self, samples: int) -> float:
        return self.schedule.bn_momentum_at(samples)
