"""Configs: composition from defaults, overrides, and errors that name the key and the file."""


import pytest

from conftest import REPO
from poseact.run.config import ConfigError, load_config


def test_demo_config_composes_defaults_and_overrides():
    cfg = load_config(REPO / "configs/experiment/demo.yaml", ["optim.lr=0.002", "data.subjects_test=[S9]"])
    assert cfg.name == "demo" and cfg.output_dir == "outputs/demo"
    assert cfg.model.filter_widths == [3, 3, 3] and cfg.model.channels == 256  # lifter27 + the demo's own
    assert cfg.optim.lr == 0.002 and cfg.data.subjects_test == ["S9"]
    assert cfg.optim.amsgrad and cfg.data.batch_frames == 1024 and cfg.model.dropout == 0.25  # reference defaults


@pytest.mark.parametrize("path", sorted((REPO / "configs/experiment").glob("*.yaml")), ids=lambda p: p.name)
def test_every_experiment_config_loads(path):
    cfg = load_config(path)
    assert cfg.name == path.stem


def test_unknown_key_in_file_names_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  chanels: 12\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*model\.chanels.*Did you mean"):
        load_config(bad)


def test_unknown_key_on_command_line():
    with pytest.raises(ConfigError, match="optim.learning_rate"):
        load_config(None, ["optim.learning_rate=1"])


def test_wrong_type_names_key(tmp_path):
    with pytest.raises(ConfigError, match="model.channels"):
        load_config(None, ["model.channels=wide"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  subjects_train: S1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*data\.subjects_train"):
        load_config(bad)


@pytest.mark.parametrize("override,key", [
    ("model.filter_widths=[3,4,3]", "model.filter_widths"),
    ("data.subjects_train=[]", "data.subjects_train"),
    ("data.actions=[]", "data.actions"),
    ("data.subset=0", "data.subset"),
    ("logger.wandb_mode=sometimes", "logger.wandb_mode"),
    ("eval.val_metrics=[p2]", "eval.val_metrics"),  # p1 is what checkpoints follow
    ("eval.val_metrics=[]", "eval.val_metrics"),
    ("eval.val_metrics=[p1,p3]", "eval.val_metrics"),
])
def test_semantic_checks(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [override])


def test_missing_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.yaml")
    inc = tmp_path / "configs" / "x.yaml"
    inc.parent.mkdir()
    inc.write_text("defaults: [missing/part.yaml]\n")
    with pytest.raises(ConfigError, match=r"missing/part\.yaml.*not found"):
        load_config(inc)


def test_malformed_override():
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["model.channels"])


def test_unparseable_override_value_is_a_config_error():
    """An unclosed YAML list used to escape as yaml's ParserError (a traceback, exit 1)."""
    with pytest.raises(ConfigError, match="cannot be parsed"):
        load_config(None, ["model.channels=[1,"])


def test_unknown_task_is_named():
    with pytest.raises(ConfigError, match="task 'dancing' is unknown"):
        load_config(None, ["task=dancing"])
