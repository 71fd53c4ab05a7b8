"""Writing a Human3.6M-calibrated poseact store as VideoPose3D's two ``.npz`` files.

The inverse of :func:`poseact.convert.convert_h36m`, so VideoPose3D's own ``run.py`` can train on
exactly the data poseact trains on (``benchmarks/whole_job.py --reference``):

* ``data_3d_h36m.npz``: ``positions_3d[subject][take]`` ``(N, 32, 3)`` float32 world metres, as the
  reference's ``data/prepare_data_h36m.py`` writes it. The store's 17 joints go to their places in
  the 32-joint mocap skeleton (:data:`poseact.skeleton.H36M32_TO_17`); each of the 15 joints that
  the 17-joint layout drops sits on its parent (``run.py`` removes them on load, so they are never
  read);
* ``data_2d_h36m_<name>.npz``: ``positions_2d[subject][take]`` a list of one ``(N, 17, 2)`` float32
  pixel array per camera, in the subject's camera order (``54138969, 55011271, 58860488,
  60457274``), and ``metadata`` (``layout_name`` ``"h36m"``, ``num_joints`` 17,
  ``keypoints_symmetry``).

``run.py`` takes every camera from its own hard-coded Human3.6M table, not from the files, so a
store is exported only if each of its (subject, camera) rows is that subject's Human3.6M camera
(:func:`poseact.geometry.h36m_cameras`, the same numbers): otherwise its 3-D in camera space and
its reprojections would be of other cameras than the store's. Takes without 3-D (unlabeled
clips) go to the 2-D file only.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from poseact.atomic import write_npz
from poseact.errors import ConversionError
from poseact.geometry import camera_to_world
from poseact.geometry.tables import h36m_cameras
from poseact.skeleton import H36M32, H36M32_TO_17, get_skeleton
from poseact.store import PoseStore

#: largest difference (pixels, metres, quaternion units) between a store camera and H36M's own
CAMERA_TOLERANCE = 1e-4


def expand_h36m17_to_32(positions: np.ndarray) -> np.ndarray:
    """``(N, 17, 3)`` h36m17 joints -> ``(N, 32, 3)`` H36M mocap joints; dropped joints on their parent."""
    out = np.empty((*positions.shape[:-2], 32, positions.shape[-1]), dtype=positions.dtype)
    kept = dict(zip(H36M32_TO_17, range(17)))
    for j in range(32):  # parents come before children in H36M32, so a parent is always filled
        out[..., j, :] = positions[..., kept[j], :] if j in kept else out[..., H36M32.parents[j], :]
    return out


def _check_cameras(store: PoseStore, where: str) -> dict[str, list[int]]:
    """Subject -> its camera rows in H36M's order; refuses any camera that is not H36M's."""
    table = h36m_cameras()
    rows: dict[str, list[int]] = {}
    for subject in dict.fromkeys(store.clips.subject.tolist()):
        if subject not in table or not all(c.has_extrinsics for c in table[subject]):
            raise ConversionError(f"{where}: subject {subject!r} has no Human3.6M calibration, and VideoPose3D's "
                                  f"run.py takes cameras from its own H36M table (subjects with one: "
                                  f"{sorted(s for s, c in table.items() if all(x.has_extrinsics for x in c))})")
        rows[subject] = []
        for cal in table[subject]:
            try:
                r = store.cameras.find(subject, cal.id)
            except KeyError:
                raise ConversionError(f"{where}: subject {subject!r} has no camera {cal.id}; VideoPose3D needs all "
                                      f"4 Human3.6M cameras of every subject") from None
            ours = np.concatenate([store.cameras.intrinsics[r], store.cameras.orientation[r],
                                   store.cameras.translation[r], store.cameras.res[r]])
            h36m = np.concatenate([cal.focal_length, cal.center, cal.radial_distortion, cal.tangential_distortion,
                                   cal.orientation, cal.translation, [cal.res_w, cal.res_h]])
            diff = np.abs(ours - h36m)
            if not np.all(diff <= CAMERA_TOLERANCE * np.maximum(1.0, np.abs(h36m))):
                raise ConversionError(f"{where}: camera {cal.id} of subject {subject!r} is not Human3.6M's (largest "
                                      f"difference {float(np.nanmax(diff)):.3g}); VideoPose3D's run.py would use "
                                      f"H36M's calibration instead of the store's")
            rows[subject].append(r)
    return rows


def export_h36m_npz(store: PoseStore, out_dir: str | os.PathLike, name: str) -> tuple[Path, Path]:
    """Write ``store`` as ``out_dir/data_3d_h36m.npz`` and ``out_dir/data_2d_h36m_<name>.npz``.

    The store must be h36m17 in 2-D and 3-D, seen by the Human3.6M cameras of each subject (all 4),
    and have no NaN in its keypoints. Returns the two paths (3-D, 2-D); each file is written atomically.
    """
    where = f"store {store.path!r}"
    if store.layout_2d != "h36m17" or store.layout_3d != "h36m17":
        raise ConversionError(f"{where}: layouts {store.layout_2d}/{store.layout_3d}; VideoPose3D's Human3.6M "
                              f"files need h36m17 in 2-D and 3-D")
    if not name or "/" in name or os.sep in name:
        raise ConversionError(f"detection name {name!r}: must be a non-empty file-name part")
    rows = _check_cameras(store, where)
    labeled = store.labeled_clips()
    takes: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)  # (subject, take) -> camera row -> clip
    for i, (subject, take, cam) in enumerate(zip(store.clips.subject, store.clips.take, store.clips.camera)):
        key = (str(subject), str(take))
        if int(cam) in takes[key]:
            raise ConversionError(f"{where}: clip {store.clip_name(i)} appears twice")
        takes[key][int(cam)] = i

    positions_2d: dict[str, dict[str, list[np.ndarray]]] = defaultdict(dict)
    positions_3d: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for (subject, take), by_camera in takes.items():
        missing = [str(store.cameras.name[r]) for r in rows[subject] if r not in by_camera]
        if missing:
            raise ConversionError(f"{where}: take {subject}/{take} has no clip of camera(s) {missing}; "
                                  f"VideoPose3D needs every take seen by all 4 cameras")
        clips = [by_camera[r] for r in rows[subject]]
        lengths = {int(store.clips.length[c]) for c in clips}
        if len(lengths) != 1:
            raise ConversionError(f"{where}: take {subject}/{take} has clips of different lengths {sorted(lengths)}")
        views = []
        for c in clips:
            s = slice(int(store.clips.start[c]), int(store.clips.start[c] + store.clips.length[c]))
            xy = np.ascontiguousarray(store.keypoints[s], dtype=np.float32)
            if not np.isfinite(xy).all():
                raise ConversionError(f"{where}: clip {store.clip_name(c)} has NaN keypoints")
            views.append(xy)
        positions_2d[subject][take] = views
        if labeled[clips[0]]:
            positions_3d[subject][take] = expand_h36m17_to_32(_world(store, clips[0]))

    skel = get_skeleton("h36m17")
    metadata = {"layout_name": "h36m", "num_joints": skel.num_joints,
                "keypoints_symmetry": [list(skel.joints_left), list(skel.joints_right)]}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path_3d = write_npz(out / "data_3d_h36m.npz", {"positions_3d": dict(positions_3d)})
    path_2d = write_npz(out / f"data_2d_h36m_{name}.npz",
                        {"positions_2d": dict(positions_2d), "metadata": metadata})
    return path_3d, path_2d


def _world(store: PoseStore, clip: int) -> np.ndarray:
    """World joints ``(N, 17, 3)`` float32 metres of a labeled clip: ``pose3d_world`` or, without it,
    ``pose3d`` moved out of the clip's camera."""
    s = slice(int(store.clips.start[clip]), int(store.clips.start[clip] + store.clips.length[clip]))
    if store.pose3d_world is not None:
        return np.ascontiguousarray(store.pose3d_world[s], dtype=np.float32)
    r = int(store.clips.camera[clip])
    return camera_to_world(np.asarray(store.pose3d[s], np.float64), store.cameras.orientation[r],
                           store.cameras.translation[r]).astype(np.float32)
