"""Experiment configs: YAML composition, dot-list overrides, the sections every run shares.

A config file is YAML that may start with ``defaults: [lifting/data/synthetic.yaml, lifting/model/lifter27.yaml]``
(paths relative to the ``configs/`` folder that holds it, merged in order, then the file itself,
then command-line ``key=value`` overrides). A *config group* is a folder of such files,
``configs/<task>/<group>/`` or ``configs/<group>/`` (``model``, ``data``, ``trainer``, ...): on the
command line ``model=mixste27`` picks ``configs/lifting/model/mixste27.yaml`` in place of the
file's ``defaults`` entry of that group (or after the file, when it has none), as a ``defaults``
entry would. The ``trainer`` section is open: keys it does not declare are handed to Lightning's
``Trainer`` as they are (``trainer.gradient_clip_val=1.0``), and Lightning validates them. Its ``task`` names the model family (default
``lifting``), whose schema — a dataclass derived from :class:`RunConfig` — it is checked against:
an unknown key or a wrong type is a :class:`ConfigError` naming the key and the file, and values
are then checked for meaning (:func:`validate_run` for the shared sections, the family's own
``validate`` for the rest).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from poseact.errors import ConfigError
from poseact.paths import PATH_KEYS, find_config

ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
WANDB_MODES = ("auto", "offline", "online", "disabled")
EARLY_STOPPING_MODES = ("min", "max")
LR_MONITOR_INTERVALS = ("step", "epoch")

#: ``Trainer`` arguments the run layer sets itself: key → what to use instead
RESERVED_TRAINER_KEYS = {
    "logger": "the logger section (logger.wandb, logger.csv)",
    "callbacks": "the callbacks section (callbacks.early_stopping.*, callbacks.lr_monitor)",
    "enable_checkpointing": "checkpoints are always written to output_dir/checkpoints",
    "plugins": "poseact's atomic checkpoint writer",
    "default_root_dir": "output_dir",
    "use_distributed_sampler": "poseact's own sharded samplers",
    "max_steps": "budget.unit=steps budget.amount=N",
    "val_check_interval": "eval.validate_every",
    "check_val_every_n_epoch": "eval.validate_every_n_epochs",
    "reload_dataloaders_every_n_epochs": "the family's data module",
    "extra": "trainer.<Lightning option> directly",
}


@dataclass
class TrainerConfig:
    """Lightning ``Trainer`` settings (what every family trains with)."""

    #: training length in epochs when no budget says otherwise; null where a budget does
    #: (a budget set after it, e.g. on the command line, replaces it; both in one place are refused)
    max_epochs: int | None = 60
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
    #: one BatchNorm statistic over every rank's share of the batch (DDP on GPUs): a multi-process run
    #: then normalises like one process with the whole batch (see README, "DDP and determinism")
    sync_batchnorm: bool = False
    #: any other ``pytorch_lightning.Trainer`` argument (gradient_clip_val, accumulate_grad_batches,
    #: benchmark, ...): written ``trainer.<name>`` in files and overrides, kept here, validated by Lightning
    extra: dict[str, Any] = field(default_factory=dict)


TRAINER_FIELDS = frozenset(TrainerConfig.__dataclass_fields__)


@dataclass
class EarlyStoppingConfig:
    """Lightning's ``EarlyStopping``: stop when ``monitor`` has not improved for ``patience`` validations."""

    monitor: str | None = None  # null: off; e.g. val/p1
    patience: int = 3  # validations without improvement before stopping
    mode: str = "min"  # min | max
    min_delta: float = 0.0  # smaller improvements do not count


@dataclass
class CallbacksConfig:
    """Lightning callbacks as config."""

    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    #: log the optimizer's learning rate (``lr-<Optimizer>``) every step (``step``) or epoch (``epoch``); null: off
    lr_monitor: str | None = None


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
    checkpoint: str | None = None  # test / predict: the weights to evaluate (fit: deprecated name of init_checkpoint)
    init_checkpoint: str | None = None  # fit: the weights to start from
    resume: bool = True  # continue from output_dir/checkpoints/last.ckpt if it exists
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    callbacks: CallbacksConfig = field(default_factory=CallbacksConfig)
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


