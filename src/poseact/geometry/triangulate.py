"""Multi-view triangulation of 2-D keypoints: weighted DLT, reprojection error, frame offsets, left/right swaps.

Inputs are per-view keypoints ``points (V, T, J, 2)`` in pixels as the cameras saw them (distorted),
their confidences ``confidence (V, T, J)`` in [0, 1] and ``cameras``: a sequence of ``V``
:class:`~poseact.geometry.calibration.Camera` with extrinsics. Outputs are world points in metres.

* :func:`triangulate`: per joint, the direct linear transform on undistorted rays, each view's two
  equations weighted by its confidence; views below ``min_confidence`` (or NaN) are left out, and a
  joint seen by fewer than two views is NaN.
* :func:`reprojection_errors`: pixel distance between a 3-D point projected (with distortion) into a
  view and the keypoint there.
* :func:`estimate_offsets`: cameras that were started by hand are a few frames apart. Every pair
  of views gives its relative offset (within ``±max_offset`` frames) by the lowest median two-view
  reprojection error; each view is tied to the reference through the pairs that agree best; then
  each view's offset is searched again against the 3-D of all the other views. An offset found at
  the window's edge was only bounded, not found: the search runs again with the window doubled, up
  to ``widen`` times the first window and while ``4 * window < T`` (the new window under half the clip).
* :func:`resolve_swaps`: a single-view detector sometimes labels the left side as the right (and
  vice versa) in one view while the others are right. Per frame, every combination of views read
  as given or mirrored is triangulated; the combination with the lowest reprojection error wins
  when it beats "as given" by a margin. Mirroring every view gives the same error as mirroring
  none, so a combination and its complement are one hypothesis: the one with fewer mirrored views
  is taken, and an exact tie (half of the views) is broken by closeness to the nearest decided
  frame's 3-D.
* :func:`resolve_views`: the same, where a view's detector may have followed someone else: per
  frame, the largest set of views that agree on one person (within a reprojection error) is used.
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


def align_views(points: np.ndarray, confidence: np.ndarray, offsets: Sequence[int],
                span: str = "shared") -> tuple[np.ndarray, np.ndarray, int]:
    """Put the views on one time line: view ``v``'s frame ``first + f + offsets[v]`` becomes frame
    ``f``. ``points (V, T, J, 2)`` (views of equal length ``T``) → ``(V, T', J, 2)``, ``(V, T', J)``
    and ``first`` (in reference frames). ``span="shared"``: the frames every view has (``T' = 0``
    when they share none); ``"all"``: the frames any view has, a view's missing frames NaN with
    confidence 0 (as a frame where its detector found nobody), so one camera started late does not
    cut the others' frames."""
    off = np.asarray(offsets, dtype=int)
    T = points.shape[1]
    if span == "shared":
        first, last = int(max(0, -off.min())), int(min(T, T - off.max()))  # last: exclusive
    elif span == "all":
        first, last = int(-off.max()), int(T - off.min())
    else:
        raise ValueError(f"span {span!r}: shared or all")
    n = max(0, last - first) if T else 0
    idx = first + np.arange(n)[None, :] + off[:, None]  # (V, n)
    inside = (idx >= 0) & (idx < T)
    v = np.arange(points.shape[0])[:, None]
    if inside.all():  # every view has every frame (always with span="shared"): plain indexing
        return points[v, idx], confidence[v, idx], first
    safe = np.clip(idx, 0, max(T - 1, 0))
    p = np.where(inside[..., None, None], points[v, safe], np.nan)
    c = np.where(inside[..., None], confidence[v, safe], 0.0)
    return p, c, first


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


def _held_out_cost(points: np.ndarray, confidence: np.ndarray, cameras: Sequence[Camera], offsets: Sequence[int],
                   view: int, min_confidence: float) -> float:
    """Median reprojection error (px) of ``view``'s confident keypoints against the 3-D triangulated
    from the other views, all aligned by ``offsets``: ``view`` cannot pull that 3-D towards itself."""
    p, c, _ = align_views(points, confidence, offsets)
    if p.shape[1] == 0:
        return float("inf")
    others = c.copy()
    others[view] = 0
    X = triangulate(p, others, cameras, min_confidence)
    err = np.linalg.norm(cameras[view].project(X) - p[view], axis=-1)
    err = err[(c[view] > min_confidence) & np.isfinite(err)]
    return float(np.median(err)) if err.size else float("inf")


