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
        module = MultitaskModule(cfg, store.layout_2d)
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

    def report(self, cfg: MultitaskConfig, module, folder, global_zero: bool) -> dict[str, float]:
        results = dict(module.last_results)
        if global_zero and results:
            from poseact.metrics.table import console_lines

            print("\n".join(console_lines(results)))  # each with its unit and the table's decimals
        return results

    def predict(self, cfg: MultitaskConfig, output: Path) -> Path:
        """Last pose output (normalised crop ``x, y, (z), confidence``) and action probabilities of every
        centred test clip → one ``.npz`` (``pose (K, T, J, dim+1)``, ``action (K, A)``, ``video (K,)``)."""
        import torch

        from poseact.atomic import write_npz

        module, datamodule = self.build(cfg, "predict")
        module.eval()
        poses, probs, videos = [], [], []
        with torch.no_grad():
            for batch in datamodule.val_dataloader():
                p, a = module.model(batch["frames"], with_action=bool(cfg.model.action_pyramids))
                poses.append(p[-1].numpy())
                videos.append(batch["video"].numpy())
                if a:
                    probs.append(torch.softmax(a[-1][0], -1).numpy())
        arrays = {"pose": np.concatenate(poses), "video": np.concatenate(videos)}
        if probs:
            arrays["action"] = np.concatenate(probs)
        write_npz(output, arrays)
        print(f"wrote {len(arrays['pose'])} clips to {output}", file=sys.stderr)
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


FAMILY = MultitaskFamily()
