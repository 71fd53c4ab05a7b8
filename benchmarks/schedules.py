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
action-wise P1 with flip TTA. Runs are real ``poseact fit`` runs (W&B off).
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
    from poseact.config import load_config
    from poseact.data.modules import LiftingDataModule

    dm = LiftingDataModule(load_config(REPO / "configs/experiment/demo.yaml", overrides))
    dm.setup("fit")
    return len(dm.train_set)


def run(out: Path, seed: int, budget: int, every: int, extra: list[str]) -> tuple[list[tuple[float, float]], dict]:
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
        curve = [(float(r["budget/samples"]), float(r["val/p1"])) for r in csv.DictReader(f) if r.get("budget/samples")]
    return curve, json.loads(summary_path.read_text())


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
    curves: dict[str, list] = defaultdict(list)
    finals: dict[str, list] = defaultdict(list)
    for name, extra in schedules.items():
        for seed in args.seeds:
            curve, summary = run(root / name.replace("/", "_") / f"seed{seed}", seed, budget, every,
                                 extra + args.overrides)
            curves[name].append(curve)
            finals[name].append(summary["p1"])
            print(f"{name} seed {seed}: final P1 {summary['p1']:.1f} mm", flush=True)
    print(f"\nbudget {budget:,} samples = {args.epochs:g} mixed epochs of {n_epoch:,}; runs in {root}\n")
    points = min(len(c) for cs in curves.values() for c in cs)
    header = " | ".join(f"{(i + 1) * args.every:g} ep" for i in range(points))
    print(f"| schedule | {header} | final (action-wise, TTA) |")
    print("|---|" + "---:|" * (points + 1))
    for name in schedules:
        p1 = np.array([[p for _, p in c[:points]] for c in curves[name]])
        cells = " | ".join(f"{m:.1f} ± {s:.1f}" for m, s in zip(p1.mean(0), p1.std(0)))
        f = np.array(finals[name])
        print(f"| {name} | {cells} | {f.mean():.1f} ± {f.std():.1f} |")


if __name__ == "__main__":
    main()
