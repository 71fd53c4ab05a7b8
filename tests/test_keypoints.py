"""Keypoint files: readers, person choice, layout conversions into H36M-17, gap filling."""

from __future__ import annotations

import json

import numpy as np
import pytest

from poseact.infer.formats import KeypointFileError, read_keypoints
from poseact.infer.gaps import NoPersonError, fill_gaps
from poseact.layouts import LayoutError, can_convert, convert_layout, input_recipe
from poseact.skeleton import get_skeleton

H36M = {n: i for i, n in enumerate(get_skeleton("h36m17").joint_names)}
DETECTOR_CONVERSIONS = [("coco17", "h36m17"), ("halpe26", "h36m17"), ("mediapipe33", "h36m17"), ("mpii16", "h36m17"),
                        ("halpe26", "coco17"), ("mediapipe33", "coco17")]


def test_name_derived_recipes_equal_the_documented_tables():
    """The conversions are derived from joint names (poseact.layouts.DERIVED); joint by joint they are
    the tables in the module docstring (source indices averaged; -1 - j = target joint j)."""
    coco = ((11, 12), (12,), (14,), (16,), (11,), (13,), (15,), (-1, -9), (5, 6), (0,), (1, 2), (5,), (7,), (9,),
            (6,), (8,), (10,))
    expected = {
        ("coco17", "h36m17"): coco,
        ("halpe26", "h36m17"): coco[:10] + ((17,),) + coco[11:],
        ("mediapipe33", "h36m17"): ((23, 24), (24,), (26,), (28,), (23,), (25,), (27,), (-1, -9), (11, 12), (0,),
                                    (2, 5), (11,), (13,), (15,), (12,), (14,), (16,)),
        ("mpii16", "h36m17"): ((6,), (2,), (1,), (0,), (3,), (4,), (5,), (-1, -9), (7,), (8,), (9,), (13,), (14,),
                               (15,), (12,), (11,), (10,)),
        ("mediapipe33", "coco17"): tuple((j,) for j in (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)),
        ("halpe26", "coco17"): tuple((j,) for j in range(17)),
    }
    for pair, recipe in expected.items():
        assert input_recipe(*pair) == recipe, pair
    assert not can_convert("h36m17", "coco17") and not can_convert("humaneva15", "h36m17")


def _named(layout: str, rng) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Random (T=4, J, 2) keypoints of ``layout`` and a dict name → (T, 2)."""
    sk = get_skeleton(layout)
    kps = rng.uniform(0, 500, (4, sk.num_joints, 2)).astype(np.float32)
    return kps, {n: kps[:, i] for i, n in enumerate(sk.joint_names)}


@pytest.mark.parametrize("layout", ["coco17", "halpe26", "mediapipe33"])
def test_conversion_to_h36m_follows_the_documented_table(layout):
    rng = np.random.default_rng(0)
    kps, j = _named(layout, rng)
    conf = rng.uniform(0.2, 1, kps.shape[:2]).astype(np.float32)
    out, c = convert_layout(kps, conf, layout, "h36m17")
    assert out.shape == (4, 17, 2) and c.shape == (4, 17)
    mid = lambda a, b: (a + b) / 2  # noqa: E731
    pelvis, thorax = mid(j["left_hip"], j["right_hip"]), mid(j["left_shoulder"], j["right_shoulder"])
    np.testing.assert_allclose(out[:, H36M["pelvis"]], pelvis, rtol=1e-6)
    np.testing.assert_allclose(out[:, H36M["thorax"]], thorax, rtol=1e-6)
    np.testing.assert_allclose(out[:, H36M["spine"]], mid(pelvis, thorax), rtol=1e-6)
    np.testing.assert_allclose(out[:, H36M["neck"]], j["nose"])
    head = j["head"] if layout == "halpe26" else mid(j["left_eye"], j["right_eye"])
    np.testing.assert_allclose(out[:, H36M["head"]], head, rtol=1e-6)
    for side in ("left", "right"):
        for part, src in (("hip", "hip"), ("knee", "knee"), ("ankle", "ankle"), ("shoulder", "shoulder"),
                          ("elbow", "elbow"), ("wrist", "wrist")):
            np.testing.assert_array_equal(out[:, H36M[f"{side}_{part}"]], j[f"{side}_{src}"])
    # a derived joint is as confident as its least confident source
    sk = get_skeleton(layout)
    lh, rh = sk.joint_names.index("left_hip"), sk.joint_names.index("right_hip")
    np.testing.assert_array_equal(c[:, 0], np.minimum(conf[:, lh], conf[:, rh]))


@pytest.mark.parametrize("layout", ["halpe26", "mediapipe33"])
def test_conversion_to_coco_keeps_names(layout):
    kps, j = _named(layout, np.random.default_rng(1))
    out, _ = convert_layout(kps, np.ones(kps.shape[:2], np.float32), layout, "coco17")
    for i, name in enumerate(get_skeleton("coco17").joint_names):
        np.testing.assert_array_equal(out[:, i], j[name])


def _mirror(layout: str) -> np.ndarray:
    """Left/right swap by joint *name* (``left_x`` <-> ``right_x``, ``mouth_left`` <-> ...). Not ``flip_permutation``: MPII-16's
    keeps VideoPose3D's symmetry lists, which pair left hip with right ankle (spec §4.3)."""
    names = get_skeleton(layout).joint_names
    swap = {n: n.replace("left", "@").replace("right", "left").replace("@", "right") for n in names}
    return np.array([names.index(swap[n]) for n in names])


