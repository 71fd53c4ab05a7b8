"""The model-family registry: what the run layer needs of a family, and where each family lives.

A family (the VideoPose3D lifter, the deephar multi-task model, the next one) is one package with
a ``family.py`` module whose ``FAMILY`` object subclasses :class:`Family`. The run layer (config
loading, fit / test / predict / export, sweeps) only ever talks to that object, so adding a family
is one package plus one line in :data:`FAMILIES`. Third-party packages can add families without
touching poseact through the ``poseact.families`` entry-point group (``name = "pkg.module:FAMILY"``).

Families are imported when first asked for, by module path: the run layer sits *below* the
families in the import order (they import it, never the other way round), and ``poseact --help``
stays free of Lightning.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poseact.errors import CheckpointError, ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import pytorch_lightning as pl

    from poseact.run.folder import RunFolder

#: Built-in families: ``task`` name in a config → ``module:object``.
FAMILIES: dict[str, str] = {
    "lifting": "poseact.lifting.family:FAMILY",
    "multitask": "poseact.multitask.family:FAMILY",
}
ENTRY_POINT_GROUP = "poseact.families"


class Family:
    """What a model family provides. Subclasses set the class attributes and override the methods;
    heavy imports (Lightning, the model) belong inside the methods."""

    #: the ``task`` value of its configs
    name: str = ""
    #: its config schema, a dataclass derived from :class:`poseact.run.config.RunConfig`
    schema: type = object
    #: final metrics (keys of ``results/summary.json``) a sweep report shows, in this order
    summary_keys: tuple[str, ...] = ()
    #: the metric and direction that choose the best checkpoint (``epochNNN.ckpt``)
    monitor: tuple[str, str] = ("val/loss", "min")
    #: what a checkpoint of this family is, for error messages ("the .ckpt of a ... run")
    checkpoint_hint: str = "a checkpoint of this family"

    def validate(self, cfg: Any) -> None:
        """Check the family's sections for meaning; raise :class:`ConfigError` naming the key."""

    def check_part(self, part: Any, where: str) -> None:
        """Check one config file or override (an OmegaConf mapping) before it is merged, so that an
        error can name ``where`` (e.g. keys of a section whose schema is decided only after merging)."""

    def monitor_for(self, cfg: Any) -> tuple[str, str]:
        """The checkpoint-selection metric of this run (default: :attr:`monitor`)."""
        return self.monitor

    def build(self, cfg: Any, stage: str) -> tuple[pl.LightningModule, pl.LightningDataModule]:
        """The module (with ``cfg.checkpoint``'s weights when set, strictly) and its data module,
        ready for ``stage`` (``fit``, ``test`` or ``predict``)."""
        raise NotImplementedError

    def trainer_options(self, cfg: Any, datamodule: Any, world_size: int) -> dict[str, Any]:
        """Extra ``Trainer`` arguments of this run (e.g. ``max_steps`` of a sample budget)."""
        return {}

    def before_fit(self, cfg: Any, module: Any, datamodule: Any) -> None:
        """Last checks and messages before training starts (e.g. a schedule warning)."""

    def planned_budget(self, cfg: Any, datamodule: Any, world_size: int) -> dict[str, Any] | None:
        """How long the run trains: ``{"unit", "amount", "samples", "steps", "sample"}`` (``sample``:
        what one sample is). The default reads a training clock (``datamodule.clock``: its schedule's
        samples and its steps), else counts ``data.steps_per_epoch`` × ``data.batch_size`` samples
        per epoch; a family overrides it when neither fits. None: unknown."""
        from poseact.run.summary import SAMPLE_KINDS

        sample = SAMPLE_KINDS.get(self.name, "sample")
        clock = getattr(datamodule, "clock", None)
        if clock is not None:
            s = clock.schedule
            return {"unit": s.unit, "amount": float(s.total_units), "samples": int(s.total_samples),
                    "steps": int(clock.total_steps), "sample": sample}
        data = getattr(cfg, "data", None)
        per_epoch, batch = getattr(data, "steps_per_epoch", None), global_batch(cfg)
        epochs = cfg.trainer.max_epochs
        if per_epoch and batch and epochs:
            steps = int(per_epoch) * int(epochs)
            return {"unit": "epochs", "amount": float(epochs), "samples": steps * int(batch), "steps": steps,
                    "sample": sample}
        return None

    def budget_done(self, cfg: Any, module: Any, trainer: Any, planned: dict[str, Any] | None) -> dict[str, Any]:
        """The budget of a finished fit: ``planned`` and ``done`` (``{"samples", "steps"}``). Steps are
        training batches run (Lightning's ``_batches_that_stepped``), samples the module's
        ``samples_seen`` where it counts them, else steps × ``data.batch_size``."""
        from poseact.run.summary import SAMPLE_KINDS

        steps = int(trainer.fit_loop.epoch_loop._batches_that_stepped)
        seen = getattr(module, "samples_seen", None)
        if not seen:
            batch = global_batch(cfg)
            seen = steps * int(batch) if batch else None
        planned = planned or {}
        return {"unit": planned.get("unit"), "amount": planned.get("amount"),
                "sample": planned.get("sample", SAMPLE_KINDS.get(self.name, "sample")),
                "planned": {"samples": planned["samples"], "steps": planned["steps"]} if planned else None,
                "done": {"samples": None if seen is None else int(seen), "steps": steps}}

    def report(self, cfg: Any, module: Any, folder: RunFolder, global_zero: bool) -> dict[str, float]:
        """After the final evaluation: write the family's tables (rank 0), print them, and return
        the summary (``results/summary.json``)."""
        raise NotImplementedError

    def predict(self, cfg: Any, output: Path) -> Path:
        """Write predictions of the evaluation data to ``output``."""
        raise NotImplementedError

    def owns_checkpoint(self, raw: dict) -> bool:
        """Whether a loaded checkpoint file (``torch.load``'s dict) was written by this family."""
        return False

    def check_resume(self, cfg: Any, raw: dict, path: Path) -> None:
        """Refuse, before anything is written, to resume ``cfg`` from a checkpoint it cannot load."""

    def export(self, checkpoint: Path, output: Path, fmt: str) -> Path:
        """Write ``checkpoint``'s model in another format."""
        raise CheckpointError(f"checkpoint {str(checkpoint)!r}: {self.name} models have no export to {fmt!r}")

    def sweep_checks(self, cfg: Any, where: str, cache: dict) -> None:
        """Checks of a sweep candidate beyond the schema (e.g. names that must exist in a store)."""


