"""The ``multitask`` task is registered: its YAMLs load against its schema and validate."""

from __future__ import annotations

import pytest

from poseact.config import ConfigError, load_config, task_spec
from conftest import REPO

EXP = REPO / "configs" / "experiment"


@pytest.mark.parametrize("name", ["multitask_synthetic.yaml", "multitask_tiny.yaml"])
def test_multitask_configs_load(name):
    from poseact.tasks.multitask_config import MultitaskExperimentConfig

    cfg = load_config(EXP / name)
    assert isinstance(cfg, MultitaskExperimentConfig) and cfg.task == "multitask"
    assert cfg.model.input_size == cfg.data.render_size and cfg.model.action_pyramids
    assert task_spec("multitask").runner == "poseact.multitask_experiment"


def test_multitask_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="train.mode"):
        load_config(EXP / "multitask_tiny.yaml", ["train.mode=both"])
    with pytest.raises(ConfigError, match="input_size"):
        load_config(EXP / "multitask_tiny.yaml", ["model.input_size=48", "data.render_size=48"])
    with pytest.raises(ConfigError, match="data.render_size"):
        load_config(EXP / "multitask_tiny.yaml", ["data.render_size=128"])
