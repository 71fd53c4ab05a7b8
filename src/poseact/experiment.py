"""Run experiments from a config: build the trainer, fit (with resume), test, predict, export.

The CLI is a thin layer over these functions; notebooks and sweeps call them directly.
"""

from __future__ import annotations

import json
import logging
import netrc
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from poseact.config import ExperimentConfig, to_dict, to_yaml

log = logging.getLogger("poseact")

LAST_CHECKPOINT = "last.ckpt"


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


def _quiet_third_party() -> None:
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    warnings.filterwarnings("ignore", message=r".*The anonymous setting has no effect.*")
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero"):
        logging.getLogger(name).addFilter(_DropTips())


def _loggers(cfg: ExperimentConfig, out: Path) -> list:
    from pytorch_lightning.loggers import CSVLogger, WandbLogger

    loggers: list = []
    mode = resolve_wandb_mode(cfg.logger.wandb_mode)
    if cfg.logger.wandb and mode != "disabled":
        os.environ["WANDB_MODE"] = mode  # the environment variable avoids a telemetry call at exit
        os.environ.setdefault("WANDB_SILENT", "true")
        loggers.append(WandbLogger(project=cfg.logger.wandb_project, name=cfg.name, save_dir=str(out),
                                   config=to_dict(cfg)))
    if cfg.logger.csv:
        # a new version_N folder per (re)start: a resumed run never overwrites earlier metrics
        loggers.append(CSVLogger(save_dir=str(out), name="csv"))
    return loggers


def checkpoint_callbacks(directory: Path, monitor: str, mode: str) -> list:
    """Two checkpoint callbacks: the best epoch by ``monitor`` (``epochNNN.ckpt``, the only one
    kept) and ``last.ckpt`` rewritten at the end of every training epoch (and where a budget ends
    mid-epoch), which is what a resumed run starts from.

    One callback cannot do both: Lightning ≥ 2.5 rewrites ``save_last`` only when a top-k
    checkpoint was saved at the same step, so with a monitor ``last.ckpt`` would stay at the best
    epoch and a resumed run would repeat epochs."""
    from pytorch_lightning.callbacks import ModelCheckpoint

    best = ModelCheckpoint(dirpath=directory, filename="epoch{epoch:03d}", auto_insert_metric_name=False,
                           save_top_k=1, monitor=monitor, mode=mode)
    last = ModelCheckpoint(dirpath=directory, filename=Path(LAST_CHECKPOINT).stem, monitor=None, save_top_k=1,
                           save_on_train_epoch_end=True, enable_version_counter=False)
    return [best, last]


def build_trainer(cfg: ExperimentConfig, out: Path, enable_checkpointing: bool = True, callbacks: list | None = None,
                  datamodule=None):
    """A Lightning Trainer with W&B + CSV loggers and epoch-end checkpoints in ``out/checkpoints``
    (plus any extra ``callbacks``). With a set-up ``datamodule`` and a ``budget.amount``, training
    stops when the budget is spent, and ``eval.validate_every`` validates at budget intervals."""
    import pytorch_lightning as pl

    _quiet_third_party()
    t = cfg.trainer
    callbacks = list(callbacks or [])
    if enable_checkpointing:
        callbacks += checkpoint_callbacks(out / "checkpoints", "val/p1", "min")
    limits = {k: v for k, v in (("limit_train_batches", t.limit_train_batches),
                                 ("limit_val_batches", t.limit_val_batches)) if v != 1.0}
    length = {"max_epochs": t.max_epochs, "check_val_every_n_epoch": cfg.eval.validate_every_n_epochs}
    if datamodule is not None and (cfg.budget.amount is not None or cfg.eval.validate_every is not None):
        schedule = datamodule.schedule()
        if cfg.budget.amount is not None:
            length.update(max_epochs=-1, max_steps=datamodule.steps_for(schedule.total_samples))
        if cfg.eval.validate_every is not None:
            every = datamodule.steps_for(int(round(cfg.eval.validate_every * schedule.samples_per_unit)))
            length.update(val_check_interval=max(1, every), check_val_every_n_epoch=None)
    return pl.Trainer(
        accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes, **length,
        strategy=t.strategy, precision=t.precision, **limits, log_every_n_steps=t.log_every_n_steps,
        enable_progress_bar=t.enable_progress_bar, deterministic=t.deterministic, use_distributed_sampler=False,
        logger=_loggers(cfg, out) or False, callbacks=callbacks, enable_checkpointing=enable_checkpointing,
        num_sanity_val_steps=0, default_root_dir=str(out),
    )


