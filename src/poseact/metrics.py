"""3-D pose losses, evaluation metrics (MPJPE, P-MPJPE, N-MPJPE, MPJVE) and their action-wise averaging.

Poses are in **metres**, so every metric is in metres (x1000 for millimetres); the tables of
:class:`ActionwiseAccumulator` are in millimetres. Protocol #1 ``p1`` = :func:`mpjpe`; Protocol #2
``p2`` = :func:`p_mpjpe` (per-frame similarity alignment); ``n_mpjpe`` = :func:`n_mpjpe` (per-frame
optimal scale); ``mpjve`` = :func:`mean_velocity_error`. The torch functions are differentiable
losses; the numpy ones are evaluation-only and compute in float64.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import torch
from torch import Tensor

ArrayLike = Union[np.ndarray, Tensor]

METRIC_NAMES: tuple[str, ...] = ("p1", "p2", "n_mpjpe", "mpjve")  # metric keys, table order

_MD_HEADERS = {"p1": "P1 (mm)", "p2": "P2 (mm)", "n_mpjpe": "N-MPJPE (mm)", "mpjve": "MPJVE (mm)"}
_MD_DECIMALS: dict[str, int] = {"p1": 1, "p2": 1, "n_mpjpe": 1, "mpjve": 2}

ACTION_WISE_ROW = "action-wise average"
FRAME_WISE_ROW = "frame-wise average"


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
# per-sequence evaluation and action-wise averaging


def action_group(take_name: str) -> str:
    """Action group of a take name: the part before the first space (``"Walking 1"`` -> ``"Walking"``)."""
    return take_name.split(" ")[0]


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


@dataclass
class SequenceResult:
    """Metrics of one evaluated sequence (one take x one camera).

    ``action`` is the action *group* (already grouped by the caller, see :func:`action_group`),
    ``take`` the full take name (``"Walking 1"``); ``num_frames`` (>= 1) is the averaging weight;
    ``values`` maps every name of :data:`METRIC_NAMES` to its sequence mean in metres.
    """

    subject: str
    action: str
    take: str
    camera: str
    num_frames: int
    values: dict[str, float]

    def __post_init__(self) -> None:
        if int(self.num_frames) != self.num_frames or self.num_frames < 1:
            raise ValueError(f"num_frames must be a positive integer, got {self.num_frames!r}")
        self.num_frames = int(self.num_frames)
        missing = [m for m in METRIC_NAMES if m not in self.values]
        if missing:
            raise ValueError(f"SequenceResult for {self.key} lacks metrics {missing}")
        self.values = {k: float(v) for k, v in self.values.items()}

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity of the sequence: ``(subject, take, camera)``."""
        return (self.subject, self.take, self.camera)


def _metric_keys(values: list[dict[str, float]]) -> tuple[str, ...]:
    """:data:`METRIC_NAMES` plus any extra metric (e.g. ``trajectory``) that every entry has."""
    extra = [k for k in values[0] if k not in METRIC_NAMES and all(k in v for v in values)] if values else []
    return METRIC_NAMES + tuple(extra)


def _weighted_mean(results: list[SequenceResult]) -> dict[str, float]:
    """Frame-weighted mean of every metric over ``results`` (NaN when empty)."""
    total = sum(r.num_frames for r in results)
    if total == 0:
        return {m: float("nan") for m in METRIC_NAMES}
    keys = _metric_keys([r.values for r in results])
    return {m: math.fsum(r.values[m] * r.num_frames for r in results) / total for m in keys}


def _unweighted_mean(groups: Iterable[dict[str, float]]) -> dict[str, float]:
    groups = list(groups)
    if not groups:
        return {m: float("nan") for m in METRIC_NAMES}
    return {m: math.fsum(g[m] for g in groups) / len(groups) for m in _metric_keys(groups)}


