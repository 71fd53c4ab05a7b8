"""Multi-task checkpoints: strict, self-describing, told apart from lifter checkpoints.

A multi-task run's ``.ckpt`` holds the SPNet weights under ``model.`` and, in its hyper-parameters,
the family, the ``model`` section (the network's size: input size, pyramids, ramps, heads) and the
joint layout it predicts — so the network can be rebuilt from the file alone. Checkpoints written
before that are still read with their run's ``config.yaml`` (or a config the caller names).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path

from torch import Tensor

from poseact.errors import CheckpointError, ConfigError, MissingFileError
from poseact.multitask.models.spnet import SPNet, SPNetConfig
from poseact.run.checkpoints import has_weights, lightning_state, load_checkpoint_file, saved_family
from poseact.run.folder import RunFolder

FAMILY = "multitask"
LAYOUT_BY_JOINTS = {17: "h36m17", 16: "mpii16"}


def is_multitask_checkpoint(raw: dict) -> bool:
    family = saved_family(raw)
    return family == FAMILY if family is not None else has_weights(raw, "model.entry.")


def model_config(section) -> SPNetConfig:
    """A ``model`` section (an :class:`SPNetConfig`, another dataclass or a mapping) → SPNetConfig."""
    if isinstance(section, SPNetConfig):
        return section
    if is_dataclass(section):
        section = asdict(section)
    elif not isinstance(section, dict):
        from omegaconf import OmegaConf

        section = OmegaConf.to_container(section)
    known = SPNetConfig.__dataclass_fields__
    return SPNetConfig(**{k: v for k, v in dict(section).items() if k in known})


@dataclass
class MultitaskCheckpoint:
    path: Path
    state: dict[str, Tensor]  # the LightningModule's state dict (``model.`` prefix)
    model: SPNetConfig | None  # None: the file does not describe its network
    layout: str | None
    config_source: str

    @property
    def where(self) -> str:
        return f"checkpoint {str(self.path)!r}"


def read_multitask_checkpoint(path: str | os.PathLike, raw: dict | None = None, what: str = "checkpoint",
                              config: str | os.PathLike | None = None) -> MultitaskCheckpoint:
    """Read a multi-task checkpoint; a lifter checkpoint (or anything else) is refused naming what it is.
    ``config`` (an experiment YAML or run ``config.yaml``) sizes the network when given; else the
    checkpoint's hyper-parameters, else its run's ``config.yaml``."""
    path = Path(path)
    where = f"{what} {str(path)!r}"
    raw = load_checkpoint_file(path, what) if raw is None else raw
    if not is_multitask_checkpoint(raw):
        from poseact.run.registry import not_of_family

        raise not_of_family(raw, path, FAMILY, what)
    state = lightning_state(raw, path)
    hp = raw.get("hyper_parameters") or {}
    layout = hp.get("layout")
    if config is not None:
        return MultitaskCheckpoint(path, state, _config_from_yaml(Path(config), where), layout, str(config))
    if hp.get("model") is not None:
        return MultitaskCheckpoint(path, state, model_config(hp["model"]), layout, f"{path} (hyper-parameters)")
    folder = RunFolder.of_checkpoint(path)
    if folder is not None:
        run_cfg = folder.config_path
        return MultitaskCheckpoint(path, state, _config_from_yaml(run_cfg, where), layout, str(run_cfg))
    return MultitaskCheckpoint(path, state, None, layout, "")


def _config_from_yaml(path: Path, where: str) -> SPNetConfig:
    from poseact.run.config import load_config

    if not path.is_file():
        raise MissingFileError(f"{where}: model config {str(path)!r} not found")
    try:
        cfg = load_config(path)
    except ConfigError as e:
        raise CheckpointError(f"{where}: config {str(path)!r}: {e}") from None
    if getattr(cfg, "task", None) != FAMILY:
        raise CheckpointError(f"{where}: config {str(path)!r} is a {getattr(cfg, 'task', '?')!r} config, "
                              f"not a multitask one")
    return cfg.model


def load_module_state(module, ckpt: MultitaskCheckpoint) -> None:
    """Load the weights strictly into a :class:`~poseact.multitask.module.MultitaskModule`, naming
    every mismatch (another network size, another joint count)."""
    own = module.state_dict()
    missing = sorted(set(own) - set(ckpt.state))
    unexpected = sorted(set(ckpt.state) - set(own))
    wrong = [f"{k}: checkpoint {tuple(ckpt.state[k].shape)} vs model {tuple(own[k].shape)}"
             for k in own if k in ckpt.state and ckpt.state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(f"{ckpt.where} does not fit the configured SPNet (model.*): missing {missing[:4]}, "
                              f"unexpected {unexpected[:4]}, shape mismatches {wrong[:3]}")
    module.load_state_dict(ckpt.state, strict=True)


def build_spnet(ckpt: MultitaskCheckpoint) -> tuple[SPNet, str]:
    """The eval-mode network of a checkpoint and the joint layout it predicts."""
    if ckpt.model is None:
        raise CheckpointError(f"{ckpt.where}: holds no model configuration and lies outside its run folder "
                              f"(no config.yaml beside its checkpoints/); pass the experiment "
                              f"YAML it was trained with, or its run's config.yaml (infer/detect: --keypoint-config)")
    try:
        model = SPNet(ckpt.model)
    except ValueError as e:
        raise CheckpointError(f"{ckpt.where}: configuration from {ckpt.config_source}: {e}") from None
    state = {k.removeprefix("model."): v for k, v in ckpt.state.items() if k.startswith("model.")}
    own = model.state_dict()
    bad = sorted(set(own) ^ set(state)) + [k for k in own if k in state and own[k].shape != state[k].shape]
    if bad:
        raise CheckpointError(f"{ckpt.where}: its weights do not fit the SPNet configured by {ckpt.config_source} "
                              f"(first mismatches: {bad[:3]})")
    model.load_state_dict(state, strict=True)
    layout = ckpt.layout or LAYOUT_BY_JOINTS.get(ckpt.model.num_joints)
    if layout is None:
        raise CheckpointError(f"{ckpt.where}: predicts {ckpt.model.num_joints} joints; known layouts: "
                              f"{LAYOUT_BY_JOINTS}")
    return model.eval(), layout
