"""The one metric table: a definition per metric — name, label, unit, decimals, table header, goal,
and the function that computes it — that every table, plot, summary and console line reads.

A logged name is ``[stage/]<metric>[<suffix>]``: ``val/p1``, ``test/p1_frame_wise``,
``test/mpjpe_best``; :func:`metric_of` finds the definition behind any of them (the suffixes only
say which average or which output: ``_frame_wise`` pooled over frames, ``_action_wise``, ``_best``
the best of several outputs), so ``val/p1`` and ``p1_frame_wise`` are both millimetres to one decimal.

Pose metrics are computed in metres and reported in millimetres (``scale`` 1000); multi-task
metrics are reported as computed. ``function`` is ``"module:name"`` of the function that computes
the metric (resolved on demand by :func:`compute_function`, so this kernel module imports no family).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass

#: suffixes of logged names that keep the metric's unit (which average, which output)
SUFFIXES = ("_frame_wise", "_action_wise", "_best")


@dataclass(frozen=True)
class Metric:
    """One metric, as every table, plot, summary and console line shows it."""

    name: str  # the key: "p1"
    label: str  # the short name in headers: "P1"
    unit: str  # "mm", "%", "px", ...
    decimals: int  # digits after the point in tables and the console
    goal: str  # "min" or "max": which way is better
    description: str
    function: str  # "module:function" that computes it
    scale: float = 1.0  # reported value = the function's value x scale (metres → mm: 1000)

    @property
    def header(self) -> str:
        """The table header: ``"P1 (mm)"``."""
        return f"{self.label} ({self.unit})"

    def format(self, value: float | None, unit: bool = False) -> str:
        """``41.23`` → ``"41.2"`` (``unit``: ``"41.2 mm"``); NaN / None → ``"nan"`` / ``""``."""
        if value is None:
            return ""
        text = "nan" if isinstance(value, float) and math.isnan(value) else f"{float(value):.{self.decimals}f}"
        return f"{text} {self.unit}" if unit and self.unit != "%" else f"{text}%" if unit else text


_MM = "mm"
METRICS: dict[str, Metric] = {m.name: m for m in (
    # -- 3-D pose (lifting; metres computed, millimetres reported) ------------------------------------
    Metric("p1", "P1", _MM, 1, "min", "MPJPE (protocol #1): mean per-joint position error, root-relative",
           "poseact.metrics.pose:mpjpe", 1000.0),
    Metric("p2", "P2", _MM, 1, "min", "P-MPJPE (protocol #2): MPJPE after a per-frame similarity alignment",
           "poseact.metrics.pose:p_mpjpe", 1000.0),
    Metric("n_mpjpe", "N-MPJPE", _MM, 1, "min", "MPJPE after a per-frame optimal scale",
           "poseact.metrics.pose:n_mpjpe", 1000.0),
    Metric("mpjve", "MPJVE", _MM, 2, "min", "mean per-joint velocity error (per frame)",
           "poseact.metrics.pose:mean_velocity_error", 1000.0),
    Metric("trajectory", "Trajectory", _MM, 1, "min", "root position error in camera space (trajectory model)",
           "poseact.metrics.pose:mpjpe", 1000.0),
    Metric("reprojection_2d", "Reprojection", "normalised screen units", 4, "min",
           "2-D error of the projected pose + trajectory against the input (x/w*2-1 units)",
           "poseact.metrics.pose:mpjpe", 1.0),
    # -- multi-task (deephar) -------------------------------------------------------------------------
    Metric("mpjpe", "MPJPE", _MM, 1, "min", "3-D error of the multi-task model, root-aligned (last output)",
           "poseact.multitask.losses:root_aligned_error", 1000.0),
    Metric("pckh", "PCKh@0.5", "%", 1, "max", "2-D joints within half the head size of the truth",
           "poseact.multitask.losses:pckh", 100.0),
    Metric("err2d_px", "2-D error", "px", 2, "min", "mean 2-D joint error in pixels of the input crop",
           "poseact.multitask.module:MultitaskModule._score", 1.0),
    Metric("acc_clip", "Clip accuracy", "%", 1, "max", "action accuracy per clip (last action output)",
           "poseact.multitask.module:MultitaskModule._score", 100.0),
    Metric("acc_video", "Video accuracy", "%", 1, "max", "action accuracy per video (sliding clips, flip TTA)",
           "poseact.multitask.module:MultitaskModule.test_step", 100.0),
    Metric("action_ce", "Action CE", "nats", 3, "min", "action cross-entropy (last output)",
           "torch.nn.functional:cross_entropy", 1.0),
)}

def base_name(name: str) -> str:
    """``"test/p1_frame_wise"`` → ``"p1"``; ``"val/mpjpe_best"`` → ``"mpjpe"``; per-action keys
    (``"val/p1/Walking"``) → ``"p1"``."""
    parts = name.split("/")
    base = parts[1] if len(parts) >= 2 and parts[0] in ("val", "test", "train") else parts[-1]
    base = base.split(" ")[0]
    for suffix in SUFFIXES:
        base = base.removesuffix(suffix)
    return base


def metric_of(name: str) -> Metric | None:
    """The definition behind a logged or summary name, None for names that are not metrics (losses,
    the learning rate, budget counters)."""
    return METRICS.get(base_name(name))


def unit_of(name: str) -> str | None:
    """``"val/p1"`` → ``"mm"``; None when unknown."""
    m = metric_of(name)
    return m.unit if m else None


def with_unit(name: str) -> str:
    """``"val/p1"`` → ``"val/p1 (mm)"``; unknown names (and names already holding a unit) unchanged."""
    unit = unit_of(name)
    return f"{name} ({unit})" if unit and "(" not in name else name


def format_metric(name: str, value: float | None, unit: bool = True) -> str:
    """A value as the table says: ``("test/p1", 41.234)`` → ``"41.2 mm"``; unknown names to 4 digits."""
    m = metric_of(name)
    if m is None:
        return "" if value is None else f"{float(value):.4g}"
    return m.format(value, unit=unit)


def compute_function(name: str) -> Callable:
    """The function (or method) that computes a metric, imported on demand."""
    m = metric_of(name)
    if m is None:
        raise KeyError(f"no metric {name!r}; known: {', '.join(METRICS)}")
    module, _, attr = m.function.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def console_lines(metrics: dict[str, float], width: int = 24) -> list[str]:
    """``name  value unit`` per metric (sorted), each with the table's decimals and unit: what the
    console prints after an evaluation."""
    lines = []
    for key in sorted(metrics):
        m = metric_of(key)
        value = metrics[key]
        shown = m.format(value, unit=True) if m else f"{float(value):.4g}"
        lines.append(f"{key:{width}s} {shown}")
    return lines
