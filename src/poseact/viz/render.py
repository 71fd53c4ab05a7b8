"""Skeleton animations: the input 2-D over the frame beside one 3-D panel per pose sequence.

As VideoPose3D's ``render_animation`` (spec §8.1) in content, drawn for speed:

* the **2-D panel** is the input frame (or black) at the input's aspect, scaled to the output
  height, with bones and joints drawn by Pillow (right side red), a frame counter, and flagged
  frames (2-D filled over a gap or a lost subject, the subject partly hidden, a swap left unsure, or too
  few reliable joints) drawn grey with a note;
* each **3-D panel** (e.g. "Reconstruction", "Ground truth") is a matplotlib 3-D axes drawn once —
  equal aspect, ticks in metres, a legend, seen from the camera's side (left is left, as in the
  video beside it; ``view_turn`` degrees about the vertical, ``elev=15°``) — whose background is
  kept, so each frame only redraws the bones (blitting). The pose is shown
  root-relative (root at the origin, limits fixed over the clip so the ticks mean something); the
  root's position relative to the first frame, when the pose moves, is printed under the panel.

Output size follows the input: its height, divided by the smallest whole factor that brings it to
at most ``MAX_HEIGHT`` (or ``height``), the 2-D panel at the input's aspect, each 3-D panel square. Frames come out as ``(H, W, 3)`` uint8 RGB;
:func:`render_video` writes them with a progress bar.

3-D input is camera space (x right, y down, z forward, metres), drawn upright (plot x = x,
plot y = z, plot z = −y) and seen from the camera: matplotlib's azimuth −90° puts the viewer on the
camera's side of the subject looking along +depth, so image-right is plot-right. ``view_turn``
turns the viewer about the vertical axis from there (default :data:`VIEW_TURN`: a little from the
side, so depth reads, without mirroring anything).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from poseact.skeleton import get_skeleton

MAX_HEIGHT = 720  # pixels: the default output height is the input's, at most this
MIN_HEIGHT = 240  # pixels: smaller inputs are drawn at this height
HALF_SIDE_M = 1.0  # the 3-D cube spans ±this around the root, metres
RIGHT_COLOR, LEFT_COLOR = (230, 40, 40), (250, 250, 250)  # 2-D joints (RGB)
BONE_2D = (255, 170, 200)
CAMERA_AZIMUTH = -90.0  # matplotlib azimuth (degrees) of a viewer on the camera's side, looking along +depth
VIEW_TURN = 20.0  # default turn of the 3-D view from the camera's viewpoint, degrees about the vertical
FLAGGED_2D = (150, 150, 150)  # bones and joints of a flagged frame: drawn, but grey


def camera_to_plot(pose: np.ndarray) -> np.ndarray:
    """``(..., 3)`` camera space (y down, z forward) → upright plot axes (z up)."""
    return np.stack([pose[..., 0], pose[..., 2], -pose[..., 1]], axis=-1)


def output_height(viewport: tuple[int, int], height: int | None = None) -> int:
    """The render's height in pixels, even: ``height``; else the input's, divided by the smallest whole
    factor that brings it to at most MAX_HEIGHT (1080 → 540, 2160 → 720: a whole factor is a fast,
    sharp box reduction), and at least MIN_HEIGHT."""
    if height is not None:
        h = int(height)
    else:
        h = int(viewport[1])
        if h > MAX_HEIGHT:
            h //= -(-h // MAX_HEIGHT)
        h = max(h, MIN_HEIGHT)
    return max(h - h % 2, 2)


def text_size_px(height: int) -> int:
    """Pixel height of the render's text for an output ``height`` px tall: about 1/32 of it, at
    least 12 px (readable at the default sizes: 15 px at 496, 22 px at 720)."""
    return max(12, int(round(height / 32)))


def _font(size_px: int):
    """Pillow's bundled scalable font at ``size_px`` (its bitmap fallback where FreeType is missing)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size_px)
    except (TypeError, OSError, ImportError):  # Pillow < 10.1 or no FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _wrap(draw, text: str, font, width_px: int) -> list[str]:
    """``text`` broken at spaces into lines at most ``width_px`` wide in ``font`` (a word wider than that
    stays on a line of its own)."""
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and draw.textbbox((0, 0), candidate, font=font)[2] <= width_px:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines


