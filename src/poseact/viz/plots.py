"""Plots saved with every evaluation, and the comparison plot sweeps reuse.

* :func:`plot_per_action` — per-action bars of P1 and P2 (mm) from ``results/<stem>_per_action.csv``,
  with the action-wise and frame-wise averages as lines.
* :func:`plot_training_curves` — training loss per step, validation P1/P2 per epoch and the
  learning rate, from a run's logged series (:meth:`poseact.run.folder.RunFolder.read_metrics`).
* :func:`plot_metric_vs_budget` — one metric against a budget (epochs, labeled fraction, ...)
  per group, mean over seeds with the min–max spread shaded.
* :func:`plot_sweep` — a sweep's comparison: final metric vs budget per setting (seeds as dots,
  ±1 std band) beside every trial's per-epoch curve (what ``poseact sweep``'s report draws,
  through :func:`poseact.sweep.report.plot`).

Figures are built with :class:`matplotlib.figure.Figure` (no pyplot state), so this is safe to
call from any process.
"""

from __future__ import annotations

import csv
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from poseact.atomic import atomic_output
from poseact.metrics.table import METRICS, metric_of, unit_of, with_unit

__all__ = ["UNITS", "plot_metric_vs_budget", "plot_per_action", "plot_sweep", "plot_training_curves",
           "read_per_action", "with_unit"]

AVERAGE_ROWS = ("action-wise average", "frame-wise average")


