"""NTU RGB+D: ``.skeleton`` files (Kinect v2) + frames extracted from the RGB videos -> a store.

``.skeleton`` text format (one value group per line)::

    <frame count>
    per frame:  <body count>
      per body: <bodyID clippedEdges handLeftConfidence handLeftState handRightConfidence
                 handRightState isRestricted leanX leanY trackingState>          (10 values)
                <joint count = 25>
                per joint: <x y z depthX depthY colorX colorY orientationW orientationX
                            orientationY orientationZ trackingState>            (12 values)

x, y, z: Kinect camera space (metres); colorX, colorY: pixels of the 1920×1080 RGB video. The file
name ``SsssCcccPpppRrrrAaaa`` gives setup, camera, performer, replication and action (A001–A060,
NTU-120 up to A120).

One clip per file: the body tracked in the most frames (other bodies are counted in the notes),
subject = performer ``Pppp`` (cross-subject splits select performers), take = the file name,
action = ``Aaaa`` (label id = number − 1). Frames: ``frames/<pattern>``, by default
``<name>/<frame:05d>.jpg`` with the video's 1-based frame number (``ffmpeg -i <name>_rgb.avi
<name>/%05d.jpg``), at any 16:9 resolution (colour coordinates are scaled to it, e.g. deephar's
960×540). A joint is valid if colorX, colorY and z are all > 0 (spec §6.2), else NaN.

3-D: the colour pixel back-projected at the Kinect depth z through the RGB camera's intrinsics
(NTU ships none: the Kinect v2 factory defaults :data:`KINECT_V2_COLOR` unless given), so
``pose3d`` lies in the image's own camera frame (x right, y down, z forward) and projects exactly
onto the keypoints. Per-frame boxes: 1.5× the valid joints' extent (≥ 32 px). Left/right (spec §10
quirk 6): checked in 3-D, the feet giving the facing direction.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from poseact.geometry.boxes import person_box
from poseact.convert.frames import (
    BadInput,
    frame_paths,
    image_ref,
    left_right_decision,
    missing_files,
    require_path,
)
from poseact.convert.npz import ConversionError, PathLike
from poseact.store import CameraTable, StoreBuilder, StoreError, write_store
from poseact.geometry.tables import CameraCalibration
from poseact.layouts import joint_map, map_joints
from poseact.skeleton import get_skeleton

#: fx, fy, cx, cy (pixels) of the Kinect v2 RGB camera at 1920×1080 (libfreenect2's factory defaults)
KINECT_V2_COLOR: tuple[float, float, float, float] = (1081.37, 1081.37, 959.5, 539.5)
COLOR_SIZE = (1920, 1080)
NTU_JOINTS = 25
NTU_FPS = 30.0
NAME = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")
DEFAULT_PATTERN = "{name}/{frame:05d}.jpg"


class SkeletonFileError(ConversionError):
    """A ``.skeleton`` file does not follow the format; the message names the file and line."""


def read_skeleton(path: PathLike) -> list[list[tuple[str, np.ndarray]]]:
    """Parse one ``.skeleton`` file: per frame a list of ``(bodyID, joints (25, 12) float64)``.

    Raises :class:`SkeletonFileError` (file and line number) on any deviation from the format,
    including a joint count other than 25 (no mapping for another layout).
    """
    path = Path(path)
    try:
        lines = path.read_text().split("\n")
    except (OSError, UnicodeDecodeError) as e:
        raise SkeletonFileError(f"{path}: cannot read ({e})") from None
    pos = 0

    def values(count: int | None, what: str) -> list[str]:
        nonlocal pos
        while pos < len(lines) and not lines[pos].strip():
            pos += 1
        if pos >= len(lines):
            raise SkeletonFileError(f"{path}: ended early, expected {what} at line {pos + 1}")
        parts = lines[pos].split()
        pos += 1
        if count is not None and len(parts) != count:
            raise SkeletonFileError(f"{path}: line {pos}: {len(parts)} values, expected {count} ({what})")
        return parts

    def integer(what: str) -> int:
        (v,) = values(1, what)
        try:
            n = int(v)
        except ValueError:
            raise SkeletonFileError(f"{path}: line {pos}: {v!r} is not an integer ({what})") from None
        if n < 0:
            raise SkeletonFileError(f"{path}: line {pos}: negative {what} {n}")
        return n

    frames = []
    for _ in range(integer("the frame count")):
        bodies = []
        for _ in range(integer("a body count")):
            body_id = values(10, "a body info line")[0]
            joints = integer("the joint count")
            if joints != NTU_JOINTS:
                raise SkeletonFileError(f"{path}: line {pos}: {joints} joints; NTU RGB+D (Kinect v2) has "
                                        f"{NTU_JOINTS} and no mapping exists for another layout")
            rows = [values(12, "a joint line") for _ in range(joints)]
            try:
                bodies.append((body_id, np.array(rows, dtype=np.float64)))
            except ValueError:
                raise SkeletonFileError(f"{path}: lines {pos - joints + 1}-{pos}: non-numeric joint values") from None
        frames.append(bodies)
    if any(line.strip() for line in lines[pos:]):
        raise SkeletonFileError(f"{path}: unexpected content after the last frame (line {pos + 1})")
    return frames


def _main_body(frames: list[list[tuple[str, np.ndarray]]]) -> tuple[np.ndarray, int]:
    """``(joints (F, 25, 12) NaN where absent, number of other bodies)`` of the body seen most often."""
    counts: dict[str, int] = {}
    for bodies in frames:
        for body_id, _ in bodies:
            counts[body_id] = counts.get(body_id, 0) + 1
    main = max(counts, key=lambda b: counts[b])  # first seen wins a tie
    out = np.full((len(frames), NTU_JOINTS, 12), np.nan)
    for f, bodies in enumerate(frames):
        for body_id, joints in bodies:
            if body_id == main:
                out[f] = joints
                break
    return out, len(counts) - 1


def _facing_votes(pose3d: np.ndarray) -> tuple[int, int]:
    """Quirk-6 check: ``(person-centric frames, checked frames)`` from the native ``ntu25`` 3-D in a
    right-handed camera frame. With the feet pointing forward and the spine up, the person's left is
    ``up × forward``; a frame is person-centric if the labelled left shoulder/hip lie on that side."""
    names = get_skeleton("ntu25").joint_names
    j = {n: names.index(n) for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip", "pelvis",
                                      "thorax", "left_ankle", "left_foot", "right_ankle", "right_foot")}
    p = pose3d
    across = (p[:, j["left_shoulder"]] - p[:, j["right_shoulder"]]) + (p[:, j["left_hip"]] - p[:, j["right_hip"]])
    up = p[:, j["thorax"]] - p[:, j["pelvis"]]
    forward = (p[:, j["left_foot"]] - p[:, j["left_ankle"]]) + (p[:, j["right_foot"]] - p[:, j["right_ankle"]])
    dot = np.einsum("fi,fi->f", across, np.cross(up, forward))
    ok = np.isfinite(dot) & (dot != 0)
    return int((dot[ok] > 0).sum()), int(ok.sum())


def convert_ntu(skeletons: PathLike, frames: PathLike, out: PathLike, layout: str = "h36m17",
                left_right: str = "auto", pattern: str = DEFAULT_PATTERN, frame_step: int = 1,
                color_intrinsics: tuple[float, float, float, float] | None = None,
                names: list[str] | None = None, on_bad: str = "error") -> Path:
    """NTU RGB+D -> store at ``out`` (2-D + 3-D, ``frames/image_ref``, per-frame boxes, actions A001…).

    Args:
        skeletons: folder of ``*.skeleton`` files; ``frames``: root of the extracted RGB frames.
        layout: ``h36m17`` (all 17 joints) or ``mpii16`` (deephar's pa16j).
        left_right: ``auto`` (3-D check), ``keep`` or ``swap`` (deephar's mapping).
        pattern: frame file below ``frames``; fields ``name``, ``frame`` (1-based), ``index`` (0-based),
            ``setup``, ``camera``, ``performer``, ``replication``, ``action`` (ints).
        frame_step: keep every k-th skeleton frame (TPAMI: 2); fps becomes 30 / k.
        color_intrinsics: fx, fy, cx, cy of the 1920×1080 RGB camera, pixels (default: Kinect v2's, ``KINECT_V2_COLOR``).
        names: only these sequence names (default: every file).
        on_bad: ``error`` or ``skip`` (counted) for malformed files, missing/unreadable frames,
            frames not 16:9, boxes outside the image.
    """
    from poseact.store.images import image_size

    joint_map("ntu25", layout)  # fails early on a layout without a mapping
    if frame_step < 1:
        raise ConversionError(f"frame_step must be >= 1, got {frame_step}")
    skel_dir = require_path(skeletons, "NTU skeleton folder", is_dir=True)
    frame_dir = require_path(frames, "NTU frames folder", is_dir=True)
    files = sorted(skel_dir.glob("*.skeleton"))
    if names is not None:
        wanted = set(names)
        files = [f for f in files if f.stem in wanted]
        unknown = wanted - {f.stem for f in files}
        if unknown:
            raise ConversionError(f"{skel_dir}: no .skeleton file for {sorted(unknown)[:5]}")
    if not files:
        raise ConversionError(f"{skel_dir}: no .skeleton files")
    fx, fy, cx, cy = (float(v) for v in (color_intrinsics or KINECT_V2_COLOR))
    log = BadInput("ntu", on_bad)
    clips = []
    votes = np.zeros(2, dtype=np.int64)
    extra_bodies = 0
    for path in files:
        m = NAME.match(path.stem)
        if m is None:
            log.bad("files with unparsable names", f"{path}: name is not SsssCcccPpppRrrrAaaa")
            continue
        setup, camera, performer, replication, action = (int(g) for g in m.groups())
        try:
            parsed = read_skeleton(path)
        except SkeletonFileError as e:
            log.bad("malformed skeleton files", str(e))
            continue
        if not any(parsed):
            log.skip("files without a skeleton (NTU's known missing-skeleton samples)", str(path))
            continue
        joints, others = _main_body(parsed)
        extra_bodies += others
        keep = np.arange(0, len(parsed), frame_step)
        joints = joints[keep]
        fields = dict(name=path.stem, setup=setup, camera=camera, performer=performer, replication=replication,
                      action=action)
        paths = frame_paths(frame_dir, pattern, keep, fields)
        lost = missing_files(paths)
        if lost:
            log.bad("sequences with missing frames",
                    f"{path}: {len(lost)} of {len(paths)} frame files missing (first: {lost[0]})")
            continue
        try:
            width, height = image_size(paths[0], str(path))
        except StoreError as e:
            log.bad("sequences with unreadable frames", str(e))
            continue
        r = width / COLOR_SIZE[0]
        if abs(height - COLOR_SIZE[1] * r) > 1.0:
            log.bad("sequences whose frames are not 16:9",
                    f"{paths[0]}: {width}x{height} is not a scaled copy of the "
                    f"{COLOR_SIZE[0]}x{COLOR_SIZE[1]} RGB video")
            continue
        u, v, z = joints[..., 5], joints[..., 6], joints[..., 2]
        valid = (u > 0) & (v > 0) & (z > 0)  # NaN (body absent) compares False
        uv = np.where(valid[..., None], np.stack([u, v], -1), np.nan)
        pose3d = np.stack([(uv[..., 0] - cx) * z / fx, (uv[..., 1] - cy) * z / fy, np.where(valid, z, np.nan)], -1)
        kp = uv * r
        boxes = np.stack([person_box(k) for k in kp])
        if log.boxes_outside(boxes, width, height, "sequences with boxes outside the image",
                             lambda k: f"{path}: frame {int(keep[k]) + 1}"):
            continue
        votes += _facing_votes(pose3d)
        clips.append((path.stem, performer, camera, action, (width, height), kp, pose3d, boxes, paths))
    if not clips:
        raise ConversionError(f"{skel_dir}: no sequence was converted ({'; '.join(log.summary())})")
    if extra_bodies:
        log.note(f"{extra_bodies} further bodies not converted (one clip per file: the body tracked longest)")
    swap = left_right_decision(left_right, int(votes[0]), int(votes[1]), log,
                               "3-D, facing direction from the feet")
    jmap = joint_map("ntu25", layout, swap_sides=swap)
    rows: dict[tuple[int, int, tuple[int, int]], int] = {}
    cams: list[tuple[str, CameraCalibration]] = []
    for _, performer, camera, _, (w, h), *_ in clips:
        key = (performer, camera, (w, h))
        if key not in rows:
            r = w / COLOR_SIZE[0]
            rows[key] = len(cams)
            cams.append((f"P{performer:03d}", CameraCalibration(
                id=f"C{camera:03d}", res_w=w, res_h=h, azimuth=0.0, focal_length=(fx * r, fy * r),
                center=(cx * r, cy * r), radial_distortion=(0.0, 0.0, 0.0), tangential_distortion=(0.0, 0.0))))
    max_action = max(60, max(c[3] for c in clips))
    builder = StoreBuilder(CameraTable.from_calibrations(cams), layout, layout, NTU_FPS / frame_step,
                           f"ntu_rgbd: {skel_dir} (RGB intrinsics fx {fx:g}, fy {fy:g}, cx {cx:g}, cy {cy:g} "
                           f"at 1920x1080)",
                           actions=[f"A{a:03d}" for a in range(1, max_action + 1)], partial=True)
    for name, performer, camera, action, res, kp, pose3d, boxes, paths in clips:
        builder.add_clip(f"P{performer:03d}", f"A{action:03d}", name, rows[(performer, camera, res)],
                         map_joints(kp, jmap), pose3d=map_joints(pose3d, jmap),
                         image_ref=[image_ref(p, out) for p in paths], boxes=boxes)
    log.warn()
    builder.notes.extend(log.summary())
    return write_store(out, builder.build())
