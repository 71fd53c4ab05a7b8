"""``poseact data from-videos``: clips → an unlabeled store (intrinsics, flagged frames, resume, fit)."""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, build_projected_store
from poseact.cli import main
from poseact.errors import CalibrationError, KeypointFileError
from poseact.infer.unlabeled_store import (
    DEFAULT_FOV_DEG, focal_from_fov, from_videos, match_camera, segments)
from poseact.store import open_store

sys.path.insert(0, str(REPO / "tests"))
from helpers.pose2sim_data import recording  # noqa: E402
from test_mediapipe import mediapipe_env  # noqa: E402,F401  (the session's MediaPipe environment)

W, H = 1000, 1002  # H36M's camera resolution (the projected store's 2-D)


def _clip_2d(seed: int = 0, frames: int = 60) -> np.ndarray:
    """Real-looking h36m17 2-D (T, 17, 2) px: the projected test store's first clip."""
    store = build_projected_store(subjects=("S1",), actions=("Walking",), frames=frames, seed=seed)
    return store.keypoints[:frames]


def _write_keypoints(path: Path, kps: np.ndarray, missing: range = range(0)) -> Path:
    """A ``poseact detect``-style keypoint file (h36m17); frames in ``missing`` have nobody."""
    frames = [[] if t in missing else [{"keypoints": [[float(x), float(y), 0.9] for x, y in k]}]
              for t, k in enumerate(kps)]
    path.write_text(json.dumps({"format": "poseact-keypoints/1", "layout": "h36m17", "width": W, "height": H,
                                "fps": 50.0, "frames": frames}))
    return path


def _quiet(*_):
    pass


# -- intrinsics -----------------------------------------------------------------------------------

def test_fov_and_focal_give_the_stated_focal_in_pixels(tmp_path):
    k = _write_keypoints(tmp_path / "a.json", _clip_2d())
    default = open_store(from_videos([k], tmp_path / "d.h5", cache=tmp_path / "c", log=_quiet).store)
    f60 = (H / 2) / math.tan(math.radians(DEFAULT_FOV_DEG / 2))  # across the longer side (H here)
    assert default.cameras.intrinsics[0, :4] == pytest.approx([f60, f60, W / 2, H / 2])
    assert np.all(default.cameras.intrinsics[0, 4:] == 0)  # no distortion
    wide = open_store(from_videos([k], tmp_path / "w.h5", fov=90, cache=tmp_path / "c", log=_quiet).store)
    assert wide.cameras.intrinsics[0, 0] == pytest.approx(H / 2)  # tan(45°) = 1
    given = open_store(from_videos([k], tmp_path / "f.h5", focal=1234.5, cache=tmp_path / "c", log=_quiet).store)
    assert given.cameras.intrinsics[0, :4] == pytest.approx([1234.5, 1234.5, W / 2, H / 2])
    assert focal_from_fov(1920, 60) == pytest.approx(960 * math.sqrt(3))
    # a portrait clip: the field of view is across its height (pose2sim's 1080x1920 cameras: 1681 px, 59.5°)
    d = json.loads(k.read_text())
    d["width"], d["height"] = 1080, 1920
    k.write_text(json.dumps(d))
    portrait = open_store(from_videos([k], tmp_path / "p.h5", cache=tmp_path / "c", log=_quiet).store)
    assert portrait.cameras.intrinsics[0, :4] == pytest.approx([960 * math.sqrt(3)] * 2 + [540, 960])


def test_qualisys_calibration_feeds_each_clip_its_camera(tmp_path):
    from poseact.geometry.calibration import read_calibration

    calib = recording("Demo_Batch/Trial_1") / "calibration" / "Calib.qca.txt"
    cams = {c.name: c for c in read_calibration(calib)}
    # cam02 first on the command line: matching is by name, not by order
    inputs = [_write_keypoints(tmp_path / "trial1_cam02_keypoints.json", _clip_2d(1)),
              _write_keypoints(tmp_path / "cam_01.json", _clip_2d(0))]
    # the clips are 1000 px wide, the cameras 1088: refused, naming the camera
    with pytest.raises(CalibrationError, match=r"camera 'cam02' is 1088x1920 px"):
        from_videos(inputs, tmp_path / "u.h5", calibration=calib, cache=tmp_path / "c", log=_quiet)
    data = json.loads(inputs[0].read_text())
    for p in inputs:
        d = json.loads(p.read_text())
        d["width"], d["height"] = 1080, 1920  # the videos' size (the encoder's 1080 for 1088: within 2 %)
        p.write_text(json.dumps(d))
    assert data["frames"]
    result = from_videos(inputs, tmp_path / "u.h5", calibration=calib, cache=tmp_path / "c", log=_quiet)
    store = open_store(result.store)
    assert [c.camera for c in result.clips] == ["cam02", "cam01"]
    for row, name in enumerate(store.cameras.name):
        K = cams[str(name)].K
        k1, k2, p1, p2, k3 = cams[str(name)].distortion
        assert store.cameras.intrinsics[row] == pytest.approx([K[0, 0], K[1, 1], K[0, 2], K[1, 2], k1, k2, k3, p1, p2])
    assert not np.isnan(store.cameras.normalized_intrinsics()).any()


