"""Structured experiment configs: dataclass schema, YAML composition, dot-list overrides.

A config file is YAML that may start with ``defaults: [data/synthetic.yaml, model/lifter27.yaml]``
(paths relative to the ``configs/`` folder that holds it, merged in order, then the file itself,
then command-line ``key=value`` overrides). Everything is checked against the schema below:
an unknown key or a wrong type is a :class:`ConfigError` naming the key and the file.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


class ConfigError(ValueError):
    """A config file or override does not fit the schema."""


@dataclass
class SyntheticDataConfig:
    """The embedded synthetic dataset (generated on first use, cached)."""

    subjects: list[str] = field(default_factory=lambda: ["S1", "S5", "S6", "S7", "S8", "S9", "S11"])
    unlabeled_subjects: list[str] = field(default_factory=list)
    takes_per_action: int = 2
    seconds_per_take: float = 8.0  # mean take length
    take_length_spread: float = 0.25  # takes last seconds_per_take x (1 ± this)
    seed: int = 0
    cache_dir: str = "data/synthetic"


SAMPLING_MODES = ("mixed", "single", "cycled", "balanced")
BUDGET_UNITS = ("epochs", "unit_epochs", "samples", "steps")


@dataclass
class SamplingConfig:
    """How training samples are drawn (Bai's per-action training and its alternatives)."""

    mode: str = "mixed"  # mixed | single | cycled | balanced
    actions: list[str] | None = None  # action-name prefixes: single's action(s); cycled/balanced's set (None = all)
    cycle_order: str = "fixed"  # cycled: fixed | shuffled (a new order every cycle)
    eval_all_actions: bool = False  # single: evaluate on every action too, not only the trained one(s)


@dataclass
class BudgetConfig:
    """How long to train, in the unit the lr and BatchNorm-momentum schedules count."""

    unit: str = "epochs"  # epochs | unit_epochs | samples | steps
    amount: float | None = None  # None: trainer.max_epochs epochs


@dataclass
class DataConfig:
    store: str | None = None  # path to a poseact HDF5 store; None = the synthetic dataset
    synthetic: SyntheticDataConfig = field(default_factory=SyntheticDataConfig)
    subjects_train: list[str] = field(default_factory=lambda: ["S1", "S5", "S6", "S7", "S8"])
    subjects_test: list[str] = field(default_factory=lambda: ["S9", "S11"])
    subjects_unlabeled: list[str] = field(default_factory=list)  # 2-D only: semi-supervised training
    store_unlabeled: str | None = None  # unlabeled clips from another store (None = data.store)
    actions: list[str] | None = None  # action-name prefixes (None = all)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    subset: float = 1.0  # fraction of each training sequence (reference --subset)
    downsample: int = 1  # temporal downsampling of every sequence (reference --downsample)
    flip_augment: bool = True  # train with mirrored copies (reference default on)
    use_confidence: bool = False  # append frames/confidence as a third input feature
    batch_size: int = 1024  # output frames per optimizer step (over all devices)
    num_workers: int = 0


@dataclass
class ModelConfig:
    filter_widths: list[int] = field(default_factory=lambda: [3, 3, 3])
    channels: int = 1024
    dropout: float = 0.25
    causal: bool = False
    dense: bool = False
    trajectory: bool = False  # also train the trajectory model (always on in semi-supervised runs)


@dataclass
class SemiSupervisedConfig:
    """Back-projection on unlabeled video (VideoPose3D §7.5); active when data.subjects_unlabeled is set."""

    warmup_epochs: int = 1  # epochs of labeled data only at the start
    projection: str = "distorted"  # distorted (H36M radial + tangential) | linear
    weight_3d: float = 1.0  # MPJPE on labeled poses
    weight_trajectory: float = 1.0  # 1/depth-weighted root error on labeled data
    weight_reprojection: float = 1.0  # 2-D error of projected pose + trajectory on unlabeled data (0 = off)
    weight_bone_length: float = 1.0  # labeled vs unlabeled mean bone lengths (0 = off)
    unlabeled_seed_offset: int = 4321  # the unlabeled stream is shuffled with seed + this


@dataclass
class OptimConfig:
    lr: float = 1e-3
    lr_decay: float = 0.95  # multiplied into lr after every epoch
    amsgrad: bool = True
    bn_momentum_start: float = 0.1
    bn_momentum_end: float = 0.001


@dataclass
class EvalConfig:
    test_time_flip: bool = True  # flip TTA in `poseact test` and the final evaluation
    val_time_flip: bool = False  # flip TTA in the per-epoch validation (reference: off)
    validate_every_n_epochs: int = 1
    validate_every: float | None = None  # in budget units (e.g. samples), for curves at matched budgets


@dataclass
class TrainerConfig:
    max_epochs: int = 60
    accelerator: str = "auto"
    devices: Any = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    limit_train_batches: float = 1.0
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
class ExperimentConfig:
    """A lifting experiment (the VideoPose3D temporal lifter)."""

    task: str = "lifting"  # which schema and runner: see TASKS
    name: str = "lifter"
    seed: int = 0
    output_dir: str = "outputs/${name}"
    checkpoint: str | None = None  # weights to start from / evaluate (.ckpt or VideoPose3D .bin)
    resume: bool = True  # continue from output_dir/checkpoints/last.ckpt if it exists
    data: DataConfig = field(default_factory=DataConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    semi: SemiSupervisedConfig = field(default_factory=SemiSupervisedConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)


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
    if path in stack:
        raise ConfigError(f"config file {str(path)!r} includes itself via defaults")
    try:
        raw = OmegaConf.load(path)
    except Exception as e:  # noqa: BLE001 - YAML syntax errors come in many types
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {e}") from None
    if not isinstance(raw, DictConfig):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping")
    defaults = raw.pop("defaults", [])
    if not isinstance(defaults, (ListConfig, list)):
        raise ConfigError(f"config file {str(path)!r}: 'defaults' must be a list of config paths")
    root = config_root(path)
    out: list[tuple[Path, DictConfig]] = []
    for entry in defaults:
        out += _load_yaml((root / str(entry)).resolve(), stack + (path,))
    out.append((path, raw))
    return out


def config_root(path: Path) -> Path:
    """The ``configs/`` folder a file lives in (defaults are relative to it)."""
    for parent in path.resolve().parents:
        if parent.name == "configs":
            return parent
    return path.resolve().parent


@dataclass(frozen=True)
class TaskSpec:
    """Where a task's config schema, validation and runner live (imported on demand)."""

    schema: str  # "module:Class" of the dataclass schema
    runner: str  # module with fit(cfg), test(cfg), predict(cfg, out)
    validate: str | None = None  # "module:function" of semantic checks


#: Every experiment YAML names its task (default ``lifting``); a new task registers here.
TASKS: dict[str, TaskSpec] = {
    "lifting": TaskSpec("poseact.config:ExperimentConfig", "poseact.experiment", "poseact.config:validate"),
    "multitask": TaskSpec("poseact.tasks.multitask_config:MultitaskExperimentConfig", "poseact.multitask_experiment",
                          "poseact.tasks.multitask_config:validate"),
}


def _import(target: str):
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def task_spec(task: str) -> TaskSpec:
    try:
        return TASKS[task]
    except KeyError:
        raise ConfigError(f"task {task!r} is unknown; known: {sorted(TASKS)}") from None


def load_config(path: str | os.PathLike | None, overrides: list[str] | None = None):
    """Compose defaults, the file and ``key=value`` overrides into the schema of the config's
    ``task``; validate; resolve interpolations. Returns that schema's dataclass instance."""
    parts = _load_yaml(Path(path).resolve()) if path is not None else []
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. model.channels=256)")
    dotlists = [(f"override {item!r}", OmegaConf.from_dotlist([item])) for item in overrides or []]
    task = "lifting"
    for _, part in [*parts, *dotlists]:
        task = str(part.get("task", task))
    spec = task_spec(task)
    cfg = OmegaConf.structured(_import(spec.schema))
    for file, part in parts:
        cfg = _merge(cfg, part, f"config file {str(file)!r}")
    for where, part in dotlists:
        cfg = _merge(cfg, part, where)
    try:
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as e:
        raise ConfigError(f"config interpolation failed: {e}") from None
    obj = OmegaConf.to_object(cfg)
    if spec.validate:
        _import(spec.validate)(obj)
    return obj


def validate(cfg: ExperimentConfig) -> None:
    """Semantic checks the type system cannot express; messages name the key."""
    checks = [
        (all(w >= 1 and w % 2 == 1 for w in cfg.model.filter_widths) and cfg.model.filter_widths,
         "model.filter_widths", f"must be odd positive integers, got {cfg.model.filter_widths}"),
        (cfg.model.channels > 0, "model.channels", f"must be positive, got {cfg.model.channels}"),
        (0 <= cfg.model.dropout < 1, "model.dropout", f"must be in [0, 1), got {cfg.model.dropout}"),
        (cfg.data.batch_size > 0, "data.batch_size", f"must be positive, got {cfg.data.batch_size}"),
        (0 < cfg.data.subset <= 1, "data.subset", f"must be in (0, 1], got {cfg.data.subset}"),
        (cfg.data.downsample >= 1, "data.downsample", f"must be >= 1, got {cfg.data.downsample}"),
        (bool(cfg.data.subjects_train), "data.subjects_train", "is empty"),
        (bool(cfg.data.subjects_test), "data.subjects_test", "is empty"),
        (cfg.data.actions is None or len(cfg.data.actions) > 0, "data.actions", "is an empty list (use null for all)"),
        (not set(cfg.data.subjects_unlabeled) & set(cfg.data.subjects_train), "data.subjects_unlabeled",
         f"overlaps data.subjects_train: {sorted(set(cfg.data.subjects_unlabeled) & set(cfg.data.subjects_train))}"),
        (cfg.semi.projection in ("distorted", "linear"), "semi.projection",
         f"must be distorted or linear, got {cfg.semi.projection!r}"),
        (cfg.semi.warmup_epochs >= 0, "semi.warmup_epochs", f"must be >= 0, got {cfg.semi.warmup_epochs}"),
        (min(cfg.semi.weight_3d, cfg.semi.weight_trajectory, cfg.semi.weight_reprojection,
             cfg.semi.weight_bone_length) >= 0, "semi.weight_*", "must be >= 0"),
        (cfg.data.sampling.mode in SAMPLING_MODES, "data.sampling.mode",
         f"must be one of {SAMPLING_MODES}, got {cfg.data.sampling.mode!r}"),
        (cfg.data.sampling.mode != "single" or bool(cfg.data.sampling.actions), "data.sampling.actions",
         "must name the action(s) to train on when data.sampling.mode=single"),
        (cfg.data.sampling.cycle_order in ("fixed", "shuffled"), "data.sampling.cycle_order",
         f"must be fixed or shuffled, got {cfg.data.sampling.cycle_order!r}"),
        (cfg.budget.unit in BUDGET_UNITS, "budget.unit", f"must be one of {BUDGET_UNITS}, got {cfg.budget.unit!r}"),
        (cfg.budget.amount is None or cfg.budget.amount > 0, "budget.amount",
         f"must be positive (or null for trainer.max_epochs epochs), got {cfg.budget.amount}"),
        (cfg.eval.validate_every is None or cfg.eval.validate_every > 0, "eval.validate_every",
         f"must be positive or null, got {cfg.eval.validate_every}"),
        (cfg.optim.lr > 0, "optim.lr", f"must be positive, got {cfg.optim.lr}"),
        (0 < cfg.optim.lr_decay <= 1, "optim.lr_decay", f"must be in (0, 1], got {cfg.optim.lr_decay}"),
        (cfg.trainer.max_epochs >= 1, "trainer.max_epochs", f"must be >= 1, got {cfg.trainer.max_epochs}"),
        (cfg.logger.wandb_mode in ("auto", "offline", "online", "disabled"), "logger.wandb_mode",
         f"must be auto, offline, online or disabled, got {cfg.logger.wandb_mode!r}"),
    ]
    for ok, key, msg in checks:
        if not ok:
            raise ConfigError(f"{key} {msg}")


def to_yaml(cfg) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def to_dict(cfg) -> dict:
    return OmegaConf.to_container(OmegaConf.structured(cfg))  # type: ignore[return-value]
