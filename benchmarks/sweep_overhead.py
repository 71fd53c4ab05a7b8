"""What `poseact sweep` itself costs per trial: a grid of N trials whose "fit" is a stand-in
that writes one metrics row and a summary and exits, so nearly all the time measured is the
runner's (Optuna storage round trips, process start, CSV polling, bookkeeping).

Usage: python benchmarks/sweep_overhead.py [--trials 20] [--poll 0.5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

STAND_IN = '''
import json, os, sys
out = [a.split("=", 1)[1] for a in sys.argv if a.startswith("output_dir=")][0]
os.makedirs(f"{out}/csv/version_0", exist_ok=True)
open(f"{out}/csv/version_0/metrics.csv", "w").write("epoch,step,val/p1\\n0,1,100.0\\n")
os.makedirs(f"{out}/results", exist_ok=True)
json.dump({"p1": 100.0}, open(f"{out}/results/summary.json", "w"))
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--poll", type=float, default=0.5)
    args = ap.parse_args()
    t0 = time.perf_counter()
    import optuna

    from poseact.sweep.report import write_report
    from poseact.sweep.runner import RunOptions, SweepRunner
    from poseact.sweep.spec import parse_sweep

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t1 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="sweep-overhead-"))
    (work / "stand_in.py").write_text(STAND_IN)
    spec = parse_sweep({"name": "overhead", "method": "grid", "metric": {"name": "val/p1"},
                        "parameters": {"seed": {"values": list(range(args.trials))}},
                        "command": ["${interpreter}", str(work / "stand_in.py"), "fit", "x.yaml", "${args_no_hyphens}"]})
    runner = SweepRunner(spec, RunOptions(out_dir=work / "out", poll_s=args.poll))
    t2 = time.perf_counter()
    study = runner.open_study()
    t3 = time.perf_counter()
    runner.run()
    t4 = time.perf_counter()
    write_report(study, runner.out, "val/p1")
    t5 = time.perf_counter()
    print(f"imports {t1 - t0:.2f} s; create study + enqueue {args.trials} grid trials {t3 - t2:.2f} s; "
          f"{args.trials} trials {t4 - t3:.2f} s = {(t4 - t3) / args.trials:.2f} s/trial at poll {args.poll} s; "
          f"report (tables + plot) {t5 - t4:.2f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
