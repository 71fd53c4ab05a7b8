"""Camera model and skeletons against the reference's golden values (spec §3, §4, §11)."""

import numpy as np
import pytest
import torch

from poseact.geometry import (
    camera_to_world, flip_intrinsics, h36m_cameras, humaneva_cameras, image_coordinates,
    normalize_screen_coordinates, project_to_2d, project_to_2d_linear, qinverse, qrot, world_to_camera,
)
from poseact.skeleton import (COCO17, H36M17, H36M32, H36M32_TO_17, HUMANEVA15, SKELETONS, Skeleton, get_skeleton,
                              h36m32_to_17, mirror_joint_name)

CAM0 = h36m_cameras()["S1"][0]
POINTS_CAM = np.array([[0.1, 0.2, 3.0], [-0.3, 0.05, 4.5], [2.0, 0.1, 1.5]], dtype=np.float32)


def _extrinsics(cam):
    return np.array(cam.orientation, np.float32), np.array(cam.translation, np.float32)


def test_h36m_normalized_intrinsics_match_reference_bit_for_bit():
    expected = {
        0: [2.2900989, 2.2875624, 0.025083065, 0.028902981, -0.20709892, 0.24777518, -0.0030751503, -0.00097569887, -0.0014244716],
        1: [2.2993512, 2.2951834, 0.017697215, 0.016129851, -0.19421363, 0.24040854, 0.0068199756, -0.0016190266, -0.0027408944],
        2: [2.2982814, 2.2975979, 0.039631724, 0.0028053522, -0.20833819, 0.25548801, -0.0024604974, 0.0014843870, -0.00075999933],
        3: [2.2910228, 2.2895479, 0.029936433, 0.0017640333, -0.19838409, 0.21832368, -0.0089478074, -0.00058720558, -0.0018133620],
    }
    for i, cam in enumerate(h36m_cameras()["S9"]):
        np.testing.assert_allclose(cam.intrinsics_vector(), expected[i], rtol=2e-7, atol=1e-9)


