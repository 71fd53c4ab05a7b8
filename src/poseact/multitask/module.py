"""LightningModule of the multi-task image model: alternating pose/action steps (spec §5.3) with
manual optimisation, NaN-masked losses (§4), PCKh / MPJPE / action accuracy (§7).

Training batches are ``{"pose": clips, "action": clips}`` (see :mod:`poseact.multitask.clips`). One
training step = one optimizer step on the pose loss of the pose batch (pseudo-clips of independent
frames, action stream skipped), then one on ``action_weight``·CE of the action batch — the
reference's ``MultiModelTrainer``. The two steps use two optimizers over the same parameters, each
with its own RMSprop/Adam state: the reference compiles the pose and the action sub-models with one
Keras optimizer object, and Keras 2 creates fresh accumulators in every ``get_updates`` call, i.e.
per compiled model. A single shared state (``train.shared_optimizer_state=true``, an ablation) lets
the action step's gradients — 10–100× the pose step's on the shared trunk — dominate the second
moment, which shrinks the pose updates until the pose error stalls (docs/multitask.md).
``train.mode`` = ``pose`` / ``action`` keeps one of the two steps (the sharing ablation). During
the first ``freeze_pose_epochs`` only action layers (the action stream and the replica
regressors) train.

Metrics (validation/test on centred clips, no flip): ``val/pckh`` (PCKh@0.5 on the last pose
output, in crop coordinates, joints except pelvis and thorax), ``val/err2d_px`` (mean 2-D error of
the last output over joints inside the crop, in pixels of the model's input crop), ``val/mpjpe`` (mm, last output;
predicted u, v back-projected with the GT root depth, root-aligned on joint 0: the reference H36M
protocol, Protocol 1 without Procrustes), ``val/mpjpe_best`` (min over outputs, chosen on the same
set: the reference's reporting), ``val/acc_clip`` (last action output, centred clip),
``val/action_ce`` (its cross-entropy, nats) and, in test,
``test/acc_video`` (product of softmaxes over sliding clips × {no flip, flip}).
"""

from __future__ import annotations

from dataclasses import asdict

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor

from poseact.errors import TrainingError
from poseact.metrics.distributed import gather_objects
from poseact.multitask.losses import action_loss, camera_space, pckh, pose_loss, root_aligned_error
from poseact.multitask.models.spnet import SPNet

FAMILY = "multitask"

#: joints left out of PCKh per layout (the reference scores all but pelvis and thorax)
PCKH_SKIP = {"h36m17": (0, 8), "mpii16": (6, 7)}


def is_action_param(name: str) -> bool:
    """Parameters of the action part (trainable in the frozen-pose stage)."""
    return ".action." in name or name.startswith("action_units") or "_replica" in name


class EvalSums:
    """Evaluation totals of one rank — sums and counts, so ranks combine exactly — and the
    per-video action scores of the sliding test clips."""

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}  # name -> float64 (values..., count)
        self.videos: dict[int, tuple[Tensor, int]] = {}  # clip row -> (summed log-probabilities, label)

    def add(self, name: str, total: Tensor, count: Tensor | int) -> None:
        entry = torch.cat([total.detach().reshape(-1).double().cpu(),
                           torch.as_tensor([count], dtype=torch.float64).reshape(1)])
        self.sums[name] = self.sums[name] + entry if name in self.sums else entry

    def add_video(self, videos: Tensor, logp: Tensor, labels: Tensor) -> None:
        for v, lp, lb in zip(videos.tolist(), logp.detach().cpu().double(), labels.tolist()):
            score, _ = self.videos.get(v, (0, lb))
            self.videos[v] = (score + lp, lb)

    def gathered(self) -> "EvalSums":
        """The totals over every DDP rank (self when not distributed)."""
        parts = gather_objects((self.sums, self.videos))
        if parts is None:
            return self
        out = EvalSums()
        for sums, videos in parts:
            for k, v in sums.items():
                out.sums[k] = out.sums[k] + v if k in out.sums else v
            for vid, (lp, lb) in videos.items():
                score, _ = out.videos.get(vid, (0, lb))
                out.videos[vid] = (score + lp, lb)
        return out

    def mean(self, name: str) -> Tensor:
        s = self.sums[name]
        return s[:-1] / s[-1].clamp_min(1)


