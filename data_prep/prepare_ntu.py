#!/usr/bin/env python
"""Convert NTU RGB+D (.skeleton files + frames extracted from the RGB videos) into a store.

    python data_prep/prepare_ntu.py --skeletons data/ntu/nturgb+d_skeletons \\
        --frames data/ntu/frames --out data/ntu/ntu.h5 --frame-step 2

See data_prep/README.md for the frame extraction. Imports nothing heavy before the arguments are
parsed, and never Lightning.
"""

from __future__ import annotations

from poseact.errors import handle_interrupts

handle_interrupts()  # first: a Ctrl-C from here on stops the conversion cleanly (exit 130)

import sys
from pathlib import Path

from poseact.argtypes import Parser, positive_float, positive_int
from poseact.convert.cli import add_image_options, convert_and_describe, split_subjects


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        prog="prepare_ntu.py",
        description="NTU RGB+D (*.skeleton + extracted RGB frames) -> poseact HDF5 store: one clip per sequence "
                    "(the body tracked longest), subject = performer, 2-D + 3-D, frames referenced, boxes.")
    parser.add_argument("--skeletons", type=Path, required=True, help="folder of the *.skeleton files")
    parser.add_argument("--frames", type=Path, required=True, help="root of the extracted frames")
    parser.add_argument("--out", type=Path, default=None, help="output store (default: ntu.h5 beside --frames)")
    parser.add_argument("--pattern", default="{name}/{frame:05d}.jpg",
                        help="frame file below --frames; fields name, frame (1-based), index (0-based), setup, "
                             "camera, performer, replication, action (default: {name}/{frame:05d}.jpg)")
    parser.add_argument("--frame-step", type=positive_int, default=1,
                        help="keep every k-th frame (deephar TPAMI: 2); fps becomes 30/k")
    parser.add_argument("--color-intrinsics", type=positive_float, nargs=4, default=None, metavar=("FX", "FY", "CX", "CY"),
                        help="RGB camera at 1920x1080, pixels (default: Kinect v2 factory values 1081.37 1081.37 "
                             "959.5 539.5)")
    parser.add_argument("--names", nargs="+", default=None, metavar="SEQ",
                        help="only these sequences, e.g. S001C001P001R001A001 (space- or comma-separated)")
    add_image_options(parser, "h36m17")
    args = parser.parse_args(argv)
    out = args.out or args.frames.parent / "ntu.h5"

    import poseact.convert as converters  # the converter is imported inside the error boundary

    return convert_and_describe(parser.prog, out, lambda: converters.convert_ntu(
        args.skeletons, args.frames, out, layout=args.layout, left_right=args.left_right, pattern=args.pattern,
        frame_step=args.frame_step, color_intrinsics=tuple(args.color_intrinsics) if args.color_intrinsics else None,
        names=split_subjects(args.names), on_bad=args.on_bad))


if __name__ == "__main__":
    sys.exit(main())
