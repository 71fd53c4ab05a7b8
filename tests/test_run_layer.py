"""The run layer a researcher touches: config groups on the command line, Lightning's trainer
options and callbacks, runs that describe themselves, test on the run's own config, budgets,
W&B resume, the run-folder lock, one meaning per name."""

from __future__ import annotations

import csv
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO
from poseact.errors import ConfigError, RunFolderError
from poseact.run.config import load_config

DEMO = REPO / "configs/experiment/demo.yaml"


# -- config groups ----------------------------------------------------------------------------------

def test_group_option_replaces_the_files_defaults_entry():
    cfg = load_config(DEMO, ["model=mixste27"])
    assert cfg.model.name == "mixste" and cfg.model.frames == 27 and cfg.model.train_stride == 27
    cfg = load_config(DEMO, ["model=lifter81"])
    assert cfg.model.name == "temporal" and cfg.model.filter_widths == [3, 3, 3, 3]
    assert cfg.model.channels == 256  # the experiment file's own keys still come after its defaults
    cfg = load_config(DEMO, ["data=h36m_cpn"])
    assert cfg.data.store.endswith("data/h36m_cpn_ft_h36m_dbb.h5") and cfg.data.downsample == 2
    cfg = load_config(DEMO, ["trainer=cpu_ddp"])  # a shared group the file does not list: merged after it
    assert (cfg.trainer.devices, cfg.trainer.strategy, cfg.trainer.max_epochs) == (2, "ddp", 8)


def test_group_option_and_key_overrides_combine():
    cfg = load_config(DEMO, ["model.depth=2", "model=mixste27"])  # keys apply after the group, in any order
    assert cfg.model.name == "mixste" and cfg.model.depth == 2


def test_unknown_group_option_is_one_line_listing_the_options():
    with pytest.raises(ConfigError) as e:
        load_config(DEMO, ["model=mixste999"])
    msg = str(e.value)
    assert "\n" not in msg and "model=mixste999" in msg and "mixste243" in msg and "lifter27" in msg
    with pytest.raises(ConfigError, match="no config group 'optim'"):
        load_config(DEMO, ["optim=fast"])


def test_group_files_are_validated_like_defaults(tmp_path):
    configs = tmp_path / "configs"
    (configs / "lifting" / "data").mkdir(parents=True)
    (configs / "lifting" / "data" / "broken.yaml").write_text("data:\n  stor: x.h5\n")
    exp = configs / "exp.yaml"
    exp.write_text("name: exp\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml.*data\.stor"):
        load_config(exp, ["data=broken"])


# -- the trainer section is Lightning's ---------------------------------------------------------------

def _trainer(cfg, tmp_path):
    from poseact.run.folder import RunFolder
    from poseact.run.trainer import build_trainer

    return build_trainer(cfg, RunFolder(tmp_path / "run"), ("val/p1", "min"))


def test_lightning_trainer_options_pass_through(tmp_path):
    cfg = load_config(DEMO, ["trainer.gradient_clip_val=1.0", "trainer.accumulate_grad_batches=2",
                             "trainer.benchmark=false", "logger.wandb=false", f"output_dir={tmp_path}"])
    assert cfg.trainer.extra == {"gradient_clip_val": 1.0, "accumulate_grad_batches": 2, "benchmark": False}
    trainer = _trainer(cfg, tmp_path)
    assert trainer.gradient_clip_val == 1.0 and trainer.accumulate_grad_batches == 2
    from poseact.run.config import to_yaml

    saved = tmp_path / "config.yaml"
    saved.write_text(to_yaml(cfg))
    assert "  gradient_clip_val: 1.0\n" in saved.read_text() and "extra" not in saved.read_text()
    assert load_config(saved).trainer.extra == cfg.trainer.extra  # a run's config.yaml reads back


@pytest.mark.parametrize("override,words", [
    ("trainer.gradint_clip_val=1", ("trainer.gradint_clip_val", "did you mean trainer.gradient_clip_val")),
    ("trainer.logger=true", ("trainer.logger", "logger section")),
    ("trainer.max_steps=10", ("trainer.max_steps", "budget.unit=steps")),
])
def test_trainer_keys_lightning_does_not_take_are_one_line(override, words):
    with pytest.raises(ConfigError) as e:
        load_config(DEMO, [override])
    assert "\n" not in str(e.value) and all(w in str(e.value) for w in words)


