"""Calibration readers: Qualisys .qca.txt, Pose2Sim/OpenCV TOML, poseact's YAML; files written here
and the real Qualisys file of pose2sim's Demo_Batch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from helpers.pose2sim_data import recording
from poseact.errors import CalibrationError, MissingFileError
from poseact.geometry.calibration import (
    distort,
    read_calibration,
    rodrigues,
    rotation_vector,
    undistort_normalised,
)


def test_rodrigues_round_trip_and_known_turn():
    R = rodrigues([0, 0, math.pi / 2])  # a quarter turn about z: x -> y
    np.testing.assert_allclose(R @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    rng = np.random.default_rng(0)
    for v in list(rng.normal(size=(5, 3))) + [np.array([math.pi, 0, 0]), np.array([0, 1e-14, 0])]:
        R = rodrigues(v)
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(rodrigues(rotation_vector(R)), R, atol=1e-9)


def test_undistort_inverts_distort():
    d = np.array([-0.2, 0.05, 0.001, -0.002, 0.01])
    xy = np.random.default_rng(1).uniform(-0.6, 0.6, size=(100, 2))
    np.testing.assert_allclose(undistort_normalised(distort(xy, d), d), xy, atol=1e-9)


def _toml(path, rotation="[ 0.1, -0.2, 0.3]", extra=""):
    path.write_text(f"""[cam_01]
name = "left"
size = [ 1920.0, 1080.0]
matrix = [ [ 1000.0, 0.0, 950.0], [ 0.0, 1010.0, 530.0], [ 0.0, 0.0, 1.0]]
distortions = [ 0.0, 0.0, 0.0, 0.0]
rotation = {rotation}
translation = [ 0.5, -0.25, 4.0]
fisheye = false
{extra}
[metadata]
adjusted = false
error = 0.0
""")
    return path


def test_toml_reads_world_to_camera_rodrigues(tmp_path):
    (cam,) = read_calibration(_toml(tmp_path / "Calib.toml"))
    assert cam.name == "left" and cam.size == (1920, 1080)
    np.testing.assert_allclose(cam.R, rodrigues([0.1, -0.2, 0.3]))
    np.testing.assert_allclose(cam.t, [0.5, -0.25, 4.0])
    X = np.array([0.3, 0.2, 1.0])
    c = cam.R @ X + cam.t  # x_cam = R x + t, pixels through K
    np.testing.assert_allclose(cam.project(X), [1000 * c[0] / c[2] + 950, 1010 * c[1] / c[2] + 530])
    np.testing.assert_allclose(cam.to_camera(cam.centre), 0, atol=1e-12)
    # poseact's normalised intrinsics: pixels / width * 2, centre to [-1, 1] x [-h/w, h/w]
    np.testing.assert_allclose(cam.intrinsics_vector(), [2 * 1000 / 1920, 2 * 1010 / 1920, 950 / 960 - 1,
                                                         530 / 960 - 1080 / 1920, 0, 0, 0, 0, 0], atol=1e-6)


def test_qualisys_conventions(tmp_path):
    # a camera at (1, -2, 1.5) m; M (the file's rows) is Qualisys's world -> camera with -z forward, y up
    M = rodrigues([0.3, 0.2, -0.4])
    r = {f"r{i + 1}{j + 1}": float(M[i, j]) for i in range(3) for j in range(3)}
    attrs = " ".join(f'{k}="{v!r}"' for k, v in r.items())
    path = tmp_path / "Calib.qca.txt"
    path.write_text(f"""<?xml version='1.0' encoding='ASCII'?>
<calibration><cameras>
  <camera active="1" serial="cam07" model="none">
    <fov_video bottom="1923" left="8" right="1095" top="4"/>
    <transform {attrs} x="1000" y="-2000" z="1500"/>
    <intrinsic centerPointU="{544 * 64 + 8 * 64}" centerPointV="{960 * 64 + 4 * 64}" focalLengthU="{1700 * 64}"
      focalLengthV="{1690 * 64}" radialDistortion1="-0.64" radialDistortion2="0.128" radialDistortion3="0"
      tangentalDistortion1="0.0064" tangentalDistortion2="0"/>
  </camera>