@dataclass
class OffsetResult:
    """Per-view frame offsets (``offsets[v]``: view ``v``'s frame showing the reference's frame 0)
    and the evidence: ``pair_offset[u][v]`` / ``pair_cost_px[u][v]``, the best offset of ``v``
    relative to ``u`` and its median reprojection error with those two views alone; ``via[v]``
    the view ``v`` was first tied to the reference through; ``cost_px[v]``: view ``v``'s final
    curve over ``window`` (its median error against the 3-D of the other views);
    ``median_px``: all views together, aligned."""

    offsets: list[int]
    cost_px: list[list[float]]
    window: list[int]
    median_px: float
    via: list[int]
    pair_offset: list[list[int]]
    pair_cost_px: list[list[float]]


def estimate_offsets(points: np.ndarray, confidence: np.ndarray, cameras: Sequence[Camera], max_offset: int = 10,
                     min_confidence: float = 0.5, reference: int = 0, rounds: int = 2,
                     usable: np.ndarray | None = None, widen: int = 4, length: int | None = None) -> OffsetResult:
    """The per-view frame offsets, searched within ``±max_offset`` frames (``points (V, T, J, 2)``
    pixels, ``confidence (V, T, J)``). Every pair of views gives the relative offset with the lowest
    median two-view reprojection error; each view is then tied to the reference along the chain of
    pairs (direct, or through one other view) whose worst pair agrees best, so a view that saw
    another person in most frames does not decide the others' offsets. Then, for at most
    ``rounds``, each view's offset is searched again against the 3-D triangulated from all the
    other views (which it cannot pull towards itself). ``usable (V, T)``, in each view's own
    frames, leaves out detections known to be of someone else (e.g. :func:`resolve_views`'s
    ``used`` from a first pass).
    ``widen``: where a view's offset lands on the window's edge (``±max_offset``), search again with the
    window doubled, up to ``widen × max_offset`` (1: never) and while ``4 × window < T``; a doubling costs
    only the offsets not tried before (each cost is kept). The reported ``window`` is the last one
    searched; an offset still on its edge is a bound, not a measurement. ``length``: the shortest view's
    own frames where the arrays are padded to the longest (default ``T``): the limit on widening."""
    T = np.shape(points)[1] if length is None else int(length)
    limit = max(1, int(widen)) * max_offset
    tried: dict[tuple, float] = {}  # every cost computed, by the views and offsets it was computed for
    while True:
        result = _search_offsets(points, confidence, cameras, max_offset, min_confidence, reference, rounds, usable,
                                 tried)
        on_edge = any(abs(o) >= max_offset for o in result.offsets)
        if not (on_edge and 2 * max_offset <= limit and 4 * max_offset < T):
            return result
        max_offset *= 2


def _search_offsets(points: np.ndarray, confidence: np.ndarray, cameras: Sequence[Camera], max_offset: int,
                    min_confidence: float, reference: int, rounds: int, usable: np.ndarray | None,
                    tried: dict[tuple, float] | None = None) -> OffsetResult:
    """:func:`estimate_offsets` within one window of ``±max_offset`` frames; ``tried`` keeps the costs computed
    (by a search of a narrower window over the same arrays) and takes the new ones."""
    tried = {} if tried is None else tried
    pts, conf = _check(points, confidence, cameras)
    if usable is not None:
        conf = conf * np.asarray(usable, dtype=bool)[..., None]
    V, T = pts.shape[:2]
    if not 0 < 2 * max_offset < T:
        raise ValueError(f"max_offset {max_offset}: must be positive and under half the {T} frames")
    window = list(range(-max_offset, max_offset + 1))
    curve = [[[0.0] * len(window) for _ in range(V)] for _ in range(V)]
    best = np.zeros((V, V), dtype=int)
    cost = np.zeros((V, V))
    for u in range(V):
        for v in range(u + 1, V):
            costs = []
            for d in window:
                if ("pair", u, v, d) not in tried:
                    trial = [0] * V
                    trial[v] = d
                    tried["pair", u, v, d] = alignment_cost(pts, conf, cameras, trial, min_confidence, views=[u, v])[0]
                costs.append(tried["pair", u, v, d])
            k = int(np.argmin(costs))
            if not np.isfinite(costs[k]):  # no shared confident frame at any offset: unknown, not the window's edge
                k = window.index(0)
            best[u, v], best[v, u] = window[k], -window[k]
            cost[u, v] = cost[v, u] = costs[k]
            curve[u][v] = costs
            curve[v][u] = costs[::-1]
    offsets, via, curves = [0] * V, [reference] * V, [[0.0] * len(window) for _ in range(V)]
    for v in range(V):
        if v == reference:
            continue
        paths = [(cost[reference, v], reference)] + [(max(cost[reference, u], cost[u, v]), u)
                                                     for u in range(V) if u not in (reference, v)]
        _, u = min(paths)
        offsets[v] = int(best[reference, v] if u == reference else best[reference, u] + best[u, v])
        via[v], curves[v] = u, curve[u][v]
    for _ in range(rounds):  # each view against the 3-D of all the others
        changed = False
        for v in range(V):
            if v == reference:
                continue
            costs = []
            for d in window:
                trial = offsets.copy()
                trial[v] = d
                key = ("held_out", v, *trial)
                if key not in tried:
                    tried[key] = _held_out_cost(pts, conf, cameras, trial, v, min_confidence)
                costs.append(tried[key])
            k = int(np.argmin(costs))
            if np.isfinite(costs[k]) and window[k] != offsets[v]:
                offsets[v], changed = window[k], True
            curves[v] = costs
        if not changed:
            break
    final = alignment_cost(pts, conf, cameras, offsets, min_confidence)[0]
    return OffsetResult(offsets, [[round(c, 3) for c in cv] for cv in curves], window, round(final, 3), via,
                        best.tolist(), np.round(cost, 3).tolist())


