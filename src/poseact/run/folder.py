"""The run folder, ``outputs/<name>/``: its one owner. Every path inside it is named here.

Layout::

    config.yaml                    the fully resolved config of the run
    checkpoints/last.ckpt          rewritten at the end of every training epoch (what a resume starts from)
    checkpoints/epochNNN.ckpt      the best epoch by the family's monitored metric
    results/summary.json           the final metrics (what sweeps and scripts read back)
    results/<stem>_per_action.*    the lifter's per-action tables (csv, md) and plot (png)
    results/training_curves.png    losses, validation metrics and lr over the run
    csv/version_N/metrics.csv      every logged metric, one version per start or resume
    wandb/offline-run-*            the W&B run (``wandb sync`` it later)
    wandb_run_id                   its W&B run id: a resumed run (and ``poseact test``) continues it
    .poseact.lock                  held (``flock``) while a ``fit`` writes the folder
    predictions.npz                ``poseact predict``'s default output
    renders/                       ``poseact render``'s default outputs

All writes go through :mod:`poseact.atomic`.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from poseact.atomic import check_writable, remove_stale_temps, write_json, write_text
from poseact.errors import MissingFileError, RunFolderError

CONFIG = "config.yaml"
CHECKPOINTS = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
BEST_CHECKPOINT_PATTERN = "epoch{epoch:03d}"
RESULTS = "results"
SUMMARY = "summary.json"
CSV_LOGS = "csv"
PREDICTIONS = "predictions.npz"
RENDERS = "renders"
TRAINING_CURVES = "training_curves.png"
WANDB_ID = "wandb_run_id"
LOCK = ".poseact.lock"

#: ``name → [(step, epoch, value), ...]`` sorted by step: every series a run logged
Series = dict[str, list[tuple[float, float, float]]]


class RunFolder:
    """Paths, reads and writes of one run's output folder (which need not exist yet)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.root)!r})"

    @classmethod
    def of_checkpoint(cls, checkpoint: str | os.PathLike) -> RunFolder | None:
        """The run a checkpoint lies in (``<run>/checkpoints/x.ckpt``), when it still does."""
        p = Path(checkpoint).resolve()
        if p.parent.name == CHECKPOINTS and (p.parent.parent / CONFIG).is_file():
            return cls(p.parent.parent)
        return None

    # -- paths --------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / CONFIG

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / LAST_CHECKPOINT

    @property
    def results(self) -> Path:
        return self.root / RESULTS

    @property
    def summary_path(self) -> Path:
        return self.results / SUMMARY

    @property
    def csv_logs(self) -> Path:
        return self.root / CSV_LOGS

    @property
    def predictions_path(self) -> Path:
        return self.root / PREDICTIONS

    @property
    def renders(self) -> Path:
        return self.root / RENDERS

    @property
    def training_curves(self) -> Path:
        return self.results / TRAINING_CURVES

    @property
    def wandb_id_path(self) -> Path:
        return self.root / WANDB_ID

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK

    def per_action(self, stem: str, suffix: str) -> Path:
        """``results/<stem>_per_action.<suffix>`` (csv, md, png)."""
        return self.results / f"{stem}_per_action.{suffix}"

    # -- writing ------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Make sure the folder can be written, before any work starts, and remove temporary files
        that a killed earlier run left in it. Creates nothing: a command that fails on bad input
        leaves no new folder behind."""
        self.check()
        for sub in (self.root, self.checkpoints, self.results):
            remove_stale_temps(sub)

    def check(self) -> None:
        """Refuse, in one line, a folder that cannot be written (a file, under a file, read-only)."""
        if self.root.exists() and not self.root.is_dir():
            raise RunFolderError(f"output_dir {str(self.root)!r} is a file, not a folder")
        try:
            check_writable(self.root / CONFIG, "output_dir")
        except RunFolderError as e:
            raise RunFolderError(f"{e}; set output_dir=... to a writable folder") from None

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder for one ``fit``: a second ``fit`` into it is refused (one line) while this
        one runs. The lock is the kernel's (``flock``), so a killed run leaves no lock behind; a
        folder this call had to create is removed again if nothing else was written into it."""
        self.check()
        created = not self.root.exists()
        top = self.root  # the outermost folder this call creates
        while created and not top.parent.exists():
            top = top.parent
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fh = open(self.lock_path, "a+")
        except OSError as e:
            raise RunFolderError(f"output_dir {str(self.root)!r} cannot be written ({e.strerror}); "
                                 f"set output_dir=... to a writable folder") from None
        try:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                owner = fh.read().strip()
                raise RunFolderError(f"output_dir {str(self.root)!r} is in use by another poseact fit"
                                     f"{' (' + owner + ')' if owner else ''}: wait for it to finish, or choose "
                                     f"another output_dir") from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}")
            fh.flush()
            yield
        finally:
            fh.close()  # releases the flock
            if created and [p.name for p in self.root.iterdir()] == [LOCK]:
                self.lock_path.unlink(missing_ok=True)
                folder = self.root
                while True:
                    try:
                        folder.rmdir()
                    except OSError:
                        break
                    if folder == top:
                        break
                    folder = folder.parent

    def write_wandb_id(self, run_id: str) -> Path:
        return write_text(self.wandb_id_path, run_id + "\n")

    def read_wandb_id(self) -> str | None:
        """The stored W&B run id, or None."""
        try:
            text = self.wandb_id_path.read_text().strip()
        except OSError:
            return None
        return text or None

    def write_config(self, cfg) -> Path:
        from poseact.run.config import to_yaml

        return write_text(self.config_path, to_yaml(cfg))

    def write_summary(self, summary: dict[str, float]) -> Path:
        return write_json(self.summary_path, summary, indent=1, sort_keys=True)

    # -- reading ------------------------------------------------------------------------------
    def read_config(self) -> dict | None:
        """The run's ``config.yaml`` as plain data, or None when there is none."""
        if not self.config_path.is_file():
            return None
        from omegaconf import OmegaConf

        return OmegaConf.to_container(OmegaConf.load(self.config_path))  # type: ignore[return-value]

    def read_summary(self) -> dict[str, float]:
        """``results/summary.json`` (empty when absent or unreadable)."""
        try:
            return json.loads(self.summary_path.read_text())
        except (OSError, ValueError):
            return {}

    def resolve_checkpoint(self, given: str | os.PathLike | None) -> Path:
        """The checkpoint to evaluate: the one given, else the run's ``last.ckpt``."""
        if given:
            if not Path(given).exists():
                raise MissingFileError(f"checkpoint {str(given)!r} not found")
            return Path(given)
        if not self.last_checkpoint.exists():
            raise MissingFileError(f"no checkpoint given (checkpoint=...) and none at {self.last_checkpoint}")
        return self.last_checkpoint

    def metric_files(self) -> list[Path]:
        """``csv/version_*/metrics.csv`` in version order."""
        return sorted(self.csv_logs.glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[-1]))

    def metric_rows(self) -> Iterator[dict[str, str]]:
        """Every row of every metrics CSV, oldest version first; files being written are read
        as far as they are complete."""
        for path in self.metric_files():
            try:
                with open(path, newline="", encoding="utf-8") as fh:
                    yield from csv.DictReader(fh)
            except OSError:
                continue

    def read_metrics(self) -> Series:
        """Every logged series: ``name → [(step, epoch, value), ...]`` sorted by step. A later
        version's value replaces an earlier one at the same step (a resume repeats nothing, but a
        crash may have)."""
        series: dict[str, dict[float, tuple[float, float]]] = defaultdict(dict)
        for row in self.metric_rows():
            try:
                step = float(row.get("step") or "nan")
                epoch = float(row.get("epoch") or "nan")
            except ValueError:
                continue  # a line cut off while being written
            for k, v in row.items():
                if k in ("step", "epoch") or v in ("", None):
                    continue
                try:
                    series[k][step] = (epoch, float(v))
                except (TypeError, ValueError):
                    continue
        return {k: [(s, e, v) for s, (e, v) in sorted(d.items())] for k, d in series.items()}

    def metric_history(self, metric: str) -> list[float]:
        """The values ``metric`` was logged with, in step order (W&B's history of it)."""
        return [v for _, _, v in self.read_metrics().get(metric, [])]

    def metric_curve(self, metric: str, x: str = "budget/samples") -> tuple[str, list[list[float]]]:
        """``(x name, [[x, value], ...])``: x is the training samples seen (``budget/samples``, logged
        beside each validation) where the run logs it, else the epoch number (1-based)."""
        series = self.read_metrics()
        values = series.get(metric, [])
        by_step = {s: v for s, _, v in series.get(x, [])}
        if values and all(s in by_step for s, _, _ in values):
            return x, [[by_step[s], v] for s, _, v in values]
        return "epoch", [[e + 1, v] for _, e, v in values]

    def final_value(self, metric: str) -> float | None:
        """W&B's summary value of ``metric``: the last one logged, else ``results/summary.json``'s."""
        history = self.metric_history(metric)
        if history:
            return history[-1]
        summary = self.read_summary()
        key = metric.split("/", 1)[1] if "/" in metric else metric
        return summary.get(metric, summary.get(key))