def _load_yaml(path: Path, stack: tuple[Path, ...] = (), groups: dict[str, Path] | None = None,
               group_of_dir: dict[Path, str] | None = None, used: set[str] | None = None
               ) -> list[tuple[Path, DictConfig]]:
    """The file and its ``defaults`` (recursively), in merge order. A ``defaults`` entry in a group
    folder (``group_of_dir``) that ``groups`` selects another option of is replaced by that option's
    file (its name is added to ``used``)."""
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
        child = (root / str(entry)).resolve()
        group = (group_of_dir or {}).get(child.parent)
        if groups and group in groups:
            child = groups[group]
            if used is not None:
                used.add(group)
        out += _load_yaml(child, stack + (path,), groups, group_of_dir, used)
    _resolve_paths(raw, root.parent if root.name == "configs" else path.parent)
    out.append((path, _open_trainer(raw)))
    return out


def _open_trainer(part: DictConfig) -> DictConfig:
    """``trainer.<key>`` that :class:`TrainerConfig` does not declare → ``trainer.extra.<key>`` (a
    Lightning option, validated by Lightning when the trainer is built)."""
    trainer = part.get("trainer") if isinstance(part, DictConfig) else None
    if not isinstance(trainer, DictConfig) or all(k in TRAINER_FIELDS for k in trainer):
        return part
    data = OmegaConf.to_container(part, resolve=False)
    section = data["trainer"]
    extra = section.setdefault("extra", {}) or {}
    for key in [k for k in section if k not in TRAINER_FIELDS]:
        extra[key] = section.pop(key)
    section["extra"] = extra
    return OmegaConf.create(data)


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


def _configs_folder(path: Path | None) -> Path | None:
    """Where config groups are looked up: the ``configs/`` tree of the experiment file, else the
    repository's."""
    from poseact.paths import repository_root

    if path is not None:
        root = config_root(path)
        if root.name == "configs":
            return root
    repo = repository_root()
    return repo / "configs" if repo is not None else None


def group_folders(root: Path | None, task: str, group: str) -> list[Path]:
    """The folders of config group ``group`` for family ``task``: ``configs/<task>/<group>/`` first,
    then ``configs/<group>/`` (shared groups: trainer, logger)."""
    if root is None:
        return []
    return [d.resolve() for d in (root / task / group, root / group) if d.is_dir()]


def group_options(root: Path | None, task: str, group: str) -> dict[str, Path]:
    """Option name (file stem) → file, of a config group; the family's folder wins a name clash."""
    options: dict[str, Path] = {}
    for folder in reversed(group_folders(root, task, group)):
        options.update({f.stem: f.resolve() for f in sorted(folder.glob("*.yaml"))})
    return options


_OPTION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def _split_overrides(overrides: list[str], sections: set[str]) -> tuple[dict[str, str], list[str]]:
    """``group=option`` selections (a section of the schema set to a bare name) and the dot-list rest."""
    groups: dict[str, str] = {}
    rest: list[str] = []
    for item in overrides:
        key, _, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if key in sections and _OPTION.match(value) and value not in ("null", "None", "~"):
            groups[key] = value[:-5] if value.endswith(".yaml") else value
        else:
            rest.append(item)
    return groups, rest


def _parse_dotlist(items: list[str]) -> list[tuple[str, DictConfig]]:
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. model.channels=256)")
    out = []
    for item in items:
        try:
            out.append((f"override {item!r}", _open_trainer(OmegaConf.from_dotlist([item]))))
        except (OmegaConfBaseException, yaml.YAMLError) as e:  # e.g. model.channels=[1, (unclosed YAML)
            raise ConfigError(f"override {item!r} cannot be parsed: {str(e).splitlines()[0]}") from None
    return out


def _sets(part: DictConfig, dotted: str) -> bool:
    """Whether a config part gives ``dotted`` (e.g. ``trainer.max_epochs``) a non-null value."""
    node: Any = part
    for key in dotted.split("."):
        if not isinstance(node, DictConfig) or key not in node:
            return False
        if OmegaConf.is_interpolation(node, key):
            return True
        node = node.get(key)
    return node is not None


def _training_length(obj, parts: list[tuple[str, DictConfig]], strict: bool = True) -> None:
    """``trainer.max_epochs`` and ``budget.amount`` both say how long to train: the one set last
    (command line after files, a file after its defaults) decides, and ``trainer.max_epochs`` becomes
    null where a budget decides; set in the same place they are refused (unless not ``strict``: a
    run's saved config of an older release, where the budget decided)."""
    budget = getattr(obj, "budget", None)
    if budget is None or getattr(budget, "amount", None) is None:
        return
    last_epochs = max((i for i, (_, p) in enumerate(parts) if _sets(p, "trainer.max_epochs")), default=-1)
    last_budget = max((i for i, (_, p) in enumerate(parts) if _sets(p, "budget.amount")), default=-1)
    if strict and obj.trainer.max_epochs is not None and last_epochs >= last_budget >= 0:
        where_e, where_b = parts[last_epochs][0], parts[last_budget][0]
        where = where_e if where_e == where_b else f"{where_e} and {where_b}"
        raise ConfigError(f"trainer.max_epochs={obj.trainer.max_epochs} and budget.amount={budget.amount:g} "
                          f"({budget.unit}) both say how long to train ({where}): keep one "
                          f"(trainer.max_epochs=null lets the budget decide)")
    obj.trainer.max_epochs = None


