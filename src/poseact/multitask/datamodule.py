"""LightningDataModule of image clips for the multi-task model: a store with rendered crops
(``frames/images``, the synthetic default) or with image files (``frames/image_ref``, written by the
``data_prep/`` converters of MPII, Penn Action, NTU RGB+D and Human3.6M frames; decoded lazily and
cropped to ``model.input_size``) → training pairs ``{"pose": pseudo-clips, "action": clips}``, centred
test clips and sliding test clips (video-level action accuracy).

Mixing datasets (deephar trains pose steps on MPII + Human3.6M, action steps on Penn or NTU):
``data.pose_sources`` lists stores, subjects and weights for the pose pseudo-clips and
``data.action_source`` the store of the action clips; unset, both come from ``data.store`` with
``data.subjects_train``. Validation and test always use ``data.store`` with ``data.subjects_test``.
The sources are checked against the model before training (:meth:`ImageClipDataModule.training_sources`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from poseact.multitask.clips import ClipDataset
from poseact.run.sharding import EpochPermutation, ShardedBatchSampler, round_robin
from poseact.store import PoseStore, StoreError, open_store


def resolve_image_store(cfg) -> Path:
    """``cfg.data.store`` or the cached rendering of the synthetic motion (rendered on first use)."""
    d = cfg.data
    if d.store is not None:
        return Path(d.store)
    from poseact.synthetic import RenderConfig, rendered_store

    return rendered_store(RenderConfig(d.synthetic, d.render_size, d.render_frame_step, list(d.render_cameras)))


class _Pairs(Dataset):
    """Item i = {"pose": pseudo-clip i, "action": clip i} (one alternating training step's worth)."""

    def __init__(self, pose: ClipDataset, action: ClipDataset) -> None:
        self.pose, self.action = pose, action

    def __len__(self) -> int:
        return len(self.pose)

    def __getitem__(self, i):
        return {"pose": self.pose[i], "action": self.action[i]}


@dataclass
class TrainingSource:
    """Clip rows of one store used by the pose or the action steps."""

    store: PoseStore
    rows: np.ndarray
    weight: float = 1.0


def source_counts(weights: list[float], n: int) -> np.ndarray:
    """Items per source out of ``n``, proportional to ``weights`` (largest remainder: sums to ``n``)."""
    w = np.asarray(weights, dtype=np.float64)
    exact = n * w / w.sum()
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]] += 1
    return counts


class MixedPseudoClips(Dataset):
    """Pose pseudo-clips from several sources: each epoch source k supplies all ``len(parts[k])`` of
    its items (sized by :func:`source_counts`), interleaved in an order shuffled per (seed, epoch);
    item i is the j-th pseudo-clip of its source's dataset, plus ``source ()`` int64 = k.
    Deterministic per seed and epoch, like :class:`~poseact.multitask.clips.ClipDataset`."""

    def __init__(self, parts: list[ClipDataset], seed: int = 0) -> None:
        self.parts, self.seed = parts, seed
        self.counts = np.array([len(p) for p in parts], dtype=np.int64)
        self.length = int(self.counts.sum())
        self.epoch = 0

    @property
    def epoch(self) -> int:
        return self._epoch

    @epoch.setter
    def epoch(self, epoch: int) -> None:
        self._epoch = epoch
        for part in self.parts:
            part.epoch = epoch
        order = np.repeat(np.arange(len(self.parts)), self.counts)
        self.source = np.random.default_rng([self.seed, epoch, len(self.parts)]).permutation(order)
        self.local = np.zeros(self.length, dtype=np.int64)  # index of item i within its source
        for k in range(len(self.parts)):
            hits = self.source == k
            self.local[hits] = np.arange(hits.sum())

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        k = int(self.source[i])
        return {**self.parts[k][int(self.local[i])], "source": torch.tensor(k, dtype=torch.int64)}


