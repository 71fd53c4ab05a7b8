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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from poseact import bones
from poseact.atomic import check_writable, remove_stale_temps, temp_sibling
from poseact.errors import (
    CheckpointError,
    KeypointFileError,
    LayoutError,
    MissingFileError,
    UsageError,
)
from poseact.infer.formats import read_keypoints
from poseact.infer.gaps import JOINT_THRESHOLD, MIN_RELIABLE_FRACTION, fill_gaps
from poseact.layouts import can_convert, convert_layout
from poseact.lifting.inference import lift, load_lifter
from poseact.skeleton import get_skeleton

DEFAULT_HEIGHT_M = bones.DEFAULT_HEIGHT_M
DEFAULT_FPS = 50.0  # Human3.6M's rate, what the released models saw
DETECTORS = ("mediapipe", "multitask")


@dataclass
class InferResult:
    npz: Path | None  # None when the pose was reported instead of lifted (too few reliable joints)
    json: Path
    render: Path | None
    frames: int
    person: str
    gaps: str
    keypoints: Path | None = None  # the detections written, for video/frame input
    body: str = ""  # the scale and bone rule applied, one line
    joints: str = ""  # the unreliable joints, one line
    photos: list["InferResult"] = field(default_factory=list)  # a folder of unrelated photos: one each
    cleaning: str = ""  # the 2-D fixes (left/right swaps, jumps), one line; empty when not cleaned


def _name_of(path: Path) -> str:
    return path.name if path.is_dir() else path.stem