def test_conversions_map_left_to_left():
    """Mirroring then converting equals converting then mirroring: no left/right mix-ups."""
    for (src, dst) in DETECTOR_CONVERSIONS:
        kps, _ = _named(src, np.random.default_rng(2))
        conf = np.ones(kps.shape[:2], np.float32)
        a, _ = convert_layout(kps[:, _mirror(src)], conf, src, dst)
        b, _ = convert_layout(kps, conf, src, dst)
        np.testing.assert_allclose(a, b[:, _mirror(dst)], rtol=1e-6, err_msg=f"{src}->{dst}")
    for layout in ("h36m17", "coco17", "halpe26", "mediapipe33"):  # the name swap is the skeleton's flip
        np.testing.assert_array_equal(_mirror(layout), get_skeleton(layout).flip_permutation())


def test_mpii_to_h36m_by_name():
    kps, j = _named("mpii16", np.random.default_rng(3))
    out, c = convert_layout(kps, np.ones(kps.shape[:2], np.float32), "mpii16", "h36m17")
    for name in ("pelvis", "thorax", "neck", "head"):
        np.testing.assert_array_equal(out[:, H36M[name]], j[name])
    for side in ("left", "right"):
        for part in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"):
            np.testing.assert_array_equal(out[:, H36M[f"{side}_{part}"]], j[f"{side}_{part}"])
    np.testing.assert_allclose(out[:, H36M["spine"]], (j["pelvis"] + j["thorax"]) / 2, rtol=1e-6)


def test_no_conversion_is_a_clear_error():
    with pytest.raises(LayoutError, match="no conversion from h36m17 to coco17"):
        convert_layout(np.zeros((2, 17, 2)), np.zeros((2, 17)), "h36m17", "coco17", where="x.json")


def _coco_people(rng, n, offset=0.0, scale=1.0):
    k = np.c_[rng.uniform(0, 100, (17, 2)) * scale + offset, rng.uniform(0.5, 1, 17)]
    return {"keypoints": k.ravel().tolist(), "score": float(k[:, 2].mean())}


def test_json_per_frame_lists_pick_the_largest_person(tmp_path):
    rng = np.random.default_rng(0)
    frames = []
    for t in range(6):
        big = _coco_people(rng, 17, offset=200, scale=3)
        frames.append([_coco_people(rng, 17, scale=0.5), big] if t % 2 else [big])
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(frames))
    track = read_keypoints(path)
    assert track.layout == "coco17" and track.keypoints.shape == (6, 17, 2)
    assert (track.keypoints >= 200).all()  # always the big one
    assert "largest" in track.person and "3 of 6 frames" in track.person
    conf = read_keypoints(path, person="confident")
    assert "most confident" in conf.person


