"""``poseact infer`` on a 10-second 1080p clip: detect / lift / render seconds, and the render before/after.

    python benchmarks/infer_video.py                        # this tree
    python benchmarks/infer_video.py --before /tmp/old      # also time the render of another source tree

The clip: 10 s at 30 fps, 1920 x 1080, a real photographed person (scikit-image's ``astronaut``,
cut out of her background as a 512 x 512 sprite) moving across a gradient background. Detection is
MediaPipe in its own environment (``--env``, default the tests' ``.venv-mediapipe``; skipped with a
note when it is not set up). The lifter is a 243-frame, 1024-channel model with a trajectory model
(random weights: the figures are times, not accuracy). The render is timed here and, with
``--before``, with the other tree's renderer on the same poses in a child process (its own
defaults), so both figures come from the same run on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SECONDS, FPS, SIZE = 10, 30, (1920, 1080)


def make_clip(path: Path, seconds: int = SECONDS, fps: int = FPS) -> Path:
    import skimage.data

    from poseact.viz.video import write_video

    sprite = skimage.data.astronaut()
    w, h = SIZE
    ramp = np.linspace(40, 160, w, dtype=np.float32)
    base = np.repeat(np.repeat(ramp[None, :, None], h, 0), 3, 2).astype(np.uint8)

    def frames():
        for t in range(seconds * fps):
            frame = base.copy()
            x = int(200 + (w - 912) * t / (seconds * fps))
            frame[300:812, x:x + 512] = sprite
            yield frame

    return write_video(frames(), path, fps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, help="a source tree whose renderer to time on the same poses")
    ap.add_argument("--env", type=Path, default=REPO / ".venv-mediapipe", help="the MediaPipe environment")
    ap.add_argument("--render-frames", type=int, default=SECONDS * FPS)
    args = ap.parse_args()
    from poseact.infer.detect import detect, env_ready
    from poseact.infer.formats import read_keypoints
    from poseact.infer.gaps import fill_gaps
    from poseact.layouts import convert_layout
    from poseact.lifting.checkpoint import save_videopose3d_checkpoint
    from poseact.lifting.inference import lift, load_lifter
    from poseact.lifting.models.temporal import TemporalLifter
    from poseact.viz.render import render_video
    from poseact.viz.video import iter_frames

    work = Path(tempfile.mkdtemp(prefix="poseact-infer-video-"))
    clip = make_clip(work / "clip.mp4")
    print(f"clip: {SECONDS} s, {FPS} fps, {SIZE[0]}x{SIZE[1]} ({clip.stat().st_size / 1e6:.1f} MB)")
    n = SECONDS * FPS
    if env_ready(args.env):
        t = time.perf_counter()
        keypoints = detect(clip, work / "k.json", env=args.env)
        detect_s = time.perf_counter() - t
        track = read_keypoints(keypoints)
        kps, conf, _, _ = fill_gaps(track.keypoints, track.confidence)
        kps, conf = convert_layout(kps, conf, track.layout, "h36m17")
        print(f"detect (MediaPipe, incl. start-up): {detect_s:.1f} s = {1000 * detect_s / n:.0f} ms/frame")
    else:
        detect_s = None
        rng = np.random.default_rng(0)
        kps = (rng.uniform(700, 1300, (n, 17, 2))).astype(np.float32)
        conf = np.ones((n, 17), np.float32)
        print(f"detect: not measured (no MediaPipe environment at {args.env}; `poseact detect setup --env ...`)")
    ckpt = save_videopose3d_checkpoint(work / "m.bin", TemporalLifter(17, 2, 17, [3, 3, 3, 3, 3]),
                                       TemporalLifter(17, 2, 1, [3, 3, 3, 3, 3]))
    lifter = load_lifter(ckpt)
    t = time.perf_counter()
    pose, traj = lift(lifter, kps, conf, *SIZE, tta=True)
    lift_s = time.perf_counter() - t
    print(f"lift (243 frames, pose + trajectory, flip TTA): {lift_s:.1f} s")
    m = min(args.render_frames, n)
    poses = {"Reconstruction": pose[:m] + (traj[:m, None] - traj[:1, None])}
    np.savez(work / "poses.npz", kps=kps[:m], pose=poses["Reconstruction"])
    t = time.perf_counter()
    out = render_video(work / "after.mp4", kps[:m], "h36m17", poses, "h36m17", SIZE, FPS,
                       background=iter_frames(clip, limit=m), progress=False)
    after_s = time.perf_counter() - t
    first = next(iter_frames(out, limit=1))
    print(f"render (this tree): {after_s:.1f} s = {1000 * after_s / m:.0f} ms/frame, "
          f"{first.shape[1]}x{first.shape[0]} output")
    result = {"frames": n, "detect_s": detect_s, "lift_s": lift_s, "render_s": after_s, "render_frames": m,
              "render_size": [first.shape[1], first.shape[0]]}
    if args.before:
        code = f"""
import time, numpy as np
from poseact.viz.render import render_video
from poseact.viz.video import iter_frames, video_info
d = np.load({str(work / 'poses.npz')!r})
t = time.perf_counter()
out = render_video({str(work / 'before.mp4')!r}, d['kps'], 'h36m17', {{'Reconstruction': d['pose']}}, 'h36m17',
                   {SIZE!r}, {FPS}, background=iter_frames({str(clip)!r}, limit={m}))
dt = time.perf_counter() - t
info = video_info(out)
print(dt, info['width'], info['height'])
"""
        env = {**os.environ, "PYTHONPATH": str(args.before / "src")}
        r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        before_s, bw, bh = r.stdout.split()[-3:]
        before_s = float(before_s)
        print(f"render ({args.before}): {before_s:.1f} s = {1000 * before_s / m:.0f} ms/frame, {bw}x{bh} output")
        print(f"render speed-up per frame: {before_s / after_s:.1f}x "
              f"(and {int(first.shape[0]) * int(first.shape[1]) / (int(bw) * int(bh)):.1f}x the pixels)")
        result.update(before_render_s=before_s, before_size=[int(bw), int(bh)])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
