"""The GPU path, measured: training and evaluation throughput of the lifter, and the SPNet's frames/s.

    python benchmarks/gpu.py              # on a machine with a GPU: every figure (a few minutes)
    python benchmarks/gpu.py --quick      # small sizes: the CPU fallback that the tests run

In one run on one device it prints:

* training samples/s of the 27 / 81 / 243-frame temporal lifters (1024 channels, batch 1024):
  poseact's path (training frames resident on the device, windows gathered there by
  ``DeviceWindows``, the single-frame form, fused ReLU + dropout, fused AMSGrad, no host round trip
  per step) in float32, under bf16 autocast and with ``torch.compile``; and a reference-style step
  (the strided ``conv1d`` network with ``nn.Dropout``, batches assembled per example on the host
  and copied to the device, the loss read back every step, as VideoPose3D's ``run.py``);
* evaluation frames/s of the dilated network over whole sequences (float32 and bf16), poseact
  (sequence on the device; its folded evaluation form and its ``conv1d`` layers, which is faster on
  a GPU is unmeasured so far) and reference-style (``conv1d``, each sequence copied from the host,
  output back);
* the multi-task SPNet's frames/s (the reference's speed model: clips of 8 frames at 256 × 256,
  2 clips per batch, inference mode) against the paper's "more than 100 fps", float32 and bf16;
* with 2 or more GPUs: ``poseact fit`` steps/s on 1 and N devices under DDP (per-step time from
  two runs of different lengths, so start-up cancels out).

Without a GPU it runs the same code on the CPU (with ``--quick``: small widths and few steps), so the
script is exercised by the test suite; those figures say nothing about a GPU.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lifter import random_store  # noqa: E402  (benchmarks/lifter.py)
from reference_style import TemporalConvNet, WindowBatches  # noqa: E402
from multitask_speed import CONFIGS as SPNET_CONFIGS, fps as spnet_fps  # noqa: E402

from poseact.lifting.datasets import LiftingArrays, WindowDataset, select_sequences  # noqa: E402
from poseact.lifting.device_windows import DeviceWindows  # noqa: E402
from poseact.lifting.models.temporal import TemporalLifter  # noqa: E402
from poseact.lifting.windows import Windowing  # noqa: E402
from poseact.multitask.models.spnet import SPNet  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class HostSequences:
    """The per-sequence lists ``reference_style.WindowBatches`` reads, made from a store's arrays."""

    def __init__(self, arrays: LiftingArrays, views) -> None:
        self.poses_2d, self.poses_3d, self.cameras = [], [], []
        for s in range(len(views)):
            rows = views.frame_rows(s)
            self.poses_2d.append(arrays.sequence(views, s, 0, 0))
            pose = arrays.store.pose3d[rows].copy()
            pose[:, 1:] -= pose[:, :1]
            self.poses_3d.append(pose)
            self.cameras.append(arrays.intrinsics[arrays.store.clips.camera[views.clip[s]]])