def test_coco_results_format_groups_by_image_and_follows_tracks(tmp_path):
    rng = np.random.default_rng(0)
    dets = []
    for t in (10, 2, 1):  # unordered, natural sort puts 1, 2, 10
        main = np.c_[np.full((26, 2), float(t)), np.ones(26)].ravel().tolist()       # track 1, small box
        other = np.c_[rng.uniform(0, 900, (26, 2)), np.full(26, 0.3)].ravel().tolist()  # track 7, big box
        dets += [{"image_id": f"{t}.jpg", "idx": 1, "score": 2.0, "keypoints": main},
                 {"image_id": f"{t}.jpg", "idx": 7, "score": 0.3, "keypoints": other}]
    path = tmp_path / "alphapose-results.json"
    path.write_text(json.dumps(dets))
    track = read_keypoints(path, layout="halpe26")
    assert track.layout == "halpe26"
    np.testing.assert_array_equal(track.keypoints[:, 0, 0], [1, 2, 10])
    assert "most confident track (id 1 of 2 tracks)" in track.person


def test_wrong_layout_names_the_file(tmp_path):
    path = tmp_path / "seven.json"
    path.write_text(json.dumps([[[[1, 2, 1]] * 7]]))
    with pytest.raises(KeypointFileError, match=r"seven\.json.*7 joints"):
        read_keypoints(path)
    coco = tmp_path / "coco.json"
    coco.write_text(json.dumps([[[[1, 2, 1]] * 17]]))
    with pytest.raises(KeypointFileError, match=r"coco\.json.*coco17.*mediapipe33"):
        read_keypoints(coco, layout="mediapipe33")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(KeypointFileError, match=r"bad\.json.*not valid JSON"):
        read_keypoints(bad)


def test_no_person_anywhere_names_the_file(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text(json.dumps([[], [], []]))
    with pytest.raises(KeypointFileError, match=r"empty\.json.*no person detected in any of its 3 frames"):
        read_keypoints(path)


def test_custom_npz(tmp_path):
    kps = np.random.default_rng(0).uniform(0, 640, (12, 17, 2)).astype(np.float32)
    meta = {"layout_name": "coco", "num_joints": 17, "video_metadata": {"clip.mp4": {"w": 640, "h": 480}}}
    path = tmp_path / "data_2d_custom_demo.npz"
    np.savez(path, positions_2d={"clip.mp4": {"custom": [kps]}}, metadata=meta)
    track = read_keypoints(path)
    assert (track.layout, track.width, track.height) == ("coco17", 640, 480)
    np.testing.assert_array_equal(track.keypoints, kps)
    assert (track.confidence == 1).all()
    np.savez(path, positions_2d={"a": {"custom": [kps]}, "b": {"custom": [kps]}}, metadata=meta)
    with pytest.raises(KeypointFileError, match="2 videos"):
        read_keypoints(path)
    assert read_keypoints(path, clip="b").num_frames == 12


def test_fill_gaps_interpolates_and_flags():
    T = 30
    kps = np.stack([np.arange(T, dtype=np.float32)] * 2, -1)[:, None].repeat(3, 1)  # x = y = t
    kps[3:5] = np.nan           # 2-frame gap: interpolated
    kps[10:25, :] = np.nan      # 15-frame no-person gap: flagged with max_gap 10
    kps[0, 1] = np.nan          # one joint missing at the start: held from frame 1
    conf = np.ones((T, 3), np.float32)
    out, c, flagged, report = fill_gaps(kps, conf, max_gap=10)
    np.testing.assert_allclose(out[:, 0, 0], np.arange(T))  # linear in t, so exact
    assert out[0, 1, 0] == 1
    assert c[3, 0] == 0 and c[2, 0] == 1
    assert report.empty_frames == 17 and report.flagged_ranges == [(10, 24)]
    assert flagged[10:25].all() and not flagged[:10].any()
    assert report.interpolated_entries == 2 * 3 + 1 and report.flagged_entries == 15 * 3
    assert "flagged" in report.summary()


def test_fill_gaps_errors():
    with pytest.raises(NoPersonError, match="clip.json: no person"):
        fill_gaps(np.full((4, 3, 2), np.nan), np.zeros((4, 3)), where="clip.json")
    kps = np.zeros((4, 3, 2))
    kps[:, 2] = np.nan
    with pytest.raises(NoPersonError, match=r"joints \[2\] are never detected"):
        fill_gaps(kps, np.ones((4, 3)))