class ActionwiseAccumulator:
    """Collects :class:`SequenceResult` objects and averages them like the reference evaluation.

    * per action group: each sequence weighted by its ``num_frames`` (MPJVE too, although it has
      ``T - 1`` terms -- kept for comparability with published numbers);
    * action-wise average: unweighted mean over action groups (the published number);
    * frame-wise average: all sequences pooled, weighted by ``num_frames`` (per-epoch number).

    Sequences are identified by ``(subject, take, camera)``; a sequence added twice counts once
    (the first copy is kept; a copy disagreeing in action or frame count raises ``ValueError``).
    Averages of an empty accumulator are NaN.
    """

    def __init__(self, results: Iterable[SequenceResult] = ()) -> None:
        self._results: dict[tuple[str, str, str], SequenceResult] = {}
        self.extend(results)

    def __len__(self) -> int:
        return len(self._results)

    @property
    def results(self) -> list[SequenceResult]:
        """The distinct sequence results, in insertion order."""
        return list(self._results.values())

    def add(self, result: SequenceResult) -> None:
        """Add one sequence result (ignored if its ``(subject, take, camera)`` is already present)."""
        old = self._results.get(result.key)
        if old is None:
            self._results[result.key] = result
        elif old.num_frames != result.num_frames or old.action != result.action:
            raise ValueError(
                f"conflicting results for sequence {result.key}: "
                f"({old.action}, {old.num_frames} frames) vs ({result.action}, {result.num_frames} frames)"
            )

    def extend(self, results: Iterable[SequenceResult]) -> None:
        """Add several sequence results."""
        for r in results:
            self.add(r)

    def gather(self) -> ActionwiseAccumulator:
        """Combine the results of all distributed ranks.

        Collective: when ``torch.distributed`` is initialised with ``world_size > 1`` every rank
        must call it; each rank gets a new accumulator holding the (deduplicated) union of all
        ranks' results, merged in rank order. Otherwise returns ``self``. With the NCCL backend
        the current CUDA device must be set (as Lightning does).
        """
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return self
        world = torch.distributed.get_world_size()
        if world <= 1:
            return self
        gathered: list[Any] = [None] * world
        torch.distributed.all_gather_object(gathered, self.results)
        merged = ActionwiseAccumulator()
        for rank_results in gathered:
            merged.extend(rank_results)
        return merged

    def _by(self, attr: str) -> dict[str, list[SequenceResult]]:
        groups: dict[str, list[SequenceResult]] = {}
        for r in self._results.values():
            groups.setdefault(getattr(r, attr), []).append(r)
        return {k: groups[k] for k in sorted(groups)}

    def per_action(self) -> dict[str, dict[str, float]]:
        """Action group (sorted) -> metric -> frame-weighted mean over its sequences (metres)."""
        return {a: _weighted_mean(rs) for a, rs in self._by("action").items()}

    def action_wise(self) -> dict[str, float]:
        """Metric -> unweighted mean over action groups of :meth:`per_action` (metres)."""
        return _unweighted_mean(self.per_action().values())

    def frame_wise(self) -> dict[str, float]:
        """Metric -> mean over all sequences pooled, each weighted by ``num_frames`` (metres)."""
        return _weighted_mean(self.results)

    def per_subject(self) -> dict[str, dict[str, float]]:
        """Subject (sorted) -> metric -> action-wise average over that subject's sequences (metres)."""
        return {s: ActionwiseAccumulator(rs).action_wise() for s, rs in self._by("subject").items()}

    def table_rows(self) -> list[dict[str, Any]]:
        """Rows of the result table, metric values in **millimetres** (unrounded).

        One row per action group (sorted by name), then ``"action-wise average"`` and
        ``"frame-wise average"``. Keys: ``"action"``, ``"frames"`` (total frames), ``"sequences"``
        (number of sequences) and one key per name in :data:`METRIC_NAMES`.
        """
        rows: list[dict[str, Any]] = []

        def row(name: str, results: list[SequenceResult], values: dict[str, float]) -> dict[str, Any]:
            frames = sum(r.num_frames for r in results)
            out: dict[str, Any] = {"action": name, "frames": frames, "sequences": len(results)}
            return out | {m: values[m] * 1000.0 for m in METRIC_NAMES}

        for action, results in self._by("action").items():
            rows.append(row(action, results, _weighted_mean(results)))
        everything = self.results
        rows.append(row(ACTION_WISE_ROW, everything, self.action_wise()))
        rows.append(row(FRAME_WISE_ROW, everything, self.frame_wise()))
        return rows

    def to_markdown(self) -> str:
        """Markdown table ``Action | P1 | P2 | N-MPJPE | MPJVE (mm) | frames`` of :meth:`table_rows`.

        Rounded to 0.1 mm (MPJVE 0.01 mm); the last two rows are the two named averages.
        """
        header = ["Action", *(_MD_HEADERS[m] for m in METRIC_NAMES), "frames"]
        lines = [
            "| " + " | ".join(header) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
        ]
        for r in self.table_rows():
            cells = [str(r["action"])]
            cells += [f"{r[m]:.{_MD_DECIMALS[m]}f}" for m in METRIC_NAMES]
            cells.append(str(r["frames"]))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`table_rows` (millimetres, full precision) as CSV, atomically.

        The table is written to ``path + ".tmp"`` in the same directory and then moved into
        place with :func:`os.replace`; missing parent directories are created.
        """
        path = os.fspath(path)
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        tmp = path + ".tmp"
        fieldnames = ["action", "frames", "sequences", *METRIC_NAMES]
        try:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=fieldnames)
                writer.writeheader()
                writer.writerows(self.table_rows())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise


# --------------------------------------------------------------------------------------------
# schedules


def bn_momentum(epoch: float, total_epochs: float, start: float = 0.1, end: float = 0.001) -> float:
    """Exponentially decayed BatchNorm momentum: ``start * (end / start) ** (epoch / total_epochs)``.

    ``epoch`` is the number of finished epochs (0 -> ``start``, ``total_epochs`` -> ``end``).
    """
    if total_epochs <= 0:
        raise ValueError(f"total_epochs must be positive, got {total_epochs}")
    return start * (end / start) ** (epoch / total_epochs)
