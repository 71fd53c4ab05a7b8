"""Mixing datasets for the multi-task model (deephar: pose steps on MPII + Human3.6M, action steps on
Penn Action): ``data.pose_sources`` with weights, ``data.action_source``, and their checks.

The stores are real conversions: MPII in its release format converted with ``--layout h36m17``
(2-D only), the rendered synthetic images (3-D, h36m17) and Penn Action converted with
``--layout h36m17`` (15 classes, the action source)."""

from __future__ import annotations

import copy
import re
import warnings

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from poseact.run.config import ConfigError, load_config
from poseact.convert.penn import PENN_ACTIONS
from poseact.store import StoreError

from conftest import REPO
from helpers.image_datasets import write_mpii, write_penn

TINY = REPO / "configs" / "experiment" / "multitask_tiny.yaml"


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    from poseact.convert import convert_mpii, convert_penn_action
    from poseact.synthetic.render import RenderConfig, rendered_store
    from poseact.synthetic import SyntheticConfig

    root = tmp_path_factory.mktemp("mixing")
    mpii, penn = write_mpii(root), write_penn(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fixture's counted skips (a test image, a person without joints)
        mpii_h36m = convert_mpii(mpii["mat"], root / "mpii_h36m17.h5", images=mpii["root"] / "images",
                                 layout="h36m17")
        mpii16 = convert_mpii(mpii["mat"], root / "mpii16.h5", images=mpii["root"] / "images")
    rendered = rendered_store(RenderConfig(SyntheticConfig(subjects=["S1"], actions=["Walking", "Sitting"],
                                                           takes_per_action=1, seconds_per_take=2.0),
                                           size=64, frame_step=5, cameras=[0]), root / "render")
    return {"mpii": mpii_h36m, "mpii16": mpii16, "rendered": rendered,
            "penn": convert_penn_action(penn["root"], root / "penn_h36m17.h5", layout="h36m17")}


def mixed_cfg(stores, *overrides: str, mpii_weight: float = 1.0, rendered_weight: float = 3.0):
    """The tiny model (17 joints, 3-D, 15 Penn classes), validated on the rendered store; pose steps on
    MPII (2-D) + rendered (3-D), action steps on Penn."""
    return load_config(TINY, [
        f"data.store={stores['rendered']}", "data.subjects_train=[S1]", "data.subjects_test=[S1]",
        "data.clip_length=4", "data.batch_clips=2", "data.steps_per_epoch=8", "model.num_actions=[15]",
        f"data.pose_sources=[{{store: '{stores['mpii']}', subjects: [train], weight: {mpii_weight}}}, "
        f"{{store: '{stores['rendered']}', subjects: [S1], weight: {rendered_weight}}}]",
        f"data.action_source={{store: '{stores['penn']}', subjects: [train]}}", *overrides])


def test_pose_items_come_from_both_stores_by_weight(stores):
    from poseact.multitask.datamodule import ImageClipDataModule, source_counts

    assert list(source_counts([1.0, 3.0], 16)) == [4, 12] and list(source_counts([1.0, 1.0, 1.0], 16)) == [6, 5, 5]
    cfg = mixed_cfg(stores)
    dm = ImageClipDataModule(cfg)
    sources = []
    for epoch in (0, 1):
        pairs = dm.train_dataloader().dataset
        pairs.pose.epoch = pairs.action.epoch = epoch
        items = [pairs[i] for i in range(len(pairs))]
        src = np.array([it["pose"]["source"].item() for it in items])
        assert (np.bincount(src, minlength=2) == [4, 12]).all(), src  # 1 : 3 of 16 pseudo-clips
        sources.append(src)
        for it in items:
            pose, p3 = it["pose"]["pose"], it["pose"]["pose3d"]
            assert pose.shape == (4, 17, 3)
            if it["pose"]["source"] == 0:  # MPII, 2-D only: no depth target, some 2-D targets
                assert torch.isnan(pose[..., 2]).all() and torch.isnan(p3).all()
                assert torch.isfinite(pose[..., :2]).any()
            else:  # rendered: 3-D everywhere
                assert torch.isfinite(p3).all() and torch.isfinite(pose[..., 2]).any()
            # action clips: Penn's training video (tennis_serve), 17 joints
            assert it["action"]["action"].item() == PENN_ACTIONS.index("tennis_serve")
            assert it["action"]["pose"].shape == (4, 17, 3)
    assert (sources[0] != sources[1]).any()  # a new interleaving each epoch ...
    again = ImageClipDataModule(mixed_cfg(stores)).train_dataloader().dataset
    assert np.array_equal(np.array([again[i]["pose"]["source"].item() for i in range(16)]), sources[0])  # ... per seed
    other = ImageClipDataModule(mixed_cfg(stores, "seed=5")).train_dataloader().dataset
    assert not np.array_equal(other.pose.source, sources[0])


def test_one_pose_source_reproduces_the_single_store_pseudo_clips(stores):
    from poseact.multitask.datamodule import ImageClipDataModule

    plain = load_config(TINY, [f"data.store={stores['rendered']}", "data.subjects_train=[S1]",
                               "data.subjects_test=[S1]", "data.clip_length=4", "data.steps_per_epoch=2"])
    one = copy.deepcopy(plain)
    one.data.pose_sources = load_config(TINY, [
        f"data.pose_sources=[{{store: '{stores['rendered']}', subjects: [S1], weight: 2.5}}]"]).data.pose_sources
    a = ImageClipDataModule(plain).train_dataloader().dataset.pose
    b = ImageClipDataModule(one).train_dataloader().dataset.pose
    for i in range(3):
        assert "source" not in a[i] and b[i]["source"].item() == 0
        assert torch.equal(a[i]["frames"], b[i]["frames"])
        assert np.array_equal(a[i]["pose"].numpy(), b[i]["pose"].numpy(), equal_nan=True)


class Record(pl.Callback):
    """The pose batch's sources and the logged losses after every training batch."""

    def __init__(self):
        self.sources, self.losses = [], []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.sources += batch["pose"]["source"].tolist()
        m = trainer.callback_metrics
        self.losses.append((float(m["train/pose_loss"]), float(m["train/action_loss"])))


def test_mixed_training_steps_have_finite_losses(stores, tmp_path):
    """Real alternating steps of the tiny SPNet on MPII (2-D) + rendered (3-D) pose pseudo-clips and
    Penn action clips: every loss is finite and the weights move."""
    from poseact.run.folder import RunFolder
    from poseact.run.registry import family
    from poseact.run.trainer import build_trainer

    cfg = mixed_cfg(stores, "data.steps_per_epoch=3", "trainer.limit_val_batches=1",
                    "trainer.log_every_n_steps=1",
                    mpii_weight=1.0, rendered_weight=1.0)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pl.seed_everything(cfg.seed, verbose=False)
        fam = family("multitask")
        task, dm = fam.build(cfg, "fit")
        start = copy.deepcopy(task.model.state_dict())
        record = Record()
        trainer = build_trainer(cfg, RunFolder(tmp_path / "run"), None, callbacks=[record],
                                options=fam.trainer_options(cfg, dm, 1))
        trainer.fit(task, datamodule=dm)
    finally:
        torch.set_num_threads(before)
    assert trainer.global_step == 2 * 3  # a pose and an action step per batch
    assert sorted(record.sources) == [0, 0, 0, 1, 1, 1]  # both stores reached the pose steps
    assert len(record.losses) == 3 and np.isfinite(record.losses).all(), record.losses
    moved = [k for k, v in task.model.state_dict().items() if v.is_floating_point() and not torch.equal(v, start[k])]
    assert any("action" in k for k in moved) and any("action" not in k for k in moved)


def _check(cfg, expect: str, store: str):
    """``training_sources`` (what ``poseact fit`` runs before training) raises naming the store and ``expect``."""
    from poseact.multitask.datamodule import ImageClipDataModule

    with pytest.raises(StoreError, match=re.escape(f"(store {str(store)!r})") + ".*" + expect):
        ImageClipDataModule(cfg).training_sources()


def test_source_errors_name_the_store(stores, tmp_path):
    mpii16 = f"{{store: '{stores['mpii16']}', subjects: [train], weight: 1}}"
    _check(mixed_cfg(stores, f"data.pose_sources=[{mpii16}]"), "frames/keypoints has 16 joints", stores["mpii16"])
    _check(mixed_cfg(stores, f"data.action_source={{store: '{stores['mpii']}', subjects: [train]}}"),
           "no action labels", stores["mpii"])
    _check(mixed_cfg(stores, f"data.action_source={{store: '{stores['rendered']}', subjects: [S1]}}"),
           re.escape("2 action classes, model.num_actions[0] is 15"), stores["rendered"])
    _check(mixed_cfg(stores, f"data.pose_sources=[{{store: '{stores['rendered']}', subjects: [S1, S7]}}]"),
           re.escape("subjects ['S7'] not in the store"), stores["rendered"])
    _check(mixed_cfg(stores, f"data.action_source={{store: '{stores['penn']}', subjects: [val]}}"),
           re.escape("subjects ['val'] not in the store"), stores["penn"])
    with pytest.raises(ConfigError, match=re.escape(f"data.pose_sources[1].weight must be positive, got 0.0 "
                                                    f"(store {str(stores['rendered'])!r})")):
        mixed_cfg(stores, rendered_weight=0)
    # `poseact fit` stops on them before a trainer exists
    from poseact.run.commands import fit

    with pytest.raises(StoreError, match=re.escape(str(stores["mpii16"]))):
        fit(mixed_cfg(stores, f"data.pose_sources=[{mpii16}]", f"output_dir={tmp_path / 'run'}"))
    assert not (tmp_path / "run" / "checkpoints").exists()
