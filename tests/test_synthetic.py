"""Tests for the synthetic dataset (poseact.synthetic, poseact.synthetic.motion): determinism,
bodies, actions, smoothness, projection, detector noise, unlabeled subjects and the cache."""

from __future__ import annotations

import re
from itertools import combinations

import numpy as np
import pytest

from poseact.synthetic.motion import body_model, generate_motion
from poseact.store import open_store
from poseact.synthetic import (
    DEFAULT_ACTIONS,
    DEFAULT_SUBJECTS,
    SyntheticConfig,
    generate_synthetic,
    subject_cameras,
    synthetic_store,
)
from poseact.geometry import project_to_2d
from poseact.skeleton import H36M17

NOISE_FREE = dict(noise_px=0.0, drift_px=0.0, outlier_prob=0.0)


@pytest.fixture(scope="module")
def store():
    """All default subjects and actions, one 2-second take each (28,000 frames)."""
    return generate_synthetic(SyntheticConfig(seconds_per_take=2.0, takes_per_action=1))


def tiny(**kw) -> SyntheticConfig:
    base = dict(subjects=["S1", "S9"], actions=["Walking", "Sitting", "Greeting"], takes_per_action=1,
                seconds_per_take=1.0)
    return SyntheticConfig(**{**base, **kw})


def clean_projection(store) -> np.ndarray:
    """Noise-free pixels: the store's pose3d projected through its own camera table."""
    rows = np.repeat(store.clips.camera, store.clips.length)
    cams = store.cameras.normalized_intrinsics()[rows]
    res = store.cameras.res[rows].astype(np.float64)
    xy = project_to_2d(store.pose3d.astype(np.float64), cams.astype(np.float64))
    w, h = res[:, 0, None], res[:, 1, None]  # normalised screen -> pixels, written out independently
    return np.stack([(xy[..., 0] + 1) * w / 2, (xy[..., 1] + h / w) * w / 2], axis=-1)


def takes(store, action: str | None = None, world: bool = True):
    """World (or camera) poses ``(T, 17, 3)`` of each sequence, first camera only."""
    arr = store.pose3d_world if world else store.pose3d
    for i in np.flatnonzero(store.clips.camera % 4 == 0):
        if action is None or store.actions[store.clips.action[i]] == action:
            yield store.clips.subject[i], arr[store.clips.start[i]: store.clips.start[i] + store.clips.length[i]]


def bone_lengths(pose: np.ndarray) -> np.ndarray:
    parents = np.array(H36M17.parents[1:])
    return np.linalg.norm(pose[..., 1:, :] - pose[..., parents, :], axis=-1)


# ---------------------------------------------------------------------------------------------


def test_store_layout(store):
    cfg = SyntheticConfig(seconds_per_take=2.0, takes_per_action=1)
    n_clips = len(DEFAULT_SUBJECTS) * len(DEFAULT_ACTIONS) * 4
    expected = sum(4 * cfg.take_frames(s, a, 1) for s in DEFAULT_SUBJECTS for a in DEFAULT_ACTIONS)
    assert len(store.clips) == n_clips and store.num_frames == expected
    # takes vary in length (±25 %) as real takes do; the 4 cameras of a take agree
    lengths = store.clips.length.reshape(-1, 4)
    assert (lengths == lengths[:, :1]).all() and lengths.min() >= 75 and lengths.max() <= 125
    assert len(set(lengths[:, 0])) > 10
    assert len(DEFAULT_SUBJECTS) >= 7 and len(DEFAULT_ACTIONS) >= 8
    assert store.layout_2d == store.layout_3d == "h36m17" and store.fps == 50
    assert store.source == "poseact synthetic v2 (seed 0)"
    assert store.actions == cfg.actions
    assert set(store.clips.subject) == set(DEFAULT_SUBJECTS)
    for i in range(len(store.clips)):
        action = store.actions[store.clips.action[i]]
        assert store.clips.take[i] == f"{action} 1"
        assert store.cameras.subject[store.clips.camera[i]] == store.clips.subject[i]
    assert len(store.cameras) == 4 * len(DEFAULT_SUBJECTS)
    assert store.cameras.has_intrinsics().all() and np.isfinite(store.cameras.orientation).all()
    assert store.keypoints.dtype == store.confidence.dtype == store.pose3d.dtype == np.float32
    assert store.confidence.min() >= 0 and store.confidence.max() <= 1
    assert store.labeled_clips().all()
    store.validate()


