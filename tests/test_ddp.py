"""Real DDP on CPU: two gloo processes train, shard the evaluation and agree on the metrics."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.slow
@pytest.mark.ddp
def test_two_process_ddp_fit_gathers_every_test_sequence(projected_store, tmp_path):
    # strategy=ddp re-executes the command in the second process: run it as a subprocess
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "poseact", "fit", str(REPO / "configs/experiment/demo.yaml"),
           f"data.store={projected_store}", f"output_dir={out}", "data.subjects_train=[S1]",
           "data.subjects_test=[S9]", "model.channels=32", "data.batch_frames=64", "trainer.max_epochs=2",
           "logger.wandb=false", "trainer.enable_progress_bar=false",
           "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"]
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    log = run.stdout + run.stderr
    assert "MEMBER: 2/2" in log and "distributed_backend=gloo" in log, log[-2000:]
    with open(out / "results/test_per_action.csv") as f:
        rows = {r["action"]: r for r in csv.DictReader(f)}
    # S9: 2 actions x 4 cameras x 60 frames / downsample 2 — every sequence evaluated once
    assert int(rows["frame-wise average"]["frames"]) == 2 * 4 * 30
    assert int(rows["frame-wise average"]["sequences"]) == 8
