"""Memory of reading a full-size store: one copy of each array, nothing more.

    python benchmarks/store_memory.py                  # 1.5 M frames x 4 cameras = 6 M rows (about 2 GB file)
    python benchmarks/store_memory.py --rows 600000    # smaller

Writes an H36M-sized store chunk by chunk (so the writer itself stays small), then, in a fresh
process, opens it and prepares it for training exactly as `poseact fit` does (open_store,
normalisation in place, sequence selection, window dataset, one batch) and prints its peak RSS
against the bytes of the arrays and the RSS of the same process before loading (the baseline).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

CHILD = r"""
import json, resource, sys, numpy as np
from poseact.store import open_store
from poseact.lifting.windows import Windowing
from poseact.lifting.datasets import LiftingArrays, WindowDataset, select_sequences
def rss(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
base = rss()
store = open_store(sys.argv[1])
arrays = LiftingArrays.from_store(store)
views = select_sequences(store, sorted(set(store.clips.subject)))
dataset = WindowDataset(arrays, views, Windowing.centred(121), flip=True)
dataset.__getitems__(np.arange(0, len(dataset), max(1, len(dataset) // 1024))[:1024])
nbytes = sum(a.nbytes for a in (store.keypoints, store.pose3d) if a is not None)
print(json.dumps({"baseline_gb": base, "peak_gb": rss(), "arrays_gb": nbytes / 1024**3,
                  "index_gb": (dataset.seq.nbytes + dataset.pos.nbytes) / 1024**3, "frames": store.num_frames}))
"""


def write_big_store(path: Path, rows: int, clip_len: int = 2500, chunk: int = 500_000) -> None:
    """An H36M-shaped store (17 joints, 4 cameras) written in chunks, following schema poseact/1."""
    from poseact.store import SCHEMA, CameraTable
    from poseact.store.io import STR
    from poseact.geometry import h36m_cameras

    rng = np.random.default_rng(0)
    n_clips = rows // clip_len
    rows = n_clips * clip_len
    cams = CameraTable.from_calibrations([("S1", c) for c in h36m_cameras()["S1"]])
    with h5py.File(path, "w") as f:
        f.attrs.update(schema=SCHEMA, layout_2d="h36m17", layout_3d="h36m17", fps=50.0, units_2d="px",
                       units_3d="m", source="benchmark")
        kp = f.create_dataset("frames/keypoints", (rows, 17, 2), np.float32)
        p3 = f.create_dataset("frames/pose3d", (rows, 17, 3), np.float32)
        for lo in range(0, rows, chunk):
            hi = min(rows, lo + chunk)
            kp[lo:hi] = rng.uniform(0, 1000, (hi - lo, 17, 2)).astype(np.float32)
            p3[lo:hi] = (rng.normal(size=(hi - lo, 17, 3)) * 0.3 + [0, 0, 5]).astype(np.float32)
        c = f.create_group("clips")
        c["subject"] = np.array(["S1"] * n_clips, dtype=object).astype(STR)
        c["action"] = np.zeros(n_clips, np.int64)
        c["take"] = np.array([f"Walking {i}" for i in range(n_clips)], dtype=object).astype(STR)
        c["camera"] = np.arange(n_clips, dtype=np.int64) % 4
        c["start"] = np.arange(n_clips, dtype=np.int64) * clip_len
        c["length"] = np.full(n_clips, clip_len, np.int64)
        g = f.create_group("cameras")
        for name in ("name", "subject"):
            g[name] = getattr(cams, name).astype(object).astype(STR)
        for name in ("res", "intrinsics", "orientation", "translation", "azimuth"):
            g[name] = getattr(cams, name)
        f["actions"] = np.array(["Walking"], dtype=object).astype(STR)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=6_000_000, help="frame rows (frames x cameras)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.h5"
        t = time.perf_counter()
        write_big_store(path, args.rows)
        print(f"wrote {path.stat().st_size / 1024**3:.2f} GB store in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        load = time.perf_counter() - t
    grown = r["peak_gb"] - r["baseline_gb"]
    held = r["arrays_gb"] + r["index_gb"]
    print(f"{r['frames']:,} frame rows; open + prepare + first batch in {load:.1f} s (incl. interpreter start)")
    print(f"  arrays (keypoints + pose3d)   {r['arrays_gb']:6.2f} GB")
    print(f"  sample index (seq, pos)       {r['index_gb']:6.2f} GB")
    print(f"  process before loading        {r['baseline_gb']:6.2f} GB (baseline, same process)")
    print(f"  peak RSS                      {r['peak_gb']:6.2f} GB")
    print(f"  growth while loading          {grown:6.2f} GB = {grown / held:.2f}x the arrays + index "
          f"(1.00x = exactly one copy; 2x would mean a second copy)")


if __name__ == "__main__":
    main()
