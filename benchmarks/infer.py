"""Inference figures: lifting a clip with the 243-frame lifter (flip TTA), and rendering.

    python benchmarks/infer.py [--frames 1000] [--render-frames 50]

Prints seconds per stage: load, lift (edge padding + dilated network, with and without flip
TTA), gap filling + layout conversion, and render (matplotlib Agg + ffmpeg) per frame.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=1000)
    p.add_argument("--render-frames", type=int, default=50)
    args = p.parse_args()
    from poseact.infer.gaps import fill_gaps
    from poseact.layouts import convert_layout
    from poseact.lifting.inference import lift, load_lifter
    from poseact.lifting.checkpoint import save_videopose3d_checkpoint
    from poseact.lifting.models.temporal import TemporalLifter
    from poseact.viz.render import render_video

    torch.set_num_threads(torch.get_num_threads())
    work = Path(tempfile.mkdtemp())
    ckpt = save_videopose3d_checkpoint(work / "h36m_243.bin", TemporalLifter(17, 2, 17, [3, 3, 3, 3, 3]),
                                       TemporalLifter(17, 2, 1, [3, 3, 3, 3, 3]))
    t = time.perf_counter()
    lifter = load_lifter(ckpt)
    print(f"load 243-frame pose + trajectory models: {time.perf_counter() - t:.2f} s")
    rng = np.random.default_rng(0)
    T = args.frames
    kps = rng.uniform(100, 900, (T, 33, 2)).astype(np.float32)
    kps[rng.random((T, 33)) < 0.05] = np.nan
    t = time.perf_counter()
    filled, conf, _, report = fill_gaps(kps, np.ones((T, 33), np.float32))
    h36m, conf = convert_layout(filled, conf, "mediapipe33", "h36m17")
    print(f"fill gaps + MediaPipe-33 -> H36M-17, {T} frames: {time.perf_counter() - t:.3f} s ({report.summary()})")
    for tta in (False, True):
        lift(lifter, h36m[:300], conf[:300], 1000, 1000, tta=tta)  # warm-up
        t = time.perf_counter()
        pose, traj = lift(lifter, h36m, conf, 1000, 1000, tta=tta)
        dt = time.perf_counter() - t
        print(f"lift {T} frames (pose + trajectory, tta={tta}): {dt:.2f} s = {T / dt:.0f} frames/s, "
              f"{torch.get_num_threads()} threads")
    n = args.render_frames
    t = time.perf_counter()
    render_video(work / "r.mp4", h36m[:n], "h36m17", {"Reconstruction": pose[:n]}, "h36m17", (1000, 1000), 50)
    dt = time.perf_counter() - t
    print(f"render {n} frames (2 panels, 3 in each, mp4): {dt:.2f} s = {1000 * dt / n:.0f} ms/frame")


if __name__ == "__main__":
    main()
