"""Lifting uprighted: a clip seen by a rolled camera is lifted as the unrolled camera would see it
and turned back, so the lifter's answer does not depend on the camera's roll."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from poseact.lifting.inference import LoadedLifter, _rotate_xy, body_roll, lift
from poseact.lifting.models import TemporalLifter

W, H = 1080, 1920  # a portrait phone frame, pixels


def _standing_clip(frames: int = 12) -> np.ndarray:
    """(T, 17, 2) pixels of an upright H36M-17 body in the middle of the frame, swaying a little."""
    rng = np.random.default_rng(0)
    base = np.array([[0, 0], [-60, 0], [-60, 220], [-60, 440], [60, 0], [60, 220], [60, 440], [0, -120],
                     [0, -240], [0, -290], [0, -340], [90, -240], [130, -120], [150, 0], [-90, -240],
                     [-130, -120], [-150, 0]], np.float64)
    clip = base[None] + rng.normal(0, 3, (frames, 17, 2)) + np.array([W / 2, H / 2])
    return clip.astype(np.float32)


@pytest.mark.parametrize("degrees", [0.0, 25.0, -40.0, 170.0])
def test_body_roll_recovers_a_camera_roll(degrees):
    clip = _standing_clip()
    rolled = _rotate_xy(clip, np.deg2rad(degrees), (W / 2, H / 2))
    assert abs(np.rad2deg(body_roll(rolled, "h36m17")) - degrees) < 1.0


def test_upright_lift_does_not_depend_on_the_cameras_roll():
    torch.manual_seed(0)
    model = TemporalLifter(17, 2, 17, [3, 3], channels=16).eval()
    lifter = LoadedLifter(model, None, "h36m17", "h36m17", "test")
    clip = _standing_clip()
    conf = np.ones(clip.shape[:2], np.float32)
    upright_pose, _ = lift(lifter, clip, conf, W, H, tta=False, upright=True)
    roll = np.deg2rad(35.0)
    rolled = _rotate_xy(clip, roll, (W / 2, H / 2))  # the same body, the camera rolled by -35°
    seen, _ = lift(lifter, rolled, conf, W, H, tta=False, upright=False)
    turned, _ = lift(lifter, rolled, conf, W, H, tta=False, upright=True)
    expected = _rotate_xy(upright_pose, roll)  # the upright answer, in the rolled camera's axes
    assert np.abs(turned - expected).max() < 2e-3  # metres: the roll estimate's own rounding
    assert np.abs(seen - expected).max() > 10 * np.abs(turned - expected).max()  # as seen: another answer
    np.testing.assert_allclose(np.linalg.norm(turned, axis=-1), np.linalg.norm(upright_pose, axis=-1), atol=2e-3)


def test_a_layout_without_hips_or_shoulders_is_lifted_as_seen():
    assert body_roll(np.zeros((3, 15, 2), np.float32), "humaneva15") == 0.0  # all joints at one point
