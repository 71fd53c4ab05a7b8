"""``poseact infer``: a video, a folder of frames or a keypoint file → 3-D poses + a render.

Steps: (video/frames only) 2-D detection — MediaPipe in its own environment (``detector=
"mediapipe"``, the default) or poseact's multi-task model (``detector="multitask"`` with
``keypoint_checkpoint``; :mod:`poseact.infer.multitask_keypoints`) — → read keypoints and
choose one person → fill gaps over time (up to ``max_gap`` frames interpolated, longer gaps
flagged) → convert the layout to what the checkpoint takes → lift (flip TTA) → write.

Outputs in ``out_dir`` (all written to a temporary folder first and moved in at the end, so a
failure leaves nothing behind):

* ``<name>_3d.npz``: ``pose3d (T, J, 3)`` float32 metres, camera space, root-relative;
  ``trajectory (T, 3)`` metres (root in camera space) when the checkpoint has a trajectory
  model; ``keypoints_2d (T, J2, 2)`` pixels and ``confidence (T, J2)`` (the model's input
  layout, filled); ``flagged (T,)`` bool; ``fps``, ``width``, ``height``, layouts.
* ``<name>_3d.json``: the same poses as nested lists (millimetre precision) with the metadata:
  source, checkpoint, person choice, gap report, joint names, units.
* ``<name>.mp4`` (or ``.gif``): input 2-D beside the 3-D, unless ``render=None``.
* ``<name>_keypoints.json``: the detections, when the input was a video or a folder.

Everything that can be checked before detection is checked first (input exists and decodes,
both checkpoints load, the detector's layout converts to the lifter's), so most bad input costs
no detection time.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from poseact.atomic import check_writable, remove_stale_temps, temp_sibling
from poseact.errors import CheckpointError, KeypointFileError, LayoutError, MissingFileError, UsageError
from poseact.infer.formats import read_keypoints
from poseact.infer.gaps import fill_gaps
from poseact.layouts import can_convert, convert_layout
from poseact.lifting.inference import lift, load_lifter
from poseact.skeleton import get_skeleton

DEFAULT_FPS = 50.0  # Human3.6M's rate, what the released models saw
DETECTORS = ("mediapipe", "multitask")


@dataclass
class InferResult:
    npz: Path
    json: Path
    render: Path | None
    frames: int
    person: str
    gaps: str
    keypoints: Path | None = None  # the detections written, for video/frame input


def _name_of(path: Path) -> str:
    return path.name if path.is_dir() else path.stem


def run_infer(input_path: str | os.PathLike, checkpoint: str | os.PathLike, out_dir: str | os.PathLike = ".",
              keypoint_layout: str | None = None, input_layout: str | None = None, fps: float | None = None,
              image_size: tuple[int, int] | None = None, video: str | os.PathLike | None = None,
              person: str = "largest", clip: str | None = None, max_gap: int = 10, tta: bool = True,
              render: str | None = "mp4", render_limit: int | None = None, render_size: float = 3.0,
              azimuth: float = 70.0, detector: str | None = None,
              keypoint_checkpoint: str | os.PathLike | None = None, keypoint_config: str | os.PathLike | None = None,
              crop: str = "centre", box: tuple[float, float, float] | None = None,
              min_confidence: float | None = None) -> InferResult:
    """Run the whole pipeline; see the module docstring for the outputs.

    ``keypoint_layout`` checks the keypoint file's layout; ``input_layout`` overrides the 2-D
    layout a ``.bin`` checkpoint takes; ``image_size = (width, height)`` for keypoint files
    that do not record it; ``video`` draws the render over that video's frames.

    Video/frame input only: ``detector`` ``"mediapipe"`` (default) or ``"multitask"`` (implied by
    ``keypoint_checkpoint``, a ``poseact fit`` multi-task ``.ckpt``; ``keypoint_config`` its
    config when the run folder is gone); ``crop`` (``"centre"`` / ``"full"``) or ``box = (x0, y0,
    side)`` pixels choose the square the multi-task model sees, ``min_confidence`` its no-person
    threshold (see :mod:`poseact.infer.multitask_keypoints`).
    """
    from poseact.viz.video import is_video, video_info

    src = Path(input_path)
    if not src.exists():
        raise MissingFileError(f"input {str(src)!r} not found")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a file; give a folder for the outputs")
    check_writable(out / f"{_name_of(src)}_3d.npz", "--out")
    name = _name_of(src)
    is_frames = src.is_dir() or is_video(src)
    detector_given = detector is not None
    if detector is None:
        detector = "multitask" if keypoint_checkpoint is not None else "mediapipe"
    if detector not in DETECTORS:
        raise UsageError(f"detector {detector!r}: use one of {DETECTORS}")
    multitask_opts = keypoint_checkpoint is not None or keypoint_config is not None or box is not None \
        or min_confidence is not None or crop != "centre"
    if not is_frames and (multitask_opts or detector_given):
        raise UsageError(f"input {str(src)!r} is a keypoint file: detector options (--keypoints "
                              f"{detector}, --keypoint-checkpoint, --crop, --box, --min-confidence) apply "
                              f"to videos and image folders")
    if is_frames and keypoint_layout is not None:
        raise UsageError(f"input {str(src)!r} is a video or an image folder: --keypoints "
                              f"{keypoint_layout} checks a keypoint file's layout; choose the detector with "
                              f"--keypoints mediapipe|multitask")
    if detector == "mediapipe" and multitask_opts:
        raise UsageError(f"input {str(src)!r}: --keypoint-checkpoint/--keypoint-config/--crop/--box/"
                              f"--min-confidence belong to --keypoints multitask")
    if detector == "multitask" and keypoint_checkpoint is None:
        raise UsageError(f"input {str(src)!r}: --keypoints multitask needs --keypoint-checkpoint CKPT "
                              f"(a checkpoint of `poseact fit configs/experiment/multitask_*.yaml`)")
    lifter = load_lifter(checkpoint, input_layout)  # fail on a bad checkpoint before detecting
    frames_source = None
    keypoint_model = None
    if is_frames:
        video_info(src)  # an undecodable video fails here, naming the file, before anything is made
        frames_source = src
        if detector == "multitask":
            from poseact.infer.multitask_keypoints import crop_box, load_keypoint_model

            keypoint_model = load_keypoint_model(keypoint_checkpoint, keypoint_config)
            if not can_convert(keypoint_model.layout, lifter.layout_2d):
                raise CheckpointError(
                    f"checkpoint {lifter.source!r} takes {get_skeleton(lifter.layout_2d).num_joints} joints "
                    f"({lifter.layout_2d}), but keypoint checkpoint {keypoint_model.source!r} predicts "
                    f"{keypoint_model.num_joints} ({keypoint_model.layout}) and there is no conversion "
                    f"between them")
            try:
                crop_box(1, 1, crop, box)  # a bad crop option fails before anything is made
            except ValueError as e:
                raise UsageError(f"input {str(src)!r}: {e}") from None
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    tmp = temp_sibling(out / name)  # removed below, or by the next run if this one is killed
    tmp.mkdir()
    moved: dict[str, Path] = {}
    try:
        if keypoint_model is not None:
            from poseact.infer.multitask_keypoints import DEFAULT_MIN_CONFIDENCE, detect_multitask

            keypoint_file = detect_multitask(
                src, tmp / f"{name}_keypoints.json", keypoint_model, crop=crop, box=box,
                min_confidence=DEFAULT_MIN_CONFIDENCE if min_confidence is None else min_confidence)
        elif frames_source is not None:
            from poseact.infer.detect import detect

            keypoint_file = detect(src, tmp / f"{name}_keypoints.json")
        else:
            keypoint_file = src
        try:
            track = read_keypoints(keypoint_file, keypoint_layout, person=person, clip=clip)
        except KeypointFileError as e:
            if keypoint_file == src:
                raise
            # our own detections: name the input, not the temporary file about to be removed
            msg = str(e).replace(f"keypoint file {str(keypoint_file)!r}", f"{str(src)!r} ({detector} keypoints)")
            if keypoint_model is not None:
                thr = DEFAULT_MIN_CONFIDENCE if min_confidence is None else min_confidence
                msg += (f" (every frame's mean joint confidence was below --min-confidence {thr:g}; "
                        f"a tighter --box around the person may help)")
            raise KeypointFileError(msg) from None
        if keypoint_model is not None:
            detected = json.loads(keypoint_file.read_text())
            track.person = (f"one pose per frame from the multi-task model (crop {detected['crop']['mode']} "
                            f"{detected['crop']['box']} = x0, y0, side px); frames with mean joint confidence "
                            f"< {detected['min_confidence']} count as no person")
        elif frames_source is not None:
            track.person = "one person per frame (MediaPipe Pose is single-person: the most prominent one)"
        if video is not None:
            frames_source = Path(video)
        width, height = image_size or (track.width, track.height)
        if frames_source is not None and (width is None or height is None or not (fps or track.fps)):
            info = video_info(frames_source)
            if width is None or height is None:
                width, height = info["width"], info["height"]
            fps = fps or track.fps or info["fps"]
        if width is None or height is None:
            raise LayoutError(f"keypoint file {str(src)!r}: does not record the frame size; "
                              f"pass --image-size W H or --video")
        fps = float(fps or track.fps or DEFAULT_FPS)
        where = f"keypoint file {str(src)!r}" if keypoint_file == src else \
            f"{str(src)!r} ({detector} keypoints)"
        if not can_convert(track.layout, lifter.layout_2d):
            raise CheckpointError(
                f"checkpoint {lifter.source!r} takes {get_skeleton(lifter.layout_2d).num_joints} joints "
                f"({lifter.layout_2d}), but {where} holds {track.keypoints.shape[1]} ({track.layout}) and "
                f"there is no conversion between them")
        kps, conf, flagged, report = fill_gaps(track.keypoints, track.confidence, max_gap, where=where)
        kps, conf = convert_layout(kps, conf, track.layout, lifter.layout_2d, where=where)
        pose, trajectory = lift(lifter, kps, conf, int(width), int(height), tta=tta)
        meta = {
            "source": str(src),
            "keypoints": str(src if keypoint_file == src else out / keypoint_file.name),
            "detector": None if keypoint_file == src else detector,
            "keypoint_checkpoint": str(keypoint_checkpoint) if keypoint_model is not None else None,
            "checkpoint": str(checkpoint), "person": track.person, "gaps": report.as_dict(),
            "keypoint_layout": track.layout, "layout_2d": lifter.layout_2d, "layout_3d": lifter.layout_3d,
            "joint_names": list(get_skeleton(lifter.layout_3d).joint_names),
            "units": "m", "space": "camera (x right, y down, z forward), root-relative (joint 0 = 0)",
            "trajectory": "root position in camera space, m" if trajectory is not None else None,
            "fps": fps, "width": int(width), "height": int(height), "frames": int(len(pose)),
            "flip_tta": tta,
        }
        arrays = {"pose3d": pose, "keypoints_2d": kps, "confidence": conf, "flagged": flagged,
                  "fps": np.float32(fps), "width": np.int32(width), "height": np.int32(height),
                  "layout_2d": np.str_(lifter.layout_2d), "layout_3d": np.str_(lifter.layout_3d)}
        if trajectory is not None:
            arrays["trajectory"] = trajectory
        np.savez_compressed(tmp / f"{name}_3d.npz", **arrays)
        doc = {**meta, "pose3d": np.round(pose, 4).tolist()}
        if trajectory is not None:
            doc["trajectory_m"] = np.round(trajectory, 4).tolist()
        doc["flagged_frames"] = np.flatnonzero(flagged).tolist()
        (tmp / f"{name}_3d.json").write_text(json.dumps(doc))
        render_name = None
        if render is not None:
            from poseact.viz.render import render_video
            from poseact.viz.video import iter_frames

            render_name = f"{name}.{render}"
            poses = {"Reconstruction": pose + (trajectory[:, None] - trajectory[:1, None]
                                               if trajectory is not None else 0)}
            background = iter_frames(frames_source) if frames_source is not None else None
            render_video(tmp / render_name, kps, lifter.layout_2d, poses, lifter.layout_3d,
                         (int(width), int(height)), fps, background=background, size=render_size,
                         azimuth=azimuth, limit=render_limit, flagged=flagged)
        for f in sorted(tmp.iterdir()):
            f.replace(out / f.name)
            moved[f.name] = out / f.name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if created and not moved and out.exists() and not any(out.iterdir()):
            out.rmdir()
    return InferResult(moved[f"{name}_3d.npz"], moved[f"{name}_3d.json"],
                       moved.get(render_name) if render_name else None, len(pose), track.person,
                       report.summary(), moved.get(keypoint_file.name) if keypoint_file != src else None)
