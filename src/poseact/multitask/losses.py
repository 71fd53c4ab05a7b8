"""Losses and metrics of the multi-task image model (deephar spec §4, §7), NaN-masked.

Targets follow our store convention: a missing label is NaN, never -1e9. Shapes:
``pred (B, T, J, dim+1)`` = ``[x, y, (z), confidence]``; ``target (B, T, J, dim)`` normalised crop
coordinates (x, y in [0, 1] of the crop, z in [0, 1] over root ± 1 m·s), NaN = missing (2-D-only
data has NaN z; joints outside the crop are NaN); ``visible (B, T, J)`` in {0, 1};
``annotated (B, T, J)`` bool (the dataset has this joint at all).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

EPS = 1e-7  # Keras clips BCE inputs to [EPS, 1 - EPS]


def _bce(target: Tensor, pred: Tensor) -> Tensor:
    p = pred.clamp(EPS, 1 - EPS)
    return -(target * p.log() + (1 - target) * (1 - p).log())


def pose_loss(pred: Tensor, target: Tensor, visible: Tensor, annotated: Tensor | None = None,
              vis_weight: float = 0.01, mask_missing_visibility: bool = False) -> Tensor:
    """One pose output's loss (reference ``l1l2bincross``): elastic net + 0.01·BCE on valid coordinates
    (finite and > 0), averaged per frame over valid *coordinates*, plus ``vis_weight``·BCE(v, c) over
    joints. ``mask_missing_visibility`` (quirk 7, default off = faithful) drops joints the dataset
    does not annotate from the visibility term. Scalar: mean over frames."""
    dim = target.shape[-1]
    coords, conf = pred[..., :dim], pred[..., dim]
    mask = torch.isfinite(target) & (torch.nan_to_num(target, nan=-1.0) > 0)
    y = torch.where(mask, target, torch.zeros_like(target))
    d = coords - y
    per = d.abs() + d * d + 0.01 * _bce(y, coords)
    per = torch.where(mask, per, torch.zeros_like(per))
    l_pose = per.sum(dim=(-2, -1)) / mask.sum(dim=(-2, -1)).clamp_min(1)
    vis = _bce(visible.to(conf.dtype), conf)
    if mask_missing_visibility and annotated is not None:
        l_vis = (vis * annotated).sum(-1) / annotated.sum(-1).clamp_min(1)
    else:
        l_vis = vis.mean(-1)
    return (l_pose + vis_weight * l_vis).mean()


def action_loss(logits: list[Tensor], labels: Tensor) -> Tensor:
    """Cross-entropy summed over datasets' heads; ``labels (B, K)`` int64 with -1 = no label for head k
    (the reference's all-zero one-hot). Mean over labelled samples; 0 when none is labelled."""
    total = logits[0].new_zeros(())
    for k, lg in enumerate(logits):
        lab = labels[:, k]
        ok = lab >= 0
        if ok.any():
            total = total + F.cross_entropy(lg[ok], lab[ok])
    return total


@torch.no_grad()
def pckh(pred_xy: Tensor, target_xy: Tensor, head_size: Tensor, scored: Tensor, threshold: float = 0.5) -> tuple[Tensor, Tensor]:
    """PCKh counts: ``pred_xy``/``target_xy (..., J, 2)`` in one unit, ``head_size (...)`` in that unit,
    ``scored (J,)`` bool joints to score. A joint counts when annotated (finite target) and its error
    is ≤ ``threshold``·head size. Returns (hits, total) as scalars."""
    ok = torch.isfinite(target_xy).all(-1) & scored & torch.isfinite(head_size)[..., None]
    err = (pred_xy - torch.nan_to_num(target_xy)).norm(dim=-1)
    hit = (err <= threshold * torch.nan_to_num(head_size)[..., None]) & ok
    return hit.sum(), ok.sum()


def camera_space(pred: Tensor, intrinsics: Tensor, root_depth: Tensor, depth_range: float = 1.0) -> Tensor:
    """Back-project predictions to camera space (metres), the reference H36M protocol (spec §7):
    ``pred (..., J, 3)`` normalised crop x, y, z; ``intrinsics (..., 4)`` fx, fy, cx, cy of the
    (unaugmented) crop in normalised units; ``root_depth (...)`` metres (ground truth, as the
    reference). Depth = root_depth + 2·depth_range·(z - 0.5)."""
    z = root_depth[..., None] + 2 * depth_range * (pred[..., 2] - 0.5)
    fx, fy, cx, cy = (intrinsics[..., i, None] for i in range(4))
    x = (pred[..., 0] - cx) * z / fx
    y = (pred[..., 1] - cy) * z / fy
    return torch.stack([x, y, z], dim=-1)


@torch.no_grad()
def root_aligned_error(pred3d: Tensor, target3d: Tensor, root: int = 0) -> Tensor:
    """Per-frame MPJPE after aligning joint ``root`` (the root contributes 0): ``(..., J, 3) -> (...)``,
    in the input unit."""
    p = pred3d - pred3d[..., root : root + 1, :]
    t = target3d - target3d[..., root : root + 1, :]
    return (p - t).norm(dim=-1).mean(-1)
