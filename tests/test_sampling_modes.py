"""Per-action and mixed sampling (Bai), budgets in epochs / unit-epochs / samples / steps, DDP."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from poseact.run.config import ConfigError, load_config
from poseact.errors import SelectionError
from poseact.lifting.sampling import BalancedActions, CycledActions, ShardedBatchSampler
from poseact.lifting.clock import bn_momentum
from poseact.lifting.clock import make_schedule, short_run_warning
from poseact.run.registry import family

DEMO = REPO / "configs/experiment/demo.yaml"
ACTIONS = np.repeat([0, 1, 2], [50, 20, 31])


def test_cycled_epoch_is_one_unit_epoch_per_action_and_batches_never_straddle():
    sampler = CycledActions(ACTIONS, seed=3)
    sampler.set_epoch(0)
    order, sizes = sampler.order(), sampler.segment_sizes()
    assert sizes == [50, 20, 31] and sorted(order) == list(range(len(ACTIONS)))
    assert (ACTIONS[order] == np.repeat([0, 1, 2], [50, 20, 31])).all()
    for batch in ShardedBatchSampler(sampler, 16):
        assert len(set(ACTIONS[batch])) == 1
    sampler.set_epoch(1)
    assert sampler.segment_sizes() == [50, 20, 31] and not (sampler.order() == order).all()


def test_shuffled_cycle_order_changes_between_cycles():
    sampler = CycledActions(ACTIONS, seed=0, shuffle_actions=True)
    firsts = set()
    for epoch in range(40):
        sampler.set_epoch(epoch)
        firsts.add(int(ACTIONS[sampler.order()[0]]))
    assert firsts == {0, 1, 2}


def test_balanced_draws_each_action_equally():
    sampler = BalancedActions(ACTIONS, seed=0)
    sampler.set_epoch(5)
    counts = np.bincount(ACTIONS[sampler.order()])
    assert counts.max() - counts.min() <= 1 and counts.sum() == len(ACTIONS)


@pytest.mark.parametrize("world", [2, 3])
def test_cycled_ddp_shards_are_disjoint_and_complete(world):
    sampler = CycledActions(ACTIONS, seed=1)
    sampler.set_epoch(2)
    shards = [list(ShardedBatchSampler(sampler, 8, rank, world)) for rank in range(world)]
    assert len({len(s) for s in shards}) == 1
    seen = np.concatenate([np.concatenate(s) for s in shards])
    assert sorted(seen.tolist()) == list(range(len(ACTIONS)))
    for step in zip(*shards):  # one global step = one action
        assert len(set(ACTIONS[np.concatenate(step)])) == 1


def test_epoch_schedule_is_the_reference():
    s = make_schedule("epochs", 80, 1000, 1000, 15, 1024, 1e-3, 0.95, 0.1, 0.001)
    assert s.total_samples == 80_000
    assert s.lr_at(0) == 1e-3 and s.lr_at(999) == 1e-3 and s.lr_at(1000) == pytest.approx(0.95e-3)
    assert s.lr_at(79_500) == pytest.approx(1e-3 * 0.95**79)
    assert s.bn_momentum_at(1000) == pytest.approx(0.09440608762859234)
    assert s.bn_momentum_at(40_500) == pytest.approx(0.01)


def test_unit_epoch_and_sample_schedules():
    unit = make_schedule("unit_epochs", 30, 1500, 1500, 15, 100, 1e-3, 0.95, 0.1, 0.001)
    assert unit.samples_per_unit == 100 and unit.total_samples == 3000
    assert unit.lr_at(250) == pytest.approx(1e-3 * 0.95**2)  # Bai: decay per unit-epoch
    # a samples budget for a single-action run: lr decays per pass over the full training set
    single = make_schedule("samples", 6000, 400, 1500, 1, 100, 1e-3, 0.95, 0.1, 0.001)
    assert single.lr_at(750) == pytest.approx(1e-3 * 0.95**0.5)
    assert single.bn_momentum_at(3000) == pytest.approx(bn_momentum(0.5, 1.0))
    steps = make_schedule("steps", 10, 400, 1500, 1, 64, 1e-3, 0.95, 0.1, 0.001)
    assert steps.total_samples == 640


def test_short_runs_are_warned_about_the_batchnorm_momentum():
    reference = make_schedule("epochs", 80, 1_500_000, 1_500_000, 15, 1024, 1e-3, 0.95, 0.1, 0.001)
    assert short_run_warning(reference, 80 * 1465) is None  # the reference's run: a 1,000-step window is ~1 %
    message = short_run_warning(reference, 627)  # a 4-epoch synthetic budget
    assert "optim.bn_momentum_end=0.001" in message and "627 steps" in message
    assert "optim.bn_momentum_end=0.016" in message  # a window of ~63 steps, a tenth of the run
    short = make_schedule("epochs", 4, 160_000, 160_000, 10, 1024, 1e-3, 0.95, 0.1, 0.01)
    assert short_run_warning(short, 627) is None


# -- data module ---------------------------------------------------------------------------------

def _cfg(store, out, *extra):
    return load_config(DEMO, [f"data.store={store}", "data.subjects_train=[S1]", "data.subjects_test=[S9]",
                              "model.channels=16", "data.batch_frames=64", "logger.wandb=false",
                              "trainer.enable_progress_bar=false", f"output_dir={out}", "resume=false", *extra])


def _datamodule(cfg):
    return family("lifting").build(cfg, "fit")[1]


def test_single_mode_restricts_train_and_test(projected_store, tmp_path):
    dm = _datamodule(_cfg(projected_store, tmp_path, "data.sampling.mode=single", "data.sampling.actions=[Sit]"))
    names = {dm.store.actions[a] for a in dm.train_set.sample_actions()}
    assert names == {"Sitting"} and {i["action"] for i in dm.test_set} == {"Sitting"}
    dm = _datamodule(_cfg(projected_store, tmp_path, "data.sampling.mode=single", "data.sampling.actions=[Sit]",
                          "data.sampling.eval_all_actions=true"))
    assert {i["action"] for i in dm.test_set} == {"Sitting", "Walking"}


def test_bad_sampling_settings(projected_store, tmp_path):
    with pytest.raises(SelectionError, match=r"\['Dancing'\] matches no action"):
        _datamodule(_cfg(projected_store, tmp_path, "data.sampling.mode=single", "data.sampling.actions=[Dancing]"))
    with pytest.raises(ConfigError, match="budget.amount"):
        _cfg(projected_store, tmp_path, "budget.amount=0")
    with pytest.raises(ConfigError, match="data.sampling.mode"):
        _cfg(projected_store, tmp_path, "data.sampling.mode=random")
    with pytest.raises(ConfigError, match="data.sampling.actions"):
        _cfg(projected_store, tmp_path, "data.sampling.mode=single")


@pytest.mark.slow
def test_sample_budget_is_spent_exactly_by_every_mode(projected_store, tmp_path):
    from poseact.run.commands import fit

    for mode in ("mixed", "cycled", "balanced"):
        out = tmp_path / mode
        summary = fit(_cfg(projected_store, out, f"data.sampling.mode={mode}", "budget.unit=samples",
                           "budget.amount=1000", "eval.validate_every=400"))
        with open(out / "csv/version_0/metrics.csv") as f:
            checkpoints = [float(r["budget/samples"]) for r in csv.DictReader(f) if r.get("budget/samples")]
        # validated every k steps (k: the steps of the first 400 samples); stopped by the first batch
        # that reaches the budget
        assert len(checkpoints) == 2 and 400 <= checkpoints[0] < 464 and 800 <= checkpoints[1] < 928, (mode, checkpoints)
        assert 1000 <= summary["budget_samples"] < 1064, (mode, summary)


@pytest.mark.slow
@pytest.mark.ddp
def test_ddp_ranks_see_disjoint_shards_of_the_same_cycled_schedule(projected_store, tmp_path):
    rec = tmp_path / "rec"
    cmd = [sys.executable, str(REPO / "tests/helpers/record_samples.py"), str(rec), str(DEMO),
           f"data.store={projected_store}", "data.subjects_train=[S1]", "data.subjects_test=[S9]", "model.channels=16",
           "data.batch_frames=32", "trainer.max_epochs=2", "logger.wandb=false", "trainer.enable_progress_bar=false",
           "data.sampling.mode=cycled", f"output_dir={tmp_path / 'run'}", "trainer.accelerator=cpu",
           "trainer.devices=2", "trainer.strategy=ddp"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = [json.loads((rec / f"rank{r}.json").read_text()) for r in (0, 1)]
    for epoch in ("0", "1"):
        a, b = ranks[0][epoch], ranks[1][epoch]
        assert not set(a) & set(b)
        # S1: 2 actions x 4 cameras x 30 frames (downsample 2) x 2 (flip) = 480 samples, each once
        assert sorted(a + b) == list(range(480))
