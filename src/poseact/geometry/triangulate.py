"""Multi-view triangulation of 2-D keypoints: weighted DLT, reprojection error, frame offsets, left/right swaps.

Inputs are per-view keypoints ``points (V, T, J, 2)`` in pixels as the cameras saw them (distorted),
their confidences ``confidence (V, T, J)`` in [0, 1] and ``cameras``: a sequence of ``V``
:class:`~poseact.geometry.calibration.Camera` with extrinsics. Outputs are world points in metres.

* :func:`triangulate`: per joint, the direct linear transform on undistorted rays, each view's two
  equations weighted by its confidence; views below ``min_confidence`` (or NaN) are left out, and a
  joint seen by fewer than two views is NaN.
* :func:`reprojection_errors`: pixel distance between a 3-D point projected (with distortion) into a
  view and the keypoint there.
* :func:`estimate_offsets`: cameras that were started by hand are a few frames apart. For each view,
  the integer offset (within ``±max_offset`` frames) whose alignment gives the lowest median
  reprojection error: first each view against the reference alone, then each view in turn against
  all the others until nothing changes.
* :func:`resolve_swaps`: a single-view detector sometimes labels the left side as the right (and
  vice versa) in one view while the others are right. Per frame, every combination of views read
  as given or mirrored is triangulated; the combination with the lowest reprojection error wins
  when it beats "as given" by a margin. Mirroring every view gives the same error as mirroring
  none, so a combination and its complement are one hypothesis: the one with fewer mirrored views
  is taken, and an exact tie (half of the views) is broken by closeness to the nearest decided
  frame's 3-D.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import product

import numpy as np

from poseact.geometry.calibration import Camera


def _check(points: np.ndarray, confidence: np.ndarray, cameras: Sequence[Camera]) -> tuple[np.ndarray, np.ndarray]:
    pts = np.asarray(points, dtype=np.float64)
    conf = np.asarray(confidence, dtype=np.float64)
    if pts.shape[-1] != 2 or pts.shape[:-1] != conf.shape:
        raise ValueError(f"points {pts.shape} and confidence {conf.shape}: expected (V, ..., 2) and (V, ...)")
    if pts.shape[0] != len(cameras):
        raise ValueError(f"{pts.shape[0]} views of points for {len(cameras)} cameras")
    missing = [c.name for c in cameras if not c.has_extrinsics]
    if missing:
        raise ValueError(f"cameras {missing} have no rotation/translation: cannot triangulate")
    return pts, conf


def triangulate(points: np.ndarray, confidence: np.ndarray, cameras: Sequence[Camera],
                min_confidence: float = 0.0) -> np.ndarray:
    """Weighted DLT: ``points (V, ..., 2)`` pixels + ``confidence (V, ...)`` → world ``(..., 3)``
    metres; NaN where fewer than two views have a finite point with confidence > ``min_confidence``."""
    pts, conf = _check(points, confidence, cameras)
    rays = np.stack([cam.undistort(p) for cam, p in zip(cameras, pts)])  # (V, ..., 2)
    weight = np.where(np.isfinite(rays).all(-1) & (conf > min_confidence), conf, 0.0)
    rays = np.nan_to_num(rays)
    P = np.stack([cam.projection_matrix() for cam in cameras])  # (V, 3, 4)
    expand = (slice(None),) + (None,) * (pts.ndim - 2)
    # rows x * P3 - P1 and y * P3 - P2, (V, ..., 2, 4), weighted
    rows = rays[..., :, None] * P[:, 2][expand][..., None, :] - P[:, :2][expand]
    rows = rows * weight[..., None, None]
    A = np.moveaxis(rows, 0, -3).reshape(pts.shape[1:-1] + (2 * len(cameras), 4))
    # smallest eigenvector of A^T A: the least-squares null vector of A
    _, vecs = np.linalg.eigh(np.einsum("...ki,...kj->...ij", A, A))
    Xh = vecs[..., :, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        X = Xh[..., :3] / Xh[..., 3:4]
    enough = (weight > 0).sum(0) >= 2
    return np.where(enough[..., None] & np.isfinite(X).all(-1, keepdims=True), X, np.nan)


def reprojection_errors(points3d: np.ndarray, points: np.ndarray, cameras: Sequence[Camera]) -> np.ndarray:
    """Pixel distance ``(V, ...)`` between world points ``(..., 3)`` projected into each camera (with
    distortion) and ``points (V, ..., 2)``; NaN where either is NaN."""
    pts = np.asarray(points, dtype=np.float64)
    return np.stack([np.linalg.norm(cam.project(points3d) - p, axis=-1) for cam, p in zip(cameras, pts)])


def _mask(err: np.ndarray, conf: np.ndarray, min_confidence: float) -> np.ndarray:
    return np.where(conf > min_confidence, err, np.nan)


# ------------------------------------------------------------------------------------------
# frame offsets


def align_views(points: np.ndarray, confidence: np.ndarray, offsets: Sequence[int]) -> tuple[np.ndarray, np.ndarray, int]:
    """Cut every view to the frames all views share under ``offsets``: view ``v``'s frame
    ``first + f + offsets[v]`` becomes frame ``f``. ``points (V, T, J, 2)`` (views of equal length
    ``T``) → ``(V, T', J, 2)``, ``(V, T', J)`` and ``first``; ``T' = 0`` when they share no frame."""
    off = np.asarray(offsets, dtype=int)
    T = points.shape[1]
    first = int(max(0, -off.min()))
    last = int(min(T, T - off.max()))  # exclusive, in reference frames
    n = max(0, last - first)
    idx = first + np.arange(n)[None, :] + off[:, None]  # (V, n)
    v = np.arange(points.shape[0])[:, None]
    return points[v, idx], confidence[v, idx], first


