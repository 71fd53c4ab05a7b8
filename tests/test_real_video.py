"""The real-video benchmark's parts on real footage: 24 frames of pose2sim's Demo_Batch/Trial_1 in
four calibrated views, MediaPipe on each (``poseact detect``), triangulated; and its metrics on
poses whose answers are known.

The clip (frames 30-53) holds the start of a real left/right label swap: from frame 41 on,
MediaPipe labels the subject's left side as the right in cam02 only (seen on the whole clip by
``benchmarks/real_video.py``; the other views are right there).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from helpers.pose2sim_data import recording

sys.path.insert(0, str(REPO / "benchmarks"))
import real_video  # noqa: E402

from poseact.geometry.calibration import read_calibration  # noqa: E402
from poseact.geometry.triangulate import (  # noqa: E402
    align_views,
    estimate_offsets,
    reprojection_errors,
    resolve_views,
    triangulate,
)
from poseact.skeleton import get_skeleton  # noqa: E402

FIRST, FRAMES = 30, 24
ENV = Path(os.environ.get("POSEACT_MEDIAPIPE_ENV") or REPO / ".venv-mediapipe")


def test_pose_metrics_on_known_answers():
    rng = np.random.default_rng(0)
    truth = rng.normal(0, 0.3, size=(20, 17, 3))
    truth -= truth[:, :1]
    same = real_video.pose_metrics(truth + [0.1, 0.2, 3.0], truth)  # a root offset does not count
    assert same["mpjpe_mm"] == same["p_mpjpe_mm"] == same["n_mpjpe_mm"] == 0.0 and same["bone_ratio"] == 1.0
    double = real_video.pose_metrics(2 * truth, truth)
    assert double["p_mpjpe_mm"] == 0.0 and double["n_mpjpe_mm"] == 0.0 and double["bone_ratio"] == 2.0
    assert double["mpjpe_mm"] > 100 and double["stature_m"] == pytest.approx(2 * real_video._stature(truth), rel=1e-3)
    theta = 0.5  # a rotation about the vertical: Procrustes removes it, MPJPE does not
    R = np.array([[np.cos(theta), 0, np.sin(theta)], [0, 1, 0], [-np.sin(theta), 0, np.cos(theta)]])
    turned = real_video.pose_metrics(truth @ R.T, truth)
    assert turned["p_mpjpe_mm"] < 1e-6 and turned["mpjpe_mm"] > 50
    static = np.broadcast_to(truth.mean(0), truth.shape)
    wobble = real_video.pose_metrics(truth * (1 + 0.1 * rng.normal(size=(20, 1, 1))), truth)
    assert 0 < wobble["bone_spread_cm"] and real_video.pose_metrics(static, truth)["bone_spread_cm"] == 0.0


def test_h36m_from_mediapipe_follows_poseact_layouts():
    from poseact.layouts import convert_layout

    pts = np.random.default_rng(1).normal(size=(4, 33, 3))
    out = real_video.h36m_from_mediapipe(pts)
    xy, _ = convert_layout(pts[..., :2].astype(np.float32), np.ones((4, 33), np.float32), "mediapipe33", "h36m17")
    np.testing.assert_allclose(out[..., :2], xy, atol=1e-5)  # the same derivations as the 2-D model inputs
    np.testing.assert_allclose(out[:, 0], (pts[:, 23] + pts[:, 24]) / 2)


def _standing_subject(T: int = 12):
    """A pseudo-ground truth of one person standing 3 m in front of a camera looking along world +z
    (world y down, as the camera's): H36M-17 pose, hips among otherwise unused landmarks."""
    from poseact.geometry.calibration import Camera

    cam = Camera("cam01", np.array([[1500.0, 0, 540], [0, 1500, 960], [0, 0, 1]]), np.zeros(5), np.eye(3),
                 np.zeros(3), (1080, 1920))
    pose = np.zeros((T, 17, 3))
    pose[:, :, 2] = 3.0
    pose[:, 1, 0], pose[:, 4, 0] = -0.12, 0.12  # right and left hips
    pose[:, 7, 1], pose[:, 8, 1] = -0.25, -0.5  # spine, thorax (up is -y)
    landmarks = np.full((T, 33, 3), np.nan)
    landmarks[:, 24], landmarks[:, 23] = pose[:, 1], pose[:, 4]
    valid = np.ones((T, 17), bool)
    valid[0] = False  # the first frame's triangulation failed
    return real_video.PseudoGT("test", [cam], landmarks, pose, valid, np.arange(T)[None], np.ones((1, T), bool),
                               np.zeros((1, T), bool), np.zeros((1, T, 33, 2)), np.ones((1, T, 33)), [(1080, 1920)],
                               {})


def test_the_subject_is_named_by_a_box_around_its_hips_and_every_frame_is_accounted_for():
    gt = _standing_subject()
    cam = gt.cameras[0]
    (x0, y0, w, h), frame = real_video.subject_box(gt, 0)
    assert frame == 1  # the first frame where its hips are valid
    pelvis, thorax = cam.project(gt.pose[1, [0, 8]])
    assert x0 < pelvis[0] < x0 + w and y0 < pelvis[1] < y0 + h  # holds the subject's hip centre
    torso = np.hypot(*(thorax - pelvis))
    assert w < 1.2 * torso  # and not someone a torso length away
    k2d = cam.project(gt.pose)  # infer's 2-D on the subject ...
    k2d[4:6] += [2 * torso, 0]  # ... except two frames posed on someone beside them
    flagged = np.zeros(len(k2d), bool)
    flagged[8] = True
    who = real_video.who_was_posed(gt, 0, k2d, flagged)
    assert (who["frames_on_subject"], who["frames_flagged"], who["frames_other_person"], who["frames_unchecked"]) == \
        (8, 1, 2, 1)  # frame 0: no valid pseudo-ground truth to check against
    assert who["other_person_frames"] == [4, 5]


def test_a_camera_that_started_late_is_checked_only_on_the_frames_it_has():
    """``frames[v] == -1``: the view has no frame at those instants (it started after the others): the box is
    drawn on its first frame with valid hips, and who was posed is counted over its own frames only."""
    gt = _standing_subject()
    late = np.arange(len(gt.pose)) - 3  # the camera's frame 0 shows the time line's instant 3
    gt.frames[0] = np.where(late < 0, -1, late)
    _, frame = real_video.subject_box(gt, 0)
    assert frame == 0  # instant 3, its first: instants 1-2 have valid hips but no frame of this camera
    cam = gt.cameras[0]
    k2d = cam.project(gt.pose)[3:]  # the video's 9 frames, all on the subject
    who = real_video.who_was_posed(gt, 0, k2d, np.zeros(len(k2d), bool))
    assert who["frames"] == 9 and who["frames_on_subject"] == 9 and who["frames_other_person"] == 0
    gt.frames[0] = -1  # a camera with no frame on the time line at all
    with pytest.raises(RuntimeError, match="no frame of cam01"):
        real_video.subject_box(gt, 0)


def _batch_layout(root: Path, videos: dict[str, Path], calibration: Path) -> Path:
    """A recording in a Pose2Sim batch's layout: ``root/Batch/calibration/<calibration>`` shared by the trials,
    ``root/Batch/Trial/videos/<name>`` linked to the given videos. Returns the trial's folder."""
    (root / "Batch" / "calibration").mkdir(parents=True)
    (root / "Batch" / "calibration" / calibration.name).symlink_to(calibration)
    (root / "Batch" / "Config.toml").write_text("# Pose2Sim's project settings, not a calibration\n")
    trial = root / "Batch" / "Trial" / "videos"
    trial.mkdir(parents=True)
    for name, video in videos.items():
        (trial / name).symlink_to(video)
    return trial.parent


def test_a_recording_is_any_folder_in_pose2sims_layout(tmp_path):
    from poseact.errors import CalibrationError, MissingFileError, PoseactError

    folder = recording("Demo_Batch/Trial_1")
    calib = folder / "calibration" / "Calib.qca.txt"
    named = real_video.open_recording("Demo_Batch/Trial_1")
    assert named.views == real_video.VIEWS and named.name == "Demo_Batch/Trial_1"
    assert named.video("cam03") == (folder / "videos" / "cam03.mp4").resolve()
    # the same recording given by its folder is the same recording (the same cache)
    assert real_video.open_recording(folder).name == named.name
    # a batch's trial: the calibration in the parent folder, videos named after the cameras
    videos = {f"{v}.mp4": folder / "videos" / f"{v}.mp4" for v in ("cam04", "cam02", "cam01")}
    trial = real_video.open_recording(_batch_layout(tmp_path / "a", videos, calib))
    assert trial.views == ("cam01", "cam02", "cam04") and trial.calibration.name == "Calib.qca.txt"
    assert [c.name for c in trial.cameras] == list(trial.views) and trial.video("cam04").name == "cam04.mp4"
    assert "/" not in trial.key and trial.key.startswith("Trial-")
    # videos named otherwise, as many as the cameras: paired in sorted order (Pose2Sim's rule)
    other = {f"view_{i}.mp4": folder / "videos" / f"cam0{i}.mp4" for i in (1, 2, 3, 4)}
    paired = real_video.open_recording(_batch_layout(tmp_path / "b", other, calib))
    assert paired.views == real_video.VIEWS and paired.video("cam03").name == "view_3.mp4"
    # not a calibrated recording: one line naming the folder
    lone = tmp_path / "c" / "clip"
    (lone / "videos").mkdir(parents=True)
    (lone / "videos" / "cam01.mp4").symlink_to(folder / "videos" / "cam01.mp4")
    for bad, kind, words in ((lone, CalibrationError, "not a calibrated recording: no calibration"),
                             (_batch_layout(tmp_path / "d", {}, calib), CalibrationError, "no videos"),
                             (_batch_layout(tmp_path / "e", dict(list(other.items())[:3]), calib), CalibrationError,
                              "3 videos for the 4 cameras"),
                             (tmp_path / "nowhere", MissingFileError, "no such folder")):
        with pytest.raises(kind, match=words) as e:
            real_video.open_recording(bad)
        assert "\n" not in str(e.value) and (str(bad) in str(e.value) or repr(str(bad)) in str(e.value))
    # the command line says it in one line, exit status 2
    assert real_video.main(["--checkpoint", "x.ckpt", "--recording", str(lone), "--source", "none",
                            "--cache", str(tmp_path / "cache")]) == 2
    with pytest.raises(PoseactError, match="view 'cam09'"):
        real_video.evaluate("x.ckpt", folder, views=("cam09",), cache=tmp_path / "cache")


def test_the_pseudo_ground_truths_detections_are_made_with_pinned_options():
    """Whole frames (``--track none``), not whatever ``poseact infer`` defaults to; a cached file made
    otherwise (the old face pass, body tracking) is not reused."""
    assert real_video.DETECT_OPTIONS == ("--track", "none")
    whole_frames = {"format": "poseact-keypoints/1", "layout": "mediapipe33", "width": 1088,
                    "detector": "mediapipe 0.10.21 pose, model_complexity=1"}
    assert real_video._made_as_pinned(whole_frames)
    multitask = {**whole_frames, "layout": "mpii16", "detector": "poseact multitask (spnet)"}
    assert not real_video._made_as_pinned(multitask)  # another detector's 2-D is not the reference's
    old_face_pass = {"tracking": {"chosen": 0, "why": "track 0 of 1: seen in the most frames (3)", "rule": "longest"}}
    body_tracking = {"tracking": {"chosen": 0, "rule": "main", "detector": "BlazePose body detector"}}
    assert not real_video._made_as_pinned(old_face_pass) and not real_video._made_as_pinned(body_tracking)


@pytest.fixture(scope="module")
def mediapipe_env():
    from poseact.infer.detect import env_ready, setup_env

    if not env_ready(ENV) and not (3, 9) <= sys.version_info[:2] <= (3, 12):
        pytest.skip(f"mediapipe 0.10.21 has wheels for CPython 3.9-3.12, not {sys.version.split()[0]}")
    if not env_ready(ENV):
        setup_env(ENV)
    return ENV


@pytest.fixture(scope="module")
def clip_detections(mediapipe_env, tmp_path_factory):
    """MediaPipe-33 of frames 30-53 of the four views, as the benchmark makes them on a fresh machine (a
    recording given by its folder, :func:`real_video.detection_file` with an empty cache): ``(4, 24, 33, 2)``,
    ``(4, 24, 33)``, cameras."""
    import imageio.v3 as iio

    folder = recording("Demo_Batch/Trial_1")
    tmp = tmp_path_factory.mktemp("real_clip")
    clips, sizes = {}, {}
    for view in real_video.VIEWS:
        frames = [f for i, f in enumerate(iio.imiter(folder / "videos" / f"{view}.mp4")) if FIRST <= i < FIRST + FRAMES]
        clips[f"{view}.mp4"], sizes[view] = tmp / f"{view}.mp4", frames[0].shape[1::-1]
        iio.imwrite(clips[f"{view}.mp4"], np.stack(frames), fps=60, codec="libx264", macro_block_size=1, quality=9)
    rec = real_video.open_recording(_batch_layout(tmp / "layout", clips, folder / "calibration" / "Calib.qca.txt"))
    pts, conf = [], []
    old = os.environ.get("POSEACT_MEDIAPIPE_ENV")
    os.environ["POSEACT_MEDIAPIPE_ENV"] = str(mediapipe_env)
    try:
        for view in real_video.VIEWS:
            out = real_video.detection_file(rec, view, tmp / "cache")
            k, c, header = real_video.read_detections(out)
            assert (header["width"], header["height"]) == sizes[view] and len(k) == FRAMES
            assert real_video._made_as_pinned(header)  # whole frames: no tracking
            pts.append(k)
            conf.append(c)
    finally:
        if old is None:
            os.environ.pop("POSEACT_MEDIAPIPE_ENV")
        else:
            os.environ["POSEACT_MEDIAPIPE_ENV"] = old
    return np.stack(pts), np.stack(conf), list(rec.cameras)


@pytest.mark.slow
def test_real_views_triangulate_to_a_person_and_a_real_swap_is_found(clip_detections):
    pts, conf, cams = clip_detections
    offsets = estimate_offsets(pts, conf, cams, max_offset=4, widen=1)  # a 24-frame cut: the window stays ±4
    p, c, first = align_views(pts, conf, offsets.offsets)
    flip = get_skeleton("mediapipe33").flip_permutation()
    views = resolve_views(p, c, cams, flip)
    # cam02 mirrored from frame 41 of the recording on (before: at most a flicker of single frames),
    # the other views never
    swapped = views.swapped[1]
    recording_frame = FIRST + first + np.arange(p.shape[1]) + offsets.offsets[1]
    assert swapped[recording_frame >= 43].all() and swapped[recording_frame < 41].mean() < 0.3
    # each swap found halves the views' disagreement at least
    assert (views.cost_px[swapped] < 0.5 * views.cost_as_given_px[swapped]).all()
    assert views.counts[0] == views.counts[2] == views.counts[3] == 0
    assert views.used.mean() > 0.9  # one person: the views agree
    used = views.confidence * views.used[:, :, None]
    X = triangulate(views.points, used, cams, 0.5)
    err = reprojection_errors(X, views.points, cams)
    assert np.nanmedian(np.where(used > 0.5, err, np.nan)) < 20.0  # px, in 1920-px-high images
    # as given (the swap left in), the views agree far less in the swapped frames
    given = triangulate(p, c, cams, 0.5)
    err_given = reprojection_errors(given, p, cams)
    late = recording_frame >= 43
    assert np.nanmean(np.where(c > 0.5, err_given, np.nan)[:, late]) > 1.5 * np.nanmean(np.where(used > 0.5, err, np.nan)[:, late])
    pose = real_video.h36m_from_mediapipe(X)
    stature = real_video._stature(pose[np.isfinite(pose).all((1, 2))])
    assert 1.5 < stature < 1.95  # an adult man
    # world z is up: the head above the pelvis above the ankles
    assert (pose[:, 10, 2] > pose[:, 0, 2]).all() and (pose[:, 0, 2] > pose[:, [3, 6], 2].max(1)).all()


def test_how_well_a_views_offset_is_determined():
    """A subject that moves gives a sharp reprojection cost over the offsets; one that barely moves, a flat one."""
    sharp = [30, 25, 20, 15, 10, 12, 18, 24, 30, 36, 40, 44, 48, 52, 56, 60, 64, 68, 72, 76, 80]  # -10 .. +10
    flat = [17.5, 17.2, 17.0, 16.9, 16.8, 16.9, 17.0, 17.3, 17.6, 18.0, 18.5, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28]
    assert real_video._offset_range(sharp) == [-6, -6]
    assert real_video._offset_range(flat) == [-10, -2]  # within OFFSET_TIE_PX (1 px) of the best (16.8 px at -6)
    assert real_video._offset_range([0.0] * 21) == [0, 0]  # the reference view
