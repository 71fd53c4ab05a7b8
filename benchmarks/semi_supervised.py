"""Does back-projection on unlabeled video help? Supervised-only vs semi-supervised, same data.

    python benchmarks/semi_supervised.py                         # 10 % of S1, seeds 0 and 1
    python benchmarks/semi_supervised.py --fractions 0.05 0.1 --seeds 0 1 2 --epochs 40

Each run is ``poseact fit configs/experiment/semi_synthetic.yaml`` (labeled: a fraction of S1
with the reference's subset rule; unlabeled: S5-S8; test: S9, S11 with flip TTA) and the same
command with ``data.subjects_unlabeled=[]`` as the supervised baseline: same labeled windows,
epochs, schedules and seed. Prints the table (mm, action-wise averages) and the mean
improvement; the paper's reference point (README recipe, 10 % of S1, GT 2-D) is 80.7 mm
supervised vs 65.2 mm semi-supervised.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
METRICS = ("p1", "p2", "n_mpjpe", "mpjve")


def run(out: Path, fraction: float, seed: int, epochs: int, semi: bool, extra: list[str]) -> dict:
    """One ``poseact fit``; a run already finished in ``out`` with the same epochs is reused (resumable)."""
    summary_path = out / "results/summary.json"
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
        if summary.get("budget_epochs") == epochs:
            return summary
    cmd = [sys.executable, "-m", "poseact", "fit", str(REPO / "configs/experiment/semi_synthetic.yaml"),
           f"data.subset={fraction}", f"seed={seed}", f"trainer.max_epochs={epochs}", f"output_dir={out}",
           "resume=false", "logger.wandb=false", "trainer.enable_progress_bar=false", *extra]
    if not semi:
        cmd.append("data.subjects_unlabeled=[]")
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "WANDB_MODE": "disabled"})
    if done.returncode:
        raise SystemExit(f"run failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return json.loads(summary_path.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", default=None, help="keep the runs here (default: a temporary folder); "
                        "finished runs found there are reused, so an interrupted comparison resumes")
    parser.add_argument("overrides", nargs="*", help="extra key=value overrides for every run")
    args = parser.parse_args()
    root = Path(args.out or tempfile.mkdtemp(prefix="semi-bench-"))
    rows = []
    for fraction in args.fractions:
        for seed in args.seeds:
            for semi in (False, True):
                name = f"f{fraction}_s{seed}_{'semi' if semi else 'sup'}"
                summary = run(root / name, fraction, seed, args.epochs, semi, args.overrides)
                rows.append({"fraction": fraction, "seed": seed, "mode": "semi-supervised" if semi else "supervised",
                             **{m: summary[m] for m in METRICS}})
                print(f"{name}: P1 {summary['p1']:.1f} mm", flush=True)
    print(f"\n{args.epochs} epochs, runs in {root}\n")
    print("| labeled fraction of S1 | seed | mode | P1 | P2 | N-MPJPE | MPJVE |")
    print("|---:|---:|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['fraction']:g} | {r['seed']} | {r['mode']} | " + " | ".join(
            f"{r[m]:.{2 if m == 'mpjve' else 1}f}" for m in METRICS) + " |")
    print("\nmean over seeds (semi-supervised minus supervised, mm):")
    for fraction in args.fractions:
        get = {mode: np.array([[r[m] for m in METRICS] for r in rows if r["fraction"] == fraction and r["mode"] == mode])
               for mode in ("supervised", "semi-supervised")}
        diff = get["semi-supervised"] - get["supervised"]
        print(f"  fraction {fraction:g}: " + ", ".join(
            f"{m} {d:+.1f} (seeds {', '.join(f'{x:+.1f}' for x in col)})" for m, d, col in
            zip(METRICS, diff.mean(axis=0), diff.T)))


if __name__ == "__main__":
    main()
