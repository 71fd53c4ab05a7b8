"""poseact from Python: load a lifter, lift keypoints, run a whole video, export; load the multi-task
model and predict pose and actions from image crops. No Lightning import.

    import poseact

    lifter = poseact.load_lifter("outputs/demo/checkpoints/last.ckpt")   # or a VideoPose3D .bin
    pose, trajectory = poseact.lift(lifter, keypoints, image_size=(1920, 1080))
    result = poseact.infer_video("clip.mp4", "outputs/demo/checkpoints/last.ckpt", out_dir="out")
    poseact.export("outputs/demo/checkpoints/last.ckpt", "lifter.onnx", format="onnx")

    model = poseact.load_multitask("outputs/multitask_tiny/checkpoints/last.ckpt")
    out = poseact.predict_multitask(model, crops)    # crops (T, S, S, 3) uint8 RGB, S = model.input_size
    out.pose_2d, out.action_scores, out.top_actions(3)

Units: lifter keypoints in pixels, 3-D in metres, camera space (x right, y down, z forward). The
multi-task model: 2-D in pixels of the crop, depth in metres relative to the root, action scores as
probabilities over ``model.action_names`` (:mod:`poseact.multitask.inference`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from poseact.bones import DEFAULT_HEIGHT_M, STANDING_CHAINS, apply_body_rules
from poseact.errors import UsageError
from poseact.infer.pipeline import InferResult, run_infer
from poseact.layouts import convert_layout
from poseact.lifting.inference import LoadedLifter
from poseact.lifting.inference import lift as lift_pixels
from poseact.lifting.inference import load_lifter as _load_lifter
from poseact.multitask.inference import MultitaskModel, MultitaskPrediction
from poseact.multitask.inference import load_multitask as _load_multitask
from poseact.multitask.inference import predict_multitask as _predict_multitask

__all__ = ["InferResult", "LoadedLifter", "MultitaskModel", "MultitaskPrediction", "export", "infer_video", "lift",
           "load_lifter", "load_multitask", "predict_multitask"]


def _path(value, name: str, function: str) -> Path:
    """``value`` as a path, or a one-line UsageError naming the argument (not a TypeError traceback)."""
    if not isinstance(value, (str, os.PathLike)):
        raise UsageError(f"poseact.{function}: {name} must be a path (str or os.PathLike), got {type(value).__name__}")
    return Path(value)


def load_lifter(checkpoint: str | os.PathLike, input_layout: str | None = None) -> LoadedLifter:
    """A lifter in eval mode from a poseact ``.ckpt`` or a VideoPose3D ``.bin``.

    ``input_layout`` names the 2-D layout a ``.bin`` takes (it does not record it); a ``.ckpt`` says
    itself. The result's ``layout_2d`` / ``layout_3d`` say what :func:`lift` takes and returns."""
    return _load_lifter(_path(checkpoint, "checkpoint", "load_lifter"), input_layout)


