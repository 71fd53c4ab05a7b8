"""LightningModule for the temporal lifter: supervised and semi-supervised training, evaluation.

Training uses the strided single-frame form of :class:`TemporalLifter` on windows of exactly
the receptive field; validation/test run the dilated form over whole padded sequences and feed
an :class:`ActionwiseAccumulator` (per-sequence metrics, frame weighting inside an action,
unweighted mean over actions, plus the pooled frame-wise average). Schedules follow the
reference: AMSGrad, lr decayed per epoch, BatchNorm momentum 0.1 -> 0.001 over the run,
both derived from the epoch counter so a resumed run continues them exactly.

With a trajectory model (``model.trajectory`` or any semi-supervised run) a second lifter with
one output joint predicts the root position in camera space. Semi-supervised batches carry
labeled windows first, then unlabeled ones (VideoPose3D §7.5): one forward over both, 3-D and
trajectory losses on the labeled part, and on the unlabeled part the 2-D error of the projected
pose + trajectory against the input's output-aligned frame, plus bone-length consistency.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor

from poseact.config import ExperimentConfig
from poseact.losses import PROJECTIONS, bone_length_loss, reprojection_loss, trajectory_loss
from poseact.metrics import ActionwiseAccumulator, SequenceResult, mpjpe, sequence_metrics
from poseact.models.temporal import TemporalLifter
from poseact.skeleton import get_skeleton


#: Logged metrics are millimetres (metres x 1000) except these, kept in their own unit.
UNIT_SCALE = {"reprojection_2d": 1.0}  # normalised screen units


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
        skeleton = get_skeleton(layout_3d)

        def lifter(joints_out: int) -> TemporalLifter:
            return TemporalLifter(num_joints_in, in_features, joints_out, m.filter_widths, causal=m.causal,
                                  dropout=m.dropout, channels=m.channels, dense=m.dense)

        self.model = lifter(skeleton.num_joints)
        self.semi_supervised = bool(cfg.data.subjects_unlabeled)
        self.trajectory_model = lifter(1) if (m.trajectory or self.semi_supervised) else None
        self.parents = skeleton.parents
        self.flip_2d = get_skeleton(layout_2d).flip_permutation()
        self.flip_3d = skeleton.flip_permutation()
        self.accumulator = ActionwiseAccumulator()
        self.last_results: ActionwiseAccumulator | None = None
        self._schedule = None
        self.samples_seen = 0

    # -- schedules -----------------------------------------------------------------------------

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        # lr and BatchNorm momentum are functions of the samples consumed so far (schedule.py),
        # dropout masks of (seed, step, rank): a resumed run repeats an uninterrupted one exactly
        samples = self.trainer.datamodule.position(self.current_epoch, batch_idx)
        schedule = self.schedule
        for group in self.optimizers().param_groups:
            group["lr"] = schedule.lr_at(samples)
        for model in self._lifters():
            model.set_bn_momentum(schedule.bn_momentum_at(samples))
        torch.manual_seed((self.cfg.seed * 1_000_003 + self.global_step) * 64 + self.global_rank)

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self.samples_seen = self.trainer.datamodule.position(self.current_epoch, batch_idx + 1)

    @property
    def schedule(self):
        """The run's :class:`~poseact.schedule.Schedule` (from the data module)."""
        if self._schedule is None:
            self._schedule = self.trainer.datamodule.schedule()
        return self._schedule

    def _lifters(self) -> list[TemporalLifter]:
        return [self.model] + ([self.trajectory_model] if self.trajectory_model is not None else [])

    def configure_optimizers(self):
        o = self.cfg.optim
        # the lr is set before every step from the schedule (on_train_batch_start)
        return torch.optim.Adam(self.parameters(), lr=o.lr, amsgrad=o.amsgrad)

    # -- training ------------------------------------------------------------------------------

    @property
    def output_frame(self) -> int:
        """Index, inside a training window, of the frame the output belongs to (centre, or the
        last frame in causal mode — the reference's quirk 2 used the centre there too)."""
        return self.model.pad + self.model.causal_shift

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        keypoints = batch["keypoints"]
        n_lab = int(batch["num_labeled"]) if "num_labeled" in batch else keypoints.shape[0]
        semi = self.cfg.semi
        pose = self.model.forward_single(keypoints)  # (B, 1, J, 3): labeled rows first
        target = batch["pose3d"].clone()
        target[:, :, 0] = 0
        terms = {"loss_3d": (semi.weight_3d if self.semi_supervised else 1.0, mpjpe(pose[:n_lab], target))}
        if self.trajectory_model is not None:
            trajectory = self.trajectory_model.forward_single(keypoints)  # (B, 1, 1, 3)
            terms["loss_trajectory"] = (semi.weight_trajectory, trajectory_loss(trajectory[:n_lab], batch["trajectory"]))
        if n_lab < keypoints.shape[0]:  # unlabeled samples present (past the warm-up)
            intrinsics = batch["intrinsics"]
            target_2d = keypoints[:, self.output_frame: self.output_frame + 1, :, :2]
            if semi.weight_reprojection > 0:
                terms["loss_2d_unlabeled"] = (semi.weight_reprojection, reprojection_loss(
                    pose[n_lab:], trajectory[n_lab:], intrinsics[n_lab:], target_2d[n_lab:], semi.projection))
                with torch.no_grad():
                    self.log("train/loss_2d_labeled", reprojection_loss(
                        pose[:n_lab], trajectory[:n_lab], intrinsics[:n_lab], target_2d[:n_lab], semi.projection),
                        on_step=False, on_epoch=True, batch_size=n_lab, sync_dist=True)
            if semi.weight_bone_length > 0:
                terms["loss_bone_length"] = (semi.weight_bone_length, bone_length_loss(pose, self.parents, n_lab))
        loss = sum(weight * value for weight, value in terms.values())
        for name, (_, value) in terms.items():
            self.log(f"train/{name}", value, on_step=name == "loss_3d", on_epoch=True, batch_size=n_lab,
                     prog_bar=name == "loss_3d", sync_dist=True)
        if len(terms) > 1:
            self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=n_lab, sync_dist=True)
        if batch_idx == 0:
            self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=False, on_epoch=True, batch_size=1)
            self.log("train/bn_momentum", self.model.expand_bn.momentum, on_step=False, on_epoch=True, batch_size=1)
        return loss

    # -- evaluation ----------------------------------------------------------------------------

    @torch.no_grad()
    def predict_sequence(self, keypoints: Tensor, tta: bool) -> tuple[Tensor, Tensor | None]:
        """Padded ``(T + 2 * pad, J2, F)`` → root-relative pose ``(T, J3, 3)`` metres and the
        root trajectory ``(T, 1, 3)`` metres in camera space (None without a trajectory model)."""
        x = keypoints[None]
        pose = flip_tta(self.model, x, self.flip_2d, self.flip_3d) if tta else self.model(x)
        trajectory = None
        if self.trajectory_model is not None:
            m = self.trajectory_model
            trajectory = (flip_tta(m, x, self.flip_2d, self.flip_3d, swap_output=False) if tta else m(x))[0]
        return pose[0], trajectory

    def _evaluate(self, item: dict, tta: bool) -> None:
        pose, trajectory = self.predict_sequence(item["keypoints"], tta)
        target = item["pose3d"].clone()
        target[:, 0] = 0
        values = sequence_metrics(pose.float(), target.float())
        if trajectory is not None:
            values["trajectory"] = float(mpjpe(trajectory, item["trajectory"]))
            inputs = item["keypoints"][self.output_frame: self.output_frame + len(pose), :, :2]
            if not torch.isnan(item["intrinsics"]).any():
                projected = PROJECTIONS["distorted"](pose + trajectory, item["intrinsics"][None].expand(len(pose), -1))
                values["reprojection_2d"] = float(mpjpe(projected, inputs))  # normalised screen units
        self.accumulator.add(SequenceResult(
            subject=item["subject"], action=item["action"], take=item["take"], camera=item["camera"],
            num_frames=int(target.shape[0]), values=values))

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
        for name, value in results.frame_wise().items():  # the per-epoch (pooled) numbers
            metrics[f"{stage}/{name}"] = value * UNIT_SCALE.get(name, 1000.0)  # mm, except 2-D
        for name, value in results.action_wise().items():
            metrics[f"{stage}/{name}_action_wise"] = value * UNIT_SCALE.get(name, 1000.0)
        for action, values in results.per_action().items():
            for name in ("p1", "p2"):
                metrics[f"{stage}/{name}/{action}"] = values[name] * 1000
        if stage == "val":  # where in the budget this evaluation happened (for curves vs budget)
            metrics["budget/samples"] = float(self.samples_seen)
            metrics[f"budget/{self.schedule.unit}"] = self.samples_seen / self.schedule.samples_per_unit
        # every rank holds the gathered results, so the values agree without a reduction
        self.log(f"{stage}/p1", metrics.pop(f"{stage}/p1"), prog_bar=True, batch_size=1)
        self.log_dict(metrics, on_epoch=True, batch_size=1, sync_dist=False, rank_zero_only=False)

    def predict_step(self, item: dict, batch_idx: int) -> dict:
        pose, trajectory = self.predict_sequence(item["keypoints"], self.cfg.eval.test_time_flip)
        out = {"key": f"{item['subject']}/{item['take']}/{item['camera']}", "pose3d": pose.cpu().numpy()}
        if trajectory is not None:
            out["trajectory"] = trajectory.cpu().numpy()
        return out


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
