"""``poseact render``: one sequence of a store, predicted by a checkpoint, beside its ground truth.

Like VideoPose3D's ``--render`` (spec §8.1): the clip ``subject / take / camera`` is lifted
whole (edge padding, flip TTA unless turned off) and drawn as input 2-D (over the store's
images when it has them, else a black canvas of the camera's resolution), "Reconstruction"
and "Ground truth" (when the clip is labeled). Both 3-D panels are root-relative unless the
checkpoint has a trajectory model, in which case the prediction moves along its predicted
trajectory and the ground truth along its true one (each relative to its first frame).
The 3-D panels are seen from the camera's side (left is left, as in the 2-D panel), turned
``view_turn`` degrees about the vertical (default: the render's).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from poseact.errors import SelectionError
from poseact.layouts import convert_layout
from poseact.lifting.inference import lift, load_lifter
from poseact.run.folder import RunFolder


def find_clip(store, subject: str, take: str, camera: str) -> int:
    """Row of the clip; the error lists what the store has for that subject."""
    c = store.clips
    names = store.cameras.name[c.camera]
    hits = np.flatnonzero((c.subject == subject) & (c.take == take) & (names == camera))
    if not len(hits):
        takes = sorted(set(c.take[c.subject == subject].tolist()))
        cams = sorted(set(names[c.subject == subject].tolist()))
        raise SelectionError(f"store {store.path!r}: no clip {subject}/{take}/{camera}; subject {subject!r} has "
                       f"takes {takes[:12]} and cameras {cams}")
    return int(hits[0])


def render_sequence(cfg, subject: str, take: str, camera: str, output: str | Path, height: int | None = None,
                    fps: float | None = None, view_turn: float | None = None, limit: int | None = None,
                    tta: bool = True) -> Path:
    """Render one clip of ``cfg``'s store with ``cfg.checkpoint`` (or the run's last checkpoint)."""
    from poseact.lifting.datasets import resolve_store_path
    from poseact.store import open_store
    from poseact.viz.render import render_video

    ckpt = RunFolder(cfg.output_dir).resolve_checkpoint(cfg.checkpoint)
    store = open_store(resolve_store_path(cfg.data))
    lifter = load_lifter(ckpt, causal=cfg.model.causal, bin_layout=store.layout_2d)
    i = find_clip(store, subject, take, camera)
    s, n = int(store.clips.start[i]), int(store.clips.length[i])
    kps = store.keypoints[s:s + n]
    conf = store.confidence[s:s + n] if store.confidence is not None else np.ones(kps.shape[:2], np.float32)
    kps_in, conf_in = convert_layout(kps, conf, store.layout_2d, lifter.layout_2d, where=store.path)
    cam = int(store.clips.camera[i])
    w, h = (int(v) for v in store.cameras.res[cam])
    pose, trajectory = lift(lifter, kps_in, conf_in, w, h, tta=tta)
    poses = {"Reconstruction": pose}
    if trajectory is not None:
        poses["Reconstruction"] = pose + (trajectory - trajectory[:1])[:, None]
    if store.pose3d is not None and np.isfinite(store.pose3d[s]).all():
        gt = store.pose3d[s:s + n]
        root = gt[:, :1]
        poses["Ground truth"] = gt - (root if trajectory is None else root[:1])
    background = store.images[s:s + n] if store.images is not None else None
    return render_video(output, kps, store.layout_2d, poses, lifter.layout_3d, (w, h), fps or store.fps,
                        background=background, height=height, view_turn=view_turn, limit=limit)
