"""What each fast path of the scale-and-speed work buys, against the plain path it replaces, in one run.

    python benchmarks/fast_paths.py            # a few minutes on 2 CPU cores
    python benchmarks/fast_paths.py --quick    # seconds

Prints, each as plain / fast milliseconds and their ratio:

* a training step (forward, backward, AMSGrad) of the 27-frame, 256-channel lifter at batch 1024
  and 64: ``nn.ReLU`` + ``nn.Dropout`` and the per-tensor Adam loop against the fused ReLU-dropout
  (``poseact.nn.ReluDropout``) and fused Adam;
* the evaluation metrics of one pass over 75,600 test frames (128 sequences): the metric functions
  one by one (P2 by a per-frame SVD) against ``sequence_metrics`` (one float64 pass, polar Procrustes);
* the network of one evaluation pass over the same 128 sequences: ``conv1d`` layers against the
  time-major form with BatchNorm folded (``TemporalLifter.forward`` in eval mode without autograd);
* the metrics of a per-epoch validation: all four against P1 alone (``eval.val_metrics``' default);
* P2's alignment alone: the SVD against the polar iteration.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from poseact.lifting.models.temporal import TemporalLifter
from poseact.metrics import pose
from poseact.metrics.pose import (
    _procrustes_rotation,
    _procrustes_rotation_svd,
    mean_velocity_error,
    mpjpe,
    n_mpjpe,
    p_mpjpe,
    sequence_metrics,
)


class _PlainActivation(nn.Module):
    """``Dropout(ReLU(x))`` as two modules, what the fused one replaces (``.p`` as ReluDropout)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self.relu, self.drop = nn.ReLU(), nn.Dropout(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.relu(x))


def step_ms(batch: int, fused: bool, steps: int) -> float:
    torch.manual_seed(0)
    model = TemporalLifter(17, 2, 17, [3, 3, 3], channels=256).train()
    if not fused:
        model.activation = _PlainActivation(model.activation.p)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True, fused=fused, foreach=False if not fused else None)
    x, y = torch.randn(batch, 27, 17, 2), torch.randn(batch, 1, 17, 3)

    def step() -> None:
        loss = (model.forward_train(x) - y).norm(dim=-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps * 1000


def plain_metrics(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """The metric functions one by one, P2's rotations by the per-frame SVD (the path before)."""
    p, q = torch.from_numpy(pred), torch.from_numpy(target)
    fast_rotation = pose._procrustes_rotation
    pose._procrustes_rotation = pose._procrustes_rotation_svd  # procrustes_align looks it up per call
    try:
        p2 = p_mpjpe(pred, target)
    finally:
        pose._procrustes_rotation = fast_rotation
    return {"p1": float(mpjpe(p, q)), "p2": p2, "n_mpjpe": float(n_mpjpe(p[:, None], q[:, None])),
            "mpjve": mean_velocity_error(pred, target)}


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| what | plain (ms) | fast (ms) | fast / plain |\n| --- | ---: | ---: | ---: |")
    for batch, steps in ((1024, 3 if args.quick else 20), (64, 10 if args.quick else 200)):
        plain, fast = step_ms(batch, False, steps), step_ms(batch, True, steps)
        print(f"| training step, batch {batch} (ReLU+Dropout, Adam loop → fused) | {plain:.1f} | {fast:.1f} | "
              f"{fast / plain:.2f}× |", flush=True)
    rng = np.random.default_rng(0)
    sequences, frames = (8, 600) if args.quick else (128, 75_600 // 128)
    model = TemporalLifter(17, 2, 17, [3, 3, 3], channels=256).eval()
    inputs = [torch.randn(1, frames + 2 * model.pad, 17, 2) for _ in range(sequences)]
    with torch.no_grad():
        plain = timed(lambda: [model.forward_conv(x) for x in inputs], 3)
        fast = timed(lambda: [model(x) for x in inputs], 3)
    print(f"| network of one evaluation pass, {sequences * frames:,} frames (conv1d → time-major, BatchNorm folded) | "
          f"{plain:.0f} | {fast:.0f} | {fast / plain:.2f}× |", flush=True)
    target = [rng.normal(0, 0.25, (frames, 17, 3)) for _ in range(sequences)]
    for t in target:
        t[:, 0] = 0
    pred = [t + rng.normal(0, 0.03, t.shape) for t in target]
    plain = timed(lambda: [plain_metrics(p, t) for p, t in zip(pred, target)], 2)
    fast = timed(lambda: [sequence_metrics(p, t) for p, t in zip(pred, target)], 2)
    print(f"| metrics of one evaluation pass, {sequences * frames:,} frames (functions → sequence_metrics) | "
          f"{plain:.0f} | {fast:.0f} | {fast / plain:.2f}× |")
    p1_only = timed(lambda: [sequence_metrics(p, t, ("p1",)) for p, t in zip(pred, target)], 2)
    print(f"| metrics of one per-epoch validation, {sequences * frames:,} frames (all four → P1 only, "
          f"eval.val_metrics) | {fast:.0f} | {p1_only:.0f} | {p1_only / fast:.2f}× |")
    H = rng.normal(size=(sequences * frames, 3, 3)) + 2 * np.eye(3)
    svd = timed(lambda: _procrustes_rotation_svd(H, False), 2)
    polar = timed(lambda: _procrustes_rotation(H, False), 2)
    print(f"| P2 rotations, {len(H):,} frames (SVD → polar iteration, SVD fallback) | {svd:.0f} | {polar:.0f} | "
          f"{polar / svd:.2f}× |")


if __name__ == "__main__":
    main()