def alignment_cost(points: np.ndarray, confidence: np.ndarray, cameras: Sequence[Camera], offsets: Sequence[int],
                   min_confidence: float = 0.5, views: Sequence[int] | None = None) -> tuple[float, int]:
    """Median reprojection error (px) over confident observations of ``views`` (default all) when
    aligned by ``offsets``, and the number of shared frames."""
    sel = list(range(len(cameras))) if views is None else list(views)
    p, c, _ = align_views(points[sel], confidence[sel], [offsets[v] for v in sel])
    if p.shape[1] == 0:
        return float("inf"), 0
    cams = [cameras[v] for v in sel]
    X = triangulate(p, c, cams, min_confidence)
    err = _mask(reprojection_errors(X, p, cams), c, min_confidence)
    finite = err[np.isfinite(err)]
    return (float(np.median(finite)) if finite.size else float("inf")), int(p.shape[1])


@dataclass
class OffsetResult:
    """Per-view frame offsets (``offsets[v]``: view ``v``'s frame showing the reference's frame 0)
    and the evidence: ``cost_px[v][d]``, view ``v``'s final median reprojection error with offset
    ``d`` (the others fixed), over ``window``."""

    offsets: list[int]
    cost_px: list[list[float]]
    window: list[int]
    median_px: float


def estimate_offsets(points: np.ndarray, confidence: np.ndarray, cameras: Sequence[Camera], max_offset: int = 10,
                     min_confidence: float = 0.5, reference: int = 0, rounds: int = 3) -> OffsetResult:
    """The per-view frame offsets that minimise the median reprojection error, searched within
    ``±max_offset`` frames (``points (V, T, J, 2)`` pixels, ``confidence (V, T, J)``): each view
    against the reference alone, then each view against all others in turn (at most ``rounds``)."""
    pts, conf = _check(points, confidence, cameras)
    V, T = pts.shape[:2]
    if not 0 < 2 * max_offset < T:
        raise ValueError(f"max_offset {max_offset}: must be positive and under half the {T} frames")
    window = list(range(-max_offset, max_offset + 1))
    offsets = [0] * V
    others = [v for v in range(V) if v != reference]
    for v in others:  # pairs with the reference
        costs = []
        for d in window:
            trial = offsets.copy()
            trial[v] = d
            costs.append(alignment_cost(pts, conf, cameras, trial, min_confidence, views=[reference, v])[0])
        offsets[v] = window[int(np.argmin(costs))]
    curves: list[list[float]] = [[0.0] * len(window) for _ in range(V)]
    for _ in range(rounds):
        changed = False
        for v in others:
            costs = []
            for d in window:
                trial = offsets.copy()
                trial[v] = d
                costs.append(alignment_cost(pts, conf, cameras, trial, min_confidence)[0])
            curves[v] = costs
            best = window[int(np.argmin(costs))]
            changed |= best != offsets[v]
            offsets[v] = best
        if not changed:
            break
    final = alignment_cost(pts, conf, cameras, offsets, min_confidence)[0]
    return OffsetResult(offsets, [[round(c, 3) for c in cv] for cv in curves], window, round(final, 3))


# ------------------------------------------------------------------------------------------
# left/right label swaps