# ------------------------------------------------------------------------------------------
# left/right label swaps


@dataclass
class SwapResult:
    """``points`` / ``confidence`` relabelled where a view was found mirrored; ``swapped (V, T)``
    marks those frames; ``counts[v]`` their number per view; ``used (V, T)`` the views that agreed
    on the person in each frame (all, for :func:`resolve_swaps`); ``cost_px (T,)`` the chosen
    labelling's mean (clipped) reprojection error over the views used, ``cost_as_given_px (T,)``
    the same views' as given (NaN where no views agree)."""

    points: np.ndarray
    confidence: np.ndarray
    swapped: np.ndarray
    counts: list[int] = field(default_factory=list)
    cost_px: np.ndarray | None = None
    cost_as_given_px: np.ndarray | None = None
    used: np.ndarray | None = None


def resolve_swaps(points: np.ndarray, confidence: np.ndarray, cameras: Sequence[Camera], flip: np.ndarray,
                  min_confidence: float = 0.5, margin: float = 0.25, clip_px: float = 100.0) -> SwapResult:
    """Per frame, read each view's labels as given or mirrored (``flip``: the joint permutation
    that swaps left and right, e.g. ``Skeleton.flip_permutation()``), whichever combination the
    views agree on best (see the module docstring). A combination replaces "as given" only when its
    mean reprojection error (each observation clipped at ``clip_px``) is below ``(1 - margin)`` times
    the as-given one. ``points (V, T, J, 2)`` pixels, aligned in time; ``confidence (V, T, J)``."""
    return _resolve(points, confidence, cameras, flip, min_confidence, margin, clip_px, agree_px=None)


def resolve_views(points: np.ndarray, confidence: np.ndarray, cameras: Sequence[Camera], flip: np.ndarray,
                  min_confidence: float = 0.5, agree_px: float = 40.0, margin: float = 0.25,
                  clip_px: float = 100.0) -> SwapResult:
    """:func:`resolve_swaps` where a view may also show someone else: per frame, the largest set of
    (at least two) views whose best labelling reprojects within ``agree_px`` (mean, clipped) is
    used (ties: the lowest error); the other views are marked unused for that frame (``used``), and
    no views are used where no two agree."""
    return _resolve(points, confidence, cameras, flip, min_confidence, margin, clip_px, agree_px=agree_px)


