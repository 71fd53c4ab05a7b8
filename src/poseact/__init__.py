"""poseact: Lightning experiments for 3D human pose estimation and action recognition."""

__version__ = "0.1.0"
