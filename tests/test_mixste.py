"""MixSTE, the seq2seq transformer lifter: sizes of the paper's configurations, shapes, the clip
rule of training and evaluation, its losses, learning, semi-supervision, and the rest of poseact
(checkpoints, inference, export) working unchanged with ``model.name=mixste``."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from conftest import REPO
from poseact.cli import main
from poseact.lifting.models.mixste import MixSTE, multiply_adds
from poseact.nn import count_parameters
from poseact.run.config import load_config
from poseact.run.registry import family

MIXSTE = REPO / "configs/experiment/mixste_synthetic.yaml"
QUIET = ["logger.wandb=false", "trainer.enable_progress_bar=false"]


def _tiny(**kw) -> MixSTE:
    return MixSTE(17, 2, kw.pop("joints_out", 17), frames=kw.pop("frames", 9), depth=2, width=32, heads=4, **kw).eval()


# -- the paper's sizes -----------------------------------------------------------------------------

@pytest.mark.parametrize("frames", [27, 81, 243])
def test_parameters_of_the_papers_configurations(frames):
    # paper: depth 8, width 512 -> 33.7 M; the temporal position embedding grows with T
    assert count_parameters(MixSTE(17, 2, 17, frames=frames)) / 1e6 == pytest.approx(33.7, rel=0.01)


def test_parameters_at_depth_10():
    assert count_parameters(MixSTE(17, 2, 17, frames=243, depth=10)) / 1e6 == pytest.approx(42.2, rel=0.01)


def test_compute_of_the_243_frame_model():
    """The paper's Table 5 gives 645 M FLOPs per frame without saying how it counts; the linear
    layers' multiply-adds plus the attention products counted two per multiply-add reproduce it.
    The linear multiply-adds are also measured by torch's FLOP counter, independently of the formula."""
    from torch.utils.flop_counter import FlopCounterMode

    model = MixSTE(17, 2, 17, frames=243).eval()
    macs = multiply_adds(model)
    assert (macs["linear"] + 2 * macs["attention"]) / 243 / 1e6 == pytest.approx(645, rel=0.01)
    assert macs["linear"] / 1e6 == pytest.approx(138_623, rel=1e-3)  # the per-clip figure later papers cite
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.forward_train(torch.zeros(1, 243, 17, 2))
    linear_flops = sum(v for op, v in counter.get_flop_counts()["Global"].items() if "mm" in str(op))
    assert linear_flops == 2 * macs["linear"]


# -- shapes and the clip rule ----------------------------------------------------------------------

def test_shapes_of_training_clips_and_of_whole_sequences():
    model = _tiny()
    x = torch.randn(3, 9, 17, 2)
    assert model.forward_train(x).shape == (3, 9, 17, 3)
    for length in (1, 5, 9, 18, 23):
        assert model(torch.randn(2, length, 17, 2)).shape == (2, length, 17, 3)
    with pytest.raises(ValueError, match="exactly 9 frames"):
        model.forward_train(torch.randn(1, 8, 17, 2))
    traj = _tiny(joints_out=1)
    assert traj(torch.randn(1, 20, 17, 2)).shape == (1, 20, 1, 3)
    assert MixSTE(17, 3, 17, frames=9, depth=1, width=16, heads=2)(torch.randn(1, 9, 17, 3)).shape == (1, 9, 17, 3)


def test_a_sequence_is_cut_into_clips_and_every_frame_predicted_once():
    """0..T, T..2T, then the last T frames of which only the uncovered ones count; shorter than a
    clip: edge-padded, the padding dropped. Every output equals that of its clip."""
    torch.manual_seed(0)
    model = _tiny()
    x = torch.randn(1, 23, 17, 2)
    out = model(x)
    with torch.no_grad():
        np.testing.assert_allclose(out[:, :9], model.forward_train(x[:, :9]), atol=1e-6)
        np.testing.assert_allclose(out[:, 9:18], model.forward_train(x[:, 9:18]), atol=1e-6)
        np.testing.assert_allclose(out[:, 18:], model.forward_train(x[:, 14:23])[:, 4:], atol=1e-6)
        short = x[:, :5]
        padded = torch.cat([short, short[:, -1:].expand(1, 4, 17, 2)], dim=1)
        np.testing.assert_allclose(model(short), model.forward_train(padded)[:, :5], atol=1e-6)


