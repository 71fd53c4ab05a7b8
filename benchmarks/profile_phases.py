"""Where a whole job's time goes: a py-spy profile (``--format raw``) of VideoPose3D's run.py or of
``poseact fit``, summed into phases (imports by package, data, training, validation, final test).

    py-spy record -r 25 --format raw -o vp3d.txt -- python VideoPose3D/run.py -d h36m -k poseact ...
    py-spy record -r 25 --subprocesses --format raw -o poseact.txt -- python -m poseact fit ...
    python benchmarks/profile_phases.py vp3d.txt poseact.txt

Samples are wall-clock ticks of a thread that was not idle (py-spy's default; a thread waiting
for a CPU counts as busy), so seconds are samples / rate: the main thread's are its wall time less
its idle waits; other threads (progress bar, W&B) are listed apart, and a child process's samples
(``--subprocesses``: W&B's service) fall in "W&B" or "other". A sample counts once, in the first
phase its stack matches (the order of ``PHASES`` / ``RUN_PY_LINES``).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

#: run.py's top-level line ranges (VideoPose3D master 1afb1ca) -> phase
RUN_PY_LINES = [((1, 36), "start-up: imports, arguments"), ((37, 170), "data: load npz, camera space, normalise"),
                ((171, 310), "model, generators"), ((311, 423), "training steps"),
                ((424, 582), "per-epoch evaluation (test + train sets)"), ((583, 651), "lr/BN decay, checkpoint"),
                ((652, 10_000), "final evaluation (flip TTA, action-wise)")]

#: poseact phases: (name, substrings any of which a stack contains), tried in this order
PHASES = [
    ("final test (flip TTA, action-wise)", ["_final_test (", "Trainer.test ("]),
    ("per-epoch validation", ["_EvaluationLoop.run ("]),
    ("training: backward", ["_engine_run_backward ("]),
    ("training: forward + loss", [".training_step ("]),
    ("training: optimiser step", ["Adam.step ("]),
    ("training: batches, Lightning loop, logging", ["_TrainingEpochLoop.run (", "_FitLoop.run ("]),
    ("W&B (init, finish)", ["wandb/"]),
    ("plots, summary", ["viz/", "matplotlib", "summary.py"]),
    ("data: store open, windows", ["store/io.py", "datasets.py", "datamodule.py", "synthetic/"]),
]


def load(path: Path) -> Counter:
    stacks: Counter = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[stack] += int(count)
    return stacks


#: packages named inside another package's import (what Lightning's import pulls in)
DEEP = ("torchmetrics", "torch/_dynamo", "sympy", "scipy", "matplotlib", "lightning_fabric", "wandb", "torch")


def import_package(stack: str) -> str | None:
    """The package whose import a stack is in: the outermost third-party ``<module>`` below the entry
    point (poseact's own modules count only when nothing else is being imported), with the heaviest
    known package it is importing in turn (``pytorch_lightning > torchmetrics``)."""
    if "_find_and_load" not in stack:
        return None
    packages = []
    for f in stack.split(";")[1:]:
        m = re.match(r"<module> \((?:.*site-packages/)?([^ :]+)", f)
        if m and "_find_and_load" in stack.split(f)[0]:
            packages.append(m.group(1))
    outer = next((q for q in packages if not q.startswith(("poseact/", "__main__", "<frozen"))), None)
    if outer is None:
        return "poseact (own modules)"
    top = outer.split("/")[0].removesuffix(".py")
    for deep in DEEP:
        if any(q.startswith(deep + "/") or q == deep + ".py" for q in packages[packages.index(outer) + 1:]) \
                and not outer.startswith(deep):
            return f"{top} > {deep.replace('/', '.')}"
    return top


def phase_of(stack: str) -> str:
    if "Thread._bootstrap (" in stack:  # not the main thread: overlaps the main thread's time
        for key, name in (("rich_progress", "progress bar"), ("wandb", "W&B"), ("tensorboard", "TensorBoard")):
            if key in stack:
                return f"(other thread) {name}"
        return "(other thread) other"
    pkg = import_package(stack)
    if pkg is not None:
        return f"start-up: import {pkg}"
    m = re.findall(r"<module> \(run\.py:(\d+)\)", stack)
    if m:
        line = int(m[0])
        for (a, b), name in RUN_PY_LINES:
            if a <= line <= b:
                return name
    for name, keys in PHASES:
        if any(k in stack for k in keys):
            return name
    if "lightning" in stack:
        return "Lightning (loop, hooks, other)"
    return "other"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profiles", nargs="+", type=Path)
    ap.add_argument("--rate", type=float, default=25.0, help="py-spy's sampling rate (-r)")
    args = ap.parse_args()
    for path in args.profiles:
        phases: Counter = Counter()
        for stack, n in load(path).items():
            phases[phase_of(stack)] += n
        main = sum(n for name, n in phases.items() if not name.startswith("(other"))
        print(f"\n{path}: main thread {main / args.rate:.1f} s busy (shares: of the main thread's time)")
        for name, n in phases.most_common():
            share = "" if name.startswith("(other") else f"{100 * n / main:5.1f} %"
            print(f"  {n / args.rate:7.1f} s  {share:>7s}  {name}")


if __name__ == "__main__":
    main()