def poseact_training_rate(arrays, views, widths, channels, batch, device, steps, warmup, bf16=False,
                          compiled=False) -> float:
    """Samples/s of poseact's training step with device-resident windows."""
    torch.manual_seed(0)
    model = TemporalLifter(17, 2, 17, widths, channels=channels).to(device).train()
    data = WindowDataset(arrays, views, Windowing.of(model), flip=True)
    windows = DeviceWindows(data, device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True, fused=True)
    forward = torch.compile(model.forward_train) if compiled else model.forward_train
    order = torch.randperm(len(data), device=device)
    starts = np.random.default_rng(0).integers(0, len(data) - batch, steps + warmup)

    def step(i: int) -> None:
        b = windows.gather(order[int(starts[i]):int(starts[i]) + batch])
        target = b["pose3d"].clone()
        target[:, :, 0] = 0
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            pred = forward(b["keypoints"])
        loss = torch.linalg.vector_norm(pred.float() - target, dim=-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(warmup):
        step(i)
    sync(device)
    t = time.perf_counter()
    for i in range(warmup, warmup + steps):
        step(i)
    sync(device)
    return steps * batch / (time.perf_counter() - t)


def reference_training_rate(host: HostSequences, widths, channels, batch, device, steps, warmup) -> float:
    """Samples/s of a VideoPose3D-style step: host batches per example, strided conv1d, ``.item()``."""
    torch.manual_seed(0)
    model = TemporalConvNet(17, 17, widths, channels, 0.25, strided=True).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    batches = WindowBatches(host, batch, model.pad, augment=True, seed=1234, endless=True).next_epoch()
    total = 0.0

    def step() -> None:
        nonlocal total
        _, batch_3d, batch_2d = next(batches)
        inputs_3d = torch.from_numpy(batch_3d.astype("float32")).to(device)
        inputs_2d = torch.from_numpy(batch_2d.astype("float32")).to(device)
        inputs_3d[:, :, 0] = 0
        opt.zero_grad()
        loss = torch.mean(torch.norm(model(inputs_2d) - inputs_3d, dim=-1))
        total += loss.item()  # the reference accumulates the epoch loss this way, every step
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return steps * batch / (time.perf_counter() - t)


@torch.no_grad()
@torch.no_grad()
def evaluation_rate(widths, channels, device, sequences: int, frames: int, bf16: bool, from_host: bool,
                    conv: bool = False) -> float:
    """Frames/s of the dilated network over whole padded sequences, one per call: poseact's evaluation
    form (time-major, BatchNorm folded; ``conv1d`` under autocast) or, with ``conv``, the ``conv1d``
    layers (the reference's form)."""
    torch.manual_seed(0)
    model = TemporalLifter(17, 2, 17, widths, channels=channels).to(device).eval()
    run = model.forward_conv if conv else model
    host = [np.random.default_rng(i).normal(size=(1, frames + 2 * model.pad, 17, 2)).astype(np.float32)
            for i in range(sequences)]
    resident = [torch.from_numpy(x).to(device) for x in host]
    for i in range(2):
        run(resident[i])
    sync(device)
    t = time.perf_counter()
    for i in range(sequences):
        x = torch.from_numpy(host[i]).to(device) if from_host else resident[i]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            y = run(x)
        if from_host:
            y.cpu()
    sync(device)
    return sequences * frames / (time.perf_counter() - t)


def ddp_scaling(devices: int) -> dict[int, float]:
    """``poseact fit`` steps/s on 1 and ``devices`` GPUs: two runs of 20 and 120 batches each."""
    out = {}
    for n in (1, devices):
        times = {}
        for batches in (20, 120):
            with tempfile.TemporaryDirectory() as tmp:
                args = [sys.executable, "-m", "poseact", "fit", str(REPO / "configs/experiment/demo.yaml"),
                        f"trainer.devices={n}", "trainer.max_epochs=1", f"trainer.limit_train_batches={batches}",
                        "trainer.limit_val_batches=0", "logger.wandb=false", "trainer.enable_progress_bar=false",
                        "model.channels=1024", f"output_dir={tmp}/run", f"data.synthetic.cache_dir={tmp}/syn"]
                t = time.perf_counter()
                subprocess.run(args, check=True, capture_output=True)
                times[batches] = time.perf_counter() - t
        out[n] = 100 / (times[120] - times[20])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes and few steps (the CPU fallback)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile measurements")
    args = ap.parse_args()
    device = torch.device(args.device)
    quick = args.quick
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    print(f"device: {name}; torch {torch.__version__}" + ("" if device.type == "cuda" else
                                                          "  -- no GPU: CPU fallback, these are not GPU figures"))
    channels, batch = (64, 128) if quick else (1024, 1024)
    steps, warmup = (3, 1) if quick else (30, 5)
    architectures = [[3, 3, 3]] if quick else [[3, 3, 3], [3, 3, 3, 3], [3, 3, 3, 3, 3]]
    compile_ok = not args.no_compile and (device.type == "cuda" or shutil.which("g++") is not None) and not quick
    store = random_store(num_clips=20 if quick else 400, frames_per_clip=300 if quick else 1500)
    arrays = LiftingArrays.from_store(store)
    views = select_sequences(store, ["S1"])
    host = HostSequences(arrays, views)
    print(f"\ntraining, {channels} channels, batch {batch}, {store.num_frames:,} frames "
          f"({arrays.store.keypoints.nbytes / 2**20 + arrays.store.pose3d.nbytes / 2**20:.0f} MiB resident "
          f"on the device for poseact):")
    print("| receptive field | poseact fp32 | poseact bf16 | poseact compiled | reference-style | poseact fp32 / reference |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for widths in architectures:
        rf = int(np.prod(widths))
        fp32 = poseact_training_rate(arrays, views, widths, channels, batch, device, steps, warmup)
        bf16 = poseact_training_rate(arrays, views, widths, channels, batch, device, steps, warmup, bf16=True)
        comp = poseact_training_rate(arrays, views, widths, channels, batch, device, steps, warmup + 2,
                                     compiled=True) if compile_ok else None
        ref = reference_training_rate(host, widths, channels, batch, device, steps, warmup)
        compiled_cell = f"{comp:,.0f}" if comp is not None else "not run"
        print(f"| {rf} | {fp32:,.0f} samples/s | {bf16:,.0f} | {compiled_cell} | {ref:,.0f} | {fp32 / ref:.2f}× |",
              flush=True)

    sequences, frames = (4, 200) if quick else (50, 2000)
    print(f"\nevaluation, dilated network over {sequences} sequences of {frames} frames, {channels} channels:")
    print("| receptive field | poseact fp32 (folded) | poseact fp32 conv1d | poseact bf16 | "
          "reference-style (conv1d, from host) | fp32 / reference |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for widths in architectures:
        rf = int(np.prod(widths))
        fp32 = evaluation_rate(widths, channels, device, sequences, frames, bf16=False, from_host=False)
        conv = evaluation_rate(widths, channels, device, sequences, frames, bf16=False, from_host=False, conv=True)
        bf16 = evaluation_rate(widths, channels, device, sequences, frames, bf16=True, from_host=False)
        ref = evaluation_rate(widths, channels, device, sequences, frames, bf16=False, from_host=True, conv=True)
        print(f"| {rf} | {fp32:,.0f} frames/s | {conv:,.0f} | {bf16:,.0f} | {ref:,.0f} | {fp32 / ref:.2f}× |",
              flush=True)

    config = "small" if quick else "full"
    model = SPNet(SPNET_CONFIGS[config]).to(device).eval()
    clips = 4 if quick else 250
    rate = spnet_fps(model, clips, 1 if quick else 5, device.type)
    with torch.autocast(device.type, dtype=torch.bfloat16):
        rate_bf16 = spnet_fps(model, clips, 1 if quick else 5, device.type)
    size = SPNET_CONFIGS[config].input_size
    print(f"\nmulti-task SPNet ({config}: clips of 8 frames at {size} x {size}, 2 clips per batch): "
          f"{rate:,.1f} frames/s fp32, {rate_bf16:,.1f} frames/s bf16 (paper: more than 100 fps on a GPU)")

    count = torch.cuda.device_count() if device.type == "cuda" else 0
    if count >= 2:
        scaling = ddp_scaling(count)
        print("\nDDP, poseact fit (27 frames, 1024 channels, batch 1024 over all devices): "
              + ", ".join(f"{n} device(s) {r:.2f} steps/s" for n, r in scaling.items())
              + f"; speed-up {scaling[count] / scaling[1]:.2f}x on {count}")
    else:
        print("\nDDP: fewer than 2 GPUs here, not measured")


if __name__ == "__main__":
    main()