def test_world_to_camera_golden_and_inverse():
    world = np.array([[0.5, -0.2, 1.0], [0, 0, 0], [-1.0, 2.0, 0.3]], dtype=np.float32)
    cam = world_to_camera(world, *_extrinsics(CAM0))
    np.testing.assert_allclose(cam, [[-0.85834575, -0.44556618, 5.268558], [-0.34605098, 0.54698086, 5.4744806],
                                     [1.3806515, 0.56150603, 4.0224867]], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(camera_to_world(cam, *_extrinsics(CAM0)), world, atol=2e-6)


def test_project_to_2d_golden_including_clamp():
    k = CAM0.intrinsics_vector()[None]
    uv = project_to_2d(POINTS_CAM[None], k)[0]
    np.testing.assert_allclose(uv, [[0.10131031, 0.1811953], [-0.12746428, 0.05428279], [2.3994489, 0.18389513]],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(image_coordinates(uv, 1000, 1002),
                               [[550.655, 591.598], [436.268, 528.141], [1699.724, 592.948]], atol=2e-3)
    lin = project_to_2d_linear(POINTS_CAM[None], k)[0]
    np.testing.assert_allclose(lin, [[0.1014197, 0.18140714], [-0.12759021, 0.05432034], [2.315182, 0.18140714]],
                               rtol=1e-5, atol=1e-6)


def test_clamp_bounds_the_third_point():
    # x/z = 1.33 is clamped to 1, so moving the point further out changes nothing
    k = torch.from_numpy(CAM0.intrinsics_vector())[None]
    a = project_to_2d(torch.tensor([[[2.0, 0.1, 1.5]]]), k)
    b = project_to_2d(torch.tensor([[[3.0, 0.1, 1.5]]]), k)
    assert torch.allclose(a, b)


def test_normalize_screen_coordinates_golden_and_inverse():
    px = np.array([[0, 0], [1000, 1002], [512.5, 515.5]], dtype=np.float32)
    n = normalize_screen_coordinates(px, 1000, 1002)
    np.testing.assert_allclose(n, [[-1, -1.002], [1, 1.002], [0.025, 0.029]], atol=1e-6)
    np.testing.assert_allclose(image_coordinates(n, 1000, 1002), px, atol=1e-3)
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        normalize_screen_coordinates(np.zeros((3, 3), np.float32), 1000, 1000)


def test_projection_is_differentiable_and_flip_consistent():
    k = torch.from_numpy(CAM0.intrinsics_vector())[None]
    pts = torch.tensor([[[0.1, 0.2, 3.0], [-0.3, 0.05, 4.5]]], requires_grad=True)
    project_to_2d(pts, k).sum().backward()
    assert pts.grad is not None and torch.isfinite(pts.grad).all() and pts.grad.abs().sum() > 0
    # mirroring the 3-D (x -> -x) with cx, p1 negated mirrors the 2-D
    mirrored = pts.detach().clone()
    mirrored[..., 0] *= -1
    a = project_to_2d(pts.detach(), k)
    b = project_to_2d(mirrored, flip_intrinsics(k))
    assert torch.allclose(a[..., 0], -b[..., 0], atol=1e-6) and torch.allclose(a[..., 1], b[..., 1], atol=1e-6)


def test_quaternion_rotation_properties():
    q = torch.nn.functional.normalize(torch.randn(5, 4, dtype=torch.float64), dim=-1)
    v = torch.randn(5, 3, dtype=torch.float64)
    r = qrot(q, v)
    assert torch.allclose(r.norm(dim=-1), v.norm(dim=-1))
    assert torch.allclose(qrot(qinverse(q), r), v)


def test_camera_tables_complete():
    h36m = h36m_cameras()
    assert {"S1", "S5", "S6", "S7", "S8", "S9", "S11"} <= set(h36m)
    assert all(c.has_extrinsics for c in h36m["S11"]) and not any(c.has_extrinsics for c in h36m["S2"])
    assert all(c.has_intrinsics for c in h36m["S2"])
    assert [c.id for c in h36m["S1"]] == ["54138969", "55011271", "58860488", "60457274"]
    he = humaneva_cameras()
    assert len(he["S2"]) == 3 and not any(c.has_intrinsics for c in he["S1"])
    assert he["S3"][0].orientation == he["S1"][0].orientation


def test_h36m_32_to_17_reduction_matches_reference_skeleton():
    reduced, kept = H36M32.remove_joints([j for j in range(32) if j not in H36M32_TO_17], "h36m17")
    assert kept == list(H36M32_TO_17)
    parents = list(reduced.parents)
    parents[11] = parents[14] = 8  # the reference re-attaches the shoulders to the thorax
    assert tuple(parents) == H36M17.parents
    assert reduced.joints_left == H36M17.joints_left and reduced.joints_right == H36M17.joints_right
    x = np.arange(32 * 3, dtype=np.float32).reshape(1, 32, 3)
    assert (h36m32_to_17(x)[0, :, 0] == np.array(H36M32_TO_17) * 3).all()
    with pytest.raises(ValueError, match="32"):
        h36m32_to_17(np.zeros((2, 17, 3)))


@pytest.mark.parametrize("skel", [H36M17, HUMANEVA15, COCO17])
def test_flip_permutation_is_an_involution(skel):
    perm = skel.flip_permutation()
    assert (perm[perm] == np.arange(skel.num_joints)).all()
    assert all(perm[left] == right for left, right in zip(skel.joints_left, skel.joints_right))


@pytest.mark.parametrize("name", sorted(SKELETONS))
def test_flip_permutation_mirrors_every_named_joint(name):
    """Pairs go by name: the reference's MPII sets (left hip-first, right ankle-first) paired by
    position would swap a hip with an ankle."""
    skel = SKELETONS[name]
    perm = skel.flip_permutation()
    assert (perm[perm] == np.arange(skel.num_joints)).all()
    for j, n in enumerate(skel.joint_names):
        assert skel.joint_names[perm[j]] == mirror_joint_name(n), (name, n)
    if name == "mpii16":
        assert skel.joint_names[perm[skel.joint_names.index("left_hip")]] == "right_hip"


def test_left_right_sets_that_are_not_mirrors_are_refused():
    with pytest.raises(ValueError, match="mirror"):
        Skeleton(name="bad", parents=(-1, 0, 0), joints_left=(1,), joints_right=(2,),
                 joint_names=("pelvis", "left_hip", "right_knee"))


def test_unknown_layout_names_the_known_ones():
    with pytest.raises(KeyError, match="h36m17"):
        get_skeleton("h36m18")