def load_config(path: str | os.PathLike | None, overrides: Iterable[str] | None = None, saved_run: bool = False):
    """Compose defaults, the file, ``group=option`` selections and ``key=value`` overrides into the
    schema of the config's ``task``; resolve interpolations; validate. Returns that schema's
    dataclass instance. ``saved_run``: ``path`` is a run's ``config.yaml`` (written by poseact)."""
    from poseact.run.registry import family

    overrides = list(overrides or [])
    file = find_config(path).resolve() if path is not None else None
    parts = _load_yaml(file) if file is not None else []
    task = "lifting"
    for _, part in [*parts, *_parse_dotlist([o for o in overrides if o.partition("=")[0].strip() == "task"])]:
        task = str(part.get("task", task))
    fam = family(task)
    cfg = OmegaConf.structured(fam.schema)
    sections = {k for k in cfg if isinstance(cfg._get_node(k), DictConfig)}
    selected, rest = _split_overrides(overrides, sections)
    dotlists = _parse_dotlist(rest)
    where_parts: list[tuple[str, DictConfig]] = []
    if selected:
        root = _configs_folder(file)
        chosen: dict[str, Path] = {}
        group_of_dir: dict[Path, str] = {}
        for group, option in selected.items():
            options = group_options(root, task, group)
            if not options:
                raise ConfigError(f"{group}={option}: there is no config group {group!r} for task {task!r} "
                                  f"(no folder {root}/{task}/{group}/ or {root}/{group}/); set its keys "
                                  f"one by one ({group}.<key>=...)")
            if option not in options:
                raise ConfigError(f"{group}={option}: unknown option; {group} options: {', '.join(sorted(options))}")
            chosen[group] = options[option]
            group_of_dir.update({d: group for d in group_folders(root, task, group)})
        used: set[str] = set()
        parts = _load_yaml(file, groups=chosen, group_of_dir=group_of_dir, used=used) if file is not None else []
        for group in [g for g in chosen if g not in used]:  # not among the file's defaults: after the file
            parts += _load_yaml(chosen[group])
    for file_path, part in parts:
        where_parts.append((f"config file {str(file_path)!r}", part))
    for where, part in [*where_parts, *dotlists]:
        fam.check_part(part, where)  # what only the family knows before the parts are merged
        cfg = _merge(cfg, part, where)
    try:
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as e:
        raise ConfigError(f"config interpolation failed: {str(e).splitlines()[0]}") from None
    try:
        obj = OmegaConf.to_object(cfg)
    except (ValueError, TypeError) as e:  # a schema's __post_init__ refusing a value
        raise ConfigError(str(e)) from None
    command_line = OmegaConf.merge(*[p for _, p in dotlists]) if dotlists else None
    _training_length(obj, where_parts + ([("the command line", command_line)] if command_line is not None else []),
                     strict=not saved_run)
    validate_run(obj)
    fam.validate(obj)
    return obj


def _flat_trainer(data: dict) -> dict:
    """A plain config dict with ``trainer.extra`` written back as ``trainer.<key>`` (how users write it)."""
    trainer = data.get("trainer")
    if isinstance(trainer, dict) and isinstance(trainer.get("extra"), dict):
        extra = trainer.pop("extra")
        trainer.update(extra)
    return data


def to_yaml(cfg) -> str:
    """The config as YAML (what ``config.yaml`` of a run holds; ``load_config`` reads it back)."""
    return OmegaConf.to_yaml(OmegaConf.create(to_dict(cfg)))


