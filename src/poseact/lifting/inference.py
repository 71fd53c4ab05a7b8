"""A lifter for inference (no Lightning): load a checkpoint, lift one clip of pixel keypoints.

The checkpoint is read by :func:`~poseact.lifting.checkpoint.read_lifter_checkpoint` (poseact
``.ckpt`` or VideoPose3D ``.bin``). The 2-D layout the model expects comes from a ``.ckpt``'s
hyper-parameters (``input_layout`` must then agree); a ``.bin`` does not say, so it is
``input_layout``, else read from the file name (``coco`` in it → ``coco17``, as VideoPose3D's
``pretrained_h36m_detectron_coco.bin``), else the first known layout with that many joints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from poseact.errors import CheckpointError
from poseact.geometry import normalize_screen_coordinates
from poseact.lifting.checkpoint import read_lifter_checkpoint
from poseact.lifting.tta import predict_sequence
from poseact.lifting.windows import Windowing, pad_sequence
from poseact.skeleton import SKELETONS, get_skeleton

LAYOUT_3D_BY_JOINTS = {17: "h36m17", 15: "humaneva15"}


@dataclass
class LoadedLifter:
    """An eval-mode pose model (and trajectory model, if any) with the layouts it speaks."""

    model: nn.Module
    trajectory: nn.Module | None
    layout_2d: str
    layout_3d: str
    source: str

    @property
    def in_features(self) -> int:
        return self.model.in_features


def _bin_input_layout(path: Path, num_joints: int, where: str) -> str:
    if num_joints == 17:
        return "coco17" if "coco" in path.name.lower() else "h36m17"
    matches = [n for n, s in SKELETONS.items() if s.num_joints == num_joints]
    if not matches:
        raise CheckpointError(f"{where}: takes {num_joints} joints, no known layout has that many")
    return matches[0]


def load_lifter(path: str | os.PathLike, input_layout: str | None = None, causal: bool | None = None,
                bin_layout: str | None = None) -> LoadedLifter:
    """Read ``path`` → :class:`LoadedLifter`; errors name the file. ``causal`` and ``bin_layout`` (the
    2-D layout, when ``input_layout`` is not given) are for ``.bin`` files, which record neither
    (a poseact checkpoint says itself)."""
    ckpt = read_lifter_checkpoint(path, causal=causal)
    where = ckpt.where
    if ckpt.format == "poseact":
        layout_2d = ckpt.layout_2d or input_layout or "h36m17"
        if input_layout is not None and input_layout != layout_2d:
            raise CheckpointError(f"{where}: was trained on {layout_2d} input, not {input_layout}")
        layout_3d = ckpt.layout_3d or LAYOUT_3D_BY_JOINTS.get(ckpt.num_joints_out, "h36m17")
    else:
        layout_2d = input_layout or bin_layout or _bin_input_layout(ckpt.path, ckpt.num_joints_in, where)
        layout_3d = LAYOUT_3D_BY_JOINTS.get(ckpt.num_joints_out)
        if layout_3d is None:
            raise CheckpointError(f"{where}: predicts {ckpt.num_joints_out} joints; known 3-D layouts: "
                                  f"{LAYOUT_3D_BY_JOINTS}")
    if get_skeleton(layout_2d).num_joints != ckpt.num_joints_in:
        raise CheckpointError(f"{where}: takes {ckpt.num_joints_in} joints per frame, but input layout "
                              f"{layout_2d!r} has {get_skeleton(layout_2d).num_joints}")
    pose, trajectory = ckpt.build()
    return LoadedLifter(pose, trajectory, layout_2d, layout_3d, str(ckpt.path))


def body_roll(keypoints: np.ndarray, layout: str) -> float:
    """The clip's body tilt in the image, radians: the median angle of the mid-hips → mid-shoulders
    axis from image-up (positive: the shoulders lean towards +x), over frames where the four joints
    are finite. 0 when the layout lacks hips or shoulders, or no frame has them.
    ``keypoints (T, J, 2)`` pixels in ``layout``."""
    names = get_skeleton(layout).joint_names
    need = ("left_hip", "right_hip", "left_shoulder", "right_shoulder")
    if not all(n in names for n in need):
        return 0.0
    lh, rh, ls, rs = (keypoints[:, names.index(n)] for n in need)
    axis = (ls + rs) / 2 - (lh + rh) / 2  # (T, 2) pixels, y down
    ok = np.isfinite(axis).all(-1) & (np.linalg.norm(axis, axis=-1) > 0)
    if not ok.any():
        return 0.0
    angles = np.arctan2(axis[ok, 0], -axis[ok, 1])
    mean = np.arctan2(np.sin(angles).mean(), np.cos(angles).mean())  # circular: no wrap at ±180°
    return float(mean + np.median(np.angle(np.exp(1j * (angles - mean)))))


def _rotate_xy(points: np.ndarray, angle: float, centre: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """``points (..., >=2)`` with their first two coordinates (x right, y down) turned by ``angle``
    radians about ``centre`` (positive: +x towards +y, i.e. clockwise on screen)."""
    c, s = np.cos(angle), np.sin(angle)
    out = points.copy()
    x, y = points[..., 0] - centre[0], points[..., 1] - centre[1]
    out[..., 0] = c * x - s * y + centre[0]
    out[..., 1] = s * x + c * y + centre[1]
    return out


def lift(lifter: LoadedLifter, keypoints: np.ndarray, confidence: np.ndarray, width: int, height: int,
         tta: bool = True, upright: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """``keypoints (T, J, 2)`` pixels in ``lifter.layout_2d`` → ``pose (T, J3, 3)`` metres, camera
    space, root-relative (joint 0 = 0), and ``trajectory (T, 3)`` metres (root in camera space)
    when the checkpoint has a trajectory model, else None. ``tta``: average with the mirrored input.

    ``upright``: lift the clip as a camera rolled so the body stands upright would see it, then turn
    the 3-D back. The 2-D is turned about the image centre by the clip's :func:`body_roll` and the
    lifted pose and trajectory about the camera's optical axis by the same angle the other way:
    exact for a pinhole camera whose principal point is the image centre (a roll of the camera
    about its axis moves the image exactly so), so only what the lifter sees changes — a body
    upright, as in most training data.
    """
    roll = body_roll(keypoints, lifter.layout_2d) if upright else 0.0
    if roll:
        keypoints = _rotate_xy(keypoints, -roll, (width / 2, height / 2))
    pose, trajectory = _lift(lifter, keypoints, confidence, width, height, tta)
    if roll:
        pose = _rotate_xy(pose, roll)
        trajectory = _rotate_xy(trajectory, roll) if trajectory is not None else None
    return pose, trajectory


def _lift(lifter: LoadedLifter, keypoints: np.ndarray, confidence: np.ndarray, width: int, height: int,
          tta: bool) -> tuple[np.ndarray, np.ndarray | None]:
    x = normalize_screen_coordinates(keypoints.astype(np.float32), w=width, h=height)
    if lifter.in_features == 3:
        x = np.concatenate([x, confidence[..., None].astype(np.float32)], axis=-1)
    elif lifter.in_features != 2:
        raise CheckpointError(f"checkpoint {lifter.source!r}: takes {lifter.in_features} features per joint")
    model = lifter.model
    window = Windowing.of(model)
    padded = torch.from_numpy(pad_sequence(x, window.before, window.after)).float()
    flip_2d = get_skeleton(lifter.layout_2d).flip_permutation()
    flip_3d = get_skeleton(lifter.layout_3d).flip_permutation()
    pose, trajectory = predict_sequence(model, lifter.trajectory, padded, flip_2d, flip_3d, tta)
    pose = pose.numpy()
    pose = pose - pose[:, :1]
    if trajectory is not None:
        trajectory = trajectory[:, 0].numpy().astype(np.float32)
    return pose.astype(np.float32), trajectory
