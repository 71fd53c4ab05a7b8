"""Multi-view consistency (issue 20 item 3): the loss term, the synchronised views written by
``poseact data from-videos --calibration`` (extrinsics, recording time line, offsets), the data path's
instants, and a real adaptation run."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO, build_projected_store
from poseact.errors import SelectionError, UsageError
from poseact.geometry import world_to_camera
from poseact.infer.unlabeled_store import from_videos, parse_offsets, recording_name
from poseact.lifting.losses import multiview_consistency_loss
from poseact.lifting.multiview import instants, parse_take, quaternion_from_matrix, rotation_matrices, synced_take
from poseact.run.config import ConfigError, load_config
from poseact.store import open_store, write_store

sys.path.insert(0, str(REPO / "tests"))
from helpers.pose2sim_data import recording  # noqa: E402

DEMO = REPO / "configs/experiment/demo.yaml"


def _random_rotations(n: int, seed: int = 0) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=(n, 4))
    return rotation_matrices(q / np.linalg.norm(q, axis=1, keepdims=True))


def _axis_angle(v: torch.Tensor) -> torch.Tensor:
    """Rotation matrix of an axis-angle vector (3,) (the exponential of its skew matrix)."""
    zero = v.new_zeros(())
    skew = torch.stack([torch.stack([zero, -v[2], v[1]]), torch.stack([v[2], zero, -v[0]]),
                        torch.stack([-v[1], v[0], zero])])
    return torch.linalg.matrix_exp(skew)


# -- the loss --------------------------------------------------------------------------------------

def test_equal_world_poses_through_different_cameras_give_zero_loss():
    rng = np.random.default_rng(0)
    world = torch.from_numpy(rng.normal(size=(1, 17, 3)).astype(np.float32)) * 0.3  # (T, J, 3) root-relative-ish
    rot = torch.from_numpy(_random_rotations(3))  # camera-to-world of three cameras
    # each camera sees the world pose rotated into its own frame (plus any root position: made root-relative)
    pose = torch.stack([world @ r + torch.tensor([0.1 * i, 0.0, 4.0]) for i, r in enumerate(rot)])  # (3, T, J, 3)
    group = torch.tensor([5, 5, 5])
    assert multiview_consistency_loss(pose, rot, group).item() == pytest.approx(0.0, abs=1e-6)
    # a different pose in one view is not
    other = pose.clone()
    other[1, :, 3] += torch.tensor([0.0, 0.2, 0.0])
    assert multiview_consistency_loss(other, rot, group).item() > 0.005
    # views of different instants, or alone, are not compared: zero, and still differentiable
    alone = other.clone().requires_grad_(True)
    loss = multiview_consistency_loss(alone, rot, torch.tensor([0, 1, -1]))
    assert loss.item() == 0.0
    loss.backward()
    assert alone.grad is not None
    with pytest.raises(ValueError, match="rotation"):
        multiview_consistency_loss(pose, rot[:2], group)


def test_a_known_rotation_between_two_views_is_recovered():
    rng = np.random.default_rng(1)
    world = torch.from_numpy(rng.normal(size=(4, 17, 3)).astype(np.float32)) * 0.3  # 4 frames of a body
    true = _axis_angle(torch.tensor([0.3, -0.5, 0.4]))  # view B's camera-to-world rotation (~40°)
    pose = torch.stack([world, world @ true])  # view A: the world frame; view B: rotated into its camera
    v = torch.zeros(3, requires_grad=True)  # view B's rotation, unknown, starting at the identity
    opt = torch.optim.Adam([v], lr=0.05)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.99)
    group = torch.tensor([0, 0])
    start = multiview_consistency_loss(pose, torch.stack([torch.eye(3), _axis_angle(v)]), group).item()
    for _ in range(400):
        opt.zero_grad()
        loss = multiview_consistency_loss(pose, torch.stack([torch.eye(3), _axis_angle(v)]), group)
        loss.backward()
        opt.step()
        sched.step()
    found = _axis_angle(v.detach())
    angle = torch.rad2deg(torch.arccos(((found.T @ true).trace() - 1).clamp(-2, 2) / 2)).item()
    assert start > 0.05 and loss.item() < 1e-3 and angle < 0.5


def test_quaternions_and_takes():
    R = _random_rotations(5, seed=3).astype(np.float64)
    for r in R:
        assert rotation_matrices(quaternion_from_matrix(r)[None])[0] == pytest.approx(r, abs=1e-5)
    assert parse_take(synced_take("trial 1", -4)) == ("trial 1", -4)
    assert parse_take("Walking 1") == ("Walking 1", 0) and parse_take("a@b") == ("a@b", 0)
    assert recording_name("trial3_cam01", "cam01") == "trial3" and recording_name("cam_01", "cam01") == "recording"
    assert parse_offsets("cam03=2, cam1=-1") == {"cam3": 2, "cam1": -1} and parse_offsets(None) == "auto"
    with pytest.raises(UsageError, match="CAM=FRAMES"):
        parse_offsets("cam03:2")


# -- synchronised views written by from-videos -------------------------------------------------------

def _views(tmp_path: Path, shifts: dict[str, int], missing: dict[str, range], frames: int = 60) -> tuple[list[Path], list]:
    """Keypoint files ``trial1_camNN.json`` of one body's motion projected through pose2sim's real
    Demo_Batch cameras; view ``cam`` shows recording frame ``f`` at its frame ``f + shifts[cam]``."""
    from poseact.geometry.calibration import read_calibration

    calib = recording("Demo_Batch/Trial_1") / "calibration" / "Calib.qca.txt"
    cams = read_calibration(calib)
    rng = np.random.default_rng(0)
    body = rng.normal(size=(17, 3)) * 0.25 + np.array([0.0, 0.0, 1.0])
    t = np.arange(frames + 10)[:, None, None] / 60
    world = body[None] + 0.3 * np.sin(2 * np.pi * 0.7 * t + np.arange(17)[None, :, None])  # (T+10, 17, 3)
    paths = []
    for cam in cams:
        shift = shifts.get(cam.name, 0)
        px = cam.project(world[5 - shift: 5 - shift + frames])  # its frame f = recording frame f - shift
        skip = missing.get(cam.name, range(0))
        data = [[] if f in skip else [{"keypoints": [[float(x), float(y), 0.9] for x, y in k]}]
                for f, k in enumerate(px)]
        p = tmp_path / f"trial1_{cam.name}.json"
        p.write_text(json.dumps({"format": "poseact-keypoints/1", "layout": "h36m17", "width": 1088,
                                 "height": 1920, "fps": 60.0, "frames": data}))
        paths.append(p)
    return paths, cams, calib


def test_from_videos_writes_extrinsics_and_the_recording_time_line(tmp_path):
    paths, cams, calib = _views(tmp_path, {"cam03": 3}, {"cam02": range(20, 35)})
    result = from_videos(paths, tmp_path / "u.h5", calibration=calib, cache=tmp_path / "c", log=lambda *_: None)
    store = open_store(result.store)
    # extrinsics in the store's convention: world_to_camera(x, orientation, translation) = the calibration's R x + t
    x = np.random.default_rng(2).normal(size=(5, 3))
    for cam in cams:
        row = store.cameras.find("videos", cam.name)
        got = world_to_camera(x, store.cameras.orientation[row], store.cameras.translation[row])
        assert got == pytest.approx(cam.to_camera(x), abs=1e-6)
    # the offset is found (auto), cam02's clip is split by its gap and keeps its place on the time line
    takes = {(str(store.cameras.name[c]), str(t)) for c, t in zip(store.clips.camera, store.clips.take)}
    assert takes == {("cam01", "trial1@0"), ("cam02", "trial1@0"), ("cam02", "trial1@35"), ("cam03", "trial1@-3"),
                     ("cam04", "trial1@0")}
    assert "offset +3 frames" in next(c.intrinsics for c in result.clips if c.camera == "cam03")
    # explicit offsets instead of the estimate
    again = from_videos(paths, tmp_path / "v.h5", calibration=calib, cache=tmp_path / "c", offsets="cam03=1",
                        log=lambda *_: None)
    assert "trial1@-1" in set(open_store(again.store).clips.take.tolist())
    with pytest.raises(UsageError, match=r"\['cam9'\]"):
        from_videos(paths, tmp_path / "w.h5", calibration=calib, cache=tmp_path / "c", offsets="cam09=1")

    # the data path: one instant = the same recording frame in every view that has it
    from poseact.lifting.datasets import LiftingArrays, WindowDataset, select_sequences
    from poseact.lifting.windows import Windowing

    arrays = LiftingArrays.from_store(store)
    views = select_sequences(store, ["videos"], labeled=False)
    windows = WindowDataset(arrays, views, Windowing(1, 1, 1), flip=False, with_3d=False)
    ids, multi = instants(store, views, windows.seq, windows.pos)
    clip = views.clip[windows.seq]
    cam = np.array([str(store.cameras.name[store.clips.camera[k]]) for k in clip])
    first = np.array([parse_take(str(store.clips.take[k]))[1] for k in clip])
    rec_frame = first + windows.pos
    for instant in np.unique(ids):
        members = ids == instant
        assert len(set(rec_frame[members])) == 1 and len(set(cam[members])) == members.sum()
    by = {(c, f): i for c, f, i in zip(cam, rec_frame, ids)}
    assert by[("cam01", 10)] == by[("cam02", 10)] == by[("cam03", 10)] == by[("cam04", 10)]
    assert by[("cam02", 40)] == by[("cam01", 40)]  # after cam02's gap
    assert ("cam02", 25) not in by and multi[by[("cam01", 25)]]  # in the gap: three views still
    assert not multi[by[("cam03", -3)]]  # cam03 alone sees recording frame -3


# -- refusals and a real run ----------------------------------------------------------------------------

def test_multiview_weight_is_validated(tmp_path):
    with pytest.raises(ConfigError, match="semi.multiview_weight"):
        load_config(DEMO, ["semi.multiview_weight=-1"])
    with pytest.raises(ConfigError, match="semi.multiview_weight needs unlabeled views"):
        load_config(DEMO, ["semi.multiview_weight=0.5"])
    with pytest.raises(ConfigError, match=r"^data.gather=device cannot be used with semi.multiview_weight"):
        load_config(DEMO, ["semi.multiview_weight=0.5", "data.subjects_unlabeled=[S8]", "data.subjects_train=[S1]",
                           "data.gather=device"])


def _fit_cfg(tmp_path: Path, store: Path, unlabeled: Path, extra: list[str]):
    return load_config(DEMO, [
        f"data.store={store}", "data.subjects_train=[S1]", "data.subjects_test=[S9]",
        f"data.store_unlabeled={unlabeled}", "data.subjects_unlabeled=[S5]", "model.channels=32",
        "model.filter_widths=[3,3]", "data.batch_frames=64", "logger.wandb=false", "trainer.enable_progress_bar=false",
        "data.subset=0.3", f"output_dir={tmp_path / 'run'}", "resume=false", *extra])


def test_stores_without_extrinsics_refuse_the_term(tmp_path):
    from poseact.run.commands import fit

    labeled = write_store(tmp_path / "l.h5", build_projected_store(subjects=("S1", "S9"), actions=("Walking",)))
    # S2's H36M cameras have no extrinsics
    unlabeled = write_store(tmp_path / "u.h5", build_projected_store(subjects=("S1",), actions=("Walking",),
                                                                     unlabeled=("S2",)))
    cfg = _fit_cfg(tmp_path, labeled, unlabeled, ["data.subjects_unlabeled=[S2]", "semi.multiview_weight=1"])
    with pytest.raises(SelectionError, match=r"store '.*u\.h5', camera S2/54138969 .* has no orientation"):
        fit(cfg)


def test_adaptation_with_the_multiview_term_lowers_reprojection_and_disagreement(tmp_path):
    """A real fit: labeled S1 (one action), unlabeled S5 seen by four calibrated, synchronised H36M
    cameras; after the labeled warm-up epoch, back-projection + the multi-view term train on S5.
    The reprojection error and the views' disagreement on the unlabeled data fall, and the
    disagreement ends well below that of the same fit whose term has no weight (back-projection alone
    also brings the views closer: the control says what the term itself adds)."""
    from poseact.run.commands import fit

    store = build_projected_store(subjects=("S1", "S9"), actions=("Walking", "Sitting"), frames=80,
                                  unlabeled=("S5",))
    path = write_store(tmp_path / "s.h5", store)

    def run(weight: str) -> tuple[list[float], list[float]]:
        out = tmp_path / f"run_{weight}"
        cfg = _fit_cfg(tmp_path, path, path, [f"semi.multiview_weight={weight}", "semi.warmup_epochs=1",
                                              "trainer.max_epochs=6", "data.subset=1", "optim.lr=0.002",
                                              f"output_dir={out}"])
        fit(cfg)
        with open(out / "csv/version_0/metrics.csv") as f:
            rows = list(csv.DictReader(f))
        return ([float(r["train/loss_2d_unlabeled"]) for r in rows if r.get("train/loss_2d_unlabeled")],
                [float(r["train/loss_multiview"]) for r in rows if r.get("train/loss_multiview")])

    reproj, multi = run("1")
    assert len(reproj) == len(multi) == 5  # epochs 1-5 (epoch 0 is the labeled warm-up)
    assert all(np.isfinite(reproj + multi)) and multi[0] > 0
    assert reproj[-1] < 0.8 * reproj[0], reproj
    assert multi[-1] < 0.8 * multi[0], multi
    _, control = run("1e-9")  # logged, but no gradient to speak of
    assert multi[-1] < 0.8 * control[-1], (multi, control)


def test_the_instant_stream_deals_whole_instants_by_position():
    from poseact.lifting.sampling import InstantStream

    ids = np.repeat(np.arange(50), 4)[np.random.default_rng(0).permutation(200)]  # 50 instants × 4 views, shuffled
    stream = InstantStream(ids, seed=3)
    batch = stream.take(64, 32)  # 32 windows ≈ 8 instants
    assert len(batch) == 32 and len(np.unique(batch)) == 32
    assert all((ids[batch] == i).sum() == 4 for i in np.unique(ids[batch]))  # every view of each instant
    assert np.array_equal(stream.take(64, 32), batch)  # a function of the position alone
    assert len(stream.take(0, 1)) == 4  # at least one instant
    # under DDP each rank takes whole instants, and the ranks together take the one-process batch
    shares = [stream.take(64, 32, world_size=3, rank=r) for r in range(3)]
    assert np.array_equal(np.sort(np.concatenate(shares)), np.sort(batch))
    for share in shares:
        assert all((ids[share] == i).sum() == 4 for i in np.unique(ids[share]))
