"""LightningDataModule of the lifter: a store (or the synthetic default) → training windows, whole
test sequences, and the run's :class:`~poseact.lifting.clock.TrainingClock`.

The data module knows no model: it is told the window geometry (a
:class:`~poseact.lifting.windows.Windowing`: context frames, output frames per example, stride) by
whoever built the lifter.
"""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
from torch.utils.data import DataLoader

from poseact.errors import SelectionError
from poseact.lifting.clock import Schedule, TrainingClock, make_schedule
from poseact.lifting.config import LiftingConfig
from poseact.lifting.datasets import (
    LiftingArrays, SemiSupervisedWindows, SequenceDataset, WindowDataset, check_intrinsics, lifting_frame_arrays,
    select_sequences,
)
from poseact.lifting.device_windows import GATHER, DeviceWindows, IndexBatches, gather_batch
from poseact.lifting.windows import Windowing
from poseact.lifting.sampling import (
    BalancedActions, CycledActions, EndlessPermutation, InstantStream, SemiSupervisedBatchSampler,
)
from poseact.run.sharding import EpochPermutation, ShardedBatchSampler, round_robin
from poseact.store import open_store


def _passthrough(batch):
    return batch


class LiftingDataModule(pl.LightningDataModule):
    """Train on windows of the training subjects; evaluate whole sequences of the test subjects.

    Under DDP each rank takes a disjoint shard of every step's samples and of the test sequences
    (the module gathers the metrics across ranks).

    Args:
        cfg: the run's config; ``arrays``: the store's prepared arrays (:func:`load_arrays`);
        window: the lifter's window geometry.
    """

    def __init__(self, cfg: LiftingConfig, arrays: LiftingArrays, window: Windowing) -> None:
        super().__init__()
        self.cfg, self.arrays, self.window = cfg, arrays, window
        self.store = arrays.store
        self.train_set: WindowDataset | None = None
        self.unlabeled_set: WindowDataset | None = None
        self.unlabeled_instants: tuple[np.ndarray, np.ndarray] | None = None  # multi-view term's groups
        self.test_set: SequenceDataset | None = None
        self.sampler: EpochPermutation | None = None
        self.clock: TrainingClock | None = None
        self._device_windows: tuple[DeviceWindows, DeviceWindows | None] | None = None

    def setup(self, stage: str | None = None) -> None:
        d = self.cfg.data
        if stage in (None, "fit") and self.train_set is None:
            views = select_sequences(self.store, d.subjects_train, self.train_actions, d.subset, d.downsample,
                                     labeled=True, what="data.subjects_train")
            self.train_set = WindowDataset(self.arrays, views, self.window, flip=d.flip_augment)
            self.sampler = self._epoch_sampler()
            if self.semi_supervised:
                self.unlabeled_set = self._unlabeled_windows()
        if self.test_set is None or self.test_set.with_3d != (stage != "predict"):
            test_views = select_sequences(self.store, d.subjects_test, self.test_actions, 1.0, d.downsample,
                                          labeled=stage != "predict", what="data.subjects_test")
            self.test_set = SequenceDataset(self.arrays, test_views, self.window, with_3d=stage != "predict")

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
            store = open_store(d.store_unlabeled, arrays=lifting_frame_arrays(d, with_3d=False), mmap=d.mmap)
            if store.layout_2d != self.store.layout_2d:
                raise SelectionError(f"data.store_unlabeled {d.store_unlabeled!r} has 2-D layout {store.layout_2d}, "
                                     f"the labeled store {self.store.layout_2d}")
            arrays = LiftingArrays.from_store(store, use_confidence=d.use_confidence)
        views = select_sequences(arrays.store, d.subjects_unlabeled, self.train_actions, 1.0, d.downsample,
                                 labeled=False, what="data.subjects_unlabeled")
        if self.cfg.semi.weight_reprojection > 0:
            check_intrinsics(arrays, views, "data.subjects_unlabeled")
        windows = WindowDataset(arrays, views, self.window, flip=d.flip_augment, with_3d=False)
        if self.cfg.semi.multiview_weight > 0:
            self.unlabeled_instants = self._instants(windows)
        return windows

    def _instants(self, windows: WindowDataset) -> tuple[np.ndarray, np.ndarray]:
        """The instant of every unlabeled window and which instants several views see (the
        multi-view term's groups, :mod:`~poseact.lifting.multiview`); refused in one line when a
        camera has no orientation or no instant has two views."""
        from poseact.lifting.multiview import check_extrinsics, instants

        store = windows.arrays.store
        check_extrinsics(store, windows.views, "data.subjects_unlabeled")
        ids, multi = instants(store, windows.views, windows.seq, windows.pos)
        if not multi.any():
            raise SelectionError(f"semi.multiview_weight > 0: no instant of data.subjects_unlabeled in store "
                                 f"{store.path!r} is seen by two cameras (clips of one recording share subject and "
                                 f"take '<recording>@<first frame>'); set semi.multiview_weight=0")
        return ids, multi

    # -- order and clock -----------------------------------------------------------------------

    def _epoch_sampler(self) -> EpochPermutation:
        """The order of the training samples, by ``data.sampling.mode`` (see ``sampling.py``)."""
        mode, seed = self.cfg.data.sampling.mode, self.cfg.seed
        if mode == "cycled":
            return CycledActions(self.train_set.sample_actions(), seed,
                                 shuffle_actions=self.cfg.data.sampling.cycle_order == "shuffled")
        if mode == "balanced":
            return BalancedActions(self.train_set.sample_actions(), seed)
        return EpochPermutation(len(self.train_set), seed=seed, shuffle=True)  # mixed; single = mixed over a subset

    def schedule(self) -> Schedule:
        """The budget and the lr / BatchNorm schedules of this run (needs ``setup("fit")``)."""
        c, d = self.cfg, self.cfg.data
        full_samples = len(self.train_set)
        if self.train_actions != d.actions:  # the whole training set, for the samples/steps lr decay
            full_views = select_sequences(self.store, d.subjects_train, d.actions, d.subset, d.downsample, labeled=True)
            examples = len(full_views.samples(self.window.frames_out, self.window.stride)[0])
            full_samples = examples * (2 if d.flip_augment else 1)
        unit, amount = (c.budget.unit, c.budget.amount) if c.budget.amount is not None else ("epochs", c.trainer.max_epochs)
        return make_schedule(unit, amount, len(self.train_set), full_samples,
                             len(np.unique(self.train_set.sample_actions())), self.examples_per_step, c.optim.lr,
                             c.optim.lr_decay, c.optim.bn_momentum_start, c.optim.bn_momentum_end)

    @property
    def examples_per_step(self) -> int:
        """Training examples per optimizer step, over all ranks: ``data.batch_frames`` counts output
        frames, so a seq2seq lifter's step takes ``batch_frames // frames_out`` clips (at least one)."""
        return max(1, self.cfg.data.batch_frames // self.window.frames_out)

    def make_clock(self, world: int) -> TrainingClock:
        """The run's clock for ``world`` processes (built once; needs ``setup("fit")``)."""
        if self.clock is None or self.clock.world != world:
            self.clock = TrainingClock(self.schedule(), self.sampler, max(1, self.examples_per_step // world), world)
        return self.clock

    # -- loaders -------------------------------------------------------------------------------

    def _rank_world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def batch_sampler(self) -> ShardedBatchSampler:
        rank, world = self._rank_world()
        return ShardedBatchSampler.global_batch(self.sampler, self.examples_per_step, rank, world)

    def gathers_on_device(self) -> bool:
        """``data.gather``: host, device, or auto (device when training on an accelerator)."""
        mode = self.cfg.data.gather
        if self.cfg.semi.multiview_weight > 0 and self.cfg.data.subjects_unlabeled:
            return False  # the multi-view groups and rotations are looked up on the host (gather=device refused)
        if mode != "auto":
            return mode == "device"
        trainer = self.trainer
        return trainer is not None and trainer.strategy.root_device.type != "cpu"

    def train_dataloader(self) -> DataLoader:
        batches = self.batch_sampler()
        dataset = self.train_set
        if self.unlabeled_set is not None:
            seed = self.cfg.seed + self.cfg.semi.unlabeled_seed_offset
            if self.unlabeled_instants is not None:  # whole instants: every view of a moment in one batch
                stream = InstantStream(self.unlabeled_instants[0], seed)
            else:
                stream = EndlessPermutation(len(self.unlabeled_set), seed=seed)
            batches = SemiSupervisedBatchSampler(batches, stream, warmup_epochs=self.cfg.semi.warmup_epochs)
            dataset = SemiSupervisedWindows(self.train_set, self.unlabeled_set, self.unlabeled_instants)
        if self.gathers_on_device():  # the loader deals out indices; on_after_batch_transfer gathers
            dataset = IndexBatches(len(self.train_set))
        return DataLoader(dataset, batch_sampler=batches, collate_fn=_passthrough,
                          num_workers=self.cfg.data.num_workers, persistent_workers=self.cfg.data.num_workers > 0)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Index batches (device path) become training batches here, on the training device."""
        if not (isinstance(batch, dict) and batch.get(GATHER)):
            return batch
        device = batch["index"].device
        if self._device_windows is None or self._device_windows[0].device != device:
            unlabeled = DeviceWindows(self.unlabeled_set, device) if self.unlabeled_set is not None else None
            self._device_windows = (DeviceWindows(self.train_set, device), unlabeled)
        return gather_batch(batch, *self._device_windows)

    def _sequence_loader(self) -> DataLoader:
        rank, world = self._rank_world()
        # longest sequences first, dealt round-robin: balanced work per rank
        order = np.argsort(-self.test_set.views.length, kind="stable")
        return DataLoader(self.test_set, batch_size=None, sampler=round_robin(order, rank, world),
                          num_workers=self.cfg.data.num_workers)

    def val_dataloader(self) -> DataLoader:
        return self._sequence_loader()

    def test_dataloader(self) -> DataLoader:
        return self._sequence_loader()

    def predict_dataloader(self) -> DataLoader:
        return self._sequence_loader()
