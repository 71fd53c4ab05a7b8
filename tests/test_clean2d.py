"""Catching the 2-D detector's mistakes before lifting: left/right swaps, jumps, joints on another person.

Synthetic figures check each rule and its limits; a real recording checks the whole: MediaPipe swaps
left and right for 31 of the 100 frames of pose2sim's Demo_Batch/Trial_1 camera 2 (frames 41-61, 63, 65
and 67-74, checked by eye: the person faces the camera throughout, so the left shoulder is on the image's
right, and in those frames every left joint jumps to where the right one was, within 1/60 s).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from poseact.infer.clean2d import clean_2d, find_swaps, pairs
from poseact.skeleton import get_skeleton

LAYOUT = "mediapipe33"
SWAPPED_BY_EYE = set(range(41, 62)) | {63, 65} | set(range(67, 75))


def _figure(T: int = 60, turn: bool = False) -> np.ndarray:
    """``(T, 33, 2)`` a MediaPipe-33 figure facing the camera (left joints on the image's right), walking
    right; ``turn``: it turns about the vertical instead, left and right crossing smoothly."""
    names = get_skeleton(LAYOUT).joint_names
    k = np.zeros((T, 33, 2), np.float32)
    for t in range(T):
        half = 40 * (np.cos(np.pi * t / (T - 1)) if turn else 1.0)  # left-right half width (px)
        x = 300 + (0 if turn else 3 * t)
        for j, n in enumerate(names):
            side = 1 if n.startswith("left_") else -1 if n.startswith("right_") else 0
            y = (100 if any(w in n for w in ("eye", "ear", "mouth", "nose")) else
                 160 if "shoulder" in n else 220 if "elbow" in n else 280 if any(w in n for w in ("wrist", "pinky", "index", "thumb")) else
                 300 if "hip" in n else 400 if "knee" in n else 500)
            k[t, j] = [x + side * half * (0.6 if y <= 100 else 1.0), y]
    return k


def test_a_swapped_stretch_is_exchanged_back_and_a_jump_removed():
    k = _figure()
    raw = k.copy()
    left = [a for a, _ in pairs(LAYOUT)["body"]]
    right = [b for _, b in pairs(LAYOUT)["body"]]
    raw[20:30, left + right] = k[20:30, right + left]  # the detector's mirror for 10 frames
    raw[45, 15] += [150, -120]  # the left wrist jumps away for one frame
    conf = np.ones((60, 33), np.float32)
    fixed, c, flagged, report = clean_2d(raw, conf, LAYOUT)
    assert report.swapped == {"body": [(20, 29)]} and report.swapped_frames == 10
    np.testing.assert_allclose(np.delete(fixed, 45, axis=0), np.delete(k, 45, axis=0))
    assert np.isnan(fixed[45, 15]).all() and c[45, 15] == 0 and report.jumps == 1
    assert not flagged.any()
    assert report.summary() == "1 left/right swap fixed (10 frames); 1 joint jump removed"


def test_a_person_turning_round_is_not_a_swap_and_a_long_swap_is_flagged_not_guessed():
    k = _figure(turn=True)
    fixed, _, flagged, report = clean_2d(k, np.ones((60, 33), np.float32), LAYOUT)
    assert report.swapped_frames == 0 and not flagged.any() and report.jumps == 0
    assert report.summary() == "none needed (no left/right swap, no joint jump)"
    np.testing.assert_allclose(fixed, k)
    # swapped for 25 of 60 frames: which labelling is right is not clear; flagged, left as detected
    raw = _figure()
    left = [a for a, _ in pairs(LAYOUT)["body"]]
    right = [b for _, b in pairs(LAYOUT)["body"]]
    raw[20:45, left + right] = raw[20:45, right + left].copy()
    fixed, _, flagged, report = clean_2d(raw, np.ones((60, 33), np.float32), LAYOUT)
    assert report.swapped_frames == 0 and np.flatnonzero(flagged).tolist() == list(range(20, 45))
    assert find_swaps(raw, LAYOUT)["body"] == ([], list(range(20, 45)))


def test_a_jump_onto_another_person_is_counted_as_such():
    k = _figure()
    k[30, 16] = [900, 300]  # the right wrist lands on someone standing at x = 900
    others = [[{"hip": [900, 300], "radius": 150}] for _ in range(60)]
    _, _, _, report = clean_2d(k, np.ones((60, 33), np.float32), LAYOUT, others)
    assert report.teleports == 1 and report.jumps == 0


@pytest.mark.slow
def test_mediapipes_swap_on_a_real_recording_is_fixed(tmp_path, monkeypatch, capsys, mediapipe_env):  # noqa: F811
    from test_mediapipe import _lifter_bin
    from test_tracking_real import pose2sim_video

    from poseact.cli import main
    from poseact.infer.formats import read_keypoints

    monkeypatch.setenv("POSEACT_MEDIAPIPE_ENV", str(mediapipe_env))
    keypoints = tmp_path / "cam02.json"
    video = pose2sim_video("Demo_Batch/Trial_1", "cam02")
    assert main(["detect", str(video), "--track", "none", "--out", str(keypoints)]) == 0  # one person
    track = read_keypoints(keypoints)
    k = track.keypoints
    mirrored = set(np.flatnonzero(k[:, 11, 0] < k[:, 12, 0]).tolist())  # the left shoulder on the image's left
    assert mirrored == SWAPPED_BY_EYE | {81}  # MediaPipe's swap, as seen by eye, and a one-frame arm glitch
    fixed, _, flagged, report = clean_2d(track.keypoints, track.confidence, LAYOUT)
    found = {t for a, b in report.swapped["body"] for t in range(a, b + 1)}
    assert found == SWAPPED_BY_EYE and not flagged.any()
    assert report.swapped.get("arms") == [(81, 81)]  # and one frame where only the shoulders and arms swap
    assert (fixed[:, 11, 0] > fixed[:, 12, 0]).all()  # every frame's shoulders the right way round
    assert (fixed[:, 23, 0] > fixed[:, 24, 0]).sum() >= 97  # and hips (2 frames where they overlap mid-step)
    # through poseact infer: counted on the console and in the JSON, the lifter given the fixed labels
    out = tmp_path / "out"
    assert main(["infer", str(keypoints), "--checkpoint", str(_lifter_bin(tmp_path)), "--out", str(out),
                 "--render", "none"]) == 0
    assert "2-D fixes: 6 left/right swaps fixed (32 frames)" in capsys.readouterr().out
    doc = json.loads((out / "cam02_3d.json").read_text())
    assert doc["cleaning"]["swapped_frames"] == 32
    k2d = np.load(out / "cam02_3d.npz")["keypoints_2d"]  # H36M-17: 4 = left hip, 1 = right hip
    assert (k2d[:, 4, 0] > k2d[:, 1, 0]).sum() >= 97
    assert main(["infer", str(keypoints), "--checkpoint", str(_lifter_bin(tmp_path)), "--out", str(tmp_path / "raw"),
                 "--render", "none", "--no-clean-2d"]) == 0
    assert json.loads((tmp_path / "raw" / "cam02_3d.json").read_text())["cleaning"] is None


from test_mediapipe import mediapipe_env  # noqa: E402,F401  (the session's MediaPipe environment)
