"""Experiment configs: YAML composition, dot-list overrides, the sections every run shares.

A config file is YAML that may start with ``defaults: [lifting/data/synthetic.yaml, lifting/model/lifter27.yaml]``
(paths relative to the ``configs/`` folder that holds it, merged in order, then the file itself,
then command-line ``key=value`` overrides). Its ``task`` names the model family (default
``lifting``), whose schema — a dataclass derived from :class:`RunConfig` — it is checked against:
an unknown key or a wrong type is a :class:`ConfigError` naming the key and the file, and values
are then checked for meaning (:func:`validate_run` for the shared sections, the family's own
``validate`` for the rest).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from poseact.errors import ConfigError
from poseact.paths import PATH_KEYS, find_config

ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
PRECISIONS = ("32-true", "32", "16-mixed", "bf16-mixed", "bf16-true", "16-true", "64-true", "64",
              "transformer-engine")
STRATEGIES = ("auto", "ddp", "ddp_spawn", "ddp_fork", "ddp_notebook", "fsdp", "deepspeed", "single_device")
WANDB_MODES = ("auto", "offline", "online", "disabled")


@dataclass
class TrainerConfig:
    """Lightning ``Trainer`` settings (what every family trains with)."""

    max_epochs: int = 60
    max_time: str | None = None  # stop training after this wall time, "DD:HH:MM:SS" (Lightning's)
    accelerator: str = "auto"
    devices: Any = 1  # a count, a list of device ids, or "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    limit_train_batches: float = 1.0  # a fraction of the epoch (<= 1.0) or a number of batches
    limit_val_batches: float = 1.0
    log_every_n_steps: int = 20
    enable_progress_bar: bool = True
    deterministic: bool = False


@dataclass
class LoggerConfig:
    wandb: bool = True
    wandb_project: str = "poseact"
    wandb_mode: str = "auto"  # auto: online if logged in (`wandb login`), else offline; or offline/online/disabled
    csv: bool = True


@dataclass
class RunConfig:
    """What every experiment has, whatever its model family; families derive their schema from it."""

    task: str = "lifting"  # the model family: see poseact.run.registry
    name: str = "run"
    seed: int = 0
    output_dir: str = "outputs/${name}"
    checkpoint: str | None = None  # weights to start from / evaluate
    resume: bool = True  # continue from output_dir/checkpoints/last.ckpt if it exists
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)


# -------------------------------------------------------------------------------------------------
# composition


def _merge(base: DictConfig, other: Any, where: str) -> DictConfig:
    try:
        return OmegaConf.merge(base, other)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or ""
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"{where}: {'key ' + repr(key) + ': ' if key else ''}{msg}") from None


def _load_yaml(path: Path, stack: tuple[Path, ...] = ()) -> list[tuple[Path, DictConfig]]:
    """The file and its ``defaults`` (recursively), in merge order."""
    if not path.exists():
        raise ConfigError(f"config file {str(path)!r} not found")
    if path.is_dir():
        raise ConfigError(f"config file {str(path)!r} is a folder, not a YAML file")
    if path in stack:
        raise ConfigError(f"config file {str(path)!r} includes itself via defaults")
    try:
        raw = OmegaConf.load(path)
    except Exception as e:  # noqa: BLE001 - YAML syntax errors come in many types
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {first}") from None
    if not isinstance(raw, DictConfig):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping")
    defaults = raw.pop("defaults", [])
    if not isinstance(defaults, (ListConfig, list)):
        raise ConfigError(f"config file {str(path)!r}: 'defaults' must be a list of config paths")
    root = config_root(path)
    out: list[tuple[Path, DictConfig]] = []
    for entry in defaults:
        out += _load_yaml((root / str(entry)).resolve(), stack + (path,))
    _resolve_paths(raw, root.parent if root.name == "configs" else path.parent)
    out.append((path, raw))
    return out


def _resolve_paths(node, base: Path) -> None:
    """Relative values of :data:`~poseact.paths.PATH_KEYS` in a config file's tree (a string, or a
    list of strings) → absolute, against ``base``. Interpolations, ``???``, nulls and blank strings
    are left as they are (an interpolation is resolved later, against the composed config)."""

    def resolved(value):
        if isinstance(value, str) and value.strip() and "${" not in value and value != "???" \
                and not Path(value).expanduser().is_absolute():
            return str((base / Path(value).expanduser()).resolve())
        return value

    if isinstance(node, DictConfig):
        keys = list(node.keys())
    elif isinstance(node, ListConfig):
        keys = list(range(len(node)))
    else:
        return
    for key in keys:
        child = node._get_node(key)
        if child is None or OmegaConf.is_interpolation(node, key) or (
                isinstance(key, str) and OmegaConf.is_missing(node, key)):
            continue
        value = child._value()
        if isinstance(key, str) and key in PATH_KEYS:
            if isinstance(child, ListConfig):
                for i in range(len(child)):
                    if not OmegaConf.is_interpolation(child, i):
                        child[i] = resolved(child._get_node(i)._value())
            elif not isinstance(child, DictConfig):
                node[key] = resolved(value)
                continue
        if isinstance(child, (DictConfig, ListConfig)):
            _resolve_paths(child, base)


def config_root(path: Path) -> Path:
    """The ``configs/`` folder a file lives in (defaults are relative to it)."""
    for parent in path.resolve().parents:
        if parent.name == "configs":
            return parent
    return path.resolve().parent


def load_config(path: str | os.PathLike | None, overrides: Iterable[str] | None = None):
    """Compose defaults, the file and ``key=value`` overrides into the schema of the config's
    ``task``; resolve interpolations; validate. Returns that schema's dataclass instance."""
    from poseact.run.registry import family

    overrides = list(overrides or [])
    parts = _load_yaml(find_config(path).resolve()) if path is not None else []
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. model.channels=256)")
    dotlists = []
    for item in overrides:
        try:
            dotlists.append((f"override {item!r}", OmegaConf.from_dotlist([item])))
        except OmegaConfBaseException as e:
            raise ConfigError(f"override {item!r} cannot be parsed: {str(e).splitlines()[0]}") from None
    task = "lifting"
    for _, part in [*parts, *dotlists]:
        task = str(part.get("task", task))
    fam = family(task)
    cfg = OmegaConf.structured(fam.schema)
    for file, part in parts:
        cfg = _merge(cfg, part, f"config file {str(file)!r}")
    for where, part in dotlists:
        cfg = _merge(cfg, part, where)
    try:
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as e:
        raise ConfigError(f"config interpolation failed: {str(e).splitlines()[0]}") from None
    try:
        obj = OmegaConf.to_object(cfg)
    except (ValueError, TypeError) as e:  # a schema's __post_init__ refusing a value
        raise ConfigError(str(e)) from None
    validate_run(obj)
    fam.validate(obj)
    return obj


