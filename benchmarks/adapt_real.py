"""Adapting the in-the-wild lifter on real footage, measured on a held-out recording (issue 20).

1. ``poseact data from-videos``: pose2sim's Demo_Batch/Trial_1, four calibrated synchronised views
   (the MediaPipe detections of ``benchmarks/real_video.py``: ``real_video.detection_file``, made once and cached)
   → an unlabeled store with intrinsics, extrinsics and the views' offsets (estimated: ``--offsets auto``).
2. ``poseact fit configs/experiment/wild.yaml`` from the in-the-wild checkpoint, its labeled store
   (``data/wild.h5``) mixed into every batch so the lifter does not drift, on a FIXED budget (``--steps``,
   chosen before any evaluation; the same for every run):

   * ``warmup``: labeled only, with a trajectory model (the wild lifter has none; back-projection needs
     one), from ``--checkpoint``; every run below starts from it;
   * ``control``: labeled only again (what the extra steps alone do);
   * ``single``: + Trial_1's unlabeled views, single-view back-projection (reprojection + bone terms);
   * ``multi``: as ``single`` + the multi-view consistency term (``semi.multiview_weight``).

3. Evaluates the original checkpoint and the four runs on Demo_Batch/Trial_2 ONLY (never adapted on, never
   tuned on) with :func:`real_video.evaluate` (``source="keypoints"``: ``poseact infer`` on the cached
   detections of each view; ``clean``: the lifter on the pseudo-ground truth's own projection;
   ``static``: the clip's mean pose), per view, and prints the tables and the ratios to the original
   from the same run. Trial_2 is Trial_1's footage with a second person (a woman) composited in: its
   pseudo-ground truth is the woman in cam01/02/04 (cam03's detector mostly follows the man), so it
   tests a new subject in the same scene and cameras, not a new scene.

Run from the repository root (2 CPU cores, the shipped 512-channel lifter: ~23 min: four fits of 3.5-7.5 min,
five evaluations of ~1 min)::

    python benchmarks/adapt_real.py                  # everything (a fit is skipped when its checkpoint exists
                                                     # and was fitted from the same start and budget)
    python benchmarks/adapt_real.py --json out.json  # also the numbers as JSON
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

VIEWS = ("cam01", "cam02", "cam03", "cam04")
ADAPT_ON = "Demo_Batch/Trial_1"
EVALUATE_ON = "Demo_Batch/Trial_2"
#: Trial_2's views whose detector follows the pseudo-ground truth's subject (cam03's mostly follows the man)
SUBJECT_VIEWS = ("cam01", "cam02", "cam04")
ON_SUBJECT = "mean cam01/02/04"
#: the fixed budget, decided before any evaluation: optimizer steps per run, global batch, learning rate
STEPS = 1000
BATCH_FRAMES = 512
LR = 2e-4
MULTIVIEW_WEIGHT = 1.0

RUNS = {  # name: (starts from, extra overrides)
    "warmup": (None, ["model.trajectory=true"]),
    "control": ("warmup", ["model.trajectory=true"]),
    "single": ("warmup", ["UNLABELED"]),
    "multi": ("warmup", ["UNLABELED", f"semi.multiview_weight={MULTIVIEW_WEIGHT}"]),
}


def poseact(*args: str) -> None:
    """Run the ``poseact`` command line (the installed entry point beside this Python)."""
    exe = Path(sys.executable).with_name("poseact")
    cmd = [str(exe) if exe.exists() else "poseact", *args]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO, env={**os.environ, "WANDB_MODE": "disabled"})


def build_unlabeled(out: Path) -> Path:
    """Step 1: Trial_1's four views → the unlabeled store (from the cached MediaPipe detections; made again
    when they are newer than the store)."""
    from real_video import detection_file, open_recording  # the benchmark's own detections, made once

    store = out / "unlabeled_trial1.h5"
    rec = open_recording(ADAPT_ON)
    detections = [detection_file(rec, v) for v in VIEWS]
    if not store.exists() or any(d.stat().st_mtime_ns > store.stat().st_mtime_ns for d in detections):
        store.unlink(missing_ok=True)
        poseact("data", "from-videos", *map(str, detections), "--out", str(store), "--calibration", str(rec.calibration))
    return store


def fit(name: str, out: Path, start: Path, unlabeled: Path, steps: int, seed: int = 0) -> Path:
    """Step 2: one fine-tuning run; returns its last checkpoint (skipped when it exists and was fitted from this
    very ``start`` with these ``steps``, as ``started_from.json`` in the run records; else fitted afresh)."""
    import shutil

    run = out / name
    ckpt = run / "checkpoints" / "last.ckpt"
    st = Path(start).stat()
    origin = {"start": str(start), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "steps": steps, "seed": seed}
    record = run / "started_from.json"
    if ckpt.exists() and record.exists() and json.loads(record.read_text()) == origin:
        print(f"{name}: {ckpt} exists, fitted from {start}: not refitted")
        return ckpt
    if run.exists():
        print(f"{name}: {run} was fitted from something else (or not finished): fitted afresh")
        shutil.rmtree(run)
    extra = []
    for item in RUNS[name][1]:
        extra += ([f"data.store_unlabeled={unlabeled}", "data.subjects_unlabeled=[videos]", "semi.warmup_epochs=0"]
                  if item == "UNLABELED" else [item])
    t0 = time.time()
    poseact("fit", "configs/experiment/wild.yaml", f"init_checkpoint={start}", f"output_dir={run}", "resume=false",
            "budget.unit=steps", f"budget.amount={steps}", f"data.batch_frames={BATCH_FRAMES}", f"optim.lr={LR}",
            "logger.wandb=false", "trainer.enable_progress_bar=false", f"seed={seed}", *extra)
    print(f"{name}: {time.time() - t0:.0f} s", flush=True)
    record.write_text(json.dumps(origin))
    return ckpt


def ratio_table(results: dict[str, dict], kind: str, metric: str = "p_mpjpe_mm") -> str:
    """Per view and mean: ``metric`` of every checkpoint for one ``kind`` (detector / clean), the
    static baseline beside, and each run's ratio to the original checkpoint."""
    names = list(results)
    base = names[0]
    head = "| view | static | " + " | ".join(names) + " | " + " | ".join(f"{n} / {base}" for n in names[1:]) + " |"
    lines = [f"**{kind}** {metric} on {EVALUATE_ON}", "", head, "|" + "---|" * (2 + 2 * len(names) - 1)]
    for view in (*VIEWS, "mean", ON_SUBJECT):
        def get(name: str, what: str = kind) -> float:
            r = results[name]
            if view == ON_SUBJECT:
                return sum(r["views"][v][what][metric] for v in SUBJECT_VIEWS) / len(SUBJECT_VIEWS)
            return r["summary"][what][metric] if view == "mean" else r["views"][view][what][metric]
        vals = [get(n) for n in names]
        digits = 3 if metric == "bone_ratio" else 1
        lines.append(f"| {view} | {get(base, 'static'):.{digits}f} | " + " | ".join(f"{v:.{digits}f}" for v in vals)
                     + " | " + " | ".join(f"{v / vals[0]:.3f}" for v in vals[1:]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", default="outputs/wild/checkpoints/best_real.ckpt", help="the lifter to adapt")
    p.add_argument("--out", default="outputs/adapt_real", help="runs and the unlabeled store")
    p.add_argument("--steps", type=int, default=STEPS, help=f"optimizer steps per run (default {STEPS})")
    p.add_argument("--source", default="keypoints", choices=("keypoints", "none"),
                   help="the detector path of the evaluation (none: clean + static only)")
    p.add_argument("--seed", type=int, default=0, help="every fit's seed (its runs go to OUT/seed<N> unless 0)")
    p.add_argument("--json", default=None, help="also write the numbers here")
    args = p.parse_args(argv)
    from real_video import evaluate, table

    out = (REPO / args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    unlabeled = build_unlabeled(out)
    runs = out / f"seed{args.seed}" if args.seed else out
    ckpts = {"original": (REPO / args.checkpoint).resolve()}
    for name, (start, _) in RUNS.items():
        ckpts[name] = fit(name, runs, ckpts["original"] if start is None else ckpts[start], unlabeled, args.steps,
                          args.seed)
    results = {}
    for name, ckpt in ckpts.items():
        if name == "warmup":
            continue
        results[name] = evaluate(ckpt, EVALUATE_ON, source=args.source, views=VIEWS)
        print(table(results[name]), flush=True)
    print(f"\nAdapted on {ADAPT_ON} (4 views, unlabeled), evaluated on {EVALUATE_ON} (Trial_1's footage with a woman "
          f"composited in; the pseudo-ground truth is her in cam01/02/04; cam03's detector mostly follows the man). "
          f"Budget per run: {args.steps} steps × {BATCH_FRAMES} frames, lr {LR}; every run from 'warmup' "
          f"({args.steps} labeled-only steps with a trajectory model from {args.checkpoint}).\n")
    kinds = ("detector", "clean") if args.source == "keypoints" else ("clean",)
    for kind in kinds:
        print(ratio_table(results, kind), "\n")
    if args.source == "keypoints":
        for metric in ("mpjpe_mm", "n_mpjpe_mm", "bone_ratio"):
            print(ratio_table(results, "detector", metric), "\n")
    if args.json:
        doc = {n: {"summary": r["summary"], "views": {
            v: {k: r["views"][v][k] for k in ("static", "clean", "detector") if k in r["views"][v]} for v in VIEWS}}
            for n, r in results.items()}
        from poseact.atomic import write_json

        write_json(Path(args.json), doc, indent=1, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
