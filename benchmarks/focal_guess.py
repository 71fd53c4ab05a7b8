"""What a wrong focal-length guess costs ``poseact data from-videos`` users without a calibration.

For each view of pose2sim's Demo_Batch/Trial_1 (the triangulated pseudo-ground truth of
``benchmarks/real_video.py``, cached in ``outputs/real_video/Demo_Batch_Trial_1/pseudo_gt.npz``), the pose
relative to its pelvis is taken as a perfect lift; per frame (every 3rd evaluated frame) the root position
that best reprojects it (least squares, pixels) through a guessed pinhole camera (focal from a field of
view across the longer side, principal point at the image centre, no distortion: what ``--fov`` writes)
is fitted against the view's 2-D: ``clean`` = the pseudo-ground truth projected through the true
calibration, ``mediapipe`` = the detections (H36M-17). Prints the median residual (px: the floor of
the reprojection loss for a perfect pose) and the fitted depth / true depth.

    python benchmarks/real_video.py --recording Demo_Batch/Trial_1 --source none --checkpoint CKPT  # the cache, once
    python benchmarks/focal_guess.py        # ~15 s
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

REPO = Path(__file__).resolve().parents[1]
RECORDING = REPO / "data/pose2sim/Demo_Batch/Trial_1"
PSEUDO_GT = REPO / "outputs/real_video/Demo_Batch_Trial_1/pseudo_gt.npz"
VIEWS = ("cam01", "cam02", "cam03", "cam04")
GUESSES_DEG = (40.0, 60.0, 80.0)
#: the videos' frame size (the calibration says 1088 × 1920: the encoder's padding); a guess is centred on it
VIDEO_SIZE = (1080, 1920)


def best_root(rel: np.ndarray, xy: np.ndarray, focal: float, centre: tuple[float, float]) -> tuple[float, np.ndarray]:
    """The root position ``(3,)`` metres whose pose ``rel + root`` (``(J, 3)``) projects closest to
    ``xy (J, 2)`` px through a centred pinhole of ``focal`` px, and the mean residual px."""
    ok = np.isfinite(xy).all(1)
    if ok.sum() < 3:  # too few detected joints to place the root: left out of the medians
        return float("nan"), np.full(3, np.nan)
    rel, xy = rel[ok], xy[ok]

    def residual(root: np.ndarray) -> np.ndarray:
        p = rel + root
        return (focal * p[:, :2] / p[:, 2:3] + np.asarray(centre) - xy).ravel()

    fit = least_squares(residual, np.array([0.0, 0.0, 4.0]))
    return float(np.sqrt((fit.fun.reshape(-1, 2) ** 2).sum(1)).mean()), fit.x


def main() -> int:
    sys.path.insert(0, str(REPO / "src"))
    from poseact.geometry.calibration import read_calibration
    from poseact.infer.unlabeled_store import focal_from_fov
    from poseact.layouts import convert_layout

    if not PSEUDO_GT.exists():
        raise SystemExit(f"{PSEUDO_GT} missing: run benchmarks/real_video.py on Demo_Batch/Trial_1 first")
    z = np.load(PSEUDO_GT)
    pose, valid = z["pose"], z["valid"].all(axis=1)
    cams = {c.name: c for c in read_calibration(RECORDING / "calibration/Calib.qca.txt")}
    print("| view | focal guess | 2-D | median reprojection px (best root) | fitted depth / true |")
    print("|---|---|---|---:|---:|")
    for v, name in enumerate(VIEWS):
        cam = cams[name]
        w, h = VIDEO_SIZE
        side = max(w, h)
        true_f = float(cam.K[0, 0])
        true_fov = math.degrees(2 * math.atan(side / 2 / true_f))
        in_camera = cam.to_camera(pose)  # (T, 17, 3) metres
        clean = cam.project(pose)
        det, _ = convert_layout(z["detections"][v].astype(np.float32), z["confidence"][v].astype(np.float32),
                                "mediapipe33", "h36m17")
        frames = np.flatnonzero(valid & z["used"][v])[::3]
        guesses = [(f"{d:g}°" + (" (default)" if d == 60 else ""), focal_from_fov(side, d))
                   for d in GUESSES_DEG] + [(f"true ({true_fov:.1f}°, pinhole)", true_f)]
        for label, focal in guesses:
            for source, xy in (("clean", clean), ("mediapipe", det)):
                errors, depth = [], []
                for t in frames:
                    e, root = best_root(in_camera[t] - in_camera[t, 0], xy[t], focal, (w / 2, h / 2))
                    errors.append(e)
                    depth.append(root[2] / in_camera[t, 0, 2])
                print(f"| {name} | {label} | {source} | {np.nanmedian(errors):.1f} | {np.nanmedian(depth):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
