"""The two lifter architectures at equal training wall time on this machine, on the synthetic set.

    python benchmarks/architectures.py                 # 6 minutes of training each (≈ 15 min in all)
    python benchmarks/architectures.py --minutes 2     # a quicker look

Each run is a real ``poseact fit`` in its own process (W&B off), stopped by ``trainer.max_time``
after the same training wall time, validating only at its end, then evaluated on S9 + S11 with flip
TTA. Printed: P1, P2 (action-wise), MPJVE, epochs done, training seconds (to the time limit),
the whole process's wall seconds and peak RSS.

* ``temporal``: the demo (27 frames, 256 channels, the reference recipe: AMSGrad, lr 1e-3 × 0.95).
* ``mixste``: ``configs/experiment/mixste_synthetic.yaml`` (27-frame clips, depth 2, width 64, the
  paper's losses, AdamW).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS = {
    "temporal (27 f, 256 ch)": ["configs/experiment/demo.yaml"],
    "mixste (27 f, depth 2, width 64)": ["configs/experiment/mixste_synthetic.yaml"],
}


def run(config: list[str], minutes: float, out: Path) -> dict:
    m = int(minutes)
    s = int(round((minutes - m) * 60))
    overrides = [f"output_dir={out}", "logger.wandb=false", "trainer.enable_progress_bar=false", "resume=false",
                 "trainer.max_epochs=1000", f"trainer.max_time=00:00:{m:02d}:{s:02d}",
                 "eval.validate_every_n_epochs=1000"]
    # the child's own peak RSS: measured by a wrapper process around it
    wrapper = ("import resource, subprocess, sys, time\n"
               "t = time.perf_counter(); rc = subprocess.run(sys.argv[1:]).returncode\n"
               "print('BENCH', rc, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    cmd = [sys.executable, "-c", wrapper, sys.executable, "-m", "poseact", "fit", str(REPO / config[0]), *config[1:],
           *overrides]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env={**os.environ, "WANDB_MODE": "disabled"})
    line = [x for x in done.stdout.splitlines() if x.startswith("BENCH")]
    if not line or line[-1].split()[1] != "0":
        raise SystemExit(f"{config[0]} failed:\n{done.stderr[-3000:]}")
    _, _, wall, rss_kb = line[-1].split()
    from poseact.run.folder import RunFolder

    folder = RunFolder(out)
    epochs = len(folder.read_metrics().get("train/lr", []))  # logged once per epoch
    return {"summary": folder.read_summary(), "wall_s": float(wall), "peak_rss_gb": int(rss_kb) / 1024**2,
            "epochs": epochs, "train_s": minutes * 60}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=6.0, help="training wall time of each run")
    a = p.parse_args()
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
          f"{a.minutes:g} min of training each\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, config in RUNS.items():
            t = time.perf_counter()
            r = run(config, a.minutes, Path(tmp) / name.split()[0])
            print(f"{name}: done in {time.perf_counter() - t:.0f} s", flush=True)
            rows.append((name, r))
    print("\n| architecture | P1 (mm) | P2 (mm) | MPJVE (mm) | epochs | training s | process s | peak RSS (GB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in rows:
        s = r["summary"]
        print(f"| {name} | {s['p1']:.1f} | {s['p2']:.1f} | {s['mpjve']:.2f} | {r['epochs']} | {r['train_s']:.0f} | "
              f"{r['wall_s']:.0f} | {r['peak_rss_gb']:.2f} |")


if __name__ == "__main__":
    main()
