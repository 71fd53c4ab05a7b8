"""Runner of the ``multitask`` task: fit (with resume), test, predict for the deephar SPNet.

Reuses the lifting runner's loggers (W&B offline + CSV), config writing and ``summary.json``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np

from poseact.experiment import (
    LAST_CHECKPOINT,
    _finish_wandb,
    _loggers,
    _quiet_third_party,
    _write_config,
    checkpoint_callbacks,
    resolve_test_checkpoint,
    write_summary,
)

log = logging.getLogger("poseact")


def build_trainer(cfg, out: Path, enable_checkpointing: bool = True, callbacks: list | None = None):
    """Trainer with the project's loggers; checkpoints keep the best ``val/mpjpe`` (3-D) or
    ``val/pckh`` (2-D) and ``last.ckpt``."""
    import pytorch_lightning as pl

    _quiet_third_party()
    t = cfg.trainer
    callbacks = list(callbacks or [])
    if enable_checkpointing:
        monitor, mode = ("val/mpjpe", "min") if cfg.model.dim == 3 else ("val/pckh", "max")
        callbacks += checkpoint_callbacks(out / "checkpoints", monitor, mode)
    limits = {k: v for k, v in (("limit_train_batches", t.limit_train_batches),
                                 ("limit_val_batches", t.limit_val_batches)) if v != 1.0}
    return pl.Trainer(
        max_epochs=t.max_epochs, accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes,
        strategy=t.strategy, precision=t.precision, **limits, log_every_n_steps=t.log_every_n_steps,
        enable_progress_bar=t.enable_progress_bar, deterministic=t.deterministic,
        check_val_every_n_epoch=cfg.eval.validate_every_n_epochs, reload_dataloaders_every_n_epochs=1,
        logger=_loggers(cfg, out) or False, callbacks=callbacks, enable_checkpointing=enable_checkpointing,
        num_sanity_val_steps=0, default_root_dir=str(out),
    )


def build_task(cfg, datamodule):
    """The LightningModule (layout from the store); loads ``cfg.checkpoint`` weights if given."""
    import torch

    from poseact.tasks.multitask import MultitaskTask

    store = datamodule.load()
    task = MultitaskTask(cfg, store.layout_2d)
    if cfg.checkpoint:
        p = Path(cfg.checkpoint)
        if not p.exists():
            raise FileNotFoundError(f"checkpoint {cfg.checkpoint!r} not found")
        state = torch.load(p, map_location="cpu", weights_only=False)["state_dict"]
        task.load_state_dict(state, strict=False)
    if cfg.model.pose_replica and not cfg.checkpoint:
        task.model.copy_replicas()
    return task


def fit(cfg, callbacks: list | None = None) -> dict[str, float]:
    """Train (resuming from ``output_dir/checkpoints/last.ckpt``), then test; returns the test metrics."""
    import pytorch_lightning as pl

    from poseact.data.image_module import ImageClipDataModule

    out = Path(cfg.output_dir)
    _write_config(cfg, out)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    dm = ImageClipDataModule(cfg)
    dm.training_sources()  # open and check data.pose_sources / data.action_source before anything trains
    task = build_task(cfg, dm)
    trainer = build_trainer(cfg, out, callbacks=callbacks)
    last = out / "checkpoints" / LAST_CHECKPOINT
    ckpt_path = str(last) if cfg.resume and last.exists() else None
    if ckpt_path:
        log.warning("resuming from %s", ckpt_path)
    trainer.fit(task, datamodule=dm, ckpt_path=ckpt_path)
    return _final_test(task, dm, trainer, out)


def _final_test(task, dm, trainer, out: Path) -> dict[str, float]:
    trainer.test(task, datamodule=dm, verbose=False)
    results = dict(task.last_results)
    if trainer.is_global_zero and results:
        write_summary(out, results)
        print("\n".join(f"{k:24s} {v:8.2f}" for k, v in sorted(results.items())))
        from poseact.viz.plots import write_run_plots

        write_run_plots(out, "test")  # results/training_curves.png
    _finish_wandb(trainer)
    return results


def test(cfg) -> dict[str, float]:
    """Evaluate ``cfg.checkpoint`` (or the run's last checkpoint) on the test subjects."""
    import pytorch_lightning as pl

    from poseact.data.image_module import ImageClipDataModule

    out = Path(cfg.output_dir)
    cfg.checkpoint = str(resolve_test_checkpoint(cfg.checkpoint, out))
    pl.seed_everything(cfg.seed, verbose=False)
    dm = ImageClipDataModule(cfg)
    task = build_task(cfg, dm)
    return _final_test(task, dm, build_trainer(cfg, out, enable_checkpointing=False), out)


def predict(cfg, output: str | None = None) -> Path:
    """Last pose output (normalised crop ``x, y, (z), confidence``) and action probabilities of every
    centred test clip → one ``.npz`` (``pose (K, T, J, dim+1)``, ``action (K, A)``, ``video (K,)``)."""
    import torch

    from poseact.data.image_module import ImageClipDataModule

    dm = ImageClipDataModule(cfg)
    task = build_task(cfg, dm).eval()
    poses, probs, videos = [], [], []
    with torch.no_grad():
        for batch in dm.val_dataloader():
            p, a = task.model(batch["frames"], with_action=bool(cfg.model.action_pyramids))
            poses.append(p[-1].numpy())
            videos.append(batch["video"].numpy())
            if a:
                probs.append(torch.softmax(a[-1][0], -1).numpy())
    path = Path(output) if output else Path(cfg.output_dir) / "predictions.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    arrays = {"pose": np.concatenate(poses), "video": np.concatenate(videos)}
    if probs:
        arrays["action"] = np.concatenate(probs)
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    print(f"wrote {len(arrays['pose'])} clips to {path}", file=sys.stderr)
    return path
