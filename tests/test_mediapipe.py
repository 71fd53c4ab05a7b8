"""The MediaPipe detection stage on a real photo (scikit-image's ``astronaut``).

Creates the MediaPipe environment once (``.venv-mediapipe`` in the repository, ignored by
git, reused by later runs; about a minute the first time), hence ``slow``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from conftest import REPO
from poseact.cli import main
from poseact.infer.detect import DetectionError, detect, env_ready, setup_env
from poseact.infer.formats import read_keypoints

pytestmark = pytest.mark.slow
ENV = REPO / ".venv-mediapipe"


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


def test_infer_from_frames_runs_detection(mediapipe_env, astronaut_frames, tmp_path, monkeypatch):
    from poseact.lifting.checkpoint import save_videopose3d_checkpoint
    from poseact.lifting.models.temporal import TemporalLifter

    monkeypatch.setenv("POSEACT_MEDIAPIPE_ENV", str(mediapipe_env))
    ckpt = save_videopose3d_checkpoint(tmp_path / "m.bin", TemporalLifter(17, 2, 17, [3], channels=16))
    out = tmp_path / "out"
    assert main(["infer", str(astronaut_frames), "--checkpoint", str(ckpt), "--out", str(out),
                 "--render", "gif"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["astronaut.gif", "astronaut_3d.json", "astronaut_3d.npz",
                                                     "astronaut_keypoints.json"]
    assert np.load(out / "astronaut_3d.npz")["pose3d"].shape == (1, 17, 3)


def test_missing_environment_is_a_clear_error(astronaut_frames, tmp_path):
    with pytest.raises(DetectionError, match="poseact detect setup"):
        detect(astronaut_frames, tmp_path / "k.json", env=tmp_path / "no-env")