def test_attention_is_not_causal_and_spans_the_whole_clip():
    model = _tiny()
    x = torch.randn(1, 9, 17, 2)
    y = x.clone()
    y[:, 8] += 1.0  # the last frame changes...
    with torch.no_grad():
        assert not torch.allclose(model.forward_train(x)[:, 0], model.forward_train(y)[:, 0])  # ...and so does the first
        z = x.clone()
        z[:, :, 16] += 1.0  # one joint changes, every joint's output moves (spatial attention)
        assert not torch.allclose(model.forward_train(x)[:, :, 0], model.forward_train(z)[:, :, 0])


def test_training_clips_cover_every_frame_and_mask_what_overhangs(session_store):
    from poseact.lifting.datasets import LiftingArrays, WindowDataset, select_sequences
    from poseact.lifting.windows import Windowing
    from poseact.store import open_store

    store = open_store(session_store)
    arrays = LiftingArrays.from_store(store)
    views = select_sequences(store, ["S1"])  # 60-frame sequences
    ds = WindowDataset(arrays, views, Windowing(0, 0, frames_out=27, stride=27), flip=False)
    starts = ds.pos[ds.seq == 0].tolist()
    assert starts == [0, 27, 33]  # the last clip ends at the last frame
    batch = ds.__getitems__(np.arange(3))
    assert batch["keypoints"].shape == (3, 27, 17, 2) and batch["pose3d"].shape == (3, 27, 17, 3)
    assert batch["valid"].all()
    np.testing.assert_array_equal(batch["pose3d"][1, 0] + batch["trajectory"][1, 0],
                                  store.pose3d[views.base[0] + 27])
    short = WindowDataset(arrays, views, Windowing(0, 0, frames_out=100, stride=100), flip=True)
    assert len(short) == 2 * len(views)  # one clip per sequence, and its mirror
    b = short.__getitems__(np.array([0, len(views)]))
    assert b["valid"][:, :60].all() and not b["valid"][:, 60:].any()
    np.testing.assert_array_equal(b["keypoints"][0, 60:], b["keypoints"][0, 59:60].expand(40, -1, -1))


def test_losses_ignore_the_frames_past_a_sequence_end():
    from poseact.lifting.losses import pose_error, temporal_consistency_loss, velocity_loss

    torch.manual_seed(0)
    pred, target = torch.randn(2, 6, 17, 3), torch.randn(2, 6, 17, 3)
    valid = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    moved = pred.clone()
    moved[1, 4:] += 100.0  # predictions on the padding change nothing
    w = torch.rand(17) + 0.5
    for loss in (lambda p: pose_error(p, target, w, valid), lambda p: temporal_consistency_loss(p, w, valid),
                 lambda p: velocity_loss(p, target, valid)):
        assert loss(pred) == pytest.approx(float(loss(moved)))
    # without a mask: the plain mean (MPJPE is the weighted error with unit weights)
    assert pose_error(pred, target) == pytest.approx(float(pose_error(pred, target, torch.ones(17))))
    # temporal consistency: mean of w_j (p[t+1] - p[t])^2
    expected = (w[:, None] * (pred[:, 1:] - pred[:, :-1]) ** 2).mean()
    assert temporal_consistency_loss(pred, w) == pytest.approx(float(expected))


def test_configs_of_the_paper_load():
    for name, frames in (("mixste27", 27), ("mixste81", 81), ("mixste243", 243)):
        cfg = load_config(REPO / "configs/experiment/demo.yaml", [])
        from omegaconf import OmegaConf

        part = OmegaConf.load(REPO / f"configs/lifting/model/{name}.yaml")
        assert part.model.frames == frames and part.model.depth == 8 and part.model.width == 512
    cfg = load_config(REPO / "configs/experiment/h36m_cpn_mixste243.yaml")
    assert cfg.model.name == "mixste" and cfg.loss.weight_temporal == 0.5 and cfg.loss.weight_velocity == 2.0
    assert cfg.optim.optimizer == "adamw" and cfg.optim.lr == 4e-5 and cfg.data.batch_frames == 1024
    from poseact.errors import ConfigError

    with pytest.raises(ConfigError, match="loss.weight_temporal"):
        load_config(REPO / "configs/experiment/demo.yaml", ["loss.weight_temporal=0.5"])
    with pytest.raises(ConfigError, match="model.width"):
        load_config(MIXSTE, ["model.width=30", "model.heads=4"])


# -- training, evaluation and the rest of poseact --------------------------------------------------

