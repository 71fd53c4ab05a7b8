"""fit / test / predict / export for any registered model family.

The CLI, sweeps, notebooks and scripts call these; what differs between families comes from their
:class:`~poseact.run.registry.Family` object, everything else (the run folder, seeding, the trainer,
resume, the final evaluation, ``summary.json``, plots, W&B) is done here once.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from poseact.run.checkpoints import load_checkpoint_file
from poseact.atomic import check_writable
from poseact.errors import CheckpointError, ConfigError, TrainingError
from poseact.run.folder import RunFolder
from poseact.run.registry import family, family_of_checkpoint
from poseact.run.trainer import build_trainer, finish_wandb, lightning_says_no, planned_world_size

log = logging.getLogger("poseact")


def starting_weights(cfg) -> str | None:
    """The weights a fit starts from: ``init_checkpoint``; ``checkpoint`` is its old name for fit
    (one release, with a one-line warning). Sets both on ``cfg`` (families load ``cfg.checkpoint``)."""
    old, new = cfg.checkpoint, getattr(cfg, "init_checkpoint", None)
    if old and new and str(old) != str(new):
        raise ConfigError(f"checkpoint={old!r} and init_checkpoint={new!r} both name fit's starting weights; "
                          f"keep init_checkpoint")
    if old and not new:
        log.warning("checkpoint=%s: for fit, the starting weights are now init_checkpoint=... (checkpoint means "
                    "the weights test and predict evaluate); the old name works until the next release", old)
    start = new or old or None
    cfg.init_checkpoint = cfg.checkpoint = start
    return start


def fit(cfg, callbacks: list | None = None) -> dict:
    """Train (resuming from ``output_dir/checkpoints/last.ckpt`` if present and ``cfg.resume``),
    then run the final evaluation; returns the summary (``results/summary.json``). A second fit into
    the same ``output_dir`` is refused while this one runs."""
    folder = RunFolder(cfg.output_dir)
    starting_weights(cfg)
    lock = folder.lock() if _first_process() else contextlib.nullcontext()
    with lock:
        return _fit(cfg, folder, callbacks)


def _first_process() -> bool:
    from poseact.run.trainer import _rank_zero_process

    return _rank_zero_process()


def _fit(cfg, folder: RunFolder, callbacks: list | None) -> dict:
    import pytorch_lightning as pl

    fam = family(cfg.task)
    folder.prepare()
    resume_from = folder.last_checkpoint if cfg.resume and folder.last_checkpoint.exists() else None
    if resume_from is not None:  # refuse before the folder is touched
        fam.check_resume(cfg, load_checkpoint_file(resume_from, "checkpoint to resume from"), resume_from)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    module, datamodule = fam.build(cfg, "fit")  # where bad data and checkpoints are found
    world = planned_world_size(cfg.trainer)
    trainer = build_trainer(cfg, folder, fam.monitor_for(cfg), callbacks=callbacks,
                            options=fam.trainer_options(cfg, datamodule, world), new_run=resume_from is None)
    fam.before_fit(cfg, module, datamodule)
    planned = fam.planned_budget(cfg, datamodule, world)
    folder.write_config(saved_config(cfg))  # the first thing written, once everything has been checked
    if resume_from is not None:
        log.warning("resuming from %s", resume_from)
    if trainer.is_global_zero and planned:
        print(f"poseact: budget {format_budget(planned)}")
    with lightning_says_no():
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume_from) if resume_from else None)
    if trainer.global_step == 0:
        raise TrainingError(f"no training step ran (trainer.limit_train_batches={cfg.trainer.limit_train_batches}, "
                            f"{trainer.num_training_batches} batches per epoch): nothing was trained, so nothing is "
                            f"evaluated; check the training data selection and trainer.limit_train_batches")
    budget = fam.budget_done(cfg, module, trainer, planned)
    if trainer.is_global_zero and budget:
        print(f"poseact: trained {budget['done']['samples']:,} {budget['sample'].split(' (')[0]}s in "
              f"{budget['done']['steps']:,} steps (planned {budget['planned']['samples']:,} in "
              f"{budget['planned']['steps']:,})" if budget.get("planned") else
              f"poseact: trained {budget['done']['steps']:,} steps")
    return _final_test(cfg, fam, module, datamodule, trainer, folder, "fit", budget, None)


def saved_config(cfg):
    """The config a run folder keeps: ``init_checkpoint`` names the starting weights, ``checkpoint``
    (the weights to evaluate) is left to ``poseact test``."""
    import copy

    saved = copy.deepcopy(cfg)
    saved.checkpoint = None
    return saved


def format_budget(planned: dict) -> str:
    """``"2 epochs = 160,688 output frames = 158 steps"``."""
    amount = planned.get("amount")
    head = f"{amount:g} {planned['unit']} = " if amount is not None and planned.get("unit") else ""
    return f"{head}{planned['samples']:,} {planned['sample'].split(' (')[0]}s = {planned['steps']:,} steps"


def evaluation_config(path, overrides=None, stage: str = "test"):
    """The config ``poseact test`` / ``predict`` evaluate with. When the checkpoint evaluated
    (``checkpoint=...``, else ``output_dir``'s ``last.ckpt``) lies in a run folder, the run's own
    ``config.yaml`` gives data and model settings, with the command line's overrides on top; the
    experiment YAML only says where the run is. Prints which checkpoint and which config."""
    from poseact.run.config import load_config

    overrides = list(overrides or [])
    cfg = load_config(path, overrides)
    given = cfg.checkpoint
    checkpoint = Path(RunFolder(cfg.output_dir).resolve_checkpoint(given))
    run = RunFolder.of_checkpoint(checkpoint)
    if run is None:
        print(f"poseact {stage}: checkpoint {checkpoint} (settings from {path}: it lies in no run folder)")
        return cfg
    task = str((run.read_config() or {}).get("task", "lifting"))
    if task != cfg.task:  # the words of registry.not_of_family, before any weights are read
        raise CheckpointError(f"checkpoint {str(checkpoint)!r} is a {task} checkpoint, not a {cfg.task} one "
                              f"(its run: {run.config_path}): this needs {family(cfg.task).checkpoint_hint}")
    run_cfg = load_config(run.config_path, [f"output_dir={run.root}", *overrides, f"checkpoint={checkpoint}"],
                          saved_run=True)
    print(f"poseact {stage}: checkpoint {checkpoint}, settings from its run's {run.config_path}"
          + (f" + {' '.join(overrides)}" if overrides else ""))
    return run_cfg


def test(cfg) -> dict:
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
    if trainer.is_global_zero:
        print(f"poseact test: evaluating {cfg.checkpoint}")
    return _final_test(cfg, fam, module, datamodule, trainer, folder, "test", None, cfg.checkpoint)


def describe_data(data: dict) -> str:
    """One line: store, subjects, actions, sequences and frames of an evaluation."""
    parts = [f"store {data['store']}", f"subjects {', '.join(data['subjects'])}",
             f"actions {', '.join(data['actions']) if data.get('actions') else 'all'}"]
    if data.get("frames") is not None:
        parts.append(f"{data['sequences']:,} sequences, {data['frames']:,} frames"
                     + (f" (every {data['downsample']}th)" if (data.get("downsample") or 1) > 1 else ""))
    return "; ".join(parts)


def _final_test(cfg, fam, module, datamodule, trainer, folder: RunFolder, stage: str, budget: dict | None,
                checkpoint: str | None) -> dict:
    from poseact.run.summary import build_summary, evaluation_data

    with lightning_says_no():
        trainer.test(module, datamodule=datamodule, verbose=False)
    evaluated = evaluation_data(cfg, datamodule)
    if trainer.is_global_zero:
        print(f"poseact {stage}: evaluated {checkpoint or 'the final weights'} on {describe_data(evaluated)}")
    metrics = fam.report(cfg, module, folder, trainer.is_global_zero)
    summary: dict = {}
    if metrics:
        summary = build_summary(cfg, metrics, stage, budget, checkpoint, evaluated)
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


def predict(cfg, output: str | os.PathLike | None = None) -> Path:
    """The family's predictions of the evaluation data → ``output`` (default
    ``OUTPUT_DIR/predictions.npz``), written atomically."""
    fam = family(cfg.task)
    if cfg.checkpoint is None:
        last = RunFolder(cfg.output_dir).last_checkpoint
        if last.exists():
            cfg.checkpoint = str(last)
    path = check_writable(output or RunFolder(cfg.output_dir).predictions_path, "predictions")
    return fam.predict(cfg, path)


def export(checkpoint: str | os.PathLike, output: str | os.PathLike, fmt: str = "videopose3d"):
    """Write a checkpoint's model in another format (the family decides which it offers). Returns the
    family's answer: the path written, or a report that names it (``str`` gives one line)."""
    path = Path(checkpoint)
    raw = load_checkpoint_file(path)
    out = check_writable(output, "export")
    return family_of_checkpoint(raw, path).export(path, out, fmt)
