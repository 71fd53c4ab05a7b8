"""The ``multitask`` family as the run layer sees it: Luvizon et al.'s deephar SPNet, 2-D/3-D pose
and actions from image clips."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from poseact.errors import RunFolderError
from poseact.multitask.checkpoint import is_multitask_checkpoint, load_module_state, read_multitask_checkpoint
from poseact.multitask.config import MultitaskConfig, validate
from poseact.run.registry import Family

#: what one training sample is (a budget's samples count these)
SAMPLE = "clip (pose pseudo-clips and action clips each count)"

#: Lightning strategy names whose DDP must tolerate parameters a step does not reach (the pose step
#: skips the action stream)
_DDP_UNUSED = {"ddp": "ddp_find_unused_parameters_true", "ddp_spawn": "ddp_spawn_find_unused_parameters_true",
               "ddp_fork": "ddp_fork_find_unused_parameters_true"}


class MultitaskFamily(Family):
    name = "multitask"
    schema = MultitaskConfig
    summary_keys = ("test/pckh", "test/mpjpe", "test/acc_clip", "test/acc_video")
    checkpoint_hint = "the .ckpt of a multitask run (poseact fit configs/experiment/multitask_*.yaml)"

    def validate(self, cfg: MultitaskConfig) -> None:
        validate(cfg)

    def monitor_for(self, cfg: MultitaskConfig) -> tuple[str, str]:
        """3-D models keep the best ``val/mpjpe``, 2-D ones the best ``val/pckh``."""
        return ("val/mpjpe", "min") if cfg.model.dim == 3 else ("val/pckh", "max")

    def build(self, cfg: MultitaskConfig, stage: str):
        from poseact.multitask.datamodule import ImageClipDataModule
        from poseact.multitask.module import MultitaskModule

        datamodule = ImageClipDataModule(cfg)
        if stage == "fit":
            datamodule.training_sources()  # open and check the sources before anything trains
        store = datamodule.load()
        module = MultitaskModule(cfg, store.layout_2d, action_names(cfg, datamodule, store, stage))
        if cfg.checkpoint:
            load_module_state(module, read_multitask_checkpoint(cfg.checkpoint))
        elif cfg.model.pose_replica:
            module.model.copy_replicas()
        return module, datamodule

    def trainer_options(self, cfg: MultitaskConfig, datamodule, world_size: int) -> dict[str, Any]:
        options: dict[str, Any] = {"check_val_every_n_epoch": cfg.eval.validate_every_n_epochs,
                                   "reload_dataloaders_every_n_epochs": 1}
        if cfg.trainer.strategy in _DDP_UNUSED:
            options["strategy"] = _DDP_UNUSED[cfg.trainer.strategy]
        return options

    def planned_budget(self, cfg: MultitaskConfig, datamodule, world_size: int) -> dict[str, Any] | None:
        """``data.steps_per_epoch`` steps of ``data.batch_clips`` clips per epoch (an epoch here is a
        number of steps, not a pass over the data)."""
        epochs = cfg.trainer.max_epochs
        if not epochs:
            return None
        steps = int(cfg.data.steps_per_epoch) * int(epochs)
        return {"unit": "epochs", "amount": float(epochs), "samples": steps * int(cfg.data.batch_clips),
                "steps": steps, "sample": SAMPLE}

    def budget_done(self, cfg: MultitaskConfig, module, trainer, planned: dict[str, Any] | None) -> dict[str, Any]:
        """Steps run (Lightning's count of batches that stepped) × ``data.batch_clips`` clips."""
        steps = int(trainer.fit_loop.epoch_loop._batches_that_stepped)
        planned = planned or {}
        return {"unit": planned.get("unit"), "amount": planned.get("amount"), "sample": SAMPLE,
                "planned": {"samples": planned["samples"], "steps": planned["steps"]} if planned else None,
                "done": {"samples": steps * int(cfg.data.batch_clips), "steps": steps}}

    def report(self, cfg: MultitaskConfig, module, folder, global_zero: bool) -> dict[str, float]:
        results = dict(module.last_results)
        if global_zero and results:
            from poseact.metrics.table import console_lines

            print("\n".join(console_lines(results)))  # each with its unit and the table's decimals
        return results

    def predict(self, cfg: MultitaskConfig, output: Path) -> Path:
        """The last pose and action outputs of every centred test clip → one ``.npz``, in units
        (:data:`poseact.multitask.inference.OUTPUT_UNITS`, also written into the file as ``units``):
        ``pose_2d (K, T, J, 2)`` crop pixels, ``confidence (K, T, J)``, ``depth (K, T, J)`` metres
        relative to the root (3-D models), ``action_scores (K, A)`` probabilities with
        ``action_names (A,)``, ``joint_names (J,)``, ``video (K,)``."""
        import json

        import torch

        from poseact.atomic import write_npz
        from poseact.multitask.inference import OUTPUT_UNITS, MultitaskModel, interpret

        module, datamodule = self.build(cfg, "predict")
        module.eval()
        names = module.action_names or [f"action_{i}" for i in range(cfg.model.num_actions[0] if
                                                                    cfg.model.num_actions else 0)]
        wrapped = MultitaskModel(module.model, module.layout, names, str(cfg.checkpoint))
        parts, videos = [], []
        with torch.no_grad():
            for batch in datamodule.val_dataloader():
                p, a = module.model(batch["frames"], with_action=wrapped.has_actions)
                parts.append(interpret(wrapped, p[-1], a[-1][0] if a else None))
                videos.append(batch["video"].numpy())
        arrays = {"pose_2d": np.concatenate([q.pose_2d for q in parts]),
                  "confidence": np.concatenate([q.confidence for q in parts]),
                  "joint_names": np.array(wrapped.joint_names), "video": np.concatenate(videos)}
        if parts[0].depth is not None:
            arrays["depth"] = np.concatenate([q.depth for q in parts])
        if parts[0].action_scores is not None:
            arrays["action_scores"] = np.concatenate([q.action_scores for q in parts])
            arrays["action_names"] = np.array(names)
        arrays["units"] = np.array(json.dumps({k: v for k, v in OUTPUT_UNITS.items() if k in arrays}))
        write_npz(output, arrays)
        print(f"wrote {len(arrays['pose_2d'])} clips to {output}: pose_2d in crop pixels "
              f"({wrapped.input_size} px crops){', depth in metres' if 'depth' in arrays else ''}"
              f"{', action_scores over ' + str(len(names)) + ' named classes' if 'action_scores' in arrays else ''}",
              file=sys.stderr)
        return output

    def owns_checkpoint(self, raw: dict) -> bool:
        return is_multitask_checkpoint(raw)

    def check_resume(self, cfg: MultitaskConfig, raw: dict, path: Path) -> None:
        from poseact.errors import CheckpointError
        from poseact.multitask.module import MultitaskModule

        ckpt = read_multitask_checkpoint(path, raw=raw, what="checkpoint to resume from")
        try:
            load_module_state(MultitaskModule(cfg, ckpt.layout or "h36m17"), ckpt)
        except CheckpointError as e:
            raise RunFolderError(f"output_dir {cfg.output_dir!r} holds a run of another model ({e}); "
                                 f"resume=false starts it over, or choose another output_dir") from None

    def sweep_checks(self, cfg: MultitaskConfig, where: str, cache: dict) -> None:
        """The stores a candidate reads must exist (the synthetic one is rendered when first used)."""
        from poseact.errors import SweepError

        d = cfg.data
        paths = [d.store] + [s.store for s in d.pose_sources] + ([d.action_source.store] if d.action_source else [])
        for p in paths:
            if p is not None and not Path(p).exists():
                raise SweepError(f"{where}: store {p!r} not found")


def action_names(cfg: MultitaskConfig, datamodule, store, stage: str) -> list[str]:
    """The class names of the action head: the action source's table when training from one, else
    the store's; none for a model without action heads (or a table of another size)."""
    if not cfg.model.num_actions:
        return []
    source = datamodule.training_sources()[1].store if stage == "fit" and cfg.data.action_source else store
    names = [str(a) for a in (source.actions or [])]
    return names if len(names) == cfg.model.num_actions[0] else []


FAMILY = MultitaskFamily()
