"""LightningModule for the temporal lifter: supervised training, evaluation with flip TTA.

Training uses the strided single-frame form of :class:`TemporalLifter` on windows of exactly
the receptive field; validation/test run the dilated form over whole padded sequences and feed
an :class:`ActionwiseAccumulator` (per-sequence metrics, frame weighting inside an action,
unweighted mean over actions, plus the pooled frame-wise average). Schedules follow the
reference: AMSGrad, lr decayed per epoch, BatchNorm momentum 0.1 -> 0.001 over the run,
both derived from the epoch counter so a resumed run continues them exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor

from poseact.config import ExperimentConfig
from poseact.metrics import ActionwiseAccumulator, SequenceResult, bn_momentum, mpjpe, sequence_metrics
from poseact.models.temporal import TemporalLifter
from poseact.skeleton import get_skeleton


def flip_tta(model: TemporalLifter, keypoints: Tensor, flip_2d: np.ndarray, flip_3d: np.ndarray,
             swap_output: bool = True) -> Tensor:
    """Average the prediction with the mirrored prediction of the mirrored input.

    ``keypoints (B, T, J2, F)`` → ``(B, T', J3, 3)``. The trajectory model passes
    ``swap_output=False`` (one joint: negate x only).
    """
    mirrored = keypoints[:, :, flip_2d].clone()
    mirrored[..., 0] *= -1
    both = model(torch.cat([keypoints, mirrored]))
    plain, flipped = both.chunk(2)
    flipped = flipped.clone()
    flipped[..., 0] *= -1
    if swap_output:
        flipped = flipped[:, :, flip_3d]
    return (plain + flipped) / 2


class LiftingTask(pl.LightningModule):
    """Supervised 2-D → 3-D lifting (VideoPose3D) on batches from :class:`LiftingDataModule`."""

    def __init__(self, cfg: ExperimentConfig, num_joints_in: int, in_features: int,
                 layout_2d: str, layout_3d: str) -> None:
        super().__init__()
        self.cfg = cfg
        self.save_hyperparameters({"num_joints_in": num_joints_in, "in_features": in_features,
                                   "layout_2d": layout_2d, "layout_3d": layout_3d})
        m = cfg.model
        self.model = TemporalLifter(num_joints_in, in_features, get_skeleton(layout_3d).num_joints,
                                    m.filter_widths, causal=m.causal, dropout=m.dropout,
                                    channels=m.channels, dense=m.dense)
        self.flip_2d = get_skeleton(layout_2d).flip_permutation()
        self.flip_3d = get_skeleton(layout_3d).flip_permutation()
        self.accumulator = ActionwiseAccumulator()
        self.last_results: ActionwiseAccumulator | None = None

    # -- schedules -----------------------------------------------------------------------------

    def on_train_epoch_start(self) -> None:
        epoch = self.current_epoch
        o = self.cfg.optim
        self.model.set_bn_momentum(bn_momentum(epoch, self.cfg.trainer.max_epochs,
                                               o.bn_momentum_start, o.bn_momentum_end))

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        # dropout masks depend only on (seed, step, rank), not on what else drew random numbers
        # before: a resumed run repeats an uninterrupted one exactly
        torch.manual_seed((self.cfg.seed * 1_000_003 + self.global_step) * 64 + self.global_rank)

    def configure_optimizers(self):
        o = self.cfg.optim
        optimizer = torch.optim.Adam(self.parameters(), lr=o.lr, amsgrad=o.amsgrad)
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=o.lr_decay)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    # -- training ------------------------------------------------------------------------------

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        pred = self.model.forward_single(batch["keypoints"])
        target = batch["pose3d"].clone()
        target[:, :, 0] = 0
        loss = mpjpe(pred, target)
        n = pred.shape[0]
        self.log("train/loss_3d", loss, on_step=True, on_epoch=True, batch_size=n, prog_bar=True, sync_dist=True)
        if batch_idx == 0:
            self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=False, on_epoch=True, batch_size=1)
            self.log("train/bn_momentum", self.model.expand_bn.momentum, on_step=False, on_epoch=True, batch_size=1)
        return loss

    # -- evaluation ----------------------------------------------------------------------------

    @torch.no_grad()
    def predict_sequence(self, keypoints: Tensor, tta: bool) -> Tensor:
        """Padded ``(T + 2 * pad, J2, F)`` → root-relative ``(T, J3, 3)`` metres."""
        x = keypoints[None]
        pred = flip_tta(self.model, x, self.flip_2d, self.flip_3d) if tta else self.model(x)
        return pred[0]

    def _evaluate(self, item: dict, tta: bool) -> None:
        pred = self.predict_sequence(item["keypoints"], tta)
        target = item["pose3d"].clone()
        target[:, 0] = 0
        self.accumulator.add(SequenceResult(
            subject=item["subject"], action=item["action"], take=item["take"], camera=item["camera"],
            num_frames=int(target.shape[0]), values=sequence_metrics(pred.float(), target.float())))

    def on_validation_epoch_start(self) -> None:
        self.accumulator = ActionwiseAccumulator()

    def validation_step(self, item: dict, batch_idx: int) -> None:
        self._evaluate(item, tta=self.cfg.eval.val_time_flip)

    def on_validation_epoch_end(self) -> None:
        self._log_results("val")

    def on_test_epoch_start(self) -> None:
        self.accumulator = ActionwiseAccumulator()

    def test_step(self, item: dict, batch_idx: int) -> None:
        self._evaluate(item, tta=self.cfg.eval.test_time_flip)

    def on_test_epoch_end(self) -> None:
        self._log_results("test")

    def _log_results(self, stage: str) -> None:
        results = self.accumulator.gather()
        self.last_results = results
        if not len(results):
            return
        metrics = {}
        for name, value in results.frame_wise().items():
            metrics[f"{stage}/{name}"] = value * 1000  # the per-epoch (pooled) number, mm
        for name, value in results.action_wise().items():
            metrics[f"{stage}/{name}_action_wise"] = value * 1000
        for action, values in results.per_action().items():
            for name in ("p1", "p2"):
                metrics[f"{stage}/{name}/{action}"] = values[name] * 1000
        # every rank holds the gathered results, so the values agree without a reduction
        self.log(f"{stage}/p1", metrics.pop(f"{stage}/p1"), prog_bar=True, batch_size=1)
        self.log_dict(metrics, on_epoch=True, batch_size=1, sync_dist=False, rank_zero_only=False)

    def predict_step(self, item: dict, batch_idx: int) -> dict:
        pred = self.predict_sequence(item["keypoints"], self.cfg.eval.test_time_flip)
        return {"key": f"{item['subject']}/{item['take']}/{item['camera']}", "pose3d": pred.cpu().numpy()}


def write_results(results: ActionwiseAccumulator, folder: str | Path, stem: str = "test") -> tuple[Path, Path]:
    """Write the per-action table as ``<stem>_per_action.csv`` and ``.md`` (atomically)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = folder / f"{stem}_per_action.csv", folder / f"{stem}_per_action.md"
    results.to_csv(csv_path)
    tmp = md_path.with_name(f".{md_path.name}.tmp")
    tmp.write_text(results.to_markdown() + "\n")
    tmp.replace(md_path)
    return csv_path, md_path
