"""Geometry kernel: cameras, projection, quaternions, calibration tables."""

from poseact.geometry.camera import (
    camera_to_world,
    flip_intrinsics,
    image_coordinates,
    intrinsics_vector,
    mirror_points,
    normalize_screen_coordinates,
    project_to_2d,
    project_to_2d_linear,
    world_to_camera,
)
from poseact.geometry.quaternion import qinverse, qrot
from poseact.geometry.tables import CameraCalibration, h36m_cameras, humaneva_cameras

__all__ = [
    "CameraCalibration", "camera_to_world", "flip_intrinsics", "h36m_cameras", "humaneva_cameras", "mirror_points",
    "image_coordinates", "intrinsics_vector", "normalize_screen_coordinates", "project_to_2d",
    "project_to_2d_linear", "qinverse", "qrot", "world_to_camera",
]
