"""The render's 3-D panel is seen from the camera's side: a limb on the image's left is drawn on the
panel's left, as in the video beside it, and its text is legible at the default sizes."""

from __future__ import annotations

import numpy as np
import pytest

from poseact.viz.render import VIEW_TURN, render_frames, text_size_px

# camera space (x right, y down, z forward), metres: a person facing the camera with the RIGHT arm
# raised; their right side is at x < 0, i.e. on the image's left
POSE = np.array([[0, 0, 0], [-.12, 0, 0], [-.12, .45, 0], [-.12, .9, 0], [.12, 0, 0], [.12, .45, 0], [.12, .9, 0],
                 [0, -.25, 0], [0, -.5, 0], [0, -.6, -.05], [0, -.7, 0], [.18, -.5, 0], [.3, -.25, 0], [.35, 0, 0],
                 [-.18, -.5, 0], [-.25, -.8, 0], [-.3, -1.1, 0]], np.float32) + np.array([0, 0, 4.0], np.float32)


def _red_columns(panel: np.ndarray) -> np.ndarray:
    """Column indices of strongly red pixels (the right side's bones/joints in both panels)."""
    r, g, b = (panel[..., i].astype(int) for i in range(3))
    return np.nonzero((r > 180) & (g < 90) & (b < 90))[1]


@pytest.mark.parametrize("turn", [None, 0.0, -30.0])
def test_3d_panel_keeps_the_videos_left_and_right(turn):
    kp = POSE[:, :2] / POSE[:, 2:] * 1000 + 500  # (J, 2) px in a 1000x1000 image
    (frame,) = render_frames(kp[None], "h36m17", {"Reconstruction": POSE[None]}, "h36m17", (1000, 1000),
                             height=496, view_turn=turn)
    left_panel, right_panel = frame[:, :496], frame[:, 496:]
    red_2d, red_3d = _red_columns(left_panel), _red_columns(right_panel)
    assert len(red_2d) and len(red_3d)
    # the raised right arm is on the image's left: in the 3-D panel too (mirrored, it would be right)
    assert np.median(red_2d) < 496 / 2
    body_3d = np.nonzero((right_panel.sum(-1) < 100))[1]  # the black (left-side) bones
    assert np.median(red_3d) < np.median(body_3d)


def test_text_is_legible_at_default_sizes():
    assert text_size_px(496) >= 15 and text_size_px(240) >= 12 and text_size_px(720) >= 22
    assert -45 < VIEW_TURN < 45  # a turn from the camera's view, not a view from behind


def test_a_flag_note_wraps_inside_a_narrow_portrait_panel():
    """The flag note of a portrait video's narrow 2-D panel is broken into lines inside the panel: the
    yellow text reaches neither the panel's right edge nor the frame counter at the top."""
    from poseact.viz.render import Panel2D

    panel = Panel2D("h36m17", viewport=(360, 640), height=640)
    width = panel.size[0]
    keypoints = np.full((17, 2), np.nan)
    image = panel.draw(None, keypoints, "frame 1/1", "flagged: 2-D filled (gap or subject lost) or unreliable")
    yellow = (image[..., 0] > 200) & (image[..., 1] > 180) & (image[..., 2] < 80)
    rows, cols = np.nonzero(yellow)
    assert len(cols) > 50
    assert cols.max() < width - 2  # not cut at the edge
    assert rows.max() - rows.min() > 1.5 * panel.font_px  # on two lines or more
