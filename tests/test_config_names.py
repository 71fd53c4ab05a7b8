"""One meaning per config name across the families: a batch says what it counts (``data.batch_frames``
output frames for lifting, ``data.batch_clips`` clips for multitask), the optimiser is ``optim.*`` in
both; the previous release's spellings still load, with one deprecation line each."""

from __future__ import annotations

import logging

import pytest
import yaml

from conftest import REPO
from poseact.errors import ConfigError
from poseact.run.config import load_config, to_yaml

DEMO = REPO / "configs/experiment/demo.yaml"
MT_TINY = REPO / "configs/experiment/multitask_tiny.yaml"


def _deprecations(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]


@pytest.fixture(autouse=True)
def fresh_warnings():
    from poseact.lifting import models
    from poseact.multitask import config

    models._warned.clear()
    config._warned.clear()


def test_batches_say_what_they_count():
    lifting, multitask = load_config(DEMO), load_config(MT_TINY)
    assert lifting.data.batch_frames == 1024 and multitask.data.batch_clips == 2
    assert not hasattr(lifting.data, "batch_clips") and not hasattr(multitask.data, "batch_frames")
    assert lifting.optim.lr == 1e-3 and multitask.optim.lr == 1e-3 and multitask.optim.optimizer == "rmsprop"
    saved = yaml.safe_load(to_yaml(multitask))
    assert saved["data"]["batch_clips"] == 2 and saved["data"]["batch_size"] is None
    assert saved["optim"]["lr"] == 1e-3 and saved["train"]["lr"] is None


def test_old_spellings_load_with_one_deprecation_line_each(caplog):
    with caplog.at_level(logging.WARNING, logger="poseact"):
        lifting = load_config(DEMO, ["data.batch_size=64"])
        load_config(DEMO, ["data.batch_size=64"])  # once per process
        multitask = load_config(MT_TINY, ["data.batch_size=3", "train.lr=0.01", "train.optimizer=adam",
                                          "train.lr_milestones=[2]"])
    assert lifting.data.batch_frames == 64 and lifting.data.batch_size is None
    assert multitask.data.batch_clips == 3 and multitask.optim.lr == 0.01 and multitask.optim.optimizer == "adam"
    assert multitask.optim.lr_milestones == [2] and multitask.train.lr is None
    lines = _deprecations(caplog)
    assert len(lines) == 5 and all(len(line.splitlines()) == 1 for line in lines)
    assert lines[0].startswith("data.batch_size is deprecated, use data.batch_frames")
    assert "train.lr is deprecated, use optim.lr; it will be an error in the next release" in lines


def test_an_error_names_the_key_as_the_user_wrote_it():
    with pytest.raises(ConfigError, match=r"^optim.lr \(given as train.lr\) must be positive"):
        load_config(MT_TINY, ["train.lr=0"])
    with pytest.raises(ConfigError, match=r"^optim.lr must be positive"):
        load_config(MT_TINY, ["optim.lr=0"])
    with pytest.raises(ConfigError, match=r"^data.batch_frames must be positive"):
        load_config(DEMO, ["data.batch_frames=0"])


def test_shipped_configs_use_todays_names(caplog):
    with caplog.at_level(logging.WARNING, logger="poseact"):
        for path in sorted((REPO / "configs/experiment").glob("*.yaml")):
            load_config(path)
    assert _deprecations(caplog) == []


def test_multitask_optimiser_and_budget_read_the_new_keys(multitask_cache):
    from poseact.multitask.family import FAMILY
    from poseact.multitask.module import MultitaskModule

    cfg = load_config(MT_TINY, ["optim.optimizer=adam", "optim.lr=0.005", "optim.lr_milestones=[1]",
                                "data.batch_clips=3", f"data.synthetic.cache_dir={multitask_cache}"])
    opts, scheds = MultitaskModule(cfg).configure_optimizers()
    assert all(type(o).__name__ == "Adam" and o.param_groups[0]["lr"] == 0.005 for o in opts)
    assert list(scheds[0].milestones) == [1]
    assert FAMILY.planned_budget(cfg, None, 1) == {"unit": "epochs", "amount": 1.0, "samples": 12, "steps": 4,
                                                   "sample": "clip (pose pseudo-clips and action clips each count)"}


def test_a_lifting_batch_error_names_the_spelling_used():
    with pytest.raises(ConfigError, match=r"^data.batch_frames \(given as data.batch_size\) must be positive"):
        load_config(DEMO, ["data.batch_size=0"])
