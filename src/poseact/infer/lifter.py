"""Load a lifter (poseact ``.ckpt`` or VideoPose3D ``.bin``) for inference and lift one clip.

No Lightning: a ``.ckpt`` is read with ``torch.load`` and its ``model.*`` (and, when the run
trained one, ``trajectory_model.*``) weights are put into :class:`TemporalLifter` s built from
the tensor shapes. The 2-D layout a model expects comes from the checkpoint's hyper-parameters
(``.ckpt``; ``input_layout`` must then agree), or for a ``.bin`` (which does not say) from ``input_layout``, else from the file
name (``coco`` in it → ``coco17``, as VideoPose3D's ``pretrained_h36m_detectron_coco.bin``),
else ``h36m17`` for 17 joints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from poseact.geometry import normalize_screen_coordinates
from poseact.models.compat import infer_architecture, load_lifter_state, read_videopose3d_checkpoint
from poseact.models.temporal import TemporalLifter
from poseact.skeleton import SKELETONS, get_skeleton

LAYOUT_3D_BY_JOINTS = {17: "h36m17", 15: "humaneva15"}


class CheckpointMismatch(ValueError):
    """The checkpoint cannot take these keypoints (joint count, features); names both files."""


@dataclass
class LoadedLifter:
    """An eval-mode pose model (and trajectory model, if any) with the layouts it speaks."""

    model: TemporalLifter
    trajectory: TemporalLifter | None
    layout_2d: str
    layout_3d: str
    source: str

    @property
    def in_features(self) -> int:
        return self.model.in_features


def _run_config(ckpt: Path) -> dict:
    """``model.*`` of the run's ``config.yaml`` (``outputs/<run>/checkpoints/x.ckpt`` → ``outputs/<run>``)."""
    cfg_path = ckpt.resolve().parent.parent / "config.yaml"
    if not cfg_path.exists():
        return {}
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(cfg_path)).get("model", {}) or {}


def _build(state: dict, num_joints_in: int, where: str, causal: bool) -> TemporalLifter:
    arch = infer_architecture(state, num_joints_in, where=where)
    model = arch.build(causal=causal)
    load_lifter_state(model, state, where=where)
    return model.eval()


def load_lifter(path: str | os.PathLike, input_layout: str | None = None) -> LoadedLifter:
    """Read ``path`` → :class:`LoadedLifter`; errors name the file."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"checkpoint {str(p)!r} not found")
    where = f"checkpoint {str(p)!r}"
    if p.suffix == ".ckpt":
        raw = torch.load(p, map_location="cpu", weights_only=False)
        hp = raw.get("hyper_parameters", {})
        state = raw.get("state_dict", {})
        layout_2d = hp.get("layout_2d") or input_layout or "h36m17"
        if input_layout is not None and input_layout != layout_2d:
            raise CheckpointMismatch(f"{where}: was trained on {layout_2d} input, not {input_layout}")
        layout_3d = hp.get("layout_3d", "h36m17")
        causal = bool(_run_config(p).get("causal", False))
        parts = {pre: {k.removeprefix(pre): v for k, v in state.items() if k.startswith(pre)}
                 for pre in ("model.", "trajectory_model.")}
        j_in = hp.get("num_joints_in") or get_skeleton(layout_2d).num_joints
        model = _build(parts["model."], j_in, where, causal)
        traj = _build(parts["trajectory_model."], j_in, f"{where} trajectory", causal) \
            if parts["trajectory_model."] else None
    else:
        ckpt = read_videopose3d_checkpoint(p)
        arch = infer_architecture(ckpt["model_pos"], None, where=where)
        if input_layout is None:
            if arch.num_joints_in == 17:
                input_layout = "coco17" if "coco" in p.name.lower() else "h36m17"
            else:
                matches = [n for n, s in SKELETONS.items() if s.num_joints == arch.num_joints_in]
                if not matches:
                    raise CheckpointMismatch(f"{where}: takes {arch.num_joints_in} joints, no known layout has that many")
                input_layout = matches[0]
        layout_2d = input_layout
        layout_3d = LAYOUT_3D_BY_JOINTS.get(arch.num_joints_out)
        if layout_3d is None:
            raise CheckpointMismatch(f"{where}: predicts {arch.num_joints_out} joints; known 3-D layouts: "
                                     f"{LAYOUT_3D_BY_JOINTS}")
        j_in = arch.num_joints_in
        model = _build(ckpt["model_pos"], j_in, f"{where} model_pos", False)
        traj = _build(ckpt["model_traj"], j_in, f"{where} model_traj", False) \
            if ckpt.get("model_traj") is not None else None
    if get_skeleton(layout_2d).num_joints != model.num_joints_in:
        raise CheckpointMismatch(f"{where}: takes {model.num_joints_in} joints per frame, but input layout "
                                 f"{layout_2d!r} has {get_skeleton(layout_2d).num_joints}")
    return LoadedLifter(model, traj, layout_2d, layout_3d, str(p))


def _pad(x: np.ndarray, model: TemporalLifter) -> np.ndarray:
    """Edge-replicate ``(T, J, F)`` so the dilated output has exactly T frames (spec §6.2)."""
    before = model.pad + model.causal_shift
    after = model.pad - model.causal_shift
    return np.pad(x, ((before, after), (0, 0), (0, 0)), mode="edge")


@torch.no_grad()
def _predict(model: TemporalLifter, x: np.ndarray, flip_2d: np.ndarray | None, flip_3d: np.ndarray | None,
             swap_output: bool) -> np.ndarray:
    """``(T, J, F)`` → ``(T, J_out, 3)``; with ``flip_2d``, averaged with the mirrored prediction of
    the mirrored input (as ``tasks.lifting.flip_tta``, kept here so inference needs no Lightning)."""
    inp = torch.from_numpy(_pad(x, model)).float()[None]
    if flip_2d is None:
        return model(inp)[0].numpy()
    mirrored = inp[:, :, flip_2d].clone()
    mirrored[..., 0] *= -1
    plain, flipped = model(torch.cat([inp, mirrored])).chunk(2)
    flipped = flipped.clone()
    flipped[..., 0] *= -1
    if swap_output:
        flipped = flipped[:, :, flip_3d]
    return ((plain + flipped) / 2)[0].numpy()


def lift(lifter: LoadedLifter, keypoints: np.ndarray, confidence: np.ndarray, width: int, height: int,
         tta: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """``keypoints (T, J, 2)`` pixels in ``lifter.layout_2d`` → ``pose (T, J3, 3)`` metres, camera
    space, root-relative (joint 0 = 0), and ``trajectory (T, 3)`` metres (root in camera space)
    when the checkpoint has a trajectory model, else None. ``tta``: average with the mirrored input.
    """
    x = normalize_screen_coordinates(keypoints.astype(np.float32), w=width, h=height)
    if lifter.in_features == 3:
        x = np.concatenate([x, confidence[..., None].astype(np.float32)], axis=-1)
    elif lifter.in_features != 2:
        raise CheckpointMismatch(f"checkpoint {lifter.source!r}: takes {lifter.in_features} features per joint")
    flip_2d = get_skeleton(lifter.layout_2d).flip_permutation() if tta else None
    flip_3d = get_skeleton(lifter.layout_3d).flip_permutation() if tta else None
    pose = _predict(lifter.model, x, flip_2d, flip_3d, swap_output=True)
    pose = pose - pose[:, :1]
    trajectory = None
    if lifter.trajectory is not None:
        trajectory = _predict(lifter.trajectory, x, flip_2d, None, swap_output=False)[:, 0]
    return pose.astype(np.float32), None if trajectory is None else trajectory.astype(np.float32)