class Panel2D:
    """The input panel: a frame scaled to ``(width, height)`` with the 2-D skeleton drawn on it."""

    def __init__(self, layout_2d: str, viewport: tuple[int, int], height: int) -> None:
        sk = get_skeleton(layout_2d)
        self.bones = sk.bones
        self.right = set(sk.joints_right)
        self.viewport = viewport
        self.scale = height / viewport[1]
        factor = viewport[1] / height
        self.reduce = int(round(factor)) if factor > 1.5 and abs(factor - round(factor)) < 0.02 else 1
        self.size = (max(2, int(round(viewport[0] * self.scale))), height)
        self.radius = max(2, height // 120)
        self.width_px = max(1, height // 240)
        self.font_px = text_size_px(height)

    def draw(self, frame: np.ndarray | None, keypoints: np.ndarray, label: str, note: str = "") -> np.ndarray:
        from PIL import Image, ImageDraw

        if frame is None:
            image = Image.new("RGB", self.size)
        else:
            image = Image.fromarray(frame)
            if self.reduce > 1:  # a whole factor: box reduction, ~5x faster than resampling
                image = image.reduce(self.reduce)
            if image.size != self.size:
                image = image.resize(self.size, Image.BILINEAR, reducing_gap=2.0)
        draw = ImageDraw.Draw(image)
        k = np.asarray(keypoints, dtype=np.float64) * self.scale
        finite = np.isfinite(k).all(-1)
        for c, p in self.bones:
            if finite[c] and finite[p]:
                draw.line([tuple(k[p]), tuple(k[c])], fill=FLAGGED_2D if note else BONE_2D, width=self.width_px)
        r = self.radius
        for j, (x, y) in enumerate(k):
            if finite[j]:
                color = FLAGGED_2D if note else RIGHT_COLOR if j in self.right else LEFT_COLOR
                draw.ellipse([x - r, y - r, x + r, y + r], fill=color, outline=(0, 0, 0))
        font = _font(self.font_px)
        pad = max(2, self.font_px // 4)
        text = f"Input 2-D  {label}"
        box = draw.textbbox((pad, pad), text, font=font)
        draw.rectangle([0, 0, box[2] + pad, box[3] + pad], fill=(0, 0, 0))
        draw.text((pad, pad), text, fill=(255, 255, 255), font=font)
        if note:  # at the bottom, wrapped to the panel's width (a portrait video's panel is narrow)
            lines = _wrap(draw, note, font, self.size[0] - 2 * pad)
            step = self.font_px + pad
            y = self.size[1] - len(lines) * step - 2 * pad
            width = max(draw.textbbox((0, 0), line, font=font)[2] for line in lines)
            draw.rectangle([0, y, width + 2 * pad, self.size[1]], fill=(0, 0, 0))
            for i, line in enumerate(lines):
                draw.text((pad, y + pad + i * step), line, fill=(255, 230, 0), font=font)
        return np.asarray(image)


class Panels3D:
    """The 3-D panels: one figure, axes drawn once, bones blitted per frame."""

    def __init__(self, names: list[str], layout_3d: str, height: int, view_turn: float = VIEW_TURN) -> None:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.lines import Line2D

        sk = get_skeleton(layout_3d)
        self.bones = sk.bones
        right = set(sk.joints_right)
        dpi = 100
        self.fig = Figure(figsize=(height * len(names) / dpi, height / dpi), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        self.axes, self.lines, self.notes = [], [], []
        ticks = [-HALF_SIDE_M, -HALF_SIDE_M / 2, 0.0, HALF_SIDE_M / 2, HALF_SIDE_M]
        small = text_size_px(height) * 72.0 / dpi * 0.8  # points: a little under the 2-D panel's text
        for i, name in enumerate(names):
            ax = self.fig.add_subplot(1, len(names), i + 1, projection="3d")
            ax.view_init(elev=15.0, azim=CAMERA_AZIMUTH + view_turn)
            ax.set_title(f"{name} (m, root-relative)", fontsize=small + 2)
            for setter in (ax.set_xlim3d, ax.set_ylim3d, ax.set_zlim3d):
                setter(-HALF_SIDE_M, HALF_SIDE_M)
            for setter in (ax.set_xticks, ax.set_yticks, ax.set_zticks):
                setter(ticks)
            ax.tick_params(labelsize=small, pad=0)
            ax.set_xlabel("x (m)", fontsize=small, labelpad=-2)
            ax.set_ylabel("depth (m)", fontsize=small, labelpad=-2)
            ax.set_zlabel("up (m)", fontsize=small, labelpad=-2)
            ax.set_box_aspect((1, 1, 1))
            lines = [ax.plot([0, 0], [0, 0], [0, 0], color="red" if c in right else "black", lw=2,
                             animated=True)[0] for c, _ in sk.bones]
            ax.legend(handles=[Line2D([], [], color="red", lw=2, label="right"),
                               Line2D([], [], color="black", lw=2, label="left")],
                      loc="upper right", fontsize=small, frameon=False)
            note = ax.text2D(0.02, 0.02, "", transform=ax.transAxes, fontsize=small, animated=True)
            self.axes.append(ax)
            self.lines.append(lines)
            self.notes.append(note)
        self.fig.subplots_adjust(left=0.0, right=1.0, bottom=0.02, top=0.92, wspace=0.05)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)

    def draw(self, poses: list[np.ndarray], notes: list[str]) -> np.ndarray:
        """``poses[i] (J, 3)`` plot axes, root-relative → the panels' pixels ``(H, W, 3)``."""
        self.canvas.restore_region(self.background)
        for ax, lines, note, p3, text in zip(self.axes, self.lines, self.notes, poses, notes):
            for line, (c, p) in zip(lines, self.bones):
                line.set_data_3d([p3[c, 0], p3[p, 0]], [p3[c, 1], p3[p, 1]], [p3[c, 2], p3[p, 2]])
                ax.draw_artist(line)
            note.set_text(text)
            ax.draw_artist(note)
        self.canvas.blit(self.fig.bbox)
        return np.asarray(self.canvas.buffer_rgba())[..., :3]


def render_frames(keypoints_2d: np.ndarray, layout_2d: str, poses: dict[str, np.ndarray], layout_3d: str,
                  viewport: tuple[int, int], background: Iterable[np.ndarray] | None = None,
                  height: int | None = None, view_turn: float | None = None,
                  flagged: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """Yield ``(H, W, 3)`` uint8 frames, one per time step.

    ``keypoints_2d (T, J2, 2)`` pixels; ``poses[name] (T, J3, 3)`` metres, camera space;
    ``viewport = (width, height)`` pixels of the input frame; ``background`` frames (RGB) are
    drawn under the keypoints when given (else black); ``height`` pixels of the output (see
    :func:`output_height`); ``flagged (T,)`` marks frames whose 2-D is not to be trusted (filled over a long gap, the subject
    lost or partly hidden behind someone nearer, a left/right swap left unsure, too few reliable joints); ``view_turn`` degrees turns the 3-D view about the vertical from
    the camera's viewpoint (default :data:`VIEW_TURN`; 0 = exactly as the camera sees it).
    """
    turn = VIEW_TURN if view_turn is None else float(view_turn)
    sk3 = get_skeleton(layout_3d)
    T = keypoints_2d.shape[0]
    plot = {k: camera_to_plot(np.asarray(v, dtype=np.float32)) for k, v in poses.items()}
    for k, v in plot.items():
        if v.ndim != 3 or v.shape[0] < T or v.shape[1] != sk3.num_joints:
            raise ValueError(f"pose {k!r}: shape {v.shape}, expected ({T}, {sk3.num_joints}, 3)")
    h = output_height(viewport, height)
    panel_2d = Panel2D(layout_2d, viewport, h)
    panels_3d = Panels3D(list(plot), layout_3d, h, turn) if plot else None
    moves = {k: float(np.abs(v[:T, 0] - v[:1, 0]).max()) > 1e-6 for k, v in plot.items()}
    bg = iter(background) if background is not None else None
    for t in range(T):
        frame = next(bg, None) if bg is not None else None
        note = "flagged: 2-D unsure (filled, lost, hidden, swapped)" if flagged is not None and flagged[t] else ""
        left = panel_2d.draw(frame, keypoints_2d[t], f"frame {t + 1}/{T}", note)
        if panels_3d is None:
            yield left
            continue
        rel = [v[t] - v[t, :1] for v in plot.values()]
        notes = [f"root {np.array2string(v[t, 0] - v[0, 0], precision=2, suppress_small=True)} m from frame 1"
                 if moves[k] else "" for k, v in plot.items()]
        right = panels_3d.draw(rel, notes)
        if right.shape[0] != left.shape[0]:  # figure sizes round to whole pixels
            right = np.pad(right[: left.shape[0]], ((0, max(0, left.shape[0] - right.shape[0])), (0, 0), (0, 0)),
                           constant_values=255)
        yield np.concatenate([left, right], axis=1)


def render_video(output: str | os.PathLike, keypoints_2d: np.ndarray, layout_2d: str,
                 poses: dict[str, np.ndarray], layout_3d: str, viewport: tuple[int, int], fps: float,
                 background: Iterable[np.ndarray] | None = None, height: int | None = None,
                 view_turn: float | None = None, limit: int | None = None,
                 flagged: np.ndarray | None = None, progress: bool = True) -> Path:
    """Render to ``.mp4`` or ``.gif`` (atomic), with a progress bar on stderr when ``progress``.
    ``limit`` keeps the first frames only."""
    from poseact.viz.progress import progress_bar
    from poseact.viz.video import write_video

    if limit is not None:
        keypoints_2d = keypoints_2d[:limit]
        poses = {k: v[:limit] for k, v in poses.items()}
        flagged = flagged[:limit] if flagged is not None else None
    frames = render_frames(keypoints_2d, layout_2d, poses, layout_3d, viewport, background,
                           height=height, view_turn=view_turn, flagged=flagged)
    if progress:
        frames = progress_bar(frames, total=len(keypoints_2d), what=f"rendering {Path(output).name}")
    return write_video(frames, output, fps)
