"""fit / test / predict / export for any registered model family.

The CLI, sweeps, notebooks and scripts call these; what differs between families comes from their
:class:`~poseact.run.registry.Family` object, everything else (the run folder, seeding, the trainer,
resume, the final evaluation, ``summary.json``, plots, W&B) is done here once.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path

from poseact.run.checkpoints import load_checkpoint_file
from poseact.atomic import check_writable
from poseact.errors import ConfigError, TrainingError
from poseact.run.folder import RunFolder
from poseact.run.registry import family, family_of_checkpoint
from poseact.run.trainer import build_trainer, finish_wandb, planned_world_size

log = logging.getLogger("poseact")


def fit(cfg, callbacks: list | None = None) -> dict[str, float]:
    """Train (resuming from ``output_dir/checkpoints/last.ckpt`` if present and ``cfg.resume``),
    then run the final evaluation; returns the summary (``results/summary.json``)."""
    import pytorch_lightning as pl

    fam = family(cfg.task)
    folder = RunFolder(cfg.output_dir)
    folder.prepare()
    resume_from = folder.last_checkpoint if cfg.resume and folder.last_checkpoint.exists() else None
    if resume_from is not None:  # refuse before the folder is touched
        fam.check_resume(cfg, load_checkpoint_file(resume_from, "checkpoint to resume from"), resume_from)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    module, datamodule = fam.build(cfg, "fit")  # where bad data and checkpoints are found
    world = planned_world_size(cfg.trainer)
    trainer = build_trainer(cfg, folder, fam.monitor_for(cfg), callbacks=callbacks,
                            options=fam.trainer_options(cfg, datamodule, world))
    fam.before_fit(cfg, module, datamodule)
    folder.write_config(cfg)  # the first thing written, once everything has been checked
    if resume_from is not None:
        log.warning("resuming from %s", resume_from)
    with lightning_says_no():
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume_from) if resume_from else None)
    if trainer.global_step == 0:
        raise TrainingError(f"no training step ran (trainer.limit_train_batches={cfg.trainer.limit_train_batches}, "
                            f"{trainer.num_training_batches} batches per epoch): nothing was trained, so nothing is "
                            f"evaluated; check the training data selection and trainer.limit_train_batches")
    return _final_test(cfg, fam, module, datamodule, trainer, folder)


def test(cfg) -> dict[str, float]:
    """Evaluate ``cfg.checkpoint`` (or the run's last checkpoint) on the test data."""
    import pytorch_lightning as pl

    fam = family(cfg.task)
    folder = RunFolder(cfg.output_dir)
    cfg.checkpoint = str(folder.resolve_checkpoint(cfg.checkpoint))
    folder.prepare()
    pl.seed_everything(cfg.seed, verbose=False)
    module, datamodule = fam.build(cfg, "test")
    world = planned_world_size(cfg.trainer)
    trainer = build_trainer(cfg, folder, None, options=fam.trainer_options(cfg, datamodule, world))
    return _final_test(cfg, fam, module, datamodule, trainer, folder)


def _final_test(cfg, fam, module, datamodule, trainer, folder: RunFolder) -> dict[str, float]:
    with lightning_says_no():
        trainer.test(module, datamodule=datamodule, verbose=False)
    summary = fam.report(cfg, module, folder, trainer.is_global_zero)
    if trainer.is_global_zero and summary:
        folder.write_summary(summary)
        write_run_plots(folder, title=cfg.name)
    finish_wandb(trainer)
    return summary


def write_run_plots(folder: RunFolder, stem: str = "test", title: str | None = None) -> list[Path]:
    """``results/<stem>_per_action.png`` (lifting runs) and ``results/training_curves.png``.

    Never raises on a plotting problem (a failed figure must not fail a finished run): the error is
    printed and the figure skipped."""
    from poseact.viz.plots import plot_per_action, plot_training_curves

    jobs = []
    if folder.per_action(stem, "csv").exists():
        jobs.append((folder.per_action(stem, "png"),
                     lambda out: plot_per_action(folder.per_action(stem, "csv"), out, title=title)))
    jobs.append((folder.training_curves, lambda out: plot_training_curves(folder.read_metrics(), out, title=title)))
    written = []
    for out, draw in jobs:
        try:
            path = draw(out)
        except Exception as e:  # noqa: BLE001 - plots are a by-product
            print(f"poseact: plot {out.name} skipped: {e}")
            continue
        if path is not None:
            written.append(path)
    return written


@contextmanager
def lightning_says_no():
    """Lightning's refusals of settings (``MisconfigurationException``: a batch limit that leaves no
    batch, a strategy the machine cannot run) are user errors: one line, not a traceback."""
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    try:
        yield
    except MisconfigurationException as e:
        raise ConfigError(f"Lightning refused the trainer settings: {' '.join(str(e).split())}") from None


def predict(cfg, output: str | os.PathLike | None = None) -> Path:
    """The family's predictions of the evaluation data → ``output`` (default
    ``OUTPUT_DIR/predictions.npz``), written atomically."""
    fam = family(cfg.task)
    path = check_writable(output or RunFolder(cfg.output_dir).predictions_path, "predictions")
    return fam.predict(cfg, path)


def export(checkpoint: str | os.PathLike, output: str | os.PathLike, fmt: str = "videopose3d"):
    """Write a checkpoint's model in another format (the family decides which it offers). Returns the
    family's answer: the path written, or a report that names it (``str`` gives one line)."""
    path = Path(checkpoint)
    raw = load_checkpoint_file(path)
    out = check_writable(output, "export")
    return family_of_checkpoint(raw, path).export(path, out, fmt)
