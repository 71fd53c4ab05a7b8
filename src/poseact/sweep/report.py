"""A sweep's results: one row per trial, mean ± std over seeds per setting, and a plot.

Written next to the sweep: ``results.csv`` (per trial), ``results_grouped.csv``, ``results.md``
(both tables) and ``results.png`` (final metric vs budget per schedule with the seed spread, and
every trial's per-epoch curve).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from poseact.atomic import atomic_output, write_text
from poseact.metrics.table import metric_of, with_unit

_STATE = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed",
          TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}


def is_seed(key: str) -> bool:
    return key == "seed" or key.endswith(".seed")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):  # a group swept as one value: {mode: single, actions: [Walking]}
        return " ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    if isinstance(v, list):
        return "[" + ",".join(_fmt(x) for x in v) + "]"
    return "" if v is None else str(v)


def trial_rows(study: optuna.Study, metric: str, summary_keys: tuple[str, ...] = ()
               ) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per trial (interrupted attempts that were re-queued left out); and the swept keys."""
    rows, keys = [], []
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.FAIL and "exit_code" not in t.user_attrs:
            continue
        params = t.user_attrs.get("params", {})
        keys += [k for k in params if k not in keys]
        inter = [t.intermediate_values[s] for s in sorted(t.intermediate_values)]
        value = t.value if t.state == TrialState.COMPLETE else (inter[-1] if inter else None)
        summary = t.user_attrs.get("summary", {})
        rows.append({"trial": t.number, "state": _STATE.get(t.state, str(t.state)), **params, metric: value,
                     "epochs": len(inter), **{k: summary.get(k) for k in summary_keys},
                     "seconds": t.user_attrs.get("seconds"), "output_dir": t.user_attrs.get("output_dir"),
                     "_curve": t.user_attrs.get("curve", ["epoch", [[i + 1, v] for i, v in enumerate(inter)]])})
    varying = [k for k in keys if len({repr(r.get(k)) for r in rows}) > 1]
    return rows, varying