</cameras></calibration>
""")
    (cam,) = read_calibration(path)
    assert cam.name == "cam07" and cam.size == (1088, 1920)
    np.testing.assert_allclose(cam.K, [[1700, 0, 544], [0, 1690, 960], [0, 0, 1]])
    np.testing.assert_allclose(cam.distortion, [-0.01, 0.002, 0.0001, 0, 0])
    np.testing.assert_allclose(cam.R, np.diag([1, -1, -1]) @ M)
    np.testing.assert_allclose(cam.centre, [1.0, -2.0, 1.5])
    # a point on Qualisys's -z axis (in front of the camera) is straight ahead in OpenCV's frame
    ahead = cam.centre + M.T @ [0, 0, -2.0]
    np.testing.assert_allclose(cam.to_camera(ahead), [0, 0, 2.0], atol=1e-12)
    np.testing.assert_allclose(cam.project(ahead), [544, 960], atol=1e-9)


def test_real_qualisys_file_sees_the_lab():
    cams = read_calibration(recording("Demo_Batch/Trial_1") / "calibration" / "Calib.qca.txt")
    assert [c.name for c in cams] == ["cam01", "cam02", "cam03", "cam04"]
    subject = np.array([0.0, 0.0, 0.9])  # the middle of the capture volume, hip height
    for c in cams:
        assert c.size == (1088, 1920) and 1600 < c.K[0, 0] < 1750
        assert 2.0 < np.linalg.norm(c.centre - subject) < 6.0
        z = c.to_camera(subject)[2]
        u, v = c.project(subject)
        assert z > 0 and 0 < u < 1088 and 0 < v < 1920, (c.name, z, u, v)
        # the world's z is up: a point 1 m higher is higher in every image
        assert c.project(subject + [0, 0, 1.0])[1] < v


def test_yaml_forms(tmp_path):
    path = tmp_path / "rig.yaml"
    path.write_text("""cameras:
  phone:
    size: [1080, 1920]
    fov: 90
  tripod:
    size: [1920, 1080]
    focal: [1500, 1510]
    centre: [950, 540]
    distortion: [0.01, 0, 0, 0, 0.001]
    rotation: [0, 0, 0]
    position: [0, 0, -3]
  wall:
    size: [640, 480]
    focal: 500
    rotation: [[1, 0, 0], [0, 0, -1], [0, 1, 0]]
    translation: [0, 1, 5]
""")
    phone, tripod, wall = read_calibration(path)
    assert not phone.has_extrinsics and phone.size == (1080, 1920)
    np.testing.assert_allclose(phone.K[0, 0], 540)  # 90 degrees across 1080 px: f = w / 2
    np.testing.assert_allclose(phone.K[:2, 2], [540, 960])
    np.testing.assert_allclose(tripod.t, [0, 0, 3])
    np.testing.assert_allclose(tripod.K[:2, :3], [[1500, 0, 950], [0, 1510, 540]])
    np.testing.assert_allclose(tripod.distortion, [0.01, 0, 0, 0, 0.001])
    np.testing.assert_allclose(wall.R, [[1, 0, 0], [0, 0, -1], [0, 1, 0]])
    np.testing.assert_allclose(wall.to_camera([0, 0, 0]), [0, 1, 5])
    with pytest.raises(ValueError, match="phone"):
        phone.centre


@pytest.mark.parametrize(("name", "text", "words"), [
    ("a.yaml", "cameras:\n  c1:\n    focal: 1000\n", ["a.yaml", "cameras.c1", "'size'"]),
    ("b.yaml", "cameras:\n  c1:\n    size: [10, 10]\n    focal: 1\n    fov: 60\n", ["b.yaml", "c1", "focal", "fov"]),
    ("c.yaml", "cameras:\n  c1:\n    size: [10, 10]\n    fov: 200\n", ["c.yaml", "cameras.c1.fov"]),
    ("d.yaml", "cameras:\n  c1:\n    size: [10, 10]\n    focal: 1\n    rotation: [[1, 0, 0], [0, 1, 0], [0, 0, 2]]\n"
               "    translation: [0, 0, 0]\n", ["d.yaml", "c1", "not a rotation"]),
    ("e.yaml", "cameras:\n  c1:\n    size: [10, 10]\n    focal: 1\n    rotation: [0, 0, 0]\n",
     ["e.yaml", "c1", "translation", "position"]),
    ("f.yaml", "- just\n- a list\n", ["f.yaml", "cameras:"]),
    ("g.toml", "[cam_01]\nsize = [10, 10]\nmatrix = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]\nrotation = [0, 0]\n"
               "translation = [0, 0, 0]\n", ["g.toml", "[cam_01]", "rotation"]),
    ("h.toml", "[cam_01]\nsize = [10, 10]\nmatrix = [[1, 0, 0], [0, 1, 0]]\n", ["h.toml", "matrix", "3 x 3"]),
    ("i.toml", "[metadata]\nerror = 0\n", ["i.toml", "no camera table"]),
    ("j.toml", "[cam_01\n", ["j.toml", "not valid TOML"]),
    ("k.qca.txt", "<calibration><cameras><camera serial='c9'><fov_video left='0' top='0' right='9' bottom='9'/>"
                  "</camera></cameras></calibration>", ["k.qca.txt", "c9", "<intrinsic>"]),
    ("l.qca.txt", "not xml", ["l.qca.txt", "not Qualisys XML"]),
    ("m.txt", "whatever", ["m.txt", "unknown format"]),
])
def test_bad_files_raise_one_line_naming_file_and_key(tmp_path, name, text, words):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(CalibrationError) as info:
        read_calibration(path)
    message = str(info.value)
    assert "\n" not in message
    for w in words:
        assert w in message, (w, message)


def test_bad_number_in_qualisys_names_the_attribute(tmp_path):
    real = (recording("Demo_Batch/Trial_1") / "calibration" / "Calib.qca.txt").read_text()
    path = tmp_path / "Calib.qca.txt"
    path.write_text(real.replace('focalLengthV="107588.828125"', 'focalLengthV="n/a"'))
    with pytest.raises(CalibrationError, match=r"cam01 <intrinsic> focalLengthV='n/a'"):
        read_calibration(path)


def test_missing_file(tmp_path):
    with pytest.raises(MissingFileError, match="nope.toml"):
        read_calibration(tmp_path / "nope.toml")
