"""The write stage: ``<name>_3d.npz``, ``<name>_3d.json`` and the render, into a temporary folder that
:func:`publish` moves into the output folder at the end (a failure leaves nothing behind)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def write_pose(tmp: Path, name: str, meta: dict, lifted, fps: float, width: int, height_px: int,
               layout_2d: str, layout_3d: str) -> None:
    """``<name>_3d.npz`` (arrays) and ``<name>_3d.json`` (``meta`` + poses as nested lists, mm precision)."""
    pose, trajectory = lifted.pose, lifted.trajectory
    arrays = {"pose3d": pose, "keypoints_2d": lifted.keypoints_2d, "confidence": lifted.confidence,
              "flagged": lifted.flagged, "fps": np.float32(fps), "width": np.int32(width),
              "height": np.int32(height_px), "layout_2d": np.str_(layout_2d), "layout_3d": np.str_(layout_3d)}
    if trajectory is not None:
        arrays["trajectory"] = trajectory
    np.savez_compressed(tmp / f"{name}_3d.npz", **arrays)
    doc = {**meta, "pose3d": np.round(pose, 4).tolist()}
    if trajectory is not None:
        doc["trajectory_m"] = np.round(trajectory, 4).tolist()
    doc["flagged_frames"] = np.flatnonzero(lifted.flagged).tolist()
    (tmp / f"{name}_3d.json").write_text(json.dumps(doc))


def write_render(tmp: Path, name: str, render: str, lifted, layout_2d: str, layout_3d: str,
                 size: tuple[int, int], fps: float, frames_source: Path | None, render_height: int | None,
                 view_turn: float | None, limit: int | None) -> str:
    """``<name>.<render>``: the input 2-D (over the video's frames when there are any) beside the 3-D."""
    from poseact.viz.render import render_video
    from poseact.viz.video import iter_frames

    out = f"{name}.{render}"
    trajectory = lifted.trajectory
    poses = {"Reconstruction": lifted.pose + (trajectory[:, None] - trajectory[:1, None]
                                              if trajectory is not None else 0)}
    background = iter_frames(frames_source) if frames_source is not None else None
    render_video(tmp / out, lifted.keypoints_2d, layout_2d, poses, layout_3d, size, fps, background=background,
                 height=render_height, view_turn=view_turn, limit=limit, flagged=lifted.flagged)
    return out


def write_unlifted(tmp: Path, src: Path, name: str, joints: dict, person: str) -> str:
    """A photo whose pose has too few reliable joints: ``<name>_3d.json`` says so; returns the reason."""
    missing = joints["unreliable"].get(0, [])
    reason = (f"not lifted: {len(missing)} of the pose's joints are unreliable ({', '.join(missing)}; confidence "
              f"< {joints['threshold']:g} or outside the image), fewer than {joints['min_reliable_joints']} "
              f"reliable joints remain (a partly visible person, e.g. legs off the image, lifts to a guess)")
    doc = {"source": str(src), "lifted": False, "reason": reason, "person": person, "joints": joints}
    (tmp / f"{name}_3d.json").write_text(json.dumps(doc))
    return reason


def publish(tmp: Path, out: Path) -> dict[str, Path]:
    """Move every file of the temporary folder ``tmp`` into ``out`` → ``{name: new path}``."""
    moved = {}
    for f in sorted(tmp.iterdir()):
        f.replace(out / f.name)
        moved[f.name] = out / f.name
    return moved