def _run(store, out, *extra) -> list[str]:
    return [str(MIXSTE), f"data.store={store}", f"output_dir={out}", "data.subjects_train=[S1]",
            "data.subjects_test=[S9]", "data.downsample=1", "model.frames=9", "model.width=32", "model.heads=4",
            "data.batch_frames=180", *QUIET, *extra]


@pytest.mark.slow
def test_mixste_learns_and_is_evaluated_on_the_frames_the_convolutions_are(session_store, tmp_path):
    cfg = load_config(MIXSTE, _run(session_store, tmp_path / "m", "trainer.max_epochs=15")[1:])
    import pytorch_lightning as pl

    from poseact.run import commands

    module, dm = family("lifting").build(cfg, "test")
    pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False).test(module, datamodule=dm,
                                                                                       verbose=False)
    untrained = module.last_results.action_wise()["p1"] * 1000
    final = commands.fit(cfg)
    assert final["p1"] < 0.6 * untrained, (final, untrained)
    # the same test frames as the temporal convolutions
    tcn = load_config(REPO / "configs/experiment/demo.yaml", [f"data.store={session_store}", "data.subjects_train=[S1]",
                                                              "data.subjects_test=[S9]", "data.downsample=1"])
    _, tcn_dm = family("lifting").build(tcn, "test")
    tcn_dm.setup("test")
    dm.setup("test")
    assert [len(i["pose3d"]) for i in tcn_dm.test_set] == [len(i["pose3d"]) for i in dm.test_set]
    table = (tmp_path / "m/results/test_per_action.csv").read_text()
    assert f",{sum(len(i['pose3d']) for i in dm.test_set)}," in table


@pytest.mark.slow
def test_semi_supervised_mixste_with_a_second_model_for_the_trajectory(projected_store, tmp_path):
    from poseact.lifting.models.mixste import MixSTE as M

    cfg = load_config(MIXSTE, [f"data.store={projected_store}", f"output_dir={tmp_path / 's'}", "data.subjects_train=[S1]",
                               "data.subjects_test=[S9]", "data.subjects_unlabeled=[S9]", "data.downsample=1",
                               "model.frames=9", "model.width=32", "model.heads=4", "data.batch_frames=90",
                               "semi.warmup_epochs=1", "trainer.max_epochs=2", *QUIET])
    module, _ = family("lifting").build(cfg, "fit")
    assert isinstance(module.trajectory_model, M) and module.trajectory_model.num_joints_out == 1
    from poseact.run import commands

    final = commands.fit(cfg)
    assert np.isfinite(final["p1"]) and "trajectory" in final
    import csv

    rows = list(csv.DictReader(open(tmp_path / "s/csv/version_0/metrics.csv")))
    unlabeled = [float(r["train/loss_2d_unlabeled"]) for r in rows if r.get("train/loss_2d_unlabeled")]
    assert unlabeled and np.isfinite(unlabeled).all()  # back-projection ran past the warm-up


@pytest.mark.slow
def test_checkpoint_resume_inference_and_export(session_store, tmp_path, capsys, caplog):
    run = tmp_path / "m"
    assert main(["fit", *_run(session_store, run, "trainer.max_epochs=1")]) == 0
    assert main(["fit", *_run(session_store, run, "trainer.max_epochs=2")]) == 0  # resumed
    assert "resuming from" in caplog.text
    assert torch.load(run / "checkpoints/last.ckpt", weights_only=False)["epoch"] == 1
    from poseact.lifting.inference import lift, load_lifter

    away = tmp_path / "away.ckpt"
    shutil.copy(run / "checkpoints/last.ckpt", away)  # self-describing: rebuilt without its run
    lifter = load_lifter(away)
    assert isinstance(lifter.model, MixSTE) and lifter.model.frames == 9
    pose, _ = lift(lifter, np.random.default_rng(0).uniform(0, 1000, (40, 17, 2)).astype(np.float32),
                   np.ones((40, 17), np.float32), 1000, 1000)
    assert pose.shape == (40, 17, 3) and np.isfinite(pose).all()
    assert main(["export", str(away), str(tmp_path / "x.bin")]) == 2
    assert "temporal-convolution lifters only" in capsys.readouterr().err
    # another architecture into the same folder is refused
    assert main(["fit", *_run(session_store, run, "model.depth=3", "trainer.max_epochs=3")]) == 2
    assert "holds a run of another model" in capsys.readouterr().err