#: the unit of each metric by its base name (``val/p1`` → ``p1`` → ``mm``): a view of the one metric
#: table, :data:`poseact.metrics.table.METRICS` (kept for callers of the previous release)
UNITS = {name: m.unit for name, m in METRICS.items()}


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _integer_ticks(ax) -> None:
    """Whole numbers on the x axis (epochs)."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _save(fig, path: str | os.PathLike) -> Path:
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def read_per_action(csv_path: str | os.PathLike) -> list[dict]:
    """Rows of a per-action table: ``action`` (str), ``frames``, ``p1``, ``p2``, ... (floats, mm)."""
    with open(csv_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [{k: (v if k == "action" else float(v)) for k, v in r.items()} for r in rows]


def plot_per_action(csv_path: str | os.PathLike, output: str | os.PathLike, title: str | None = None) -> Path:
    """Grouped bars of P1 and P2 per action (mm), averages as horizontal lines → PNG."""
    rows = read_per_action(csv_path)
    actions = [r for r in rows if r["action"] not in AVERAGE_ROWS]
    averages = {r["action"]: r for r in rows if r["action"] in AVERAGE_ROWS}
    fig = _figure(max(6.0, 0.55 * len(actions) + 2), 3.6)
    ax = fig.add_subplot()
    x = np.arange(len(actions))
    shown = ("p1", "p2")
    for k, (metric, color) in enumerate(zip(shown, ("tab:blue", "tab:orange"))):
        m = METRICS[metric]
        ax.bar(x + (k - 0.5) * 0.4, [r[metric] for r in actions], width=0.4, color=color, label=m.label)
        if "action-wise average" in averages:
            ax.axhline(averages["action-wise average"][metric], color=color, lw=1,
                       label=f"{m.label} action-wise avg {m.format(averages['action-wise average'][metric])}")
        if "frame-wise average" in averages:
            ax.axhline(averages["frame-wise average"][metric], color=color, lw=1, ls="--",
                       label=f"{m.label} frame-wise avg {m.format(averages['frame-wise average'][metric])}")
    unit = METRICS[shown[0]].unit
    ax.set_xticks(x, [r["action"] for r in actions], rotation=40, ha="right", fontsize=8)
    ax.set_xlabel("action")
    ax.set_ylabel(f"error ({unit})")
    ax.set_title(f"per-action {' / '.join(METRICS[n].label for n in shown)} ({unit}): "
                 f"{title or Path(csv_path).stem}")
    ax.legend(fontsize=7, ncol=1, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # beside the bars
    return _save(fig, output)


def plot_training_curves(series: Mapping[str, list[tuple[float, float, float]]], output: str | os.PathLike,
                         title: str | None = None) -> Path | None:
    """Loss per step, validation metrics per epoch — one panel per unit (P1/P2 in mm for the lifter;
    MPJPE in mm beside PCKh and clip accuracy in % for the multi-task model), lr per epoch (log
    scale) → PNG; None when nothing was logged. Units and labels come from the metric table.

    ``series``: ``name → [(step, epoch, value), ...]``, as a run folder's ``read_metrics`` gives."""
    m = series
    # lifting: train/loss_3d, ...; multi-task: train/pose_loss, train/action_loss, val/mpjpe (mm), val/pckh (%)
    loss_keys = [k for k in m if k.startswith("train/") and "loss" in k and not k.endswith("_epoch")]
    val_keys = [k for k in ("val/p1", "val/p2", "val/p1_frame_wise", "val/mpjpe", "val/pckh", "val/acc_clip")
                if k in m]
    if not loss_keys and not val_keys:
        return None
    units = list(dict.fromkeys(unit_of(k) or "value" for k in val_keys)) or ["value"]
    fig = _figure(3.7 * (2 + len(units)), 3.2)
    axes = fig.subplots(1, 2 + len(units))
    for k in loss_keys:
        steps, _, values = zip(*m[k])
        axes[0].plot(steps, values, lw=1, label=k.removeprefix("train/").removesuffix("_step"))
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("loss (log scale)")
    axes[0].set_title("training loss")
    axes[0].set_yscale("log")
    if loss_keys:
        axes[0].legend(fontsize=7)
    styles = ("-", "--", ":", "-.")
    for u, unit in enumerate(units):
        ax = axes[1 + u]
        keys = [k for k in val_keys if (unit_of(k) or "value") == unit]
        for i, k in enumerate(keys):  # distinct dashes and markers: lines that coincide stay visible
            _, epochs, values = zip(*m[k])
            metric = metric_of(k)
            name = k.removeprefix("val/")
            label = metric.label + name.removeprefix(metric.name).replace("_", " ") if metric else name
            ax.plot(np.asarray(epochs) + 1, values, ls=styles[i % len(styles)], marker="os^dv"[i % 5], ms=3,
                    label=label, zorder=3 + i)
        ax.set_xlabel("epoch")
        _integer_ticks(ax)
        ax.set_ylabel(unit)
        ax.set_title(f"validation ({unit})" if unit != "value" else "validation")
        if keys:
            ax.legend(fontsize=7)
    lr_ax = axes[-1]
    if "train/lr" in m:
        _, epochs, values = zip(*m["train/lr"])
        lr_ax.plot(np.asarray(epochs) + 1, values, marker=".")
        if all(v > 0 for v in values):
            lr_ax.set_yscale("log")
    lr_ax.set_xlabel("epoch")
    _integer_ticks(lr_ax)
    lr_ax.set_ylabel("learning rate")
    lr_ax.set_title("learning rate")
    if title:
        fig.suptitle(title)
    return _save(fig, output)


def _draw_groups(ax, points: Mapping[str, Mapping[float, list[float]]], band: str = "minmax",
                 show_n: bool = True) -> dict[str, str]:
    """One line per group: mean of the values at each x, every value a dot, and a band —
    ``"minmax"`` (min to max) or ``"std"`` (mean ± 1 sample std, 0 for a single value).
    Returns each group's colour."""
    colors = {}
    for name, by_x in sorted(points.items()):
        xs = np.array(sorted(by_x))
        vals = [np.asarray(by_x[v], dtype=float) for v in xs]
        mean = np.array([v.mean() for v in vals])
        label = f"{name}" + (f" (n={max(map(len, vals))})" if show_n else "")
        line, = ax.plot(xs, mean, marker="o", ms=4, label=label)
        c = line.get_color()
        if band == "std":
            std = np.array([v.std(ddof=1) if len(v) > 1 else 0.0 for v in vals])
            lo, hi = mean - std, mean + std
        else:
            lo, hi = [v.min() for v in vals], [v.max() for v in vals]
        ax.fill_between(xs, lo, hi, color=c, alpha=0.2)
        for xv, v in zip(xs, vals):
            ax.scatter(np.full(len(v), xv), v, s=10, color=c, alpha=0.7)
        colors[name] = c
    return colors