@pytest.mark.parametrize("suffix", ["toml", "yaml"])
def test_toml_and_yaml_calibrations(tmp_path, suffix):
    if suffix == "toml":
        text = ("[cam_01]\nname = \"cam_01\"\nsize = [1000.0, 1002.0]\n"
                "matrix = [[1500.0, 0.0, 480.0], [0.0, 1490.0, 510.0], [0.0, 0.0, 1.0]]\n"
                "distortions = [0.01, -0.02, 0.001, 0.002]\nrotation = [0.0, 0.0, 0.0]\ntranslation = [0.0, 0.0, 3.0]\n"
                "fisheye = false\n")
    else:
        text = "cameras:\n  cam_01:\n    size: [1000, 1002]\n    focal: [1500, 1490]\n    centre: [480, 510]\n" \
               "    distortion: [0.01, -0.02, 0.001, 0.002]\n"
    calib = tmp_path / f"calib.{suffix}"
    calib.write_text(text)
    k = _write_keypoints(tmp_path / "cam1.json", _clip_2d())
    store = open_store(from_videos([k], tmp_path / "u.h5", calibration=calib, cache=tmp_path / "c", log=_quiet).store)
    assert store.cameras.intrinsics[0] == pytest.approx([1500, 1490, 480, 510, 0.01, -0.02, 0, 0.001, 0.002])
    assert str(store.cameras.name[0]) == "cam_01"


def test_a_clip_without_its_camera_is_refused_before_anything_is_detected(tmp_path):
    calib = tmp_path / "c.yaml"
    calib.write_text("cameras:\n  cam01:\n    size: [1000, 1002]\n    fov: 60\n  cam02:\n    size: [1000, 1002]\n"
                     "    fov: 60\n")
    k = _write_keypoints(tmp_path / "phone.json", _clip_2d())
    with pytest.raises(CalibrationError, match=r"clip 'phone': no camera matches by name \(cameras \['cam01', 'cam02'\]"):
        from_videos([k], tmp_path / "u.h5", calibration=calib, cache=tmp_path / "cache", log=_quiet)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
    assert not (tmp_path / "u.h5").exists()


def test_camera_names_match_with_or_without_zeros_and_separators():
    class C:
        def __init__(self, name):
            self.name = name
    cams = [C("cam_01"), C("cam_02"), C("cam_11")]
    assert match_camera("cam01", cams, "x").name == "cam_01"
    assert match_camera("cam1", cams, "x").name == "cam_01"
    assert match_camera("trial2_cam11", cams, "x").name == "cam_11"
    with pytest.raises(CalibrationError, match="no camera matches"):
        match_camera("cam3", cams, "x")


# -- flagged frames ---------------------------------------------------------------------------------

def test_segments_split_at_flags_and_drop_short_stretches():
    flagged = np.zeros(40, bool)
    flagged[10:15] = True
    flagged[20:22] = True
    assert segments(flagged, 6) == ([(0, 10), (22, 40)], 5)  # 15..20 (5 frames) dropped
    assert segments(np.ones(5, bool), 1) == ([], 0)


def test_flagged_frames_are_kept_out_of_the_store(tmp_path):
    kps = _clip_2d(frames=80)
    # 15 frames without the subject (longer than the 10-frame gap filling: flagged), then 5 good frames,
    # another 15 missing, then the rest
    k = _write_keypoints(tmp_path / "clip.json", kps, missing=range(30, 45))
    k2 = _write_keypoints(tmp_path / "clip2.json", kps, missing=[*range(20, 35), *range(40, 55)])
    result = from_videos([k, k2], tmp_path / "u.h5", cache=tmp_path / "c", log=_quiet)
    one, two = result.clips
    assert one.flagged == 15 and one.segments == [(0, 30), (45, 80)]
    assert two.flagged == 30 and two.segments == [(0, 20), (55, 80)] and two.dropped_frames == 5
    store = open_store(result.store)
    assert list(store.clips.take) == ["clip#1", "clip#2", "clip2#1", "clip2#2"]
    assert list(store.clips.length) == [30, 35, 20, 25]
    assert np.isfinite(store.keypoints).all()
    # the kept frames are the input's own (h36m17 in, h36m17 out): frame 45 of clip starts its 2nd stretch
    assert store.keypoints[30] == pytest.approx(kps[45], abs=1e-3)
    assert store.pose3d is None or np.isnan(store.pose3d).all()  # unlabeled