def to_yaml(cfg) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def to_dict(cfg) -> dict:
    return OmegaConf.to_container(OmegaConf.structured(cfg))  # type: ignore[return-value]


# -------------------------------------------------------------------------------------------------
# validation


def check(checks: Iterable[tuple[bool, str, str]]) -> None:
    """Raise a :class:`ConfigError` ``"<key> <message>"`` for the first failed ``(ok, key, message)``."""
    for ok, key, msg in checks:
        if not ok:
            raise ConfigError(f"{key} {msg}")


def finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def positive(x: float) -> bool:
    return finite(x) and x > 0


def _devices_ok(devices: Any) -> bool:
    if devices == "auto" or (isinstance(devices, int) and not isinstance(devices, bool) and (devices > 0 or devices == -1)):
        return True
    if isinstance(devices, str):
        ids = [d.strip() for d in devices.split(",") if d.strip()]
        return bool(ids) and all(d.isdigit() for d in ids) or devices.strip() == "-1"
    if isinstance(devices, (list, tuple)):
        return bool(devices) and all(isinstance(d, int) and d >= 0 for d in devices)
    return False


def _duration_ok(text: str) -> bool:
    parts = str(text).split(":")
    return len(parts) == 4 and all(p.isdigit() for p in parts) and any(int(p) for p in parts)


def _limit_ok(limit: float) -> bool:
    """A fraction in (0, 1], or a whole number of batches >= 1."""
    return finite(limit) and (0 < limit <= 1 or (limit >= 1 and float(limit).is_integer()))


def validate_run(cfg: RunConfig) -> None:
    """Meaning of the shared fields: names, seeds, every trainer and logger value."""
    t, lg = cfg.trainer, cfg.logger
    check([
        (bool(str(cfg.name).strip()), "name", "is empty"),
        (bool(str(cfg.output_dir).strip()), "output_dir", "is empty"),
        (0 <= cfg.seed < 2**32, "seed", f"must be in [0, 2**32), got {cfg.seed}"),
        (cfg.checkpoint is None or bool(str(cfg.checkpoint).strip()), "checkpoint", "is empty (use null for none)"),
        (t.max_epochs >= 1, "trainer.max_epochs", f"must be >= 1, got {t.max_epochs}"),
        (t.max_time is None or _duration_ok(t.max_time), "trainer.max_time",
         f"must be DD:HH:MM:SS (e.g. 00:01:30:00), got {t.max_time!r}"),
        (t.accelerator in ACCELERATORS, "trainer.accelerator", f"must be one of {ACCELERATORS}, got {t.accelerator!r}"),
        (_devices_ok(t.devices), "trainer.devices",
         f"must be a positive count, -1, 'auto', or a list of device ids, got {t.devices!r}"),
        (t.num_nodes >= 1, "trainer.num_nodes", f"must be >= 1, got {t.num_nodes}"),
        (t.strategy in STRATEGIES, "trainer.strategy", f"must be one of {STRATEGIES}, got {t.strategy!r}"),
        (str(t.precision) in PRECISIONS, "trainer.precision", f"must be one of {PRECISIONS}, got {t.precision!r}"),
        (_limit_ok(t.limit_train_batches), "trainer.limit_train_batches",
         f"must be a fraction in (0, 1] or a whole number of batches, got {t.limit_train_batches}"),
        (_limit_ok(t.limit_val_batches), "trainer.limit_val_batches",
         f"must be a fraction in (0, 1] or a whole number of batches, got {t.limit_val_batches}"),
        (t.log_every_n_steps >= 1, "trainer.log_every_n_steps", f"must be >= 1, got {t.log_every_n_steps}"),
        (lg.wandb_mode in WANDB_MODES, "logger.wandb_mode", f"must be one of {WANDB_MODES}, got {lg.wandb_mode!r}"),
        (bool(str(lg.wandb_project).strip()), "logger.wandb_project", "is empty"),
    ])
