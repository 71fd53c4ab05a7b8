"""Everything ``poseact infer`` can be asked, in one object (:class:`InferOptions`), and its checks.

The stages of :mod:`poseact.infer.pipeline` each read the fields they need; :func:`check_options` refuses
the values that can be refused before any file is opened (one line each, naming the option).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np

from poseact import bones
from poseact.errors import UsageError
from poseact.infer.gaps import JOINT_THRESHOLD

DEFAULT_HEIGHT_M = bones.DEFAULT_HEIGHT_M


@dataclass
class InferOptions:
    """The options of ``poseact infer`` (see :func:`poseact.infer.pipeline.run_infer` for each one's meaning).

    Input and output: ``input_path`` (video, GIF, photo, folder of frames or photos, keypoint file),
    ``checkpoint`` (the lifter), ``out_dir``. Detection: ``detector`` (``"mediapipe"`` / ``"multitask"`` /
    None: from the other options), ``keypoint_checkpoint``/``keypoint_config``/``crop``/``min_confidence``
    (the multi-task model's), ``track_rule`` and ``box = (x0, y0, w, h)`` px (who the subject is; any
    detector). Keypoint files: ``keypoint_layout``, ``person``, ``clip``, ``image_size = (w, h)``, ``fps``,
    ``video``. 2-D: ``clean``, ``max_gap``, ``joint_threshold``. Lifting: ``input_layout``, ``tta``,
    ``height`` (m; None: the model's scale), ``constant_bones``. Outputs: ``render`` (``"mp4"``/``"gif"``/
    None), ``render_limit``, ``render_height``, ``view_turn`` (degrees from the camera's view); ``photos`` (a folder of unrelated photos)."""

    input_path: str | os.PathLike
    checkpoint: str | os.PathLike
    out_dir: str | os.PathLike = "."
    keypoint_layout: str | None = None
    input_layout: str | None = None
    fps: float | None = None
    image_size: tuple[int, int] | None = None
    video: str | os.PathLike | None = None
    person: str = "largest"
    clip: str | None = None
    max_gap: int = 10
    tta: bool = True
    upright: bool = True  # lift as a camera rolled to the body's upright would see it, then turn back
    render: str | None = "mp4"
    render_limit: int | None = None
    render_height: int | None = None
    view_turn: float | None = None
    detector: str | None = None
    keypoint_checkpoint: str | os.PathLike | None = None
    keypoint_config: str | os.PathLike | None = None
    crop: str = "centre"
    box: tuple[float, ...] | None = None
    min_confidence: float | None = None
    height: float | None = DEFAULT_HEIGHT_M
    constant_bones: bool | None = None
    joint_threshold: float = JOINT_THRESHOLD
    photos: bool | None = None
    track_rule: str | None = "main"
    clean: bool = True

    def replace(self, **changes) -> "InferOptions":
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)


def check_box(box: tuple[float, ...] | None) -> None:
    """``box``: 4 numbers (x0 y0 w h) or 3 (x0 y0 side), sizes > 0."""
    if box is not None and (len(box) not in (3, 4) or min(box[2:]) <= 0 or not np.isfinite(box).all()):
        raise UsageError(f"--box {' '.join(f'{v:g}' for v in box)}: give X0 Y0 W H in pixels (or X0 Y0 SIDE), "
                         f"with W, H, SIDE > 0")


def check_options(options: InferOptions) -> None:
    """Refuse the option values that are wrong whatever the input (one line each)."""
    if options.track_rule not in (None, "none"):
        from poseact.infer.detect import check_track_rule

        check_track_rule(options.track_rule)
    h = options.height
    if h is not None and not (np.isfinite(h) and 0.5 <= h <= 2.6):
        raise UsageError(f"--height {h!r}: the subject's stature in metres, between 0.5 and 2.6 "
                         f"(default {DEFAULT_HEIGHT_M})")
    check_box(options.box)
