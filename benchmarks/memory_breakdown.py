"""Where a lifting job's memory goes before training starts: RSS after each import and load, in one process.

    python benchmarks/memory_breakdown.py [STORE]    # default: the whole-job store (benchmarks/whole_job.py's cache)

Prints the resident set (VmRSS, and its peak VmHWM) after: the interpreter; ``import torch``;
``import pytorch_lightning``; ``import wandb``; opening the store as a lifting job does (only the
arrays it uses) and building its window dataset; gathering one batch of 1024 windows.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def status() -> tuple[float, float]:
    values = {}
    for line in open("/proc/self/status"):
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def main() -> None:
    default = max((Path(tempfile.gettempdir()) / "poseact-whole-job" / "synthetic").glob("synthetic-*.h5"),
                  key=lambda p: p.stat().st_mtime, default=None)
    store_path = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    if store_path is None or not store_path.exists():
        raise SystemExit("no store: pass one, or run benchmarks/whole_job.py once to generate it")
    rows = [("interpreter", *status())]
    import numpy as np
    import torch  # noqa: F401

    rows.append(("import torch", *status()))
    import pytorch_lightning  # noqa: F401

    rows.append(("import pytorch_lightning", *status()))
    import wandb  # noqa: F401

    rows.append(("import wandb", *status()))
    from poseact.lifting.datasets import LiftingArrays, WindowDataset, select_sequences
    from poseact.lifting.windows import Windowing
    from poseact.store import open_store

    store = open_store(store_path, arrays=("pose3d",))
    arrays = LiftingArrays.from_store(store)
    views = select_sequences(store, ["S1", "S5", "S6", "S7", "S8"])
    dataset = WindowDataset(arrays, views, Windowing.centred(13), flip=True)
    nbytes = (store.keypoints.nbytes + store.pose3d.nbytes) / 2**20
    rows.append((f"open the store ({nbytes:.0f} MiB of arrays) + window dataset", *status()))
    dataset.__getitems__(np.random.default_rng(0).integers(0, len(dataset), 1024))
    rows.append(("one batch of 1024 windows", *status()))
    print(f"store {store_path}\n| after | RSS (MiB) | + (MiB) | peak RSS so far (MiB) |\n| --- | ---: | ---: | ---: |")
    previous = 0.0
    for what, rss, peak in rows:
        print(f"| {what} | {rss:.0f} | {rss - previous:+.0f} | {peak:.0f} |")
        previous = rss


if __name__ == "__main__":
    main()
