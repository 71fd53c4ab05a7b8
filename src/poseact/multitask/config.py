"""Config schema of the ``multitask`` family (deephar SPNet: 2-D/3-D pose and actions from image clips)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from poseact.errors import ConfigError
from poseact.multitask.clips import AugmentConfig
from poseact.multitask.models.spnet import SPNetConfig
from poseact.run.config import RunConfig, check, positive
from poseact.synthetic import SyntheticConfig


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
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)  # the motion rendered when store is null
    render_size: int = 64  # crop side of the rendered synthetic images, pixels
    render_frame_step: int = 5  # 50 fps -> 10 fps
    render_cameras: list[int] = field(default_factory=lambda: [0, 1, 2, 3])
    subjects_train: list[str] = field(default_factory=lambda: ["S1", "S5", "S6", "S7", "S8"])
    subjects_test: list[str] = field(default_factory=lambda: ["S9", "S11"])
    clip_length: int = 8  # T
    subsample_train: list[int] = field(default_factory=lambda: [1, 2, 3])
    subsample_test: int = 2
    batch_clips: int = 4  # clips per step over all devices (pose pseudo-clips and action clips each): the global batch
    batch_size: int | None = None  # deprecated spelling of batch_clips (one release)
    #: an epoch here is this many steps of clips sampled at random (not a pass over the data, as in
    #: lifting): validation, checkpoints and the lr milestones count these epochs
    steps_per_epoch: int = 100
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    num_workers: int = 0
    #: pose steps: pseudo-clips from these stores in proportion to their weights; empty = ``store`` with
    #: ``subjects_train``. Validation and test always use ``store`` with ``subjects_test``.
    pose_sources: list[PoseSourceConfig] = field(default_factory=list)
    #: action steps: clips of this store; null = ``store`` with ``subjects_train``
    action_source: ActionSourceConfig | None = None


@dataclass
class MultitaskOptimConfig:
    """The optimiser and its lr schedule (``optim.*``, as in the lifting family)."""

    optimizer: str = "rmsprop"  # rmsprop (Keras: alpha 0.9, eps 1e-7) | adam
    #: one optimizer state for the pose and the action steps (ablation); default: one each (the reference)
    shared_optimizer_state: bool = False
    lr: float = 1e-3
    lr_milestones: list[int] = field(default_factory=list)  # epochs after which lr ×= lr_gamma
    lr_gamma: float = 0.1


#: keys of ``train`` that moved to ``optim`` (the previous release's spelling still read, one release)
MOVED_TO_OPTIM = ("optimizer", "shared_optimizer_state", "lr", "lr_milestones", "lr_gamma")


@dataclass
class MultitaskTrainConfig:
    mode: str = "multitask"  # multitask | pose | action (the sharing ablation)
    action_weight: float = 0.01  # per action output (Penn 0.01, NTU 0.1)
    vis_weight: float = 0.01
    freeze_pose_epochs: int = 0  # stage A of §5.3: only action layers train
    mask_missing_visibility: bool = False  # quirk 7 (default faithful: unmasked)
    # deprecated spellings of optim.* (one release): null unless an old config sets them
    optimizer: str | None = None
    shared_optimizer_state: bool | None = None
    lr: float | None = None
    lr_milestones: list[int] | None = None
    lr_gamma: float | None = None


@dataclass
class EvalConfig:
    validate_every_n_epochs: int = 1


@dataclass
class MultitaskConfig(RunConfig):
    """A multi-task experiment (2-D/3-D pose + action from image clips)."""

    task: str = "multitask"
    name: str = "multitask"
    checkpoint: str | None = None  # a multitask run's .ckpt to start from / evaluate
    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    model: SPNetConfig = field(default_factory=lambda: SPNetConfig(num_joints=17, dim=3, input_size=64,
                                                                   num_pyramids=2, action_pyramids=[1, 2]))
    train: MultitaskTrainConfig = field(default_factory=MultitaskTrainConfig)
    optim: MultitaskOptimConfig = field(default_factory=MultitaskOptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        """The previous release's spellings → today's keys, one deprecation line each."""
        #: today's key → the spelling it was given in (error messages name what the user wrote)
        self.given_as: dict[str, str] = {}
        for key in MOVED_TO_OPTIM:
            value = getattr(self.train, key)
            if value is not None:
                _renamed(f"train.{key}", f"optim.{key}")
                setattr(self.optim, key, value)
                setattr(self.train, key, None)
                self.given_as[f"optim.{key}"] = f"train.{key}"
        if self.data.batch_size is not None:
            _renamed("data.batch_size", "data.batch_clips (clips per step; lifting: data.batch_frames)")
            self.data.batch_clips, self.data.batch_size = self.data.batch_size, None
            self.given_as["data.batch_clips"] = "data.batch_size"


_warned: set[str] = set()


def _renamed(old: str, new: str) -> None:
    """A key of the previous release, still read: one deprecation line per process."""
    import logging

    message = f"{old} is deprecated, use {new}; it will be an error in the next release"
    if message not in _warned:
        _warned.add(message)
        logging.getLogger("poseact").warning(message)


def validate(cfg: MultitaskConfig) -> None:
    """Semantic checks; messages name the key."""
    try:
        cfg.model.validate()
    except ValueError as e:
        raise ConfigError(str(e)) from None
    d, t, o = cfg.data, cfg.train, cfg.optim
    given = getattr(cfg, "given_as", {})

    def key(name: str) -> str:  # today's key, and the old spelling when the config used it
        return f"{name} (given as {given[name]})" if name in given else name

    checks = [
        (t.mode in ("multitask", "pose", "action"), "train.mode", f"must be multitask, pose or action, got {t.mode!r}"),
        (o.optimizer in ("rmsprop", "adam"), key("optim.optimizer"), f"must be rmsprop or adam, got {o.optimizer!r}"),
        (positive(o.lr), key("optim.lr"), f"must be positive and finite, got {o.lr}"),
        (positive(o.lr_gamma), key("optim.lr_gamma"), f"must be positive and finite, got {o.lr_gamma}"),
        (all(m >= 1 for m in o.lr_milestones), key("optim.lr_milestones"),
         f"must be epochs >= 1, got {o.lr_milestones}"),
        (positive(t.action_weight) or t.action_weight == 0, "train.action_weight",
         f"must be finite and >= 0, got {t.action_weight}"),
        (positive(t.vis_weight) or t.vis_weight == 0, "train.vis_weight", f"must be finite and >= 0, got {t.vis_weight}"),
        (t.freeze_pose_epochs >= 0, "train.freeze_pose_epochs", f"must be >= 0, got {t.freeze_pose_epochs}"),
        (d.clip_length >= 1, "data.clip_length", f"must be >= 1, got {d.clip_length}"),
        (d.batch_clips >= 1, key("data.batch_clips"), f"must be >= 1, got {d.batch_clips}"),
        (d.steps_per_epoch >= 1, "data.steps_per_epoch", f"must be >= 1, got {d.steps_per_epoch}"),
        (d.num_workers >= 0, "data.num_workers", f"must be >= 0, got {d.num_workers}"),
        (d.render_size >= 8, "data.render_size", f"must be >= 8 pixels, got {d.render_size}"),
        (d.render_frame_step >= 1, "data.render_frame_step", f"must be >= 1, got {d.render_frame_step}"),
        (bool(d.render_cameras) and all(0 <= c < 4 for c in d.render_cameras), "data.render_cameras",
         f"must be H36M camera indices 0-3, got {d.render_cameras}"),
        (bool(d.subjects_train), "data.subjects_train", "is empty"),
        (bool(d.subjects_test), "data.subjects_test", "is empty"),
        (bool(d.subsample_train) and min(d.subsample_train) >= 1, "data.subsample_train", "must be >= 1"),
        (d.subsample_test >= 1, "data.subsample_test", f"must be >= 1, got {d.subsample_test}"),
        (cfg.eval.validate_every_n_epochs >= 1, "eval.validate_every_n_epochs",
         f"must be >= 1, got {cfg.eval.validate_every_n_epochs}"),
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
    check(checks)
    if d.store is None:
        d.synthetic.validate("data.synthetic")