def _resolve(points, confidence, cameras, flip, min_confidence, margin, clip_px, agree_px) -> SwapResult:
    pts, conf = _check(points, confidence, cameras)
    V, T = pts.shape[:2]
    flip = np.asarray(flip, dtype=int)
    every = [np.array(m) for m in product([False, True], repeat=V)]
    subsets = [s for s in every if s.sum() >= 2] if agree_px is not None else [np.ones(V, bool)]
    hyps = [(s, w) for s in subsets for w in every if not (w & ~s).any()]  # swaps only among the views used
    S = np.array([h[0] for h in hyps])  # (H, V)
    W = np.array([h[1] for h in hyps])
    sw_pts, sw_conf = pts[:, :, flip], conf[:, :, flip]
    cand_p = np.where(W.T[:, :, None, None, None], sw_pts[:, None], pts[:, None])  # (V, H, T, J, 2)
    cand_c = np.where(W.T[:, :, None, None], sw_conf[:, None], conf[:, None]) * S.T[:, :, None, None]
    X = triangulate(cand_p, cand_c, cameras, min_confidence)  # (H, T, J, 3)
    err = reprojection_errors(X, cand_p, cameras)  # (V, H, T, J)
    ok = (cand_c > min_confidence) & np.isfinite(err)
    clipped = np.where(ok, np.minimum(np.nan_to_num(err), clip_px), 0.0)
    count = ok.sum(axis=(0, 3))
    cost = np.where(count > 0, clipped.sum(axis=(0, 3)) / np.maximum(count, 1), np.inf)  # (H, T)
    index = {(tuple(s), tuple(w)): h for h, (s, w) in enumerate(hyps)}
    given = np.array([index[(tuple(s), (False,) * V)] for s, _ in hyps])  # each hypothesis's "as given"
    n_s, n_w = S.sum(1), W.sum(1)
    allowed = 2 * n_w <= n_s  # a labelling and its complement within the views used reproject alike
    # per hypothesis and frame: does it beat its own "as given" by the margin (or is it "as given")?
    accept = allowed[:, None] & ((n_w == 0)[:, None] | (cost < (1 - margin) * cost[given]))
    choice = np.full(T, -1)
    for t in range(T):
        # per set of views, its best accepted labelling; then the largest agreeing set
        best_per_set: dict[tuple, int] = {}
        for h in np.flatnonzero(accept[:, t]):
            key = tuple(S[h])
            if key not in best_per_set or cost[h, t] < cost[best_per_set[key], t]:
                best_per_set[key] = h
        ranked = sorted(best_per_set.values(), key=lambda h: (-n_s[h], cost[h, t]))
        for h in ranked:
            if agree_px is None or cost[h, t] < agree_px:
                choice[t] = h
                break
    tied = (choice >= 0) & (2 * n_w[np.maximum(choice, 0)] == n_s[np.maximum(choice, 0)]) & (n_w[np.maximum(choice, 0)] > 0)
    _break_ties(choice, tied, S, W, X, index)
    chosen = choice >= 0
    # a view counts as used (and can be swapped) only where it saw someone confidently: a view with no
    # keypoint there (its detector found nobody, or the camera has no frame) adds no cost to any set
    present = (conf > min_confidence).any(-1)  # (V, T)
    used = np.where(chosen[None], S[np.maximum(choice, 0)].T, False) & present  # (V, T)
    swapped = np.where(chosen[None], W[np.maximum(choice, 0)].T, False) & present
    out_p = np.where(swapped[:, :, None, None], sw_pts, pts)
    out_c = np.where(swapped[:, :, None], sw_conf, conf)
    frames = np.arange(T)
    cost_chosen = np.where(chosen, cost[np.maximum(choice, 0), frames], np.nan)
    cost_given = np.where(chosen, cost[given[np.maximum(choice, 0)], frames], np.nan)
    return SwapResult(out_p, out_c, swapped, [int(x) for x in swapped.sum(1)], cost_chosen, cost_given, used)


def _break_ties(choice: np.ndarray, tied: np.ndarray, S: np.ndarray, W: np.ndarray, X: np.ndarray,
                index: dict) -> None:
    """For frames whose best labelling mirrors exactly half the views used, take it or its
    complement, whichever 3-D is closer to the nearest frame decided without a tie (in place)."""
    decided = np.flatnonzero(~tied & (choice >= 0))
    if not tied.any() or decided.size == 0:
        return
    for t in np.flatnonzero(tied):
        near = decided[np.argmin(np.abs(decided - t))]
        ref = X[choice[near], near]
        h = choice[t]
        other = index[(tuple(S[h]), tuple(S[h] & ~W[h]))]
        with np.errstate(invalid="ignore"):
            d_mine = np.nanmean(np.linalg.norm(X[h, t] - ref, axis=-1))
            d_other = np.nanmean(np.linalg.norm(X[other, t] - ref, axis=-1))
        if d_other < d_mine:
            choice[t] = other
