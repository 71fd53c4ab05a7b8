"""Peak memory of evaluating one long sequence: the folded evaluation in pieces vs in one go.

``TemporalLifter``'s evaluation form (eval mode, no autograd) runs a sequence in pieces of
``FOLDED_CHUNK`` output frames, each with its receptive field of context. This script measures what
that saves on a long clip, each variant in a fresh process (peak RSS grows only once per process):
the same seeded model and input, ``FOLDED_CHUNK`` as shipped against a piece longer than the clip
(the form before pieces). It prints the growth of peak RSS over the forward pass, the ratio, and the
largest difference between the two outputs.

    python benchmarks/folded_memory.py                      # VideoPose3D's 243-frame, 1024-channel lifter, 20,000 frames
    python benchmarks/folded_memory.py --frames 5000 --widths 3,3,3 --channels 256
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import json, resource, sys, torch
import poseact.lifting.models.temporal as temporal
frames, widths, channels, chunk, out = int(sys.argv[1]), [int(w) for w in sys.argv[2].split(",")], int(sys.argv[3]), sys.argv[4], sys.argv[5]
if chunk != "shipped":
    temporal.FOLDED_CHUNK = int(chunk)
torch.manual_seed(0)
model = temporal.TemporalLifter(17, 2, 17, widths, channels=channels).eval()
x = torch.randn(1, frames + model.receptive_field - 1, 17, 2)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with torch.no_grad():
    y = model(x)
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
torch.save(y, out)
print(json.dumps({"grown_mb": grown / 1024, "chunk": temporal.FOLDED_CHUNK}))
"""


def run(frames: int, widths: str, channels: int, chunk: str, out: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(frames), widths, str(channels), chunk, str(out)],
                          cwd=REPO, capture_output=True, text=True, env={"PYTHONPATH": str(REPO / "src")})
    if done.returncode:
        raise SystemExit(f"the measuring process failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=20000, help="output frames of the sequence (default 20,000)")
    p.add_argument("--widths", default="3,3,3,3,3", help="filter widths (default 3,3,3,3,3: 243 frames)")
    p.add_argument("--channels", type=int, default=1024)
    args = p.parse_args(argv)
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        one = run(args.frames, args.widths, args.channels, str(args.frames + 1), Path(tmp) / "one.pt")
        pieces = run(args.frames, args.widths, args.channels, "shipped", Path(tmp) / "pieces.pt")
        diff = (torch.load(Path(tmp) / "one.pt") - torch.load(Path(tmp) / "pieces.pt")).abs().max().item()
    print(f"lifter widths {args.widths}, {args.channels} channels, one sequence of {args.frames:,} output frames")
    print("| evaluation | peak RSS growth (MB) | ratio |")
    print("| --- | ---: | ---: |")
    print(f"| one piece (before) | {one['grown_mb']:.0f} | 1.00 |")
    print(f"| pieces of {pieces['chunk']} frames | {pieces['grown_mb']:.0f} | {pieces['grown_mb'] / one['grown_mb']:.2f} |")
    print(f"largest difference between the outputs: {diff:.3g} (metres, as the model's units)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
