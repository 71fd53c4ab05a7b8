"""Camera calibration files → one :class:`Camera` per camera (pinhole + OpenCV distortion, metres).

Three formats, chosen by the file's name (:func:`read_calibration`):

* **Qualisys** ``*.qca.txt`` (XML, as QTM writes it and Pose2Sim's demos ship it): per
  ``<camera serial=...>`` a ``<transform x y z r11..r33>`` (the camera's position in millimetres
  and a rotation matrix), an ``<intrinsic>`` in sub-pixel units (1/64 px: ``focalLengthU/V``,
  ``centerPointU/V``) and ``<fov_video left top right bottom>``, the image window on the sensor.
  Read as Pose2Sim's converter reads it: ``K = [[fU/64, 0, cU/64 - left], [0, fV/64, cV/64 - top],
  [0, 0, 1]]``, distortion ``(k1, k2, p1, p2)`` = the file's values / 64, and world → camera
  ``R = diag(1, -1, -1) @ M``, ``t = -R @ position``, where ``M`` is the file's matrix ``r11..r33``
  row by row (Qualisys's camera looks along its -z with y up; OpenCV's along +z with y down).
  Triangulating MediaPipe keypoints of the ``Demo_Batch`` recordings with these cameras reprojects
  to a few pixels (``benchmarks/real_video.py``); reading ``M`` transposed puts the subject behind
  the cameras.
* **Pose2Sim / OpenCV TOML**: one table per camera (``[cam_01]``) with ``size = [w, h]`` pixels,
  ``matrix`` (3 × 3 K), ``distortions = [k1, k2, p1, p2]`` (or 5 values with ``k3``),
  ``rotation`` (a Rodrigues vector, world → camera) and ``translation`` (metres, world → camera,
  ``x_cam = R x_world + t``); optional ``name``. Tables without ``matrix`` (``[metadata]``) are skipped.
* **YAML** (poseact's simple form, for a camera known only roughly)::

      cameras:
        phone:
          size: [1080, 1920]          # width, height in pixels (required)
          focal: 1500                 # pixels (one value or [fx, fy]) ...
          # fov: 65                   # ... or the horizontal field of view in degrees
          centre: [540, 960]          # principal point in pixels (default: the image centre)
          distortion: [0, 0, 0, 0]    # k1, k2, p1, p2[, k3] (default: none)
          rotation: [[1, 0, 0], [0, 1, 0], [0, 0, 1]]  # world → camera: 3 × 3, or Rodrigues [rx, ry, rz]
          translation: [0, 0, 0]      # metres, world → camera; or position: [x, y, z] (the centre)

  ``rotation`` and ``translation`` / ``position`` are optional together: a camera without them
  has intrinsics only (``Camera.has_extrinsics`` is False), enough to lift, not to triangulate.

Camera axes are OpenCV's (x right, y down, z forward), as the rest of poseact's camera space.
A malformed file raises :class:`~poseact.errors.CalibrationError` naming the file, camera and key.
"""

from __future__ import annotations

import math
import os
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from poseact.errors import CalibrationError, MissingFileError

