"""How far poseact's training step is from this machine's compute floor.

    python benchmarks/compute_floor.py                    # the whole-job model: 27 frames, 256 channels, batch 1024
    python benchmarks/compute_floor.py --batch 64         # the subset / semi jobs' batch
    python benchmarks/compute_floor.py --threads 1 2 --bf16   # also thread counts and bf16 autocast

The step is poseact's training step without Lightning around it: ``TemporalLifter.forward_train``
(the strided single-frame form) on a batch of 27-frame windows of 17 2-D joints, the MPJPE loss,
backward, fused AMSGrad (as ``LiftingModule.configure_optimizers``), in training mode (BatchNorm
batch statistics, dropout 0.25). Its FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode``
(matrix products and convolutions, forward + backward; BatchNorm, ReLU, dropout, the optimiser
are element-wise and not counted). The floor is those FLOPs at the peak fp32 rate of one large
matrix product (4096 x 4096 x 4096, ``torch.mm``) measured here, with the same threads; the step's
own matrix products (9,216 x 768 x 256 and smaller at batch 1024) run below that peak, which the
second floor (each of the step's products timed alone, forward + backward shapes) shows.
Times are the median of ``--repeat`` steps after warm-up; the machine is shared, so run it alone.
``--keep-freed`` first calls ``poseact.run.allocator.keep_freed_memory`` (as ``poseact fit`` does);
compare a run with and one without it (minor page faults per step are printed).

    python benchmarks/compute_floor.py && python benchmarks/compute_floor.py --keep-freed
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from poseact.lifting.models.temporal import TemporalLifter
from poseact.metrics.pose import mpjpe


def make(batch: int, channels: int, widths: list[int], seed: int = 0):
    torch.manual_seed(seed)
    model = TemporalLifter(17, 2, 17, widths, channels=channels, dropout=0.25).train()
    rf = model.receptive_field
    x = torch.randn(batch, rf, 17, 2) * 0.3
    y = torch.randn(batch, 1, 17, 3) * 0.3
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True, fused=True)
    return model, x, y, opt


def step(model, x, y, opt, autocast: bool = False) -> None:
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        pose = model.forward_train(x)
    loss = mpjpe(pose.float(), y)
    loss.backward()
    opt.step()


def step_flops(batch: int, channels: int, widths: list[int]) -> tuple[int, dict]:
    model, x, y, opt = make(batch, channels, widths)
    with FlopCounterMode(display=False) as counter:
        opt.zero_grad(set_to_none=True)
        loss = mpjpe(model.forward_train(x), y)
        loss.backward()
    per_op = {str(k): v for k, v in counter.get_flop_counts()["Global"].items()}
    return counter.get_total_flops(), per_op


def time_it(fn, repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def peak_gflops(n: int, repeat: int) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    s = time_it(lambda: torch.mm(a, b, out=out), repeat, warmup=2)
    return 2 * n ** 3 / s / 1e9


def step_shapes(batch: int, channels: int, widths: list[int]) -> list[tuple[int, int, int]]:
    """(M, K, N) of the forward matrix products of the strided form; backward adds, per product,
    (M, N, K) for the input gradient (not for the first layer) and (K, M, N) for the weight gradient."""
    rf = 1
    for w in widths:
        rf *= w
    t = rf // widths[0]
    shapes = [(batch * t, 34 * widths[0], channels)]
    for w in widths[1:]:
        t //= w
        shapes += [(batch * t, channels * w, channels), (batch * t, channels, channels)]
    shapes.append((batch * t, channels, 51))
    return shapes


def products_floor(shapes: list[tuple[int, int, int]], repeat: int) -> float:
    """Seconds of the step's matrix products (forward + backward shapes), each timed alone."""
    total = 0.0
    for i, (m, k, n) in enumerate(shapes):
        todo = [(m, k, n), (k, m, n)] + ([(m, n, k)] if i > 0 else [])
        for mm, kk, nn in todo:
            a, b = torch.randn(mm, kk), torch.randn(kk, nn)
            total += time_it(lambda: a @ b, repeat)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--channels", type=int, default=256)
    ap.add_argument("--widths", default="3,3,3")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--threads", type=int, nargs="+", default=[torch.get_num_threads()])
    ap.add_argument("--bf16", action="store_true", help="also the step under bf16 autocast (an option, not the default)")
    ap.add_argument("--keep-freed", action="store_true", help="glibc keeps freed blocks (as poseact fit does)")
    args = ap.parse_args()
    if args.keep_freed:
        from poseact.run.allocator import keep_freed_memory

        print(f"keep_freed_memory: {keep_freed_memory()}")
    widths = [int(w) for w in args.widths.split(",")]
    flops, per_op = step_flops(args.batch, args.channels, widths)
    ops = ", ".join(f"{k.split('.')[-1]} {v / 1e9:.3f}" for k, v in per_op.items())
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"model {widths} x {args.channels} channels, batch {args.batch}")
    print(f"FLOPs per training step (forward + backward, matrix products): {flops / 1e9:.3f} GFLOP "
          f"({ops})")
    print("| threads | peak fp32 matmul (4096³) | the step's products alone | training step (median) | "
          "step GFLOP/s | floor at peak | step / floor at peak | step / its products | page faults a step |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for threads in args.threads:
        torch.set_num_threads(threads)
        peak = peak_gflops(4096, max(3, args.repeat // 6))
        products = products_floor(step_shapes(args.batch, args.channels, widths), args.repeat)
        model, x, y, opt = make(args.batch, args.channels, widths)
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        s = time_it(lambda: step(model, x, y, opt), args.repeat)
        faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / (args.repeat + 3)
        floor = flops / (peak * 1e9)
        print(f"| {threads} | {peak:.1f} GFLOP/s | {products * 1e3:.1f} ms | {s * 1e3:.1f} ms | "
              f"{flops / s / 1e9:.1f} | {floor * 1e3:.1f} ms | {s / floor:.2f}× | {s / products:.2f}× | {faults:.0f} |",
              flush=True)
        if args.bf16:
            model, x, y, opt = make(args.batch, args.channels, widths)
            sb = time_it(lambda: step(model, x, y, opt, autocast=True), args.repeat)
            print(f"|   bf16 autocast, {threads} threads | | | {sb * 1e3:.1f} ms | {flops / sb / 1e9:.1f} | | "
                  f"{sb / floor:.2f}× | (fp32 step / bf16 step {s / sb:.2f}×) |", flush=True)


if __name__ == "__main__":
    main()
