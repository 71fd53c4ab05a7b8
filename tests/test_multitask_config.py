"""The ``multitask`` task is registered: its YAMLs load against its schema and validate."""

from __future__ import annotations

import pytest

from poseact.run.config import ConfigError, load_config
from poseact.run.registry import family
from conftest import REPO

EXP = REPO / "configs" / "experiment"


@pytest.mark.parametrize("name", ["multitask_synthetic.yaml", "multitask_tiny.yaml"])
def test_multitask_configs_load(name):
    from poseact.multitask.config import MultitaskConfig

    cfg = load_config(EXP / name)
    assert isinstance(cfg, MultitaskConfig) and cfg.task == "multitask"
    assert cfg.model.input_size == cfg.data.render_size and cfg.model.action_pyramids
    assert family("multitask").schema is MultitaskConfig


def test_multitask_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="train.mode"):
        load_config(EXP / "multitask_tiny.yaml", ["train.mode=both"])
    with pytest.raises(ConfigError, match="input_size"):
        load_config(EXP / "multitask_tiny.yaml", ["model.input_size=48", "data.render_size=48"])
    with pytest.raises(ConfigError, match="data.render_size"):
        load_config(EXP / "multitask_tiny.yaml", ["data.render_size=128"])


def test_mixing_example_config_composes():
    """The dataset-mixing example (stores of the user's own conversions) loads and validates."""
    cfg = load_config(EXP / "multitask_mpii_h36m_penn.yaml")
    d = cfg.data
    repo = EXP.parents[1]  # relative paths in a config file resolve against the repository (poseact.paths)
    assert [(s.store, s.subjects, s.weight) for s in d.pose_sources] == [
        (str(repo / "data/mpii/mpii_h36m17.h5"), ["train"], 1.0),
        (str(repo / "data/h36m/h36m_frames.h5"), ["S1", "S5", "S6", "S7", "S8"], 1.0)]
    assert (d.action_source.store, d.action_source.subjects) == (str(repo / "data/Penn_Action/penn_h36m17.h5"), ["train"])
    assert (cfg.model.num_joints, cfg.model.dim, cfg.model.num_actions) == (17, 3, [15])
    assert load_config(EXP / "multitask_tiny.yaml").data.pose_sources == []  # unset: data.store as before


def test_mixing_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="Key 'subject' not in 'ActionSourceConfig'"):
        load_config(EXP / "multitask_tiny.yaml", ["data.action_source={store: a.h5, subject: [S1]}"])
    with pytest.raises(ConfigError, match=r"data.pose_sources\[0\].store is missing"):
        load_config(EXP / "multitask_tiny.yaml", ["data.pose_sources=[{subjects: [S1]}]"])
    with pytest.raises(ConfigError, match=r"data.action_source.subjects is empty \(store 'a.h5'\)"):
        load_config(EXP / "multitask_tiny.yaml", ["data.action_source={store: a.h5}"])