@pytest.mark.parametrize("override,key", [
    ("trainer.precision=17", "trainer.precision"),
    ("trainer.strategy=bogus", "trainer.strategy"),
    ("trainer.gradient_clip_algorithm=bogus", "trainer.gradient_clip_algorithm"),
])
def test_lightning_refuses_values_in_one_line_naming_the_key(override, key, tmp_path):
    cfg = load_config(DEMO, [override, "logger.wandb=false"])  # Lightning's to judge, not a tuple of ours
    with pytest.raises(ConfigError) as e:
        _trainer(cfg, tmp_path)
    assert "\n" not in str(e.value) and str(e.value).startswith(key)


def test_callbacks_from_config(tmp_path):
    from pytorch_lightning.callbacks import EarlyStopping, LearningRateMonitor

    cfg = load_config(DEMO, ["callbacks.early_stopping.monitor=val/p1", "callbacks.early_stopping.patience=2",
                             "callbacks.lr_monitor=step", f"output_dir={tmp_path}", "logger.wandb=false"])
    trainer = _trainer(cfg, tmp_path)
    stop = [c for c in trainer.callbacks if isinstance(c, EarlyStopping)]
    assert len(stop) == 1 and stop[0].monitor == "val/p1" and stop[0].patience == 2 and stop[0].mode == "min"
    assert any(isinstance(c, LearningRateMonitor) for c in trainer.callbacks)
    with pytest.raises(ConfigError, match="callbacks.early_stopping.mode"):
        load_config(DEMO, ["callbacks.early_stopping.mode=lowest"])


def test_sync_batchnorm_on_cpu_processes_is_refused_in_one_line(tmp_path):
    cfg = load_config(DEMO, ["trainer.sync_batchnorm=true", "trainer.accelerator=cpu", "trainer.devices=2",
                             "trainer.strategy=ddp", "logger.wandb=false"])
    with pytest.raises(ConfigError, match="trainer.sync_batchnorm=true needs GPUs"):
        _trainer(cfg, tmp_path)
    cfg = load_config(DEMO, ["trainer.sync_batchnorm=true", "trainer.accelerator=cpu", "trainer.strategy=ddp",
                             "logger.wandb=false"])
    with pytest.raises(ConfigError, match="trainer.sync_batchnorm=true needs GPUs"):
        _trainer(cfg, tmp_path)  # one DDP process still gets SyncBatchNorm layers, which refuse CPU tensors
    cfg = load_config(DEMO, ["trainer.sync_batchnorm=true", "trainer.accelerator=cpu", "logger.wandb=false"])
    assert _trainer(cfg, tmp_path) is not None  # one plain process: nothing to synchronise, allowed


def test_max_epochs_and_budget_never_silently_disagree():
    with pytest.raises(ConfigError) as e:  # both on the command line: which one is meant?
        load_config(DEMO, ["budget.amount=3", "trainer.max_epochs=5"])
    assert "\n" not in str(e.value) and "trainer.max_epochs=5" in str(e.value) and "budget.amount=3" in str(e.value)
    cfg = load_config(DEMO, ["budget.unit=samples", "budget.amount=1000"])  # the budget set later decides ...
    assert cfg.trainer.max_epochs is None  # ... and the saved config says so
    assert load_config(DEMO).trainer.max_epochs == 8
    with pytest.raises(ConfigError, match="trainer.max_epochs"):
        load_config(DEMO, ["trainer.max_epochs=null"])


# -- one meaning per name ------------------------------------------------------------------------------

def test_checkpoint_as_fit_starting_weights_is_deprecated_for_init_checkpoint(caplog):
    from poseact.run.commands import saved_config, starting_weights

    cfg = load_config(DEMO, ["checkpoint=/weights/a.ckpt"])
    with caplog.at_level(logging.WARNING, logger="poseact"):
        assert starting_weights(cfg) == "/weights/a.ckpt"
    warned = [r.getMessage() for r in caplog.records if "init_checkpoint" in r.getMessage()]
    assert len(warned) == 1 and "\n" not in warned[0]
    assert saved_config(cfg).init_checkpoint == "/weights/a.ckpt" and saved_config(cfg).checkpoint is None
    caplog.clear()
    cfg = load_config(DEMO, ["init_checkpoint=/weights/a.ckpt"])
    with caplog.at_level(logging.WARNING, logger="poseact"):
        assert starting_weights(cfg) == "/weights/a.ckpt" and cfg.checkpoint == "/weights/a.ckpt"
    assert not caplog.records
    with pytest.raises(ConfigError, match="keep init_checkpoint"):
        starting_weights(load_config(DEMO, ["init_checkpoint=/a.ckpt", "checkpoint=/b.ckpt"]))


