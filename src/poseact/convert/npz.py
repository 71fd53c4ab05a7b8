"""Reading VideoPose3D ``.npz`` files: pickled nested dicts, their shapes, and 2-D layouts.

Every file of the VideoPose3D data contract stores pickled Python dicts as 0-d object arrays
(VideoPose3D itself unpickles them with numpy's pickle switch on and calls ``.item()``). The
helpers here load them with :func:`poseact.safe_load.load_npz_objects` instead (plain data and numpy
arrays only; a pickle that would run code is refused) and check the nesting ``{subject: {take: value}}`` entry by entry, so that an error names the file, the
subject, the take and the camera, and says what was found against what was expected.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from poseact.errors import ConversionError, InputNotFoundError
from poseact.safe_load import load_npz_objects
from poseact.skeleton import REFERENCE_LAYOUT_NAMES, get_skeleton

PathLike = str | os.PathLike

#: 2-D layouts guessed from the joint count when the metadata has no ``layout_name``
#: (VideoPose3D's ground-truth H36M file: 17 joints; Stacked-Hourglass files: 16 MPII joints).
LAYOUT_BY_JOINT_COUNT: dict[int, str] = {17: "h36m17", 16: "mpii16", 15: "humaneva15"}


class ConversionWarning(UserWarning):
    """Something in the input was skipped or treated specially; the message says what."""


def action_group(take: str) -> str:
    """Action group of a take name, as VideoPose3D groups them: ``"Walking 1"`` -> ``"Walking"``.

    The store keeps this group as ``action`` and the full name as ``take``.
    """
    return take.split(" ")[0]


def load_npz_dict(path: PathLike, key: str) -> dict:
    """Load the pickled dict stored under ``key`` of a VideoPose3D ``.npz`` file.

    Raises :class:`InputNotFoundError` if the file is missing and :class:`ConversionError` if it
    is not an ``.npz`` archive, lacks ``key`` (the message lists the keys present) or holds
    something other than a pickled dict under it.
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path}: file not found")
    if not path.is_file():
        raise ConversionError(f"{path}: is a directory, expected an .npz file")
    if not zipfile.is_zipfile(path):  # checked first, for a clearer message than the reader's
        raise ConversionError(f"{path}: not an .npz archive (as written by np.savez), so it has "
                              f"no key {key!r}")
    data = load_npz_objects(path, [key], what="VideoPose3D file", error=ConversionError)
    if key not in data:
        with zipfile.ZipFile(path) as z:
            present = sorted(n.removesuffix(".npy") for n in z.namelist())
        raise ConversionError(f"{path}: no key {key!r}; keys present: {present}")
    arr = data[key]
    if arr.dtype != object or arr.shape != ():
        raise ConversionError(f"{path}: {key!r} is a {arr.dtype} array of shape {arr.shape}, "
                              f"expected a pickled dict (0-d object array)")
    value = arr.item()
    if not isinstance(value, dict):
        raise ConversionError(f"{path}: {key!r} holds a {type(value).__name__}, expected a dict")
    return value


def entry(key: str, *parts: Any) -> str:
    """``positions_2d['S1']['Walking 1']`` style name of a nested entry, for messages."""
    return key + "".join(f"[{p!r}]" for p in parts)


def iter_takes(data: dict, path: PathLike, key: str) -> Iterator[tuple[str, str, Any]]:
    """Yield ``(subject, take, value)`` from ``{subject: {take: value}}``, checking the nesting."""
    for subject, takes in data.items():
        if not isinstance(takes, dict):
            raise ConversionError(f"{path}: {entry(key, subject)} is a {type(takes).__name__}, "
                                  f"expected a dict of takes")
        if not takes:
            raise ConversionError(f"{path}: {entry(key, subject)} has no takes")
        for take, value in takes.items():
            yield str(subject), str(take), value


def positions_3d_array(value: Any, path: PathLike, subject: str, take: str,
                       joints: tuple[int, ...]) -> np.ndarray:
    """Check one 3-D sequence ``(N, J, 3)`` with ``J`` in ``joints``; return it as float32."""
    where = f"{path}: {entry('positions_3d', subject, take)}"
    expected = f"(N, {' or '.join(map(str, joints))}, 3)"
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
        raise ConversionError(f"{where} is a {_describe(value)}, expected a numeric array {expected}")
    if value.ndim != 3 or value.shape[1] not in joints or value.shape[2] != 3 or len(value) == 0:
        hint = (" (a Human3.6M file reduced to 17 joints elsewhere cannot be checked: convert from VideoPose3D's "
                "32-joint data_3d_h36m.npz)" if joints == (32,) and value.ndim == 3 and value.shape[1] == 17 else "")
        raise ConversionError(f"{where} has shape {value.shape}, expected {expected} with N >= 1{hint}")
    return value.astype(np.float32, copy=False)


