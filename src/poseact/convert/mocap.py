"""Human3.6M and HumanEva-I: VideoPose3D's 3-D mocap file + a multi-view 2-D file -> one store.

Both datasets follow the same contract (reference spec §5): ``positions_3d[subject][take]`` is
``(N, J, 3)`` world metres and ``positions_2d[subject][take]`` a list with one ``(N_cam, J2, F)``
pixel array per camera. For every (take, camera) the store gets one clip:

* labeled takes (present in the 3-D file): the 2-D is truncated to the 3-D length (it must not be
  shorter), the 3-D is expressed in that camera's space with the subject's extrinsics (absolute:
  joint 0 keeps the root position) and also kept in world coordinates;
* 2-D-only subjects (Human3.6M S2, S3, S4 in the CPN/Detectron files; HumanEva ``Unlabeled/...``)
  become unlabeled clips (NaN 3-D) and keep their full length.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from poseact.convert.npz import (
    ConversionError,
    ConversionWarning,
    Layout2D,
    PathLike,
    action_group,
    camera_views,
    entry,
    load_npz_dict,
    positions_3d_array,
    split_confidence,
)
from poseact.store import CameraTable, StoreBuilder, write_store
from poseact.geometry import world_to_camera
from poseact.geometry.tables import (
    H36M_FPS,
    HUMANEVA_FPS,
    CameraCalibration,
    h36m_cameras,
    humaneva_cameras,
)
from poseact.skeleton import h36m32_to_17


@dataclass(frozen=True)
class _Dataset:
    name: str
    cameras: Callable[[str, PathLike], list[CameraCalibration]]  # store subject -> its cameras
    joints_3d: tuple[int, ...]  # joint counts accepted in positions_3d
    reduce_3d: Callable[[np.ndarray], np.ndarray]  # (N, J, 3) -> (N, J3, 3) in layout_3d
    layout_3d: str
    fps: float


def _h36m_subject_cameras(subject: str, path: PathLike) -> list[CameraCalibration]:
    table = h36m_cameras()
    if subject not in table:
        raise ConversionError(f"{path}: subject {subject!r} has no Human3.6M calibration; "
                              f"known subjects: {sorted(table)}")
    return table[subject]


def _humaneva_subject_cameras(subject: str, path: PathLike) -> list[CameraCalibration]:
    table = humaneva_cameras()
    bare = subject.rsplit("/", 1)[-1]  # "Train/S1", "Unlabeled/Validate/S2" -> "S1", "S2"
    if bare not in table:
        raise ConversionError(f"{path}: subject {subject!r} (bare name {bare!r}) has no HumanEva-I "
                              f"calibration; known subjects: {sorted(table)}")
    return table[bare]


#: Human3.6M's mocap skeleton: VideoPose3D's data_3d_h36m.npz holds all 32 joints, and poseact
#: reduces them to 17 itself. A 17-joint file is refused: nothing in it says which 17 joints in which
#: order, and a file reduced another way would be read with joints collapsed onto others.
H36M = _Dataset("human3.6m", _h36m_subject_cameras, (32,), h36m32_to_17, "h36m17", H36M_FPS)
HUMANEVA = _Dataset("humaneva-i", _humaneva_subject_cameras, (15,), lambda p: p, "humaneva15",
                    HUMANEVA_FPS)


def convert_h36m(path_3d: PathLike | None, path_2d: PathLike, out: PathLike,
                 subjects: list[str] | None = None) -> Path:
    """Human3.6M: ``data_3d_h36m.npz`` + ``data_2d_h36m_<detector>.npz`` -> store at ``out``.

    3-D: 32 joints reduced to h36m17 (a 17-joint file is refused: see ``H36M``), camera space
    via each subject's extrinsics (``frames/pose3d``) and world (``frames/pose3d_world``).
    2-D layout from the file's metadata (no ``layout_name``: 17 joints -> h36m17, 16 -> mpii16);
    a third channel becomes ``frames/confidence``. 4 cameras per take; fps 50.
    ``path_3d=None`` writes a 2-D-only store. ``subjects`` restricts (and orders) the subjects.
    """
    return _convert(H36M, path_3d, path_2d, out, subjects)


def convert_humaneva(path_3d: PathLike | None, path_2d: PathLike, out: PathLike,
                     subjects: list[str] | None = None) -> Path:
    """HumanEva-I: ``data_3d_humaneva15.npz`` + ``data_2d_humaneva15_<det>.npz`` -> store.

    Subjects keep their split prefix (``Train/S1``, ``Validate/S2``, ``Unlabeled/S4``); cameras
    C1..C3 come from the bare subject's calibration (no intrinsics; S4 has no extrinsics, so it
    can only be unlabeled). Layouts: 2-D from the metadata, 3-D humaneva15; fps 60.
    """
    return _convert(HUMANEVA, path_3d, path_2d, out, subjects)


def _takes(data: dict, subject: str, path: PathLike, key: str) -> dict:
    takes = data[subject]
    if not isinstance(takes, dict):
        raise ConversionError(f"{path}: {entry(key, subject)} is a {type(takes).__name__}, "
                              f"expected a dict of takes")
    if not takes:
        raise ConversionError(f"{path}: {entry(key, subject)} has no takes")
    return takes


def _select_subjects(positions_2d: dict, positions_3d: dict, subjects: list[str] | None,
                     path_2d: PathLike, path_3d: PathLike | None) -> list[str]:
    if subjects is None:
        only_3d = [s for s in positions_3d if s not in positions_2d]
        if only_3d:
            raise ConversionError(f"{path_3d}: subject(s) {only_3d} have 3-D but no 2-D in {path_2d} "
                                  f"(subjects there: {list(positions_2d)})")
        return [str(s) for s in positions_2d]
    unknown = [s for s in subjects if s not in positions_2d]
    if unknown:
        raise ConversionError(f"{path_2d}: requested subject(s) {unknown} not in positions_2d; "
                              f"subjects there: {list(positions_2d)}")
    return list(dict.fromkeys(subjects))


def _convert(ds: _Dataset, path_3d: PathLike | None, path_2d: PathLike, out: PathLike,
             subjects: list[str] | None) -> Path:
    positions_2d = load_npz_dict(path_2d, "positions_2d")
    layout = Layout2D(load_npz_dict(path_2d, "metadata"), path_2d)
    positions_3d = load_npz_dict(path_3d, "positions_3d") if path_3d is not None else {}
    chosen = _select_subjects(positions_2d, positions_3d, subjects, path_2d, path_3d)

    cameras = {s: ds.cameras(s, path_2d) for s in chosen}
    table_rows = [(s, cal) for s in chosen for cal in cameras[s]]
    first_row = dict(zip(chosen, np.cumsum([0] + [len(cameras[s]) for s in chosen]).tolist()))
    source = f"{ds.name}: " + (f"{Path(path_3d).name} + {Path(path_2d).name}" if path_3d is not None
                               else f"{Path(path_2d).name} (2-D only)")
    builder = StoreBuilder(CameraTable.from_calibrations(table_rows), layout.name, ds.layout_3d,
                           ds.fps, source)

    for subject in chosen:
        takes_2d = _takes(positions_2d, subject, path_2d, "positions_2d")
        takes_3d = _takes(positions_3d, subject, path_3d, "positions_3d") if subject in positions_3d else {}
        missing = [t for t in takes_3d if t not in takes_2d]
        if missing:
            raise ConversionError(f"{path_3d}: {entry('positions_3d', subject, missing[0])} has no 2-D "
                                  f"in {path_2d} (every 3-D take needs its detections)")
        cams = cameras[subject]
        for take, value in takes_2d.items():
            views = camera_views(value, path_2d, subject, take, [c.id for c in cams])
            world = None
            if take in takes_3d:
                world = ds.reduce_3d(positions_3d_array(takes_3d[take], path_3d, subject, take,
                                                        ds.joints_3d))
            elif takes_3d:
                warnings.warn(f"{path_2d}: {entry('positions_2d', subject, take)} has no 3-D in "
                              f"{path_3d}; stored as unlabeled clips", ConversionWarning, stacklevel=3)
            for i, (keypoints, cal) in enumerate(zip(views, cams)):
                where = f"{entry('positions_2d', subject, take)}[camera {i} ({cal.id})]"
                layout.check(keypoints, where)
                pose3d = None
                if world is not None:
                    keypoints, pose3d = _align(keypoints, world, cal, where, subject, take,
                                               path_2d, path_3d)
                xy, confidence = split_confidence(keypoints)
                builder.add_clip(subject, action_group(take), take, first_row[subject] + i, xy,
                                 confidence=confidence, pose3d=pose3d, pose3d_world=world)
    return write_store(out, builder.build())


def _align(keypoints: np.ndarray, world: np.ndarray, cal: CameraCalibration, where: str,
           subject: str, take: str, path_2d: PathLike, path_3d: PathLike | None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Truncate the 2-D to the 3-D length; world ``(N, J, 3)`` -> this camera's space."""
    if len(keypoints) < len(world):
        raise ConversionError(f"{path_2d}: {where} has {len(keypoints)} frames, fewer than the "
                              f"{len(world)} of {entry('positions_3d', subject, take)} in {path_3d} "
                              f"(2-D may be longer and is then truncated, never shorter)")
    if not cal.has_extrinsics:
        raise ConversionError(f"{path_3d}: {entry('positions_3d', subject, take)} has 3-D but camera "
                              f"{cal.id} of subject {subject!r} has no extrinsics, so the 3-D cannot "
                              f"be put in camera space")
    # float32 as the reference, so the camera-space targets match VideoPose3D's to the bit
    pose3d = world_to_camera(world, np.asarray(cal.orientation, np.float32),
                             np.asarray(cal.translation, np.float32))
    return keypoints[: len(world)], pose3d
