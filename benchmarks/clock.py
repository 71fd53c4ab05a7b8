"""Per-step cost of the training clock (lr / BatchNorm-momentum schedule position) on an H36M-sized
training set, against the previous implementation and against a training step, in the same run.

    python benchmarks/clock.py            # 1.56 M frames x 2 (flips) = 3.1 M windows, 15 actions
    python benchmarks/clock.py --quick    # a tenth of that

The lifter asks the clock twice per step (before: position of this step; after: samples seen).
The previous implementation (``LiftingDataModule.position``) rebuilt the epoch sampler at every
call — for ``cycled`` and ``balanced`` that means re-deriving every sample's action and every
action's pool from the whole training set. It is reproduced below as the baseline.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from poseact.geometry import h36m_cameras
from poseact.lifting.clock import TrainingClock, make_schedule
from poseact.lifting.datasets import LiftingArrays, WindowDataset, select_sequences
from poseact.lifting.windows import Windowing
from poseact.lifting.models.temporal import TemporalLifter
from poseact.lifting.sampling import BalancedActions, CycledActions
from poseact.run.sharding import EpochPermutation
from poseact.store import CameraTable, ClipTable, PoseStore

BATCH = 1024


def h36m_sized_store(frames_per_clip: int, clips: int, actions: int) -> PoseStore:
    rng = np.random.default_rng(0)
    n = clips * frames_per_clip
    cams = h36m_cameras()["S1"]
    table = CameraTable.from_calibrations([("S1", c) for c in cams])
    clip_table = ClipTable(subject=np.array(["S1"] * clips), action=np.arange(clips) % actions,
                           take=np.array([f"take {i}" for i in range(clips)]), camera=np.arange(clips) % 4,
                           start=np.arange(clips, dtype=np.int64) * frames_per_clip,
                           length=np.full(clips, frames_per_clip, np.int64))
    return PoseStore(keypoints=rng.uniform(0, 1000, (n, 17, 2)).astype(np.float32), clips=clip_table,
                     cameras=table, actions=[f"Action{i}" for i in range(actions)], layout_2d="h36m17",
                     layout_3d="h36m17", fps=50, pose3d=np.zeros((n, 17, 3), np.float32))


# -- the previous implementation, as it was -------------------------------------------------------

def _old_sample_actions(ds: WindowDataset) -> np.ndarray:
    actions = ds.arrays.store.clips.action[ds.views.clip[ds.seq]]
    return np.tile(actions, 2) if ds.flip else actions


def _old_segment_sizes(ds: WindowDataset, mode: str) -> list[int]:
    """What the previous code did at every call: build the epoch sampler (for cycled / balanced: every
    sample's action, then one pool per action), then ask it for the epoch's segments."""
    if mode == "mixed":
        return EpochPermutation(len(ds), seed=0).segment_sizes()
    sample_action = _old_sample_actions(ds)
    actions = np.unique(sample_action)
    pools = [np.flatnonzero(sample_action == a) for a in actions]
    return [len(p) for p in pools] if mode == "cycled" else [len(sample_action)]


def _old_global_bounds(sizes, batch):
    bounds, start = [0], 0
    for size in sizes:
        inner = list(range(start + batch, start + size, batch)) + [start + size]
        if len(inner) > 1 and inner[-1] - inner[-2] < 2:
            del inner[-2]
        bounds += inner
        start += size
    return bounds


def old_position(ds: WindowDataset, mode: str, epoch: int, batch_idx: int) -> int:
    return epoch * len(ds) + _old_global_bounds(_old_segment_sizes(ds, mode), BATCH)[batch_idx]


# -- measurements ----------------------------------------------------------------------------------

def per_call(fn, calls: int) -> float:
    t = time.perf_counter()
    for i in range(calls):
        fn(i)
    return (time.perf_counter() - t) / calls


def training_step_seconds(steps: int = 3) -> float:
    model = TemporalLifter(17, 2, 17, [3, 3, 3]).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    x, y = torch.randn(BATCH, 27, 17, 2), torch.randn(BATCH, 1, 17, 3)
    for i in range(steps + 1):
        if i == 1:
            t = time.perf_counter()
        loss = torch.linalg.vector_norm(model.forward_single(x) - y, dim=-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - t) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    clips = 60 if args.quick else 600
    store = h36m_sized_store(2600, clips, 15)
    arrays = LiftingArrays.from_store(store)
    ds = WindowDataset(arrays, select_sequences(store, ["S1"]), Windowing.centred(13), flip=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
          f"{store.num_frames:,} frames, {len(ds):,} training windows with flips, 15 actions, batch {BATCH}")
    step = training_step_seconds()
    print(f"training step (27 frames, 1024 channels, batch {BATCH}, fwd + bwd + AMSGrad): {step * 1000:.0f} ms\n")
    print("| mode | previous: 2 calls per step | clock: 2 calls per step | clock: first call of an epoch | "
          "per-step cost / training step (previous → clock) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for mode in ("mixed", "cycled", "balanced"):
        sampler = {"cycled": lambda: CycledActions(ds.sample_actions(), 0),
                   "balanced": lambda: BalancedActions(ds.sample_actions(), 0)}.get(
            mode, lambda: EpochPermutation(len(ds), seed=0))()
        schedule = make_schedule("epochs", 60, len(ds), len(ds), 15, BATCH, 1e-3, 0.95, 0.1, 0.001)
        clock = TrainingClock(schedule, sampler, BATCH, 1)
        steps = clock.steps_per_epoch(0)
        old = per_call(lambda i: old_position(ds, mode, 1, i % steps), 3 if not args.quick else 5)
        clock.position(2, 0)  # the epoch's bounds, computed once
        first = per_call(lambda i: TrainingClock(schedule, sampler, BATCH, 1).position(1, 0), 3)
        new = per_call(lambda i: clock.position(2, i % steps), 20000)
        print(f"| {mode} | {2 * old * 1000:.1f} ms | {2 * new * 1e6:.1f} µs | {first * 1000:.2f} ms | "
              f"{2 * old / step:.1%} → {2 * new / step:.4%} |")


if __name__ == "__main__":
    main()
