"""Penn Action: ``labels/NNNN.mat`` (one per video) + ``frames/NNNN/000001.jpg`` ... -> a store.

Label file fields (the dataset's own format): ``action`` (class name), ``pose`` (camera view: front,
back, left, right, ...), ``x``, ``y``, ``visibility`` (``nframes × 13``, joints in the ``penn13``
order: head, left/right shoulder, elbow, wrist, hip, knee, ankle), ``train`` (1 train, -1 test),
``bbox`` (``nframes × 4`` x_min, y_min, x_max, y_max; a few videos have fewer rows), ``dimensions``
(height, width, nframes), ``nframes``.

One clip per video: subject ``train``/``test``, take = the video id, action = the class (15 classes in
a fixed order, :data:`PENN_ACTIONS`), one camera row per video (its resolution, no calibration).
Joints with visibility 0 or a coordinate ≤ 0 are NaN (spec §6.2). Per-frame boxes: the square of
1.5× the visible joints' extent (≥ 32 px), else the annotated ``bbox`` row. Left/right: spec §10
quirk 6, see :func:`~poseact.convert.frames.left_right_decision` (the check uses front- and
back-view videos: seen from the front, the person's left is on the image's right).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from poseact.geometry.boxes import person_box
from poseact.convert.frames import (
    BadInput,
    image_ref,
    left_right_decision,
    missing_files,
    require_path,
)
from poseact.convert.matfile import array, load_mat, number, text
from poseact.convert.npz import ConversionError, PathLike
from poseact.store import CameraTable, StoreBuilder, StoreError, write_store
from poseact.geometry.tables import CameraCalibration
from poseact.layouts import joint_map, map_joints
from poseact.skeleton import get_skeleton

#: the 15 Penn Action classes, in label-id order (alphabetical)
PENN_ACTIONS: tuple[str, ...] = (
    "baseball_pitch", "baseball_swing", "bench_press", "bowl", "clean_and_jerk", "golf_swing", "jump_rope",
    "jumping_jacks", "pullup", "pushup", "situp", "squat", "strum_guitar", "tennis_forehand", "tennis_serve")
PENN_JOINTS = 13
FRAME_NAME = "{frame:06d}.jpg"


def _load_video(path: Path, log: BadInput) -> dict | None:
    """The fields of one label file, checked; None (counted skip) or ConversionError on bad input."""
    where = str(path)
    try:
        mat = load_mat(path, "Penn Action label file")
    except ConversionError as e:
        log.bad("unreadable label files", str(e))
        return None
    need = ("action", "x", "y", "visibility", "train", "nframes", "dimensions")
    lacking = [k for k in need if k not in mat]
    if lacking:
        log.bad("label files with missing fields", f"{where}: no {lacking} (variables: {sorted(mat)})")
        return None
    n = number(mat["nframes"])
    if n is None or n != int(n) or n < 1:
        log.bad("label files with a bad nframes", f"{where}: nframes {mat['nframes']!r} is not a positive integer")
        return None
    n = int(n)
    try:
        x = array(mat["x"], f"{where}: x", (n, PENN_JOINTS))
        y = array(mat["y"], f"{where}: y", (n, PENN_JOINTS))
        vis = array(mat["visibility"], f"{where}: visibility", (n, PENN_JOINTS))
        dims = array(mat["dimensions"], f"{where}: dimensions", (3,))
    except ConversionError as e:
        log.bad("label files with wrong shapes",
                f"{e} (Penn Action has {PENN_JOINTS} joints per frame; another joint count has no mapping)")
        return None
    if int(dims[2]) != n or dims[0] < 1 or dims[1] < 1:
        log.bad("label files with inconsistent dimensions",
                f"{where}: dimensions {dims.astype(int).tolist()} (height, width, nframes) disagree with nframes {n}")
        return None
    action = text(mat["action"])
    if action not in PENN_ACTIONS:
        log.bad("videos of unknown actions", f"{where}: action {action!r} is not a Penn Action class "
                                            f"{list(PENN_ACTIONS)}")
        return None
    split = number(mat["train"])
    if split not in (1.0, -1.0):
        log.bad("videos without a split", f"{where}: train = {mat['train']!r}, expected 1 or -1")
        return None
    bbox = None
    if "bbox" in mat and np.asarray(mat["bbox"]).size and np.asarray(mat["bbox"]).size % 4 == 0:
        try:
            bbox = np.asarray(mat["bbox"], dtype=np.float64).reshape(-1, 4)[:n]
        except (TypeError, ValueError):
            bbox = None
    return {"n": n, "x": x, "y": y, "vis": vis, "height": int(dims[0]), "width": int(dims[1]), "action": action,
            "split": "train" if split == 1 else "test", "bbox": bbox, "view": (text(mat.get("pose")) or "").lower()}


def _facing_votes(kp: np.ndarray, view: str) -> tuple[int, int]:
    """Quirk-6 check on one video: ``(person-centric frames, checked frames)``. Front view: the person's
    left is on the image's right; back view: on its left. Shoulders and hips must be visible."""
    if view not in ("front", "back"):
        return 0, 0
    sk = get_skeleton("penn13")
    names = sk.joint_names
    lsh, rsh, lhip, rhip = (names.index(n) for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip"))
    ok = np.isfinite(kp[:, [lsh, rsh, lhip, rhip], 0]).all(1)
    dx = (kp[ok, lsh, 0] - kp[ok, rsh, 0]) + (kp[ok, lhip, 0] - kp[ok, rhip, 0])
    centric = dx > 0 if view == "front" else dx < 0
    return int(centric.sum()), int(ok.sum())


def convert_penn_action(root: PathLike | None, out: PathLike, layout: str = "mpii16", left_right: str = "auto",
                        labels: PathLike | None = None, frames: PathLike | None = None,
                        on_bad: str = "error") -> Path:
    """Penn Action -> store at ``out`` (2-D, ``frames/image_ref``, per-frame boxes, 15 actions).

    Args:
        root: the dataset folder holding ``labels/`` and ``frames/`` (or give both explicitly).
        layout: ``mpii16`` (deephar's pa16j; pelvis, thorax, neck missing) or ``h36m17``.
        left_right: ``auto`` (decided from the front/back-view videos), ``keep`` or ``swap`` (deephar).
        on_bad: ``error`` or ``skip`` (counted) for unreadable label files, missing frames, boxes outside
            the image, wrong shapes / joint counts.
    """
    from poseact.store.images import image_size

    joint_map("penn13", layout)  # fails early on a layout without a mapping
    if root is None and (labels is None or frames is None):
        raise ConversionError("give the Penn_Action folder, or both the labels and frames folders")
    label_dir = require_path(labels if labels is not None else Path(root) / "labels", "Penn Action labels folder",
                             is_dir=True)
    frame_dir = require_path(frames if frames is not None else Path(root) / "frames", "Penn Action frames folder",
                             is_dir=True)
    files = sorted(label_dir.glob("*.mat"))
    if not files:
        raise ConversionError(f"{label_dir}: no label files (*.mat)")
    log = BadInput("penn_action", on_bad)
    videos = []
    votes = np.zeros(2, dtype=np.int64)
    for path in files:
        video = _load_video(path, log)
        if video is None:
            continue
        n, vid = video["n"], path.stem
        kp = np.stack([video["x"], video["y"]], -1)
        kp[(video["vis"] == 0) | ~(kp[..., 0] > 0) | ~(kp[..., 1] > 0)] = np.nan
        paths = [frame_dir / vid / FRAME_NAME.format(frame=f + 1) for f in range(n)]
        lost = missing_files(paths)
        if lost:
            log.bad("videos with missing frames", f"{path}: {len(lost)} of {n} frame files missing (first: {lost[0]})")
            continue
        try:
            size = image_size(paths[0], str(path))
        except StoreError as e:
            log.bad("videos with unreadable frames", str(e))
            continue
        if size != (video["width"], video["height"]):
            log.bad("videos whose frames disagree with dimensions",
                    f"{path}: dimensions say {video['width']}x{video['height']} but {paths[0]} is {size[0]}x{size[1]}")
            continue
        boxes = np.stack([person_box(k) for k in kp])
        if video["bbox"] is not None:
            rows = np.arange(min(n, len(video["bbox"])))
            fill = rows[~np.isfinite(boxes[rows]).all(1)]
            bb = video["bbox"]
            good = fill[(bb[fill, 2] > bb[fill, 0]) & (bb[fill, 3] > bb[fill, 1])]
            boxes[good] = bb[good]
        if log.boxes_outside(boxes, video["width"], video["height"], "videos with boxes outside the image",
                             lambda k: f"{path}: frame {k + 1}"):
            continue
        votes += _facing_votes(kp, video["view"])
        videos.append((vid, video, kp, boxes, paths))
    if not videos:
        raise ConversionError(f"{label_dir}: no video was converted ({'; '.join(log.summary())})")
    swap = left_right_decision(left_right, int(votes[0]), int(votes[1]), log, "front/back-view videos, "
                               "shoulders and hips visible")
    jmap = joint_map("penn13", layout, swap_sides=swap)
    cams = CameraTable.from_calibrations([(v["split"], CameraCalibration(id=vid, res_w=v["width"], res_h=v["height"],
                                                                         azimuth=0.0)) for vid, v, *_ in videos])
    builder = StoreBuilder(cams, layout, layout, 30.0, f"penn_action: {label_dir}", actions=list(PENN_ACTIONS),
                           partial=True)
    for row, (vid, video, kp, boxes, paths) in enumerate(videos):
        builder.add_clip(video["split"], video["action"], vid, row, map_joints(kp, jmap),
                         image_ref=[image_ref(p, out) for p in paths], boxes=boxes)
    log.warn()
    builder.notes.extend(log.summary())
    return write_store(out, builder.build())
