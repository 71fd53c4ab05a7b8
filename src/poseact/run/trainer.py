"""The Lightning ``Trainer`` of every run: W&B (offline unless logged in) and CSV loggers, the two
checkpoint callbacks, atomic checkpoint saves, and the world size a run will have."""

from __future__ import annotations

import logging
import netrc
import os
import warnings
from pathlib import Path
from typing import Any

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


def loggers(cfg: RunConfig, folder: RunFolder) -> list:
    """W&B (unless disabled) and CSV; a new ``csv/version_N`` per (re)start, so a resume never
    overwrites earlier metrics."""
    from pytorch_lightning.loggers import CSVLogger, WandbLogger

    out: list = []
    mode = resolve_wandb_mode(cfg.logger.wandb_mode)
    if cfg.logger.wandb and mode != "disabled":
        os.environ["WANDB_MODE"] = mode  # the environment variable avoids a telemetry call at exit
        os.environ.setdefault("WANDB_SILENT", "true")
        out.append(WandbLogger(project=cfg.logger.wandb_project, name=cfg.name, save_dir=str(folder.root),
                               config=to_dict(cfg)))
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


def build_trainer(cfg: RunConfig, folder: RunFolder, monitor: tuple[str, str] | None,
                  callbacks: list | None = None, options: dict[str, Any] | None = None):
    """A Trainer with the project's loggers and, when ``monitor`` is given, checkpoints in
    ``folder.checkpoints``; ``options`` (from the family: budgets, loader reloads) override the
    config's epoch-based defaults."""
    import pytorch_lightning as pl

    from poseact.run.checkpoints import atomic_checkpoint_io

    quiet_third_party()
    t = cfg.trainer
    callbacks = list(callbacks or [])
    if monitor is not None:
        callbacks += checkpoint_callbacks(folder.checkpoints, *monitor)
    limits = {k: _limit(v) for k, v in (("limit_train_batches", t.limit_train_batches),
                                         ("limit_val_batches", t.limit_val_batches)) if v != 1.0}
    kwargs: dict[str, Any] = dict(
        accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes, strategy=t.strategy,
        precision=t.precision, max_epochs=t.max_epochs, **limits, log_every_n_steps=t.log_every_n_steps,
        enable_progress_bar=t.enable_progress_bar, deterministic=t.deterministic, use_distributed_sampler=False,
        logger=loggers(cfg, folder) or False, callbacks=callbacks, enable_checkpointing=monitor is not None,
        plugins=[atomic_checkpoint_io()], num_sanity_val_steps=0, default_root_dir=str(folder.root))
    if t.max_time is not None:
        kwargs["max_time"] = t.max_time
    kwargs.update(options or {})
    trainer = pl.Trainer(**kwargs)
    planned = planned_world_size(t)
    if trainer.world_size != planned:
        raise ConfigError(f"trainer.devices={t.devices!r} × trainer.num_nodes={t.num_nodes} gives "
                          f"{trainer.world_size} processes here, not the {planned} the run was planned for")
    return trainer
