"""How human is a lifter's output on a held-out real motion-capture take? (issue 11)

    python benchmarks/wild_lifter.py outputs/demo/checkpoints/last.ckpt outputs/wild/checkpoints/last.ckpt

For every checkpoint, on the ``heldout`` clips of the wild store (``data_prep/prepare_mocap.py``:
a real take none of them trained on, seen by random cameras with MediaPipe-like 2-D noise), through
the public API (``poseact.lift``, flip TTA), prints:

* P1 (mm, root-relative) and P2 (P-MPJPE, mm) against the take's own 3-D, beside a *static* pose
  (each clip's mean root-relative pose repeated for every frame: a lifter must beat standing
  still) and the lifter on the clean projection of the 3-D (no detector noise: the lifter's own
  share of the error);
* the stature the raw output implies (``poseact.bones.stature``, median per clip; the range over
  clips) against the subject's;
* the lifter's own scale (no ``--height``): median thigh, shin, upper-arm and forearm length and
  their ratio to an average adult's (Drillis & Contini's segment fractions of a 1.70 m stature:
  thigh 0.245, shin 0.246, upper arm 0.186, forearm 0.146) and to the held-out subject's;
* the frame-to-frame spread of those bones (standard deviation over frames, cm) as lifted, and with
  ``poseact infer``'s defaults for clips (``--height 1.70`` and one length per bone).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

#: Drillis & Contini (1966) segment lengths as fractions of stature
ADULT_FRACTIONS = {"thigh": 0.245, "shin": 0.246, "upper arm": 0.186, "forearm": 0.146}
ADULT_STATURE_M = 1.70
LIMBS = {"thigh": (("right_hip", "right_knee"), ("left_hip", "left_knee")),
         "shin": (("right_knee", "right_ankle"), ("left_knee", "left_ankle")),
         "upper arm": (("right_shoulder", "right_elbow"), ("left_shoulder", "left_elbow")),
         "forearm": (("right_elbow", "right_wrist"), ("left_elbow", "left_wrist"))}


def limb_lengths(pose: np.ndarray) -> dict[str, np.ndarray]:
    """``(T, 17, 3)`` → per limb ``(T, 2)`` lengths (right, left), metres."""
    from poseact.convert.wild import J

    return {name: np.stack([np.linalg.norm(pose[:, J[b]] - pose[:, J[a]], axis=-1) for a, b in pair], axis=1)
            for name, pair in LIMBS.items()}


def evaluate(checkpoint: str, store_path: str) -> dict:
    import poseact
    from poseact.bones import DEFAULT_HEIGHT_M, apply_body_rules
    from poseact.store import open_store

    store = open_store(store_path)
    clips = store.clips
    lifter = poseact.load_lifter(checkpoint)
    from poseact.bones import stature
    from poseact.geometry.camera import image_coordinates, project_to_2d
    from poseact.metrics.pose import procrustes_align

    def p2(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
        return np.linalg.norm(procrustes_align(pred, target) - target, axis=-1).mean(axis=1)

    errors, own, steady, truth = [], [], [], []
    p2_noisy, p2_clean, p2_static, statures, true_statures = [], [], [], [], []
    for c in np.flatnonzero(np.asarray(clips.subject) == "heldout"):
        s, n, row = int(clips.start[c]), int(clips.length[c]), int(clips.camera[c])
        w, h = (int(v) for v in store.cameras.res[row])
        kp, conf = store.keypoints[s:s + n], store.confidence[s:s + n]
        gt = store.pose3d[s:s + n].astype(np.float64)
        gt = gt - gt[:, :1]
        pose, _ = poseact.lift(lifter, kp, (w, h), confidence=conf, tta=True)
        errors.append(np.linalg.norm(pose - gt, axis=-1).mean(axis=1))
        intr = store.cameras.intrinsics[row]
        vec = np.concatenate([intr[:2] / w * 2, (intr[2:4] - [w / 2, h / 2]) / w * 2, np.zeros(5)]).astype(np.float32)
        clean = image_coordinates(project_to_2d(store.pose3d[s:s + n].astype(np.float32), vec), w, h)
        pose_clean, _ = poseact.lift(lifter, clean, (w, h), tta=True)
        p2_noisy.append(p2(pose, gt))
        p2_clean.append(p2(pose_clean, gt))
        p2_static.append(p2(np.broadcast_to(gt.mean(axis=0), gt.shape), gt))
        statures.append(float(np.median(stature(pose, lifter.layout_3d))))
        true_statures.append(float(np.median(stature(gt, lifter.layout_3d))))
        own.append(limb_lengths(pose))
        truth.append(limb_lengths(gt))
        # infer's defaults for clips, applied to the same lifted pose (what poseact.lift(height=, steady_bones=) does)
        pose_default, _, _ = apply_body_rules(pose, None, lifter.layout_3d, None, DEFAULT_HEIGHT_M, True)
        steady.append(limb_lengths(pose_default))
    if not errors:
        raise SystemExit(f"{store_path}: no 'heldout' clips (prepare_mocap.py --held-out TAKE)")
    mm = {k: float(np.concatenate(v).mean() * 1000) for k, v in
          (("p1_mm", errors), ("p2_mm", p2_noisy), ("p2_clean_mm", p2_clean), ("p2_static_mm", p2_static))}
    out = {**mm, "stature_m": (min(statures), float(np.median(statures)), max(statures)),
           "subject_stature_m": float(np.median(true_statures)), "limbs": {}}
    for name, fraction in ADULT_FRACTIONS.items():
        lengths = [d[name] for d in own]
        median = float(np.median(np.concatenate(lengths)))
        spread = float(np.mean([x.std(axis=0).mean() for x in lengths]))
        true = float(np.median(np.concatenate([d[name] for d in truth])))
        steady_spread = float(np.mean([d[name].std(axis=0).mean() for d in steady]))
        steady_median = float(np.median(np.concatenate([d[name] for d in steady])))
        out["limbs"][name] = {"median_m": median, "vs_adult": median / (fraction * ADULT_STATURE_M),
                              "vs_subject": median / true, "spread_cm": spread * 100,
                              "default_median_m": steady_median,
                              "default_vs_adult": steady_median / (fraction * ADULT_STATURE_M),
                              "default_spread_cm": steady_spread * 100}
    return out


#: the only real recording checkpoints are chosen on (benchmarks/real_video.py); Demo_Batch/Trial_2 is
#: kept for reporting and is never used to choose
SELECTION_RECORDING = "Demo_Batch/Trial_1"


def select_on_real(checkpoints: list[str], out: str, recording: str = SELECTION_RECORDING) -> dict:
    """Choose among ``checkpoints`` by P-MPJPE on a real recording (mean over its views; ``poseact
    infer`` on the detector's cached 2-D, or, when the detector cannot run here, the lifter on the
    pseudo-ground truth's clean projection) and copy the winner to ``out``. Returns the scores."""
    import shutil

    sys.path.insert(0, str(REPO / "benchmarks"))
    from real_video import evaluate

    scores: dict[str, dict] = {}
    for ckpt in checkpoints:
        try:
            s = evaluate(ckpt, recording, source="keypoints")["summary"]
        except (RuntimeError, OSError) as e:  # no MediaPipe here: the clean 2-D still ranks the lifters
            print(f"wild_lifter.py: the detector could not run ({str(e).splitlines()[0][:200]}); "
                  "choosing on clean projected 2-D", file=sys.stderr)
            return select_on_real_clean(checkpoints, out, recording)
        scores[ckpt] = {"detector": s["detector"]["p_mpjpe_mm"], "clean": s["clean"]["p_mpjpe_mm"],
                        "static": s["static"]["p_mpjpe_mm"], "stature_m": s["detector"]["stature_m"]}
    best = min(scores, key=lambda c: scores[c]["detector"])
    _copy(best, out)
    return {"recording": recording, "source": "keypoints", "chosen": best, "scores": scores}


def select_on_real_clean(checkpoints: list[str], out: str, recording: str = SELECTION_RECORDING) -> dict:
    """:func:`select_on_real` on the clean projected 2-D only (no detector run)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from real_video import evaluate

    scores = {}
    for ckpt in checkpoints:
        s = evaluate(ckpt, recording, source="none")["summary"]
        scores[ckpt] = {"clean": s["clean"]["p_mpjpe_mm"], "static": s["static"]["p_mpjpe_mm"]}
    best = min(scores, key=lambda c: scores[c]["clean"])
    _copy(best, out)
    return {"recording": recording, "source": "none", "chosen": best, "scores": scores}


def _copy(src: str, out: str) -> None:
    from poseact.atomic import atomic_output

    with atomic_output(out) as tmp:
        Path(tmp).write_bytes(Path(src).read_bytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--store", default=str(REPO / "data/wild.h5"))
    parser.add_argument("--select-real", metavar="OUT",
                        help=f"choose among the checkpoints by P-MPJPE on the real recording {SELECTION_RECORDING} "
                             "(benchmarks/real_video.py) and copy the winner to OUT, then measure it")
    args = parser.parse_args()
    if args.select_real:
        chosen = select_on_real(args.checkpoints, args.select_real)
        print(f"chosen on {chosen['recording']} ({'detector' if chosen['source'] == 'keypoints' else 'clean'} 2-D, "
              f"P-MPJPE mm, mean over views): {chosen['chosen']} -> {args.select_real}")
        for ckpt, sc in chosen["scores"].items():
            print(f"  {ckpt}: " + ", ".join(f"{k} {v}" for k, v in sc.items()))
        args.checkpoints = [args.select_real]
    print(f"held-out clips of {args.store}\n")
    results = {ckpt: evaluate(ckpt, args.store) for ckpt in args.checkpoints}
    print("| checkpoint | P1 (mm) | P2 (mm) | P2 static pose (mm) | P2 on clean 2-D (mm) "
          "| raw stature min / median / max (m) | subject (m) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for ckpt, r in results.items():
        lo, mid, hi = r["stature_m"]
        print(f"| {ckpt} | {r['p1_mm']:.1f} | {r['p2_mm']:.1f} | {r['p2_static_mm']:.1f} | {r['p2_clean_mm']:.1f} "
              f"| {lo:.2f} / {mid:.2f} / {hi:.2f} | {r['subject_stature_m']:.2f} |")
    print()
    print("| checkpoint | P1 (mm) | limb | own length (m) | / adult | / subject | spread (cm) "
          "| with infer's defaults: length (m) | / adult | spread (cm) |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for ckpt, r in results.items():
        for k, (name, v) in enumerate(r["limbs"].items()):
            head = f"| {ckpt} | {r['p1_mm']:.1f} " if k == 0 else "| | "
            print(f"{head}| {name} | {v['median_m']:.3f} | {v['vs_adult']:.2f} | {v['vs_subject']:.2f} "
                  f"| {v['spread_cm']:.2f} | {v['default_median_m']:.3f} | {v['default_vs_adult']:.2f} "
                  f"| {v['default_spread_cm']:.2f} |")


if __name__ == "__main__":
    main()
