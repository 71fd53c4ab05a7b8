"""Each lifter architecture declares itself (name, config section, seq2seq-ness, architecture keys,
export form) and is registered once: a third one is one module plus one registration, and configs of
one architecture no longer carry another's keys. Old flat model sections (run folders' config.yaml,
checkpoints' hyper-parameters) keep loading."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, fields

import numpy as np
import pytest
import torch
import yaml

from conftest import REPO
from helpers.previous_release import write_previous_release_checkpoint
from helpers.toy_lifter import ToyConfig, ToyLifter
from poseact.cli import main
from poseact.errors import ConfigError
from poseact.lifting import models
from poseact.lifting.models import LEGACY_MODEL_DEFAULTS, MixSTE, MixSTEConfig, TemporalConfig, TemporalLifter
from poseact.run.config import load_config, to_yaml

DEMO = REPO / "configs/experiment/demo.yaml"
MIXSTE = REPO / "configs/experiment/mixste_synthetic.yaml"
QUIET = ["logger.wandb=false", "trainer.enable_progress_bar=false"]


def _keys(section) -> set[str]:
    return {f.name for f in fields(section)}


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setattr(models, "LIFTERS", dict(models.LIFTERS))
    models.register_lifter(ToyLifter)
    return ToyLifter


# -- sections of their own --------------------------------------------------------------------------

def test_each_architecture_has_its_own_config_section():
    temporal, mixste = load_config(DEMO).model, load_config(MIXSTE).model
    assert type(temporal) is TemporalConfig and type(mixste) is MixSTEConfig
    assert not _keys(temporal) & {"depth", "width", "heads", "frames", "mlp_ratio", "drop_path", "train_stride"}
    assert not _keys(mixste) & {"filter_widths", "channels", "dense", "dropout"}
    saved = yaml.safe_load(to_yaml(load_config(DEMO)))["model"]
    assert set(saved) == {"name", "trajectory", "filter_widths", "channels", "dropout", "causal", "dense"}


def test_architecture_declarations_are_read_not_repeated():
    assert TemporalLifter.architecture_keys() == ("name", "filter_widths", "channels", "causal", "dense")
    assert MixSTE.architecture_keys() == ("name", "frames", "depth", "width", "heads", "mlp_ratio")
    assert MixSTE.seq2seq and not TemporalLifter.seq2seq
    from poseact.lifting.family import architecture_keys

    assert architecture_keys({"name": "mixste"}) == MixSTE.architecture_keys()
    # a key a new lifter forgets to declare free is compared, never silently skipped
    assert "hidden" in ToyLifter.architecture_keys() and "dropout" not in ToyLifter.architecture_keys()


def test_seq2seq_comes_from_the_class():
    """The temporal losses need several output frames: the lifter class says whether it has them."""
    with pytest.raises(ConfigError, match="loss.weight_temporal.*seq2seq"):
        load_config(DEMO, ["loss.weight_temporal=0.5"])
    assert load_config(MIXSTE, ["loss.weight_temporal=0.5"]).loss.weight_temporal == 0.5


def test_keys_of_a_section_are_checked_with_one_line_errors(toy_registered):
    with pytest.raises(ConfigError, match=r"^override 'model.widths=3': key 'model.widths' is not a key of any "
                                          r"lifter's model section. Did you mean model.width\?"):
        load_config(DEMO, ["model.widths=3"])
    with pytest.raises(ConfigError, match=r"^model.hidden is not a key of model.name=temporal \(its keys: causal, "):
        load_config(DEMO, ["model.hidden=3"])  # another lifter's key
    with pytest.raises(ConfigError, match=r"^model.channels: .*abc"):
        load_config(DEMO, ["model.channels=abc"])
    with pytest.raises(ConfigError, match=r"^model.name must be one of \['mixste', 'temporal', 'toy'\], got 'lstm'"):
        load_config(DEMO, ["model.name=lstm"])
    with pytest.raises(ConfigError, match=r"^model.causal is not available for model.name=mixste"):
        load_config(MIXSTE, ["model.causal=true"])
    with pytest.raises(ConfigError, match=r"^model.filter_widths must be odd"):
        load_config(DEMO, ["model.filter_widths=[2,3]"])


def test_a_key_no_lifter_has_is_refused_naming_its_file():
    """Checked per config file before merging (the run layer calls the family's check_part)."""
    from omegaconf import OmegaConf

    from poseact.lifting.family import FAMILY

    with pytest.raises(ConfigError, match=r"^config file 'bad.yaml': key 'model.chanels' .*Did you mean model.channels\?"):
        FAMILY.check_part(OmegaConf.create({"model": {"chanels": 12}}), "config file 'bad.yaml'")
    FAMILY.check_part(OmegaConf.create({"model": {"depth": 2}, "data": {}}), "x")  # some lifter's key: later
    with pytest.raises(ConfigError, match=r"^override 'model.chanels=2': .*Did you mean model.channels\?"):
        load_config(DEMO, ["model.chanels=2"])


def test_old_flat_keys_load_with_one_deprecation_line(caplog):
    """A previous release's run folder holds every flat key in its config.yaml: it loads; a key set to
    something other than its old default, but of another architecture, is one warning line."""
    flat = dict(LEGACY_MODEL_DEFAULTS, name="mixste", frames=27, depth=2, width=64, heads=4)
    cfg = load_config(MIXSTE, [f"model={json.dumps(flat)}".replace('"', "")])
    assert cfg.model == MixSTEConfig(frames=27, depth=2, width=64, heads=4)  # nothing said: defaults are quiet
    models._warned.clear()
    with caplog.at_level(logging.WARNING, logger="poseact"):
        cfg = load_config(DEMO, ["model.name=mixste", "model.frames=9"])
    lines = [r.getMessage() for r in caplog.records if "not a key" in r.getMessage()]
    assert lines == ["model: channels=256 is not a key of model.name=mixste; ignored "
                     "(deprecated: an error in the next release)"]
    assert cfg.model == MixSTEConfig(frames=9)


def test_a_previous_release_run_config_loads(caplog):
    """Its config.yaml holds the whole flat section (and the MixSTE run MixSTE's dropout: 0.0)."""
    models._warned.clear()
    folder = REPO / "tests/data/previous_release"
    with caplog.at_level(logging.WARNING, logger="poseact"):
        temporal = load_config(folder / "temporal.yaml").model
        mixste = load_config(folder / "mixste.yaml").model
    assert temporal == TemporalConfig(channels=8, trajectory=True)
    assert mixste == MixSTEConfig(frames=9, depth=1, width=8, heads=2, train_stride=9)
    assert load_config(folder / "temporal.yaml").data.batch_frames == 64  # its data.batch_size, renamed
    assert [r.getMessage().split(";")[0] for r in caplog.records] == [
        "data.batch_size is deprecated, use data.batch_frames (output frames per step",
        "model: dropout=0.0 is not a key of model.name=mixste"]


def test_the_flat_model_config_class_still_builds_sections():
    with pytest.deprecated_call():
        from poseact.lifting.config import ModelConfig

        section = ModelConfig(name="mixste", frames=9, depth=2, width=16, heads=2)
    assert section == MixSTEConfig(frames=9, depth=2, width=16, heads=2)


def test_a_checkpoint_with_a_flat_model_section_builds(tmp_path, projected_store):
    """Checkpoints of the previous release saved the whole flat section: the reader keeps its
    architecture's keys (files in that release's format: tests/helpers/previous_release.py)."""
    from poseact.lifting.checkpoint import read_lifter_checkpoint

    paths = [write_previous_release_checkpoint(tmp_path, name) for name in ("mixste", "temporal")]
    for path in paths:
        ckpt = read_lifter_checkpoint(path)
        assert set(LEGACY_MODEL_DEFAULTS) <= set(ckpt.model)  # the flat section, as saved
        pose, traj = ckpt.build()
        assert type(pose).name == ckpt.model["name"]
        x = torch.rand(1, pose.receptive_field + 2, 17, 2) * 2 - 1
        assert pose(x).shape[-2:] == (17, 3)


# -- a third lifter: one module, one registration -----------------------------------------------------

def test_a_third_lifter_is_one_module_and_one_registration(toy_registered, session_store, tmp_path, capsys):
    """The toy lifter (tests/helpers/toy_lifter.py) is fitted, resumed, refused another architecture,
    tested, predicted and exported by the real run layer, and lifts through the Python API."""
    config = tmp_path / "toy.yaml"
    config.write_text("task: lifting\nname: toy\nmodel:\n  name: toy\n  hidden: 8\n")
    out = tmp_path / "run"
    common = [f"data.store={session_store}", f"output_dir={out}", "data.subjects_train=[S1]",
              "data.subjects_test=[S9]", "data.batch_frames=64", *QUIET]
    cfg = load_config(config, common)
    assert cfg.model == ToyConfig(hidden=8)
    with pytest.raises(ConfigError, match="model.hidden must be >= 1"):
        load_config(config, [*common, "model.hidden=0"])

    assert main(["fit", str(config), *common, "trainer.max_epochs=2"]) == 0
    assert yaml.safe_load((out / "config.yaml").read_text())["model"] == asdict(ToyConfig(hidden=8))
    ckpt = torch.load(out / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["hyper_parameters"]["model"]["name"] == "toy"
    metrics = (out / "csv/version_0/metrics.csv").read_text().splitlines()
    header = metrics[0].split(",")
    losses = [float(r.split(",")[header.index("train/loss_3d_epoch")]) for r in metrics[1:]
              if r.split(",")[header.index("train/loss_3d_epoch")]]
    assert len(losses) == 2 and losses[1] < losses[0]  # it learns

    assert main(["fit", str(config), *common, "trainer.max_epochs=3"]) == 0  # resumed
    assert (out / "csv/version_1").is_dir()
    capsys.readouterr()
    assert main(["fit", str(config), *common, "model.hidden=4", "trainer.max_epochs=4"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("poseact: error: output_dir") and "hidden=8" in err and "hidden=4" in err
    assert len(err.splitlines()) == 1

    capsys.readouterr()
    assert main(["test", str(config), *common, f"checkpoint={out / 'checkpoints/last.ckpt'}"]) == 0
    # the table's header says what was evaluated (not the config's subject list alone)
    assert "subjects S9; actions Sitting, Walking; 8 sequences" in capsys.readouterr().out
    summary = json.loads((out / "results/summary.json").read_text())
    assert np.isfinite(summary["p1"])
    predictions = tmp_path / "toy.npz"
    assert main(["predict", str(config), *common, f"checkpoint={out / 'checkpoints/last.ckpt'}",
                 "--out", str(predictions)]) == 0
    with np.load(predictions) as npz:
        assert npz.files and all(npz[k].shape[1:] == (17, 3) for k in npz.files)

    from poseact.lifting.export import read_metadata

    exported = tmp_path / "toy.pt"
    assert main(["export", str(out / "checkpoints/last.ckpt"), str(exported)]) == 0
    meta = read_metadata(exported)
    assert (meta["model"], meta["before"], meta["after"], meta["frames"]) == ("toy", 1, 1, None)
    scripted = torch.jit.load(str(exported))
    assert scripted(torch.rand(2, 10, 17, 2)).shape == (2, 8, 17, 3)

    import poseact

    lifter = poseact.load_lifter(out / "checkpoints/last.ckpt")
    pose, _ = poseact.lift(lifter, np.random.default_rng(0).uniform(0, 500, (12, 17, 2)), image_size=(1000, 1000))
    assert pose.shape == (12, 17, 3) and np.isfinite(pose).all()
