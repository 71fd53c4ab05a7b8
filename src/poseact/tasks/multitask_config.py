"""Config schema of the ``multitask`` task (deephar SPNet on image clips); see ``config.TASKS``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from poseact.config import ConfigError, EvalConfig, LoggerConfig, SyntheticDataConfig, TrainerConfig
from poseact.data.clips import AugmentConfig
from poseact.models.multitask import SPNetConfig


@dataclass
class PoseSourceConfig:
    """A store the pose steps draw pseudo-clips from (``data.pose_sources``), ``weight`` = its share."""

    store: str | None = None  # an image store (data_prep/ or rendered); required
    subjects: list[str] = field(default_factory=list)  # its clips used for pose steps; required
    weight: float = 1.0  # relative share of the pose pseudo-clips (> 0)


@dataclass
class ActionSourceConfig:
    """The store the action steps draw clips from (``data.action_source``)."""

    store: str | None = None  # an image store with action labels; required
    subjects: list[str] = field(default_factory=list)  # required


@dataclass
class ImageDataConfig:
    store: str | None = None  # an image store (rendered frames or data_prep image references); None = render the synthetic motion
    synthetic: SyntheticDataConfig = field(default_factory=SyntheticDataConfig)
    render_size: int = 64  # crop side of the rendered synthetic images, pixels
    render_frame_step: int = 5  # 50 fps -> 10 fps
    render_cameras: list[int] = field(default_factory=lambda: [0, 1, 2, 3])
    subjects_train: list[str] = field(default_factory=lambda: ["S1", "S5", "S6", "S7", "S8"])
    subjects_test: list[str] = field(default_factory=lambda: ["S9", "S11"])
    clip_length: int = 8  # T
    subsample_train: list[int] = field(default_factory=lambda: [1, 2, 3])
    subsample_test: int = 2
    batch_size: int = 4  # clips per step (pose pseudo-clips and action clips each)
    steps_per_epoch: int = 100
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    num_workers: int = 0
    #: pose steps: pseudo-clips from these stores in proportion to their weights; empty = ``store`` with
    #: ``subjects_train``. Validation and test always use ``store`` with ``subjects_test``.
    pose_sources: list[PoseSourceConfig] = field(default_factory=list)
    #: action steps: clips of this store; null = ``store`` with ``subjects_train``
    action_source: ActionSourceConfig | None = None


@dataclass
class MultitaskTrainConfig:
    mode: str = "multitask"  # multitask | pose | action (the sharing ablation)
    optimizer: str = "rmsprop"  # rmsprop (Keras: alpha 0.9, eps 1e-7) | adam
    #: one optimizer state for the pose and the action steps (ablation); default: one each (the reference)
    shared_optimizer_state: bool = False
    lr: float = 1e-3
    lr_milestones: list[int] = field(default_factory=list)  # epochs after which lr ×= lr_gamma
    lr_gamma: float = 0.1
    action_weight: float = 0.01  # per action output (Penn 0.01, NTU 0.1)
    vis_weight: float = 0.01
    freeze_pose_epochs: int = 0  # stage A of §5.3: only action layers train
    mask_missing_visibility: bool = False  # quirk 7 (default faithful: unmasked)


@dataclass
class MultitaskExperimentConfig:
    """A multi-task experiment (2-D/3-D pose + action from image clips)."""

    task: str = "multitask"
    name: str = "multitask"
    seed: int = 0
    output_dir: str = "outputs/${name}"
    checkpoint: str | None = None
    resume: bool = True
    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    model: SPNetConfig = field(default_factory=lambda: SPNetConfig(num_joints=17, dim=3, input_size=64,
                                                                   num_pyramids=2, action_pyramids=[1, 2]))
    train: MultitaskTrainConfig = field(default_factory=MultitaskTrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)


def validate(cfg: MultitaskExperimentConfig) -> None:
    """Semantic checks; messages name the key."""
    try:
        cfg.model.validate()
    except ValueError as e:
        raise ConfigError(str(e)) from None
    d, t = cfg.data, cfg.train
    checks = [
        (t.mode in ("multitask", "pose", "action"), "train.mode", f"must be multitask, pose or action, got {t.mode!r}"),
        (t.optimizer in ("rmsprop", "adam"), "train.optimizer", f"must be rmsprop or adam, got {t.optimizer!r}"),
        (t.lr > 0, "train.lr", f"must be positive, got {t.lr}"),
        (d.clip_length >= 1, "data.clip_length", f"must be >= 1, got {d.clip_length}"),
        (d.batch_size >= 1, "data.batch_size", f"must be >= 1, got {d.batch_size}"),
        (bool(d.subsample_train) and min(d.subsample_train) >= 1, "data.subsample_train", "must be >= 1"),
        (d.store is not None or d.render_size == cfg.model.input_size, "data.render_size",
         f"{d.render_size} differs from model.input_size {cfg.model.input_size}"),
        (t.mode == "pose" or bool(cfg.model.action_pyramids), "model.action_pyramids",
         f"is empty, but train.mode={t.mode} trains actions"),
    ]
    for i, src in enumerate(d.pose_sources):
        key = f"data.pose_sources[{i}]"
        checks += [
            (src.store is not None, f"{key}.store", "is missing (the path of an image store)"),
            (bool(src.subjects), f"{key}.subjects", f"is empty (store {src.store!r}): name the subjects to train on"),
            (math.isfinite(src.weight) and src.weight > 0, f"{key}.weight",
             f"must be positive, got {src.weight} (store {src.store!r})"),
        ]
    if d.action_source is not None:
        src = d.action_source
        checks += [
            (src.store is not None, "data.action_source.store", "is missing (the path of an image store)"),
            (bool(src.subjects), "data.action_source.subjects",
             f"is empty (store {src.store!r}): name the subjects to train on"),
        ]
    for ok, key, msg in checks:
        if not ok:
            raise ConfigError(f"{key} {msg}")
