"""The multi-task model (deephar SPNet) for inference, without Lightning: load a checkpoint, predict
the pose and the action of clips of person-centred crops.

**Input** (:func:`predict_multitask`): clips of square RGB crops around one person —
``(T, S, S, 3)`` one clip or ``(B, T, S, S, 3)`` several, ``uint8`` pixels in [0, 255] (or floats in
[0, 1]), channels R, G, B, ``S`` = the model's ``input_size`` (other square sizes are resized,
bilinear with antialiasing). They are normalised as in training: ``2·pixel/255 − 1`` (gamma 1), laid
out ``(B, T, 3, S, S)``. The crop should hold the person as the training crops did (synthetic: a
2.2 m square around the pelvis; image datasets: 1.5x the person box); ``T`` is free (the action head
was trained on ``data.clip_length`` frames).

**Output** (:class:`MultitaskPrediction`, the last pose and action outputs):

* ``pose_2d (B, T, J, 2)`` — **pixels of the crop** (x right, y down, 0 to ``S``; the network's
  normalised ``u/S`` times ``S``), joints in ``layout`` order (``joint_names``);
* ``confidence (B, T, J)`` in [0, 1];
* ``depth (B, T, J)`` — 3-D models only (``model.dim=3``, else None): **metres, relative to the
  root joint's depth** (``2·(z − 0.5)`` m, the training target's range of ±1 m); with the crop's
  intrinsics and the root's distance, :func:`poseact.multitask.losses.camera_space` gives camera
  coordinates in metres;
* ``action_scores (B, A)`` — softmax probabilities of the first dataset's action head, columns in
  ``action_names`` order (None for pose-only models); :meth:`MultitaskPrediction.top_actions`
  gives ``(name, score)`` pairs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from poseact.errors import UsageError
from poseact.multitask.checkpoint import build_spnet, read_multitask_checkpoint
from poseact.multitask.models.spnet import SPNet
from poseact.run.checkpoints import load_checkpoint_file
from poseact.skeleton import get_skeleton

#: the depth range of the training target: z in [0, 1] spans the root depth ± this many metres
DEPTH_RANGE_M = 1.0
#: what each predicted array is, in which unit (written beside them by ``poseact predict``)
OUTPUT_UNITS = {
    "pose_2d": "(K, T, J, 2) pixels of the input crop (x right, y down, 0..input_size)",
    "confidence": "(K, T, J) joint confidence in [0, 1]",
    "depth": "(K, T, J) metres, depth relative to the root joint (3-D models only)",
    "action_scores": "(K, A) softmax probabilities, columns in action_names order",
    "action_names": "(A,) class names of the action head",
    "joint_names": "(J,) joint names of the layout",
    "video": "(K,) clip row of the store each test clip comes from",
}


@dataclass
class MultitaskModel:
    """An eval-mode SPNet with what its outputs mean."""

    model: SPNet
    layout: str  # the joint layout of its pose outputs
    action_names: list[str]  # its action classes (empty: no action head)
    source: str  # the checkpoint
    config_source: str = "checkpoint"  # where the network's size came from (checkpoint, a config file)

    @property
    def input_size(self) -> int:
        """Side ``S`` of the square crops it takes, pixels."""
        return int(self.model.cfg.input_size)

    @property
    def num_joints(self) -> int:
        """Joints ``J`` of its pose outputs (in ``layout`` order)."""
        return int(self.model.cfg.num_joints)

    @property
    def dim(self) -> int:
        """2 (x, y) or 3 (x, y and depth)."""
        return int(self.model.cfg.dim)

    @property
    def joint_names(self) -> list[str]:
        return list(get_skeleton(self.layout).joint_names)

    @property
    def has_actions(self) -> bool:
        return bool(self.model.cfg.action_pyramids) and bool(self.model.cfg.num_actions)


@dataclass
class MultitaskPrediction:
    """Pose and action of ``B`` clips (see the module docstring for units)."""

    pose_2d: np.ndarray  # (B, T, J, 2) crop pixels
    confidence: np.ndarray  # (B, T, J) in [0, 1]
    depth: np.ndarray | None  # (B, T, J) metres relative to the root; None for 2-D models
    action_scores: np.ndarray | None  # (B, A) probabilities
    action_names: list[str]
    joint_names: list[str]

    def top_actions(self, k: int = 1) -> list[list[tuple[str, float]]]:
        """Per clip, the ``k`` most probable actions as ``(name, probability)``."""
        if self.action_scores is None:
            return [[] for _ in range(len(self.pose_2d))]
        order = np.argsort(-self.action_scores, axis=1)[:, :k]
        return [[(self.action_names[j], float(s[j])) for j in row] for s, row in zip(self.action_scores, order)]


def action_names_of(raw: dict, num_actions: list[int]) -> list[str]:
    """The class names a checkpoint saved (``hyper_parameters.action_names``); checkpoints written
    before they were saved get ``action_0``, ``action_1``, …"""
    names = list((raw.get("hyper_parameters") or {}).get("action_names") or [])
    count = int(num_actions[0]) if num_actions else 0
    if len(names) != count:
        names = [f"action_{i}" for i in range(count)]
    return [str(n) for n in names]


def load_multitask(checkpoint: str | os.PathLike, config: str | os.PathLike | None = None,
                   what: str = "checkpoint") -> MultitaskModel:
    """A multi-task run's ``.ckpt`` → :class:`MultitaskModel` (eval mode). ``config``: the experiment
    YAML or run ``config.yaml`` for checkpoints that do not describe their network. A lifter
    checkpoint is refused in one line naming what it is (``what``: how errors call the file)."""
    path = Path(checkpoint)
    raw = load_checkpoint_file(path, what)
    ckpt = read_multitask_checkpoint(path, raw=raw, what=what, config=config)
    model, layout = build_spnet(ckpt)
    names = action_names_of(raw, list(ckpt.model.num_actions)) if model.cfg.action_pyramids else []
    return MultitaskModel(model, layout, names, str(ckpt.path), ckpt.config_source)


def prepare_crops(crops: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """Crops ``(T, S, S, 3)`` / ``(B, T, S, S, 3)`` uint8 [0, 255] or float [0, 1] → the network's input
    ``(B, T, 3, size, size)`` in [-1, 1] (``2·pixel/255 − 1``); other square sizes resized."""
    x = torch.as_tensor(np.asarray(crops) if not isinstance(crops, torch.Tensor) else crops)
    if x.dim() == 4:
        x = x[None]
    if x.dim() != 5 or x.shape[-1] != 3 or x.shape[-2] != x.shape[-3] or 0 in x.shape:
        raise UsageError(f"crops of shape {tuple(x.shape)}: expected (T, S, S, 3) or (B, T, S, S, 3) RGB "
                         f"square crops")
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise UsageError("crops: uint8 pixels in [0, 255] or floats in [0, 1] expected")
    b, t, s = x.shape[:3]
    x = x.permute(0, 1, 4, 2, 3).reshape(b * t, 3, s, s)
    if s != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=s > size)
    return (2 * x.clamp(0, 1) - 1).reshape(b, t, 3, size, size)


@torch.no_grad()
def predict_multitask(model: MultitaskModel, crops: np.ndarray | torch.Tensor) -> MultitaskPrediction:
    """Pose and action of clips of person-centred crops (layout and units: the module docstring)."""
    x = prepare_crops(crops, model.input_size)
    poses, actions = model.model(x, with_action=model.has_actions)
    return interpret(model, poses[-1], actions[-1][0] if actions else None)


def interpret(model: MultitaskModel, pose: torch.Tensor, logits: torch.Tensor | None) -> MultitaskPrediction:
    """The network's last outputs — pose ``(B, T, J, dim+1)`` normalised (x, y in [0, 1] of the crop,
    z in [0, 1], confidence) and action logits ``(B, A)`` — in units (the module docstring)."""
    p = pose.detach().float().cpu().numpy()
    size = model.input_size
    depth = 2 * DEPTH_RANGE_M * (p[..., 2] - 0.5) if model.dim == 3 else None
    if depth is not None:
        depth = depth - depth[..., :1]  # relative to the root joint (joint 0)
    scores = None if logits is None else torch.softmax(logits.detach().float(), -1).cpu().numpy()
    return MultitaskPrediction(pose_2d=(p[..., :2] * size).astype(np.float32),
                               confidence=np.clip(p[..., -1], 0, 1).astype(np.float32),
                               depth=None if depth is None else depth.astype(np.float32),
                               action_scores=scores, action_names=list(model.action_names),
                               joint_names=model.joint_names)