def run_infer(input_path: str | os.PathLike, checkpoint: str | os.PathLike, out_dir: str | os.PathLike = ".",
              keypoint_layout: str | None = None, input_layout: str | None = None, fps: float | None = None,
              image_size: tuple[int, int] | None = None, video: str | os.PathLike | None = None,
              person: str = "largest", clip: str | None = None, max_gap: int = 10, tta: bool = True,
              render: str | None = "mp4", render_limit: int | None = None, render_height: int | None = None,
              azimuth: float | None = None, detector: str | None = None,
              keypoint_checkpoint: str | os.PathLike | None = None, keypoint_config: str | os.PathLike | None = None,
              crop: str = "centre", box: tuple[float, ...] | None = None,
              min_confidence: float | None = None, height: float | None = DEFAULT_HEIGHT_M,
              constant_bones: bool | None = None, joint_threshold: float = JOINT_THRESHOLD,
              photos: bool | None = None, track_rule: str | None = "main", clean: bool = True) -> InferResult:
    """Run the whole pipeline; see the module docstring for the outputs.

    ``keypoint_layout`` checks the keypoint file's layout; ``input_layout`` overrides the 2-D
    layout a ``.bin`` checkpoint takes; ``image_size = (width, height)`` for keypoint files
    that do not record it; ``video`` draws the render over that video's frames.

    Video/frame input only: ``detector`` ``"mediapipe"`` (default) or ``"multitask"`` (implied by
    ``keypoint_checkpoint``, a ``poseact fit`` multi-task ``.ckpt``; ``keypoint_config`` its
    config when the run folder is gone); ``crop`` (``"centre"`` / ``"full"``) or ``box = (x0, y0,
    side)`` pixels choose the square the multi-task model sees, ``min_confidence`` its no-person
    threshold (see :mod:`poseact.infer.multitask_keypoints`).

    Scale and bones (:mod:`poseact.bones`): ``height`` metres (default an average adult's,
    1.70 m) rescales pose and trajectory by the documented stature rule; ``None`` keeps the model's
    own scale. ``constant_bones`` gives each bone its clip median length (default: on when the input
    has more than one frame); the JSON reports each bone's median length and frame-to-frame spread.

    Inputs: a video or GIF (a clip), one photo (lifted as one frame, rendered as ``.png``), a folder
    of a clip's frames, or a folder of unrelated photos (``photos``; default: when its images differ
    in size), each lifted on its own at its own size (``InferResult.photos``). Joints below
    ``joint_threshold`` confidence or outside the image are unreliable: listed in the JSON and the
    summary; a frame with fewer than :data:`MIN_RELIABLE_FRACTION` reliable joints is flagged, and a
    photo's pose is then reported instead of lifted.

    ``track_rule`` (MediaPipe on clips): one subject through the clip (:mod:`poseact.infer.tracking`) —
    ``"main"`` (default), ``"longest"``, ``"largest"``, ``"confident"`` or a track id; ``box = (x0, y0, w, h)`` px names the subject instead (any detector); ``None`` / ``"none"``:
    whole frames.
    """
    if track_rule not in (None, "none"):
        from poseact.infer.detect import check_track_rule

        check_track_rule(track_rule)
    if height is not None and not (np.isfinite(height) and 0.5 <= height <= 2.6):
        raise UsageError(f"--height {height!r}: the subject's stature in metres, between 0.5 and 2.6 "
                         f"(default {DEFAULT_HEIGHT_M})")
    from poseact.viz.video import image_sizes, is_image, is_video, video_info

    src = Path(input_path)
    if not src.exists():
        raise MissingFileError(f"input {str(src)!r} not found")
    if src.is_dir() and photos is not False:
        sizes = image_sizes(src)
        if photos or len({(w, h) for _, w, h in sizes}) > 1:
            return _run_photos(src, sizes, dict(
                checkpoint=checkpoint, out_dir=out_dir, input_layout=input_layout, tta=tta, render=render,
                render_height=render_height, azimuth=azimuth, detector=detector,
                keypoint_checkpoint=keypoint_checkpoint, keypoint_config=keypoint_config, crop=crop, box=box,
                min_confidence=min_confidence, height=height, joint_threshold=joint_threshold,
                track_rule=track_rule))
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a file; give a folder for the outputs")
    check_writable(out / f"{_name_of(src)}_3d.npz", "--out")
    name = _name_of(src)
    single_image = is_image(src)
    is_frames = src.is_dir() or is_video(src) or single_image
    if single_image and render == "mp4":
        render = "png"  # one frame
    detector_given = detector is not None
    if detector is None:
        detector = "multitask" if keypoint_checkpoint is not None else "mediapipe"
    if detector not in DETECTORS:
        raise UsageError(f"detector {detector!r}: use one of {DETECTORS}")
    multitask_opts = keypoint_checkpoint is not None or keypoint_config is not None \
        or min_confidence is not None or crop != "centre"
    if box is not None and (len(box) not in (3, 4) or min(box[2:]) <= 0):
        raise UsageError(f"--box {' '.join(f'{v:g}' for v in box)}: give X0 Y0 W H in pixels (or X0 Y0 SIDE)")
    if not is_frames and (multitask_opts or detector_given or box is not None):
        raise UsageError(f"input {str(src)!r} is a keypoint file: detector options (--keypoints "
                              f"{detector}, --keypoint-checkpoint, --crop, --box, --min-confidence) apply "
                              f"to videos and image folders")
    if is_frames and keypoint_layout is not None:
        raise UsageError(f"input {str(src)!r} is a video or an image folder: --keypoints "
                              f"{keypoint_layout} checks a keypoint file's layout; choose the detector with "
                              f"--keypoints mediapipe|multitask")
    if detector == "mediapipe" and multitask_opts:
        raise UsageError(f"input {str(src)!r}: --keypoint-checkpoint/--keypoint-config/--crop/"
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
            from poseact.infer.multitask_keypoints import crop_box, load_keypoint_model, square_box

            box = square_box(box)

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
            from poseact.infer.multitask_keypoints import (
                DEFAULT_MIN_CONFIDENCE,
                detect_multitask,
            )

            keypoint_file = detect_multitask(
                src, tmp / f"{name}_keypoints.json", keypoint_model, crop=crop, box=box,
                min_confidence=DEFAULT_MIN_CONFIDENCE if min_confidence is None else min_confidence)
        elif frames_source is not None:
            from poseact.infer.detect import detect

            keypoint_file = detect(src, tmp / f"{name}_keypoints.json",
                                   person=None if track_rule in (None, "none") else track_rule, box=box)
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
        lost = np.zeros(track.num_frames, bool)
        others = None  # the other people per frame, from the tracking stage
        if keypoint_model is None and frames_source is not None:
            tracking = json.loads(keypoint_file.read_text()).get("tracking")
            others = (tracking or {}).get("others")
            if tracking and tracking.get("chosen") is not None:
                lost[[t for t in tracking["lost_frames"] if t < len(lost)]] = True
                why = ", ".join(f"{len(v)} {k.replace('_', ' ')}" for k, v in tracking.get("lost_why", {}).items() if v)
                track.person = (f"followed by the body: {tracking['why']}; the subject is lost in {int(lost.sum())} "
                                f"frame{'s' if lost.sum() != 1 else ''}" + (f" ({why})" if why else "")
                                + " (flagged, never filled from another person)")
            else:
                track.person = ("one person per frame (MediaPipe Pose is single-person: the most prominent one)"
                                + (f"; {tracking['why']}" if tracking else ""))
        if video is not None:
            frames_source = Path(video)
        width, height_px = image_size or (track.width, track.height)
        if frames_source is not None and (width is None or height_px is None or not (fps or track.fps)):
            info = video_info(frames_source)
            if width is None or height_px is None:
                width, height_px = info["width"], info["height"]
            fps = fps or track.fps or info["fps"]
        if width is None or height_px is None:
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
        cleaning = None
        if clean and track.num_frames >= 3:
            from poseact.infer.clean2d import clean_2d

            track.keypoints, track.confidence, unsure, cleaning = clean_2d(
                track.keypoints, track.confidence, track.layout, others)
            lost = lost | unsure
        kps, conf, flagged, report = fill_gaps(track.keypoints, track.confidence, max_gap, where=where)
        flagged = flagged | lost
        kps, conf = convert_layout(kps, conf, track.layout, lifter.layout_2d, where=where)
        joints, too_few = _joint_report(kps, conf, int(width), int(height_px), lifter.layout_2d, joint_threshold)
        flagged = flagged | too_few
        if single_image and too_few.any():
            return _report_unlifted(src, out, tmp, name, joints, track.person)
        pose, trajectory = lift(lifter, kps, conf, int(width), int(height_px), tta=tta)
        try:
            pose, trajectory, body = bones.apply_body_rules(
                pose, trajectory, lifter.layout_3d, ~flagged, height,
                len(pose) > 1 if constant_bones is None else constant_bones)
        except ValueError as e:  # a degenerate lift (every joint at the root)
            raise KeypointFileError(f"the lifted poses cannot be scaled to --height {height}: {e}") from None
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
            "fps": fps, "width": int(width), "height": int(height_px), "frames": int(len(pose)),
            "flip_tta": tta, "body": body, "joints": joints,
            "cleaning": {**cleaning.as_dict(), "summary": cleaning.summary()} if cleaning is not None else None,
        }
        arrays = {"pose3d": pose, "keypoints_2d": kps, "confidence": conf, "flagged": flagged,
                  "fps": np.float32(fps), "width": np.int32(width), "height": np.int32(height_px),
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
                         (int(width), int(height_px)), fps, background=background, height=render_height,
                         azimuth=azimuth, limit=render_limit, flagged=flagged)
        moved = _publish(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if created and not moved and out.exists() and not any(out.iterdir()):
            out.rmdir()
    return InferResult(moved[f"{name}_3d.npz"], moved[f"{name}_3d.json"],
                       moved.get(render_name) if render_name else None, len(pose), track.person,
                       report.summary(), moved.get(keypoint_file.name) if keypoint_file != src else None,
                       _body_line(body, len(pose)), joints["summary"],
                       cleaning=cleaning.summary() if cleaning is not None else "")


def _publish(tmp: Path, out: Path) -> dict[str, Path]:
    """Move every file of the temporary folder ``tmp`` into ``out`` → ``{name: new path}``."""
    moved = {}
    for f in sorted(tmp.iterdir()):
        f.replace(out / f.name)
        moved[f.name] = out / f.name
    return moved


def _joint_report(kps: np.ndarray, conf: np.ndarray, width: int, height: int, layout: str,
                  threshold: float) -> tuple[dict, np.ndarray]:
    """Which detected joints are unreliable (below ``threshold`` confidence or outside the image), per
    frame, and which fully detected frames have too few reliable joints (:data:`MIN_RELIABLE_FRACTION`).
    Entries filled over a gap (confidence 0) are the gap report's, not counted here. Returns the
    report (for the JSON) and the ``(T,)`` mask of frames with too few reliable joints."""
    names = get_skeleton(layout).joint_names or tuple(str(j) for j in range(kps.shape[1]))
    inside = (kps[..., 0] >= 0) & (kps[..., 0] < width) & (kps[..., 1] >= 0) & (kps[..., 1] < height)
    detected = conf > 0  # filled entries have confidence 0: the gap report covers them
    unreliable = detected & ((conf < threshold) | ~inside)
    need = int(np.ceil(MIN_RELIABLE_FRACTION * kps.shape[1]))
    too_few = detected.all(1) & ((~unreliable).sum(1) < need)
    per_joint = unreliable.sum(0)
    worst = [f"{names[j]} ({int(per_joint[j])})" for j in np.argsort(-per_joint) if per_joint[j]][:6]
    summary = (f"{int(unreliable.any(1).sum())} of {len(kps)} frames with unreliable joints "
               f"(confidence < {threshold:g} or outside the image)" + (f": {', '.join(worst)}" if worst else "")
               + (f"; {int(too_few.sum())} frames with fewer than {need} reliable joints flagged"
                  if too_few.any() else ""))
    return {"threshold": threshold, "min_reliable_joints": need,
            "unreliable": {int(t): [names[j] for j in np.flatnonzero(row)] for t, row in enumerate(unreliable)
                           if row.any()},
            "too_few_frames": np.flatnonzero(too_few).tolist(), "summary": summary}, too_few


def _report_unlifted(src: Path, out: Path, tmp: Path, name: str, joints: dict, person: str) -> InferResult:
    """A photo whose pose has too few reliable joints: ``<name>_3d.json`` says so; no 3-D is written."""
    missing = joints["unreliable"].get(0, [])
    reason = (f"not lifted: {len(missing)} of the pose's joints are unreliable ({', '.join(missing)}; confidence "
              f"< {joints['threshold']:g} or outside the image), fewer than {joints['min_reliable_joints']} "
              f"reliable joints remain (a partly visible person, e.g. legs off the image, lifts to a guess)")
    doc = {"source": str(src), "lifted": False, "reason": reason, "person": person, "joints": joints}
    (tmp / f"{name}_3d.json").write_text(json.dumps(doc))
    moved = _publish(tmp, out)  # the caller's ``finally`` removes the emptied ``tmp``
    return InferResult(None, moved[f"{name}_3d.json"], None, 1, person, "", moved.get(f"{name}_keypoints.json"),
                       reason, joints["summary"])


def _run_photos(folder: Path, sizes: list[tuple[str, int, int]], options: dict) -> InferResult:
    """A folder of unrelated photos: each lifted as one frame at its own size. Photos whose names
    differ only in their suffix are linked under their full names (``a.jpg`` → ``a.jpg_3d.json``) so
    no output overwrites another; if one photo fails, the outputs of those before it are removed."""
    import tempfile

    stems = [Path(n).stem for n, _, _ in sizes]
    results: list[InferResult] = []
    with tempfile.TemporaryDirectory(prefix="poseact-photos-") as links:
        try:
            for (file_name, _, _), stem in zip(sizes, stems):
                source = folder / file_name
                if stems.count(stem) > 1:  # a.jpg and a.png: name the outputs by the full file name
                    source = Path(links) / f"{file_name}{Path(file_name).suffix}"
                    source.symlink_to((folder / file_name).absolute())
                results.append(run_infer(source, **options))
        except BaseException:
            for r in results:
                for p in (r.npz, r.json, r.render, r.keypoints):
                    if p is not None:
                        Path(p).unlink(missing_ok=True)
            raise
    lifted = sum(r.npz is not None for r in results)
    summary = (f"{len(results)} photos of {len({(w, h) for _, w, h in sizes})} sizes, each lifted as one frame "
               f"at its own size: {lifted} lifted, {len(results) - lifted} reported (too few reliable joints)")
    first = results[0]
    return InferResult(first.npz, first.json, first.render, len(results), summary, "", None, "", "",
                       photos=results)


def _body_line(body: dict, frames: int = 2) -> str:
    scale = (f"scaled x{body['scale']:.2f} to a {body['height_m']:.2f} m stature" if body.get("height_m")
             else body["rule"])
    if body["constant_bones"]:
        bones_ = "one length per bone"
    elif body["bones"].get("frames", 2) < 2 or frames < 2:
        bones_ = "one frame: bone lengths as lifted"
    else:
        bones_ = f"bone lengths vary by up to {body['bones']['largest_spread_m'] * 100:.1f} cm"
    return f"{scale}; {bones_}"
