"""Bai's claim, tested at matched compute: does per-action training learn faster early, and end worse?

    python benchmarks/schedules.py                                  # 3 seeds, budget 4 epochs-equivalent
    python benchmarks/schedules.py --seeds 0 1 2 --epochs 6 --every 0.5

Schedules, all with the same sample budget (``budget.unit=samples``, so the lr and BatchNorm
schedules are identical functions of samples consumed) and validation on S9/S11 every
``--every`` epoch-equivalents:

* ``mixed`` — every action shuffled together (the reference);
* ``cycled`` — Bai's per-action training: one unit-epoch per action in turn;
* ``single/<action>`` — one action only, evaluated on that action and on all
  (``data.sampling.eval_all_actions``), for ``--single`` actions.

Prints P1 (mm, frame-wise, no TTA) at each budget point: mean ± std over seeds, and the final
action-wise P1 with flip TTA — on all test actions, then, for each ``--single`` action, on that
action alone (``val/p1/<action>``; the fair test of Bai's claim: the specialist against the
generalists on the specialist's own action). Writes the curves as ``schedules_<scope>.png`` in
``--out`` (mean, min–max band over seeds, every seed a dot). Runs are real ``poseact fit`` runs
(W&B off).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def epoch_samples(overrides: list[str]) -> int:
    """Samples in one mixed training epoch of the demo setup (to express budgets in epochs)."""
    from poseact.run.config import load_config
    from poseact.run.registry import family

    _, dm = family("lifting").build(load_config(REPO / "configs/experiment/demo.yaml", overrides), "fit")
    return len(dm.train_set)


def run(out: Path, seed: int, budget: int, every: int, extra: list[str]) -> tuple[list[dict], dict]:
    """One ``poseact fit`` (reused when ``out`` holds a finished run of this budget): its validation
    rows (``budget/samples`` and every ``val/...`` metric) and ``results/summary.json``."""
    cmd = [sys.executable, "-m", "poseact", "fit", str(REPO / "configs/experiment/demo.yaml"), f"seed={seed}",
           "budget.unit=samples", f"budget.amount={budget}", f"eval.validate_every={every}", f"output_dir={out}",
           "resume=false", "logger.wandb=false", "trainer.enable_progress_bar=false", *extra]
    summary_path = out / "results/summary.json"
    finished = summary_path.exists() and json.loads(summary_path.read_text()).get("budget_samples") == budget
    if not finished:  # a finished run in --out is reused, so an interrupted comparison resumes
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "WANDB_MODE": "disabled"})
        if done.returncode:
            raise SystemExit(f"run failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    with open(out / "csv/version_0/metrics.csv") as f:
        rows = [{k: float(v) for k, v in r.items() if v and (k == "budget/samples" or k.startswith("val/"))}
                for r in csv.DictReader(f) if r.get("budget/samples") and r.get("val/p1")]
    return rows, json.loads(summary_path.read_text())


def final_on_action(out: Path, action: str) -> float:
    """Final P1 (mm, flip TTA) of one action from the run's ``results/test_per_action.csv``."""
    from poseact.viz.plots import read_per_action

    for row in read_per_action(out / "results/test_per_action.csv"):
        if row["action"] == action:
            return row["p1"]
    raise KeyError(f"{out}: no test row for action {action!r}")


def print_table(title: str, schedules: list[str], curves: dict, finals: dict, every: float) -> None:
    points = min(len(c) for name in schedules for c in curves[name])
    header = " | ".join(f"{(i + 1) * every:g} ep" for i in range(points))
    print(f"\n{title}\n\n| schedule | {header} | final (TTA) |")
    print("|---|" + "---:|" * (points + 1))
    for name in schedules:
        p1 = np.array([c[:points] for c in curves[name]])
        cells = " | ".join(f"{m:.1f} ± {s:.1f}" for m, s in zip(p1.mean(0), p1.std(0)))
        f = np.array(finals[name])
        print(f"| {name} | {cells} | {f.mean():.1f} ± {f.std():.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=float, default=4.0, help="budget in mixed-epoch equivalents")
    parser.add_argument("--every", type=float, default=0.5, help="validation interval, epoch equivalents")
    parser.add_argument("--single", nargs="*", default=["Walking", "Sitting"], help="actions for single-action runs")
    parser.add_argument("--out", default=None, help="keep the runs here; finished runs found there are reused")
    parser.add_argument("overrides", nargs="*", help="extra key=value overrides for every run")
    args = parser.parse_args()
    root = Path(args.out or tempfile.mkdtemp(prefix="schedules-"))
    n_epoch = epoch_samples(args.overrides)
    budget, every = int(args.epochs * n_epoch), int(args.every * n_epoch)
    schedules = {"mixed": ["data.sampling.mode=mixed"], "cycled": ["data.sampling.mode=cycled"]}
    for action in args.single:
        schedules[f"single/{action}"] = ["data.sampling.mode=single", f"data.sampling.actions=[{action}]",
                                         "data.sampling.eval_all_actions=true"]
    runs: dict[str, list[tuple[Path, list[dict], dict]]] = defaultdict(list)
    for name, extra in schedules.items():
        for seed in args.seeds:
            out = root / name.replace("/", "_") / f"seed{seed}"
            rows, summary = run(out, seed, budget, every, extra + args.overrides)
            runs[name].append((out, rows, summary))
            print(f"{name} seed {seed}: final P1 {summary['p1']:.1f} mm", flush=True)
    print(f"\nbudget {budget:,} samples = {args.epochs:g} mixed epochs of {n_epoch:,}; runs in {root}")
    print("P1 (mm) at each budget point, mean ± std over seeds: validation frame-wise without TTA; "
          "final: test action-wise (all actions) or that action's row, with flip TTA")
    scopes = {"all": ("val/p1", list(schedules), None)}
    for action in args.single:
        scopes[action] = (f"val/p1/{action}", ["mixed", "cycled", f"single/{action}"], action)
    from poseact.viz.plots import plot_metric_vs_budget

    for scope, (key, names, action) in scopes.items():
        curves = {n: [[r[key] for r in rows] for _, rows, _ in runs[n]] for n in names}
        finals = {n: [s["p1"] if action is None else final_on_action(o, action) for o, _, s in runs[n]]
                  for n in names}
        print_table(f"P1 on {'all test actions' if action is None else action}", names, curves, finals, args.every)
        records = [{"epochs": r["budget/samples"] / n_epoch, "P1 (mm)": r[key], "schedule": n}
                   for n in names for _, rows, _ in runs[n] for r in rows]
        plot = plot_metric_vs_budget(records, "epochs", "P1 (mm)", "schedule", root / f"schedules_{scope}.png",
                                     title=f"validation P1 on {'all actions' if action is None else action} "
                                           f"vs mixed-epoch equivalents")
        print(f"plot: {plot}")


if __name__ == "__main__":
    main()
