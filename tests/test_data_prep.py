"""Tests for the dataset converters (poseact.convert) and the data_prep/ scripts.

Input files are written here in exactly VideoPose3D's formats (pickled nested dicts as 0-d
object arrays via ``np.savez_compressed``, metadata dicts as in the reference spec §5). The
Human3.6M 2-D is the 3-D projected through the real camera model, so a store whose camera-space
3-D reprojects onto its 2-D proves that extrinsics and camera rows were assigned correctly.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from poseact.convert import (
    ConversionError,
    ConversionWarning,
    InputNotFoundError,
    Layout2D,
    action_group,
    convert_custom,
    convert_h36m,
    convert_humaneva,
    load_npz_dict,
)
from poseact.store import open_store
from poseact.geometry import (
    h36m_cameras,
    humaneva_cameras,
    image_coordinates,
    project_to_2d,
    world_to_camera,
)

ROOT = Path(__file__).resolve().parents[1]

# Written out (not imported) so the test checks the reduction independently: reference spec §4.2.
H36M_KEPT = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]
H36M_SYMMETRY = [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]
MPII_SYMMETRY = [[3, 4, 5, 13, 14, 15], [0, 1, 2, 10, 11, 12]]
COCO_SYMMETRY = [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]]
HUMANEVA_SYMMETRY = [[2, 3, 4, 8, 9, 10], [5, 6, 7, 11, 12, 13]]
H36M_IDS = ["54138969", "55011271", "58860488", "60457274"]

# (subject, take) -> frames of the 3-D; two takes of one action group per subject
H36M_TAKES = {"S1": {"Walking 1": 40, "Walking": 33, "Directions": 25},
              "S9": {"Walking 1": 30, "Directions 1": 21}}
CPN_EXTRA = [3, 0, 7, 1]  # extra 2-D frames per camera (the detector ran on longer videos)


# ------------------------------------------------------------------------------------------
# writing files in VideoPose3D's formats


def world_motion(rng: np.random.Generator, frames: int, joints: int) -> np.ndarray:
    """``(frames, joints, 3)`` float32 world metres: a person near the capture-volume centre,
    z up, every joint distinct (so a wrong joint selection cannot go unnoticed)."""
    offsets = rng.uniform([-0.35, -0.35, -0.85], [0.35, 0.35, 0.85], size=(joints, 3))
    root = np.stack([np.linspace(-0.4, 0.4, frames), rng.uniform(-0.3, 0.3) + np.zeros(frames),
                     0.9 + 0.02 * np.sin(np.arange(frames) / 3)], axis=1)
    wobble = rng.normal(scale=0.01, size=(frames, joints, 3))
    return (root[:, None] + offsets[None] + wobble).astype(np.float32)


def project(world: np.ndarray, calibration) -> np.ndarray:
    """World ``(N, J, 3)`` -> pixels ``(N, J, 2)`` through the real camera model (float32, as
    VideoPose3D's own ground-truth 2-D file is made)."""
    cam = world_to_camera(world, np.asarray(calibration.orientation, np.float32),
                          np.asarray(calibration.translation, np.float32))
    assert (cam[..., 2] > 1.0).all(), "test motion must be in front of the camera"
    normalized = project_to_2d(cam, calibration.intrinsics_vector())
    return image_coordinates(normalized, calibration.res_w, calibration.res_h).astype(np.float32)


def random_pixels(rng: np.random.Generator, frames: int, joints: int, channels: int = 2,
                  res: tuple[int, int] = (1000, 1000)) -> np.ndarray:
    out = rng.uniform(0, 1, size=(frames, joints, channels)).astype(np.float32)
    out[..., 0] *= res[0]
    out[..., 1] *= res[1]
    return out


def save_npz(path: Path, **entries) -> Path:
    """``np.savez_compressed`` of dicts: each becomes a pickled 0-d object array."""
    np.savez_compressed(path, **entries)
    return path


@pytest.fixture(scope="module")
def h36m_files(tmp_path_factory) -> dict:
    """data_3d_h36m.npz and gt / cpn / detectron / sh 2-D files; returns paths and arrays."""
    d = tmp_path_factory.mktemp("h36m")
    rng = np.random.default_rng(0)
    cams = h36m_cameras()
    world32 = {s: {t: world_motion(rng, n, 32) for t, n in takes.items()} for s, takes in H36M_TAKES.items()}
    gt, cpn, detectron, sh = {}, {}, {}, {}
    for s, takes in world32.items():
        gt[s], cpn[s], detectron[s], sh[s] = {}, {}, {}, {}
        for t, w in takes.items():
            views = [project(w[:, H36M_KEPT], cal) for cal in cams[s]]
            gt[s][t] = views
            cpn[s][t] = [np.concatenate([v, random_pixels(rng, extra, 17)])
                         for v, extra in zip(views, CPN_EXTRA)]
            detectron[s][t] = [random_pixels(rng, len(w) + 2, 17, channels=3) for _ in range(4)]
            sh[s][t] = [random_pixels(rng, len(w), 16) for _ in range(4)]
    # the unlabeled subject of the detection files: 2-D only, camera-dependent lengths
    cpn["S2"] = {"Walking": [random_pixels(rng, n, 17) for n in (20, 21, 22, 23)],
                 "Eating 2": [random_pixels(rng, 15, 17) for _ in range(4)]}
    detectron["S2"] = {"Walking": [random_pixels(rng, 18, 17, channels=3) for _ in range(4)]}
    return {
        "dir": d, "world32": world32, "gt": gt, "cpn": cpn, "detectron": detectron,
        "3d": save_npz(d / "data_3d_h36m.npz", positions_3d=world32),
        "gt_path": save_npz(d / "data_2d_h36m_gt.npz", positions_2d=gt,
                            metadata={"num_joints": 17, "keypoints_symmetry": H36M_SYMMETRY}),
        "cpn_path": save_npz(d / "data_2d_h36m_cpn_ft_h36m_dbb.npz", positions_2d=cpn,
                             metadata={"layout_name": "h36m", "num_joints": 17,
                                       "keypoints_symmetry": H36M_SYMMETRY}),
        "detectron_path": save_npz(d / "data_2d_h36m_detectron_pt_coco.npz", positions_2d=detectron,
                                   metadata={"layout_name": "coco", "num_joints": 17,
                                             "keypoints_symmetry": COCO_SYMMETRY}),
        "sh_path": save_npz(d / "data_2d_h36m_sh_pt_mpii.npz", positions_2d=sh,
                            metadata={"num_joints": 16, "keypoints_symmetry": MPII_SYMMETRY}),
    }


@pytest.fixture(scope="module")
def humaneva_files(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("humaneva")
    rng = np.random.default_rng(1)
    takes = {"Train/S1": {"Walking 1 chunk0": 30, "Jog 1 chunk0": 20},
             "Validate/S1": {"Walking 1 chunk0": 12},
             "Train/S2": {"Box 1 chunk0": 16, "Box 1 chunk1": 9}}
    world = {s: {t: world_motion(rng, n, 15) for t, n in ts.items()} for s, ts in takes.items()}
    pos2d = {s: {t: [random_pixels(rng, len(w) + extra, 15, res=(640, 480)) for extra in (0, 2, 1)]
                 for t, w in ts.items()} for s, ts in world.items()}
    pos2d["Unlabeled/Train/S1"] = {"Walking 1 chunk1": [random_pixels(rng, 11, 15) for _ in range(3)]}
    pos2d["Unlabeled/S4"] = {"Walking 1 chunk0": [random_pixels(rng, 14, 15) for _ in range(3)]}
    meta = {"layout_name": "humaneva15", "num_joints": 15, "keypoints_symmetry": HUMANEVA_SYMMETRY}
    return {"dir": d, "world": world, "2d": pos2d,
            "3d_path": save_npz(d / "data_3d_humaneva15.npz", positions_3d=world),
            "2d_path": save_npz(d / "data_2d_humaneva15_gt.npz", positions_2d=pos2d, metadata=meta)}


@pytest.fixture(scope="module")
def custom_file(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("custom")
    rng = np.random.default_rng(2)
    videos = {"walk.mp4": (1920, 1080, 26), "dance.mov": (720, 1280, 13)}
    pos2d = {v: {"custom": [random_pixels(rng, n, 17, res=(w, h))]} for v, (w, h, n) in videos.items()}
    meta = {"layout_name": "coco", "num_joints": 17, "keypoints_symmetry": COCO_SYMMETRY,
            "video_metadata": {v: {"w": w, "h": h} for v, (w, h, _) in videos.items()}}
    return {"dir": d, "videos": videos, "2d": pos2d,
            "path": save_npz(d / "data_2d_custom_myvideos.npz", positions_2d=pos2d, metadata=meta)}


def clip_rows(store, subject: str, take: str) -> list[int]:
    return [i for i in range(len(store.clips))
            if store.clips.subject[i] == subject and store.clips.take[i] == take]


def frames(store, i: int, name: str = "keypoints") -> np.ndarray:
    c = store.clips
    return getattr(store, name)[c.start[i]: c.start[i] + c.length[i]]


def leftovers(directory: Path, inputs: set[str]) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name not in inputs)


# ------------------------------------------------------------------------------------------
# Human3.6M


def test_h36m_gt_store_reprojects_and_reduces(h36m_files, tmp_path):
    out = convert_h36m(h36m_files["3d"], h36m_files["gt_path"], tmp_path / "gt.h5")
    store = open_store(out)
    assert (store.layout_2d, store.layout_3d, store.fps) == ("h36m17", "h36m17", 50.0)
    assert "data_3d_h36m.npz" in store.source and "data_2d_h36m_gt.npz" in store.source
    assert store.confidence is None
    assert len(store.clips) == 4 * sum(len(t) for t in H36M_TAKES.values())
    # camera table: one row per (subject, camera) used, real ids, pixel intrinsics
    assert list(store.cameras.subject) == ["S1"] * 4 + ["S9"] * 4
    assert list(store.cameras.name) == H36M_IDS * 2
    cal = h36m_cameras()["S9"][2]
    row = store.cameras.find("S9", cal.id)
    np.testing.assert_allclose(store.cameras.intrinsics[row, :4], [*cal.focal_length, *cal.center])
    np.testing.assert_allclose(store.cameras.translation[row], cal.translation)
    # action groups: "Walking 1" and "Walking" share one label; takes keep their names
    assert set(store.actions) == {"Walking", "Directions"}
    for i in range(len(store.clips)):
        assert store.actions[store.clips.action[i]] == action_group(store.clips.take[i])
    assert set(store.clips.take) == {"Walking 1", "Walking", "Directions", "Directions 1"}

    intrinsics = store.cameras.normalized_intrinsics()
    for s, takes in H36M_TAKES.items():
        for t, n in takes.items():
            rows = clip_rows(store, s, t)
            assert [store.cameras.name[store.clips.camera[i]] for i in rows] == H36M_IDS
            world32 = h36m_files["world32"][s][t]
            for cam_index, i in enumerate(rows):
                assert store.clips.length[i] == n
                assert store.cameras.subject[store.clips.camera[i]] == s
                # 32 -> 17 picks the reference joints, in world coordinates
                np.testing.assert_array_equal(frames(store, i, "pose3d_world"), world32[:, H36M_KEPT])
                pose3d = frames(store, i, "pose3d")
                # absolute camera space: the root keeps its position (depth of metres, not 0)
                assert (pose3d[:, 0, 2] > 1.0).all()
                # the camera-space 3-D reprojects onto the stored 2-D
                c = store.clips.camera[i]
                px = image_coordinates(project_to_2d(pose3d.astype(np.float64), intrinsics[c].astype(np.float64)),
                                       *store.cameras.res[c])
                assert np.abs(px - frames(store, i)).max() < 1e-3, (s, t, cam_index)
                np.testing.assert_array_equal(frames(store, i), h36m_files["gt"][s][t][cam_index])


def test_h36m_cpn_truncates_and_keeps_unlabeled_subject(h36m_files, tmp_path):
    store = open_store(convert_h36m(h36m_files["3d"], h36m_files["cpn_path"], tmp_path / "cpn.h5"))
    assert store.layout_2d == "h36m17"
    assert sorted(set(store.clips.subject)) == ["S1", "S2", "S9"]
    for s, takes in H36M_TAKES.items():
        for t, n in takes.items():
            for cam_index, i in enumerate(clip_rows(store, s, t)):
                assert store.clips.length[i] == n  # truncated to the mocap length
                np.testing.assert_array_equal(frames(store, i), h36m_files["cpn"][s][t][cam_index][:n])
    # S2: unlabeled, full 2-D length per camera, NaN 3-D, intrinsics but no extrinsics
    rows = clip_rows(store, "S2", "Walking")
    assert [store.clips.length[i] for i in rows] == [20, 21, 22, 23]
    labeled = store.labeled_clips()
    s2 = store.clips.subject == "S2"
    assert not labeled[s2].any() and labeled[~s2].all()
    for i in np.flatnonzero(s2):
        assert np.isnan(frames(store, i, "pose3d")).all()
        assert np.isnan(frames(store, i, "pose3d_world")).all()
    s2_cams = store.cameras.subject == "S2"
    assert s2_cams.sum() == 4
    assert store.cameras.has_intrinsics()[s2_cams].all()
    assert np.isnan(store.cameras.orientation[s2_cams]).all()
    assert set(store.actions) == {"Walking", "Directions", "Eating"}


def test_h36m_detectron_confidence_and_coco_layout(h36m_files, tmp_path):
    store = open_store(convert_h36m(h36m_files["3d"], h36m_files["detectron_path"], tmp_path / "d.h5"))
    assert store.layout_2d == "coco17" and store.layout_3d == "h36m17"
    assert store.confidence is not None
    i = clip_rows(store, "S9", "Directions 1")[3]
    raw = h36m_files["detectron"]["S9"]["Directions 1"][3][:21]
    np.testing.assert_array_equal(frames(store, i), raw[..., :2])
    np.testing.assert_array_equal(frames(store, i, "confidence"), raw[..., 2])
    assert store.clips.length[clip_rows(store, "S2", "Walking")[0]] == 18


def test_h36m_stacked_hourglass_is_mpii(h36m_files, tmp_path):
    store = open_store(convert_h36m(h36m_files["3d"], h36m_files["sh_path"], tmp_path / "sh.h5"))
    assert store.layout_2d == "mpii16" and store.keypoints.shape[1] == 16
    assert store.pose3d.shape[1] == 17


def test_h36m_2d_only_and_subject_filter(h36m_files, tmp_path):
    store = open_store(convert_h36m(None, h36m_files["cpn_path"], tmp_path / "2d.h5", subjects=["S9", "S2"]))
    assert store.pose3d is None and store.pose3d_world is None
    assert list(store.cameras.subject) == ["S9"] * 4 + ["S2"] * 4
    assert sorted(set(store.clips.subject)) == ["S2", "S9"]
    i = clip_rows(store, "S9", "Walking 1")[2]
    assert store.clips.length[i] == 30 + CPN_EXTRA[2]  # nothing to truncate to
    assert "2-D only" in store.source
    with pytest.raises(ConversionError, match=r"S7.*not in positions_2d"):
        convert_h36m(h36m_files["3d"], h36m_files["cpn_path"], tmp_path / "x.h5", subjects=["S7"])


# ------------------------------------------------------------------------------------------
# HumanEva-I


def test_humaneva_store(humaneva_files, tmp_path):
    store = open_store(convert_humaneva(humaneva_files["3d_path"], humaneva_files["2d_path"], tmp_path / "he.h5"))
    assert (store.layout_2d, store.layout_3d, store.fps) == ("humaneva15", "humaneva15", 60.0)
    assert set(store.clips.subject) == {"Train/S1", "Validate/S1", "Train/S2", "Unlabeled/Train/S1",
                                        "Unlabeled/S4"}
    assert set(store.actions) == {"Walking", "Jog", "Box"}
    assert list(store.cameras.name[store.cameras.subject == "Train/S2"]) == ["C1", "C2", "C3"]
    assert not store.cameras.has_intrinsics().any()
    assert np.isnan(store.cameras.orientation[store.cameras.subject == "Unlabeled/S4"]).all()
    cams = humaneva_cameras()
    for s, takes in humaneva_files["world"].items():
        for t, world in takes.items():
            rows = clip_rows(store, s, t)
            assert len(rows) == 3
            for cam_index, i in enumerate(rows):
                cal = cams[s.split("/")[-1]][cam_index]  # the bare subject's extrinsics (S2 differ)
                expected = world_to_camera(world, np.asarray(cal.orientation, np.float32),
                                           np.asarray(cal.translation, np.float32))
                np.testing.assert_allclose(frames(store, i, "pose3d"), expected, atol=1e-6)
                assert (frames(store, i, "pose3d")[..., 2] > 1.0).all()
                np.testing.assert_array_equal(frames(store, i, "pose3d_world"), world)
                np.testing.assert_array_equal(frames(store, i), humaneva_files["2d"][s][t][cam_index][:len(world)])
    labeled = store.labeled_clips()
    unlabeled = np.char.startswith(store.clips.subject.astype(str), "Unlabeled/")
    assert not labeled[unlabeled].any() and labeled[~unlabeled].all()


def test_humaneva_labeled_subject_without_extrinsics_fails(humaneva_files, tmp_path):
    d = tmp_path
    world = {"Train/S4": {"Walking 1 chunk0": world_motion(np.random.default_rng(3), 10, 15)}}
    pos2d = {"Train/S4": {"Walking 1 chunk0": [np.zeros((10, 15, 2), np.float32)] * 3}}
    meta = {"layout_name": "humaneva15", "num_joints": 15}
    p3, p2 = save_npz(d / "data_3d.npz", positions_3d=world), save_npz(d / "data_2d.npz", positions_2d=pos2d, metadata=meta)
    with pytest.raises(ConversionError, match=r"Train/S4.*Walking 1 chunk0.*C1.*no extrinsics"):
        convert_humaneva(p3, p2, d / "out.h5")
    assert leftovers(d, {"data_3d.npz", "data_2d.npz"}) == []


# ------------------------------------------------------------------------------------------
# custom (in-the-wild)


def test_custom_store(custom_file, tmp_path):
    store = open_store(convert_custom(custom_file["path"], tmp_path / "c.h5"))
    assert store.layout_2d == "coco17" and store.pose3d is None and store.confidence is None
    assert list(store.clips.subject) == ["walk.mp4", "dance.mov"]
    assert list(store.clips.take) == ["custom", "custom"] and store.actions == ["custom"]
    assert list(store.cameras.name) == ["custom", "custom"]
    assert list(store.cameras.subject) == ["walk.mp4", "dance.mov"]
    assert store.cameras.res.tolist() == [[1920, 1080], [720, 1280]]
    assert np.isnan(store.cameras.intrinsics).all() and np.isnan(store.cameras.orientation).all()
    assert (store.cameras.azimuth == 70).all()
    assert list(store.clips.length) == [26, 13]
    np.testing.assert_array_equal(frames(store, 1), custom_file["2d"]["dance.mov"]["custom"][0])
    one = open_store(convert_custom(custom_file["path"], tmp_path / "one.h5", subjects=["dance.mov"], fps=30))
    assert list(one.clips.subject) == ["dance.mov"] and one.fps == 30


def test_custom_missing_video_metadata(custom_file, tmp_path):
    meta = {"layout_name": "coco", "num_joints": 17, "video_metadata": {"walk.mp4": {"w": 10, "h": 10}}}
    path = save_npz(tmp_path / "data_2d_custom_x.npz", positions_2d=custom_file["2d"], metadata=meta)
    with pytest.raises(ConversionError, match=r"video_metadata.*dance\.mov"):
        convert_custom(path, tmp_path / "out.h5")


# ------------------------------------------------------------------------------------------
# loading and layouts


def test_load_npz_dict_errors(tmp_path):
    missing = tmp_path / "data_3d_h36m.npz"
    with pytest.raises(FileNotFoundError, match="data_3d_h36m.npz: file not found") as info:
        load_npz_dict(missing, "positions_3d")
    assert isinstance(info.value, InputNotFoundError) and isinstance(info.value, ValueError)
    path = save_npz(tmp_path / "a.npz", positions_2d={"S1": {}}, metadata={"num_joints": 17})
    assert load_npz_dict(path, "metadata") == {"num_joints": 17}
    with pytest.raises(ConversionError, match=r"no key 'positions_3d'; keys present: \['metadata', 'positions_2d'\]"):
        load_npz_dict(path, "positions_3d")
    plain = save_npz(tmp_path / "b.npz", positions_3d=np.zeros((3, 32, 3)))
    with pytest.raises(ConversionError, match=r"b\.npz: 'positions_3d' is a float64 array of shape \(3, 32, 3\)"):
        load_npz_dict(plain, "positions_3d")
    np.save(tmp_path / "c.npy", np.zeros(3))
    with pytest.raises(ConversionError, match=r"c\.npy: not an \.npz archive"):
        load_npz_dict(tmp_path / "c.npy", "positions_3d")
    (tmp_path / "d.npz").write_text("not a zip")
    with pytest.raises(ConversionError, match=r"d\.npz: not an \.npz archive"):
        load_npz_dict(tmp_path / "d.npz", "positions_3d")


@pytest.mark.parametrize("metadata, expected", [
    ({"num_joints": 17, "keypoints_symmetry": H36M_SYMMETRY}, "h36m17"),  # the GT file
    ({"num_joints": 16, "keypoints_symmetry": MPII_SYMMETRY}, "mpii16"),  # Stacked Hourglass
    ({"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": H36M_SYMMETRY}, "h36m17"),
    ({"layout_name": "coco", "num_joints": 17, "keypoints_symmetry": COCO_SYMMETRY}, "coco17"),
    ({"layout_name": "mpii", "num_joints": 16}, "mpii16"),
    ({"layout_name": "humaneva15", "num_joints": 15, "keypoints_symmetry": HUMANEVA_SYMMETRY}, "humaneva15"),
])
def test_layout_detection(metadata, expected):
    assert Layout2D(metadata, "f.npz").name == expected


@pytest.mark.parametrize("metadata, message", [
    ({"layout_name": "humaneva20", "num_joints": 20}, "layout_name 'humaneva20' is not supported"),
    ({"layout_name": "coco", "num_joints": 16}, "num_joints 16 disagrees with layout coco17"),
    ({"num_joints": 18}, "num_joints 18 matches no known layout"),
    ({"keypoints_symmetry": H36M_SYMMETRY}, "neither 'layout_name' nor 'num_joints'"),
    ({"layout_name": "coco", "num_joints": 17, "keypoints_symmetry": H36M_SYMMETRY},
     "keypoints_symmetry .* disagrees with layout coco17"),
])
def test_layout_errors(metadata, message):
    with pytest.raises(ConversionError, match=message):
        Layout2D(metadata, "f.npz")


def test_action_group_is_the_first_word_of_the_take():
    expected = {"Walking 1": "Walking", "Walking": "Walking", "Walking 1 chunk0": "Walking",
                "SittingDown 2": "SittingDown", "custom": "custom"}
    assert {take: action_group(take) for take in expected} == expected


# ------------------------------------------------------------------------------------------
# bad inputs: errors name the file and the entry, and nothing is written


def _h36m_2d(takes: dict, joints: int = 17, cams: int = 4, extra: int = 0) -> dict:
    rng = np.random.default_rng(4)
    return {s: {t: [random_pixels(rng, n + extra, joints) for _ in range(cams)] for t, n in ts.items()}
            for s, ts in takes.items()}


H36M_META = {"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": H36M_SYMMETRY}


@pytest.mark.parametrize("case, message", [
    ("short_2d", r"data_2d_h36m_bad\.npz: positions_2d\['S9'\]\['Walking 1'\]\[camera 0 \(54138969\)\] "
                 r"has 29 frames, fewer than the 30"),
    ("joints", r"positions_2d\['S1'\]\['Walking 1'\]\[camera 0 \(54138969\)\] has 16 joints, "
               r"layout h36m17 \(metadata layout_name 'h36m'\) expects 17"),
    ("cameras", r"positions_2d\['S1'\]\['Walking 1'\] has 3 camera\(s\), expected 4 \(54138969, "),
    ("calibration", r"subject 'S10' has no Human3.6M calibration"),
    ("shape_3d", r"positions_3d\['S9'\]\['Walking 1'\] has shape \(30, 31, 3\), expected \(N, 32, 3\)"),
    ("3d_without_2d", r"positions_3d\['S9'\]\['Directions 1'\] has no 2-D"),
    ("3d_without_extrinsics", r"positions_3d\['S2'\]\['Walking'\] has 3-D but camera 54138969 of subject "
                              r"'S2' has no extrinsics"),
    ("nesting", r"positions_2d\['S9'\] is a list, expected a dict of takes"),
    ("channels", r"\[camera 1 \(55011271\)\] has 3 channels per joint but .*\[camera 0 \(54138969\)\] has 2"),
])
def test_h36m_bad_inputs_name_the_entry(h36m_files, tmp_path, case, message):
    takes = {"S1": {"Walking 1": 40}, "S9": {"Walking 1": 30, "Directions 1": 21}}
    rng = np.random.default_rng(5)
    world = {s: {t: world_motion(rng, n, 32) for t, n in ts.items()} for s, ts in takes.items()}
    pos2d = _h36m_2d(takes)
    if case == "short_2d":
        pos2d["S9"]["Walking 1"][0] = pos2d["S9"]["Walking 1"][0][:29]
    elif case == "joints":
        pos2d["S1"]["Walking 1"] = [v[:, :16] for v in pos2d["S1"]["Walking 1"]]
    elif case == "cameras":
        pos2d["S1"]["Walking 1"] = pos2d["S1"]["Walking 1"][:3]
    elif case == "calibration":
        pos2d["S10"] = _h36m_2d({"S10": {"Walking": 5}})["S10"]
    elif case == "shape_3d":
        world["S9"]["Walking 1"] = world["S9"]["Walking 1"][:, :31]
    elif case == "3d_without_2d":
        del pos2d["S9"]["Directions 1"]
    elif case == "3d_without_extrinsics":
        world["S2"] = {"Walking": world_motion(rng, 5, 32)}
        pos2d["S2"] = _h36m_2d({"S2": {"Walking": 5}})["S2"]
    elif case == "nesting":
        pos2d["S9"] = list(pos2d["S9"].values())
    elif case == "channels":
        pos2d["S1"]["Walking 1"][1] = random_pixels(rng, 40, 17, channels=3)
    p3 = save_npz(tmp_path / "data_3d_h36m.npz", positions_3d=world)
    p2 = save_npz(tmp_path / "data_2d_h36m_bad.npz", positions_2d=pos2d, metadata=H36M_META)
    with pytest.raises(ConversionError, match=message):
        convert_h36m(p3, p2, tmp_path / "out.h5")
    assert leftovers(tmp_path, {p3.name, p2.name}) == []


def test_missing_input_file_is_named(h36m_files, tmp_path):
    with pytest.raises(FileNotFoundError, match="data_2d_h36m_nope.npz: file not found"):
        convert_h36m(h36m_files["3d"], tmp_path / "data_2d_h36m_nope.npz", tmp_path / "out.h5")
    with pytest.raises(FileNotFoundError, match="data_3d_nope.npz"):
        convert_humaneva(tmp_path / "data_3d_nope.npz", h36m_files["gt_path"], tmp_path / "out.h5")
    assert leftovers(tmp_path, set()) == []


def test_malformed_last_subject_leaves_previous_output_intact(h36m_files, tmp_path):
    """The last subject is broken: nothing is written, and an existing store survives."""
    out = tmp_path / "store.h5"
    good = convert_h36m(h36m_files["3d"], h36m_files["gt_path"], out)
    before = out.read_bytes()
    pos2d = dict(h36m_files["cpn"])
    pos2d["S2"] = {"Walking": [random_pixels(np.random.default_rng(6), 9, 17)] * 4,
                   "Eating": [np.zeros((9, 17))] * 2}
    bad = save_npz(tmp_path / "data_2d_h36m_broken.npz", positions_2d=pos2d, metadata=H36M_META)
    with pytest.raises(ConversionError, match=r"positions_2d\['S2'\]\['Eating'\] has 2 camera"):
        convert_h36m(h36m_files["3d"], bad, out)
    assert out.read_bytes() == before and good == out
    assert leftovers(tmp_path, {"store.h5", bad.name}) == []


def test_interrupted_write_leaves_no_file(h36m_files, tmp_path, monkeypatch):
    """A failure in the middle of writing the HDF5 file: no output and no temporary file."""
    calls = {"n": 0}
    original = h5py.Group.create_dataset

    def failing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError("disk full (simulated)")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(OSError, match="simulated"):
        convert_h36m(h36m_files["3d"], h36m_files["cpn_path"], tmp_path / "out.h5")
    assert calls["n"] > 3
    assert leftovers(tmp_path, set()) == []


def test_interrupted_between_clips_leaves_no_file(h36m_files, tmp_path, monkeypatch):
    from poseact.store.builder import StoreBuilder

    original, calls = StoreBuilder.add_clip, {"n": 0}

    def failing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(StoreBuilder, "add_clip", failing)
    with pytest.raises(KeyboardInterrupt):
        convert_h36m(h36m_files["3d"], h36m_files["gt_path"], tmp_path / "out.h5")
    assert leftovers(tmp_path, set()) == []


def test_2d_only_take_of_labeled_subject_warns(h36m_files, tmp_path):
    pos2d = {s: dict(t) for s, t in h36m_files["gt"].items()}
    pos2d["S1"]["Smoking"] = [random_pixels(np.random.default_rng(7), 8, 17)] * 4
    p2 = save_npz(tmp_path / "data_2d_h36m_extra.npz", positions_2d=pos2d,
                  metadata={"num_joints": 17, "keypoints_symmetry": H36M_SYMMETRY})
    with pytest.warns(ConversionWarning, match=r"\['S1'\]\['Smoking'\] has no 3-D"):
        store = open_store(convert_h36m(h36m_files["3d"], p2, tmp_path / "out.h5"))
    assert not store.labeled_clips()[clip_rows(store, "S1", "Smoking")].any()


# ------------------------------------------------------------------------------------------
# the data_prep/ scripts


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "data_prep" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prepare_h36m_cli(h36m_files, tmp_path, capsys):
    main = load_script("prepare_h36m").main
    out = tmp_path / "h36m.h5"
    assert main(["--data-3d", str(h36m_files["3d"]), "--data-2d", str(h36m_files["cpn_path"]),
                 "--out", str(out), "--subjects", "S1,S2"]) == 0
    printed = capsys.readouterr().out
    assert "subjects S1, S2" in printed and "layouts  2-D h36m17, 3-D h36m17" in printed
    assert sorted(set(open_store(out).clips.subject)) == ["S1", "S2"]
    assert main(["--data-2d", str(tmp_path / "missing.npz"), "--out", str(out)]) == 2  # the one error boundary
    assert "missing.npz: file not found" in capsys.readouterr().err


def test_prepare_humaneva_and_custom_cli(humaneva_files, custom_file, tmp_path, capsys):
    he = load_script("prepare_humaneva").main
    assert he(["--data-3d", str(humaneva_files["3d_path"]), "--data-2d", str(humaneva_files["2d_path"]),
               "--out", str(tmp_path / "he.h5"), "--subjects", "Train/S1", "Unlabeled/S4"]) == 0
    assert "subjects Train/S1, Unlabeled/S4" in capsys.readouterr().out
    custom = load_script("prepare_custom").main
    assert custom(["--data-2d", str(custom_file["path"]), "--out", str(tmp_path / "c.h5"), "--fps", "25"]) == 0
    printed = capsys.readouterr().out
    assert "at 25 fps" in printed and "walk.mp4" in printed


def test_prepare_custom_default_output_and_no_lightning(custom_file, tmp_path):
    """Run as a script in a fresh interpreter: default output name, Lightning never imported."""
    src = custom_file["dir"] / "data_2d_custom_myvideos.npz"
    copy = tmp_path / src.name
    copy.write_bytes(src.read_bytes())
    script = ROOT / "data_prep" / "prepare_custom.py"
    code = "\n".join([
        "import runpy, sys",
        f"sys.argv = [{str(script)!r}, '--data-2d', {str(copy)!r}]",
        "try:",
        "    runpy.run_path(sys.argv[0], run_name='__main__')",
        "except SystemExit as e:",
        "    assert e.code == 0, e.code",
        "print('lightning imported:', any(m.split('.')[0] in ('pytorch_lightning', 'lightning') for m in sys.modules))",
    ])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "lightning imported: False" in result.stdout
    assert (tmp_path / "custom_myvideos.h5").exists()