# -- resume -------------------------------------------------------------------------------------------

def test_a_rerun_after_a_crash_detects_only_the_unfinished_clip(tmp_path):
    a = _write_keypoints(tmp_path / "a.json", _clip_2d(0))
    b = tmp_path / "b.json"
    b.write_text("{not json")  # the second clip crashes the first run
    cache = tmp_path / "cache"
    with pytest.raises(KeypointFileError):
        from_videos([a, b], tmp_path / "u.h5", cache=cache, log=_quiet)
    assert not (tmp_path / "u.h5").exists()  # the store is written only at the end
    assert (cache / "a.npz").is_file() and not (cache / "b.npz").exists()
    a_time = (cache / "a.npz").stat().st_mtime_ns
    _write_keypoints(b, _clip_2d(1))
    result = from_videos([a, b], tmp_path / "u.h5", cache=cache, log=_quiet)
    assert [(c.name, c.detected) for c in result.clips] == [("a", False), ("b", True)]
    assert (cache / "a.npz").stat().st_mtime_ns == a_time
    # a third run detects nothing; a changed input is detected again
    assert not any(c.detected for c in from_videos([a, b], tmp_path / "u.h5", cache=cache, log=_quiet).clips)
    _write_keypoints(a, _clip_2d(2))
    os.utime(a, ns=(a_time + 10**9, a_time + 10**9))
    again = from_videos([a, b], tmp_path / "u.h5", cache=cache, log=_quiet)
    assert [c.detected for c in again.clips] == [True, False]
    assert open_store(again.store).keypoints[0] == pytest.approx(_clip_2d(2)[0], abs=1e-3)


# -- the command and training -----------------------------------------------------------------------

def test_command_line_writes_a_store_that_semi_supervised_fit_trains_on(tmp_path, projected_store, capsys):
    from poseact.run.commands import fit
    from poseact.run.config import load_config

    inputs = [_write_keypoints(tmp_path / f"v{i}.json", _clip_2d(i, 80)) for i in range(2)]
    out = tmp_path / "unlabeled.h5"
    assert main(["data", "from-videos", *map(str, inputs), "--out", str(out), "--fov", "55"]) == 0
    assert "2 input clips → 2 store clips, 160 frames" in capsys.readouterr().out
    cfg = load_config(REPO / "configs/experiment/demo.yaml", [
        f"data.store={projected_store}", "data.subjects_train=[S1]", "data.subjects_test=[S9]",
        f"data.store_unlabeled={out}", "data.subjects_unlabeled=[videos]", "model.channels=16",
        "data.batch_frames=64", "logger.wandb=false", "trainer.enable_progress_bar=false",
        "semi.warmup_epochs=1", "trainer.max_epochs=2", f"output_dir={tmp_path / 'run'}", "resume=false"])
    fit(cfg)
    with open(tmp_path / "run/csv/version_0/metrics.csv") as f:
        losses = [float(r["train/loss_2d_unlabeled"]) for r in csv.DictReader(f) if r.get("train/loss_2d_unlabeled")]
    assert losses and all(np.isfinite(losses))


# -- real video, MediaPipe --------------------------------------------------------------------------

@pytest.mark.slow
def test_real_video_through_mediapipe(mediapipe_env, tmp_path, monkeypatch):  # noqa: F811
    import imageio.v3 as iio

    monkeypatch.setenv("POSEACT_MEDIAPIPE_ENV", str(mediapipe_env))
    trial = recording("Demo_Batch/Trial_1")
    frames = [f for _, f in zip(range(20), iio.imiter(trial / "videos" / "cam01.mp4"))]
    clips = tmp_path / "clips"
    clips.mkdir()
    iio.imwrite(clips / "cam01.mp4", np.stack(frames), fps=60)
    calib = trial / "calibration" / "Calib.qca.txt"
    result = from_videos([clips], tmp_path / "u.h5", calibration=calib, cache=tmp_path / "c", log=_quiet)
    (clip,) = result.clips
    assert clip.detected and clip.frames == 20 and clip.camera == "cam01"
    store = open_store(result.store)
    assert store.layout_2d == "h36m17" and len(store.keypoints) == clip.kept_frames >= 10
    # the man stands in the middle of the portrait frame: his pelvis is inside the image
    assert 200 < np.median(store.keypoints[:, 0, 0]) < 900 and 400 < np.median(store.keypoints[:, 0, 1]) < 1700
    assert not from_videos([clips], tmp_path / "u.h5", calibration=calib, cache=tmp_path / "c",
                           log=_quiet).clips[0].detected
