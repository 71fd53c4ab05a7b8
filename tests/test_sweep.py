"""Sweeps: W&B YAML semantics, checks before any trial, and real offline sweeps of tiny fits
(report, hyperband pruning, resume after a kill), plus the multi-node DDP launch path."""

from __future__ import annotations

import csv
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from conftest import REPO
from poseact.sweep import SweepError, build_command, dry_run, load_sweep, parse_sweep
from poseact.sweep.search import WandbHyperband, suggest
from poseact.sweep.spec import Hyperband
from poseact.sweep.validate import validate_sweep

DEMO = str(REPO / "configs/experiment/demo.yaml")
COMMAND = ["${env}", "${interpreter}", "-m", "poseact", "fit", DEMO, "${args_no_hyphens}"]


def _sweep(**kw) -> dict:
    base = {"method": "grid", "metric": {"name": "val/p1", "goal": "minimize"},
            "parameters": {"seed": {"values": [0, 1]}}, "command": COMMAND}
    return {**base, **kw}


def _tiny_command(store: Path, epochs: int, batch_size: int = 64) -> list[str]:
    return [*COMMAND[:-1], f"data.store={store}", "data.subjects_train=[S1]", "data.subjects_test=[S9]",
            "model.channels=16", f"data.batch_frames={batch_size}", f"trainer.max_epochs={epochs}",
            "trainer.enable_progress_bar=false", "${args_no_hyphens}"]