def to_dict(cfg) -> dict:
    return _flat_trainer(OmegaConf.to_container(OmegaConf.structured(cfg)))  # type: ignore[arg-type]


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
    """Meaning of the shared fields: names, seeds, every trainer, callback and logger value.
    Lightning's own options (strategy, precision, ``trainer.extra``) are checked by Lightning when
    the trainer is built (:func:`poseact.run.trainer.build_trainer`), before anything is written."""
    t, lg, es = cfg.trainer, cfg.logger, cfg.callbacks.early_stopping
    check([
        (bool(str(cfg.name).strip()), "name", "is empty"),
        (bool(str(cfg.output_dir).strip()), "output_dir", "is empty"),
        (0 <= cfg.seed < 2**32, "seed", f"must be in [0, 2**32), got {cfg.seed}"),
        (cfg.checkpoint is None or bool(str(cfg.checkpoint).strip()), "checkpoint", "is empty (use null for none)"),
        (cfg.init_checkpoint is None or bool(str(cfg.init_checkpoint).strip()), "init_checkpoint",
         "is empty (use null for none)"),
        (t.max_epochs is not None or getattr(getattr(cfg, "budget", None), "amount", None) is not None,
         "trainer.max_epochs", "is null, and no budget.amount says how long to train"),
        (t.max_epochs is None or t.max_epochs >= 1, "trainer.max_epochs", f"must be >= 1, got {t.max_epochs}"),
        (t.max_time is None or _duration_ok(t.max_time), "trainer.max_time",
         f"must be DD:HH:MM:SS (e.g. 00:01:30:00), got {t.max_time!r}"),
        (t.accelerator in ACCELERATORS, "trainer.accelerator", f"must be one of {ACCELERATORS}, got {t.accelerator!r}"),
        (_devices_ok(t.devices), "trainer.devices",
         f"must be a positive count, -1, 'auto', or a list of device ids, got {t.devices!r}"),
        (t.num_nodes >= 1, "trainer.num_nodes", f"must be >= 1, got {t.num_nodes}"),
        (bool(str(t.strategy).strip()), "trainer.strategy", "is empty"),
        (_limit_ok(t.limit_train_batches), "trainer.limit_train_batches",
         f"must be a fraction in (0, 1] or a whole number of batches, got {t.limit_train_batches}"),
        (_limit_ok(t.limit_val_batches), "trainer.limit_val_batches",
         f"must be a fraction in (0, 1] or a whole number of batches, got {t.limit_val_batches}"),
        (t.log_every_n_steps >= 1, "trainer.log_every_n_steps", f"must be >= 1, got {t.log_every_n_steps}"),
        (es.mode in EARLY_STOPPING_MODES, "callbacks.early_stopping.mode",
         f"must be one of {EARLY_STOPPING_MODES}, got {es.mode!r}"),
        (es.patience >= 1, "callbacks.early_stopping.patience", f"must be >= 1, got {es.patience}"),
        (finite(es.min_delta) and es.min_delta >= 0, "callbacks.early_stopping.min_delta",
         f"must be finite and >= 0, got {es.min_delta}"),
        (es.monitor is None or bool(str(es.monitor).strip()), "callbacks.early_stopping.monitor",
         "is empty (use null for off)"),
        (cfg.callbacks.lr_monitor is None or cfg.callbacks.lr_monitor in LR_MONITOR_INTERVALS, "callbacks.lr_monitor",
         f"must be one of {LR_MONITOR_INTERVALS} or null, got {cfg.callbacks.lr_monitor!r}"),
        (lg.wandb_mode in WANDB_MODES, "logger.wandb_mode", f"must be one of {WANDB_MODES}, got {lg.wandb_mode!r}"),
        (bool(str(lg.wandb_project).strip()), "logger.wandb_project", "is empty"),
    ])
    if t.extra:
        check_trainer_options(t.extra)


def check_trainer_options(extra: dict[str, Any]) -> None:
    """Names in ``trainer.extra`` must be ``pytorch_lightning.Trainer`` arguments the run layer does
    not set itself (their values are Lightning's to check)."""
    for key in extra:
        if key in RESERVED_TRAINER_KEYS:
            raise ConfigError(f"trainer.{key} is set by poseact; use {RESERVED_TRAINER_KEYS[key]}")
    accepted = lightning_trainer_options()
    unknown = sorted(k for k in extra if k not in accepted)
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], sorted(accepted | TRAINER_FIELDS), n=1)
        raise ConfigError(f"trainer.{unknown[0]} is not an option of TrainerConfig or of Lightning's Trainer"
                          + (f" (did you mean trainer.{close[0]}?)" if close else ""))


def lightning_trainer_options() -> frozenset[str]:
    """The keyword arguments ``pytorch_lightning.Trainer`` accepts."""
    import inspect

    import pytorch_lightning as pl

    params = inspect.signature(pl.Trainer.__init__).parameters
    return frozenset(k for k, p in params.items() if k != "self" and p.kind is inspect.Parameter.KEYWORD_ONLY
                     or p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and k != "self")
