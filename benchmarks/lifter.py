"""Lifter speed and memory, each figure against a baseline measured in the same run.

    python benchmarks/lifter.py                 # components (about 2 minutes on 2 CPU cores)
    python benchmarks/lifter.py --job           # + the reference job: 27 f, 256 ch, 4 epochs of ~187k windows
    python benchmarks/lifter.py --quick         # smaller sizes, for a smoke run

Prints: window gathering (vectorised vs a per-sample Python loop like the reference's
generator), training samples/s of the 27- and 243-frame models (poseact's time-major strided
form vs the same network run with strided ``conv1d``, the reference's optimised form), evaluation
frames/s, peak RSS; with ``--job``, the wall time and peak RSS of the whole ``poseact fit`` run.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from poseact.lifting.windows import Windowing
from poseact.lifting.datasets import LiftingArrays, WindowDataset, select_sequences
from poseact.store import CameraTable, ClipTable, PoseStore
from poseact.geometry import h36m_cameras
from poseact.lifting.models.temporal import TemporalLifter

REPO = Path(__file__).resolve().parents[1]
REFERENCE_JOB = {"wall_s": 240.0, "peak_rss_gb": 0.74}  # quoted in the issue: run.py on this machine kind


def peak_rss_gb(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024**2  # Linux: KiB


def random_store(num_clips: int, frames_per_clip: int, seed: int = 0) -> PoseStore:
    """A store of random arrays in the H36M-17 layout (content is irrelevant for speed)."""
    rng = np.random.default_rng(seed)
    n = num_clips * frames_per_clip
    cams = h36m_cameras()["S1"]
    table = CameraTable.from_calibrations([("S1", c) for c in cams])
    clips = ClipTable(subject=np.array(["S1"] * num_clips), action=np.zeros(num_clips, np.int64),
                      take=np.array(["Walking 1"] * num_clips), camera=np.arange(num_clips) % 4,
                      start=np.arange(num_clips, dtype=np.int64) * frames_per_clip,
                      length=np.full(num_clips, frames_per_clip, np.int64))
    return PoseStore(keypoints=rng.uniform(0, 1000, (n, 17, 2)).astype(np.float32), clips=clips, cameras=table,
                     actions=["Walking"], layout_2d="h36m17", layout_3d="h36m17", fps=50,
                     pose3d=rng.normal(size=(n, 17, 3)).astype(np.float32))


def naive_batch(arrays: LiftingArrays, dataset: WindowDataset, indices: np.ndarray, inputs: np.ndarray) -> dict:
    """Baseline: a per-sample Python loop doing what VideoPose3D's ChunkedGenerator does for each
    example (slice, edge-pad with np.pad, write into a batch buffer, mirror with list swaps), from
    ``inputs``: the 2-D normalised once up front, as the reference does at load time."""
    views, pad, b = dataset.views, dataset.window.before, len(indices)
    width = 2 * pad + 1
    left, right = [4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]
    batch_2d = np.empty((b, width, arrays.num_joints_in, arrays.in_features), np.float32)
    batch_3d = np.empty((b, 1, 17, 3), np.float32)
    batch_cam = np.empty((b, 9), np.float32)
    for i, index in enumerate(indices):
        flip = index >= dataset.num_frames
        frame = index - dataset.num_frames if flip else index
        s, p = dataset.seq[frame], dataset.pos[frame]
        base, length = views.base[s], views.length[s]
        seq_2d = inputs[base: base + length]
        low, high = p - pad, p + pad + 1
        low_c, high_c = max(low, 0), min(high, length)
        if low != low_c or high != high_c:
            batch_2d[i] = np.pad(seq_2d[low_c:high_c], ((low_c - low, high - high_c), (0, 0), (0, 0)), "edge")
        else:
            batch_2d[i] = seq_2d[low:high]
        batch_3d[i, 0] = arrays.store.pose3d[base + p]
        batch_3d[i, 0, 1:] -= batch_3d[i, 0, :1]
        batch_3d[i, 0, 0] = 0
        batch_cam[i] = arrays.intrinsics[arrays.store.clips.camera[views.clip[s]]]
        if flip:
            batch_2d[i, :, :, 0] *= -1
            batch_2d[i, :, left + right] = batch_2d[i, :, right + left]
            batch_3d[i, :, :, 0] *= -1
            batch_3d[i, :, left + right] = batch_3d[i, :, right + left]
            batch_cam[i, 2] *= -1
            batch_cam[i, 7] *= -1
    return {"keypoints": torch.from_numpy(batch_2d), "pose3d": torch.from_numpy(batch_3d),
            "intrinsics": torch.from_numpy(batch_cam)}


class PerSampleDataset(torch.utils.data.Dataset):
    """Baseline 2: the common Lightning pattern, one example per ``__getitem__`` + default_collate."""

    def __init__(self, arrays: LiftingArrays, dataset: WindowDataset, inputs: np.ndarray) -> None:
        self.arrays, self.dataset, self.inputs = arrays, dataset, inputs

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        one = naive_batch(self.arrays, self.dataset, np.array([index]), self.inputs)
        return {k: v[0] for k, v in one.items()}


def bench_windows(quick: bool) -> None:
    store = random_store(num_clips=300 if quick else 1500, frames_per_clip=1000)  # 1.5 M frames
    arrays = LiftingArrays.from_store(store)
    inputs = store.keypoints.copy()  # stands for the baselines' up-front normalised copy (timing only)
    views = select_sequences(store, ["S1"])
    rng = np.random.default_rng(0)
    print(f"window gathering, batch 1024 with flip augmentation, {store.num_frames:,} frames in RAM:")
    for pad in (13, 121):
        dataset = WindowDataset(arrays, views, Windowing.centred(pad), flip=True)
        batches = [rng.permutation(len(dataset))[:1024] for _ in range(5 if quick else 20)]
        t = time.perf_counter()
        for b in batches:
            dataset.__getitems__(b)
        fast = len(batches) * 1024 / (time.perf_counter() - t)
        t = time.perf_counter()
        for b in batches[:3]:
            naive_batch(arrays, dataset, b, inputs)
        slow = 3 * 1024 / (time.perf_counter() - t)
        loader = torch.utils.data.DataLoader(PerSampleDataset(arrays, dataset, inputs), batch_size=1024,
                                             sampler=np.concatenate(batches[:3]).tolist())
        t = time.perf_counter()
        for i, _ in enumerate(loader):
            if i == 2:
                break
        collate = 3 * 1024 / (time.perf_counter() - t)
        print(f"  {2 * pad + 1:3d}-frame windows: vectorised {fast:10,.0f} samples/s")
        print(f"      baseline 1, reference-style per-sample loop   {slow:9,.0f} samples/s: {fast / slow:5.1f}x")
        print(f"      baseline 2, per-sample Dataset + collate      {collate:9,.0f} samples/s: {fast / collate:5.1f}x")


def conv1d_strided_forward(model: TemporalLifter, x: torch.Tensor) -> torch.Tensor:
    """Baseline: the same weights run as the reference's optimised model (strided conv1d,
    ``nn.ReLU`` then ``nn.Dropout``)."""
    drop = lambda t: F.dropout(F.relu(t), model.activation.p, model.training)  # noqa: E731
    h = rearrange(x, "b t j f -> b (j f) t")
    h = drop(model.expand_bn(F.conv1d(h, model.expand_conv.weight, stride=model.filter_widths[0])))
    for i, w in enumerate(model.filter_widths[1:]):
        res = h[:, :, w // 2::w]
        h = drop(model.layers_bn[2 * i](F.conv1d(h, model.layers_conv[2 * i].weight, stride=w)))
        h = res + drop(model.layers_bn[2 * i + 1](model.layers_conv[2 * i + 1](h)))
    return rearrange(model.shrink(h), "b (j c) t -> b t j c", c=3)


def _train_rate(model: TemporalLifter, forward, batch: int, steps: int) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    x = torch.randn(batch, model.receptive_field, 17, 2)
    y = torch.randn(batch, 1, 17, 3)
    for i in range(steps + 1):
        if i == 1:
            t = time.perf_counter()
        loss = torch.linalg.vector_norm(forward(x) - y, dim=-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return batch * steps / (time.perf_counter() - t)


def bench_training(quick: bool) -> None:
    print("training (forward + backward + AMSGrad step), batch 1024, 1024 channels:")
    for widths in ([3, 3, 3], [3, 3, 3, 3, 3]):
        model = TemporalLifter(17, 2, 17, widths).train()
        steps = 2 if quick else 4
        ours = _train_rate(model, model.forward_single, 1024, steps)
        base = _train_rate(model, lambda x: conv1d_strided_forward(model, x), 1024, steps)
        print(f"  {model.receptive_field:3d} frames  poseact {ours:8,.0f} samples/s   conv1d baseline "
              f"{base:8,.0f} samples/s   ratio {ours / base:.2f}x")


@torch.no_grad()
def bench_eval(quick: bool) -> None:
    print("evaluation (dilated model over a whole sequence, flip TTA = batch of 2), 1024 channels:")
    frames = 2000 if quick else 10000
    for widths in ([3, 3, 3], [3, 3, 3, 3, 3]):
        model = TemporalLifter(17, 2, 17, widths).eval()
        x = torch.randn(2, frames + model.receptive_field - 1, 17, 2)
        model(x[:, :500])
        t = time.perf_counter()
        model(x)
        rate = frames / (time.perf_counter() - t)
        print(f"  {model.receptive_field:3d} frames  {rate:10,.0f} output frames/s")


def bench_job() -> None:
    """The reference job: 27 f, 256 channels, batch 1024, 4 epochs of ~187k windows, eval each epoch."""
    with tempfile.TemporaryDirectory() as tmp:
        # 5 training subjects x 10 actions x 2 takes x 4 cameras x 234 frames x 2 (flip) = 187,200 windows
        overrides = ["data.synthetic.seconds_per_take=4.68", "data.synthetic.take_length_spread=0", f"data.synthetic.cache_dir={tmp}/synthetic",
                     "model.channels=256", "data.downsample=1", "trainer.max_epochs=4", "logger.wandb=false",
                     "trainer.enable_progress_bar=false", f"output_dir={tmp}/run"]
        subprocess.run([sys.executable, "-m", "poseact", "data", "synthetic", *overrides[:3]], check=True,
                       capture_output=True)
        t = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "poseact", "fit", str(REPO / "configs/experiment/demo.yaml"),
                              *overrides], capture_output=True, text=True)
        wall = time.perf_counter() - t
        if run.returncode:
            print(run.stderr[-3000:])
            raise SystemExit("the job failed")
        table = (Path(tmp) / "run/results/test_per_action.md").read_text()
    rss = peak_rss_gb(children=True)
    print("reference job: poseact fit, 27 frames, 256 channels, batch 1024, 4 epochs x 187,200 windows, "
          "per-epoch evaluation:")
    print(f"  wall {wall:7.1f} s    (reference run.py, quoted: {REFERENCE_JOB['wall_s']:.0f} s; "
          f"ratio {REFERENCE_JOB['wall_s'] / wall:.2f}x)")
    print(f"  peak RSS {rss:5.2f} GB (reference quoted: {REFERENCE_JOB['peak_rss_gb']:.2f} GB)")
    print("  final table:\n" + "\n".join("    " + line for line in table.splitlines()[-3:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--job", action="store_true", help="also time the whole reference job")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs\n")
    if args.job:  # first, while this process is small: a forked child inherits its peak RSS
        bench_job()
    bench_windows(args.quick)
    bench_training(args.quick)
    bench_eval(args.quick)
    print(f"peak RSS of this process: {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