def global_batch(cfg: Any) -> int | None:
    """Samples per training step over all ranks: ``data.batch_frames`` (lifting), ``data.batch_clips``
    (multitask), or the older ``data.batch_size``."""
    data = getattr(cfg, "data", None)
    for key in ("batch_frames", "batch_clips", "batch_size"):
        value = getattr(data, key, None)
        if value:
            return int(value)
    return None


_cache: dict[str, Family] = {}


def _entry_points() -> dict[str, str]:
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known() -> dict[str, str]:
    """Every family name → where it lives (built-ins first, then entry points)."""
    return {**FAMILIES, **{k: v for k, v in _entry_points().items() if k not in FAMILIES}}


def family(name: str) -> Family:
    """The family registered as ``name`` (imported on first use)."""
    if name not in _cache:
        where = FAMILIES.get(name) or _entry_points().get(name)
        if where is None:
            raise ConfigError(f"task {name!r} is unknown; known: {sorted(known())}")
        module, _, attr = where.partition(":")
        fam = getattr(importlib.import_module(module), attr)
        if not isinstance(fam, Family) or fam.name != name:
            raise ConfigError(f"task {name!r}: {where} is not a poseact Family named {name!r}")
        _cache[name] = fam
    return _cache[name]


def families() -> list[Family]:
    return [family(n) for n in known()]


def owner_of_checkpoint(raw: dict) -> Family | None:
    """The family that wrote a loaded checkpoint, or None."""
    from poseact.run.checkpoints import saved_family

    tag = saved_family(raw)
    if tag in known():
        return family(tag)
    return next((fam for fam in families() if fam.owns_checkpoint(raw)), None)


def family_of_checkpoint(raw: dict, path: Path) -> Family:
    """The family that wrote a loaded checkpoint; a :class:`CheckpointError` names the file when
    none did."""
    fam = owner_of_checkpoint(raw)
    if fam is None:
        keys = sorted(raw)[:6] if isinstance(raw, dict) else type(raw).__name__
        raise CheckpointError(f"checkpoint {str(path)!r} is not a poseact or VideoPose3D checkpoint "
                              f"(top-level entries: {keys})")
    return fam


def not_of_family(raw: dict, path: Path, wanted: str, what: str = "checkpoint") -> CheckpointError:
    """The error for a checkpoint given to a command of another family: says which family it is."""
    fam = owner_of_checkpoint(raw)
    kind = "a VideoPose3D lifter" if "model_pos" in raw else f"a {fam.name}" if fam else "not a poseact"
    return CheckpointError(f"{what} {str(path)!r} is {kind} checkpoint, not a {wanted} one: this needs "
                           f"{family(wanted).checkpoint_hint}")
