"""Models: the temporal lifter (VideoPose3D) and checkpoint compatibility."""
