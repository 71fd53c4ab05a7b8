"""Shared fixtures: tiny stores written for real, W&B off unless a test turns it on."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")

REPO = Path(__file__).resolve().parents[1]


def build_projected_store(subjects=("S1", "S9"), actions=("Walking", "Sitting"), frames=60, seed=0,
                          unlabeled=()):
    """A small store whose 2-D is the exact projection of simple 3-D motion (4 H36M cameras)."""
    from poseact.store.builder import StoreBuilder
    from poseact.store import CameraTable
    from poseact.geometry import h36m_cameras, image_coordinates, project_to_2d, world_to_camera

    rng = np.random.default_rng(seed)
    cams = h36m_cameras()
    rows = [(s, c) for s in (*subjects, *unlabeled) for c in cams[s]]
    table = CameraTable.from_calibrations(rows)
    builder = StoreBuilder(table, "h36m17", "h36m17", 50, "test store")
    body = rng.normal(size=(17, 3)) * 0.25 + np.array([0, 0, 1.0])
    t = np.arange(frames)[:, None, None] / 50
    for s in (*subjects, *unlabeled):
        for a_i, a in enumerate(actions):
            world = body[None] + 0.15 * np.sin(2 * np.pi * (0.5 + a_i) * t + np.arange(17)[None, :, None])
            for c_i, c in enumerate(cams[s]):
                ext = c if c.has_extrinsics else cams["S1"][c_i]
                pose = world_to_camera(world.astype(np.float32), np.array(ext.orientation, np.float32),
                                       np.array(ext.translation, np.float32))
                k = np.repeat(c.intrinsics_vector()[None], frames, 0)
                kp = image_coordinates(project_to_2d(pose, k), c.res_w, c.res_h)
                builder.add_clip(s, a, f"{a} 1", table.find(s, c.id), kp,
                                 pose3d=None if s in unlabeled else pose)
    return builder.build()


@pytest.fixture
def projected_store(tmp_path):
    from poseact.store import write_store

    return write_store(tmp_path / "projected.h5", build_projected_store())


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory) -> Path:
    """A small synthetic store (3 subjects, 2-second takes), generated once per session."""
    from poseact.synthetic import SyntheticConfig, synthetic_store

    cfg = SyntheticConfig(subjects=["S1", "S5", "S9"], takes_per_action=1, seconds_per_take=3.0, seed=0)
    return synthetic_store(cfg, tmp_path_factory.mktemp("synthetic"))


@pytest.fixture(scope="session")
def session_store(tmp_path_factory) -> Path:
    """A projected store shared by the tests of one session (read it, never change it)."""
    from poseact.store import write_store

    return write_store(tmp_path_factory.mktemp("session_store") / "projected.h5", build_projected_store())


def lifter_run_args(store, out, *extra) -> list[str]:
    """``poseact fit`` arguments of a seconds-long lifter run on ``store`` (8 channels, one epoch)."""
    return [str(REPO / "configs/experiment/demo.yaml"), f"data.store={store}", f"output_dir={out}",
            "data.subjects_train=[S1]", "data.subjects_test=[S9]", "model.channels=8", "data.batch_frames=64",
            "trainer.max_epochs=1", "logger.wandb=false", "trainer.enable_progress_bar=false", *extra]


@pytest.fixture(scope="session")
def lifter_run(tmp_path_factory, session_store) -> Path:
    """The folder of a finished tiny lifter run (``checkpoints/last.ckpt``, ``config.yaml``, results)."""
    from poseact.cli import main

    out = tmp_path_factory.mktemp("lifter_run") / "run"
    assert main(["fit", *lifter_run_args(session_store, out)]) == 0
    return out


@pytest.fixture(scope="session")
def multitask_cache(tmp_path_factory) -> Path:
    """Where the rendered synthetic images of the multi-task tests are cached (once per session)."""
    return tmp_path_factory.mktemp("multitask_cache")


@pytest.fixture(scope="session")
def multitask_run(tmp_path_factory, multitask_cache) -> Path:
    """The folder of a finished 4-step multi-task run (the tiny SPNet on rendered synthetic images)."""
    from poseact.cli import main

    out = tmp_path_factory.mktemp("multitask_run") / "run"
    assert main(["fit", str(REPO / "configs/experiment/multitask_tiny.yaml"), f"output_dir={out}",
                 f"data.synthetic.cache_dir={multitask_cache}"]) == 0
    return out
