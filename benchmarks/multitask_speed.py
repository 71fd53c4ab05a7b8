"""Throughput of the multi-task SPNet with the reference protocol (deephar spec §9.3) and MACs per frame.

Protocol: clips of T=8 frames, 2 clips per forward (16 frames), inference mode, after warm-up;
fps = frames / wall time. MACs are counted analytically with forward hooks on every convolution
(kernel area × C_in/groups × C_out × output pixels); pooling, BN and softmax are left out.

    python benchmarks/multitask_speed.py                       # full (Penn speed config) and small
    python benchmarks/multitask_speed.py --configs small --clips 20
    python benchmarks/multitask_speed.py --threads 1   # on a shared CPU: 2 threads ran 4-65x slower under load
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from poseact.multitask.models.spnet import SPNet, SPNetConfig
from poseact.nn import count_parameters

CONFIGS = {
    # the reference's speed model (eval_speed2d): Penn 2-D, 6 pyramids, action in all, replica, F=160
    "full": SPNetConfig(num_joints=16, dim=2, num_pyramids=6, action_pyramids=[1, 2, 3, 4, 5, 6], num_actions=[15],
                        pose_replica=True, pose_features=160, visual_features=160),
    # pose-only 2-D, 8 pyramids at 256 px (the MAC table of spec §3.12)
    "pose8": SPNetConfig(num_joints=16, dim=2, num_pyramids=8),
    # the CPU test/demo model (configs/multitask/model/spnet_small.yaml) at 64 px
    "small": SPNetConfig(num_joints=17, dim=3, input_size=64, num_pyramids=2, num_levels=3, growth=32,
                         stem_channels=32, kernel_size=3, action_pyramids=[1, 2], num_actions=[10],
                         pose_features=64, visual_features=64),
}


def macs_per_frame(model: SPNet, t: int = 8) -> float:
    """Multiply-accumulates of the convolutions for one clip, divided by ``t``."""
    total = 0

    def hook(m: nn.Conv2d, _inp, out):
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total += k * m.out_channels * out.shape[-2] * out.shape[-1] * out.shape[0]

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    s = model.cfg.input_size
    with torch.inference_mode():
        model(torch.zeros(1, t, 3, s, s), with_action=bool(model.cfg.action_pyramids))
    for h in handles:
        h.remove()
    return total / t


def fps(model: SPNet, clips: int, warmup: int, device: str) -> float:
    s = model.cfg.input_size
    x = torch.randn(2, 8, 3, s, s, device=device)
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(clips // 2):
            model(x)
        if device == "cuda":
            torch.cuda.synchronize()
    return (clips // 2) * 16 / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="+", default=["full", "small"], choices=sorted(CONFIGS))
    p.add_argument("--clips", type=int, default=10, help="test clips per measurement (reference: 250)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"device {a.device}, torch threads {torch.get_num_threads()}, clips of 8 frames, 2 clips per batch")
    print("| config | input | params (M) | GMACs/frame | frames/s |\n|---|---|---|---|---|")
    for name in a.configs:
        model = SPNet(CONFIGS[name]).eval()
        macs = macs_per_frame(model) / 1e9
        model.to(a.device)
        rate = fps(model, a.clips, a.warmup, a.device)
        s = model.cfg.input_size
        print(f"| {name} | {s}×{s} | {count_parameters(model) / 1e6:.2f} | {macs:.2f} | {rate:.1f} |", flush=True)


if __name__ == "__main__":
    main()