def test_deterministic_and_seeded():
    a, b, c = generate_synthetic(tiny()), generate_synthetic(tiny()), generate_synthetic(tiny(seed=1))
    for name in ("keypoints", "confidence", "pose3d", "pose3d_world"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.keypoints.shape != c.keypoints.shape or not np.allclose(a.keypoints, c.keypoints)
    n = min(len(a.pose3d), len(c.pose3d))  # another seed gives other motion (and take lengths)
    assert not np.allclose(a.pose3d[:n], c.pose3d[:n])
    assert c.source.endswith("(seed 1)")


def test_generate_motion_shape_and_units():
    world = generate_motion("S1", "Walking", 1, 150, 50.0, np.random.default_rng(0))
    assert world.shape == (150, 17, 3) and np.isfinite(world).all()
    assert abs(world[:, 0, :2]).max() < 2.0  # near the origin, within the capture volume
    with pytest.raises(ValueError, match="Juggling"):
        generate_motion("S1", "Juggling", 1, 10, 50.0, np.random.default_rng(0))


def test_subjects_have_distinct_constant_bones(store):
    per_subject = {}
    for subject, pose in takes(store, world=False):  # camera space: lengths are frame-invariant
        lengths = bone_lengths(pose.astype(np.float64))
        assert np.ptp(lengths, axis=0).max() < 1e-4, subject  # constant over time
        per_subject.setdefault(subject, []).append(lengths[0])
    means = {s: np.mean(v, axis=0) for s, v in per_subject.items()}
    for s, v in per_subject.items():
        assert np.ptp(v, axis=0).max() < 1e-4, f"{s}: bone lengths differ between actions"
    assert len(means) >= 7
    for s, t in combinations(means, 2):
        assert np.abs(means[s] - means[t]).max() > 0.005, (s, t)
    heights = [body_model(s).height for s in DEFAULT_SUBJECTS]
    assert min(heights) >= 1.55 and max(heights) <= 1.90 and np.ptp(heights) > 0.1
    assert np.allclose(body_model("S5").offsets, body_model("S5").offsets)  # deterministic


def test_actions_are_distinct(store):
    features, root_reach, pelvis = {}, {}, {}
    for action in store.actions:
        feats, reach, heights = [], [], []
        for _, pose in takes(store, action):
            rel = pose - pose[:, :1]
            speed = np.linalg.norm(np.diff(rel, axis=0), axis=-1).mean(axis=0) * store.fps
            feats.append(np.concatenate([pose[..., 2].mean(0), pose[..., 2].std(0), speed]))
            reach.append(np.linalg.norm(pose[:, 0, :2] - pose[0, 0, :2], axis=-1).max())
            heights.append(pose[:, 0, 2])
        features[action], root_reach[action], pelvis[action] = np.mean(feats, 0), np.array(reach), heights
    for a, b in combinations(features, 2):  # per-joint height statistics and speeds
        assert np.linalg.norm(features[a] - features[b]) > 0.05, (a, b)
    assert (root_reach["Walking"] > 1.0).all()
    for action in ("WalkTogether", "WalkDog"):
        assert (root_reach[action] > 0.4).all(), action
    for action in ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Sitting"):
        assert (root_reach[action] < 0.3).all(), action
    assert (root_reach["SittingDown"] < 0.8).all()  # the pelvis moves back onto the chair
    for h in pelvis["SittingDown"]:
        assert h.min() < 0.7 * h[0]  # from standing to seated
    for action in ("Sitting", "Eating"):
        standing = np.mean([h.mean() for h in pelvis["Directions"]])
        assert all(h.max() < 0.7 * standing for h in pelvis[action]), action


def test_motion_is_smooth_and_upright(store):
    for subject, pose in takes(store):
        step = np.linalg.norm(np.diff(pose, axis=0), axis=-1)
        acc = np.linalg.norm(np.diff(pose, 2, axis=0), axis=-1)
        # metres per frame at 50 fps: a swinging foot peaks at ~6 m/s, so 0.15 m/frame = 7.5 m/s
        assert step.max() < 0.15, subject
        assert acc.max() < 0.06, subject  # 150 m/s^2
        assert acc.mean() < 0.25 * step.mean(), subject  # white jitter would give > 1
        ankles = pose[:, [3, 6], 2]
        assert ankles.min() > 0.03  # ankle joints never sink towards the floor
        assert ankles.min(axis=1).max() < 0.2  # ... and a foot is always near it (no flying)
        legs = pose[:, [1, 2, 3, 4, 5, 6], 2]
        assert (pose[:, 10, 2] > legs.max(axis=1)).all()  # head above the legs
        assert (pose[:, 0, 2] > ankles.max(axis=1) - 0.05).all()  # feet below the pelvis


def test_person_inside_the_images(store):
    rows = np.repeat(store.clips.camera, store.clips.length)
    res = store.cameras.res[rows][:, None, :]
    inside = ((store.keypoints >= 0) & (store.keypoints <= res)).all(axis=-1)
    for cam in range(4):
        assert inside[rows % 4 == cam].mean() > 0.95, cam


def test_noise_free_2d_is_the_projection_of_3d():
    s = generate_synthetic(tiny(**NOISE_FREE, unlabeled_subjects=[]))
    assert np.abs(s.keypoints - clean_projection(s)).max() < 1e-3
    assert s.confidence.min() > 0.8


def test_noise_statistics():
    gauss = generate_synthetic(tiny(**{**NOISE_FREE, "noise_px": 3.0}))
    r = gauss.keypoints - clean_projection(gauss)
    assert 1.5 < r.std() < 6.0
    assert abs(np.corrcoef(r[1:].ravel(), r[:-1].ravel())[0, 1]) < 0.2  # white
    drift = generate_synthetic(tiny(**{**NOISE_FREE, "drift_px": 4.0, "drift_time_s": 0.5}, seconds_per_take=3.0))
    r = drift.keypoints - clean_projection(drift)
    assert 2.0 < r.std() < 8.0
    lag1 = np.corrcoef(r[1:].ravel(), r[:-1].ravel())[0, 1]
    assert lag1 > 0.8  # temporally correlated (exp(-1/25) ~ 0.96 in theory)
    out = generate_synthetic(tiny(**{**NOISE_FREE, "outlier_prob": 0.01, "outlier_px": 50.0}))
    err = np.linalg.norm(out.keypoints - clean_projection(out), axis=-1)
    is_out = err > 10
    assert 0.005 < is_out.mean() < 0.06  # ~ prob x mean duration (2 frames)
    assert out.confidence[is_out].mean() < 0.5 * out.confidence[~is_out].mean()


def test_unlabeled_subjects():
    s = generate_synthetic(tiny(subjects=["S1"], unlabeled_subjects=["S2", "S3"]))
    assert set(s.clips.subject) == {"S1", "S2", "S3"}
    labeled = s.clips.subject == "S1"
    assert np.array_equal(s.labeled_clips(), labeled)
    frames = s.frame_mask(labeled)
    assert np.isfinite(s.pose3d[frames]).all() and np.isnan(s.pose3d[~frames]).all()
    assert np.isnan(s.pose3d_world[~frames]).all()
    assert np.isfinite(s.keypoints).all()
    for subject in ("S2", "S3"):
        rows = s.cameras.subject == subject
        assert rows.sum() == 4 and s.cameras.has_intrinsics()[rows].all()
    # S2 has no H36M extrinsics: rendered with S1's, under its own name
    assert subject_cameras("S2")[0].translation == subject_cameras("S1")[0].translation
    # a subject can also be listed in both: it is generated once, without 3-D
    both = generate_synthetic(tiny(subjects=["S1", "S9"], unlabeled_subjects=["S9"]))
    assert np.array_equal(both.labeled_clips(), both.clips.subject == "S1")


def test_synthetic_store_is_cached(tmp_path):
    cfg = tiny()
    path = synthetic_store(cfg, tmp_path)
    assert re.fullmatch(r"synthetic-[0-9a-f]{10}\.h5", path.name) and path.parent == tmp_path
    mtime = path.stat().st_mtime_ns
    assert synthetic_store(tiny(), tmp_path) == path
    assert path.stat().st_mtime_ns == mtime  # not rewritten
    loaded = open_store(path)
    expected = generate_synthetic(cfg)
    assert np.array_equal(loaded.keypoints, expected.keypoints)
    assert np.array_equal(loaded.pose3d, expected.pose3d)
    assert loaded.actions == expected.actions and loaded.source == expected.source
    assert synthetic_store(tiny(seed=3), tmp_path) != path
    other = f"synthetic-{tiny(seed=3).digest()[:10]}.h5"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, other])  # no temporaries left


def test_config_validation():
    with pytest.raises(ValueError, match="Juggling"):
        generate_synthetic(tiny(actions=["Walking", "Juggling"]))
    with pytest.raises(ValueError, match="outlier_prob"):
        generate_synthetic(tiny(outlier_prob=2.0))
    assert tiny().digest() == tiny().digest() != tiny(noise_px=1.0).digest()
