"""In-the-wild inference: keypoint files, layout conversions, gap filling, the MediaPipe stage, ``poseact infer``."""
