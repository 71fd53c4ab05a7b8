"""Memory of a large store: read (one copy of each array, nothing more) or memory-mapped (none).

    python benchmarks/store_memory.py                          # 6 M rows (H36M: 1.5 M frames x 4 cameras), read
    python benchmarks/store_memory.py --rows 24000000 --mmap   # 4x H36M (about 8 GB), mapped, training steps timed

Writes an H36M-shaped store chunk by chunk (so the writer itself stays small), then, in a fresh
process, opens it and prepares it for training as `poseact fit` does (open_store with the arrays a
lifting job reads, sequence selection, window dataset) and trains ``--steps`` steps of the 27-frame,
256-channel lifter on random batches of 1024 windows (flipped), printing the peak RSS, the process's
anonymous memory (its own) against its file-backed pages (the page cache of a mapped file, which the
OS reclaims under pressure), and samples/s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

CHILD = r"""
import json, resource, sys, time, numpy as np, torch
from poseact.store import open_store
from poseact.lifting.windows import Windowing
from poseact.lifting.datasets import LiftingArrays, WindowDataset, select_sequences
from poseact.lifting.models.temporal import TemporalLifter
def rss(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024**2
path, mmap, steps = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
base = rss()
t0 = time.perf_counter()
store = open_store(path, arrays=("pose3d",), mmap=mmap)
arrays = LiftingArrays.from_store(store)
views = select_sequences(store, sorted(set(store.clips.subject)))
model = TemporalLifter(17, 2, 17, [3, 3, 3], channels=256).train()
dataset = WindowDataset(arrays, views, Windowing.of(model), flip=True)
opened = time.perf_counter() - t0
opt = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True, fused=True)
rng = np.random.default_rng(0)
def step():
    batch = dataset.__getitems__(rng.integers(0, len(dataset), 1024))
    x, y = torch.as_tensor(batch["keypoints"]), torch.as_tensor(batch["pose3d"])
    loss = (model.forward_train(x) - y).norm(dim=-1).mean()
    opt.zero_grad(); loss.backward(); opt.step()
for _ in range(3):
    step()
t = time.perf_counter()
for _ in range(steps):
    step()
rate = steps * 1024 / (time.perf_counter() - t)
nbytes = sum(a.nbytes for a in (store.keypoints, store.pose3d) if a is not None)
print(json.dumps({"baseline_gb": base, "peak_gb": rss(), "arrays_gb": nbytes / 1024**3, "open_s": opened,
                  "anon_gb": status("RssAnon:"), "file_gb": status("RssFile:"), "samples_per_s": rate,
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
    parser.add_argument("--mmap", action="store_true", help="map the arrays (data.mmap=true) instead of reading them")
    parser.add_argument("--steps", type=int, default=30, help="training steps timed (batch 1024 with flips)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the store (default: a temp folder)")
    parser.add_argument("--memory-limit", type=float, default=None, metavar="GB",
                        help="run the training process in a memory cgroup of this size (page cache included, "
                             "as a machine with that much RAM; needs cgroup v1 memory and root)")
    parser.add_argument("--both", action="store_true", help="read and memory-mapped, one after the other")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "big.h5"
        t = time.perf_counter()
        write_big_store(path, args.rows)
        print(f"wrote {path.stat().st_size / 1024**3:.2f} GB store in {time.perf_counter() - t:.1f} s")
        for mmap in ((False, True) if args.both else (args.mmap,)):
            run_child(path, mmap, args.steps, args.memory_limit)


def _in_cgroup(limit_gb: float):
    """A ``preexec_fn`` that moves the child into a new cgroup-v1 memory group of ``limit_gb``."""
    group = Path(f"/sys/fs/cgroup/memory/poseact-store-memory-{os.getpid()}")
    group.mkdir(exist_ok=True)
    (group / "memory.limit_in_bytes").write_text(str(int(limit_gb * 1024**3)))
    swap = group / "memory.memsw.limit_in_bytes"  # memory + swap: no escape into swap
    if swap.exists():
        swap.write_text(str(int(limit_gb * 1024**3)))

    def enter() -> None:
        (group / "cgroup.procs").write_text(str(os.getpid()))

    return enter


def _drop_page_cache() -> bool:
    """Empty the OS page cache (root only), so the store's pages are charged to whoever reads them next."""
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
        return True
    except OSError:
        return False


def run_child(path: Path, mmap: bool, steps: int, limit_gb: float | None) -> None:
    if limit_gb and not _drop_page_cache():
        print("  (could not drop the page cache: pages cached by the writer are not charged to the cgroup)")
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), "1" if mmap else "0", str(steps)],
                         capture_output=True, text=True, preexec_fn=_in_cgroup(limit_gb) if limit_gb else None)
    load = time.perf_counter() - t
    if limit_gb:
        Path(f"/sys/fs/cgroup/memory/poseact-store-memory-{os.getpid()}").rmdir()
    mode = "memory-mapped" if mmap else "read"
    where = f" in a {limit_gb:g} GB memory cgroup" if limit_gb else ""
    if out.returncode:
        print(f"{mode}{where}: the process died (exit {out.returncode}{', killed: out of memory' if out.returncode < 0 else ''}) "
              f"after {load:.1f} s; {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ''}")
        return
    r = json.loads(out.stdout.strip().splitlines()[-1])
    grown = r["peak_gb"] - r["baseline_gb"]
    held = r["arrays_gb"] + r["index_gb"]
    print(f"{r['frames']:,} frame rows, {mode}{where}; open + prepare in "
          f"{r['open_s']:.1f} s; {load:.1f} s in all with {steps} steps and interpreter start")
    print(f"  training (27 frames, 256 ch, batch 1024, mirrored samples included)  {r['samples_per_s']:,.0f} samples/s")
    print(f"  at the end: anonymous RSS {r['anon_gb']:.2f} GB (the process's own), file-backed RSS "
          f"{r['file_gb']:.2f} GB (page cache of the mapped file, reclaimable)")
    print(f"  arrays (keypoints + pose3d)   {r['arrays_gb']:6.2f} GB")
    print(f"  sample index (seq, pos)       {r['index_gb']:6.2f} GB")
    print(f"  process before loading        {r['baseline_gb']:6.2f} GB (baseline, same process)")
    print(f"  peak RSS                      {r['peak_gb']:6.2f} GB (file-backed pages included)")
    print(f"  growth while loading          {grown:6.2f} GB = {grown / held:.2f}x the arrays + index")

if __name__ == "__main__":
    main()
