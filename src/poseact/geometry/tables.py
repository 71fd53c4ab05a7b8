"""Calibration tables of the real datasets (Human3.6M, HumanEva-I), read from packaged JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from poseact.geometry.camera import intrinsics_vector


@dataclass(frozen=True)
class CameraCalibration:
    """One camera as seen by one subject; pixels and metres. Unknown parts are None."""

    id: str
    res_w: int
    res_h: int
    azimuth: float
    focal_length: tuple[float, float] | None = None
    center: tuple[float, float] | None = None
    radial_distortion: tuple[float, float, float] | None = None
    tangential_distortion: tuple[float, float] | None = None
    orientation: tuple[float, float, float, float] | None = None  # camera-to-world (w, x, y, z)
    translation: tuple[float, float, float] | None = None  # camera centre, metres

    @property
    def has_intrinsics(self) -> bool:
        return self.focal_length is not None

    @property
    def has_extrinsics(self) -> bool:
        return self.orientation is not None

    def intrinsics_vector(self) -> np.ndarray:
        """Normalised 9-vector (float32); raises if the camera has no intrinsics."""
        if not self.has_intrinsics:
            raise ValueError(f"camera {self.id} has no intrinsics")
        return intrinsics_vector(self.focal_length, self.center, self.radial_distortion,
                                 self.tangential_distortion, self.res_w, self.res_h)


@cache
def _load(name: str) -> dict:
    text = resources.files("poseact.geometry").joinpath(f"cameras_{name}.json").read_text()
    return json.loads(text)


def _calibrations(name: str) -> dict[str, list[CameraCalibration]]:
    table = _load(name)
    out: dict[str, list[CameraCalibration]] = {}
    for subject, extrinsics in table["extrinsics"].items():
        cams = []
        for i, cam in enumerate(table["cameras"]):
            ext = extrinsics[i] if extrinsics else None
            cams.append(CameraCalibration(
                id=cam["id"], res_w=cam["res_w"], res_h=cam["res_h"], azimuth=cam["azimuth"],
                focal_length=tuple(cam["focal_length"]) if "focal_length" in cam else None,
                center=tuple(cam["center"]) if "center" in cam else None,
                radial_distortion=tuple(cam["radial_distortion"]) if "radial_distortion" in cam else None,
                tangential_distortion=tuple(cam["tangential_distortion"]) if "tangential_distortion" in cam else None,
                orientation=tuple(ext["orientation"]) if ext else None,
                translation=tuple(np.asarray(ext["translation_mm"]) / 1000.0) if ext else None,
            ))
        out[subject] = cams
    return out


def h36m_cameras() -> dict[str, list[CameraCalibration]]:
    """Subject -> the 4 H36M cameras (index order 54138969, 55011271, 58860488, 60457274)."""
    return _calibrations("h36m")


def humaneva_cameras() -> dict[str, list[CameraCalibration]]:
    """Subject (S1..S4) -> the 3 HumanEva-I cameras C1..C3 (no intrinsics)."""
    return _calibrations("humaneva")


H36M_FPS = 50
HUMANEVA_FPS = 60
