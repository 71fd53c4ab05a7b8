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