def _write_config(cfg: ExperimentConfig, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".config.yaml.tmp"
    tmp.write_text(to_yaml(cfg))
    tmp.replace(out / "config.yaml")


def build_task(cfg: ExperimentConfig, datamodule):
    """The LightningModule for ``cfg``, sized from the store; loads ``cfg.checkpoint`` weights
    (whose architecture, and trajectory model if it has one, take precedence over the config)."""
    from poseact.models.compat import load_lifter_state
    from poseact.tasks.lifting import LiftingTask

    arrays = datamodule.load()
    store = datamodule.store
    states = read_lifter_states(cfg.checkpoint) if cfg.checkpoint else None
    if states is not None:
        _adopt_checkpoint_architecture(cfg, states, arrays.num_joints_in)
    task = LiftingTask(cfg, arrays.num_joints_in, arrays.in_features, store.layout_2d, store.layout_3d)
    if states is not None:
        pose_state, traj_state = states
        load_lifter_state(task.model, pose_state, where=f"checkpoint {cfg.checkpoint!r} (pose model)")
        if traj_state is not None:
            load_lifter_state(task.trajectory_model, traj_state, where=f"checkpoint {cfg.checkpoint!r} (trajectory model)")
    return task


def read_lifter_states(path: str) -> tuple[dict, dict | None]:
    """``(pose state dict, trajectory state dict or None)`` from a poseact ``.ckpt`` or an
    original VideoPose3D ``.bin`` (parameter names are the same in both)."""
    import torch

    from poseact.models.compat import read_videopose3d_checkpoint

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"checkpoint {path!r} not found")
    if p.suffix != ".ckpt":
        ckpt = read_videopose3d_checkpoint(p)
        return ckpt["model_pos"], ckpt.get("model_traj")
    state = torch.load(p, map_location="cpu", weights_only=False)["state_dict"]

    def part(prefix: str) -> dict | None:
        sub = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
        return sub or None

    pose = part("model.")
    if pose is None:
        raise FileNotFoundError(f"checkpoint {path!r} holds no lifter weights (keys {sorted(state)[:4]} ...)")
    return pose, part("trajectory_model.")


def _adopt_checkpoint_architecture(cfg: ExperimentConfig, states: tuple[dict, dict | None], num_joints_in: int) -> None:
    """Size the model from the checkpoint (e.g. the 243-frame release under a 27-frame config)."""
    from poseact.models.compat import infer_architecture

    arch = infer_architecture(states[0], num_joints_in, where=f"checkpoint {cfg.checkpoint!r}")
    widths, channels = list(arch.filter_widths), arch.channels
    if (widths, channels) != (cfg.model.filter_widths, cfg.model.channels):
        log.warning("checkpoint %s: using its architecture filter_widths=%s channels=%d (config said %s, %d)",
                    cfg.checkpoint, widths, channels, cfg.model.filter_widths, cfg.model.channels)
        cfg.model.filter_widths, cfg.model.channels = widths, channels
    if states[1] is not None:
        cfg.model.trajectory = True


def fit(cfg: ExperimentConfig, callbacks: list | None = None) -> dict[str, float]:
    """Train (resuming from ``output_dir/checkpoints/last.ckpt`` if present), then run the final
    evaluation with flip TTA and write the per-action table next to the run.

    Returns the action-wise averages (mm) and the frame-wise ones (``*_frame_wise``)."""
    import pytorch_lightning as pl

    from poseact.data.modules import LiftingDataModule
    from poseact.schedule import short_run_warning

    out = Path(cfg.output_dir)
    _write_config(cfg, out)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = LiftingDataModule(cfg)
    task = build_task(cfg, datamodule)
    datamodule.setup("fit")
    trainer = build_trainer(cfg, out, callbacks=callbacks, datamodule=datamodule)
    schedule = datamodule.schedule()
    log.info("budget: %s", schedule)
    warning = short_run_warning(schedule, datamodule.steps_for(schedule.total_samples))
    if warning:
        log.warning(warning)
    last = out / "checkpoints" / LAST_CHECKPOINT
    ckpt_path = str(last) if cfg.resume and last.exists() else None
    if ckpt_path:
        log.warning("resuming from %s", ckpt_path)
    trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path)
    return _final_test(cfg, task, datamodule, trainer, out)


