"""Skeleton animations: input 2-D over the frame (or a blank canvas) beside 3-D panels.

As VideoPose3D's ``render_animation`` (spec §8.1), drawn with matplotlib's Agg backend:
panel 1 shows the 2-D keypoints (pixels) on the video frame or a black canvas of the viewport
size; each further panel one named 3-D pose sequence (e.g. "Prediction", "Ground truth"),
viewed from ``elev=15°`` and the given azimuth, in a 1.7 m cube that follows the root. Bones of
right-side joints are red. Frames come out as RGB arrays; :func:`render_video` writes them.

3-D input is camera space (x right, y down, z forward, metres); it is drawn upright
(plot x = x, plot y = z, plot z = −y) so no extrinsics are needed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from poseact.skeleton import get_skeleton

RADIUS = 1.7   # metres, the side of the viewing cube


def camera_to_plot(pose: np.ndarray) -> np.ndarray:
    """``(..., 3)`` camera space (y down, z forward) → upright plot axes (z up)."""
    return np.stack([pose[..., 0], pose[..., 2], -pose[..., 1]], axis=-1)


def render_frames(keypoints_2d: np.ndarray, layout_2d: str, poses: dict[str, np.ndarray], layout_3d: str,
                  viewport: tuple[int, int], background: Iterable[np.ndarray] | None = None,
                  size: float = 3.0, azimuth: float = 70.0, dpi: int = 80,
                  flagged: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """Yield ``(H, W, 3)`` uint8 frames, one per time step.

    ``keypoints_2d (T, J2, 2)`` pixels; ``poses[name] (T, J3, 3)`` metres, camera space;
    ``viewport = (width, height)`` pixels of the input frame; ``background`` frames (RGB) are
    drawn under the keypoints when given (else black); ``flagged (T,)`` marks frames whose
    2-D was filled over a long gap (drawn with a note).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    sk2, sk3 = get_skeleton(layout_2d), get_skeleton(layout_3d)
    T = keypoints_2d.shape[0]
    plot = {k: camera_to_plot(np.asarray(v, dtype=np.float32)) for k, v in poses.items()}
    for k, v in plot.items():
        if v.shape[0] < T or v.shape[1] != sk3.num_joints:
            raise ValueError(f"pose {k!r}: shape {v.shape}, expected ({T}, {sk3.num_joints}, 3)")
    w, h = viewport
    fig = plt.figure(figsize=(size * (1 + len(plot)), size), dpi=dpi)
    try:
        ax_in = fig.add_subplot(1, 1 + len(plot), 1)
        ax_in.set_axis_off()
        ax_in.set_title("Input")
        image = ax_in.imshow(np.zeros((h, w, 3), np.uint8), extent=(0, w, h, 0))
        ax_in.set_xlim(0, w)
        ax_in.set_ylim(h, 0)
        right2 = set(sk2.joints_right)
        bones2 = [ax_in.plot([], [], color="pink", lw=1)[0] for _ in sk2.bones]
        colors = ["red" if j in right2 else "white" for j in range(sk2.num_joints)]
        points = ax_in.scatter(keypoints_2d[0, :, 0], keypoints_2d[0, :, 1], s=10, c=colors,
                               edgecolors="black", linewidths=0.5, zorder=3)
        note = ax_in.text(0.02, 0.02, "", transform=ax_in.transAxes, color="yellow", fontsize=7)
        panels = []
        right3 = set(sk3.joints_right)
        for i, (name, _) in enumerate(plot.items()):
            ax = fig.add_subplot(1, 1 + len(plot), i + 2, projection="3d")
            ax.view_init(elev=15.0, azim=azimuth)
            ax.set_title(name)
            ax.set_xticklabels([])
            ax.set_yticklabels([])
            ax.set_zticklabels([])
            ax.set_box_aspect((1, 1, 1))
            lines = [ax.plot([0, 0], [0, 0], [0, 0], color="red" if c in right3 else "black", lw=2)[0]
                     for c, _ in sk3.bones]
            panels.append((ax, lines))
        fig.tight_layout()
        bg = iter(background) if background is not None else None
        for t in range(T):
            if bg is not None:
                frame = next(bg, None)
                if frame is not None:
                    image.set_data(frame)
            kp = keypoints_2d[t]
            points.set_offsets(kp)
            for line, (c, p) in zip(bones2, sk2.bones):
                line.set_data([kp[c, 0], kp[p, 0]], [kp[c, 1], kp[p, 1]])
            note.set_text("filled over a long gap" if flagged is not None and flagged[t] else "")
            for (ax, lines), pose in zip(panels, plot.values()):
                p3 = pose[t]
                root = p3[0]
                ax.set_xlim3d(root[0] - RADIUS / 2, root[0] + RADIUS / 2)
                ax.set_ylim3d(root[1] - RADIUS / 2, root[1] + RADIUS / 2)
                ax.set_zlim3d(root[2] - RADIUS / 2, root[2] + RADIUS / 2)
                for line, (c, p) in zip(lines, sk3.bones):
                    line.set_data_3d([p3[c, 0], p3[p, 0]], [p3[c, 1], p3[p, 1]], [p3[c, 2], p3[p, 2]])
            fig.canvas.draw()
            yield np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    finally:
        plt.close(fig)


def render_video(output: str | os.PathLike, keypoints_2d: np.ndarray, layout_2d: str,
                 poses: dict[str, np.ndarray], layout_3d: str, viewport: tuple[int, int], fps: float,
                 background: Iterable[np.ndarray] | None = None, size: float = 3.0,
                 azimuth: float = 70.0, limit: int | None = None,
                 flagged: np.ndarray | None = None) -> Path:
    """Render to ``.mp4`` or ``.gif`` (atomic). ``limit`` keeps the first frames only."""
    from poseact.viz.video import write_video

    if limit is not None:
        keypoints_2d = keypoints_2d[:limit]
        poses = {k: v[:limit] for k, v in poses.items()}
        flagged = flagged[:limit] if flagged is not None else None
    frames = render_frames(keypoints_2d, layout_2d, poses, layout_3d, viewport, background,
                           size=size, azimuth=azimuth, flagged=flagged)
    return write_video(frames, output, fps)


