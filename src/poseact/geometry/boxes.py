"""Person boxes and square crop windows (numpy only; used by the converters and the image loader).

A box is ``(4,)`` x_min, y_min, x_max, y_max in pixels of its image (NaN = unknown); a window is
``(3,)`` centre x, centre y and side of the square that is cropped (spec §6.2).
"""

from __future__ import annotations

import numpy as np

#: person box from keypoints: this factor times the extent of the annotated joints (spec §6.2)
BOX_FACTOR = 1.5
#: smallest person box side, pixels (spec §6.2: "the window is at least 32 px")
MIN_BOX_SIDE = 32.0


def person_box(keypoints: np.ndarray, factor: float = BOX_FACTOR, min_side: float = MIN_BOX_SIDE) -> np.ndarray:
    """Square box around the annotated joints of one frame.

    Args:
        keypoints: ``(J, 2)`` pixels, NaN = not annotated.
    Returns:
        ``(4,)`` x_min, y_min, x_max, y_max pixels: centred on the joints' extent, side
        ``max(factor · max(width, height), min_side)``; all NaN with fewer than 2 annotated joints.
    """
    ok = np.isfinite(keypoints).all(-1)
    if ok.sum() < 2:
        return np.full(4, np.nan)
    pts = keypoints[ok]
    lo, hi = pts.min(0), pts.max(0)
    c = (lo + hi) / 2
    half = max(factor * float((hi - lo).max()), min_side) / 2
    return np.array([c[0] - half, c[1] - half, c[0] + half, c[1] + half])


def union_box(boxes: np.ndarray) -> np.ndarray | None:
    """Smallest box containing the finite rows of ``boxes (K, 4)``; None if there are none."""
    ok = np.isfinite(boxes).all(-1)
    if not ok.any():
        return None
    b = boxes[ok]
    return np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])


def box_window(box: np.ndarray) -> np.ndarray:
    """Square crop window ``(3,)`` = centre x, centre y, side (pixels) of a box ``(4,)``."""
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2, max(box[2] - box[0], box[3] - box[1])])


def image_window(width: int, height: int) -> np.ndarray:
    """The fallback window (spec §6.2): a square of side max(w, h) centred on the image."""
    return np.array([width / 2, height / 2, float(max(width, height))])


def window_inside(window: np.ndarray, width: int, height: int) -> bool:
    """Whether the square ``window (3,)`` overlaps the image ``[0, width) x [0, height)``."""
    cx, cy, side = window
    return bool(cx - side / 2 < width and cx + side / 2 > 0 and cy - side / 2 < height and cy + side / 2 > 0)
