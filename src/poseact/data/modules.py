"""LightningDataModule for lifting: a store (or the synthetic default) → train windows, test sequences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from torch.utils.data import DataLoader

from poseact.config import DataConfig, ExperimentConfig
from poseact.data.lifting import (
    LiftingArrays, SelectionError, SemiSupervisedWindows, SequenceDataset, WindowDataset, check_intrinsics,
    select_sequences,
)
from poseact.data.sampling import (
    BalancedActions, CycledActions, EndlessPermutation, EpochPermutation, SemiSupervisedBatchSampler,
    ShardedBatchSampler,
)
from poseact.data.store import PoseStore, open_store
from poseact.models.temporal import receptive_field_of
from poseact.schedule import Schedule, make_schedule


def _passthrough(batch):
    return batch


def resolve_store_path(data: DataConfig) -> Path:
    """The configured store, or the cached synthetic store (generated on first use)."""
    if data.store is not None:
        return Path(data.store)
    from poseact.data.synthetic import SyntheticConfig, synthetic_store

    s = data.synthetic
    cfg = SyntheticConfig(subjects=list(s.subjects), unlabeled_subjects=list(s.unlabeled_subjects),
                          takes_per_action=s.takes_per_action, seconds_per_take=s.seconds_per_take,
                          take_length_spread=s.take_length_spread, seed=s.seed)
    return synthetic_store(cfg, s.cache_dir)


class LiftingDataModule(pl.LightningDataModule):
    """Train on windows of the training subjects; evaluate whole sequences of the test subjects.

    Under DDP each rank takes a disjoint shard of every epoch's batches and of the test
    sequences (metrics are gathered across ranks by the task).
    """

    def __init__(self, cfg: ExperimentConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.store: PoseStore | None = None
        self.arrays: LiftingArrays | None = None
        self.unlabeled_set: WindowDataset | None = None

    @property
    def pad(self) -> int:
        """Context frames each side, from the model config (read late: a checkpoint may resize it)."""
        return (receptive_field_of(self.cfg.model.filter_widths) - 1) // 2

    @property
    def causal_shift(self) -> int:
        return self.pad if self.cfg.model.causal else 0

    def prepare_data(self) -> None:
        resolve_store_path(self.cfg.data)  # generates the synthetic store once (rank 0)

    def load(self) -> LiftingArrays:
        """Open the store and prepare arrays (idempotent); usable without a Trainer."""
        if self.arrays is None:
            self.store = open_store(resolve_store_path(self.cfg.data))
            self.arrays = LiftingArrays.from_store(self.store, use_confidence=self.cfg.data.use_confidence)
        return self.arrays

    def setup(self, stage: str | None = None) -> None:
        d = self.cfg.data
        arrays = self.load()
        if stage in (None, "fit") and getattr(self, "train_set", None) is None:
            views = select_sequences(self.store, d.subjects_train, self.train_actions, d.subset, d.downsample,
                                     labeled=True, what="data.subjects_train")
            self.train_set = WindowDataset(arrays, views, self.pad, self.causal_shift, flip=d.flip_augment)
            if self.semi_supervised:
                self.unlabeled_set = self._unlabeled_windows()
        test_views = select_sequences(self.store, d.subjects_test, self.test_actions, 1.0, d.downsample,
                                      labeled=stage != "predict", what="data.subjects_test")
        self.test_set = SequenceDataset(arrays, test_views, self.pad, self.causal_shift,
                                        with_3d=stage != "predict")

    @property
    def train_actions(self) -> list[str] | None:
        """Action filter of the training (and unlabeled) data: ``data.sampling.actions`` when given
        (single: the trained action(s); cycled/balanced: the rotated set), else ``data.actions``."""
        return self.cfg.data.sampling.actions or self.cfg.data.actions

    @property
    def test_actions(self) -> list[str] | None:
        s = self.cfg.data.sampling
        return s.actions if s.mode == "single" and not s.eval_all_actions else self.cfg.data.actions

    @property
    def semi_supervised(self) -> bool:
        return bool(self.cfg.data.subjects_unlabeled)

    def _unlabeled_windows(self) -> WindowDataset:
        """2-D windows of the unlabeled subjects (their 3-D, if the store has any, is never read)."""
        d = self.cfg.data
        arrays = self.arrays
        if d.store_unlabeled is not None:
            store = open_store(d.store_unlabeled, load_3d=False)
            if store.layout_2d != self.store.layout_2d:
                raise SelectionError(f"data.store_unlabeled {d.store_unlabeled!r} has 2-D layout {store.layout_2d}, "
                                     f"the labeled store {self.store.layout_2d}")
            arrays = LiftingArrays.from_store(store, use_confidence=d.use_confidence)
        views = select_sequences(arrays.store, d.subjects_unlabeled, self.train_actions, 1.0, d.downsample,
                                 labeled=False, what="data.subjects_unlabeled")
        if self.cfg.semi.weight_reprojection > 0:
            check_intrinsics(arrays, views, "data.subjects_unlabeled")
        return WindowDataset(arrays, views, self.pad, self.causal_shift, flip=d.flip_augment, with_3d=False)

    # -- loaders -------------------------------------------------------------------------------

    def _rank_world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def epoch_sampler(self) -> EpochPermutation:
        """The order of the training samples, by ``data.sampling.mode`` (see ``sampling.py``)."""
        mode, seed = self.cfg.data.sampling.mode, self.cfg.seed
        if mode == "cycled":
            return CycledActions(self.train_set.sample_actions(), seed,
                                 shuffle_actions=self.cfg.data.sampling.cycle_order == "shuffled")
        if mode == "balanced":
            return BalancedActions(self.train_set.sample_actions(), seed)
        return EpochPermutation(len(self.train_set), seed=seed, shuffle=True)  # mixed; single = mixed over a subset

    def batch_sampler(self) -> ShardedBatchSampler:
        rank, world = self._rank_world()
        return ShardedBatchSampler(self.epoch_sampler(), max(1, self.cfg.data.batch_size // world), rank, world)

    def schedule(self) -> Schedule:
        """The budget and the lr / BatchNorm schedules of this run (needs ``setup("fit")``)."""
        c, d = self.cfg, self.cfg.data
        full = self.train_set
        if self.train_actions != d.actions:  # the whole training set, for the samples/steps lr decay
            full = WindowDataset(self.arrays, select_sequences(self.store, d.subjects_train, d.actions, d.subset,
                                                               d.downsample, labeled=True), self.pad, flip=d.flip_augment)
        unit, amount = (c.budget.unit, c.budget.amount) if c.budget.amount is not None else ("epochs", c.trainer.max_epochs)
        return make_schedule(unit, amount, len(self.train_set), len(full), len(np.unique(self.train_set.sample_actions())),
                             d.batch_size, c.optim.lr, c.optim.lr_decay, c.optim.bn_momentum_start, c.optim.bn_momentum_end)

    def position(self, epoch: int, batch_idx: int) -> int:
        """Training samples consumed (over all ranks) before batch ``batch_idx`` of ``epoch``."""
        sampler = self.batch_sampler()
        sampler.sampler.set_epoch(epoch)
        return epoch * len(self.train_set) + sampler._global_bounds()[batch_idx]

    def steps_for(self, total_samples: int) -> int:
        """Optimizer steps until ``total_samples`` are consumed."""
        sampler, steps, seen, epoch = self.batch_sampler(), 0, 0, 0
        while seen < total_samples:
            sampler.sampler.set_epoch(epoch)
            sizes = np.diff(sampler._global_bounds())
            cumulative = seen + np.cumsum(sizes)
            if cumulative[-1] >= total_samples:
                return steps + int(np.searchsorted(cumulative, total_samples)) + 1
            steps, seen, epoch = steps + len(sizes), int(cumulative[-1]), epoch + 1
        return steps

    def train_dataloader(self) -> DataLoader:
        batches = self.batch_sampler()
        dataset = self.train_set
        if self.unlabeled_set is not None:
            stream = EndlessPermutation(len(self.unlabeled_set), seed=self.cfg.seed + self.cfg.semi.unlabeled_seed_offset)
            batches = SemiSupervisedBatchSampler(batches, stream, warmup_epochs=self.cfg.semi.warmup_epochs)
            dataset = SemiSupervisedWindows(self.train_set, self.unlabeled_set)
        return DataLoader(dataset, batch_sampler=batches, collate_fn=_passthrough,
                          num_workers=self.cfg.data.num_workers, persistent_workers=self.cfg.data.num_workers > 0)

    def _sequence_loader(self) -> DataLoader:
        rank, world = self._rank_world()
        # longest sequences first, dealt round-robin: balanced work per rank
        order = np.argsort(-self.test_set.views.length, kind="stable")
        return DataLoader(self.test_set, batch_size=None, sampler=order[rank::world].tolist(),
                          num_workers=self.cfg.data.num_workers)

    def val_dataloader(self) -> DataLoader:
        return self._sequence_loader()

    def test_dataloader(self) -> DataLoader:
        return self._sequence_loader()

    def predict_dataloader(self) -> DataLoader:
        return self._sequence_loader()
