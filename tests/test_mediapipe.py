"""The MediaPipe detection stage on a real photo (scikit-image's ``astronaut``).

Creates the MediaPipe environment once (``.venv-mediapipe`` in the repository, ignored by
git, reused by later runs; about a minute the first time), hence ``slow``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from poseact.cli import main
from poseact.infer.detect import DetectionError, detect, env_ready, setup_env
from poseact.infer.formats import read_keypoints

pytestmark = pytest.mark.slow
#: the tests' own environment, or one named by $POSEACT_MEDIAPIPE_ENV (e.g. the user's, already made)
ENV = Path(os.environ.get("POSEACT_MEDIAPIPE_ENV") or REPO / ".venv-mediapipe")


@pytest.fixture(scope="session")
def mediapipe_env():
    if not env_ready(ENV) and not (3, 9) <= sys.version_info[:2] <= (3, 12):
        pytest.skip(f"mediapipe 0.10.21 has wheels for CPython 3.9-3.12, not {sys.version.split()[0]}")
    if not env_ready(ENV):
        t0 = time.perf_counter()
        setup_env(ENV)
        print(f"\nMediaPipe environment created in {time.perf_counter() - t0:.0f} s")
    return ENV


@pytest.fixture
def astronaut_frames(tmp_path):
    import imageio.v3 as iio
    import skimage.data

    folder = tmp_path / "astronaut"
    folder.mkdir()
    iio.imwrite(folder / "000.png", skimage.data.astronaut())
    return folder


def test_astronaut_keypoints_are_plausible(mediapipe_env, astronaut_frames, tmp_path):
    out = detect(astronaut_frames, tmp_path / "k.json", env=mediapipe_env)
    track = read_keypoints(out)
    assert track.layout == "mediapipe33" and (track.width, track.height) == (512, 512)
    k = track.keypoints[0]
    nose = k[0]
    shoulders = k[[11, 12]]
    hips = k[[23, 24]]
    # head above the shoulders above the hips (image y grows downwards)
    assert nose[1] < shoulders[:, 1].min() < hips[:, 1].min()
    # head and shoulders inside the image, confidently (the hips sit at the bottom edge)
    assert ((k[[0, 11, 12]] >= 0) & (k[[0, 11, 12]] < 512)).all()
    assert (track.confidence[0, [0, 11, 12]] > 0.9).all()
    # ENVIRONMENT.md: nose ≈ (223, 128); the astronaut's right shoulder is on the image's left
    np.testing.assert_allclose(nose, [223, 128], atol=15)
    assert k[12, 0] < k[11, 0]


def _lifter_bin(tmp_path):
    from poseact.lifting.checkpoint import save_videopose3d_checkpoint
    from poseact.lifting.models.temporal import TemporalLifter

    return save_videopose3d_checkpoint(tmp_path / "m.bin", TemporalLifter(17, 2, 17, [3], channels=16))


def test_an_upper_body_photo_is_reported_not_lifted(mediapipe_env, astronaut_frames, tmp_path, monkeypatch, capsys):
    """The astronaut is photographed from the hips up: MediaPipe guesses her legs with low
    confidence. Lifting would give a tangle; poseact says which joints are missing instead."""
    monkeypatch.setenv("POSEACT_MEDIAPIPE_ENV", str(mediapipe_env))
    out = tmp_path / "out"
    assert main(["infer", str(astronaut_frames / "000.png"), "--checkpoint", str(_lifter_bin(tmp_path)),
                 "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["000_3d.json", "000_keypoints.json"]
    doc = json.loads((out / "000_3d.json").read_text())
    assert doc["lifted"] is False and "pose3d" not in doc
    missing = set(doc["joints"]["unreliable"]["0"])
    assert {"left_knee", "right_knee", "left_ankle", "right_ankle"} <= missing and "head" not in missing
    assert "not lifted" in capsys.readouterr().out


def _composite(background: np.ndarray, sprite: np.ndarray, x: int, y: int) -> np.ndarray:
    out = background.copy()
    out[y:y + sprite.shape[0], x:x + sprite.shape[1]] = sprite
    return out


def test_photos_of_different_sizes_are_lifted_each_at_its_own_size(mediapipe_env, tmp_path, monkeypatch):
    """A folder of two real photos of different sizes (the astronaut on two canvases): each is one
    frame at its own size, never squashed to the first one's."""
    import imageio.v3 as iio
    import skimage.data

    monkeypatch.setenv("POSEACT_MEDIAPIPE_ENV", str(mediapipe_env))
    person = skimage.data.astronaut()
    folder = tmp_path / "photos"
    folder.mkdir()
    # on canvases with room below her, so the legs MediaPipe guesses fall inside the image
    iio.imwrite(folder / "a.png", _composite(np.full((800, 600, 3), 90, np.uint8), person, 40, 10))
    iio.imwrite(folder / "b.png", _composite(np.full((900, 1000, 3), 90, np.uint8), person, 300, 120))
    out = tmp_path / "out"
    assert main(["infer", str(folder), "--checkpoint", str(_lifter_bin(tmp_path)), "--out", str(out),
                 "--joint-threshold", "0.0"]) == 0
    a = json.loads((out / "a_3d.json").read_text())
    b = json.loads((out / "b_3d.json").read_text())
    assert (a["width"], a["height"]) == (600, 800) and (b["width"], b["height"]) == (1000, 900)
    assert a["frames"] == b["frames"] == 1 and (out / "a.png").is_file() and (out / "b.png").is_file()
    ka = np.load(out / "a_3d.npz")["keypoints_2d"][0]
    kb = np.load(out / "b_3d.npz")["keypoints_2d"][0]
    # the same person, detected in each photo at its own pixel positions: shifted by the paste offset
    np.testing.assert_allclose(kb[[8, 9, 11, 14]] - ka[[8, 9, 11, 14]], [[260, 110]] * 4, atol=12)


