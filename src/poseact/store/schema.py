"""The HDF5 pose store: one schema for every dataset, atomic writes, validation on open.

Layout of a store file (schema ``poseact/1``)::

    attrs   schema, layout_2d, layout_3d, fps, units_2d="px", units_3d="m", source,
            partial (bool, default False), notes (str, default "")
    clips/  subject (str), action (int, index into actions; -1 = no action label), take (str),
            camera (int, row of cameras/), start (int64, row into frames/), length (int64)
                                                                               -- one row per clip
    frames/ keypoints (N, J2, 2) float32 pixels (NaN = joint not annotated, only if partial)
            confidence (N, J2) float32                                         -- optional
            pose3d (N, J3, 3) float32 metres, camera space, absolute           -- optional; NaN rows = unlabeled
            pose3d_world (N, J3, 3) float32 metres                             -- optional
            images (N, H, W, 3) uint8 RGB crops                                -- optional (rendered data)
            image_ref (N,) str, image file of each frame (relative to the store) -- optional (real data)
            boxes (N, 4) float32 pixels x_min, y_min, x_max, y_max of the person
                  in the frame's image (NaN row = unknown)                     -- optional (real data)
            head_size (N,) float32 pixels, 0.6 x the annotated head-box diagonal
                  (MPII's PCKh reference; NaN = unknown)                       -- optional
    cameras/ name (str), subject (str), res (C, 2) int, intrinsics (C, 9) pixels
             [fx, fy, cx, cy, k1, k2, k3, p1, p2] (NaN = unknown), orientation (C, 4)
             camera-to-world quaternion (NaN = unknown), translation (C, 3) metres, azimuth (C,)
    actions  names (str), index = label id

A clip is one (sequence, camera) pair, as in VideoPose3D. Frame arrays are stored
uncompressed and contiguous: reading them whole into RAM is the fast path (ENVIRONMENT.md).

``partial`` stores (annotated image datasets: MPII, Penn Action, NTU) may hold NaN in
``keypoints`` and inside labeled clips of ``pose3d``: a joint the dataset did not annotate in that
frame. Without the attribute (every store written before it existed) NaN there is an error, as
before; the lifting task refuses partial stores. The extensions (``partial``, ``notes``,
``boxes``, ``head_size``, action -1) are optional, so older stores read unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from poseact.errors import StoreError
from poseact.geometry.tables import CameraCalibration
from poseact.skeleton import get_skeleton
from poseact.store.mapping import scan_blocks

SCHEMA = "poseact/1"


@dataclass
class ClipTable:
    """Columns of the clip table; row ``i`` covers frames ``start[i] : start[i] + length[i]``."""

    subject: np.ndarray  # (K,) str
    action: np.ndarray  # (K,) int64, index into PoseStore.actions
    take: np.ndarray  # (K,) str, the original sequence name, e.g. "Walking 1"
    camera: np.ndarray  # (K,) int64, row of the CameraTable
    start: np.ndarray  # (K,) int64
    length: np.ndarray  # (K,) int64

    def __len__(self) -> int:
        return len(self.start)

    def select(self, rows: np.ndarray) -> "ClipTable":
        return ClipTable(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})


@dataclass
class CameraTable:
    """One row per (subject, camera) pair; unknown calibration values are NaN."""

    name: np.ndarray  # (C,) str
    subject: np.ndarray  # (C,) str
    res: np.ndarray  # (C, 2) int64, width and height in pixels
    intrinsics: np.ndarray  # (C, 9) float64 pixels: fx, fy, cx, cy, k1, k2, k3, p1, p2
    orientation: np.ndarray  # (C, 4) float64, camera-to-world quaternion (w, x, y, z)
    translation: np.ndarray  # (C, 3) float64 metres
    azimuth: np.ndarray  # (C,) float64 degrees, for rendering

    def __len__(self) -> int:
        return len(self.name)

    @classmethod
    def from_calibrations(cls, rows: list[tuple[str, CameraCalibration]]) -> "CameraTable":
        """Build the table from ``(subject, calibration)`` pairs, in row order."""
        nan = float("nan")

        def vec(values, n):
            return list(values) if values is not None else [nan] * n

        return cls(
            name=np.array([c.id for _, c in rows], dtype=str),
            subject=np.array([s for s, _ in rows], dtype=str),
            res=np.array([[c.res_w, c.res_h] for _, c in rows], dtype=np.int64).reshape(-1, 2),
            intrinsics=np.array([vec(c.focal_length, 2) + vec(c.center, 2) + vec(c.radial_distortion, 3)
                                 + vec(c.tangential_distortion, 2) for _, c in rows], dtype=np.float64).reshape(-1, 9),
            orientation=np.array([vec(c.orientation, 4) for _, c in rows], dtype=np.float64).reshape(-1, 4),
            translation=np.array([vec(c.translation, 3) for _, c in rows], dtype=np.float64).reshape(-1, 3),
            azimuth=np.array([c.azimuth for _, c in rows], dtype=np.float64),
        )

    def find(self, subject: str, name: str) -> int:
        """Row index of camera ``name`` as seen by ``subject``; KeyError if absent."""
        hits = np.flatnonzero((self.subject == subject) & (self.name == name))
        if not len(hits):
            raise KeyError(f"no camera {name!r} for subject {subject!r}")
        return int(hits[0])

    def has_intrinsics(self) -> np.ndarray:
        return ~np.isnan(self.intrinsics).any(axis=1)

    def normalized_intrinsics(self) -> np.ndarray:
        """``(C, 9)`` float32 intrinsics in normalised screen units (NaN rows stay NaN)."""
        from poseact.geometry.camera import intrinsics_vector

        out = np.full((len(self), 9), np.nan, dtype=np.float32)
        for i in np.flatnonzero(self.has_intrinsics()):
            k = self.intrinsics[i]
            out[i] = intrinsics_vector(k[0:2], k[2:4], k[4:7], k[7:9], *self.res[i])
        return out


#: frames per block when a whole store is checked (bounded temporaries for stores of any size: the
#: bone check's copies of a block of 17-joint poses are ~25 MiB; at 2**18 frames they were ~195 MiB,
#: the peak of a small job's whole process)
CHECK_CHUNK = 1 << 15


@dataclass
class PoseStore:
    """A whole dataset in memory: flat frame arrays plus clip and camera tables."""

    keypoints: np.ndarray  # (N, J2, 2) float32 pixels
    clips: ClipTable
    cameras: CameraTable
    actions: list[str]
    layout_2d: str
    layout_3d: str
    fps: float
    source: str = ""
    confidence: np.ndarray | None = None  # (N, J2) float32
    pose3d: np.ndarray | None = None  # (N, J3, 3) float32 metres, camera space; NaN = unlabeled
    pose3d_world: np.ndarray | None = None  # (N, J3, 3) float32 metres
    images: np.ndarray | None = None  # (N, H, W, 3) uint8 RGB
    image_ref: np.ndarray | None = None  # (N,) str: image file per frame, relative to the store's folder
    boxes: np.ndarray | None = None  # (N, 4) float32 pixels x_min, y_min, x_max, y_max; NaN row = unknown
    head_size: np.ndarray | None = None  # (N,) float32 pixels (0.6 x head-box diagonal); NaN = unknown
    partial: bool = False  # NaN allowed in keypoints / labeled pose3d: joints missing in the annotation
    notes: str = ""  # free text from the converter: skipped items and their counts, checks
    path: str = field(default="<memory>", compare=False)

    @property
    def num_frames(self) -> int:
        return len(self.keypoints)

    def clip_name(self, i: int) -> str:
        """``subject/take/camera`` of clip ``i``, used in error messages and tables."""
        return f"{self.clips.subject[i]}/{self.clips.take[i]}/{self.cameras.name[self.clips.camera[i]]}"

    def labeled_clips(self) -> np.ndarray:
        """Boolean ``(K,)``: clips whose 3-D is present (first frame not NaN; in a ``partial`` store,
        any finite 3-D value in the clip)."""
        if self.pose3d is None:
            return np.zeros(len(self.clips), dtype=bool)
        if not self.partial:
            return ~np.isnan(self.pose3d[self.clips.start, 0, 0])
        seen = np.concatenate([[0], np.cumsum(np.isfinite(self.pose3d).any(axis=(1, 2)))])
        start = np.clip(self.clips.start, 0, self.num_frames)
        end = np.clip(self.clips.start + self.clips.length, 0, self.num_frames)
        return seen[end] - seen[start] > 0

    def validate(self) -> None:
        """Check shapes, dtypes, table consistency and finiteness; raise :class:`StoreError`."""
        where = f"store {self.path!r}"
        n = self.num_frames
        skel2d, skel3d = _skeleton(self.layout_2d, where), _skeleton(self.layout_3d, where)
        _check_array(self.keypoints, (n, skel2d.num_joints, 2), "frames/keypoints", where, self.layout_2d)
        if self.confidence is not None:
            _check_array(self.confidence, (n, skel2d.num_joints), "frames/confidence", where, self.layout_2d)
        for name in ("pose3d", "pose3d_world"):
            arr = getattr(self, name)
            if arr is not None:
                _check_array(arr, (n, skel3d.num_joints, 3), f"frames/{name}", where, self.layout_3d)
        if self.images is not None and (self.images.dtype != np.uint8 or self.images.ndim != 4
                                        or len(self.images) != n or self.images.shape[-1] != 3):
            raise StoreError(f"{where}: frames/images has shape {self.images.shape} dtype {self.images.dtype}, "
                             f"expected ({n}, H, W, 3) uint8")
        if self.image_ref is not None:
            if self.image_ref.shape != (n,):
                raise StoreError(f"{where}: frames/image_ref has shape {self.image_ref.shape}, expected ({n},)")
            empty = np.flatnonzero(np.char.str_len(self.image_ref.astype(str)) == 0) if n else []
            if len(empty):
                self._raise_at(int(empty[0]), "empty frames/image_ref in", where)
        if self.boxes is not None:
            _check_array(self.boxes, (n, 4), "frames/boxes", where, "x_min, y_min, x_max, y_max")
            known = np.isfinite(self.boxes).all(axis=1)
            if (~known & ~np.isnan(self.boxes).all(axis=1)).any():
                self._raise_at(int(np.flatnonzero(~known & ~np.isnan(self.boxes).all(axis=1))[0]),
                               "frames/boxes row partly NaN/inf (a box is all finite or all NaN) in", where)
            empty = known & ((self.boxes[:, 2] <= self.boxes[:, 0]) | (self.boxes[:, 3] <= self.boxes[:, 1]))
            if empty.any():
                i = int(np.flatnonzero(empty)[0])
                self._raise_at(i, f"frames/boxes row {self.boxes[i].tolist()} has no area (need x_max > x_min "
                                  f"and y_max > y_min) in", where)
        if self.head_size is not None:
            _check_array(self.head_size, (n,), "frames/head_size", where, "pixels")
            bad = ~np.isnan(self.head_size) & ~(self.head_size > 0) | np.isinf(self.head_size)
            if bad.any():
                self._raise_at(int(np.flatnonzero(bad)[0]), "frames/head_size not positive (NaN = unknown) in", where)
        c = self.clips
        k = len(c)
        for col in fields(c):
            if len(getattr(c, col.name)) != k:
                raise StoreError(f"{where}: clips/{col.name} has {len(getattr(c, col.name))} rows, expected {k}")
        if k and (c.start.min() < 0 or (c.start + c.length).max() > n or c.length.min() < 1):
            bad = int(np.flatnonzero((c.start < 0) | (c.start + c.length > n) | (c.length < 1))[0])
            raise StoreError(f"{where}: clip {bad} ({c.subject[bad]}/{c.take[bad]}) covers frames "
                             f"{c.start[bad]}:{c.start[bad] + c.length[bad]}, outside 0:{n}")
        if k and (c.camera.min() < 0 or c.camera.max() >= len(self.cameras)):
            raise StoreError(f"{where}: clips/camera refers to a camera row outside 0:{len(self.cameras)}")
        if k and (c.action.min() < -1 or c.action.max() >= len(self.actions)):
            raise StoreError(f"{where}: clips/action refers to an action outside 0:{len(self.actions)} "
                             f"(-1 = no action label)")
        self._check_finite(where)
        if not self.partial:
            self._check_degenerate(where, skel3d)

    def _check_finite(self, where: str) -> None:
        """No inf anywhere; no NaN in the keypoints or in labeled 3-D (a ``partial`` store allows NaN:
        joints its annotation lacks). In chunks of frames, so the temporaries stay small whatever
        the store's size (a memory-mapped store is streamed through once)."""
        labeled = None if self.pose3d is None or self.partial else self.frame_mask(self.labeled_clips())
        for lo, hi in scan_blocks(self.num_frames, CHECK_CHUNK, self.keypoints, self.pose3d):
            kp = self.keypoints[lo:hi]
            bad_kp = np.isinf(kp).any(axis=(1, 2)) if self.partial else ~np.isfinite(kp).all(axis=(1, 2))
            if bad_kp.any():
                self._raise_at(lo + np.flatnonzero(bad_kp)[0],
                               "inf in frames/keypoints of" if self.partial else "NaN/inf in frames/keypoints of", where)
            if self.pose3d is None:
                continue
            p3 = self.pose3d[lo:hi]
            if self.partial:
                bad3d = np.isinf(p3).any(axis=(1, 2))
                what = "inf in frames/pose3d of"
            else:
                bad3d = labeled[lo:hi] & ~np.isfinite(p3).all(axis=(1, 2))
                what = "NaN/inf in frames/pose3d of labeled"
            if bad3d.any():
                self._raise_at(lo + np.flatnonzero(bad3d)[0], what, where)

    def _check_degenerate(self, where: str, skel3d) -> None:
        """No frame whose 2-D joints all coincide, no labeled frame with a zero-length bone: what a
        zeroed block, a wrong joint mapping or a collapsed reduction leaves (in chunks of frames, so
        memory stays bounded; a mapped block is released once checked: :mod:`poseact.store.mapping`)."""
        kp = self.keypoints
        for lo, hi in scan_blocks(self.num_frames, CHECK_CHUNK, kp):
            block = kp[lo:hi]
            same = (block == block[:, :1]).all(axis=(1, 2))
            if same.any():
                f = lo + int(np.flatnonzero(same)[0])
                self._raise_at(f, f"frames/keypoints with every joint at the same point {kp[f, 0].tolist()} "
                                  f"(corrupt or zeroed data) in", where)
        if self.pose3d is None:
            return
        child = np.array([j for j, _ in skel3d.bones])
        parent = np.array([p for _, p in skel3d.bones])
        labeled = self.frame_mask(self.labeled_clips())
        for lo, hi in scan_blocks(self.num_frames, CHECK_CHUNK, self.pose3d):
            rows = lo + np.flatnonzero(labeled[lo:hi])
            if not len(rows):
                continue
            block = self.pose3d[rows]
            length = np.linalg.norm(block[:, child] - block[:, parent], axis=-1)  # (F, bones) metres
            short = length < 1e-6
            if short.any():
                r, b = np.argwhere(short)[0]
                names = skel3d.joint_names or tuple(str(j) for j in range(skel3d.num_joints))
                self._raise_at(int(rows[r]), f"a zero-length bone ({names[child[b]]}-{names[parent[b]]}) in "
                                             f"frames/pose3d of labeled", where)

    def frame_mask(self, clip_rows: np.ndarray) -> np.ndarray:
        """Boolean ``(N,)`` marking the frames of the selected clips (bool mask or indices)."""
        c = self.clips
        mask = np.zeros(self.num_frames, dtype=bool)
        for start, length in zip(c.start[clip_rows].tolist(), c.length[clip_rows].tolist()):
            mask[start:start + length] = True
        return mask

    def _raise_at(self, frame: int, what: str, where: str) -> None:
        c = self.clips
        inside = np.flatnonzero((c.start <= frame) & (frame < c.start + c.length))
        if len(inside):
            i = int(inside[0])
            raise StoreError(f"{where}: {what} clip {self.clip_name(i)} at frame {frame - c.start[i]}")
        raise StoreError(f"{where}: {what} frame row {frame} (not in any clip)")


def _skeleton(name: str, where: str):
    try:
        return get_skeleton(name)
    except KeyError as e:
        raise StoreError(f"{where}: {e.args[0]}") from None


def _check_array(arr: np.ndarray, shape: tuple[int, ...], name: str, where: str, layout: str) -> None:
    if arr.dtype != np.float32:
        raise StoreError(f"{where}: {name} has dtype {arr.dtype}, expected float32")
    if arr.shape != shape:
        if arr.ndim == len(shape) and arr.ndim >= 2 and arr.shape[1] != shape[1]:
            raise StoreError(f"{where}: {name} has {arr.shape[1]} joints, layout {layout} expects {shape[1]}")
        raise StoreError(f"{where}: {name} has shape {arr.shape}, expected {shape}")
