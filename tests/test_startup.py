"""What ``poseact fit`` does before its first step: W&B's imports come before torch when the run logs to W&B."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from poseact.run.trainer import wandb_wanted

DEMO = "configs/experiment/demo.yaml"


@pytest.mark.parametrize("env, overrides, wanted", [
    ("offline", [], True),  # the demo's defaults: logger/wandb_offline.yaml
    ("offline", ["logger.wandb=false"], False),
    ("offline", ["logger.wandb_mode=disabled"], False),
    ("disabled", [], False),  # WANDB_MODE=disabled with the default wandb_mode=auto
    ("offline", ["logger.wandb_mode=online"], True),
])
def test_wandb_wanted_reads_the_logger_keys(monkeypatch, env, overrides, wanted):
    monkeypatch.setenv("WANDB_MODE", env)
    assert wandb_wanted(DEMO, overrides) is wanted


def test_wandb_wanted_of_a_config_without_wandb_and_of_an_unreadable_one(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert wandb_wanted("configs/experiment/multitask_tiny.yaml", []) is False  # logger.wandb: false in the file
    bad = tmp_path / "bad.yaml"
    bad.write_text("logger: [unclosed\n")
    assert wandb_wanted(str(bad), []) is False  # a guess only: the real load reports the error
    assert wandb_wanted(str(tmp_path / "missing.yaml"), []) is False


def test_preload_imports_wandb_before_torch():
    code = textwrap.dedent("""
        import sys
        from poseact.run.trainer import preload_wandb
        preload_wandb()
        print('wandb' in sys.modules, 'torch' in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False"]
