"""3-D pose errors: MPJPE (Protocol #1), P-MPJPE (#2), N-MPJPE, MPJVE, and one sequence's metrics.

Poses are in **metres**, so every metric is in metres (x1000 for millimetres). Protocol #1 ``p1`` =
:func:`mpjpe`; Protocol #2 ``p2`` = :func:`p_mpjpe` (per-frame similarity alignment); ``n_mpjpe`` =
:func:`n_mpjpe` (per-frame optimal scale); ``mpjve`` = :func:`mean_velocity_error`. The torch
functions are differentiable losses; the numpy ones are evaluation-only and compute in float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

import numpy as np
import torch
from torch import Tensor

ArrayLike = Union[np.ndarray, Tensor]

#: the metric keys :func:`sequence_metrics` computes, in table order (their units, headers and decimals:
#: :data:`poseact.metrics.table.METRICS`)
METRIC_NAMES: tuple[str, ...] = ("p1", "p2", "n_mpjpe", "mpjve")


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
    R, trace = _procrustes_rotation(H, allow_reflection)
    scale = trace[:, None, None] * norm_x / norm_y
    t = mu_x - scale * np.matmul(mu_y, R)
    aligned = scale * np.matmul(Y, R) + t
    return aligned.reshape(shape)


def _procrustes_rotation_svd(H: np.ndarray, allow_reflection: bool) -> tuple[np.ndarray, np.ndarray]:
    """The reference's rotation from the SVD ``H = U S V^T``: ``R = V U^T``; if that is a reflection
    (and reflections are not allowed) the weakest singular direction and value change sign.
    Returns ``R (N, 3, 3)`` and ``trace (N,)`` = the sum of the (sign-fixed) singular values."""
    U, s, Vt = np.linalg.svd(H)
    V = Vt.transpose(0, 2, 1)
    Ut = U.transpose(0, 2, 1)
    R = np.matmul(V, Ut)
    if not allow_reflection:
        sign = np.sign(np.linalg.det(R))  # (N,)
        V[:, :, -1] *= sign[:, None]  # V and s are fresh arrays from svd: safe to edit in place
        s[:, -1] *= sign
        R = np.matmul(V, Ut)
    return R, s.sum(axis=1)


def _polar_factor(H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orthogonal polar factor ``Q`` of ``(N, 3, 3)`` matrices by the scaled Newton iteration
    ``X <- (z X + X^{-T} / z) / 2``, ``z = |det X|^{-1/3}``, on the nine entries as separate
    ``(N,)`` arrays (the cofactor matrix is ``X^{-T} det X``). Returns ``Q`` and whether each row
    converged (``Q^T Q = I`` within 1e-12)."""
    x = [H[:, i, j].copy() for i in range(3) for j in range(3)]
    for _ in range(12):
        a, b, c, d, e, f, g, h, k = x
        cof = [e * k - f * h, f * g - d * k, d * h - e * g,
               c * h - b * k, a * k - c * g, b * g - a * h,
               b * f - c * e, c * d - a * f, a * e - b * d]
        det = a * cof[0] + b * cof[1] + c * cof[2]
        z = np.abs(det) ** (-1.0 / 3.0)
        w = 1.0 / (det * z)
        x = [0.5 * (z * xi + w * ci) for xi, ci in zip(x, cof)]
    Q = np.stack(x, axis=1).reshape(-1, 3, 3)
    error = np.abs(np.matmul(Q.transpose(0, 2, 1), Q) - np.eye(3)).max(axis=(1, 2))
    return Q, error < 1e-12


def _procrustes_rotation(H: np.ndarray, allow_reflection: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_procrustes_rotation_svd`, computed without a per-matrix SVD where possible.

    For ``det H > 0`` the reference's ``R = V U^T`` is the transpose of the orthogonal polar factor
    ``Q = U V^T`` of ``H`` (:func:`_polar_factor`), and the sum of the singular values is
    ``trace(Q^T H)``. Matrices with ``det H <= 0`` (where the reflection fix applies) or whose
    iteration has not converged go to the SVD, so the result equals the reference's to float64
    rounding.
    """
    R = np.empty_like(H)
    trace = np.empty(len(H), dtype=H.dtype)
    with np.errstate(all="ignore"):
        Q, converged = _polar_factor(H)
        good = converged & (np.linalg.det(H) > 0)
    R[good] = Q[good].transpose(0, 2, 1)
    trace[good] = np.einsum("nij,nij->n", Q[good], H[good])
    bad = ~good
    if bad.any():
        R[bad], trace[bad] = _procrustes_rotation_svd(H[bad], allow_reflection)
    return R, trace

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


def sequence_metrics(pred: ArrayLike, target: ArrayLike,
                     names: Sequence[str] = METRIC_NAMES) -> dict[str, float]:
    """The metrics ``names`` (of :data:`METRIC_NAMES`; all by default), metres, of one sequence.

    ``pred``: ``(T, J, 3)`` metres (root not zeroed); ``target``: ``(T, J, 3)`` metres, root-relative
    (joint 0 at the origin). P1 and N-MPJPE over the whole sequence, P2 with one alignment per
    frame, MPJVE along time (0.0 if ``T < 2``).
    """
    p = _as_float64(pred)
    q = _as_float64(target)
    _check_same_shape("sequence_metrics", p, q)
    if p.ndim != 3 or p.shape[0] < 1:
        raise ValueError(f"sequence_metrics expects (T, J, 3) inputs with T >= 1, got shape {p.shape}")
    # numpy float64 throughout (same formulas as mpjpe / n_mpjpe / mean_velocity_error, without a
    # round trip through torch per metric: this runs for every sequence at every validation)
    unknown = [n for n in names if n not in METRIC_NAMES]
    if unknown:
        raise ValueError(f"sequence_metrics: unknown metrics {unknown}; choose from {list(METRIC_NAMES)}")
    diff = p - q
    out: dict[str, float] = {}
    if "p1" in names:
        out["p1"] = float(np.sqrt(np.einsum("tjc,tjc->tj", diff, diff)).mean())
    if "p2" in names:
        out["p2"] = p_mpjpe(p, q)
    if "n_mpjpe" in names:
        scale = np.einsum("tjc,tjc->t", q, p) / np.einsum("tjc,tjc->t", p, p)  # per frame: mean_j <q, p> / mean_j |p|^2
        scaled = scale[:, None, None] * p - q
        out["n_mpjpe"] = float(np.sqrt(np.einsum("tjc,tjc->tj", scaled, scaled)).mean())
    if "mpjve" in names:
        dv = np.diff(diff, axis=0)
        out["mpjve"] = float(np.sqrt(np.einsum("tjc,tjc->tj", dv, dv)).mean()) if p.shape[0] >= 2 else 0.0
    return {name: out[name] for name in METRIC_NAMES if name in out}
