"""The Lightning ``Trainer`` of every run: W&B (offline unless logged in; one W&B run per run
folder, resumed by id) and CSV loggers, the two checkpoint callbacks, the configured callbacks
(early stopping, lr monitor), atomic checkpoint saves, Lightning's own options from
``trainer.*``, and the world size a run will have."""

from __future__ import annotations

import logging
import netrc
import os
import warnings
from pathlib import Path
from typing import Any

from contextlib import contextmanager

from poseact.errors import ConfigError
from poseact.run.config import RunConfig, to_dict
from poseact.run.folder import BEST_CHECKPOINT_PATTERN, LAST_CHECKPOINT, RunFolder

log = logging.getLogger("poseact")


def resolve_wandb_mode(requested: str) -> str:
    """``auto``: honour ``WANDB_MODE`` if set, online when an API key is configured, else offline."""
    if requested != "auto":
        return requested
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    try:
        if netrc.netrc().authenticators("api.wandb.ai"):
            return "online"
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        pass
    return "offline"


def wandb_wanted(path: str | os.PathLike | None, overrides: list[str]) -> bool:
    """Whether a run of this config file and ``key=value`` overrides will log to W&B, read from the
    ``logger`` keys of the file, its defaults and the overrides alone (no family, no torch); False when
    they cannot be read (the full config load reports why)."""
    from omegaconf import OmegaConf

    from dataclasses import asdict

    from poseact.run.config import LoggerConfig, _load_yaml, _parse_dotlist, find_config

    try:
        parts = _load_yaml(find_config(path).resolve()) if path is not None else []
        parts += _parse_dotlist([o for o in overrides if o.strip().startswith("logger.")])
        logger = OmegaConf.merge(asdict(LoggerConfig()),  # the defaults the full load starts from
                                 *[p.get("logger") or {} for _, p in parts])
        return bool(logger.wandb) and resolve_wandb_mode(str(logger.wandb_mode)) != "disabled"
    except Exception:  # noqa: BLE001 - a guess for preload_wandb only
        return False


def preload_wandb() -> None:
    """Import W&B, and the module ``wandb.init`` imports on every start (``wandb.sdk.launch.inputs``,
    pydantic models whose definition scans ``sys.modules`` once per class), *before* torch and
    Lightning: with their ~3,000 modules loaded that import takes ~1 s, before them ~0.2 s. Only the
    import order changes; a run that will not log to W&B should not call this."""
    import wandb  # noqa: F401

    try:
        import wandb.sdk.launch.inputs.internal  # noqa: F401 - W&B's private module: a guess, never required
    except Exception:  # noqa: BLE001
        pass


class _DropTips(logging.Filter):
    """Lightning advertises add-on products at every start; keep the console for our output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in record.getMessage()


def quiet_third_party() -> None:
    """Silence the start-up noise of Lightning and friends that says nothing about the run."""
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    warnings.filterwarnings("ignore", message=r".*The anonymous setting has no effect.*")
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero"):
        logging.getLogger(name).addFilter(_DropTips())


def _rank_zero_process() -> bool:
    """Whether this is the process a run starts in (Lightning's DDP launcher re-runs the command in
    processes with ``LOCAL_RANK`` / ``NODE_RANK`` > 0)."""
    return int(os.environ.get("LOCAL_RANK", "0") or 0) == 0 and int(os.environ.get("NODE_RANK", "0") or 0) == 0


def wandb_run_id(folder: RunFolder, new_run: bool) -> str:
    """The W&B run id of this run folder: ``WANDB_RUN_ID`` when a W&B agent sets it, else the stored
    one (a resume, a test of the run, or a DDP process other than the first), else a fresh one,
    stored (``wandb_run_id`` in the folder) so that a resumed run continues the same W&B run and
    ``wandb sync`` sees one run."""
    agent = os.environ.get("WANDB_RUN_ID")  # a `wandb agent` names the run of each sweep trial itself
    stored = folder.read_wandb_id()
    if agent:
        if stored != agent and _rank_zero_process():
            folder.write_wandb_id(agent)
        return agent
    if stored and (not new_run or not _rank_zero_process()):
        return stored
    if not _rank_zero_process():  # the first process writes the id before launching the others
        raise ConfigError(f"{folder.wandb_id_path} is missing in a DDP worker process")
    import secrets

    run_id = secrets.token_hex(4)  # 8 characters of [0-9a-f], as W&B's own ids
    folder.write_wandb_id(run_id)
    return run_id


def loggers(cfg: RunConfig, folder: RunFolder, new_run: bool = False) -> list:
    """W&B (unless disabled) and CSV; a new ``csv/version_N`` per (re)start, so a resume never
    overwrites earlier metrics. ``new_run``: a fit that does not resume gets a new W&B run id; any
    other start continues the folder's W&B run."""
    from pytorch_lightning.loggers import CSVLogger, WandbLogger

    out: list = []
    mode = resolve_wandb_mode(cfg.logger.wandb_mode)
    if cfg.logger.wandb and mode != "disabled":
        os.environ["WANDB_MODE"] = mode  # the environment variable avoids a telemetry call at exit
        os.environ.setdefault("WANDB_SILENT", "true")
        out.append(WandbLogger(project=cfg.logger.wandb_project, name=cfg.name, save_dir=str(folder.root),
                               config=to_dict(cfg), id=wandb_run_id(folder, new_run), resume="allow"))
    if cfg.logger.csv:
        out.append(CSVLogger(save_dir=str(folder.root), name=folder.csv_logs.name))
    return out