def camera_views(value: Any, path: PathLike, subject: str, take: str,
                 camera_ids: list[str]) -> list[np.ndarray]:
    """Check one take's per-camera 2-D list: ``len(camera_ids)`` arrays ``(N_cam, J, 2 or 3)``."""
    where = f"{path}: {entry('positions_2d', subject, take)}"
    if not isinstance(value, (list, tuple)):
        raise ConversionError(f"{where} is a {_describe(value)}, expected a list of "
                              f"{len(camera_ids)} per-camera arrays")
    if len(value) != len(camera_ids):
        raise ConversionError(f"{where} has {len(value)} camera(s), expected {len(camera_ids)} "
                              f"({', '.join(camera_ids)})")
    views = []
    for i, (arr, cam_id) in enumerate(zip(value, camera_ids)):
        cam = f"{where}[camera {i} ({cam_id})]"
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
            raise ConversionError(f"{cam} is a {_describe(arr)}, expected a numeric array (N, J, 2 or 3)")
        if arr.ndim != 3 or arr.shape[2] not in (2, 3) or len(arr) == 0:
            raise ConversionError(f"{cam} has shape {arr.shape}, expected (N, J, 2) or (N, J, 3) "
                                  f"(x, y pixels [, confidence]) with N >= 1")
        views.append(arr)
    return views


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__


class Layout2D:
    """The 2-D layout of a detection file and the checks every array of the file must pass."""

    def __init__(self, metadata: Any, path: PathLike):
        self.path = path
        if not isinstance(metadata, dict):
            raise ConversionError(f"{path}: 'metadata' is a {type(metadata).__name__}, expected a dict")
        if "num_joints" in metadata and (isinstance(metadata["num_joints"], bool) or not isinstance(
                metadata["num_joints"], (int, np.integer))):
            raise ConversionError(f"{path}: metadata num_joints {metadata['num_joints']!r} is not a whole number")
        if "layout_name" in metadata:
            ref = metadata["layout_name"]
            if not isinstance(ref, str) or ref not in REFERENCE_LAYOUT_NAMES:
                raise ConversionError(f"{path}: metadata layout_name {ref!r} is not supported; "
                                      f"supported: {sorted(REFERENCE_LAYOUT_NAMES)}")
            self.name, self.reason = REFERENCE_LAYOUT_NAMES[ref], f"metadata layout_name {ref!r}"
        else:
            n = metadata.get("num_joints")
            if n is None:
                raise ConversionError(f"{path}: metadata has neither 'layout_name' nor 'num_joints'; "
                                      f"keys present: {sorted(metadata)}")
            if int(n) not in LAYOUT_BY_JOINT_COUNT:
                raise ConversionError(f"{path}: metadata has no 'layout_name' and num_joints {n} "
                                      f"matches no known layout (by count: {LAYOUT_BY_JOINT_COUNT})")
            self.name = LAYOUT_BY_JOINT_COUNT[int(n)]
            self.reason = f"metadata without layout_name, num_joints {n}"
        skel = get_skeleton(self.name)
        self.num_joints = skel.num_joints
        if "num_joints" in metadata and int(metadata["num_joints"]) != skel.num_joints:
            raise ConversionError(f"{path}: metadata num_joints {metadata['num_joints']} disagrees with "
                                  f"layout {self.name} ({self.reason}), which has {skel.num_joints} joints")
        sym = metadata.get("keypoints_symmetry")
        if sym is not None:
            try:
                left, right = (tuple(int(j) for j in side) for side in sym)
            except (TypeError, ValueError):
                raise ConversionError(f"{path}: metadata keypoints_symmetry {sym!r} is not two joint "
                                      f"lists [left], [right]") from None
            if (left, right) != (skel.joints_left, skel.joints_right):
                raise ConversionError(
                    f"{path}: metadata keypoints_symmetry {[list(left), list(right)]} disagrees with "
                    f"layout {self.name} ({self.reason}): expected "
                    f"{[list(skel.joints_left), list(skel.joints_right)]}")
        self._channels: int | None = None
        self._first: str = ""

    def check(self, arr: np.ndarray, where: str) -> None:
        """Joint count against the layout; channel count (2 or 3) the same across the file."""
        if arr.shape[1] != self.num_joints:
            raise ConversionError(f"{self.path}: {where} has {arr.shape[1]} joints, layout {self.name} "
                                  f"({self.reason}) expects {self.num_joints}")
        if self._channels is None:
            self._channels, self._first = arr.shape[2], where
        elif arr.shape[2] != self._channels:
            raise ConversionError(f"{self.path}: {where} has {arr.shape[2]} channels per joint but "
                                  f"{self._first} has {self._channels}; all arrays must agree")


def split_confidence(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``(N, J, 2|3)`` -> pixels ``(N, J, 2)`` float32 and confidence ``(N, J)`` (or None)."""
    xy = np.ascontiguousarray(arr[..., :2], dtype=np.float32)
    conf = np.ascontiguousarray(arr[..., 2], dtype=np.float32) if arr.shape[2] == 3 else None
    return xy, conf