@dataclass
class SwapResult:
    """``points`` / ``confidence`` relabelled where a view was found mirrored; ``swapped (V, T)``
    marks those frames; ``counts[v]`` their number per view; ``cost_px (T,)`` the chosen
    labelling's mean (clipped) reprojection error, ``cost_as_given_px (T,)`` the original's."""

    points: np.ndarray
    confidence: np.ndarray
    swapped: np.ndarray
    counts: list[int] = field(default_factory=list)
    cost_px: np.ndarray | None = None
    cost_as_given_px: np.ndarray | None = None


def resolve_swaps(points: np.ndarray, confidence: np.ndarray, cameras: Sequence[Camera], flip: np.ndarray,
                  min_confidence: float = 0.5, margin: float = 0.25, clip_px: float = 100.0) -> SwapResult:
    """Per frame, read each view's labels as given or mirrored (``flip``: the joint permutation
    that swaps left and right, e.g. ``Skeleton.flip_permutation()``), whichever combination the
    views agree on best (see the module docstring). A combination replaces "as given" only when its
    mean reprojection error (each observation clipped at ``clip_px``) is below ``(1 - margin)`` times
    the as-given one. ``points (V, T, J, 2)`` pixels, aligned in time; ``confidence (V, T, J)``."""
    pts, conf = _check(points, confidence, cameras)
    V, T = pts.shape[:2]
    flip = np.asarray(flip, dtype=int)
    masks = np.array(list(product([False, True], repeat=V)))  # (M, V); row 0 = as given
    sw_pts, sw_conf = pts[:, :, flip], conf[:, :, flip]
    cand_p = np.where(masks[:, :, None, None, None], sw_pts[None], pts[None])  # (M, V, T, J, 2)
    cand_c = np.where(masks[:, :, None, None], sw_conf[None], conf[None])
    X = triangulate(np.moveaxis(cand_p, 0, 1), np.moveaxis(cand_c, 0, 1), cameras, min_confidence)  # (M, T, J, 3)
    err = reprojection_errors(X, np.moveaxis(cand_p, 0, 1), cameras)  # (V, M, T, J)
    used = np.moveaxis(cand_c, 0, 1) > min_confidence
    clipped = np.where(used & np.isfinite(err), np.minimum(np.nan_to_num(err, nan=clip_px), clip_px), 0.0)
    count = (used & np.isfinite(err)).sum(axis=(0, 3))
    cost = np.where(count > 0, clipped.sum(axis=(0, 3)) / np.maximum(count, 1), np.inf)  # (M, T)
    n_swapped = masks.sum(1)
    # canonical hypotheses: fewer than half the views mirrored, or exactly half (a tie with the complement)
    allowed = 2 * n_swapped <= V
    choice = np.zeros(T, dtype=int)
    tied = np.zeros(T, dtype=bool)
    for t in range(T):
        c = np.where(allowed, cost[:, t], np.inf)
        best = int(np.argmin(c))
        if np.isfinite(c[best]) and c[best] < (1 - margin) * cost[0, t]:
            choice[t] = best
            tied[t] = 2 * n_swapped[best] == V
    _break_ties(choice, tied, masks, X, flip)
    swapped = masks[choice].T  # (V, T)
    out_p = np.where(swapped[:, :, None, None], sw_pts, pts)
    out_c = np.where(swapped[:, :, None], sw_conf, conf)
    return SwapResult(out_p, out_c, swapped, [int(s) for s in swapped.sum(1)],
                      cost[choice, np.arange(T)], cost[0])


def _break_ties(choice: np.ndarray, tied: np.ndarray, masks: np.ndarray, X: np.ndarray, flip: np.ndarray) -> None:
    """For frames whose best labelling mirrors exactly half the views, take it or its complement,
    whichever 3-D is closer to the nearest frame decided without a tie (in place)."""
    decided = np.flatnonzero(~tied)
    if not tied.any() or decided.size == 0:
        return
    index = {tuple(m): i for i, m in enumerate(masks)}
    for t in np.flatnonzero(tied):
        near = decided[np.argmin(np.abs(decided - t))]
        ref = X[choice[near], near]
        mine = X[choice[t], t]
        other = index[tuple(~masks[choice[t]])]
        d_mine = np.nanmean(np.linalg.norm(mine - ref, axis=-1))
        d_other = np.nanmean(np.linalg.norm(X[other, t] - ref, axis=-1))
        if d_other < d_mine:
            choice[t] = other
