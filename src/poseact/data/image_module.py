"""LightningDataModule of image clips for the multi-task model: a store with rendered crops
(``frames/images``, the synthetic default) or with image files (``frames/image_ref``, written by the
``data_prep/`` converters of MPII, Penn Action, NTU RGB+D and Human3.6M frames; decoded lazily and
cropped to ``model.input_size``) → training pairs ``{"pose": pseudo-clips, "action": clips}``, centred
test clips and sliding test clips (video-level action accuracy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from poseact.data.clips import ClipDataset
from poseact.data.store import PoseStore, StoreError, open_store


def resolve_image_store(cfg) -> Path:
    """``cfg.data.store`` or the cached rendering of the synthetic motion (rendered on first use)."""
    d = cfg.data
    if d.store is not None:
        return Path(d.store)
    from poseact.data.render import RenderConfig, rendered_store
    from poseact.data.synthetic import SyntheticConfig

    s = d.synthetic
    syn = SyntheticConfig(subjects=list(s.subjects), takes_per_action=s.takes_per_action,
                          seconds_per_take=s.seconds_per_take, take_length_spread=s.take_length_spread, seed=s.seed)
    return rendered_store(RenderConfig(syn, d.render_size, d.render_frame_step, list(d.render_cameras)), s.cache_dir)


class _Pairs(Dataset):
    """Item i = {"pose": pseudo-clip i, "action": clip i} (one alternating training step's worth)."""

    def __init__(self, pose: ClipDataset, action: ClipDataset) -> None:
        self.pose, self.action = pose, action

    def __len__(self) -> int:
        return len(self.pose)

    def __getitem__(self, i):
        return {"pose": self.pose[i], "action": self.action[i]}


class ImageClipDataModule(pl.LightningDataModule):
    def __init__(self, cfg) -> None:
        super().__init__()
        self.cfg = cfg
        self.store: PoseStore | None = None

    def load(self) -> PoseStore:
        if self.store is None:
            self.store = open_store(resolve_image_store(self.cfg))
        return self.store

    def _rows(self, subjects: list[str], what: str) -> np.ndarray:
        store = self.load()
        rows = np.flatnonzero(np.isin(store.clips.subject, subjects))
        if not len(rows):
            raise StoreError(f"store {store.path!r}: no clips of data.{what} {subjects}; "
                             f"store subjects: {sorted(set(store.clips.subject))}")
        return rows

    def train_dataloader(self):
        d = self.cfg.data
        rows = self._rows(d.subjects_train, "subjects_train")
        n = d.steps_per_epoch * d.batch_size
        common = dict(t=d.clip_length, subsample=list(d.subsample_train), augment=d.augment, length=n,
                      size=self.cfg.model.input_size)
        pairs = _Pairs(ClipDataset(self.store, rows, pseudo=True, seed=self.cfg.seed, **common),
                       ClipDataset(self.store, rows, seed=self.cfg.seed + 1, **common))
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        pairs.pose.epoch = pairs.action.epoch = epoch
        return DataLoader(pairs, batch_size=d.batch_size, shuffle=False, num_workers=d.num_workers,
                          generator=torch.Generator().manual_seed(self.cfg.seed))

    def _centred(self):
        d = self.cfg.data
        ds = ClipDataset(self.load(), self._rows(d.subjects_test, "subjects_test"), d.clip_length, [d.subsample_test],
                         size=self.cfg.model.input_size)
        return DataLoader(ds, batch_size=d.batch_size, num_workers=d.num_workers)

    def val_dataloader(self):
        return self._centred()

    def test_dataloader(self):
        d = self.cfg.data
        multi = ClipDataset(self.load(), self._rows(d.subjects_test, "subjects_test"), d.clip_length,
                            [d.subsample_test], multi_clip=True, size=self.cfg.model.input_size)
        return [self._centred(), DataLoader(multi, batch_size=d.batch_size, num_workers=d.num_workers)]