def lift(lifter: LoadedLifter, keypoints: np.ndarray, image_size: tuple[int, int],
         confidence: np.ndarray | None = None, layout: str | None = None, tta: bool = True,
         height: float | None = None, steady_bones: bool = False,
         upright: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """2-D keypoints of one person → 3-D.

    ``keypoints``: ``(T, J, 2)`` pixels (or ``(J, 2)``, one frame) in ``layout`` (default: the
    lifter's ``layout_2d``; another known layout is converted, e.g. ``"coco17"`` or
    ``"mediapipe33"``); ``image_size = (width, height)`` pixels; ``confidence (T, J)`` in [0, 1]
    (default 1). Returns ``pose (T, J3, 3)`` metres, root-relative camera space, and the root's
    ``trajectory (T, 3)`` metres when the checkpoint has a trajectory model (else None); a single
    frame gives ``(J3, 3)`` and ``(3,)``.

    ``height`` (metres) rescales to that stature by :func:`poseact.bones.scale_to_height`
    (default: the model's own scale); ``steady_bones`` gives each bone its median length over the
    frames (:func:`poseact.bones.constant_bones`); both as ``poseact infer`` applies them
    (:func:`poseact.bones.apply_body_rules`). ``upright`` lifts the clip as seen by a camera rolled so
    the body stands upright and turns the 3-D back (exact for a centred pinhole camera;
    :func:`poseact.lifting.inference.lift`), as ``poseact infer`` does by default."""
    if not isinstance(lifter, LoadedLifter):
        raise UsageError(f"poseact.lift: lifter must come from poseact.load_lifter, got {type(lifter).__name__}")
    try:
        image_size = tuple(int(v) for v in image_size)
    except (TypeError, ValueError):
        raise UsageError(f"poseact.lift: image_size must be (width, height) in pixels, got {image_size!r}") from None
    if len(image_size) != 2:
        raise UsageError(f"poseact.lift: image_size must be (width, height) in pixels, got {image_size!r}")
    try:
        kps = np.asarray(keypoints, dtype=np.float32)
    except (TypeError, ValueError):
        raise UsageError(f"poseact.lift: keypoints must be an array of numbers (T, J, 2) pixels, "
                         f"got {type(keypoints).__name__}") from None
    single = kps.ndim == 2
    if single:
        kps = kps[None]
    if kps.ndim != 3 or kps.shape[-1] != 2 or kps.shape[0] == 0:
        raise UsageError(f"keypoints of shape {np.shape(keypoints)}: expected (T, J, 2) with T >= 1, or (J, 2) pixels")
    if not np.isfinite(kps).all():
        raise UsageError("keypoints hold NaN or infinite values: fill or drop those frames first")
    conf = np.ones(kps.shape[:2], np.float32) if confidence is None else np.asarray(confidence, np.float32)
    if single and conf.ndim == 1:
        conf = conf[None]
    if conf.shape != kps.shape[:2]:
        raise UsageError(f"confidence of shape {conf.shape}: expected {kps.shape[:2]} (one per joint per frame)")
    width, height_px = (int(v) for v in image_size)
    if width <= 0 or height_px <= 0:
        raise UsageError(f"image_size {image_size!r}: (width, height) in pixels, both positive")
    source = layout or lifter.layout_2d
    if source != lifter.layout_2d:
        kps, conf = convert_layout(kps, conf, source, lifter.layout_2d, where="poseact.lift keypoints")
    if height is not None and lifter.layout_3d not in STANDING_CHAINS:
        raise UsageError(f"height={height}: the stature rule knows {sorted(STANDING_CHAINS)}, this lifter "
                         f"predicts {lifter.layout_3d}; leave height=None")
    pose, trajectory = lift_pixels(lifter, kps, conf, width, height_px, tta=tta, upright=upright)
    try:
        pose, trajectory, _ = apply_body_rules(pose, trajectory, lifter.layout_3d, None, height, steady_bones)
    except ValueError as e:
        raise UsageError(f"height={height}: {e}") from None
    if single:
        return pose[0], None if trajectory is None else trajectory[0]
    return pose, trajectory


def infer_video(input_path: str | os.PathLike, checkpoint: str | os.PathLike, out_dir: str | os.PathLike = "infer_out",
                height: float | None = DEFAULT_HEIGHT_M, render: str | None = "mp4", **options) -> InferResult:
    """``poseact infer`` from Python: a video, image folder, photo or keypoint file → files in
    ``out_dir`` (``<name>_3d.npz`` / ``.json``, a render). ``options`` are those of
    :func:`poseact.infer.pipeline.run_infer` (``detector``, ``max_gap``, ``constant_bones``, …)."""
    return run_infer(_path(input_path, "input_path", "infer_video"), _path(checkpoint, "checkpoint", "infer_video"),
                     _path(out_dir, "out_dir", "infer_video"), height=height, render=render, **options)


def export(checkpoint: str | os.PathLike, output: str | os.PathLike, format: str | None = None):  # noqa: A002
    """Write a lifter checkpoint as ``"onnx"``, ``"torchscript"`` or ``"videopose3d"`` (a ``.bin``);
    default: from ``output``'s suffix (``.onnx``, ``.pt``, ``.bin``). The first two are checked
    against the original on writing (see :mod:`poseact.lifting.export`). Returns the report (or,
    for ``.bin``, the path)."""
    from poseact.atomic import check_writable
    from poseact.lifting.export import export_checkpoint, format_of

    checkpoint, output = _path(checkpoint, "checkpoint", "export"), _path(output, "output", "export")
    return export_checkpoint(checkpoint, check_writable(output, "export"), format or format_of(output))


def load_multitask(checkpoint: str | os.PathLike, config: str | os.PathLike | None = None) -> MultitaskModel:
    """The multi-task model (deephar SPNet) of a ``poseact fit configs/experiment/multitask_*.yaml`` run's
    ``.ckpt``, in eval mode. ``config`` (an experiment YAML or the run's ``config.yaml``) is needed only
    for checkpoints that do not describe their network. The result says what it takes and gives:
    ``input_size`` (square crop side, pixels), ``layout`` / ``joint_names``, ``dim`` (2 or 3),
    ``action_names``."""
    return _load_multitask(_path(checkpoint, "checkpoint", "load_multitask"),
                           None if config is None else _path(config, "config", "load_multitask"))


def predict_multitask(model: MultitaskModel, crops: np.ndarray) -> MultitaskPrediction:
    """Pose and action of clips of person-centred square crops.

    ``crops``: ``(T, S, S, 3)`` (one clip) or ``(B, T, S, S, 3)``, RGB, ``uint8`` in [0, 255] or floats
    in [0, 1]; ``S`` = ``model.input_size`` (other sizes are resized); normalised as in training
    (``2·pixel/255 − 1``). Returns ``pose_2d (B, T, J, 2)`` in **pixels of the crop**, ``confidence
    (B, T, J)`` in [0, 1], ``depth (B, T, J)`` in **metres relative to the root** (3-D models, else
    None), ``action_scores (B, A)`` probabilities over ``action_names`` (None without an action
    head); ``top_actions(k)`` names the best ``k`` per clip."""
    if not isinstance(model, MultitaskModel):
        raise UsageError(f"poseact.predict_multitask: model must come from poseact.load_multitask, got "
                         f"{type(model).__name__}")
    return _predict_multitask(model, crops)
