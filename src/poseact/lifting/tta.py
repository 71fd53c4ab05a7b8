"""Whole-sequence prediction with flip test-time augmentation, shared by evaluation and inference."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from poseact.geometry import mirror_points


def flip_tta(model: nn.Module, keypoints: Tensor, flip_2d: np.ndarray, flip_3d: np.ndarray | None) -> Tensor:
    """Average the prediction with the mirrored prediction of the mirrored input.

    ``keypoints (B, T, J2, F)`` → ``(B, T', J3, 3)``; ``flip_3d`` is the output's left/right swap, or
    None for the trajectory model (one joint: negate x only).
    """
    both = model(torch.cat([keypoints, mirror_points(keypoints, flip_2d)]))
    plain, flipped = both.chunk(2)
    return (plain + mirror_points(flipped, flip_3d if flip_3d is not None else [0])) / 2


@torch.no_grad()
def predict_sequence(model: nn.Module, trajectory_model: nn.Module | None, keypoints: Tensor,
                     flip_2d: np.ndarray, flip_3d: np.ndarray, tta: bool) -> tuple[Tensor, Tensor | None]:
    """A padded sequence ``(T + 2 * pad, J2, F)`` (:func:`~poseact.lifting.windows.pad_sequence`) →
    pose ``(T, J3, 3)`` metres and, with a trajectory model, the root trajectory ``(T, 1, 3)`` metres
    in camera space (else None)."""
    x = keypoints[None]
    pose = flip_tta(model, x, flip_2d, flip_3d) if tta else model(x)
    trajectory = None
    if trajectory_model is not None:
        trajectory = (flip_tta(trajectory_model, x, flip_2d, None) if tta else trajectory_model(x))[0]
    return pose[0], trajectory
