"""Human3.6M frames: images extracted from the videos + the pose store of ``prepare_h36m.py`` -> a store.

The pose store (:func:`~poseact.convert.convert_h36m`) holds, per (take, camera) clip, the 3-D
in camera space (metres, absolute) and the calibrated cameras. This converter pairs its labeled clips
with video frames extracted to ``frames/<pattern>``, by default
``<subject>/<take>.<camera>/<frame:06d>.jpg`` (the dataset's ``<subject>/Videos/<take>.<camera>.mp4``
extracted with ``ffmpeg -i "<take>.<camera>.mp4" -q:v 2 "<take>.<camera>/%06d.jpg"``; store frame
``i`` is video frame ``i + 1``), at the videos' own resolution.

2-D = the 3-D projected through the camera with its distortion (ground truth, pixels); 3-D, world 3-D,
cameras, subjects and actions are copied. Keep every ``frame_step``-th frame (deephar trains on every
5th: 10 fps). Per-frame box (spec §6.2): centred on the projected root, a square of 2.25 m at the
root's depth (side = 2.25 · f / z_root pixels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from poseact.convert.frames import BadInput, frame_paths, image_ref, missing_files, require_path
from poseact.convert.npz import ConversionError, PathLike
from poseact.store import StoreBuilder, StoreError, open_store, write_store
from poseact.geometry import image_coordinates, project_to_2d
from poseact.layouts import joint_map, map_joints

DEFAULT_PATTERN = "{subject}/{take}.{camera}/{frame:06d}.jpg"
#: side of the crop square at the root's depth, metres (spec §6.2: "about a 2.25 m square")
CROP_EXTENT_M = 2.25


def convert_h36m_frames(pose_store: PathLike, frames: PathLike, out: PathLike, layout: str = "h36m17",
                        pattern: str = DEFAULT_PATTERN, frame_step: int = 5, subjects: list[str] | None = None,
                        on_bad: str = "error") -> Path:
    """Human3.6M pose store + extracted frames -> store at ``out`` (2-D by projection, 3-D, image refs, boxes).

    Args:
        pose_store: a store written by ``data_prep/prepare_h36m.py`` with ``--data-3d`` (3-D in camera space,
            cameras with intrinsics). Unlabeled clips (no 3-D) are skipped (counted).
        frames: root of the extracted frames; ``pattern``: a file below it, fields ``subject``, ``take``,
            ``camera`` (the camera's name, e.g. 54138969), ``frame`` (1-based), ``index`` (0-based).
        layout: ``h36m17`` or ``mpii16`` (mapped from the pose store's 3-D layout).
        frame_step: keep store frames 0, k, 2k, ...; fps becomes the store's fps / k.
        subjects: only these subjects (default: all).
        on_bad: ``error`` or ``skip`` (counted) for missing/unreadable frames, frames at another resolution,
            boxes outside the image.
    """
    from poseact.store.images import image_size

    if frame_step < 1:
        raise ConversionError(f"frame_step must be >= 1, got {frame_step}")
    try:
        src = open_store(require_path(pose_store, "Human3.6M pose store"))
    except StoreError as e:
        raise ConversionError(str(e)) from None
    if src.pose3d is None:
        raise ConversionError(f"{pose_store}: no 3-D (frames/pose3d); convert it with --data-3d")
    jmap = joint_map(src.layout_3d, layout)  # LayoutMappingError (a ValueError) names both layouts
    frame_dir = require_path(frames, "Human3.6M frames folder", is_dir=True)
    if subjects is not None:
        unknown = sorted(set(subjects) - set(src.clips.subject))
        if unknown:
            raise ConversionError(f"{pose_store}: subjects {unknown} not in the store "
                                  f"(there: {sorted(set(src.clips.subject))})")
    log = BadInput("human3.6m frames", on_bad)
    intr = src.cameras.normalized_intrinsics()
    labeled = src.labeled_clips()
    builder = StoreBuilder(src.cameras, layout, layout, src.fps / frame_step,
                           f"human3.6m frames: {Path(pose_store).name} + {frame_dir}", actions=list(src.actions),
                           partial=bool((jmap < 0).any()))
    c = src.clips
    for row in range(len(c)):
        if subjects is not None and c.subject[row] not in subjects:
            continue
        name = src.clip_name(row)
        if not labeled[row]:
            log.skip("clips without 3-D", name)
            continue
        cam = int(c.camera[row])
        if not np.isfinite(intr[cam]).all():
            raise ConversionError(f"{pose_store}: camera row {cam} ({src.cameras.name[cam]}) of clip {name} has no "
                                  f"intrinsics, so the 3-D cannot be projected")
        width, height = (int(v) for v in src.cameras.res[cam])
        idx = np.arange(0, int(c.length[row]), frame_step)
        fields = dict(subject=c.subject[row], take=c.take[row], camera=src.cameras.name[cam])
        paths = frame_paths(frame_dir, pattern, idx, fields)
        lost = missing_files(paths)
        if lost:
            log.bad("clips with missing frames", f"clip {name}: {len(lost)} of {len(paths)} frame files missing "
                                                  f"(first: {lost[0]})")
            continue
        try:
            size = image_size(paths[0], f"clip {name}")
        except StoreError as e:
            log.bad("clips with unreadable frames", str(e))
            continue
        if size != (width, height):
            log.bad("clips with frames at another resolution",
                    f"clip {name}: {paths[0]} is {size[0]}x{size[1]}, the camera's video {width}x{height} "
                    f"(extract frames at the original resolution)")
            continue
        frames_idx = c.start[row] + idx
        pose3d = src.pose3d[frames_idx].astype(np.float64)
        kp = image_coordinates(project_to_2d(pose3d, intr[cam].astype(np.float64)), width, height)
        k = src.cameras.intrinsics[cam]
        f_px = (k[0] + k[1]) / 2
        root_uv, root_z = kp[:, 0], pose3d[:, 0, 2]
        half = CROP_EXTENT_M * f_px / root_z / 2
        boxes = np.concatenate([root_uv - half[:, None], root_uv + half[:, None]], 1)
        if log.boxes_outside(boxes, width, height, "clips with boxes outside the image",
                             lambda k: f"clip {name} frame {int(idx[k])}"):
            continue
        world = src.pose3d_world[frames_idx] if src.pose3d_world is not None else None
        action = src.actions[c.action[row]] if c.action[row] >= 0 else None
        builder.add_clip(c.subject[row], action, c.take[row], cam, map_joints(kp, jmap),
                         pose3d=map_joints(pose3d, jmap),
                         pose3d_world=map_joints(world, jmap) if world is not None else None,
                         image_ref=[image_ref(p, out) for p in paths], boxes=boxes)
    if not len(builder):
        raise ConversionError(f"{pose_store}: no clip was converted ({'; '.join(log.summary()) or 'none selected'})")
    log.warn()
    builder.notes.extend(log.summary())
    return write_store(out, builder.build())