class ImageClipDataModule(pl.LightningDataModule):
    def __init__(self, cfg) -> None:
        super().__init__()
        self.cfg = cfg
        self.store: PoseStore | None = None
        self._stores: dict[str, PoseStore] = {}
        self._sources: tuple[list[TrainingSource], TrainingSource] | None = None

    def _open(self, path: str | Path) -> PoseStore:
        """One in-memory copy per store file (``data.store`` and the sources may name the same one)."""
        key = str(Path(path).resolve())
        if key not in self._stores:
            self._stores[key] = open_store(path)
        return self._stores[key]

    def load(self) -> PoseStore:
        """The evaluation store ``data.store`` (also the training store when no sources are set)."""
        if self.store is None:
            self.store = self._open(resolve_image_store(self.cfg))
        return self.store

    def _source(self, path: str, subjects: list[str], what: str, weight: float = 1.0,
                action: bool = False) -> TrainingSource:
        """Open and check one configured source; errors name the key, the store and the problem."""
        store = self._open(path)
        where = f"{what} (store {str(path)!r})"
        model = self.cfg.model
        joints = {"frames/keypoints": store.keypoints.shape[1]}
        if store.pose3d is not None:
            joints["frames/pose3d"] = store.pose3d.shape[1]
        for name, j in joints.items():
            if j != model.num_joints:
                raise StoreError(f"{where}: {name} has {j} joints (layout {store.layout_2d}), model.num_joints is "
                                 f"{model.num_joints}; convert the dataset with --layout h36m17 (17) or mpii16 (16)")
        present = set(store.clips.subject.tolist())
        missing = [s for s in subjects if s not in present]
        if missing:
            raise StoreError(f"{where}: subjects {missing} not in the store; store subjects: {sorted(present)}")
        rows = np.flatnonzero(np.isin(store.clips.subject, subjects))
        if action:
            if not store.actions or not (store.clips.action[rows] >= 0).any():
                raise StoreError(f"{where}: no action labels in the clips of subjects {list(subjects)} "
                                 f"(store actions: {len(store.actions)}); an action source needs labelled clips")
            if model.num_actions and len(store.actions) != model.num_actions[0]:
                raise StoreError(f"{where}: {len(store.actions)} action classes, model.num_actions[0] is "
                                 f"{model.num_actions[0]}")
        return TrainingSource(store, rows, float(weight))

    def training_sources(self) -> tuple[list[TrainingSource], TrainingSource]:
        """``(pose sources, action source)``, opened and checked once: joint counts against
        ``model.num_joints``, subjects present in their store, the action source's labels and class
        count against ``model.num_actions[0]``. Unset sources are ``data.store`` with
        ``data.subjects_train`` (unchecked, as before)."""
        if self._sources is None:
            d = self.cfg.data
            default = None
            if not d.pose_sources or d.action_source is None:
                default = TrainingSource(self.load(), self._rows(d.subjects_train, "subjects_train"))
            pose = [self._source(s.store, s.subjects, f"data.pose_sources[{i}]", s.weight)
                    for i, s in enumerate(d.pose_sources)] or [default]
            action = (self._source(d.action_source.store, d.action_source.subjects, "data.action_source", action=True)
                      if d.action_source is not None else default)
            self._sources = (pose, action)
        return self._sources

    def _rows(self, subjects: list[str], what: str) -> np.ndarray:
        store = self.load()
        rows = np.flatnonzero(np.isin(store.clips.subject, subjects))
        if not len(rows):
            raise StoreError(f"store {store.path!r}: no clips of data.{what} {subjects}; "
                             f"store subjects: {sorted(set(store.clips.subject))}")
        return rows

    def train_dataloader(self):
        d = self.cfg.data
        pose, action = self.training_sources()
        n = d.steps_per_epoch * d.batch_clips
        common = dict(t=d.clip_length, subsample=list(d.subsample_train), augment=d.augment,
                      size=self.cfg.model.input_size)
        if d.pose_sources:  # source 0 keeps the seed of the single-store pseudo-clips, the others their own
            counts = source_counts([s.weight for s in pose], n)
            parts = [ClipDataset(s.store, s.rows, pseudo=True, seed=self.cfg.seed + (k + 1 if k else 0), length=int(c),
                                 **common) for k, (s, c) in enumerate(zip(pose, counts))]
            pose_ds = MixedPseudoClips(parts, seed=self.cfg.seed)
        else:
            pose_ds = ClipDataset(pose[0].store, pose[0].rows, pseudo=True, seed=self.cfg.seed, length=n, **common)
        pairs = _Pairs(pose_ds, ClipDataset(action.store, action.rows, seed=self.cfg.seed + 1, length=n, **common))
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        pairs.pose.epoch = pairs.action.epoch = epoch
        rank, world = self._rank_world()
        steps = ShardedBatchSampler.global_batch(EpochPermutation(len(pairs), shuffle=False), d.batch_clips, rank, world,
                                                 min_per_rank=1)
        return DataLoader(pairs, batch_sampler=steps, num_workers=d.num_workers,
                          generator=torch.Generator().manual_seed(self.cfg.seed))

    def _rank_world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _sharded(self, ds: ClipDataset) -> DataLoader:
        """Evaluation clips: each DDP rank a disjoint share (the module gathers the totals)."""
        rank, world = self._rank_world()
        return DataLoader(ds, batch_size=self.cfg.data.batch_clips, num_workers=self.cfg.data.num_workers,
                          sampler=round_robin(np.arange(len(ds)), rank, world))

    def _centred(self):
        d = self.cfg.data
        ds = ClipDataset(self.load(), self._rows(d.subjects_test, "subjects_test"), d.clip_length, [d.subsample_test],
                         size=self.cfg.model.input_size)
        return self._sharded(ds)

    def val_dataloader(self):
        return self._centred()

    def test_dataloader(self):
        d = self.cfg.data
        multi = ClipDataset(self.load(), self._rows(d.subjects_test, "subjects_test"), d.clip_length,
                            [d.subsample_test], multi_clip=True, size=self.cfg.model.input_size)
        return [self._centred(), self._sharded(multi)]
