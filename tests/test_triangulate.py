"""Triangulation with synthetic cameras whose truth is known: exact points from noiseless
projections, confidence weights, a known frame offset recovered, a known left/right swap found."""

from __future__ import annotations

import numpy as np
import pytest

from poseact.geometry.calibration import Camera
from poseact.geometry.triangulate import (
    align_views,
    estimate_offsets,
    reprojection_errors,
    resolve_swaps,
    resolve_views,
    triangulate,
)
from poseact.skeleton import get_skeleton

FLIP = get_skeleton("mediapipe33").flip_permutation()


def look_at(centre, target, name: str, distortion=(0.0, 0.0, 0.0, 0.0, 0.0)) -> Camera:
    """A portrait 1080 x 1920 camera at ``centre`` looking at ``target`` (world z up)."""
    centre, target = np.asarray(centre, float), np.asarray(target, float)
    z = (target - centre) / np.linalg.norm(target - centre)
    x = np.cross(z, [0, 0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)  # image down = world down
    R = np.stack([x, y, z])
    K = np.array([[1500.0, 0, 540], [0, 1500.0, 960], [0, 0, 1]])
    return Camera(name, K, np.array(distortion, float), R, -R @ centre, (1080, 1920))


def rig(n: int = 4) -> list[Camera]:
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False) + 0.3
    return [look_at([4 * np.cos(a), 4 * np.sin(a), 1.2 + 0.3 * i], [0, 0, 1.0], f"c{i}", (-0.05, 0.02, 1e-3, -1e-3, 0))
            for i, a in enumerate(angles)]


