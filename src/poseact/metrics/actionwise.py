"""Per-sequence results averaged as the reference evaluation does, gathered over DDP ranks, as tables.

* per action group: each sequence weighted by its frames;
* **action-wise average**: the unweighted mean over action groups (the number papers publish);
* **frame-wise average**: every sequence pooled, weighted by its frames (the per-epoch number).

Values are metres; the tables (:meth:`ActionwiseAccumulator.table_rows`, markdown, CSV) are in
millimetres.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from poseact.atomic import write_text
from poseact.metrics.distributed import gather_objects
from poseact.metrics.pose import METRIC_NAMES
from poseact.metrics.table import METRICS


ACTION_WISE_ROW = "action-wise average"
FRAME_WISE_ROW = "frame-wise average"


@dataclass
class SequenceResult:
    """Metrics of one evaluated sequence (one take x one camera).

    ``action`` is the action *group* (already grouped by the caller, see :func:`action_group`),
    ``take`` the full take name (``"Walking 1"``); ``num_frames`` (>= 1) is the averaging weight;
    ``values`` maps metric names to sequence means in metres: ``p1`` always, the rest of
    :data:`METRIC_NAMES` where computed (the final evaluation computes all), plus extras such as
    ``trajectory``.
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
        if "p1" not in self.values:
            raise ValueError(f"SequenceResult for {self.key} lacks the metric p1 (has {sorted(self.values)})")
        self.values = {k: float(v) for k, v in self.values.items()}

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity of the sequence: ``(subject, take, camera)``."""
        return (self.subject, self.take, self.camera)


def _metric_keys(values: list[dict[str, float]]) -> tuple[str, ...]:
    """The metrics every entry has: :data:`METRIC_NAMES` first (table order), then extras (e.g. ``trajectory``)."""
    if not values:
        return METRIC_NAMES
    shared = [k for k in values[0] if all(k in v for v in values)]
    return tuple(m for m in METRIC_NAMES if m in shared) + tuple(k for k in shared if k not in METRIC_NAMES)


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
        """Combine the results of all distributed ranks (collective: every rank must call it).

        Each rank gets a new accumulator holding the deduplicated union of all ranks' results,
        merged in rank order; without an initialised process group of more than one rank, ``self``.
        """
        gathered = gather_objects(self.results)
        if gathered is None:
            return self
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
        (number of sequences) and one key per name in :data:`METRIC_NAMES` (NaN where not computed).
        """
        rows: list[dict[str, Any]] = []

        def row(name: str, results: list[SequenceResult], values: dict[str, float]) -> dict[str, Any]:
            frames = sum(r.num_frames for r in results)
            out: dict[str, Any] = {"action": name, "frames": frames, "sequences": len(results)}
            return out | {m: values.get(m, math.nan) * METRICS[m].scale for m in METRIC_NAMES}

        for action, results in self._by("action").items():
            rows.append(row(action, results, _weighted_mean(results)))
        everything = self.results
        rows.append(row(ACTION_WISE_ROW, everything, self.action_wise()))
        rows.append(row(FRAME_WISE_ROW, everything, self.frame_wise()))
        return rows

    def to_markdown(self) -> str:
        """Markdown table ``Action | P1 | P2 | N-MPJPE | MPJVE (mm) | frames`` of :meth:`table_rows`.

        Headers and rounding from the metric table (:data:`poseact.metrics.table.METRICS`: 0.1 mm,
        MPJVE 0.01 mm); the last two rows are the two named averages.
        """
        header = ["Action", *(METRICS[m].header for m in METRIC_NAMES), "frames"]
        lines = [
            "| " + " | ".join(header) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
        ]
        for r in self.table_rows():
            cells = [str(r["action"])]
            cells += [METRICS[m].format(r[m]) for m in METRIC_NAMES]
            cells.append(str(r["frames"]))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`table_rows` (millimetres, full precision) as CSV, atomically."""
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=["action", "frames", "sequences", *METRIC_NAMES])
        writer.writeheader()
        writer.writerows(self.table_rows())
        write_text(path, buffer.getvalue())
