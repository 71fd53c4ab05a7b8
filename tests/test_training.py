"""Real training on a tiny synthetic store: the lifter learns, and a killed run resumes exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from poseact.run.config import load_config

SMALL = ["model.channels=64", "data.batch_frames=256", "logger.wandb=false", "trainer.enable_progress_bar=false",
         "data.subjects_train=[S1,S5]", "data.subjects_test=[S9]"]


def _cfg(store: Path, out: Path, *extra: str):
    return load_config(REPO / "configs/experiment/demo.yaml",
                       [f"data.store={store}", f"output_dir={out}", *SMALL, *extra])


@pytest.mark.slow
def test_27_frame_lifter_learns(tiny_synthetic, tmp_path):
    import pytorch_lightning as pl

    from poseact.run import commands
    from poseact.run.registry import family

    cfg = _cfg(tiny_synthetic, tmp_path / "run", "trainer.max_epochs=6")
    # the untrained network's error, measured by the same evaluation code
    task, dm = family("lifting").build(cfg, "test")
    pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False).test(task, datamodule=dm, verbose=False)
    untrained = task.last_results.action_wise()["p1"] * 1000
    final = commands.fit(cfg)
    assert final["p1"] < 0.5 * untrained, (final, untrained)
    assert final["p2"] < final["p1"] and final["n_mpjpe"] <= final["p1"] + 1e-6
    table = (tmp_path / "run/results/test_per_action.md").read_text()
    assert "action-wise average" in table and "frame-wise average" in table
    assert (tmp_path / "run/checkpoints/last.ckpt").exists()
    import csv

    with open(tmp_path / "run/csv/version_0/metrics.csv") as f:
        columns = set(next(csv.reader(f)))
    # per-epoch validation: P1 alone (eval.val_metrics' default); the final evaluation: all four
    assert "val/p1" in columns and not {"val/p2", "val/n_mpjpe", "val/mpjve"} & columns
    assert {"test/p1", "test/p2", "test/n_mpjpe", "test/mpjve"} <= columns


def _fit_command(store: Path, out: Path, epochs: int) -> list[str]:
    return [sys.executable, "-m", "poseact", "fit", str(REPO / "configs/experiment/demo.yaml"),
            f"data.store={store}", f"output_dir={out}", f"trainer.max_epochs={epochs}", *SMALL]


def _steps_per_epoch(out: Path) -> int:
    import csv

    with open(out / "csv/version_0/metrics.csv") as f:
        steps = {int(row["step"]) for row in csv.DictReader(f) if row.get("epoch") == "0"}
    return max(steps) + 1


def _final_metrics(out: Path) -> dict:
    import csv

    with open(out / "results/test_per_action.csv") as f:
        return {row["action"]: row for row in csv.DictReader(f)}


@pytest.mark.slow
def test_killed_run_resumes_to_identical_metrics(tiny_synthetic, tmp_path):
    store = tiny_synthetic
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    epochs = 4
    straight = tmp_path / "straight"
    subprocess.run(_fit_command(store, straight, epochs), check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    steps_per_epoch = _steps_per_epoch(straight)
    die = subprocess.run([sys.executable, str(REPO / "tests/helpers/fit_then_die.py"),
                          str(steps_per_epoch + steps_per_epoch // 2), *_fit_command(store, killed, epochs)[4:]],
                         env=env, capture_output=True)
    assert die.returncode == -signal.SIGKILL, die.stderr[-2000:]
    assert (killed / "checkpoints/last.ckpt").exists() and not (killed / "results").exists()

    resumed = subprocess.run(_fit_command(store, killed, epochs), check=True, env=env,
                             capture_output=True, text=True)
    assert "resuming from" in resumed.stderr
    # the interrupted attempt's metrics are kept beside the resumed attempt's
    assert (killed / "csv/version_0/metrics.csv").exists() and (killed / "csv/version_1/metrics.csv").exists()
    a, b = _final_metrics(straight), _final_metrics(killed)
    assert a.keys() == b.keys()
    for action in a:
        for metric in ("p1", "p2", "n_mpjpe", "mpjve"):
            assert float(a[action][metric]) == pytest.approx(float(b[action][metric]), rel=1e-5, abs=1e-4), (action, metric)
