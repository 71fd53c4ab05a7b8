"""Same seed, same numbers: per-epoch validation metrics of fixed jobs, compared between two checkouts.

    git archive <old-commit> | tar -x -C /tmp/old                    # the code before a change
    python benchmarks/same_numbers.py --repo /tmp/old --out before.json
    python benchmarks/same_numbers.py --out after.json --compare before.json

Each job is a real ``poseact fit`` (W&B off) run with the checkout's ``src/`` first on the path;
every ``val/<metric>`` the run logged, epoch by epoch, is written to ``--out``. ``--compare`` prints
the largest absolute difference per job and metric (0.0: bit-identical).

Jobs: ``demo`` (the README's demo), ``job`` (the reference job of benchmarks/lifter.py: 27 frames,
256 channels, 4 epochs of 187,200 windows), ``cycled`` (Bai's per-action schedule with a unit-epoch
budget and mid-run validation), ``balanced_causal`` (balanced sampling, causal model), ``semi``
(semi-supervised back-projection past its warm-up) and ``multitask`` (the tiny SPNet).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUIET = ["logger.wandb=false", "trainer.enable_progress_bar=false", "resume=false"]
JOBS = {
    "demo": ["configs/experiment/demo.yaml"],
    "job": ["configs/experiment/demo.yaml", "data.synthetic.seconds_per_take=4.68",
            "data.synthetic.take_length_spread=0", "model.channels=256", "data.downsample=1",
            "trainer.max_epochs=4"],
    "cycled": ["configs/experiment/demo.yaml", "data.sampling.mode=cycled", "budget.unit=unit_epochs",
               "budget.amount=12", "eval.validate_every=3", "model.channels=64"],
    "balanced_causal": ["configs/experiment/demo.yaml", "data.sampling.mode=balanced", "model.causal=true",
                        "trainer.max_epochs=2", "model.channels=64"],
    "semi": ["configs/experiment/semi_synthetic.yaml", "trainer.max_epochs=3", "semi.warmup_epochs=1",
             "eval.validate_every_n_epochs=1", "model.channels=64"],
    "multitask": ["configs/experiment/multitask_tiny.yaml", "trainer.max_epochs=2"],
}


def run_job(repo: Path, name: str, args: list[str], work: Path) -> dict:
    out = work / name
    cmd = [sys.executable, "-m", "poseact", "fit", str(repo / args[0]), *args[1:], *QUIET, f"output_dir={out}",
           f"data.synthetic.cache_dir={work / 'synthetic'}"]
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(repo / "src")}
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=repo, env=env)
    if done.returncode:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    values: dict[str, list[float]] = {}
    for path in sorted((out / "csv").glob("version_*/metrics.csv")):
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh):
                for k, v in row.items():
                    if k.startswith("val/") and "/" not in k[4:] and v:
                        values.setdefault(k, []).append(float(v))
    return {"val": values, "seconds": round(time.perf_counter() - t, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", default=str(REPO), help="the checkout to run (default: this one)")
    p.add_argument("--out", required=True, help="JSON of per-epoch metrics to write")
    p.add_argument("--compare", default=None, help="a JSON of another checkout to compare with")
    p.add_argument("--work", default="outputs/same_numbers", help="run folders (default outputs/same_numbers)")
    p.add_argument("--jobs", nargs="*", default=list(JOBS), choices=list(JOBS))
    a = p.parse_args()
    repo, work = Path(a.repo).resolve(), Path(a.work).resolve() / Path(a.out).stem
    results = {}
    for name in a.jobs:
        results[name] = run_job(repo, name, JOBS[name], work)
        print(f"{name}: {results[name]['seconds']:.0f} s", flush=True)
    Path(a.out).write_text(json.dumps(results, indent=1))
    if a.compare:
        other = json.loads(Path(a.compare).read_text())
        print("\n| job | metric | epochs | max abs difference |\n| --- | --- | ---: | ---: |")
        for name, res in results.items():
            for metric, values in res["val"].items():
                theirs = other.get(name, {}).get("val", {}).get(metric)
                if theirs is None or len(theirs) != len(values):
                    print(f"| {name} | {metric} | {len(values)} | missing or different length in {a.compare} |")
                    continue
                print(f"| {name} | {metric} | {len(values)} | {max(abs(x - y) for x, y in zip(values, theirs)):.3g} |")


if __name__ == "__main__":
    main()
