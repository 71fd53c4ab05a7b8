"""poseact fit's start-up: wall time from the interpreter's start to the first training step, by phase,
for this tree and (``--before DIR``) an older one, interleaved, ratios from the same run.

    python benchmarks/startup.py --before /tmp/before                 # the three whole jobs' configs
    python benchmarks/startup.py --jobs subset --repeat 5 --importtime   # + the slowest imports
    python benchmarks/startup.py --cprofile /tmp/fit.prof --jobs subset  # cProfile of this tree's start-up

Each run is a fresh ``python`` process that runs ``poseact fit`` of a job of ``benchmarks/whole_job.py``
(same config and overrides, same store) and stops at the start of the first training batch
(``os._exit`` in a callback added to the trainer the run builds; nothing else is changed). Phases
(``time.perf_counter`` stamps in that process, from the interpreter's start): ``imports`` (poseact's
CLI and the modules ``fit`` imports first: torch, Lightning, W&B are imported where poseact imports
them, so they fall in the phase that first needs them), ``config`` (``load_config``: the family's
modules and torch), ``model, data, Trainer`` (seed, the model, the store opened, Lightning imported,
the Trainer and its loggers built), ``Lightning's setup`` (``trainer.fit`` up to ``on_fit_start``:
W&B's init), ``to the first batch`` (the loaders, the first batch). The figure per
program is the minimum over ``--repeat`` runs (the machine is shared; the minimum is the least
disturbed). W&B runs as a user has it (offline, the default), unless the caller sets ``WANDB_MODE``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import whole_job  # noqa: E402  (benchmarks/whole_job.py: the jobs and the store)

REPO = Path(__file__).resolve().parents[1]

#: the child: poseact's own CLI entry, with stamps and a stop at the first training batch
CHILD = r"""
import json, os, sys, time
stamps = {"interpreter": time.perf_counter()}
argv = json.loads(sys.argv[1]); out = sys.argv[2]; prof = sys.argv[3]
if prof:
    import cProfile
    profiler = cProfile.Profile(); profiler.enable()
from poseact import cli
from poseact.run import commands
from poseact.run.config import load_config
stamps["imports"] = time.perf_counter()
build = commands.build_trainer

def build_and_stop(*a, **k):
    trainer = build(*a, **k)
    stamps["trainer"] = time.perf_counter()
    from pytorch_lightning.callbacks import Callback

    class Stop(Callback):
        def on_fit_start(self, trainer, module):
            stamps["built"] = time.perf_counter()
        def on_train_batch_start(self, trainer, module, batch, i):
            stamps["first step"] = time.perf_counter()
            if prof:
                profiler.disable(); profiler.dump_stats(prof)
            with open(out, "w") as f:
                json.dump(stamps, f)
            os._exit(0)
    trainer.callbacks.append(Stop())
    return trainer

commands.build_trainer = build_and_stop
load = load_config
def load_and_stamp(*a, **k):
    cfg = load(*a, **k)
    stamps["config"] = time.perf_counter()
    return cfg
import poseact.run.config
poseact.run.config.load_config = load_and_stamp
sys.exit(cli.main(argv))
"""

PHASES = [("imports", "interpreter", "imports"), ("config", "imports", "config"),
          ("model, data, Trainer", "config", "trainer"), ("Lightning's setup (W&B init)", "trainer", "built"),
          ("to the first batch", "built", "first step")]


def run_once(src: Path, argv: list[str], work: Path, prof: str = "", importtime: bool = False) -> tuple[dict, str]:
    env = {**os.environ, "PYTHONPATH": str(src / "src")}
    stamps = work / "stamps.json"
    stamps.unlink(missing_ok=True)
    cmd = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", CHILD, json.dumps(argv), str(stamps),
           prof]
    start = __import__("time").perf_counter()
    proc = subprocess.run(cmd, cwd=src, env=env, capture_output=True, text=True)
    wall = __import__("time").perf_counter() - start
    if not stamps.exists():
        raise SystemExit(f"the child did not reach the first step (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    s = json.loads(stamps.read_text())
    phases = {name: s[b] - s[a] for name, a, b in PHASES}
    phases["interpreter start"] = wall - (s["first step"] - s["interpreter"])  # process start + os._exit
    phases["total (process wall)"] = wall
    return phases, proc.stderr


def slowest_imports(stderr: str, top: int = 12) -> list[tuple[str, float]]:
    """The packages with the largest cumulative import time (top-level names only, seconds)."""
    out = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cum, name = line.split("|")
        if name.strip() and not name.startswith("  ") and cum.strip().isdigit():
            out.append((name.strip(), int(cum) / 1e6))
    return sorted(out, key=lambda x: -x[1])[:top]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    names = ["reference", "subset", "semi"]
    ap.add_argument("--jobs", nargs="+", default=names, choices=names)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--poseact", type=Path, default=REPO, help="the poseact source tree to time (default: this one)")
    ap.add_argument("--before", type=Path, help="also this poseact source tree (a checkout of an older commit)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "poseact-whole-job")
    ap.add_argument("--importtime", action="store_true", help="list the slowest top-level imports (one extra run)")
    ap.add_argument("--cprofile", type=Path, help="write a cProfile of this tree's start-up here (one extra run)")
    args = ap.parse_args()
    store, overrides = whole_job.ensure_store(args.cache / "synthetic", quick=False)
    trees = {"poseact": args.poseact, **({"before": args.before} if args.before else {})}
    print(f"store {store}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}; "
          f"W&B {os.environ.get('WANDB_MODE', 'default (offline)')}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in args.jobs:
            job = whole_job.jobs(False)[name]
            best: dict[str, dict] = {}
            for r in range(args.repeat):
                for tree, src in trees.items():
                    argv = ["fit", *job.poseact, *overrides, f"output_dir={work / f'{name}-{tree}-{r}'}"]
                    phases, _ = run_once(src, argv, work)
                    print(f"  {name:9s} {tree:8s} run {r}: " + "  ".join(f"{k} {v:.2f}" for k, v in phases.items()),
                          flush=True)
                    if tree not in best or phases["total (process wall)"] < best[tree]["total (process wall)"]:
                        best[tree] = phases
            print(f"\n{name}: {job.what} — seconds to the first training step (fastest of {args.repeat})")
            print("| phase | " + " | ".join(trees) + (" | ratio |" if args.before else ""))
            print("| --- |" + " ---: |" * (len(trees) + bool(args.before)))
            for phase in best["poseact"]:
                cells = " | ".join(f"{best[t][phase]:.2f}" for t in trees)
                ratio = f" | {best['poseact'][phase] / best['before'][phase]:.2f}×" if args.before else ""
                print(f"| {phase} | {cells}{ratio} |")
            print(flush=True)
        job = whole_job.jobs(False)[args.jobs[0]]
        argv = ["fit", *job.poseact, *overrides, f"output_dir={work / 'extra'}"]
        if args.importtime:
            for tree, src in trees.items():
                _, err = run_once(src, argv, work, importtime=True)
                print(f"slowest imports ({tree}, cumulative s): " +
                      ", ".join(f"{n} {s:.2f}" for n, s in slowest_imports(err)))
        if args.cprofile:
            run_once(args.poseact, argv, work, prof=str(args.cprofile))
            print(f"cProfile written: {args.cprofile} (python -m pstats {args.cprofile})")


if __name__ == "__main__":
    main()