def grouped_rows(rows: list[dict], varying: list[str], metric: str,
                 summary_keys: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Complete trials grouped by every varying parameter except seeds: n, mean and std."""
    keys = [k for k in varying if not is_seed(k)]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        if r["state"] == "complete":
            groups[tuple(repr(r.get(k)) for k in keys)].append(r)
    out = []
    for members in groups.values():
        g: dict[str, Any] = {k: members[0].get(k) for k in keys}
        g["n"] = len(members)
        for m in (metric, *summary_keys):
            vals = [float(r[m]) for r in members if r.get(m) is not None]
            mean = sum(vals) / len(vals) if vals else None
            std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else None
            g[f"{m} mean"], g[f"{m} std"] = mean, std
        out.append(g)
    return out


def _write_csv(path: Path, rows: list[dict]) -> None:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols and not k.startswith("_")]
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows({k: r.get(k) for k in cols} for r in rows)


def _cell(col: str, value: Any) -> str:
    """A metric with the metric table's decimals, anything else as :func:`_fmt`."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and metric_of(col) is not None:
        return metric_of(col).format(float(value))
    return _fmt(value)


def _markdown(rows: list[dict], cols: list[str]) -> str:
    """A table whose metric columns say their unit (``test/p1 (mm)``, from the metric table)."""
    lines = ["| " + " | ".join(with_unit(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(c, r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def write_report(study: optuna.Study, out_dir: Path, metric: str, goal: str = "minimize",
                 summary_keys: tuple[str, ...] = ()) -> dict[str, Path]:
    """Write the tables and the plot; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, varying = trial_rows(study, metric, summary_keys)
    groups = grouped_rows(rows, varying, metric, summary_keys)
    paths = {"csv": out_dir / "results.csv", "grouped_csv": out_dir / "results_grouped.csv",
             "md": out_dir / "results.md", "png": out_dir / "results.png"}
    _write_csv(paths["csv"], rows)
    _write_csv(paths["grouped_csv"], groups)
    trial_cols = ["trial", "state", *varying, metric, "epochs", *summary_keys, "seconds"]
    group_keys = [k for k in varying if not is_seed(k)]
    shown = [{**g, **{m: _mean_std(g, m) for m in (metric, *summary_keys)}} for g in groups]
    best = sorted((r for r in rows if r["state"] == "complete"), key=lambda r: r[metric], reverse=goal == "maximize")
    text = [f"# Sweep {study.study_name}", "",
            f"{len(rows)} trials ({', '.join(f'{n} {s}' for s, n in _tally(rows).items())}); metric `{metric}` "
            f"({goal}); final metrics from each run's results/summary.json.", ""]
    if best:
        text += [f"Best: trial {best[0]['trial']} ({', '.join(f'{k}={_fmt(best[0].get(k))}' for k in varying)}): "
                 f"{_fmt(best[0][metric])}", ""]
    text += ["## Trials", "", _markdown(rows, trial_cols), ""]
    if groups:
        text += ["## Mean ± std over seeds" if any(is_seed(k) for k in varying) else "## Settings", "",
                 _markdown(shown, [*group_keys, "n", metric, *summary_keys]), ""]
    write_text(paths["md"], "\n".join(text))
    plot(rows, varying, metric, paths["png"], title=study.study_name)
    return paths


def _mean_std(g: dict, m: str) -> str:
    mean, std = g.get(f"{m} mean"), g.get(f"{m} std")
    if mean is None:
        return ""
    return f"{mean:.4g}" + (f" ± {std:.2g}" if std is not None else "")


def _tally(rows: list[dict]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for r in rows:
        out[r["state"]] += 1
    return dict(out)


def _x_key(rows: list[dict], keys: list[str]) -> str | None:
    """The budget axis: ``budget.amount`` if swept, else the first numeric swept key."""
    numeric = [k for k in keys if all(isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)
                                      for r in rows if r.get(k) is not None)]
    for k in ("budget.amount", "trainer.max_epochs"):
        if k in numeric:
            return k
    return numeric[0] if numeric else None


def plot(rows: list[dict], varying: list[str], metric: str, path: Path, title: str = "") -> Path:
    """Left: final ``metric`` vs budget, one line per schedule (other swept keys), seeds as dots
    and a ±std band. Right: every trial's per-epoch curve against the training samples it had
    seen (epochs where a run does not log ``budget/samples``); pruned ones dashed. Drawn by
    :func:`poseact.viz.plots.plot_sweep`, the module every poseact plot comes from."""
    from poseact.viz.plots import plot_sweep

    keys = [k for k in varying if not is_seed(k)]
    done = [r for r in rows if r["state"] == "complete" and r.get(metric) is not None]
    x_key = _x_key(done, keys)
    series_keys = [k for k in keys if k != x_key]

    def label_of(r: dict) -> str:
        return ", ".join(f"{k.split('.')[-1]}={_fmt(r.get(k))}" for k in series_keys) or "all"

    series: dict[str, list[dict]] = defaultdict(list)
    for r in done:
        series[label_of(r)].append(r)
    points: dict[str, dict[float, list[float]]] = {}
    for i, (label, members) in enumerate(sorted(series.items())):
        by_x: dict[float, list[float]] = defaultdict(list)
        for r in members:
            x = float(i) if x_key is None else r.get(x_key)  # no numeric key: one slot per setting
            if x is not None:
                by_x[float(x)].append(float(r[metric]))
        points[label] = by_x
    x_name, curves = "epoch", []
    for r in rows:  # one curve per trial, named by its trial number and swept values (seed included)
        x_name, pts = r["_curve"]
        values = ", ".join(f"{k.split('.')[-1]}={_fmt(r.get(k))}" for k in varying)
        curves.append((f"#{r['trial']}" + (f" {values}" if values else ""), pts, r["state"] == "pruned"))
    return plot_sweep(points, curves, path, metric, x_label=x_key or "",
                      curve_x_label="training samples" if x_name == "budget/samples" else "epoch",
                      title=title, categorical=x_key is None, log_x=_log_axis(x_key, done))


#: swept keys searched over orders of magnitude: drawn on a log axis
LOG_SCALE_KEYS = ("lr", "learning_rate", "weight_decay", "budget.amount")


def _log_axis(key: str | None, rows: list[dict]) -> bool | None:
    """A log x axis for a learning rate (or weight decay) whatever its span; None (the plot's own
    rule: a span of 100x or more) for other keys."""
    if key is None:
        return None
    values = [r.get(key) for r in rows if isinstance(r.get(key), (int, float))]
    if key.split(".")[-1] in LOG_SCALE_KEYS and values and all(v > 0 for v in values):
        return True
    return None