def plot_metric_vs_budget(records: Iterable[Mapping], x: str, y: str, group: str | None,
                          output: str | os.PathLike, title: str | None = None, logx: bool = False) -> Path:
    """``records``: dicts holding ``x``, ``y`` and (optionally) ``group`` — one per run, several
    seeds per point allowed. One line per group: mean of ``y`` at each ``x``; the shaded band is
    the min–max over seeds, and every run is a dot."""
    points: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        yv = r.get(y)
        if yv is None or (isinstance(yv, float) and math.isnan(yv)):
            continue
        points[str(r.get(group, "")) if group else y][float(r[x])].append(float(yv))
    if not points:
        raise ValueError(f"no record has both {x!r} and {y!r}")
    fig = _figure(5.5, 3.6)
    ax = fig.add_subplot()
    _draw_groups(ax, points, band="minmax", show_n=group is not None)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(with_unit(y))
    ax.set_title(title or f"{y} vs {x}")
    ax.legend(fontsize=7, title=group)
    return _save(fig, output)


def plot_sweep(points: Mapping[str, Mapping[float, list[float]]],
               curves: Iterable[tuple[str, list[tuple[float, float]], bool]], output: str | os.PathLike,
               metric: str, x_label: str = "", curve_x_label: str = "epoch", title: str = "",
               categorical: bool = False, curve_metric: str | None = None, log_x: bool | None = None) -> Path:
    """A sweep's comparison figure → PNG.

    Left: ``points[setting][x] = [final metric per seed]`` — one line per setting (mean), seeds as
    dots, ±1 std band; ``x`` is the budget or a swept value, on a log axis when ``log_x`` (default:
    when it spans 100x or more), or with ``categorical`` one slot per setting (x = its index,
    labelled by name). Right: ``curves`` = ``(trial label, [(x, value) per evaluation], stopped)`` —
    every trial's validation curve (``curve_metric``, default ``metric`` with ``val/`` for its stage)
    in a colour of its own, named in the legend, dashed when stopped early (pruned).
    """
    curves = list(curves)
    curve_metric = curve_metric or "val/" + metric.split("/", 1)[-1]
    fig = _figure(13, 4.8)
    ax, ax2 = fig.subplots(1, 2)
    _draw_groups(ax, points, band="std", show_n=False)
    xs = [x for by_x in points.values() for x in by_x if x > 0]
    if log_x is None:
        log_x = bool(xs) and max(xs) / min(xs) >= 100
    if not categorical and xs and log_x and all(x > 0 for by_x in points.values() for x in by_x):
        ax.set_xscale("log")
    ax.set_xlabel(x_label + (" (log scale)" if ax.get_xscale() == "log" else ""))
    ax.set_ylabel(f"final {with_unit(metric)}")
    ax.set_title("final value (dots: seeds, band: ±1 std)")
    if categorical and points:
        ax.set_xticks(range(len(points)), sorted(points), rotation=15, fontsize=7)
    if points:
        ax.legend(fontsize=7)
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(curves) <= 10 else "tab20" if len(curves) <= 20 else "viridis"]
    for i, (label, pts, stopped) in enumerate(curves):
        if pts:
            color = cmap(i % cmap.N) if len(curves) <= 20 else cmap(i / max(1, len(curves) - 1))
            ax2.plot([p[0] for p in pts], [p[1] for p in pts], "--" if stopped else "-", lw=1.2, alpha=0.9,
                     color=color, marker="." if len(pts) < 30 else None, label=label + (" (stopped)" if stopped else ""))
    ax2.set_xlabel(curve_x_label)
    if curve_x_label == "epoch":
        _integer_ticks(ax2)
    ax2.set_ylabel(with_unit(curve_metric))
    ax2.set_title(f"validation {metric_of(curve_metric).label if metric_of(curve_metric) else curve_metric} "
                  f"per evaluation, one colour per trial")
    if any(pts for _, pts, _ in curves):
        ax2.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
                   ncol=1 if len(curves) <= 20 else 2, title="trial")
    if title:
        fig.suptitle(title)
    return _save(fig, output)