def motion(frames: int = 60, joints: int = 33, seed: int = 0) -> np.ndarray:
    """``(T, J, 3)`` world metres: points around (0, 0, 1) moving on distinct sinusoids."""
    rng = np.random.default_rng(seed)
    base = rng.uniform([-0.3, -0.3, 0.1], [0.3, 0.3, 1.8], size=(joints, 3))
    freq = rng.uniform(0.05, 0.2, size=(joints, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(joints, 3))
    t = np.arange(frames)[:, None, None]
    return base + 0.25 * np.sin(2 * np.pi * freq * t + phase)


def views(cams, X) -> np.ndarray:
    return np.stack([c.project(X) for c in cams])


def test_noiseless_projections_triangulate_exactly():
    cams, X = rig(), motion()
    pts = views(cams, X)
    got = triangulate(pts, np.ones(pts.shape[:-1]), cams)
    np.testing.assert_allclose(got, X, atol=1e-6)
    assert np.nanmax(reprojection_errors(got, pts, cams)) < 1e-4
    # two views are enough; one is not
    two = triangulate(pts[:2], np.ones(pts[:2].shape[:-1]), cams[:2])
    np.testing.assert_allclose(two, X, atol=1e-6)
    conf = np.zeros(pts.shape[:-1])
    conf[0] = 1
    assert np.isnan(triangulate(pts, conf, cams)).all()


def test_confidence_weights_and_threshold():
    cams, X = rig(), motion(frames=5)
    pts = views(cams, X)
    bad = pts.copy()
    bad[2, :, 7] += 60.0  # a 60 px mistake in one view on one joint
    conf = np.ones(pts.shape[:-1])
    equal = np.linalg.norm(triangulate(bad, conf, cams)[:, 7] - X[:, 7], axis=-1)
    conf[2, :, 7] = 0.1
    weighted = np.linalg.norm(triangulate(bad, conf, cams)[:, 7] - X[:, 7], axis=-1)
    assert (weighted < 0.3 * equal).all()
    np.testing.assert_allclose(triangulate(bad, conf, cams, min_confidence=0.2), X, atol=1e-6)  # left out
    nan = bad.copy()
    nan[2, :, 7] = np.nan  # a missing keypoint is left out too
    np.testing.assert_allclose(triangulate(nan, np.ones(pts.shape[:-1]), cams), X, atol=1e-6)


def test_known_frame_offsets_are_recovered():
    cams = rig()
    truth = [0, 0, 3, -2]  # view v's frame f + truth[v] shows the reference's frame f
    shifted = motion(frames=100, seed=0)  # the same motion over a longer time
    pts = np.stack([c.project(shifted[10 - d:10 - d + 80]) for c, d in zip(cams, truth)])
    pts += np.random.default_rng(1).normal(0, 1.0, pts.shape)  # 1 px detector noise
    result = estimate_offsets(pts, np.ones(pts.shape[:-1]), cams, max_offset=6)
    assert result.offsets == truth
    assert result.median_px < 2.0
    aligned, _, first = align_views(pts, np.ones(pts.shape[:-1]), result.offsets)
    assert first == 2 and aligned.shape[1] == 80 - 5
    np.testing.assert_allclose(triangulate(aligned, np.ones(aligned.shape[:-1]), cams),
                               shifted[12:12 + 75], atol=0.02)


def test_views_aligned_over_all_frames_keep_what_a_late_camera_missed():
    """span="all": a camera started 5 frames late (its frame 0 shows the others' frame 5: offset -5)
    does not cut the other views' first frames; where a view has no frame its points are NaN at
    confidence 0, and the views that do have one still triangulate there."""
    cams = rig()
    X = motion(frames=45, seed=4)  # instants 0..44: cam 2 saw 5..44, the others 0..39
    pts = np.stack([c.project(X[5:45] if i == 2 else X[:40]) for i, c in enumerate(cams)])
    conf = np.ones(pts.shape[:-1])
    offsets = [0, 0, -5, 0]
    p, c, first = align_views(pts, conf, offsets)  # shared: instants 5..39
    assert first == 5 and p.shape[1] == 35
    p, c, first = align_views(pts, conf, offsets, span="all")
    assert first == 0 and p.shape[1] == 45
    assert np.isnan(p[2, :5]).all() and (c[2, :5] == 0).all() and (c[2, 5:] == 1).all()
    assert np.isnan(p[[0, 1, 3], 40:]).all() and (c[[0, 1, 3], :40] == 1).all()
    X_hat = triangulate(p, c, cams)
    np.testing.assert_allclose(X_hat[:40], X[:40], atol=1e-6)  # three or four views
    assert np.isnan(X_hat[40:]).all()  # cam 2 alone
    views_ = resolve_views(p, c, cams, FLIP)
    assert not views_.used[2, :5].any() and views_.used[2, 5:40].all()  # a view without a frame is not "used"
    assert not views_.swapped.any()
    with pytest.raises(ValueError, match="span"):
        align_views(pts, conf, offsets, span="some")


def _walk_seen_with_offsets(offsets: list[int]):
    """The rig's cameras and 90 frames of a smooth random walk of 33 points seen by each camera started
    ``offsets[v]`` frames before the reference, with 1 px of noise (unlike the sinusoids of motion(), no shift
    of a random walk resembles another): ``(cameras, points (V, 90, 33, 2), confidence)``."""
    cams = rig()
    steps = np.random.default_rng(2).normal(0, 0.01, (140, 33, 3))
    shifted = np.cumsum(np.cumsum(steps, axis=0), axis=0) * 0.05 + motion(frames=1, seed=2)
    pts = np.stack([c.project(shifted[20 - d:20 - d + 90]) for c, d in zip(cams, offsets)])
    pts += np.random.default_rng(3).normal(0, 1.0, pts.shape)
    return cams, pts, np.ones(pts.shape[:-1])


def test_an_offset_beyond_the_window_is_found_by_widening_it():
    """A camera started 9 frames before the reference (offset +9), searched from ±4: the edge is a
    bound, so the window doubles (4 → 8 → 16, the default limit of 4x) until the offset lies inside it;
    without widening, or with a limit of 2x, it stays stuck on an edge."""
    truth = [0, 9, 0, -2]
    cams, pts, conf = _walk_seen_with_offsets(truth)
    found = estimate_offsets(pts, conf, cams, max_offset=4)
    assert found.offsets == truth
    assert found.window == list(range(-16, 17))
    stuck = estimate_offsets(pts, conf, cams, max_offset=4, widen=1)
    assert stuck.offsets[1] == 4 and stuck.window == list(range(-4, 5))
    capped = estimate_offsets(pts, conf, cams, max_offset=4, widen=2)
    assert capped.offsets[1] == 8 and capped.window == list(range(-8, 9))
    # a clip too short to double the window into keeps the bound
    short = estimate_offsets(pts[:, :15], conf[:, :15], cams, max_offset=4)
    assert short.offsets[1] == 4 and short.window == list(range(-4, 5))


def test_widening_the_window_costs_only_the_offsets_not_tried_before(monkeypatch):
    """Widening from ±4 to ±16 gives exactly what one search over ±16 gives (offsets, curves, costs), and
    computes each pairwise cost once: 6 pairs × 33 offsets, not 6 × (9 + 17 + 33)."""
    import poseact.geometry.triangulate as tri

    cams, pts, conf = _walk_seen_with_offsets([0, 9, 0, -2])
    pairs = []
    real = tri.alignment_cost
    monkeypatch.setattr(tri, "alignment_cost", lambda *a, **k: (pairs.append(k.get("views")), real(*a, **k))[1])
    widened = estimate_offsets(pts, conf, cams, max_offset=4)
    assert len([v for v in pairs if v is not None]) == 6 * 33
    direct = estimate_offsets(pts, conf, cams, max_offset=16, widen=1)
    assert widened == direct


def test_a_view_never_seen_confidently_keeps_offset_zero():
    """A view no offset can be measured for (no confident keypoint) stays at 0, not at the search edge."""
    cams = rig()
    pts = np.stack([c.project(motion(frames=40, seed=0)) for c in cams])
    conf = np.ones(pts.shape[:-1])
    conf[2] = 0.0
    assert estimate_offsets(pts, conf, cams, max_offset=6).offsets == [0, 0, 0, 0]


def test_known_left_right_swap_is_found_and_undone():
    cams, X = rig(), motion(frames=40)
    pts = views(cams, X)
    conf = np.ones(pts.shape[:-1])
    given = pts.copy()
    given[1, 10:20] = pts[1, 10:20][:, FLIP]  # view 1 mirrored for 10 frames
    given[3, 30:33] = pts[3, 30:33][:, FLIP]  # view 3 for 3
    result = resolve_swaps(given, conf, cams, FLIP)
    assert result.counts == [0, 10, 0, 3]
    assert result.swapped[1, 10:20].all() and result.swapped[3, 30:33].all()
    np.testing.assert_allclose(result.points, pts)
    assert (result.cost_px < 1e-3).all() and (result.cost_as_given_px[10:20] > 10).all()


def test_swaps_with_two_views_are_told_apart_by_time():
    # with two views, "view 1 mirrored" and "view 0 mirrored" reproject alike; the 3-D of the
    # neighbouring frames decides
    cams, X = rig(2), motion(frames=30)
    pts = views(cams, X)
    given = pts.copy()
    given[1, 5:12] = pts[1, 5:12][:, FLIP]
    result = resolve_swaps(given, np.ones(pts.shape[:-1]), cams, FLIP)
    assert result.counts == [0, 7]
    np.testing.assert_allclose(result.points, pts)


def test_shape_checks():
    cams = rig()
    with pytest.raises(ValueError, match="3 views"):
        triangulate(np.zeros((3, 5, 2)), np.ones((3, 5)), cams)
    no_pose = [Camera("x", cams[0].K, cams[0].distortion, None, None, (10, 10))] * 2
    with pytest.raises(ValueError, match="no rotation"):
        triangulate(np.zeros((2, 5, 2)), np.ones((2, 5)), no_pose)


def test_a_view_following_someone_else_is_left_out():

    cams, X = rig(), motion(frames=30)
    other = motion(frames=30, seed=5) + [0.8, 0.0, 0.0]  # a second person beside the first
    pts = views(cams, X)
    given = pts.copy()
    given[2, 8:20] = cams[2].project(other[8:20])  # view 2's detector follows the other person
    given[0, 12:15] = pts[0, 12:15][:, FLIP]  # and view 0 mirrors the subject for 3 frames
    result = resolve_views(given, np.ones(pts.shape[:-1]), cams, FLIP)
    assert result.used[2, 8:20].sum() == 0 and result.used[2, :8].all() and result.used[[0, 1, 3]].all()
    assert result.counts == [3, 0, 0, 0]
    conf = np.ones(pts.shape[:-1]) * result.used[:, :, None]
    np.testing.assert_allclose(triangulate(result.points, conf, cams), X, atol=1e-6)
    # with every view forced in, the other person drags the 3-D away
    forced = triangulate(resolve_swaps(given, np.ones(pts.shape[:-1]), cams, FLIP).points, np.ones(pts.shape[:-1]), cams)
    assert np.linalg.norm(forced[8:20] - X[8:20], axis=-1).mean() > 0.1
