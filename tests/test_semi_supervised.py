"""Semi-supervised back-projection and the trajectory model (VideoPose3D §7.5)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from conftest import REPO, build_projected_store
from poseact.run.config import ConfigError, load_config
from poseact.errors import SelectionError
from poseact.lifting.sampling import EndlessPermutation, EpochPermutation, SemiSupervisedBatchSampler, ShardedBatchSampler
from poseact.store import write_store
from poseact.geometry import h36m_cameras
from poseact.lifting.losses import bone_length_loss, bone_lengths, reprojection_loss, trajectory_loss
from poseact.skeleton import H36M17

DEMO = REPO / "configs/experiment/demo.yaml"


# -- loss terms against hand-computed values ------------------------------------------------------

def test_trajectory_loss_is_inverse_depth_weighted():
    target = torch.tensor([[[[0.0, 0.0, 2.0]]], [[[1.0, 0.0, 4.0]]]])  # (2, 1, 1, 3)
    pred = target + torch.tensor([[[[0.3, 0.4, 0.0]]], [[[0.0, 0.0, 1.0]]]])  # errors 0.5 and 1.0
    assert trajectory_loss(pred, target).item() == pytest.approx((0.5 / 2 + 1.0 / 4) / 2)
    with pytest.raises(ValueError, match=r"\(B, T, 1, 3\)"):
        trajectory_loss(torch.zeros(2, 1, 17, 3), torch.zeros(2, 1, 17, 3))


def test_reprojection_loss_linear_by_hand():
    k = torch.tensor([[2.0, 2.0, 0.1, -0.1, 0, 0, 0, 0, 0]])
    pose = torch.tensor([[[[0.0, 0.0, 0.0], [0.5, -0.5, 0.0]]]])  # root-relative, (1, 1, 2, 3)
    traj = torch.tensor([[[[0.0, 0.0, 5.0]]]])
    # pinhole: u = 2 * x / z + 0.1, v = 2 * y / z - 0.1 → joint 0 (0.1, -0.1), joint 1 (0.3, -0.3)
    target = torch.tensor([[[[0.1, -0.1], [0.3, -0.2]]]])  # joint 1 off by 0.1 in v
    assert reprojection_loss(pose, traj, k, target, "linear").item() == pytest.approx(0.05, abs=1e-6)
    # with no distortion coefficients the distorted model is the same projection
    assert reprojection_loss(pose, traj, k, target, "distorted").item() == pytest.approx(0.05, abs=1e-6)


def test_bone_length_terms_by_hand():
    pose = torch.zeros(3, 1, 17, 3)
    pose[:, :, 3, 0] = torch.tensor([1.0, 3.0, 2.5]).view(3, 1)  # right ankle (a leaf) off its knee
    lengths = bone_lengths(pose, H36M17.parents)
    assert lengths.shape == (3, 16) and lengths[:, 2].tolist() == [1.0, 3.0, 2.5]
    # labeled mean 2.0 vs unlabeled 2.5 on the shin, every other bone 0 → 0.5 / 16
    assert bone_length_loss(pose, H36M17.parents, 2).item() == pytest.approx(0.5 / 16)
    with pytest.raises(ValueError, match="labeled and unlabeled"):
        bone_length_loss(pose, H36M17.parents, 3)


def test_reprojection_gradients_reach_pose_and_trajectory_models():
    from poseact.lifting.models.temporal import TemporalLifter

    torch.manual_seed(0)
    pose_model = TemporalLifter(17, 2, 17, [3, 3], channels=16)
    traj_model = TemporalLifter(17, 2, 1, [3, 3], channels=16)
    x = torch.randn(4, 9, 17, 2)
    k = torch.from_numpy(h36m_cameras()["S1"][0].intrinsics_vector()).expand(4, 9)
    traj = traj_model.forward_single(x) + torch.tensor([0.0, 0.0, 5.0])
    loss = reprojection_loss(pose_model.forward_single(x) * 0.1, traj, k, x[:, 4:5] * 0.1)
    loss.backward()
    for model in (pose_model, traj_model):
        assert model.expand_conv.weight.grad is not None and model.expand_conv.weight.grad.abs().sum() > 0


# -- the unlabeled stream ------------------------------------------------------------------------

def test_endless_stream_is_positional_and_covers_every_sample():
    stream = EndlessPermutation(10, seed=4)
    whole = stream.take(0, 30)
    assert (stream.take(7, 11) == whole[7:18]).all()
    for cycle in range(3):
        assert sorted(whole[cycle * 10:(cycle + 1) * 10]) == list(range(10))
    assert not (whole[:10] == whole[10:20]).all()


def test_semi_sampler_pairs_equal_sizes_skips_warmup_and_continues_across_epochs():
    labeled = EpochPermutation(100, seed=1)
    sampler = SemiSupervisedBatchSampler(ShardedBatchSampler(labeled, 32), EndlessPermutation(70, seed=2),
                                         warmup_epochs=1)
    labeled.set_epoch(0)
    assert all(len(u) == 0 for _, u in sampler)  # warm-up: labeled only
    labeled.set_epoch(1)
    pairs = list(sampler)
    assert [len(lab) for lab, _ in pairs] == [len(u) for _, u in pairs] == [32, 32, 32, 4]
    stream = np.concatenate([u for _, u in pairs])
    assert (stream == EndlessPermutation(70, seed=2).take(100, 100)).all()  # epoch 1 starts at 100


# -- bad input -----------------------------------------------------------------------------------

def test_overlapping_subjects_and_zero_subset_are_errors():
    with pytest.raises(ConfigError, match="overlaps data.subjects_train"):
        load_config(DEMO, ["data.subjects_unlabeled=[S1,S6]"])
    with pytest.raises(ConfigError, match="data.subset"):
        load_config(DEMO, ["data.subset=0", "data.subjects_unlabeled=[S6]"])


def test_unlabeled_clips_without_intrinsics_are_an_error(projected_store, tmp_path):
    from poseact.convert import convert_custom
    from poseact.run.commands import fit

    custom = tmp_path / "data_2d_custom_clip.npz"
    kp = np.random.default_rng(0).uniform(100, 500, (80, 17, 2)).astype(np.float32)
    meta = {"layout_name": "h36m", "num_joints": 17,
            "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]],
            "video_metadata": {"clip.mp4": {"w": 640, "h": 480}}}
    np.savez_compressed(custom, positions_2d={"clip.mp4": {"custom": [kp]}}, metadata=meta)
    store = convert_custom(custom, tmp_path / "custom.h5")
    cfg = load_config(DEMO, [f"data.store={projected_store}", "data.subjects_train=[S1]", "data.subjects_test=[S9]",
                             f"data.store_unlabeled={store}", "data.subjects_unlabeled=[clip.mp4]",
                             f"output_dir={tmp_path / 'run'}", "logger.wandb=false"])
    with pytest.raises(SelectionError, match=r"clip clip\.mp4/custom/custom .* has no camera intrinsics"):
        fit(cfg)


# -- real training -------------------------------------------------------------------------------

def _semi_cfg(store, out, *extra):
    return load_config(DEMO, [f"data.store={store}", "data.subjects_train=[S1]", "data.subjects_unlabeled=[S2]",
                              "data.subjects_test=[S9]", "model.channels=32", "data.batch_size=64",
                              "data.downsample=1", "logger.wandb=false", "trainer.enable_progress_bar=false",
                              "semi.warmup_epochs=1", f"output_dir={out}", "resume=false", *extra])


def _epoch_metric(out, name):
    with open(out / "csv/version_0/metrics.csv") as f:
        return [float(r[name]) for r in csv.DictReader(f) if r.get(name)]


@pytest.mark.slow
def test_unlabeled_reprojection_loss_falls(tmp_path):
    from poseact.run.commands import fit

    store = write_store(tmp_path / "s.h5", build_projected_store(frames=120, unlabeled=("S2",)))
    out = tmp_path / "run"
    summary = fit(_semi_cfg(store, out, "trainer.max_epochs=6"))
    losses = _epoch_metric(out, "train/loss_2d_unlabeled")
    assert len(losses) == 5  # every epoch after the warm-up
    assert losses[-1] < 0.7 * losses[0], losses
    assert len(_epoch_metric(out, "train/loss_bone_length")) == 5
    assert len(_epoch_metric(out, "val/trajectory")) == 6 and "trajectory_frame_wise" in summary


@pytest.mark.slow
def test_unlabeled_3d_never_reaches_the_loss(tmp_path):
    """Poisoning the unlabeled subject's 3-D changes nothing: it is never read."""
    from poseact.run.commands import fit

    clean = build_projected_store(frames=60, subjects=("S1", "S2", "S9"))
    poisoned = build_projected_store(frames=60, subjects=("S1", "S2", "S9"))
    s2 = np.repeat(poisoned.clips.subject == "S2", poisoned.clips.length)
    poisoned.pose3d[s2] *= 1e4  # 10-km skeletons: still skeletons (the store refuses collapsed ones)
    runs = {}
    for name, store in (("clean", clean), ("poisoned", poisoned)):
        path = write_store(tmp_path / f"{name}.h5", store)
        fit(_semi_cfg(path, tmp_path / name, "trainer.max_epochs=3"))
        runs[name] = {m: _epoch_metric(tmp_path / name, m) for m in
                      ("train/loss_3d_epoch", "train/loss_2d_unlabeled", "train/loss_trajectory")}
    # equal up to float reassociation (MKL may pick other kernels for other buffer alignments)
    for metric, values in runs["clean"].items():
        assert runs["poisoned"][metric] == pytest.approx(values, rel=1e-4), metric
    assert max(runs["poisoned"]["train/loss_3d_epoch"]) < 10  # a leak of 1e4-metre poses would explode it


def test_causal_target_is_the_output_aligned_frame(tmp_path, projected_store):
    from poseact.run.registry import family

    cfg = load_config(DEMO, [f"data.store={projected_store}", "data.subjects_train=[S1]",
                             "data.subjects_test=[S9]", "model.causal=true", "model.channels=8",
                             "model.filter_widths=[3,3]"])
    task, _ = family("lifting").build(cfg, "test")
    assert task.output_frame == 8  # window of 9 frames, causal: the last one (reference: the centre, 4)