def _final_test(cfg: ExperimentConfig, task, datamodule, trainer, out: Path) -> dict[str, float]:
    from poseact.tasks.lifting import write_results

    trainer.test(task, datamodule=datamodule, verbose=False)
    results = task.last_results
    if trainer.is_global_zero and results is not None and len(results):
        csv_path, md_path = write_results(results, out / "results", "test")
        print(f"\nFinal evaluation ({'flip TTA' if cfg.eval.test_time_flip else 'no TTA'}), "
              f"{', '.join(cfg.data.subjects_test)}:\n")
        print(results.to_markdown())
        print(f"\nwritten: {csv_path}, {md_path}")
        from poseact.viz.plots import write_run_plots

        write_run_plots(out, "test")  # results/test_per_action.png, results/training_curves.png
    _finish_wandb(trainer)
    if results is None or not len(results):
        return {}
    from poseact.tasks.lifting import UNIT_SCALE

    summary = {**{f"{k}": v * UNIT_SCALE.get(k, 1000.0) for k, v in results.action_wise().items()},
               **{f"{k}_frame_wise": v * UNIT_SCALE.get(k, 1000.0) for k, v in results.frame_wise().items()}}
    if task.samples_seen:  # where in the budget training ended
        summary["budget_samples"] = float(task.samples_seen)
        summary[f"budget_{task.schedule.unit}"] = task.samples_seen / task.schedule.samples_per_unit
    if trainer.is_global_zero:
        write_summary(out, summary)
    return summary


def resolve_test_checkpoint(checkpoint: str | None, out: Path) -> Path:
    """The checkpoint ``test`` evaluates: the one given, else the run's ``checkpoints/last.ckpt``."""
    if checkpoint:
        if not Path(checkpoint).exists():
            raise FileNotFoundError(f"checkpoint {checkpoint!r} not found")
        return Path(checkpoint)
    last = out / "checkpoints" / LAST_CHECKPOINT
    if not last.exists():
        raise FileNotFoundError(f"no checkpoint given (checkpoint=...) and none at {last}")
    return last


def write_summary(out: Path, summary: dict[str, float]) -> Path:
    """``results/summary.json``: the final metrics (mm) — what sweeps and scripts read back."""
    path = out / "results" / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".summary.json.tmp")
    tmp.write_text(json.dumps(summary, indent=1, sort_keys=True))
    tmp.replace(path)
    return path


def _finish_wandb(trainer) -> None:
    from pytorch_lightning.loggers import WandbLogger

    if any(isinstance(lg, WandbLogger) for lg in trainer.loggers) and trainer.is_global_zero:
        import wandb

        wandb.finish()


def test(cfg: ExperimentConfig) -> dict[str, float]:
    """Evaluate ``cfg.checkpoint`` (or the run's last checkpoint) on the test subjects."""
    import pytorch_lightning as pl

    from poseact.data.modules import LiftingDataModule

    out = Path(cfg.output_dir)
    cfg.checkpoint = str(resolve_test_checkpoint(cfg.checkpoint, out))
    pl.seed_everything(cfg.seed, verbose=False)
    datamodule = LiftingDataModule(cfg)
    task = build_task(cfg, datamodule)
    trainer = build_trainer(cfg, out, enable_checkpointing=False)
    return _final_test(cfg, task, datamodule, trainer, out)


def predict(cfg: ExperimentConfig, output: str | None = None) -> Path:
    """Predict root-relative 3-D (metres, camera space) for every test sequence → one ``.npz``
    keyed ``subject/take/camera`` (``(T, J, 3)``), plus ``subject/take/camera/trajectory``
    (``(T, 1, 3)``, root in camera space) when the model has a trajectory model. Written atomically."""
    from poseact.data.modules import LiftingDataModule

    out = Path(cfg.output_dir)
    datamodule = LiftingDataModule(cfg)
    task = build_task(cfg, datamodule)
    trainer = build_trainer(cfg, out, enable_checkpointing=False)
    batches = trainer.predict(task, datamodule=datamodule)
    path = Path(output) if output else out / "predictions.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    arrays = {b["key"]: b["pose3d"] for b in batches}
    arrays.update({f"{b['key']}/trajectory": b["trajectory"] for b in batches if "trajectory" in b})
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    print(f"wrote {len(batches)} sequences to {path}", file=sys.stderr)
    return path


def export_videopose3d(ckpt: str, output: str) -> Path:
    """Write a poseact ``.ckpt``'s lifter (and trajectory model) in VideoPose3D's ``.bin`` format."""
    import torch

    from poseact.models.compat import infer_architecture, save_videopose3d_checkpoint

    raw = torch.load(ckpt, map_location="cpu", weights_only=False)
    pose_state, traj_state = read_lifter_states(ckpt)
    num_joints_in = raw.get("hyper_parameters", {}).get("num_joints_in")

    def build(state: dict):
        model = infer_architecture(state, num_joints_in, where=ckpt).build()
        model.load_state_dict(state)
        return model

    lr = float(raw["optimizer_states"][0]["param_groups"][0]["lr"]) if raw.get("optimizer_states") else 0.0
    return save_videopose3d_checkpoint(output, build(pose_state), build(traj_state) if traj_state else None,
                                       epoch=int(raw.get("epoch", -1)) + 1, lr=lr)
