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

AVERAGE_ROWS = ("action-wise average", "frame-wise average")


#: the unit of each logged metric, by the last part of its name (``val/p1`` → ``p1``)
UNITS = {"p1": "mm", "p2": "mm", "n_mpjpe": "mm", "mpjve": "mm", "mpjpe": "mm", "trajectory": "mm",
         "pckh": "%", "acc_clip": "%", "acc": "%", "reprojection_2d": "normalised screen units"}


def with_unit(metric: str) -> str:
    """``"val/p1"`` → ``"val/p1 (mm)"``; names without a known unit unchanged."""
    base = metric.split("/")[-1].removesuffix("_frame_wise").removesuffix("_action_wise")
    base = base.split(" ")[0].lower()
    unit = UNITS.get(base)
    return f"{metric} ({unit})" if unit and "(" not in metric else metric


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


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
    for k, (metric, color) in enumerate((("p1", "tab:blue"), ("p2", "tab:orange"))):
        ax.bar(x + (k - 0.5) * 0.4, [r[metric] for r in actions], width=0.4, color=color,
               label=metric.upper())
        if "action-wise average" in averages:
            ax.axhline(averages["action-wise average"][metric], color=color, lw=1,
                       label=f"{metric.upper()} action-wise avg {averages['action-wise average'][metric]:.1f}")
        if "frame-wise average" in averages:
            ax.axhline(averages["frame-wise average"][metric], color=color, lw=1, ls="--",
                       label=f"{metric.upper()} frame-wise avg {averages['frame-wise average'][metric]:.1f}")
    ax.set_xticks(x, [r["action"] for r in actions], rotation=40, ha="right", fontsize=8)
    ax.set_xlabel("action")
    ax.set_ylabel("error (mm)")
    ax.set_title(f"per-action P1 / P2 (mm): {title or Path(csv_path).stem}")
    ax.legend(fontsize=7, ncol=1, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # beside the bars
    return _save(fig, output)


def plot_training_curves(series: Mapping[str, list[tuple[float, float, float]]], output: str | os.PathLike,
                         title: str | None = None) -> Path | None:
    """Loss per step, validation metrics per epoch (P1/P2 in mm for the lifter; MPJPE mm, PCKh and
    clip accuracy % for the multi-task model), lr per epoch → PNG; None when nothing was logged.

    ``series``: ``name → [(step, epoch, value), ...]``, as a run folder's ``read_metrics`` gives."""
    m = series
    # lifting: train/loss_3d, ...; multi-task: train/pose_loss, train/action_loss, val/mpjpe (mm), val/pckh (%)
    loss_keys = [k for k in m if k.startswith("train/") and "loss" in k and not k.endswith("_epoch")]
    val_keys = [k for k in ("val/p1", "val/p2", "val/p1_frame_wise", "val/mpjpe", "val/pckh", "val/acc_clip")
                if k in m]
    if not loss_keys and not val_keys:
        return None
    fig = _figure(11, 3.2)
    axes = fig.subplots(1, 3)
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
    for i, k in enumerate(val_keys):  # distinct dashes and markers: lines that coincide stay visible
        _, epochs, values = zip(*m[k])
        axes[1].plot(np.asarray(epochs) + 1, values, ls=styles[i % len(styles)], marker="os^dv"[i % 5], ms=3,
                     label=with_unit(k.removeprefix("val/")), zorder=3 + i)
    axes[1].set_xlabel("epoch")
    units = sorted({UNITS.get(k.removeprefix("val/").removesuffix("_frame_wise"), "") for k in val_keys} - {""})
    axes[1].set_ylabel(" / ".join(units) if units else "value")
    axes[1].set_title("validation (as logged)")
    if val_keys:
        axes[1].legend(fontsize=7)
    if "train/lr" in m:
        _, epochs, values = zip(*m["train/lr"])
        axes[2].plot(np.asarray(epochs) + 1, values, marker=".")
    axes[2].set_xlabel("epoch")
    axes[2].set_ylabel("learning rate")
    axes[2].set_title("learning rate")
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
               categorical: bool = False) -> Path:
    """A sweep's comparison figure → PNG.

    Left: ``points[setting][x] = [final metric per seed]`` — one line per setting (mean), seeds as
    dots, ±1 std band; ``x`` is the budget (log scale when it spans 100× or more), or with
    ``categorical`` one slot per setting (x = its index, labelled by name). Right: ``curves`` =
    ``(setting, [(x, value) per epoch], stopped)`` — every trial's per-epoch curve in its
    setting's colour, dashed when stopped early (pruned).
    """
    fig = _figure(12, 4.5)
    ax, ax2 = fig.subplots(1, 2)
    colors = _draw_groups(ax, points, band="std", show_n=False)
    xs = [x for by_x in points.values() for x in by_x if x > 0]
    if not categorical and xs and max(xs) / min(xs) >= 100:
        ax.set_xscale("log")
    ax.set_xlabel(x_label)
    ax.set_ylabel(with_unit(metric))
    ax.set_title("final value (dots: seeds, band: ±1 std)")
    if categorical and points:
        ax.set_xticks(range(len(points)), sorted(points), rotation=15, fontsize=7)
    if points:
        ax.legend(fontsize=7)
    for label, pts, stopped in curves:
        if pts:
            ax2.plot([p[0] for p in pts], [p[1] for p in pts], "--" if stopped else "-", lw=1, alpha=0.8,
                     color=colors.get(label))
    ax2.set_xlabel(curve_x_label)
    ax2.set_ylabel(f"per-epoch {with_unit(metric)}")
    ax2.set_title("per-epoch curves, coloured as left (dashed: stopped)")
    if title:
        fig.suptitle(title)
    return _save(fig, output)
