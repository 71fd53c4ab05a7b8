"""Time of the frame-offset search on a real recording: this checkout against another (``--before``).

``estimate_offsets`` widens its window where an offset lands on the edge. This script times it on a
recording's pinned MediaPipe detections (those :mod:`real_video` triangulates; made there if missing),
as that benchmark and ``poseact data from-videos --offsets auto`` call it: ±10 frames, the pairs only
(``rounds=0``) and with two rounds against the other views. The checkouts run interleaved, each time in a
fresh process over the same arrays, the fastest of ``--repeat`` kept; the offsets found must be equal
(exit status 1 where they are not). Prints seconds per checkout and their ratio.

    python benchmarks/offset_search.py --recording Demo_Batch/Trial_2 --before <checkout of a86b034>
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
import numpy as np
from poseact.geometry.calibration import read_calibration
from poseact.geometry.triangulate import estimate_offsets
a = np.load(sys.argv[1])
by_name = {c.name: c for c in read_calibration(sys.argv[2])}
cams = [by_name[name] for name in json.loads(sys.argv[3])]
out = {}
for rounds in (0, 2):
    start = time.perf_counter()
    found = estimate_offsets(a["points"], a["confidence"], cams, max_offset=10, min_confidence=0.5, rounds=rounds)
    out[rounds] = {"seconds": time.perf_counter() - start, "offsets": found.offsets,
                   "window": [found.window[0], found.window[-1]]}
print(json.dumps(out))
"""


def run(src: Path, arrays: Path, calibration: Path, views: list[str]) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(arrays), str(calibration), json.dumps(views)],
                          cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(src)})
    if done.returncode:
        raise SystemExit(f"the timing process for {src} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recording", default="Demo_Batch/Trial_2", help="a pose2sim recording (default Demo_Batch/Trial_2)")
    p.add_argument("--before", type=Path, help="another checkout of poseact, timed on the same arrays")
    p.add_argument("--repeat", type=int, default=3, help="runs per checkout; the fastest is kept (default 3)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO / "benchmarks"))
    import real_video as rv

    rec = rv.open_recording(args.recording)
    raw = [rv.read_detections(rv.detection_file(rec, v)) for v in rec.views]
    T = min(len(k) for k, _, _ in raw)
    checkouts = {"this checkout": REPO / "src"}
    if args.before is not None:
        checkouts["before"] = args.before / "src"
    with tempfile.TemporaryDirectory() as tmp:
        arrays = Path(tmp) / "detections.npz"
        np.savez(arrays, points=np.stack([k[:T] for k, _, _ in raw]), confidence=np.stack([c[:T] for _, c, _ in raw]))
        times: dict[str, dict] = {}
        for _ in range(args.repeat):  # interleaved, each in a fresh process; the fastest of each kept
            for name, src in checkouts.items():
                got = run(src, arrays, rec.calibration, list(rec.views))
                for rounds, r in got.items():
                    kept = times.setdefault(name, {}).get(rounds)
                    if kept is None or r["seconds"] < kept["seconds"]:
                        times[name][rounds] = r
    print(f"{args.recording}: {len(rec.views)} views x {T} frames, fastest of {args.repeat}")
    print("| search | checkout | seconds | offsets | last window |\n|---|---|---:|---|---|")
    for rounds in ("0", "2"):
        for name, t in times.items():
            r = t[rounds]
            print(f"| rounds={rounds} | {name} | {r['seconds']:.2f} | {r['offsets']} | ±{r['window'][1]} |")
    differ = False
    if "before" in times:
        for rounds in ("0", "2"):
            now, then = times["this checkout"][rounds], times["before"][rounds]
            same = now["offsets"] == then["offsets"] and now["window"] == then["window"]
            differ |= not same
            print(f"rounds={rounds}: this checkout / before = {now['seconds'] / then['seconds']:.2f}"
                  f" ({'same offsets' if same else 'OFFSETS DIFFER'})")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
