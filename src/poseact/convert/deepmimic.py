"""DeepMimic motion files → joint positions: the humanoid3d character's forward kinematics in numpy.

DeepMimic (Peng et al. 2018) stores a motion as JSON: ``{"Loop": ..., "Frames": [[dt, ...], ...]}``,
one row of 44 numbers per frame for its ``humanoid3d`` character: the frame's duration (seconds; the
last frame's is often 0), the root's position (3, metres), then each joint's rotation relative to its
parent, as a unit quaternion **w first** for the spherical joints and one angle (radians, about the
joint's z axis) for the knees and elbows, in the order of :data:`FRAME_LAYOUT`. The axes are the
character's: y up, +z towards its right side at rest. pybullet ships fifteen such takes, retargeted from
CMU and SFU motion capture (walk, run, jump, kicks, a punch, dances, a cartwheel, a backflip, rolls,
get-ups, crawling), in ``pybullet_data/data/motions`` (zlib licence; ``data_prep/fetch_mocap.py``).

The skeleton's offsets (:data:`HUMANOID3D`) are pybullet's ``humanoid/humanoid.urdf`` joint origins
divided by its 4× scale. The head has no joint of its own: ``head`` and ``head_end`` are the lowest and
highest points of the character's head sphere, carried by the neck joint. Bad files raise
:class:`~poseact.errors.ConversionError` naming the file and frame.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from poseact.convert.mocap_files import MocapTake, PathLike
from poseact.errors import ConversionError, InputNotFoundError

#: humanoid3d's points: name → (parent, offset from the parent joint in the parent's frame, metres)
HUMANOID3D: dict[str, tuple[str | None, tuple[float, float, float]]] = {
    "root": (None, (0.0, 0.0, 0.0)),
    "chest": ("root", (0.0, 0.236151, 0.0)),
    "neck": ("chest", (0.0, 0.223894, 0.0)),
    "head": ("neck", (0.0, 0.0725, 0.0)),  # bottom of the head sphere (centre 0.175, radius 0.1025)
    "head_end": ("neck", (0.0, 0.2775, 0.0)),  # its top
    "right_hip": ("root", (0.0, 0.0, 0.084887)),
    "right_knee": ("right_hip", (0.0, -0.421546, 0.0)),
    "right_ankle": ("right_knee", (0.0, -0.40987, 0.0)),
    "right_shoulder": ("chest", (-0.02405, 0.2435, 0.18311)),
    "right_elbow": ("right_shoulder", (0.0, -0.274788, 0.0)),
    "right_wrist": ("right_elbow", (0.0, -0.258947, 0.0)),
    "left_hip": ("root", (0.0, 0.0, -0.084887)),
    "left_knee": ("left_hip", (0.0, -0.421546, 0.0)),
    "left_ankle": ("left_knee", (0.0, -0.40987, 0.0)),
    "left_shoulder": ("chest", (-0.02405, 0.2435, -0.18311)),
    "left_elbow": ("left_shoulder", (0.0, -0.274788, 0.0)),
    "left_wrist": ("left_elbow", (0.0, -0.258947, 0.0)),
}
#: a frame row after its duration and root position: (joint, values) in file order; 4 = quaternion
#: (w, x, y, z), 1 = a revolute angle about z (radians)
FRAME_LAYOUT: tuple[tuple[str, int], ...] = (
    ("root", 4), ("chest", 4), ("neck", 4),
    ("right_hip", 4), ("right_knee", 1), ("right_ankle", 4), ("right_shoulder", 4), ("right_elbow", 1),
    ("left_hip", 4), ("left_knee", 1), ("left_ankle", 4), ("left_shoulder", 4), ("left_elbow", 1),
)
ROW_LENGTH = 1 + 3 + sum(n for _, n in FRAME_LAYOUT)  # 44
#: suffixes of DeepMimic motion files (pybullet ships them as .txt)
DEEPMIMIC_SUFFIXES = (".txt", ".json")


def is_deepmimic_motion(path: PathLike) -> bool:
    """Whether ``path`` looks like a DeepMimic motion file (a JSON object with ``"Frames"`` near its
    start), read from its first 4 KiB: how folder scans tell motion ``.txt`` files from licences."""
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    return head.startswith(b"{") and b'"Frames"' in head


def _rows(path: Path) -> np.ndarray:
    """The file's frame rows ``(T, 44)``, checked."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputNotFoundError(f"{path}: motion file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConversionError(f"{path}: not a DeepMimic motion file (JSON): {e}") from None
    frames = doc.get("Frames") if isinstance(doc, dict) else None
    if not isinstance(frames, list) or not frames:
        raise ConversionError(f"{path}: no \"Frames\" list (is this a DeepMimic motion file?)")
    for k, row in enumerate(frames):
        if not isinstance(row, list) or len(row) != ROW_LENGTH:
            n = len(row) if isinstance(row, list) else type(row).__name__
            raise ConversionError(f"{path}: frame {k} has {n} values; DeepMimic's humanoid3d needs {ROW_LENGTH} "
                                  "(another character's motion?)")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row):
            raise ConversionError(f"{path}: frame {k} holds a value that is not a number")
    values = np.asarray(frames, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if bad.size:
        raise ConversionError(f"{path}: frame {bad[0]} holds NaN or infinite values")
    return values


def _even_times(path: Path, durations: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, float, list[str]]:
    """``positions (T, J, 3)`` at the rows' own times (each row lasts its duration; a last row of 0 s
    is the end marker) → the same motion at one frame rate, the rows' median; the rate (fps); notes."""
    positive = durations[:-1] if durations[-1] == 0 else durations
    if positive.size == 0 or (positive <= 0).any():
        raise ConversionError(f"{path}: a frame other than the last lasts {positive.min() if positive.size else 0:g} s; "
                              "durations must be positive")
    dt = float(np.median(positive))
    if np.abs(positive - dt).max() <= 0.05 * dt:
        return positions, 1.0 / dt, []
    times = np.concatenate([[0.0], np.cumsum(positive)])[:len(positions)]
    grid = np.arange(0.0, times[-1] + 1e-9, dt)
    flat = positions.reshape(len(positions), -1)
    even = np.stack([np.interp(grid, times, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    note = (f"{path.name}: frame durations vary ({positive.min():.4f}-{positive.max():.4f} s); resampled to "
            f"{1 / dt:.2f} fps")
    return even.reshape(len(grid), *positions.shape[1:]), 1.0 / dt, [note]


def read_deepmimic(path: PathLike) -> MocapTake:
    """Read a DeepMimic humanoid3d motion: ``positions (T, 17, 3)`` metres in the file's axes (y up),
    the points of :data:`HUMANOID3D` in its order."""
    p = Path(path)
    values = _rows(p)
    rotations: dict[str, Rotation] = {}
    col = 4
    for joint, n in FRAME_LAYOUT:
        block = values[:, col:col + n]
        col += n
        if n == 4:
            norm = np.linalg.norm(block, axis=1)
            bad = np.flatnonzero(norm < 1e-6)
            if bad.size:
                raise ConversionError(f"{p}: frame {bad[0]}: {joint}'s rotation is a zero quaternion")
            rotations[joint] = Rotation.from_quat(block[:, [1, 2, 3, 0]] / norm[:, None])  # w first in the file
        else:
            rotations[joint] = Rotation.from_rotvec(block * np.array([0.0, 0.0, 1.0]))
    names = list(HUMANOID3D)
    world_rot: dict[str, Rotation] = {}
    points: dict[str, np.ndarray] = {}
    for name, (parent, offset) in HUMANOID3D.items():  # parents come first in the table
        if parent is None:
            points[name] = values[:, 1:4]
            world_rot[name] = rotations[name]
            continue
        points[name] = points[parent] + world_rot[parent].apply(np.asarray(offset))
        if name in rotations:
            world_rot[name] = world_rot[parent] * rotations[name]
    positions, fps, notes = _even_times(p, values[:, 0], np.stack([points[n] for n in names], axis=1))
    parents = [-1 if HUMANOID3D[n][0] is None else names.index(HUMANOID3D[n][0]) for n in names]
    return MocapTake(p.stem, str(p), fps, names, parents, np.ascontiguousarray(positions), notes, up_axis="+y")