def finish_wandb(trainer) -> None:
    """Close the W&B run on rank 0 (with ``ddp_fork`` its metrics are lost otherwise)."""
    from pytorch_lightning.loggers import WandbLogger

    if trainer.is_global_zero and any(isinstance(lg, WandbLogger) for lg in trainer.loggers):
        import wandb

        wandb.finish()


def checkpoint_callbacks(directory: Path, monitor: str, mode: str) -> list:
    """The best epoch by ``monitor`` (``epochNNN.ckpt``, the only one kept) and ``last.ckpt``,
    rewritten at the end of every training epoch (and where a budget ends mid-epoch): what a
    resumed run starts from.

    One callback cannot do both: Lightning >= 2.5 rewrites ``save_last`` only when a top-k
    checkpoint was saved at the same step, so with a monitor ``last.ckpt`` would stay at the best
    epoch and a resumed run would repeat epochs."""
    from pytorch_lightning.callbacks import ModelCheckpoint

    best = ModelCheckpoint(dirpath=directory, filename=BEST_CHECKPOINT_PATTERN, auto_insert_metric_name=False,
                           save_top_k=1, monitor=monitor, mode=mode)
    last = ModelCheckpoint(dirpath=directory, filename=Path(LAST_CHECKPOINT).stem, monitor=None, save_top_k=1,
                           save_on_train_epoch_end=True, enable_version_counter=False)
    return [best, last]


def configured_callbacks(cfg: RunConfig) -> list:
    """The callbacks of the ``callbacks`` section: early stopping, the lr monitor."""
    from pytorch_lightning.callbacks import EarlyStopping

    out: list = []
    es = cfg.callbacks.early_stopping
    if es.monitor:
        out.append(EarlyStopping(monitor=es.monitor, patience=es.patience, mode=es.mode, min_delta=es.min_delta,
                                 check_on_train_epoch_end=False))
    if cfg.callbacks.lr_monitor:
        out.append(lr_monitor(cfg.callbacks.lr_monitor))
    return out


def lr_monitor(interval: str):
    """Lightning's ``LearningRateMonitor``, reading the lr the optimizer steps with.

    Lightning >= 2.x reads the param groups of optimizers without a scheduler too, but at
    ``on_train_batch_start``, before the module's own ``on_train_batch_start`` (where the lifter
    sets this step's lr from its clock): it would log the previous step's lr. ``step`` logging here
    happens at ``on_before_optimizer_step`` instead, after every hook has set the lr."""
    from pytorch_lightning.callbacks import LearningRateMonitor

    class StepLearningRateMonitor(LearningRateMonitor):
        def on_train_batch_start(self, trainer, *args, **kwargs) -> None:
            pass

        def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
            super().on_train_batch_start(trainer)

    return StepLearningRateMonitor(logging_interval="step") if interval == "step" else \
        LearningRateMonitor(logging_interval="epoch")


def validate_at_budget_end():
    """A callback that makes a run whose step budget (``max_steps``) ends before its first
    validation validate once there: every run gets a validation curve point and a best checkpoint."""
    from pytorch_lightning.callbacks import Callback

    class ValidateAtBudgetEnd(Callback):
        def __init__(self) -> None:
            self.validated = False

        def on_validation_end(self, trainer, pl_module) -> None:
            if not trainer.sanity_checking:
                self.validated = True

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if not self.validated and 0 < trainer.max_steps <= trainer.global_step:
                trainer.should_stop = True  # Lightning validates on a stop request (min_* permitting)

        def state_dict(self) -> dict:
            return {"validated": self.validated}

        def load_state_dict(self, state_dict: dict) -> None:
            self.validated = bool(state_dict.get("validated", False))

    return ValidateAtBudgetEnd()


def planned_world_size(t) -> int:
    """Processes the run will have (``num_nodes`` × devices), from the trainer config alone, as
    Lightning resolves it: ``auto`` / -1 devices are every visible GPU on a GPU accelerator, one
    process on the CPU."""
    import torch

    gpu = t.accelerator in ("gpu", "cuda") or (t.accelerator == "auto" and torch.cuda.is_available())
    devices = t.devices
    if isinstance(devices, str) and devices not in ("auto", "-1"):
        devices = [d for d in devices.split(",") if d.strip()]
    if isinstance(devices, (list, tuple)):
        count = len(devices)
    elif devices in ("auto", -1, "-1"):
        count = torch.cuda.device_count() if gpu else 1
    else:
        count = int(devices)
    return max(1, count) * int(t.num_nodes)


