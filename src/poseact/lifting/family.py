"""The ``lifting`` family as the run layer sees it: VideoPose3D's temporal lifter (and any lifter
registered in :mod:`poseact.lifting.models`) on a pose store."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any


from poseact.errors import CheckpointError, RunFolderError, SweepError
from poseact.lifting.checkpoint import (
    LifterCheckpoint, infer_architecture, is_lifter_checkpoint, read_lifter_checkpoint,
)
from poseact.lifting.config import LiftingConfig, validate
from poseact.run.registry import Family

log = logging.getLogger("poseact")

def architecture_keys(model: dict) -> tuple[str, ...]:
    """The ``model`` keys a checkpoint of this architecture fixes (its class declares them): a run
    cannot resume into, or load weights of, other values."""
    from poseact.lifting.models import LIFTERS

    cls = LIFTERS.get(model.get("name", "temporal"))
    return cls.architecture_keys() if cls is not None else ("name",)


def _same(a: Any, b: Any) -> bool:
    norm = (lambda v: list(v) if isinstance(v, (list, tuple)) else v)
    return norm(a) == norm(b)


def adopt_architecture(cfg: LiftingConfig, ckpt: LifterCheckpoint, quiet: bool = False) -> None:
    """Size ``cfg.model`` from the checkpoint it loads (e.g. the 243-frame release under a 27-frame
    config, or another architecture's weights: the section becomes that architecture's); a difference
    is reported, not an error."""
    from poseact.lifting.models import lifter_class, model_section

    m = cfg.model
    keys = architecture_keys(ckpt.model)
    changed = {k: ckpt.model[k] for k in keys
               if k in ckpt.model and not _same(getattr(m, k, None), ckpt.model[k])
               and not (k == "causal" and ckpt.format == "videopose3d")}
    if changed and not quiet:
        log.warning("%s: using its architecture %s (config said %s)", ckpt.where,
                    ", ".join(f"{k}={v}" for k, v in changed.items()),
                    ", ".join(f"{k}={getattr(m, k, None)}" for k in changed))
    if "name" in changed:  # another architecture: its own section, the checkpoint's architecture keys
        cls = lifter_class(ckpt.model["name"])
        m = model_section({"name": cls.name, "trajectory": m.trajectory,
                           **{k: ckpt.model[k] for k in keys if k in ckpt.model}}, strict=False)
    else:
        for k, v in changed.items():
            setattr(m, k, list(v) if isinstance(v, (list, tuple)) else v)
    if ckpt.trajectory is not None:
        m.trajectory = True
    cfg.model = m


class LiftingFamily(Family):
    name = "lifting"
    schema = LiftingConfig
    summary_keys = ("p1", "p2", "n_mpjpe", "mpjve")
    monitor = ("val/p1", "min")
    checkpoint_hint = "a lifter (a lifting run's .ckpt or a VideoPose3D .bin)"

    def validate(self, cfg: LiftingConfig) -> None:
        validate(cfg)

    def check_part(self, part: Any, where: str) -> None:
        """One config file or override before it is merged: its ``model`` keys must belong to some
        lifter (the error names the file; the section is made the architecture's once composed)."""
        from poseact.lifting.models import check_model_part

        check_model_part(part, where)

    def build(self, cfg: LiftingConfig, stage: str):
        from poseact.lifting.checkpoint import load_lifter_state
        from poseact.lifting.datamodule import LiftingDataModule
        from poseact.lifting.datasets import load_arrays
        from poseact.lifting.module import LiftingModule
        from poseact.run.trainer import planned_world_size

        arrays = load_arrays(cfg.data)
        store = arrays.store
        ckpt = None
        if cfg.checkpoint:
            ckpt = read_lifter_checkpoint(cfg.checkpoint, num_joints_in=arrays.num_joints_in, causal=cfg.model.causal)
            if (ckpt.num_joints_in, ckpt.in_features) != (arrays.num_joints_in, arrays.in_features):
                raise CheckpointError(
                    f"{ckpt.where} takes {ckpt.num_joints_in} joints × {ckpt.in_features} features per frame, "
                    f"but store {store.path!r} gives {arrays.num_joints_in} × {arrays.in_features} "
                    f"(layout {store.layout_2d}{', with confidence' if cfg.data.use_confidence else ''})")
            adopt_architecture(cfg, ckpt)
        module = LiftingModule(cfg, arrays.num_joints_in, arrays.in_features, store.layout_2d, store.layout_3d)
        if ckpt is not None:
            load_lifter_state(module.model, ckpt.pose, where=f"{ckpt.where} (pose model)")
            if ckpt.trajectory is not None:
                load_lifter_state(module.trajectory_model, ckpt.trajectory, where=f"{ckpt.where} (trajectory model)")
        datamodule = LiftingDataModule(cfg, arrays, module.window)
        if stage == "fit":
            datamodule.setup("fit")
            module.clock = datamodule.make_clock(planned_world_size(cfg.trainer))
        return module, datamodule

    def trainer_options(self, cfg: LiftingConfig, datamodule, world_size: int) -> dict[str, Any]:
        options: dict[str, Any] = {"check_val_every_n_epoch": cfg.eval.validate_every_n_epochs}
        clock = datamodule.clock
        if clock is None:
            return options
        if cfg.budget.amount is not None:
            options.update(max_epochs=-1, max_steps=clock.total_steps)
        if cfg.eval.validate_every is not None:
            every = clock.steps_for(int(round(cfg.eval.validate_every * clock.schedule.samples_per_unit)))
            options.update(val_check_interval=max(1, every), check_val_every_n_epoch=None)
        return options

    def before_fit(self, cfg: LiftingConfig, module, datamodule) -> None:
        import torch

        from poseact.lifting.clock import short_run_warning

        clock = datamodule.clock
        log.info("budget: %s", clock.schedule)
        if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules()):
            warning = short_run_warning(clock.schedule, clock.total_steps)
            if warning:
                log.warning(warning)

    def report(self, cfg: LiftingConfig, module, folder, global_zero: bool) -> dict[str, float]:
        results = module.last_results
        if global_zero and results is not None and len(results):
            csv_path, md_path = folder.per_action("test", "csv"), folder.per_action("test", "md")
            results.to_csv(csv_path)
            from poseact.atomic import write_text

            write_text(md_path, results.to_markdown() + "\n")
            subjects = sorted({r.subject for r in results.results})
            actions = sorted({r.action for r in results.results})
            print(f"\nFinal evaluation ({'flip TTA' if cfg.eval.test_time_flip else 'no TTA'}) of what was "
                  f"evaluated: subjects {', '.join(subjects)}; actions {', '.join(actions)}; "
                  f"{len(results.results)} sequences, {sum(r.num_frames for r in results.results)} frames:\n")
            print(results.to_markdown())
            print(f"\nwritten: {csv_path}, {md_path}")
        return module.summary()

    def predict(self, cfg: LiftingConfig, output: Path) -> Path:
        """Root-relative 3-D (metres, camera space) of every test sequence → one ``.npz`` keyed
        ``subject/take/camera`` (``(T, J, 3)``), plus ``subject/take/camera/trajectory`` (``(T, 1, 3)``,
        root in camera space) when the model has a trajectory model."""
        from poseact.atomic import write_npz
        from poseact.run.folder import RunFolder
        from poseact.run.trainer import build_trainer

        module, datamodule = self.build(cfg, "predict")
        trainer = build_trainer(cfg, RunFolder(cfg.output_dir), None)
        batches = trainer.predict(module, datamodule=datamodule)
        arrays = {b["key"]: b["pose3d"] for b in batches}
        arrays.update({f"{b['key']}/trajectory": b["trajectory"] for b in batches if "trajectory" in b})
        write_npz(output, arrays)
        print(f"wrote {len(batches)} sequences to {output}", file=sys.stderr)
        return output

    def owns_checkpoint(self, raw: dict) -> bool:
        return is_lifter_checkpoint(raw)

    def check_resume(self, cfg: LiftingConfig, raw: dict, path: Path) -> None:
        ckpt = read_lifter_checkpoint(path, raw=raw)
        m = cfg.model
        if cfg.checkpoint:  # the run started from these weights and took their architecture
            import copy

            holder = SimpleNamespace(model=copy.deepcopy(cfg.model))
            start = read_lifter_checkpoint(cfg.checkpoint, causal=cfg.model.causal)
            adopt_architecture(holder, start, quiet=True)
            m = holder.model
        saved = dict(ckpt.model)
        if saved.get("name", "temporal") == "temporal" and ("channels" not in saved or "filter_widths" not in saved):
            arch = infer_architecture(ckpt.pose, ckpt.num_joints_in)
            saved.update(filter_widths=list(arch.filter_widths), channels=arch.channels)
        keys = architecture_keys(saved)
        differ = [k for k in keys if k in saved and not _same(saved[k], getattr(m, k, None))]
        wants_traj = m.trajectory or bool(cfg.data.subjects_unlabeled)
        if wants_traj != (ckpt.trajectory is not None):
            differ.append("trajectory")
        if differ:
            mine = {k: (wants_traj if k == "trajectory" else getattr(m, k, None)) for k in differ}
            theirs = {k: (ckpt.trajectory is not None if k == "trajectory" else saved.get(k)) for k in differ}
            raise RunFolderError(
                f"output_dir {cfg.output_dir!r} holds a run of another model ({path}: "
                f"{', '.join(f'{k}={v}' for k, v in theirs.items())}; this config: "
                f"{', '.join(f'{k}={v}' for k, v in mine.items())}): resume=false starts it over, "
                f"or choose another output_dir")

    def export(self, checkpoint: Path, output: Path, fmt: str):
        from poseact.lifting.export import LIFTER_EXPORT_FORMATS, export_checkpoint

        if fmt not in LIFTER_EXPORT_FORMATS:
            return super().export(checkpoint, output, fmt)
        return export_checkpoint(checkpoint, output, fmt)

    def sweep_checks(self, cfg: LiftingConfig, where: str, cache: dict) -> None:
        """Every action filter must match at least one action of the store the candidate reads."""
        filters = {"data.actions": cfg.data.actions, "data.sampling.actions": cfg.data.sampling.actions}
        if not any(filters.values()):
            return
        from poseact.lifting.datasets import resolve_store_path

        names = store_actions(Path(resolve_store_path(cfg.data)), cache, where)
        for key, prefixes in filters.items():
            for prefix in prefixes or []:
                if not any(name.startswith(str(prefix)) for name in names):
                    raise SweepError(f"{where}: {key} entry {prefix!r} matches no action of the store "
                                     f"(actions are matched by prefix; the store has {', '.join(names)})")


def store_actions(path: Path, cache: dict, where: str) -> list[str]:
    """The action names of a store, read from its ``actions`` table alone (no frame arrays)."""
    if path not in cache:
        import h5py

        if not path.exists():
            raise SweepError(f"{where}: store {str(path)!r} not found")
        try:
            with h5py.File(path, "r") as f:
                cache[path] = [str(a) for a in f["actions"].asstr()[...]]
        except (OSError, KeyError) as e:
            raise SweepError(f"{where}: store {str(path)!r} has no readable actions table: {e}") from None
    return cache[path]


FAMILY = LiftingFamily()