#: Qualisys stores intrinsics in sub-pixel units: 64 per pixel.
QUALISYS_SUBPIXELS = 64.0
#: Qualisys camera axes (looking along -z, y up) → OpenCV's (along +z, y down): a half turn about x.
QUALISYS_TO_OPENCV = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True, eq=False)
class Camera:
    """One calibrated camera: pinhole ``K (3, 3)`` pixels, OpenCV distortion ``(k1, k2, p1, p2, k3)``,
    world → camera ``R (3, 3)`` and ``t (3,)`` metres (``x_cam = R @ x_world + t``; None when the
    file gives intrinsics only), image ``size = (width, height)`` pixels."""

    name: str
    K: np.ndarray
    distortion: np.ndarray
    R: np.ndarray | None
    t: np.ndarray | None
    size: tuple[int, int]

    @property
    def has_extrinsics(self) -> bool:
        return self.R is not None and self.t is not None

    @property
    def centre(self) -> np.ndarray:
        """The camera's centre in world coordinates ``(3,)`` metres: ``-R^T t``."""
        R, t = self._extrinsics()
        return -R.T @ t

    def _extrinsics(self) -> tuple[np.ndarray, np.ndarray]:
        if self.R is None or self.t is None:
            raise ValueError(f"camera {self.name}: no rotation/translation (intrinsics only)")
        return self.R, self.t

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points ``(..., 3)`` metres → this camera's frame ``(..., 3)`` metres."""
        R, t = self._extrinsics()
        return np.asarray(points, dtype=np.float64) @ R.T + t

    def project(self, points: np.ndarray, world: bool = True) -> np.ndarray:
        """Points ``(..., 3)`` metres (world, or camera frame with ``world=False``) → pixels
        ``(..., 2)`` with distortion applied; points at or behind the camera give NaN."""
        cam = self.to_camera(points) if world else np.asarray(points, dtype=np.float64)
        z = cam[..., 2:3]
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = np.where(z > 1e-9, cam[..., :2] / z, np.nan)
        return self.normalised_to_pixels(distort(xy, self.distortion))

    def normalised_to_pixels(self, xy: np.ndarray) -> np.ndarray:
        """Normalised image coordinates ``(..., 2)`` (``x/z``, ``y/z``) → pixels through ``K``."""
        K = self.K
        u = K[0, 0] * xy[..., 0] + K[0, 1] * xy[..., 1] + K[0, 2]
        v = K[1, 1] * xy[..., 1] + K[1, 2]
        return np.stack([u, v], axis=-1)

    def undistort(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels ``(..., 2)`` as seen (distorted) → ideal normalised coordinates ``(..., 2)``:
        the ray ``(x, y, 1)`` in the camera frame."""
        px = np.asarray(pixels, dtype=np.float64)
        K = self.K
        y = (px[..., 1] - K[1, 2]) / K[1, 1]
        x = (px[..., 0] - K[0, 2] - K[0, 1] * y) / K[0, 0]
        return undistort_normalised(np.stack([x, y], axis=-1), self.distortion)

    def intrinsics_vector(self) -> np.ndarray:
        """poseact's normalised 9-vector ``[fx, fy, cx, cy, k1, k2, k3, p1, p2]`` (float32; see
        :mod:`poseact.geometry.camera`) of this camera, for stores and the reprojection loss. The
        skew is dropped; the radial terms carry over exactly, the tangential ones as the same
        numbers (H36M's tangential model, which poseact projects with, differs from OpenCV's in
        second-order terms: negligible for the ~1e-3 values of real lenses)."""
        from poseact.geometry.camera import intrinsics_vector

        k1, k2, p1, p2, k3 = self.distortion
        return intrinsics_vector((self.K[0, 0], self.K[1, 1]), (self.K[0, 2], self.K[1, 2]), (k1, k2, k3), (p1, p2),
                                 self.size[0], self.size[1])

    def projection_matrix(self) -> np.ndarray:
        """``[R | t]`` ``(3, 4)``: world points to normalised (undistorted) homogeneous coordinates."""
        R, t = self._extrinsics()
        return np.concatenate([R, t[:, None]], axis=1)


def distort(xy: np.ndarray, d: np.ndarray) -> np.ndarray:
    """OpenCV's distortion of normalised coordinates ``(..., 2)`` by ``d = (k1, k2, p1, p2, k3)``."""
    k1, k2, p1, p2, k3 = (float(v) for v in d)
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([xd, yd], axis=-1)


def undistort_normalised(xy: np.ndarray, d: np.ndarray, iterations: int = 20) -> np.ndarray:
    """Inverse of :func:`distort` by OpenCV's fixed-point iteration (exact to well under a
    thousandth of a pixel for the mild distortions of real lenses)."""
    k1, k2, p1, p2, k3 = (float(v) for v in d)
    if not any((k1, k2, p1, p2, k3)):
        return np.array(xy, dtype=np.float64)
    xd, yd = xy[..., 0], xy[..., 1]
    x, y = xd.copy(), yd.copy()
    for _ in range(iterations):
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        x, y = (xd - dx) / radial, (yd - dy) / radial
    return np.stack([x, y], axis=-1)


def rodrigues(vector: np.ndarray) -> np.ndarray:
    """A rotation vector ``(3,)`` (axis × angle in radians) → its rotation matrix ``(3, 3)``."""
    v = np.asarray(vector, dtype=np.float64).reshape(3)
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.eye(3)
    k = v / angle
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(angle) * cross + (1 - math.cos(angle)) * cross @ cross


