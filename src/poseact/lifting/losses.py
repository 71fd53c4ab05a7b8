"""Training losses of semi-supervised lifting (VideoPose3D §7.5): trajectory, reprojection, bones.

Shapes: poses ``(B, T, J, 3)`` metres in camera space, trajectories ``(B, T, 1, 3)`` metres (the
root position), 2-D ``(B, T, J, 2)`` normalised screen units, intrinsics ``(B, 9)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from poseact.geometry.camera import project_to_2d, project_to_2d_linear
from poseact.metrics import mpjpe, weighted_mpjpe

PROJECTIONS = {"distorted": project_to_2d, "linear": project_to_2d_linear}


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
