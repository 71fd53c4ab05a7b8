"""One shape for every model family: the registry, the run layer, and the defects the old shape had
(a lifter checkpoint silently loaded into a multi-task model and the other way round, one rank's
multi-task metrics reported under DDP, multi-task sweeps that could not be checked, a causal
checkpoint that forgot it was causal once copied out of its run folder)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from poseact.cli import main
from poseact.run import registry
from poseact.run.config import load_config

DEMO = REPO / "configs/experiment/demo.yaml"
MT_TINY = REPO / "configs/experiment/multitask_tiny.yaml"
QUIET = ["logger.wandb=false", "trainer.enable_progress_bar=false"]


def _lifter_run(store, out, *extra) -> list[str]:
    return [str(DEMO), f"data.store={store}", f"output_dir={out}", "data.subjects_train=[S1]",
            "data.subjects_test=[S9]", "model.channels=8", "data.batch_frames=64", "trainer.max_epochs=1", *QUIET,
            *extra]


@pytest.fixture
def mt_cache(multitask_cache):
    return multitask_cache


@pytest.fixture
def mt_checkpoint(multitask_run):
    """A multi-task run of 4 steps (the tiny SPNet on the rendered synthetic images)."""
    return multitask_run / "checkpoints/last.ckpt"


# -- the registry --------------------------------------------------------------------------------

def test_every_family_is_registered_with_its_schema():
    for fam in registry.families():
        assert fam.name in registry.known() and fam is registry.family(fam.name)
        assert fam.schema.__dataclass_fields__["task"].default == fam.name
        assert fam.summary_keys and fam.monitor_for(fam.schema())[1] in ("min", "max")


def test_a_third_family_is_one_module_registered_in_one_place(tmp_path, monkeypatch):
    """The run layer fits, checkpoints, resumes and tests a family it has never heard of."""
    monkeypatch.setitem(registry.FAMILIES, "toy", "helpers.toy_family:FAMILY")
    monkeypatch.setattr(registry, "_cache", {})
    from poseact.run import commands

    out = tmp_path / "toy"
    cfg = load_config(None, ["task=toy", f"output_dir={out}", "trainer.max_epochs=3", *QUIET])
    first = commands.fit(cfg)
    assert first["mse"] < 1.0 and (out / "checkpoints/last.ckpt").exists()
    assert json.loads((out / "results/summary.json").read_text()) == first
    assert "task: toy" in (out / "config.yaml").read_text()
    again = commands.fit(load_config(None, ["task=toy", f"output_dir={out}", "trainer.max_epochs=4", *QUIET]))
    assert again["mse"] <= first["mse"]  # resumed from epoch 3, one more epoch
    assert len(list((out / "csv").glob("version_*"))) == 2
    tested = commands.test(load_config(None, ["task=toy", f"output_dir={out}", *QUIET]))
    assert tested["mse"] == pytest.approx(again["mse"])
    with pytest.raises(Exception, match="toy models have no export"):
        commands.export(out / "checkpoints/last.ckpt", tmp_path / "x.bin")


# -- checkpoints are loaded strictly, and of the right family -------------------------------------

@pytest.mark.slow
def test_a_checkpoint_of_the_other_family_is_one_line(projected_store, tmp_path, mt_checkpoint, mt_cache, capsys):
    assert main(["fit", *_lifter_run(projected_store, tmp_path / "lift")]) == 0
    lifter = tmp_path / "lift/checkpoints/last.ckpt"
    capsys.readouterr()
    code = main(["test", str(MT_TINY), f"checkpoint={lifter}", f"output_dir={tmp_path / 'm'}",
                 f"data.synthetic.cache_dir={mt_cache}"])
    err = capsys.readouterr().err
    assert code == 2 and "is a lifting checkpoint, not a multitask one" in err and str(lifter) in err, err
    assert len(err.strip().splitlines()) == 1
    code = main(["test", *_lifter_run(projected_store, tmp_path / "l2"), f"checkpoint={mt_checkpoint}"])
    err = capsys.readouterr().err
    assert code == 2 and "is a multitask checkpoint, not a lifting one" in err, err
    # the same family, another network size: strict loading names the mismatch
    code = main(["test", str(MT_TINY), f"checkpoint={mt_checkpoint}", "model.growth=8",
                 f"output_dir={tmp_path / 'm3'}", f"data.synthetic.cache_dir={mt_cache}"])
    err = capsys.readouterr().err
    assert code == 2 and "does not fit the configured SPNet" in err and "shape mismatches" in err, err


@pytest.mark.slow
def test_multitask_checkpoints_rebuild_their_network_alone(mt_checkpoint, tmp_path):
    from poseact.infer.multitask_keypoints import load_keypoint_model

    alone = tmp_path / "alone.ckpt"
    shutil.copy(mt_checkpoint, alone)  # no run folder beside it
    km = load_keypoint_model(alone)
    assert km.input_size == 64 and km.layout == "h36m17" and "hyper-parameters" in km.config_source


# -- multi-task evaluation under DDP reports every rank's shard ------------------------------------

@pytest.mark.slow
@pytest.mark.ddp
def test_two_rank_multitask_evaluation_equals_one_process(mt_checkpoint, mt_cache, tmp_path):
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    common = ["-m", "poseact", "test", str(MT_TINY), f"checkpoint={mt_checkpoint}",
              f"data.synthetic.cache_dir={mt_cache}", "trainer.accelerator=cpu", *QUIET]
    summaries = {}
    for name, extra in (("one", []), ("two", ["trainer.devices=2", "trainer.strategy=ddp"])):
        out = tmp_path / name
        run = subprocess.run([sys.executable, *common, f"output_dir={out}", *extra], env=env, capture_output=True,
                             text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        summaries[name] = json.loads((out / "results/summary.json").read_text())
    assert "MEMBER: 2/2" in run.stdout + run.stderr
    one, two = summaries["one"], summaries["two"]
    assert one.keys() == two.keys() and {"test/pckh", "test/mpjpe", "test/acc_clip", "test/acc_video"} <= one.keys()
    assert one["metrics"].keys() == two["metrics"].keys()
    for k, m in one["metrics"].items():
        assert two[k] == pytest.approx(one[k], rel=1e-5, abs=1e-6), k
        assert two["metrics"][k]["value"] == pytest.approx(m["value"], rel=1e-5, abs=1e-6), k


# -- results/summary.json: one shape -------------------------------------------------------------------

SUMMARY_KEYS = {"family", "name", "stage", "seed", "commit", "dirty", "model", "checkpoint", "init_checkpoint",
                "trained_on", "evaluated_on", "budget", "metrics"}


def test_summary_json_has_one_shape_for_every_family(lifter_run, multitask_run):
    lifter = json.loads((lifter_run / "results/summary.json").read_text())
    mt = json.loads((multitask_run / "results/summary.json").read_text())
    for s, family in ((lifter, "lifting"), (mt, "multitask")):
        assert SUMMARY_KEYS <= s.keys() and s["family"] == family and s["stage"] == "fit" and s["seed"] == 0
        assert {"store", "subjects", "actions", "sampling", "store_unlabeled", "subjects_unlabeled"} <= \
            s["trained_on"].keys()
        assert {"unit", "amount", "sample", "planned", "done"} <= s["budget"].keys()
        assert all(set(m) == {"value", "unit"} and s[k] == m["value"] for k, m in s["metrics"].items())
    assert lifter["metrics"]["p1"]["unit"] == "mm" and lifter["model"]["name"] == "temporal"
    assert mt["metrics"]["test/mpjpe"]["unit"] == "mm" and mt["metrics"]["test/pckh"]["unit"] == "%"
    assert mt["model"]["name"] == "multitask" and mt["trained_on"]["subjects"] == ["S1"]
    # multitask_tiny: 1 epoch of 4 steps of 2 clips
    assert mt["budget"]["planned"] == {"samples": 8, "steps": 4} and mt["budget"]["done"]["steps"] == 4
    assert lifter["budget"]["done"] == {"samples": lifter["budget"]["planned"]["samples"],
                                        "steps": lifter["budget"]["planned"]["steps"]}


# -- sweeps work for every family -----------------------------------------------------------------

def test_multitask_sweep_dry_run(monkeypatch):
    from poseact.sweep import dry_run, load_sweep

    monkeypatch.chdir(REPO)
    text = dry_run(load_sweep(REPO / "sweeps/multitask_modes.yaml"))
    assert "multitask configurations composed" in text and "train.mode=pose" in text and "seed=2" in text


@pytest.mark.slow
def test_tiny_multitask_sweep_runs(tmp_path, mt_cache):
    import yaml

    from poseact.sweep import run_sweep

    sweep = {"name": "mt_tiny", "method": "grid", "metric": {"name": "val/pckh", "goal": "maximize"},
             "parameters": {"train.mode": {"values": ["multitask", "pose"]}},
             "command": ["${env}", "${interpreter}", "-m", "poseact", "fit", str(MT_TINY),
                         f"data.synthetic.cache_dir={mt_cache}", "data.steps_per_epoch=2", "${args_no_hyphens}"]}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    paths = run_sweep(path, output=tmp_path / "out", extra_env={"OMP_NUM_THREADS": "1"})
    rows = (tmp_path / "out/results.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",complete," in r for r in rows[1:]), rows
    assert "test/pckh" in rows[0] and "test/acc_video" in rows[0]
    assert paths["png"].exists()


# -- a causal checkpoint stays causal away from its run folder -------------------------------------

@pytest.mark.slow
def test_causal_checkpoint_copied_away_stays_causal(projected_store, tmp_path):
    from poseact.lifting.inference import lift, load_lifter

    assert main(["fit", *_lifter_run(projected_store, tmp_path / "run", "model.causal=true",
                                     "model.filter_widths=[3,3]")]) == 0
    inside = tmp_path / "run/checkpoints/last.ckpt"
    away = tmp_path / "elsewhere/model.ckpt"
    away.parent.mkdir()
    shutil.copy(inside, away)
    a, b = load_lifter(inside), load_lifter(away)
    assert a.model.causal and b.model.causal and b.model.causal_shift == b.model.pad == 4
    kps = np.random.default_rng(0).uniform(0, 1000, (30, 17, 2)).astype(np.float32)
    conf = np.ones((30, 17), np.float32)
    np.testing.assert_array_equal(lift(a, kps, conf, 1000, 1000)[0], lift(b, kps, conf, 1000, 1000)[0])


# -- the clock ------------------------------------------------------------------------------------

def test_clock_positions_match_the_batches_and_leave_the_sampler_alone(projected_store, tmp_path):
    cfg = load_config(DEMO, [f"data.store={projected_store}", "data.subjects_train=[S1]", "data.subjects_test=[S9]",
                             "model.channels=8", "data.batch_frames=50", "data.sampling.mode=cycled",
                             "data.sampling.cycle_order=shuffled", *QUIET])
    module, dm = registry.family("lifting").build(cfg, "fit")
    clock = module.clock
    assert clock is dm.clock
    dm.sampler.set_epoch(0)
    for epoch in (0, 3, 1):
        dm.sampler.set_epoch(epoch)
        sizes = [len(b) for b in dm.batch_sampler()]
        dm.sampler.set_epoch(99)  # what Lightning set; the clock does not depend on it
        assert [clock.position(epoch, i) for i in range(len(sizes) + 1)] == \
            (epoch * len(dm.train_set) + np.concatenate([[0], np.cumsum(sizes)])).tolist()
        assert dm.sampler.epoch == 99
    assert clock.steps_for(clock.schedule.total_samples) == clock.total_steps > 0
