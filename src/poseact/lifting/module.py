"""LightningModule of the lifter: supervised and semi-supervised training, evaluation.

Training runs a lifter's window form (``forward_train``: windows of exactly its receptive field,
one output frame for the temporal convolutions, a clip of ``T`` output frames for seq2seq models);
validation/test run its sequence form over whole padded sequences and feed an
:class:`ActionwiseAccumulator` (per-sequence metrics, frame weighting inside an action, unweighted
mean over actions, plus the pooled frame-wise average), gathered over DDP ranks. Schedules follow
the reference — AMSGrad, lr decayed per epoch, BatchNorm momentum 0.1 → 0.001 over the run — and
are read before every step from the run's :class:`~poseact.lifting.clock.TrainingClock`, so a
resumed run continues them exactly.

With a trajectory model (``model.trajectory`` or any semi-supervised run) a second lifter with one
output joint predicts the root position in camera space. Semi-supervised batches carry labeled
windows first, then unlabeled ones (VideoPose3D §7.5): one forward over both, 3-D and trajectory
losses on the labeled part, and on the unlabeled part the 2-D error of the projected pose +
trajectory against the input's output-aligned frame, plus bone-length consistency.

The checkpoint's hyper-parameters say everything that rebuilds the model alone: the family, the
architecture (``model``: the architecture's own section, e.g. name, widths, channels, causal, dense),
the input joints and features and the 2-D / 3-D layouts.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import pytorch_lightning as pl
import torch
from torch import Tensor

from poseact.errors import ConfigError, TrainingError
from poseact.lifting.clock import TrainingClock
from poseact.lifting.config import LiftingConfig
from poseact.lifting.losses import (
    PROJECTIONS, valid_frames, bone_length_loss, pose_error, reprojection_loss, temporal_consistency_loss,
    trajectory_loss, velocity_loss, multiview_consistency_loss,
)
from poseact.lifting.models import build_lifter
from poseact.lifting.tta import predict_sequence
from poseact.lifting.windows import Windowing
from poseact.metrics import METRIC_NAMES, ActionwiseAccumulator, SequenceResult, mpjpe, sequence_metrics
from poseact.metrics.table import metric_of
from poseact.skeleton import get_skeleton

FAMILY = "lifting"

#: on an accelerator, how often (steps) the non-finite-loss flag is read back from the device
FINITE_CHECK_EVERY = 50

#: a training loss above this (metres: no pose error is kilometres) has diverged: the run stops
ABSURD_LOSS = 1.0e4

def to_mm(name: str, value: float) -> float:
    """A metric's logged value in its reported unit (the metric table's scale: metres → millimetres,
    ``reprojection_2d`` kept in normalised screen units)."""
    m = metric_of(name)
    return value * (m.scale if m is not None else 1000.0)


class LiftingModule(pl.LightningModule):
    """2-D → 3-D lifting (VideoPose3D) on batches from :class:`~poseact.lifting.datamodule.LiftingDataModule`."""

    def __init__(self, cfg: LiftingConfig, num_joints_in: int, in_features: int,
                 layout_2d: str, layout_3d: str) -> None:
        super().__init__()
        self.cfg = cfg
        skeleton = get_skeleton(layout_3d)
        self.model = build_lifter(cfg.model, num_joints_in, in_features, skeleton.num_joints)
        self.semi_supervised = bool(cfg.data.subjects_unlabeled)
        self.trajectory_model = build_lifter(cfg.model, num_joints_in, in_features, 1) \
            if (cfg.model.trajectory or self.semi_supervised) else None
        self.save_hyperparameters({"family": FAMILY, "num_joints_in": num_joints_in, "in_features": in_features,
                                   "num_joints_out": skeleton.num_joints, "layout_2d": layout_2d, "layout_3d": layout_3d,
                                   "model": {**asdict(cfg.model), **self.model.architecture(),
                                             "trajectory": self.trajectory_model is not None}})
        self.parents = skeleton.parents
        self.flip_2d = get_skeleton(layout_2d).flip_permutation()
        self.flip_3d = skeleton.flip_permutation()
        weights = cfg.loss.joint_weights
        if weights is not None and len(weights) != skeleton.num_joints:
            raise ConfigError(f"loss.joint_weights has {len(weights)} entries, layout {layout_3d} has "
                              f"{skeleton.num_joints} joints")
        self.register_buffer("joint_weights", None if weights is None else torch.tensor(weights, dtype=torch.float32),
                             persistent=False)
        self.accumulator = ActionwiseAccumulator()
        self.last_results: ActionwiseAccumulator | None = None
        self.clock: TrainingClock | None = None  # set by the family before training
        self.samples_seen = 0
        self._all_finite: Tensor | None = None  # accelerators: every loss since the last check was finite

    @property
    def pad(self) -> int:
        return self.model.pad

    @property
    def causal_shift(self) -> int:
        return self.model.causal_shift

    # -- schedules -----------------------------------------------------------------------------

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        # lr and BatchNorm momentum are functions of the samples consumed so far (clock.py),
        # dropout masks of (seed, step, rank): a resumed run repeats an uninterrupted one exactly
        samples = self.clock.position(self.current_epoch, batch_idx)
        for group in self.optimizers().param_groups:
            group["lr"] = self.clock.lr_at(samples)
        for model in self._lifters():
            model.set_bn_momentum(self.clock.bn_momentum_at(samples))
        seed = (self.cfg.seed * 1_000_003 + self.global_step) * 64 + self.global_rank
        if self.device.type == "cpu":
            # the masks come from the CPU generator; torch.manual_seed would also queue a lazy seeding of
            # every accelerator backend, formatting the stack each time (~1.5 ms a step, a tenth of a
            # batch-64 step): the same CPU stream without that
            torch.default_generator.manual_seed(seed)
        else:
            torch.manual_seed(seed)

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self.samples_seen = self.clock.position(self.current_epoch, batch_idx + 1)

    def _lifters(self) -> list:
        return [self.model] + ([self.trajectory_model] if self.trajectory_model is not None else [])

    def configure_optimizers(self):
        o = self.cfg.optim
        # the lr is set before every step from the clock (on_train_batch_start)
        # fused: one kernel for every parameter (the same update; ~3 ms less per step on a CPU than the
        # per-tensor loop, which is a fifth of a batch-64 step)
        kind = torch.optim.AdamW if o.optimizer == "adamw" else torch.optim.Adam
        return kind(self.parameters(), lr=o.lr, amsgrad=o.amsgrad, weight_decay=o.weight_decay, fused=True)

    # -- training ------------------------------------------------------------------------------

    @property
    def output_frame(self) -> int:
        """Index, inside a training window, of the first frame the output belongs to (centre, or the
        last frame in causal mode — the reference's quirk 2 used the centre there too; 0 for a
        seq2seq clip)."""
        return self.window.before

    @property
    def window(self) -> Windowing:
        return Windowing.of(self.model, self.cfg.model.train_stride)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        keypoints = batch["keypoints"]
        n_lab = int(batch["num_labeled"]) if "num_labeled" in batch else keypoints.shape[0]
        semi, losses = self.cfg.semi, self.cfg.loss
        pose = self.model.forward_train(keypoints)  # (B, frames_out, J, 3): labeled rows first
        target = batch["pose3d"].clone()
        target[:, :, 0] = 0
        valid = batch.get("valid")  # (B, frames_out): False past a sequence's end (seq2seq clips only)
        lab_valid = None if valid is None else valid[:n_lab]
        terms = {"loss_3d": (semi.weight_3d if self.semi_supervised else 1.0,
                             pose_error(pose[:n_lab], target, self.joint_weights, lab_valid))}
        if losses.weight_temporal > 0:
            terms["loss_temporal"] = (losses.weight_temporal,
                                      temporal_consistency_loss(pose[:n_lab], self.joint_weights, lab_valid))
        if losses.weight_velocity > 0:
            terms["loss_velocity"] = (losses.weight_velocity, velocity_loss(pose[:n_lab], target, lab_valid))
        if self.trajectory_model is not None:
            trajectory = self.trajectory_model.forward_train(keypoints)  # (B, frames_out, 1, 3)
            terms["loss_trajectory"] = (semi.weight_trajectory,
                                        trajectory_loss(*valid_frames(trajectory[:n_lab], batch["trajectory"],
                                                                       valid=lab_valid)))
        if n_lab < keypoints.shape[0]:  # unlabeled samples present (past the warm-up)
            intrinsics = batch["intrinsics"]
            frames_out = pose.shape[1]
            target_2d = keypoints[:, self.output_frame: self.output_frame + frames_out, :, :2]
            if semi.weight_reprojection > 0:
                terms["loss_2d_unlabeled"] = (semi.weight_reprojection, reprojection_loss(
                    pose[n_lab:], trajectory[n_lab:], intrinsics[n_lab:], target_2d[n_lab:], semi.projection))
                with torch.no_grad():
                    self.log("train/loss_2d_labeled", reprojection_loss(
                        pose[:n_lab], trajectory[:n_lab], intrinsics[:n_lab], target_2d[:n_lab], semi.projection),
                        on_step=False, on_epoch=True, batch_size=n_lab, sync_dist=True)
            if semi.weight_bone_length > 0:
                terms["loss_bone_length"] = (semi.weight_bone_length, bone_length_loss(pose, self.parents, n_lab))
            if semi.multiview_weight > 0 and "unlabeled_group" in batch:
                terms["loss_multiview"] = (semi.multiview_weight, multiview_consistency_loss(
                    pose[n_lab:], batch["unlabeled_rotation"], batch["unlabeled_group"]))
        loss = sum(weight * value for weight, value in terms.values())
        self._check_finite(loss, terms)
        for name, (_, value) in terms.items():
            self.log(f"train/{name}", value, on_step=name == "loss_3d", on_epoch=True, batch_size=n_lab,
                     prog_bar=name == "loss_3d", sync_dist=True)
        if len(terms) > 1:
            self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=n_lab, sync_dist=True)
        if batch_idx == 0:
            self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=False, on_epoch=True, batch_size=1)
            if hasattr(self.model, "expand_bn"):
                self.log("train/bn_momentum", self.model.expand_bn.momentum, on_step=False, on_epoch=True,
                         batch_size=1)
        return loss

    def _check_finite(self, loss: Tensor, terms: dict[str, tuple[float, Tensor]]) -> None:
        """Stop at a non-finite loss. On a CPU every step is checked; on an accelerator the flag is
        kept on the device and read every :data:`FINITE_CHECK_EVERY` steps, so training never
        waits for the device to report."""
        finite = torch.isfinite(loss) & (loss.detach().abs() < ABSURD_LOSS)
        if loss.device.type == "cpu":
            if not finite:
                raise TrainingError(self._non_finite_message(terms, loss=float(loss.detach())))
            return
        self._all_finite = finite if self._all_finite is None else self._all_finite & finite
        if self.global_step % FINITE_CHECK_EVERY == 0 and not bool(self._all_finite):
            raise TrainingError(self._non_finite_message(terms, since=self.global_step - FINITE_CHECK_EVERY))

    def _non_finite_message(self, terms: dict[str, tuple[float, Tensor]], since: int | None = None,
                            loss: float | None = None) -> str:
        bad = [name for name, (_, v) in terms.items() if not torch.isfinite(v)]
        lr = self.optimizers().param_groups[0]["lr"]
        when = f"at step {self.global_step}" if since is None else \
            f"between steps {max(since, 0)} and {self.global_step}"
        if loss is not None and math.isfinite(loss):
            return (f"the training loss exploded to {loss:.3g} (above {ABSURD_LOSS:g}, in metres) {when} (epoch "
                    f"{self.current_epoch}, lr {lr:.3g}): the run diverged; lower optim.lr")
        grew = "" if since is None else f" or above {ABSURD_LOSS:g} m"
        return (f"the training loss became non-finite{grew} {when} (epoch {self.current_epoch}, "
                f"lr {lr:.3g}; non-finite now: {', '.join(bad) or 'none'}): lower optim.lr, or check the inputs for outliers")

    # -- evaluation ----------------------------------------------------------------------------

    def predict_sequence(self, keypoints: Tensor, tta: bool) -> tuple[Tensor, Tensor | None]:
        """Padded ``(T + 2 * pad, J2, F)`` → root-relative pose ``(T, J3, 3)`` metres and the
        root trajectory ``(T, 1, 3)`` metres in camera space (None without a trajectory model)."""
        return predict_sequence(self.model, self.trajectory_model, keypoints, self.flip_2d, self.flip_3d, tta)

    def _evaluate(self, item: dict, tta: bool, names: tuple[str, ...] = METRIC_NAMES) -> None:
        with torch.autocast(item["keypoints"].device.type, dtype=torch.bfloat16,
                            enabled=self.cfg.eval.precision == "bf16"):
            pose, trajectory = self.predict_sequence(item["keypoints"], tta)
        pose = pose.float()
        trajectory = None if trajectory is None else trajectory.float()
        target = item["pose3d"].clone()
        target[:, 0] = 0
        values = sequence_metrics(pose, target.float(), names)
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
        self._evaluate(item, tta=self.cfg.eval.val_time_flip, names=tuple(self.cfg.eval.val_metrics))

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
        # one meaning per name everywhere (CSV, W&B, summary.json, tables, sweeps): the metric's name is
        # the action-wise average (the papers' protocol), ``_frame_wise`` the pooled average over frames
        for name, value in results.action_wise().items():
            metrics[f"{stage}/{name}"] = to_mm(name, value)
        for name, value in results.frame_wise().items():
            metrics[f"{stage}/{name}_frame_wise"] = to_mm(name, value)
        for action, values in results.per_action().items():
            for name in ("p1", "p2"):
                if name in values:
                    metrics[f"{stage}/{name}/{action}"] = to_mm(name, values[name])
        if stage == "val" and self.clock is not None:  # where in the budget this evaluation happened
            metrics["budget/samples"] = float(self.samples_seen)
            metrics[f"budget/{self.clock.schedule.unit}"] = self.samples_seen / self.clock.schedule.samples_per_unit
        # every rank holds the gathered results, so the values agree without a reduction
        self.log(f"{stage}/p1", metrics.pop(f"{stage}/p1"), prog_bar=True, batch_size=1)
        self.log_dict(metrics, on_epoch=True, batch_size=1, sync_dist=False, rank_zero_only=False)

    def summary(self) -> dict[str, float]:
        """The final evaluation's averages (mm): action-wise under the metric's name, frame-wise
        with ``_frame_wise``, and where in the budget training ended."""
        results = self.last_results
        if results is None or not len(results):
            return {}
        out = {**{k: to_mm(k, v) for k, v in results.action_wise().items()},
               **{f"{k}_frame_wise": to_mm(k, v) for k, v in results.frame_wise().items()}}
        if self.samples_seen and self.clock is not None:
            out["budget_samples"] = float(self.samples_seen)
            out[f"budget_{self.clock.schedule.unit}"] = self.samples_seen / self.clock.schedule.samples_per_unit
        return out

    def predict_step(self, item: dict, batch_idx: int) -> dict:
        pose, trajectory = self.predict_sequence(item["keypoints"], self.cfg.eval.test_time_flip)
        out = {"key": f"{item['subject']}/{item['take']}/{item['camera']}", "pose3d": pose.cpu().numpy()}
        if trajectory is not None:
            out["trajectory"] = trajectory.cpu().numpy()
        return out