def rotation_vector(R: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rodrigues`: a rotation matrix ``(3, 3)`` → its rotation vector ``(3,)``."""
    R = np.asarray(R, dtype=np.float64)
    angle = math.acos(max(-1.0, min(1.0, (np.trace(R) - 1) / 2)))
    if angle < 1e-9:
        return np.zeros(3)
    if math.pi - angle < 1e-6:  # half turn: the axis from R + I
        col = int(np.argmax(np.diag(R)))
        axis = (R + np.eye(3))[:, col]
        return angle * axis / np.linalg.norm(axis)
    axis = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]]) / (2 * math.sin(angle))
    return angle * axis


def read_calibration(path: str | os.PathLike) -> list[Camera]:
    """Read a calibration file by its name: ``*.qca.txt`` / ``*.xml`` (Qualisys), ``*.toml``
    (Pose2Sim/OpenCV), ``*.yaml`` / ``*.yml`` (poseact's simple form). Cameras in file order."""
    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"calibration file {p} does not exist")
    name = p.name.lower()
    if name.endswith((".qca.txt", ".xml")):
        return read_qualisys(p)
    if name.endswith(".toml"):
        return read_toml(p)
    if name.endswith((".yaml", ".yml")):
        return read_yaml(p)
    raise CalibrationError(f"calibration file {p}: unknown format; give a Qualisys .qca.txt, a Pose2Sim/OpenCV "
                           f".toml or a .yaml (see poseact.geometry.calibration)")


# ------------------------------------------------------------------------------------------
# Qualisys


def read_qualisys(path: str | os.PathLike) -> list[Camera]:
    """Cameras of a Qualisys ``.qca.txt`` (see the module docstring for the conventions)."""
    p = Path(path)
    try:
        root = ET.parse(p).getroot()
    except (ET.ParseError, UnicodeDecodeError) as e:
        raise CalibrationError(f"calibration file {p}: not Qualisys XML ({e})") from None
    cams = root.findall("cameras/camera")
    if not cams:
        raise CalibrationError(f"calibration file {p}: no <cameras><camera> entries")
    out = []
    for i, cam in enumerate(cams):
        name = cam.get("serial") or f"camera{i + 1}"

        def element(tag: str, name: str = name) -> ET.Element:
            found = cam.find(tag)
            if found is None:
                raise CalibrationError(f"calibration file {p}: camera {name} has no <{tag}>")
            return found

        def number(el: ET.Element, key: str, name: str = name) -> float:
            value = el.get(key)
            try:
                x = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                x = float("nan")
            if not math.isfinite(x):
                raise CalibrationError(f"calibration file {p}: camera {name} <{el.tag}> {key}={value!r}: "
                                       f"expected a number")
            return x

        fov, intr, tr = element("fov_video"), element("intrinsic"), element("transform")
        left, top = number(fov, "left"), number(fov, "top")
        size = (int(number(fov, "right") - left + 1), int(number(fov, "bottom") - top + 1))
        fu, fv = (number(intr, k) / QUALISYS_SUBPIXELS for k in ("focalLengthU", "focalLengthV"))
        cu = number(intr, "centerPointU") / QUALISYS_SUBPIXELS - left
        cv = number(intr, "centerPointV") / QUALISYS_SUBPIXELS - top
        K = np.array([[fu, 0.0, cu], [0.0, fv, cv], [0.0, 0.0, 1.0]])
        dist = np.array([number(intr, k) for k in ("radialDistortion1", "radialDistortion2", "tangentalDistortion1",
                                                    "tangentalDistortion2")] + [0.0]) / QUALISYS_SUBPIXELS
        if intr.get("radialDistortion3") is not None:
            dist[4] = number(intr, "radialDistortion3") / QUALISYS_SUBPIXELS
        M = np.array([[number(tr, f"r{r}{c}") for c in (1, 2, 3)] for r in (1, 2, 3)])
        position = np.array([number(tr, k) for k in ("x", "y", "z")]) / 1000.0
        R = QUALISYS_TO_OPENCV @ M
        _check_rotation(R, p, name, "<transform> r11..r33")
        out.append(_camera(name, K, dist, R, -R @ position, size, p))
    return out


# ------------------------------------------------------------------------------------------
# TOML


def read_toml(path: str | os.PathLike) -> list[Camera]:
    """Cameras of a Pose2Sim/OpenCV calibration TOML (see the module docstring)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise CalibrationError(f"calibration file {p}: not valid TOML ({e})") from None
    out = []
    for key, table in data.items():
        if not isinstance(table, dict) or "matrix" not in table:
            continue  # [metadata] and the like
        name = str(table.get("name", key))
        where = f"calibration file {p}: [{key}]"
        size = _vector(table, "size", 2, where)
        K = _matrix(table, "matrix", where)
        dist = _distortion(table.get("distortions", [0, 0, 0, 0]), f"{where} distortions")
        R = rodrigues(_vector(table, "rotation", 3, where))
        t = _vector(table, "translation", 3, where)
        out.append(_camera(name, K, dist, R, t, (int(round(size[0])), int(round(size[1]))), p))
    if not out:
        raise CalibrationError(f"calibration file {p}: no camera table (a [cam_01] with size, matrix, "
                               f"distortions, rotation, translation)")
    return out


# ------------------------------------------------------------------------------------------
# YAML


def read_yaml(path: str | os.PathLike) -> list[Camera]:
    """Cameras of poseact's simple calibration YAML (see the module docstring)."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise CalibrationError(f"calibration file {p}: not valid YAML ({' '.join(str(e).split())})") from None
    cams = data.get("cameras") if isinstance(data, dict) else None
    if not isinstance(cams, dict) or not cams:
        raise CalibrationError(f"calibration file {p}: expected a mapping 'cameras:' of camera name -> "
                               f"size, focal or fov, centre, rotation, translation")
    out = []
    for name, entry in cams.items():
        where = f"calibration file {p}: cameras.{name}"
        if not isinstance(entry, dict):
            raise CalibrationError(f"{where}: expected a mapping of size, focal or fov, ...")
        w, h = _vector(entry, "size", 2, where)
        if w <= 0 or h <= 0:
            raise CalibrationError(f"{where}.size {entry['size']!r}: width and height in pixels, both positive")
        if ("focal" in entry) == ("fov" in entry):
            raise CalibrationError(f"{where}: give one of 'focal' (pixels) or 'fov' (horizontal, degrees)")
        if "focal" in entry:
            f = entry["focal"]
            fx, fy = _vector(entry, "focal", 2, where) if isinstance(f, list) else (_scalar(f, f"{where}.focal"),) * 2
        else:
            fov = _scalar(entry["fov"], f"{where}.fov")
            if not 0 < fov < 180:
                raise CalibrationError(f"{where}.fov {fov!r}: the horizontal field of view in degrees, 0-180")
            fx = fy = (w / 2) / math.tan(math.radians(fov) / 2)
        if fx <= 0 or fy <= 0:
            raise CalibrationError(f"{where}.focal {entry['focal']!r}: the focal length in pixels, positive")
        cx, cy = _vector(entry, "centre", 2, where) if "centre" in entry else (w / 2, h / 2)
        K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        dist = _distortion(entry.get("distortion", [0, 0, 0, 0]), f"{where}.distortion")
        R = t = None
        has_place = "translation" in entry or "position" in entry
        if "rotation" in entry or has_place:
            if "rotation" not in entry or not has_place or ("translation" in entry and "position" in entry):
                raise CalibrationError(f"{where}: give 'rotation' with one of 'translation' (world → camera) "
                                       f"or 'position' (the camera's centre), or none of them")
            rot = entry["rotation"]
            R = _matrix(entry, "rotation", where) if isinstance(rot, list) and rot and isinstance(rot[0], list) \
                else rodrigues(_vector(entry, "rotation", 3, where))
            _check_rotation(R, p, str(name), "rotation")
            t = _vector(entry, "translation", 3, where) if "translation" in entry \
                else -R @ _vector(entry, "position", 3, where)
        out.append(_camera(str(name), K, dist, R, t, (int(round(w)), int(round(h))), p))
    return out


# ------------------------------------------------------------------------------------------
# checks shared by the readers


def _scalar(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CalibrationError(f"{where} {value!r}: expected a number")
    return float(value)


def _vector(table: dict, key: str, n: int, where: str) -> np.ndarray:
    if key not in table:
        raise CalibrationError(f"{where}: missing key {key!r}")
    value = table[key]
    if not isinstance(value, list) or len(value) != n:
        raise CalibrationError(f"{where}.{key} {value!r}: expected a list of {n} numbers")
    return np.array([_scalar(v, f"{where}.{key}") for v in value])


def _matrix(table: dict, key: str, where: str) -> np.ndarray:
    value = table.get(key)
    if not (isinstance(value, list) and len(value) == 3 and all(isinstance(r, list) and len(r) == 3 for r in value)):
        raise CalibrationError(f"{where}.{key} {value!r}: expected a 3 x 3 matrix (3 lists of 3 numbers)")
    return np.array([[_scalar(v, f"{where}.{key}") for v in row] for row in value])


def _distortion(value: Any, where: str) -> np.ndarray:
    if not isinstance(value, list) or len(value) not in (4, 5):
        raise CalibrationError(f"{where} {value!r}: expected [k1, k2, p1, p2] or [k1, k2, p1, p2, k3]")
    d = [_scalar(v, where) for v in value]
    return np.array(d + [0.0] * (5 - len(d)))


def _check_rotation(R: np.ndarray, path: Path, name: str, key: str) -> None:
    if not (np.allclose(R @ R.T, np.eye(3), atol=1e-4) and np.linalg.det(R) > 0):
        raise CalibrationError(f"calibration file {path}: camera {name} {key} is not a rotation "
                               f"(R R^T != I or det R != 1)")


def _camera(name: str, K: np.ndarray, dist: np.ndarray, R: np.ndarray | None, t: np.ndarray | None,
            size: tuple[int, int], path: Path) -> Camera:
    if not (K[0, 0] > 0 and K[1, 1] > 0):
        raise CalibrationError(f"calibration file {path}: camera {name} focal lengths {K[0, 0]}, {K[1, 1]}: "
                               f"must be positive pixels")
    if size[0] <= 0 or size[1] <= 0:
        raise CalibrationError(f"calibration file {path}: camera {name} image size {size}: must be positive")
    return Camera(name, K.astype(np.float64), dist.astype(np.float64),
                  None if R is None else R.astype(np.float64), None if t is None else np.asarray(t, np.float64),
                  size)
