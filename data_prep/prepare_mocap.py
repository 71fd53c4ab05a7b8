#!/usr/bin/env python
"""Real motion capture (BVH, Acclaim ASF/AMC) -> an in-the-wild lifting store.

    python data_prep/prepare_mocap.py data/mocap --held-out test.amc --out data/wild.h5

Every take is seen by several random cameras (frame sizes, fields of view, heights, distances),
at random frame rates and subject sizes, with MediaPipe-like keypoint noise, in the joint
semantics of a detector's keypoints converted to H36M-17; the synthetic motion is added beside it
(``--synthetic-frames 0`` leaves it out). See data_prep/README.md ("Motion capture") and
src/poseact/convert/wild.py. Imports nothing heavy before the arguments are parsed, and never Lightning.
"""

from __future__ import annotations

from poseact.errors import handle_interrupts

handle_interrupts()  # first: a Ctrl-C from here on stops the conversion cleanly (exit 130)

import sys
from pathlib import Path

from poseact.argtypes import Parser, non_negative_int, positive_float, positive_int
from poseact.convert.cli import convert_and_describe


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        prog="prepare_mocap.py",
        description="Motion-capture takes (.bvh; .amc with its .asf) -> poseact HDF5 store for in-the-wild "
                    "lifting: subjects mocap (train), heldout (--held-out takes) and synthetic.")
    parser.add_argument("inputs", nargs="+", type=Path, help=".bvh / .amc files or folders holding them")
    parser.add_argument("--out", type=Path, default=Path("data/wild.h5"), help="output store (default data/wild.h5)")
    parser.add_argument("--held-out", nargs="*", default=[], metavar="TAKE",
                        help="takes kept for testing (subject 'heldout'), by file name (test.amc), path or take name; "
                             "takes whose stems clash are named <stem>_<suffix>")
    parser.add_argument("--cameras", type=positive_int, default=4, help="random cameras per take (default 4)")
    parser.add_argument("--synthetic-frames", type=non_negative_int, default=600,
                        help="frames per synthetic take beside the mocap (5 subjects x 10 actions; default 600, "
                             "0 = none)")
    parser.add_argument("--units", choices=["auto", "m", "cm", "mm", "inch", "cmu"], default="auto",
                        help="BVH length unit (default auto: the one giving an adult leg length; cmu = 1/0.45 in)")
    parser.add_argument("--amc-fps", type=positive_float, default=120.0,
                        help="frame rate of AMC files, which do not record it (default 120, CMU's)")
    parser.add_argument("--triangulated", nargs="*", type=Path, default=[], metavar="NPZ",
                        help="real motion already in the detector's joints: .npz files with pose3d_world (T, 17, 3) "
                             "metres (H36M-17) and fps, e.g. a calibrated recording's 2-D triangulated; trained "
                             "on (subject mocap)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the cameras and noise")
    args = parser.parse_args(argv)

    from poseact.convert.wild import WildConfig, convert_mocap

    return convert_and_describe(parser.prog, args.out, lambda: convert_mocap(
        args.inputs, args.out, held_out=args.held_out, synthetic_frames=args.synthetic_frames,
        cfg=WildConfig(cameras=args.cameras, seed=args.seed), units=args.units, amc_fps=args.amc_fps,
        triangulated=args.triangulated), inputs=[*args.inputs, *args.triangulated])


if __name__ == "__main__":
    sys.exit(main())
