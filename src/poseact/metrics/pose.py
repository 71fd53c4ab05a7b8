"""3-D pose errors: MPJPE (Protocol #1), P-MPJPE (#2), N-MPJPE, MPJVE, and one sequence's metrics.

Poses are in **metres**, so every metric is in metres (x1000 for millimetres). Protocol #1 ``p1`` =
:func:`mpjpe`; Protocol #2 ``p2`` = :func:`p_mpjpe` (per-frame similarity alignment); ``n_mpjpe`` =
:func:`n_mpjpe` (per-frame optimal scale); ``mpjve`` = :func:`mean_velocity_error`. The torch
functions are differentiable losses; the numpy ones are evaluation-only and compute in float64.
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np
import torch
from torch import Tensor

ArrayLike = Union[np.ndarray, Tensor]

METRIC_NAMES: tuple[str, ...] = ("p1", "p2", "n_mpjpe", "mpjve")  # metric keys, table order


def _check_same_shape(name: str, pred: Any, target: Any) -> None:
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(
            f"{name}: pred and target must have the same shape, "
            f"got pred {tuple(pred.shape)} and target {tuple(target.shape)}"
        )


def _as_float64(x: ArrayLike) -> np.ndarray:
    """Return ``x`` (numpy array or torch tensor, any device) as a float64 numpy array."""
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# torch losses / metrics


def mpjpe(pred: Tensor, target: Tensor) -> Tensor:
    """Mean per-joint position error (Protocol #1), a scalar tensor.

    ``pred``/``target``: identical shapes ``(..., D)``, typically ``(B, T, J, 3)`` in metres (``D = 2``
    works too, e.g. a 2-D reprojection loss). Euclidean norm over the last dim, mean over the rest.
    """
    _check_same_shape("mpjpe", pred, target)
    return torch.linalg.vector_norm(pred - target, dim=-1).mean()


def weighted_mpjpe(pred: Tensor, target: Tensor, weights: Tensor) -> Tensor:
    """Weighted MPJPE ``mean(w * ||pred - target||)`` (no normalisation by ``sum(w)``), a scalar.

    ``pred``/``target``: ``(B, T, J, 3)`` metres (any identical ``(..., D)``). ``weights``:
    broadcastable against the per-joint errors ``(B, T, J)``, e.g. ``(B, T, 1)`` inverse root depths.
    """
    _check_same_shape("weighted_mpjpe", pred, target)
    err = torch.linalg.vector_norm(pred - target, dim=-1)
    return (weights * err).mean()


def n_mpjpe(pred: Tensor, target: Tensor) -> Tensor:
    """Scale-normalised MPJPE ("Protocol #3") of ``(B, T, J, 3)`` tensors (metres), a scalar.

    Every frame ``(b, t)`` of ``pred`` is multiplied by its least-squares optimal scale
    ``s = mean_j <target_j, pred_j> / mean_j ||pred_j||^2`` before :func:`mpjpe`.
    """
    _check_same_shape("n_mpjpe", pred, target)
    if pred.dim() != 4:
        raise ValueError(f"n_mpjpe expects 4-D (B, T, J, 3) inputs, got shape {tuple(pred.shape)}")
    pred_sq = (pred * pred).sum(dim=3, keepdim=True).mean(dim=2, keepdim=True)
    cross = (target * pred).sum(dim=3, keepdim=True).mean(dim=2, keepdim=True)
    return mpjpe((cross / pred_sq) * pred, target)


# --------------------------------------------------------------------------------------------
# numpy evaluation metrics


def procrustes_align(pred: ArrayLike, target: ArrayLike, *, allow_reflection: bool = False) -> np.ndarray:
    """Similarity-align ``pred`` onto ``target``, one alignment per pose (row).

    Solves ``min_{a, R, t} sum_j ||a * pred_j @ R + t - target_j||^2`` for each row independently
    (scale ``a``, rotation ``R``, translation ``t``; row-vector convention), batched over rows.

    ``pred``/``target``: ``(N, J, 3)`` arrays or tensors in metres (extra leading dims are
    flattened into ``N``; one ``(J, 3)`` pose is accepted). Returns the aligned prediction as a
    float64 array shaped like ``pred``. By default ``R`` is forced to be a proper rotation
    (``det R = +1``: the last singular direction and value change sign when needed), as in the
    reference; ``allow_reflection=True`` skips that fix (only to show that it matters).
    A pose whose joints all coincide has no defined scale and yields NaNs.
    """
    X = _as_float64(target)
    Y = _as_float64(pred)
    _check_same_shape("procrustes_align", Y, X)
    if X.ndim < 2:
        raise ValueError(f"procrustes_align expects (N, J, 3) inputs, got shape {X.shape}")
    shape = Y.shape
    X = X.reshape(-1, *shape[-2:])
    Y = Y.reshape(-1, *shape[-2:])

    mu_x = X.mean(axis=1, keepdims=True)
    mu_y = Y.mean(axis=1, keepdims=True)
    x0 = X - mu_x
    y0 = Y - mu_y
    norm_x = np.sqrt((x0**2).sum(axis=(1, 2), keepdims=True))
    norm_y = np.sqrt((y0**2).sum(axis=(1, 2), keepdims=True))
    x0 = x0 / norm_x
    y0 = y0 / norm_y

    H = np.matmul(x0.transpose(0, 2, 1), y0)  # (N, 3, 3)
    U, s, Vt = np.linalg.svd(H)
    V = Vt.transpose(0, 2, 1)
    Ut = U.transpose(0, 2, 1)
    R = np.matmul(V, Ut)

    if not allow_reflection:
        # If the best orthogonal map is a reflection, flip the weakest singular direction.
        sign = np.sign(np.linalg.det(R))  # (N,)
        V[:, :, -1] *= sign[:, None]  # V and s are fresh arrays from svd: safe to edit in place
        s[:, -1] *= sign
        R = np.matmul(V, Ut)

    trace = s.sum(axis=1)[:, None, None]  # (N, 1, 1)
    scale = trace * norm_x / norm_y
    t = mu_x - scale * np.matmul(mu_y, R)
    aligned = scale * np.matmul(Y, R) + t
    return aligned.reshape(shape)


def p_mpjpe(pred: ArrayLike, target: ArrayLike) -> float:
    """Procrustes-aligned MPJPE (Protocol #2) in metres, as a Python float.

    ``pred``/``target``: ``(N, J, 3)`` arrays or tensors (metres); each row is aligned separately
    with :func:`procrustes_align`, then the Euclidean error is averaged over ``N`` and ``J``.
    """
    X = _as_float64(target)
    aligned = procrustes_align(pred, X)
    return float(np.linalg.norm(aligned - X, axis=-1).mean())


def mean_velocity_error(pred: ArrayLike, target: ArrayLike, axis: int = 0) -> float:
    """Mean per-joint velocity error (MPJVE) in metres per frame, as a Python float.

    ``pred``/``target``: identical shapes, e.g. ``(T, J, 3)`` metres. First differences are taken
    along ``axis`` (time); returns the mean Euclidean norm (last dim) of ``diff(pred) - diff(target)``,
    or NaN if the time axis has fewer than 2 entries.
    """
    p = _as_float64(pred)
    q = _as_float64(target)
    _check_same_shape("mean_velocity_error", p, q)
    dv = np.diff(p, axis=axis) - np.diff(q, axis=axis)
    if dv.size == 0:
        return float("nan")
    return float(np.linalg.norm(dv, axis=-1).mean())


# --------------------------------------------------------------------------------------------
# one sequence


def sequence_metrics(pred: ArrayLike, target: ArrayLike) -> dict[str, float]:
    """All :data:`METRIC_NAMES` (metres) of one sequence.

    ``pred``: ``(T, J, 3)`` metres (root not zeroed); ``target``: ``(T, J, 3)`` metres, root-relative
    (joint 0 at the origin). P1 and N-MPJPE over the whole sequence, P2 with one alignment per
    frame, MPJVE along time (0.0 if ``T < 2``).
    """
    p = _as_float64(pred)
    q = _as_float64(target)
    _check_same_shape("sequence_metrics", p, q)
    if p.ndim != 3 or p.shape[0] < 1:
        raise ValueError(f"sequence_metrics expects (T, J, 3) inputs with T >= 1, got shape {p.shape}")
    pt = torch.from_numpy(p)[None]
    qt = torch.from_numpy(q)[None]
    return {
        "p1": float(mpjpe(pt, qt)),
        "p2": p_mpjpe(p, q),
        "n_mpjpe": float(n_mpjpe(pt, qt)),
        "mpjve": mean_velocity_error(p, q, axis=0) if p.shape[0] >= 2 else 0.0,
    }