def _limit(value: float) -> float | int:
    """A whole number of batches above 1 goes to Lightning as an int (a float means a fraction)."""
    return int(value) if value > 1 else value


def _uses_gpu(t) -> bool:
    import torch

    return t.accelerator in ("gpu", "cuda") or (t.accelerator == "auto" and torch.cuda.is_available())


def _suspects(t, message: str) -> str:
    """``"trainer.precision='17': "`` — the trainer keys a Lightning refusal names (by key, or by
    a quoted value), to start its one line with."""
    from dataclasses import fields

    values = {f.name: getattr(t, f.name) for f in fields(t) if f.name != "extra"} | dict(t.extra)
    named = [k for k, v in values.items()
             if k in message or (v not in (None, True, False) and (f"'{v}'" in message or f"`{v}`" in message))]
    return "".join(f"trainer.{k}={values[k]!r}: " for k in named[:2])


def build_trainer(cfg: RunConfig, folder: RunFolder, monitor: tuple[str, str] | None,
                  callbacks: list | None = None, options: dict[str, Any] | None = None, new_run: bool = False):
    """A Trainer with the project's loggers and, when ``monitor`` is given (a fit), checkpoints in
    ``folder.checkpoints`` and the configured callbacks; ``options`` (from the family: budgets,
    loader reloads) override the config's epoch-based defaults; ``trainer.extra`` (Lightning's own
    options) is passed through. Lightning's refusals are one :class:`ConfigError`."""
    import pytorch_lightning as pl

    from poseact.run.checkpoints import atomic_checkpoint_io

    quiet_third_party()
    t = cfg.trainer
    callbacks = list(callbacks or [])
    if monitor is not None:
        callbacks += checkpoint_callbacks(folder.checkpoints, *monitor) + configured_callbacks(cfg)
        callbacks.append(validate_at_budget_end())
    limits = {k: _limit(v) for k, v in (("limit_train_batches", t.limit_train_batches),
                                         ("limit_val_batches", t.limit_val_batches)) if v != 1.0}
    if t.sync_batchnorm and not _uses_gpu(t) and (planned_world_size(t) > 1 or "ddp" in str(t.strategy)):
        # under DDP Lightning swaps in torch's SyncBatchNorm, whose training forward refuses CPU tensors
        raise ConfigError(f"trainer.sync_batchnorm=true needs GPUs (torch's SyncBatchNorm does not run on the CPU); "
                          f"trainer.accelerator={t.accelerator!r}, trainer.strategy={t.strategy!r} with "
                          f"{planned_world_size(t)} process(es)")
    kwargs: dict[str, Any] = dict(
        accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes, strategy=t.strategy,
        precision=t.precision, max_epochs=t.max_epochs if t.max_epochs is not None else -1, **limits,
        log_every_n_steps=t.log_every_n_steps, enable_progress_bar=t.enable_progress_bar,
        deterministic=t.deterministic, sync_batchnorm=t.sync_batchnorm, use_distributed_sampler=False,
        callbacks=callbacks, enable_checkpointing=monitor is not None,
        plugins=[atomic_checkpoint_io()], num_sanity_val_steps=0, default_root_dir=str(folder.root))
    if t.max_time is not None:
        kwargs["max_time"] = t.max_time
    kwargs.update(t.extra)
    kwargs.update(options or {})
    accumulate = kwargs.get("accumulate_grad_batches", 1)
    if isinstance(accumulate, int) and accumulate > 1 and kwargs.get("max_steps", -1) > 0:
        # a budget counts batches; Lightning's max_steps counts optimizer steps (one per `accumulate` batches)
        kwargs["max_steps"] = -(-kwargs["max_steps"] // accumulate)
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    try:
        trainer = pl.Trainer(logger=loggers(cfg, folder, new_run) or False, **kwargs)
    except (MisconfigurationException, TypeError, ValueError) as e:
        raise ConfigError(f"{_suspects(t, str(e))}Lightning refused the trainer settings: "
                          f"{' '.join(str(e).split())}") from None
    planned = planned_world_size(t)
    if trainer.world_size != planned:
        raise ConfigError(f"trainer.devices={t.devices!r} × trainer.num_nodes={t.num_nodes} gives "
                          f"{trainer.world_size} processes here, not the {planned} the run was planned for")
    return trainer


@contextmanager
def lightning_says_no():
    """Lightning's refusals of settings (``MisconfigurationException``: a batch limit that leaves no
    batch, a strategy the machine cannot run; early stopping on a metric the run never logs) are user
    errors: one line, not a traceback."""
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    try:
        yield
    except MisconfigurationException as e:
        raise ConfigError(f"Lightning refused the trainer settings: {' '.join(str(e).split())}") from None
    except RuntimeError as e:
        if "Early stopping conditioned on metric" not in str(e):
            raise
        first = " ".join(str(e).split()).split(". ")[0]
        raise ConfigError(f"callbacks.early_stopping.monitor: {first}") from None