class MultitaskModule(pl.LightningModule):
    def __init__(self, cfg, layout: str = "h36m17", action_names: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__()
        self.cfg = cfg
        self.model = SPNet(cfg.model)
        self.layout = layout
        # the class names of the action head (the store's action table), so a checkpoint says what its
        # scores mean (poseact.load_multitask, poseact predict)
        self.action_names = [str(a) for a in action_names]
        self.save_hyperparameters({"family": FAMILY, "layout": layout, "model": asdict(cfg.model),
                                   "action_names": self.action_names})
        self.automatic_optimization = False
        skip = PCKH_SKIP.get(layout, ())
        self.register_buffer("pckh_joints", torch.tensor([j not in skip for j in range(cfg.model.num_joints)]),
                             persistent=False)
        self._eval = EvalSums()
        self.last_results: dict[str, float] = {}

    # ----------------------------------------------------------------------------- training
    def _make_optimizer(self) -> torch.optim.Optimizer:
        t = self.cfg.optim
        if t.optimizer == "rmsprop":
            return torch.optim.RMSprop(self.parameters(), lr=t.lr, alpha=0.9, eps=1e-7)
        return torch.optim.Adam(self.parameters(), lr=t.lr)

    def configure_optimizers(self):
        """Two optimizers over all parameters, ``[pose, action]``, each with its own state and the same
        lr schedule; one when ``train.shared_optimizer_state`` or when ``train.mode`` keeps one step.
        A parameter a step does not reach has no gradient and is left alone by that step's optimizer."""
        t, o = self.cfg.train, self.cfg.optim
        two = t.mode == "multitask" and not o.shared_optimizer_state
        opts = [self._make_optimizer(), self._make_optimizer()] if two else [self._make_optimizer()]
        scheds = [torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(o.lr_milestones), gamma=o.lr_gamma)
                  for opt in opts]
        return opts, scheds

    def _pose_loss(self, poses, batch) -> torch.Tensor:
        t = self.cfg.train
        dim = self.cfg.model.dim
        return sum(pose_loss(p, batch["pose"][..., :dim], batch["visible"], batch["annotated"], t.vis_weight,
                             t.mask_missing_visibility) for p in poses)

    def _action_loss(self, actions, batch) -> torch.Tensor:
        return self.cfg.train.action_weight * sum(action_loss(a, batch["action"]) for a in actions)

    def _step(self, loss: torch.Tensor, opt, what: str) -> None:
        if not torch.isfinite(loss):
            raise TrainingError(f"the {what} loss became non-finite at step {self.global_step} (epoch "
                                f"{self.current_epoch}, lr {opt.param_groups[0]['lr']:.3g}): lower optim.lr, "
                                f"or check the data")
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        opt.step()

    def training_step(self, batch, batch_idx):
        opts = self.optimizers()
        opts = opts if isinstance(opts, list) else [opts]
        opt_pose, opt_action = opts[0], opts[-1]
        mode = self.cfg.train.mode
        frozen = self.current_epoch < self.cfg.train.freeze_pose_epochs
        for name, p in self.model.named_parameters():
            p.requires_grad_(not frozen or is_action_param(name))
        if mode in ("multitask", "pose") and not frozen:
            poses, _ = self.model(batch["pose"]["frames"], with_action=False)
            loss = self._pose_loss(poses, batch["pose"])
            self._step(loss, opt_pose, "pose")
            self.log("train/pose_loss", loss.detach(), prog_bar=True)
        if mode in ("multitask", "action"):
            _, actions = self.model(batch["action"]["frames"])
            loss = self._action_loss(actions, batch["action"])
            self._step(loss, opt_action, "action")
            self.log("train/action_loss", loss.detach(), prog_bar=True)

    def on_train_epoch_end(self) -> None:
        scheds = self.lr_schedulers()
        for sched in scheds if isinstance(scheds, list) else [scheds] if scheds is not None else []:
            sched.step()

    # ----------------------------------------------------------------------------- evaluation
    @torch.no_grad()
    def _score(self, batch) -> None:
        poses, actions = self.model(batch["frames"], with_action=bool(self.cfg.model.action_pyramids))
        dim = self.cfg.model.dim
        hits, total = pckh(poses[-1][..., :2], batch["pose"][..., :2], batch["head_size"], self.pckh_joints)
        self._eval.add("pckh", hits, total)
        err = (poses[-1][..., :2] - batch["pose"][..., :2]).norm(dim=-1)  # (B, T, J) normalised crop units
        ok = torch.isfinite(err)
        self._eval.add("err2d", err[ok].sum(), ok.sum())
        if dim == 3 and torch.isfinite(batch["pose3d"]).all():
            root_z = batch["pose3d"][..., 0, 2]
            errs = torch.stack([root_aligned_error(camera_space(p[..., :3], batch["intrinsics"], root_z),
                                                   batch["pose3d"]).flatten() for p in poses])  # (outputs, frames)
            self._eval.add("mpjpe", 1000 * errs.double().sum(1), errs.shape[1])  # mm, one total per output
        if actions:
            labels = batch["action"][:, 0]
            for k, a in enumerate(actions):
                self._eval.add(f"acc/{k:03d}", (a[0].argmax(-1) == labels).sum(), len(labels))
            known = labels >= 0
            ce = F.cross_entropy(actions[-1][0][known], labels[known], reduction="sum")
            self._eval.add("action_ce", ce, known.sum())

    def _summarise(self, prefix: str) -> dict[str, float]:
        """The metrics of this evaluation over every rank's shard (see the module docstring)."""
        ev = self._eval.gathered()
        self._eval = EvalSums()
        out: dict[str, float] = {}
        if "pckh" in ev.sums:
            out[f"{prefix}/pckh"] = float(100 * ev.mean("pckh")[0])
        if "err2d" in ev.sums:
            out[f"{prefix}/err2d_px"] = float(self.cfg.model.input_size * ev.mean("err2d")[0])
        if "action_ce" in ev.sums:
            out[f"{prefix}/action_ce"] = float(ev.mean("action_ce")[0])
        if "mpjpe" in ev.sums:
            e = ev.mean("mpjpe")
            out[f"{prefix}/mpjpe"] = float(e[-1])
            out[f"{prefix}/mpjpe_best"] = float(e.min())
        accs = [float(100 * ev.mean(k)[0]) for k in sorted(ev.sums) if k.startswith("acc/")]
        if accs:
            out[f"{prefix}/acc_clip"] = accs[-1]
            out[f"{prefix}/acc_clip_best"] = max(accs)
        if ev.videos:
            right = sum(int(score.argmax()) == label for score, label in ev.videos.values())
            out[f"{prefix}/acc_video"] = 100 * right / len(ev.videos)
        return out

    def validation_step(self, batch, batch_idx):
        self._score(batch)

    def on_validation_epoch_end(self) -> None:
        res = self._summarise("val")
        for k, v in res.items():
            # every rank holds the gathered totals, so the values agree without a reduction
            self.log(k, v, prog_bar=k in ("val/mpjpe", "val/acc_clip"), batch_size=1, sync_dist=False)
        self.last_results = res

    def test_step(self, batch, batch_idx, dataloader_idx: int = 0):
        if dataloader_idx == 0:
            self._score(batch)
        elif self.cfg.model.action_pyramids:  # sliding clips: video-level, no flip + flip
            logp = 0
            for frames in (batch["frames"], batch["frames"].flip(-1)):
                _, actions = self.model(frames)
                logp = logp + F.log_softmax(actions[-1][0], -1)
            self._eval.add_video(batch["video"], logp, batch["action"][:, 0])

    def on_test_epoch_end(self) -> None:
        res = self._summarise("test")
        for k, v in res.items():
            self.log(k, v, batch_size=1, sync_dist=False)
        self.last_results = res
