"""Synchronised calibrated views of one recording in a store: which unlabeled windows show the same
instant, and each camera's rotation into the world frame (for the multi-view consistency term).

Convention (written by ``poseact data from-videos --calibration``; converted multi-camera datasets
such as Human3.6M follow it already): clips of one **recording** seen by different cameras share
their subject and the recording's name; a take ``<recording>@<frame>`` says the clip's first frame
is frame ``<frame>`` of the recording's time line (a clip split at flagged frames, or a view whose
video starts later, keeps its place); a take without ``@`` starts at frame 0 (every camera's clip of
a Human3.6M take covers the same frames). Two windows are views of one **instant** when their
subject, recording and recording-time output frame are equal and their cameras differ.
Cameras' orientations are the store's camera-to-world quaternions (NaN = unknown).
"""

from __future__ import annotations

import numpy as np

from poseact.errors import SelectionError
from poseact.lifting.windows import SequenceViews

#: separates a take's recording name from its first frame in the recording's time line
SYNC_SEPARATOR = "@"


def synced_take(recording: str, first_frame: int) -> str:
    """The take name of a clip of ``recording`` whose first frame is recording frame ``first_frame``."""
    return f"{recording}{SYNC_SEPARATOR}{int(first_frame)}"


def parse_take(take: str) -> tuple[str, int]:
    """``(recording, first frame)`` of a take: ``"walk@120"`` → ``("walk", 120)``; ``"Walking 1"`` →
    ``("Walking 1", 0)`` (no frame: the clip starts at the recording's start)."""
    head, sep, tail = take.rpartition(SYNC_SEPARATOR)
    if sep and head and tail.lstrip("-").isdigit():
        return head, int(tail)
    return take, 0


def rotation_matrices(quaternions: np.ndarray) -> np.ndarray:
    """Unit quaternions ``(C, 4)`` (w, x, y, z) → rotation matrices ``(C, 3, 3)`` float32 (NaN rows stay NaN)."""
    q = np.asarray(quaternions, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    m = np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1)
    return m.reshape(q.shape[:-1] + (3, 3)).astype(np.float32)


def quaternion_from_matrix(R: np.ndarray) -> np.ndarray:
    """A rotation matrix ``(3, 3)`` → its unit quaternion ``(4,)`` (w, x, y, z), ``w >= 0``."""
    R = np.asarray(R, dtype=np.float64)
    # the largest of the four squared components decides (numerically stable for any rotation)
    d = np.array([1 + R[0, 0] + R[1, 1] + R[2, 2], 1 + R[0, 0] - R[1, 1] - R[2, 2],
                  1 - R[0, 0] + R[1, 1] - R[2, 2], 1 - R[0, 0] - R[1, 1] + R[2, 2]])
    k = int(np.argmax(d))
    s = 2 * np.sqrt(max(d[k], 1e-12))
    if k == 0:
        q = [s / 4, (R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s]
    elif k == 1:
        q = [(R[2, 1] - R[1, 2]) / s, s / 4, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s]
    elif k == 2:
        q = [(R[0, 2] - R[2, 0]) / s, (R[0, 1] + R[1, 0]) / s, s / 4, (R[1, 2] + R[2, 1]) / s]
    else:
        q = [(R[1, 0] - R[0, 1]) / s, (R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, s / 4]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return -q if q[0] < 0 else q


def instants(store, views: SequenceViews, seq: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The instant of every example ``(seq, pos)`` (one output frame each) of ``views``: ids ``(N,)``
    numbered from 0, and ``multi (num_instants,)`` True where at least two different cameras see it."""
    c = store.clips
    clip = views.clip[seq]
    recording = np.array([parse_take(str(t)) for t in c.take], dtype=object)  # per store clip
    frame = (views.base[seq] - c.start[clip]) + views.step[seq] * pos + np.array(
        [recording[k][1] for k in clip.tolist()], dtype=np.int64)
    keys: dict[tuple[str, str, int], int] = {}
    ids = np.empty(len(seq), dtype=np.int64)
    for i, (k, f) in enumerate(zip(clip.tolist(), frame.tolist())):
        ids[i] = keys.setdefault((str(c.subject[k]), recording[k][0], f), len(keys))
    cameras = c.camera[clip]
    order = np.lexsort((cameras, ids))
    distinct = np.ones(len(ids), dtype=bool)
    distinct[1:] = (ids[order][1:] != ids[order][:-1]) | (cameras[order][1:] != cameras[order][:-1])
    views_per_instant = np.bincount(ids[order][distinct], minlength=len(keys))
    return ids, views_per_instant >= 2


def check_extrinsics(store, views: SequenceViews, what: str) -> None:
    """Every selected clip's camera must have an orientation (camera-to-world quaternion): one line
    naming the store and the first camera without."""
    cams = np.unique(store.clips.camera[views.clip])
    missing = [int(r) for r in cams if not np.isfinite(store.cameras.orientation[r]).all()]
    if missing:
        r = missing[0]
        raise SelectionError(f"semi.multiview_weight > 0 needs calibrated cameras: store {store.path!r}, camera "
                             f"{store.cameras.subject[r]}/{store.cameras.name[r]} (of {what}) has no orientation; "
                             f"write it with `poseact data from-videos --calibration` or set semi.multiview_weight=0")