def test_a_gif_is_a_clip(mediapipe_env, tmp_path, monkeypatch):
    from poseact.viz.video import write_video

    monkeypatch.setenv("POSEACT_MEDIAPIPE_ENV", str(mediapipe_env))
    import skimage.data

    person = skimage.data.astronaut()[::2, ::2]
    frames = [_composite(np.full((420, 420, 3), 60, np.uint8), person, 20 + 12 * t, 10) for t in range(8)]
    gif = write_video(frames, tmp_path / "walk.gif", fps=10)
    out = tmp_path / "out"
    assert main(["infer", str(gif), "--checkpoint", str(_lifter_bin(tmp_path)), "--out", str(out),
                 "--render", "none", "--joint-threshold", "0.0"]) == 0
    doc = json.loads((out / "walk_3d.json").read_text())
    assert doc["frames"] == 8 and (doc["width"], doc["height"]) == (420, 420) and doc["fps"] == 10.0
    nose_x = np.load(out / "walk_3d.npz")["keypoints_2d"][:, 9, 0]  # H36M neck/nose follows the sprite
    assert np.all(np.diff(nose_x) > 4)


def test_missing_environment_is_a_clear_error(astronaut_frames, tmp_path):
    with pytest.raises(DetectionError, match="poseact detect setup"):
        detect(astronaut_frames, tmp_path / "k.json", env=tmp_path / "no-env")


def _two_people(n: int = 40, w: int = 720, h: int = 420):
    """A real person (the astronaut) crossing the frame left to right for the whole clip, and a second
    one (mirrored, a little larger) walking in front of her right to left in frames 10-29. Returns the
    frames and, per frame, the two people's horizontal centres (the second's None when absent)."""
    import skimage.data
    from PIL import Image

    photo = skimage.data.astronaut()
    subject = np.asarray(Image.fromarray(photo).resize((240, 240), Image.BILINEAR))
    passer = np.asarray(Image.fromarray(photo).resize((250, 250), Image.BILINEAR))[:, ::-1]
    frames, centres = [], []
    for t in range(n):
        f = np.full((h, w, 3), 70, np.uint8)
        ax = int(20 + (w - 280) * t / (n - 1))
        f[150:390, ax:ax + 240] = subject
        bx = None
        if 10 <= t < 30:
            bx = int(w - 260 - (w - 280) * (t - 10) / 19)
            f[140:390, bx:bx + 250] = passer
        frames.append(f)
        centres.append((ax + 120, None if bx is None else bx + 125))
    return frames, centres


def test_a_person_walking_in_front_never_takes_over(mediapipe_env, tmp_path, monkeypatch, capsys):
    from poseact.viz.video import write_video

    monkeypatch.setenv("POSEACT_MEDIAPIPE_ENV", str(mediapipe_env))
    frames, centres = _two_people()
    clip = write_video(frames, tmp_path / "two.mp4", fps=10)
    out = tmp_path / "out"
    assert main(["infer", str(clip), "--checkpoint", str(_lifter_bin(tmp_path)), "--out", str(out),
                 "--render", "none"]) == 0
    doc = json.loads((out / "two_3d.json").read_text())
    tracking = json.loads((out / "two_keypoints.json").read_text())["tracking"]
    assert len(tracking["tracks"]) == 2 and tracking["people_per_frame_max"] == 2
    chosen = next(t for t in tracking["tracks"] if t["id"] == tracking["chosen"])
    assert chosen["first_frame"] == 0 and chosen["last_frame"] == 39  # the subject, not the passer-by
    lost = tracking["lost_frames"]
    assert lost and all(10 < t < 30 for t in lost)  # only while the passer-by covers her
    assert "followed by the body" in doc["person"] and "lost in" in capsys.readouterr().out
    d = np.load(out / "two_3d.npz")
    assert d["flagged"][lost].all()  # lost frames are flagged, never taken from the other person
    nose_x = d["keypoints_2d"][:, 9, 0]  # H36M's neck/nose joint, from MediaPipe's nose
    seen = [t for t in range(40) if t not in lost]
    for t in seen:
        a, b = centres[t]
        assert abs(nose_x[t] - a) < 45, (t, nose_x[t], a)
        if b is not None and abs(a - b) > 150:
            assert abs(nose_x[t] - b) > 100, (t, nose_x[t], b)


def test_setup_of_a_ready_environment_says_so(mediapipe_env, capsys):
    """`poseact detect setup` on an environment that exists (and holds everything) creates nothing."""
    assert main(["detect", "setup", "--env", str(mediapipe_env)]) == 0
    captured = capsys.readouterr()
    assert "already set up" in captured.out and "creating" not in captured.err + captured.out
