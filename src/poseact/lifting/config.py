"""Config schema of the ``lifting`` family (VideoPose3D's temporal lifter and its training recipes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from poseact.lifting.models import LifterConfig, ModelConfig, model_section  # noqa: F401 - ModelConfig: deprecated alias
from poseact.metrics.pose import METRIC_NAMES
from poseact.run.config import RunConfig, check, finite, positive
from poseact.synthetic import SyntheticConfig

SAMPLING_MODES = ("mixed", "single", "cycled", "balanced")
BUDGET_UNITS = ("epochs", "unit_epochs", "samples", "steps")
PROJECTIONS = ("distorted", "linear")


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


GATHER_MODES = ("auto", "host", "device")
EVAL_PRECISIONS = ("32", "bf16")


@dataclass
class DataConfig:
    store: str | None = None  # path to a poseact HDF5 store; None = the synthetic dataset
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
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
    #: map the store's arrays read-only from the file instead of reading them (the same numbers): the
    #: process holds only the pages a run reads (one subject of a large store costs that subject), and a
    #: store larger than memory trains; false reads every array whole into the process's memory
    mmap: bool = True
    #: where training windows are assembled: host (numpy, then copied to the device), device (the
    #: training frames resident on the accelerator, batches gathered there), auto (device on a GPU)
    gather: str = "auto"
    batch_frames: int = 1024  # output frames per optimizer step, over all devices (the global batch)
    batch_size: int | None = None  # deprecated spelling of batch_frames (one release)
    num_workers: int = 0


@dataclass
class SemiSupervisedConfig:
    """Back-projection on unlabeled video (VideoPose3D §7.5); active when data.subjects_unlabeled is set."""

    warmup_epochs: int = 1  # epochs of labeled data only at the start
    projection: str = "distorted"  # distorted (H36M radial + tangential) | linear
    weight_3d: float = 1.0  # MPJPE on labeled poses
    weight_trajectory: float = 1.0  # 1/depth-weighted root error on labeled data
    weight_reprojection: float = 1.0  # 2-D error of projected pose + trajectory on unlabeled data (0 = off)
    weight_bone_length: float = 1.0  # labeled vs unlabeled mean bone lengths (0 = off)
    #: multi-view consistency (0 = off): unlabeled windows of one instant seen by several calibrated,
    #: synchronised cameras (lifting/multiview.py) must agree once rotated into the world frame
    multiview_weight: float = 0.0
    unlabeled_seed_offset: int = 4321  # the unlabeled stream is shuffled with seed + this


@dataclass
class LossConfig:
    """The training loss of the 3-D poses (the reference's: plain MPJPE; MixSTE's: all three)."""

    joint_weights: list[float] | None = None  # per-joint weights of the 3-D error (WMPJPE); null: MPJPE
    weight_temporal: float = 0.0  # temporal consistency (TCLoss) of seq2seq outputs
    weight_velocity: float = 0.0  # velocity error (MPJVE) of seq2seq outputs


@dataclass
class OptimConfig:
    optimizer: str = "adam"  # adam (the reference, with amsgrad) | adamw (MixSTE)
    lr: float = 1e-3
    lr_decay: float = 0.95  # multiplied into lr after every epoch
    amsgrad: bool = True
    weight_decay: float = 0.0  # decoupled for adamw, L2 for adam
    bn_momentum_start: float = 0.1
    bn_momentum_end: float = 0.001


@dataclass
class EvalConfig:
    test_time_flip: bool = True  # flip TTA in `poseact test` and the final evaluation
    val_time_flip: bool = False  # flip TTA in the per-epoch validation (reference: off)
    validate_every_n_epochs: int = 1
    validate_every: float | None = None  # in budget units (e.g. samples), for curves at matched budgets
    #: evaluation arithmetic: "32" (float32) or "bf16" (bfloat16 autocast of the network, metrics in
    #: float64 either way; see benchmarks/RESULTS.md for what it does to P1)
    precision: str = "32"
    #: pose metrics of the per-epoch validation (any of p1, p2, n_mpjpe, mpjve; trajectory and
    #: reprojection are added with a trajectory model). The reference computes P1 alone there; P2's
    #: per-frame alignment is the costly one. The final evaluation and ``poseact test`` compute all.
    val_metrics: list[str] = field(default_factory=lambda: ["p1"])


@dataclass
class LiftingConfig(RunConfig):
    """A lifting experiment (the VideoPose3D temporal lifter)."""

    task: str = "lifting"
    name: str = "lifter"
    checkpoint: str | None = None  # weights to start from / evaluate (.ckpt or VideoPose3D .bin)
    data: DataConfig = field(default_factory=DataConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    #: the lifter: ``name`` picks the architecture (``poseact.lifting.models.LIFTERS``), whose own section
    #: (``TemporalConfig``, ``MixSTEConfig``, …) holds the rest; a mapping in the schema, made that
    #: section by ``__post_init__`` (so each architecture's keys are checked, and only its keys kept)
    model: Any = field(default_factory=lambda: {"name": "temporal"})
    semi: SemiSupervisedConfig = field(default_factory=SemiSupervisedConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        self.model = model_section(self.model)
        #: today's key → the spelling it was given in (error messages name what the user wrote)
        self.given_as: dict[str, str] = {}
        if self.data.batch_size is not None:  # the previous release's name
            renamed("data.batch_size", "data.batch_frames (output frames per step; multitask: data.batch_clips)")
            self.data.batch_frames, self.data.batch_size = self.data.batch_size, None
            self.given_as["data.batch_frames"] = "data.batch_size"


def renamed(old: str, new: str) -> None:
    """A key of the previous release, still read: one deprecation line per process."""
    from poseact.lifting.models import _deprecated

    _deprecated(f"{old} is deprecated, use {new}; it will be an error in the next release")


def validate(cfg: LiftingConfig) -> None:
    """Semantic checks the type system cannot express; messages name the key and the value."""
    from poseact.lifting.models import lifter_class

    cfg.model = model_section(cfg.model)
    d, m, o, s, b, e, lo = cfg.data, cfg.model, cfg.optim, cfg.semi, cfg.budget, cfg.eval, cfg.loss
    lifter = lifter_class(m.name)
    unlabeled_overlap = sorted(set(d.subjects_unlabeled) & set(d.subjects_train))
    seq2seq = lifter.seq2seq
    given = getattr(cfg, "given_as", {}).get("data.batch_frames")
    batch_key = f"data.batch_frames (given as {given})" if given else "data.batch_frames"
    check(lifter.config_checks(m))
    check([
        (seq2seq or (lo.weight_temporal == 0 and lo.weight_velocity == 0), "loss.weight_temporal",
         f"and loss.weight_velocity need a seq2seq model (several output frames); model.name={m.name} predicts one"),
        (finite(lo.weight_temporal) and lo.weight_temporal >= 0, "loss.weight_temporal",
         f"must be finite and >= 0, got {lo.weight_temporal}"),
        (finite(lo.weight_velocity) and lo.weight_velocity >= 0, "loss.weight_velocity",
         f"must be finite and >= 0, got {lo.weight_velocity}"),
        (lo.joint_weights is None or (len(lo.joint_weights) > 0 and all(positive(w) for w in lo.joint_weights)),
         "loss.joint_weights", f"must be positive numbers, one per joint (or null), got {lo.joint_weights}"),
        (o.optimizer in ("adam", "adamw"), "optim.optimizer", f"must be adam or adamw, got {o.optimizer!r}"),
        (finite(o.weight_decay) and o.weight_decay >= 0, "optim.weight_decay", f"must be >= 0, got {o.weight_decay}"),
        (d.batch_frames > 0, batch_key, f"must be positive, got {d.batch_frames}"),
        (d.num_workers >= 0, "data.num_workers", f"must be >= 0, got {d.num_workers}"),
        (d.gather in GATHER_MODES, "data.gather", f"must be one of {list(GATHER_MODES)}, got {d.gather!r}"),
        (all(name in METRIC_NAMES for name in e.val_metrics) and "p1" in e.val_metrics, "eval.val_metrics",
         f"must list p1 (checkpoints and schedules follow val/p1) and any of {list(METRIC_NAMES)[1:]}, "
         f"got {e.val_metrics}"),
        (e.precision in EVAL_PRECISIONS, "eval.precision", f"must be one of {list(EVAL_PRECISIONS)}, got {e.precision!r}"),
        (finite(d.subset) and 0 < d.subset <= 1, "data.subset", f"must be in (0, 1], got {d.subset}"),
        (d.downsample >= 1, "data.downsample", f"must be >= 1, got {d.downsample}"),
        (bool(d.subjects_train), "data.subjects_train", "is empty"),
        (bool(d.subjects_test), "data.subjects_test", "is empty"),
        (d.actions is None or len(d.actions) > 0, "data.actions", "is an empty list (use null for all)"),
        (not unlabeled_overlap, "data.subjects_unlabeled", f"overlaps data.subjects_train: {unlabeled_overlap}"),
        (s.projection in PROJECTIONS, "semi.projection", f"must be distorted or linear, got {s.projection!r}"),
        (s.warmup_epochs >= 0, "semi.warmup_epochs", f"must be >= 0, got {s.warmup_epochs}"),
        (all(finite(w) and w >= 0 for w in (s.weight_3d, s.weight_trajectory, s.weight_reprojection,
                                            s.weight_bone_length)),
         "semi.weight_*", "must be finite and >= 0"),
        (finite(s.multiview_weight) and s.multiview_weight >= 0, "semi.multiview_weight",
         f"must be finite and >= 0, got {s.multiview_weight}"),
        (s.multiview_weight == 0 or bool(d.subjects_unlabeled), "semi.multiview_weight",
         "needs unlabeled views: set data.subjects_unlabeled (and data.store_unlabeled)"),
        (s.multiview_weight == 0 or not seq2seq, "semi.multiview_weight",
         f"needs a one-frame lifter (model.name={m.name} is seq2seq)"),
        (s.multiview_weight == 0 or d.gather != "device", "data.gather=device",
         "cannot be used with semi.multiview_weight > 0 (its view groups are gathered on the host): "
         "use data.gather=auto or host"),
        (d.sampling.mode in SAMPLING_MODES, "data.sampling.mode",
         f"must be one of {SAMPLING_MODES}, got {d.sampling.mode!r}"),
        (d.sampling.mode != "single" or bool(d.sampling.actions), "data.sampling.actions",
         "must name the action(s) to train on when data.sampling.mode=single"),
        (d.sampling.actions is None or len(d.sampling.actions) > 0, "data.sampling.actions",
         "is an empty list (use null for all)"),
        (d.sampling.cycle_order in ("fixed", "shuffled"), "data.sampling.cycle_order",
         f"must be fixed or shuffled, got {d.sampling.cycle_order!r}"),
        (b.unit in BUDGET_UNITS, "budget.unit", f"must be one of {BUDGET_UNITS}, got {b.unit!r}"),
        (b.amount is None or positive(b.amount), "budget.amount",
         f"must be positive (or null for trainer.max_epochs epochs), got {b.amount}"),
        (e.validate_every is None or positive(e.validate_every), "eval.validate_every",
         f"must be positive or null, got {e.validate_every}"),
        (e.validate_every_n_epochs >= 1, "eval.validate_every_n_epochs", f"must be >= 1, got {e.validate_every_n_epochs}"),
        (positive(o.lr), "optim.lr", f"must be positive and finite, got {o.lr}"),
        (finite(o.lr_decay) and 0 < o.lr_decay <= 1, "optim.lr_decay", f"must be in (0, 1], got {o.lr_decay}"),
        (finite(o.bn_momentum_start) and 0 < o.bn_momentum_start <= 1, "optim.bn_momentum_start",
         f"must be in (0, 1] (PyTorch's BatchNorm momentum: the weight of the newest batch), got {o.bn_momentum_start}"),
        (finite(o.bn_momentum_end) and 0 < o.bn_momentum_end <= 1, "optim.bn_momentum_end",
         f"must be in (0, 1], got {o.bn_momentum_end}"),
    ])
    d.synthetic.validate("data.synthetic")
