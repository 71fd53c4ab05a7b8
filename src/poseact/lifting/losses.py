"""Training losses of the lifters: the 3-D error (optionally joint-weighted, MixSTE's WMPJPE), the
temporal terms of seq2seq models (MixSTE's temporal consistency and velocity losses), and
semi-supervised back-projection (VideoPose3D §7.5: trajectory, reprojection, bone lengths) and the
multi-view consistency of synchronised calibrated views (poseact's).

Shapes: poses ``(B, T, J, 3)`` metres in camera space (``T`` output frames per example: 1 for the
temporal convolutions, a clip for seq2seq), trajectories ``(B, T, 1, 3)`` metres (the root position),
2-D ``(B, T, J, 2)`` normalised screen units, intrinsics ``(B, 9)``; ``valid (B, T)`` bool marks
frames that exist (a clip that overhangs its sequence's end is edge-replicated there; None = all).
"""

from __future__ import annotations

import torch
from torch import Tensor

from poseact.geometry.camera import project_to_2d, project_to_2d_linear
from poseact.metrics import mpjpe, weighted_mpjpe

PROJECTIONS = {"distorted": project_to_2d, "linear": project_to_2d_linear}


def valid_frames(*tensors: Tensor, valid: Tensor | None) -> tuple[Tensor, ...]:
    """The frames of ``(B, T, ...)`` tensors that ``valid (B, T)`` marks, as ``(1, N, ...)`` (the
    tensors unchanged when ``valid`` is None or all True)."""
    if valid is None or bool(valid.all()):
        return tensors
    return tuple(t[valid][None] for t in tensors)


def pose_error(pred: Tensor, target: Tensor, joint_weights: Tensor | None = None,
               valid: Tensor | None = None) -> Tensor:
    """The 3-D training error: MPJPE, or with ``joint_weights (J,)`` MixSTE's WMPJPE
    ``mean_{b,t,j}(w_j · ||pred - target||)``, over valid frames."""
    pred, target = valid_frames(pred, target, valid=valid)
    if joint_weights is None:
        return mpjpe(pred, target)
    return weighted_mpjpe(pred, target, joint_weights)


def temporal_consistency_loss(pred: Tensor, joint_weights: Tensor | None = None,
                              valid: Tensor | None = None) -> Tensor:
    """MixSTE's TCLoss (after Hossain & Little): ``mean_{b,t,j,c}(w_j · (pred[t+1] - pred[t])²)`` over
    consecutive valid frames (unweighted without ``joint_weights``). Squared metres."""
    diff = pred[:, 1:] - pred[:, :-1]  # (B, T-1, J, 3)
    w = joint_weights[:, None] if joint_weights is not None else diff.new_ones(diff.shape[2], 1)
    sq = w * diff ** 2
    if valid is not None:
        pair = valid[:, 1:] & valid[:, :-1]
        return sq[pair].mean()
    return sq.mean()


def velocity_loss(pred: Tensor, target: Tensor, valid: Tensor | None = None) -> Tensor:
    """The MPJVE as a loss: ``mean ||Δpred - Δtarget||`` over consecutive valid frames. Metres/frame."""
    dv = (pred[:, 1:] - pred[:, :-1]) - (target[:, 1:] - target[:, :-1])
    err = torch.linalg.vector_norm(dv, dim=-1)  # (B, T-1, J)
    if valid is not None:
        return err[valid[:, 1:] & valid[:, :-1]].mean()
    return err.mean()


def trajectory_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Root error weighted by inverse ground-truth depth: ``mean(||pred - gt|| / z_gt)``.

    Far subjects project smaller, so their absolute errors count less (spec §7.5 step 4).
    """
    if pred.shape != target.shape or pred.shape[-2:] != (1, 3):
        raise ValueError(f"trajectory_loss expects (B, T, 1, 3) pairs, got {tuple(pred.shape)} and {tuple(target.shape)}")
    return weighted_mpjpe(pred, target, 1.0 / target[..., 2])


def reprojection_loss(pose: Tensor, trajectory: Tensor, intrinsics: Tensor, target_2d: Tensor,
                      projection: str = "distorted") -> Tensor:
    """2-D error of ``pose + trajectory`` projected through each sample's own camera.

    The predicted root joint is not zeroed (as the reference): the trajectory broadcasts over
    the joints. Returns the MPJPE in normalised screen units.
    """
    projected = PROJECTIONS[projection](pose + trajectory, intrinsics)
    return mpjpe(projected, target_2d)


def bone_lengths(pose: Tensor, parents: tuple[int, ...]) -> Tensor:
    """Lengths of every bone ``(B, J - 1)`` (metres), averaged over the frames of each sample."""
    children = [j for j, p in enumerate(parents) if p >= 0]
    bones = pose[:, :, children] - pose[:, :, [parents[j] for j in children]]
    return torch.linalg.vector_norm(bones, dim=-1).mean(dim=1)


def bone_length_loss(pose: Tensor, parents: tuple[int, ...], num_labeled: int) -> Tensor:
    """Mean over bones of ``|mean length over labeled samples - mean over unlabeled samples|``.

    ``pose`` holds the labeled samples first (``num_labeled`` of them), then the unlabeled ones.
    Keeps the unlabeled predictions on the body proportions learned from labeled data.
    """
    if not 0 < num_labeled < pose.shape[0]:
        raise ValueError(f"bone_length_loss needs labeled and unlabeled samples, got {num_labeled} of {pose.shape[0]}")
    lengths = bone_lengths(pose, parents)
    return (lengths[:num_labeled].mean(dim=0) - lengths[num_labeled:].mean(dim=0)).abs().mean()


def multiview_consistency_loss(pose: Tensor, rotation: Tensor, group: Tensor) -> Tensor:
    """Multi-view consistency: windows of one instant seen by several calibrated cameras must
    predict the same body in the world frame.

    ``pose (B, T, J, 3)`` metres in each sample's camera frame (made root-relative here),
    ``rotation (B, 3, 3)`` each camera's camera-to-world rotation (``R^T`` of ``x_cam = R x_world + t``),
    ``group (B,)`` int64: the instant of each sample (-1 = not part of a multi-view instant). Each
    pose rotated into the world is compared with its instant's mean over the views: the mean over
    the grouped samples, frames and joints of ``||R_i^T p_i - mean_g||`` (metres). Zero, with the
    graph kept, when no instant has two samples.
    """
    if not (pose.dim() == 4 and rotation.shape == (pose.shape[0], 3, 3) and group.shape == (pose.shape[0],)):
        raise ValueError(f"multiview_consistency_loss expects pose (B, T, J, 3), rotation (B, 3, 3), group (B,), "
                         f"got {tuple(pose.shape)}, {tuple(rotation.shape)}, {tuple(group.shape)}")
    _, inverse, counts = torch.unique(group, return_inverse=True, return_counts=True)
    keep = (group >= 0) & (counts[inverse] >= 2)
    if not keep.any():
        return pose.sum() * 0.0
    p = pose[keep]
    p = p - p[:, :, :1]
    world = torch.einsum("bij,btkj->btki", rotation[keep].to(p.dtype), p)  # (G, T, J, 3)
    _, inverse, counts = torch.unique(group[keep], return_inverse=True, return_counts=True)
    sums = world.new_zeros((len(counts),) + world.shape[1:]).index_add(0, inverse, world)
    mean = sums / counts.to(world.dtype).view(-1, 1, 1, 1)
    return torch.linalg.vector_norm(world - mean[inverse], dim=-1).mean()