# -- the run folder lock ---------------------------------------------------------------------------------

def test_second_fit_into_a_running_folder_is_refused(tmp_path):
    from poseact.run.commands import fit
    from poseact.run.folder import RunFolder

    cfg = load_config(DEMO, [f"output_dir={tmp_path / 'run'}", "logger.wandb=false"])
    with RunFolder(tmp_path / "run").lock():
        with pytest.raises(RunFolderError) as e:
            fit(cfg)
    assert "\n" not in str(e.value) and "in use by another poseact fit" in str(e.value)
    assert f"pid {os.getpid()}" in str(e.value)
    with RunFolder(tmp_path / "new" / "deeper").lock():
        pass
    assert not (tmp_path / "new").exists()  # folders made only for the lock are removed again


def test_a_killed_runs_lock_does_not_block(tmp_path):
    from poseact.run.folder import RunFolder

    holder = textwrap.dedent(f"""
        import sys, time
        from poseact.run.folder import RunFolder
        with RunFolder({str(tmp_path / 'run')!r}).lock():
            print("locked", flush=True)
            time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(RunFolderError, match=f"pid {proc.pid}"):
            with RunFolder(tmp_path / "run").lock():
                pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with RunFolder(tmp_path / "run").lock():  # the lock file is still there, the lock is not
        assert (tmp_path / "run" / ".poseact.lock").exists()


# -- a short budget, W&B resume, the summary, test on the run's config ---------------------------------

def _short_run_args(store, out, *extra):
    return [str(DEMO), f"data.store={store}", f"output_dir={out}", "data.subjects_train=[S1]",
            "data.subjects_test=[S9]", "model.channels=8", "data.batch_frames=64", "data.downsample=4",
            "trainer.enable_progress_bar=false", "trainer.log_every_n_steps=1", "callbacks.lr_monitor=step",
            "trainer.gradient_clip_val=1.0", "logger.wandb=true", "logger.wandb_mode=offline", *extra]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, session_store):
    """A fit whose budget (3 steps) is shorter than one epoch (4 steps), then resumed to 5 steps."""
    from poseact.cli import main

    out = tmp_path_factory.mktemp("short_run") / "run"
    env = os.environ.get("WANDB_MODE")
    os.environ.pop("WANDB_MODE", None)  # logger.wandb_mode=offline decides
    try:
        assert main(["fit", *_short_run_args(session_store, out, "budget.unit=steps", "budget.amount=3")]) == 0
        first_id = (out / "wandb_run_id").read_text().strip()
        first_summary = json.loads((out / "results/summary.json").read_text())
        assert main(["fit", *_short_run_args(session_store, out, "budget.unit=steps", "budget.amount=5")]) == 0
    finally:
        if env is not None:
            os.environ["WANDB_MODE"] = env
    return out, first_id, first_summary


def _rows(out):
    rows = []
    for path in sorted(out.glob("csv/version_*/metrics.csv")):
        with open(path) as f:
            rows += list(csv.DictReader(f))
    return rows


def test_a_budget_shorter_than_an_epoch_still_validates(short_run):
    out, _, first = short_run
    assert first["budget"]["done"]["steps"] == 3 and first["budget"]["planned"]["steps"] == 3
    val = [r for r in _rows(out) if r.get("val/p1")]
    assert val and float(val[0]["step"]) == 2  # validated at the budget's end (the 3rd step)
    assert list((out / "checkpoints").glob("epoch*.ckpt"))  # and a best checkpoint was chosen


def test_budget_is_reported_in_samples_and_steps(short_run, capsys):
    out, _, first = short_run
    b = first["budget"]
    assert b["unit"] == "steps" and b["amount"] == 3 and b["planned"]["samples"] == 3 * 64
    assert b["done"]["samples"] == 3 * 64 and b["sample"].startswith("output frame")


def test_lr_monitor_logs_the_lr_each_step_trained_with(short_run):
    out, _, _ = short_run
    from poseact.run.registry import family

    cfg = load_config(out / "config.yaml", saved_run=True)
    _, dm = family("lifting").build(cfg, "fit")
    clock = dm.make_clock(1)
    steps = json.loads((out / "results/summary.json").read_text())["budget"]["done"]["steps"]
    logged = {int(float(r["step"])): float(r["lr-Adam"]) for r in _rows(out) if r.get("lr-Adam")}
    assert steps >= 5 and sorted(logged) == list(range(steps))
    for step, lr in logged.items():  # a steps budget decays the lr continuously: every step differs
        epoch, batch = divmod(step, clock.steps_per_epoch(0))
        assert lr == pytest.approx(clock.lr_at(clock.position(epoch, batch)), rel=1e-6), step
    assert len(set(logged.values())) == steps


def test_resumed_run_continues_the_same_wandb_run(short_run):
    out, first_id, _ = short_run
    assert (out / "wandb_run_id").read_text().strip() == first_id
    runs = sorted(p.name for p in (out / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all(name.endswith(f"-{first_id}") for name in runs)


def test_summary_describes_the_run(short_run):
    out, _, _ = short_run
    s = json.loads((out / "results/summary.json").read_text())
    assert s["family"] == "lifting" and s["model"]["name"] == "temporal" and s["model"]["channels"] == 8
    assert s["seed"] == 0 and s["stage"] == "fit"
    assert s["trained_on"]["subjects"] == ["S1"] and s["trained_on"]["sampling"]["mode"] == "mixed"
    assert s["trained_on"]["store"].endswith("projected.h5") and s["trained_on"]["subjects_unlabeled"] == []
    assert s["evaluated_on"]["subjects"] == ["S9"] and s["evaluated_on"]["downsample"] == 4
    # 5 steps of 64 samples = 320 samples: 4 steps of the 240-sample epoch (the last one 48) + 2
    assert s["budget"]["planned"] == {"samples": 320, "steps": 6} and s["budget"]["done"]["steps"] == 6
    assert s["metrics"]["p1"] == {"value": s["p1"], "unit": "mm"}  # the old flat key stays readable
    assert s["commit"] is None or len(s["commit"]) == 40
    cfg_text = (out / "config.yaml").read_text()
    assert "max_epochs: null" in cfg_text and "gradient_clip_val: 1.0" in cfg_text


def test_test_reads_the_runs_own_config(short_run, capsys):
    """The experiment YAML says downsample 2 and subjects S9, S11; the run trained with downsample 4
    on S9: the evaluation is the run's."""
    from poseact.cli import main

    out, _, _ = short_run
    ckpt = out / "checkpoints" / "last.ckpt"
    capsys.readouterr()
    assert main(["test", str(DEMO), f"checkpoint={ckpt}", "logger.wandb=false", "eval.test_time_flip=false"]) == 0
    printed = capsys.readouterr().out
    assert str(ckpt) in printed and str(out / "config.yaml") in printed
    s = json.loads((out / "results/summary.json").read_text())
    assert s["stage"] == "test" and s["checkpoint"] == str(ckpt)
    assert s["evaluated_on"]["downsample"] == 4 and s["evaluated_on"]["subjects"] == ["S9"]
    assert f"{s['evaluated_on']['frames']:,} frames" in printed
    frames_ds2 = s["evaluated_on"]["frames"]
    assert main(["test", str(DEMO), f"checkpoint={ckpt}", "logger.wandb=false", "data.downsample=2"]) == 0
    assert json.loads((out / "results/summary.json").read_text())["evaluated_on"]["frames"] > frames_ds2


def test_predict_reads_the_runs_own_config(short_run, tmp_path, capsys):
    import numpy as np

    from poseact.cli import main

    out, _, _ = short_run
    ckpt = out / "checkpoints" / "last.ckpt"
    assert main(["predict", str(DEMO), f"checkpoint={ckpt}", "logger.wandb=false", "--out",
                 str(tmp_path / "p.npz")]) == 0
    assert str(out / "config.yaml") in capsys.readouterr().out
    with np.load(tmp_path / "p.npz") as f:
        poses = {k: f[k] for k in f.files}
    assert poses and all(k.startswith("S9/") for k in poses)  # the run's test subjects, not the YAML's S9, S11
    assert {v.shape[0] for v in poses.values()} == {15}  # 60 frames at the run's downsample 4 (the YAML's: 2)


def test_wandb_run_id_is_kept_per_folder_and_an_agents_id_wins(tmp_path, monkeypatch):
    from poseact.run.folder import RunFolder
    from poseact.run.trainer import wandb_run_id

    monkeypatch.delenv("WANDB_RUN_ID", raising=False)
    folder = RunFolder(tmp_path)
    first = wandb_run_id(folder, new_run=True)
    assert wandb_run_id(folder, new_run=False) == first  # a resume
    assert wandb_run_id(folder, new_run=True) != first  # resume=false: a new W&B run
    monkeypatch.setenv("WANDB_RUN_ID", "sweeptrial1")  # `wandb agent` decides the id of its trials
    assert wandb_run_id(folder, new_run=True) == "sweeptrial1" == folder.read_wandb_id()