def _write(tmp_path: Path, data: dict, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


# -- YAML semantics -------------------------------------------------------------------------------

def test_grid_expands_every_combination_with_nested_keys_and_constants():
    spec = parse_sweep(_sweep(parameters={
        "optim": {"parameters": {"lr": {"values": [1e-3, 1e-4]}, "amsgrad": {"value": False}}},
        "model.filter_widths": {"values": [[3, 3, 3], [3, 3, 3, 3]]},
        "seed": {"values": [0, 1, 2]}}))
    assert [p.key for p in spec.params] == ["optim.lr", "optim.amsgrad", "model.filter_widths", "seed"]
    combos = spec.grid()
    assert len(combos) == spec.total_trials() == 12
    assert len({repr(sorted(c.items())) for c in combos}) == 12
    assert all(c["optim.amsgrad"] is False for c in combos)
    assert parse_sweep(_sweep(run_cap=5, parameters=spec.raw["parameters"])).total_trials() == 5


def test_distributions_are_sampled_within_their_bounds():
    spec = parse_sweep(_sweep(method="random", run_cap=50, parameters={
        "optim.lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-2},
        "model.channels": {"min": 16, "max": 64},  # both ints: int_uniform, as in W&B
        "model.dropout": {"distribution": "q_uniform", "min": 0.0, "max": 0.5, "q": 0.1},
        "optim.lr_decay": {"min": 0.9, "max": 1.0},  # floats: uniform
        "data.downsample": {"values": [1, 2]}}))
    kinds = {p.key: p.kind for p in spec.params}
    assert kinds["model.channels"] == "int_uniform" and kinds["optim.lr_decay"] == "uniform"
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    draws = [suggest(study.ask(), spec.params) for _ in range(200)]
    lr = [d["optim.lr"] for d in draws]
    assert 1e-5 <= min(lr) and max(lr) <= 1e-2
    assert sum(x < 1e-4 for x in lr) > 40  # log-uniform: a third of the draws below 1e-4
    assert all(isinstance(d["model.channels"], int) and 16 <= d["model.channels"] <= 64 for d in draws)
    assert {round(d["model.dropout"] * 10, 9) % 1 for d in draws} == {0.0}
    assert all(0.9 <= d["optim.lr_decay"] <= 1.0 for d in draws)
    assert {d["data.downsample"] for d in draws} == {1, 2}


def test_command_macros_are_filled_as_the_wandb_agent_does():
    spec = parse_sweep(_sweep(program="train.py", command=["${env}", "${interpreter}", "${program}", "${args}",
                                                          "x=${envvar:POSEACT_TEST_VAR}", "${args_no_hyphens}"]))
    os.environ["POSEACT_TEST_VAR"] = "7"
    try:
        cmd = build_command(spec, {"model.filter_widths": [3, 3], "seed": 1}, interpreter="py")
    finally:
        del os.environ["POSEACT_TEST_VAR"]
    assert cmd == ["py", "train.py", "--model.filter_widths=[3, 3]", "--seed=1", "x=7",
                   "model.filter_widths=[3, 3]", "seed=1"]
    with pytest.raises(SweepError, match="unknown macro"):
        build_command(parse_sweep(_sweep(command=["${interpreter}", "${nonsense}"])), {})


def test_wandb_online_formats_parse_to_the_same_config():
    """Online, W&B passes a nested group as one dict argument; offline the runner passes dot keys."""
    from poseact.run.config import load_config

    online = load_config(DEMO, [f"optim={ {'lr': 0.002, 'lr_decay': 0.9} }", "data.sampling={'mode': 'cycled'}"])
    offline = load_config(DEMO, ["optim.lr=0.002", "optim.lr_decay=0.9", "data.sampling.mode=cycled"])
    assert online == offline


@pytest.mark.parametrize("patch, match", [
    ({"method": "hillclimb"}, "method must be one of grid, random, bayes"),
    ({"parameters": {"seed": {"values": []}}}, "parameters.seed: 'values' is an empty list"),
    ({"parameters": {"optim.lr": {"min": 0.1, "max": 0.01}}}, "min 0.1 > max 0.01"),
    ({"parameters": {"optim.lr": {"distribution": "normal", "mu": 0, "sigma": 1}}}, "not sampled by poseact"),
    ({"parameters": {"optim.lr": {"min": "1e-4", "max": 0.1}}}, "write 1.0e-4"),
    ({"method": "random", "parameters": {"optim.lr": {"min": 0.1, "max": 0.2}}, "run_cap": 0}, "run_cap"),
    ({"parameters": {"optim.lr": {"min": 0.1, "max": 0.2}}}, "grid needs 'values'"),
    ({"early_terminate": {"type": "median"}}, "early_terminate.type must be 'hyperband'"),
    ({"metric": {"name": "val/p1", "goal": "lowest"}}, "goal must be minimize or maximize"),
    ({"paramters": {}}, "unknown top-level key"),
])
def test_bad_sweeps_are_refused_when_read(patch, match):
    with pytest.raises(SweepError, match=match):
        parse_sweep(_sweep(**patch), "bad.yaml")


@pytest.mark.parametrize("params, match", [
    ({"optim.learning_rate": {"values": [0.1]}}, r"parameters.optim.learning_rate .*learning_rate"),
    ({"budget.amount": {"values": [1000, 0]}}, "budget.amount must be positive"),
    ({"data.sampling.actions": {"values": [["Walking"], ["Jumping"]]}}, "'Jumping' matches no action"),
    ({"data.actions": {"values": [["Sit"]]}, "model.dropout": {"values": [1.5]}}, "model.dropout"),
    ({"model.filter_widths": {"values": [[3, 4]]}}, "filter_widths"),
])
def test_bad_values_are_refused_before_any_trial(projected_store, tmp_path, params, match):
    command = _tiny_command(projected_store, 1)
    if "budget.amount" in params:  # a budget and trainer.max_epochs in one command line are refused as such
        command = [c for c in command if not c.startswith("trainer.max_epochs=")]
    spec = load_sweep(_write(tmp_path, _sweep(command=command, parameters=params)))
    with pytest.raises(SweepError, match=match) as e:
        validate_sweep(spec)
    assert "sweep.yaml" in str(e.value)  # the message names the file


def test_shipped_sweeps_validate_and_name_logged_metrics():
    from poseact.lifting import module

    source = Path(module.__file__).read_text()
    for path in sorted((REPO / "sweeps").glob("*.yaml")):
        spec = load_sweep(path)
        cwd = os.getcwd()
        os.chdir(REPO)
        try:
            text = dry_run(spec, limit=2)
        finally:
            os.chdir(cwd)
        assert f"sweep {spec.name}" in text and "poseact fit configs/experiment/" in text
        assert spec.metric.name.split("/")[0] in ("val", "test") and "{stage}/{name}" in source
        assert spec.command[-1] == "${args_no_hyphens}"
        # online, each W&B run needs its own folder, or it would resume the previous run's checkpoint
        assert any(c.startswith("output_dir=") and "WANDB_RUN_ID" in c for c in spec.command), path


def test_wandb_hyperband_rule_matches_the_wandb_engine_example():
    """The example in W&B's sweeps.hyperband_stopping docstring: bands [1, 2], eta 2 -> b and c stop."""
    hb = WandbHyperband(parse_sweep(_sweep(early_terminate={"type": "hyperband", "max_iter": 5, "eta": 2, "s": 2}))
                        .hyperband, "minimize")
    assert hb.bands == [1, 2]
    runs = {"a": ([10, 9], "COMPLETE"), "b": ([10, 10], "RUNNING"), "c": ([10, 8, 8], "RUNNING"),
            "d": ([10, 7, 7], "RUNNING"), "e": ([10, 6, 6], "COMPLETE")}
    study = optuna.create_study()
    for hist, state in runs.values():
        study.add_trial(optuna.trial.create_trial(
            state=getattr(optuna.trial.TrialState, state), value=hist[-1] if state == "COMPLETE" else None,
            intermediate_values=dict(enumerate(hist))))
    stopped = {name for name, t in zip(runs, study.trials) if t.state.name == "RUNNING" and hb.prune(study, t)}
    assert stopped == {"b", "c"}
    assert Hyperband([3, 9], 3.0).bands == parse_sweep(_sweep(
        early_terminate={"type": "hyperband", "min_iter": 3})).hyperband.bands[:2]


# -- real offline sweeps --------------------------------------------------------------------------

def _rows(out: Path) -> list[dict]:
    with open(out / "results.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_offline_sweep_prunes_a_bad_trial_and_reports(projected_store, tmp_path):
    """Trial 0 learns; trial 1 (lr 1e-7) is worse at band 1 and is stopped there by hyperband.

    Small batches make each epoch outlast the coordinator's poll, so it sees epochs one by one
    (as a real sweep does) instead of the whole run at once."""
    from poseact.sweep import run_sweep

    epochs = 6
    path = _write(tmp_path, _sweep(name="tiny", parameters={"optim.lr": {"values": [2e-3, 1e-7]}},
                                   early_terminate={"type": "hyperband", "min_iter": 1, "eta": 3},
                                   command=_tiny_command(projected_store, epochs, batch_size=8)))
    out = tmp_path / "out"
    paths = run_sweep(path, output=out, poll_s=0.3, kill_grace_s=5)
    rows = _rows(out)
    assert [r["state"] for r in rows] == ["complete", "pruned"]
    assert int(rows[0]["epochs"]) == epochs and int(rows[1]["epochs"]) < epochs
    assert float(rows[1]["val/p1"]) > float(rows[0]["val/p1"])
    assert not (out / "trials/0001/results/summary.json").exists()  # it never reached the final test
    assert float(rows[0]["p1"]) > 0 and list((out / "trials/0000/wandb").glob("offline-run-*"))
    md = paths["md"].read_text()
    assert "| 0 | complete | 0.002 |" in md and "pruned" in md
    assert paths["png"].stat().st_size > 10_000


def _wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.slow
def test_killed_sweep_resumes_without_rerunning_finished_trials(projected_store, tmp_path):
    from poseact.sweep import run_sweep

    path = _write(tmp_path, _sweep(name="resumable", parameters={"seed": {"values": [0, 1]}},
                                   command=_tiny_command(projected_store, 1)))
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    sweep = subprocess.Popen([sys.executable, "-m", "poseact", "sweep", str(path), "--output", str(out)],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: (out / "trials/0000/results/summary.json").exists()
                  and (out / "trials/0001/config.yaml").exists(), 240, "trial 0 to finish and trial 1 to start")
    finally:
        sweep.send_signal(signal.SIGKILL)  # an unclean stop: trial 1's fit is orphaned mid-run
        sweep.wait()
    done_before = (out / "trials/0000/results/summary.json").stat().st_mtime
    run_sweep(path, output=out, poll_s=0.3, kill_grace_s=5)
    study = optuna.load_study(study_name="resumable", storage=f"sqlite:///{out / 'study.db'}")
    states = [(t.number, t.state.name, t.user_attrs["params"]["seed"]) for t in study.trials]
    complete = sorted(seed for _, s, seed in states if s == "COMPLETE")
    assert complete == [0, 1], states  # every grid point once
    assert ("FAIL" in {s for _, s, _ in states}), states  # the interrupted attempt, re-queued
    assert (out / "trials/0000/results/summary.json").stat().st_mtime == done_before
    assert (out / "logs/0000.log").read_text().count("$ ") == 1  # trial 0 ran once
    assert [r["state"] for r in _rows(out)] == ["complete"] * 2
    retried = [t for t in study.trials if t.user_attrs.get("retry_of") == 1]
    assert len(retried) == 1 and retried[0].user_attrs["output_dir"] == str(out / "trials/0001")


def test_a_trial_starts_its_own_wandb_service(projected_store, tmp_path, monkeypatch):
    """A process that has used W&B exports its service's address (WANDB_SERVICE); a trial inheriting
    it shares that service, so a killed trial's run id stays held there and its re-run is refused.
    Here the inherited address leads nowhere: the trial completes only if it starts its own."""
    from poseact.sweep import run_sweep

    monkeypatch.setenv("WANDB_SERVICE", "2-999999-unix-/nonexistent/wandb-service.sock")
    path = _write(tmp_path, _sweep(name="own-service", parameters={"seed": {"values": [0]}},
                                   command=_tiny_command(projected_store, 1)))
    out = tmp_path / "out"
    run_sweep(path, output=out, poll_s=0.3)
    study = optuna.load_study(study_name="own-service", storage=f"sqlite:///{out / 'study.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"], (out / "logs/0000.log").read_text()[-2000:]
    assert list((out / "trials/0000/wandb").glob("offline-run-*"))


@pytest.mark.slow
@pytest.mark.ddp
def test_two_node_ddp_launch_from_torchrun_environment(projected_store, tmp_path):
    """Two processes as two 'nodes' of one GPU-less device each, wired by the variables torchrun
    or SLURM would set: Lightning forms one gloo group of world size 2."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in (0, 1):
        env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2",
               "NODE_RANK": str(rank), "RANK": str(rank), "LOCAL_RANK": "0", "WANDB_MODE": "disabled",
               "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, "-m", "poseact", "fit", DEMO, f"data.store={projected_store}",
               f"output_dir={tmp_path / 'run'}", "data.subjects_train=[S1]", "data.subjects_test=[S9]",
               "model.channels=16", "data.batch_frames=64", "trainer.max_epochs=1", "logger.wandb=false",
               "trainer.enable_progress_bar=false", "trainer.accelerator=cpu", "trainer.devices=1",
               "trainer.num_nodes=2", "trainer.strategy=ddp"]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs[0][-2000:] + logs[1][-2000:]
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in logs[0] and "GLOBAL_RANK: 1, MEMBER: 2/2" in logs[1]
    with open(tmp_path / "run/results/test_per_action.csv") as f:
        rows = {r["action"]: r for r in csv.DictReader(f)}
    assert int(rows["frame-wise average"]["sequences"]) == 8  # S9: 2 actions x 4 cameras, each once
    assert math.isfinite(float(rows["frame-wise average"]["p1"]))


def test_cli_reports_a_bad_sweep_in_one_line(tmp_path, capsys):
    from poseact.cli import main

    path = _write(tmp_path, _sweep(parameters={"model.widths": {"values": [1]}}))
    assert main(["sweep", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("poseact: error: sweep ") and "model.widths" in err and len(err.splitlines()) == 1
