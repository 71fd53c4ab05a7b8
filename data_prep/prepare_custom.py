#!/usr/bin/env python
"""Convert in-the-wild 2-D detections (VideoPose3D's data_2d_custom_<name>.npz) into a store.

    python data_prep/prepare_custom.py --data-2d data/data_2d_custom_myvideos.npz \\
        --out data/custom_myvideos.h5

Imports nothing heavy before the arguments are parsed, and never Lightning.
"""

from __future__ import annotations

from poseact.errors import handle_interrupts

handle_interrupts()  # first: a Ctrl-C from here on stops the conversion cleanly (exit 130)

import sys
from pathlib import Path

from poseact.argtypes import Parser, positive_float
from poseact.convert.cli import convert_and_describe, default_output, split_subjects


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        prog="prepare_custom.py",
        description="In-the-wild detections (data_2d_custom_<name>.npz) -> poseact HDF5 store: one "
                    "clip and one camera row (the video's resolution) per video, no 3-D.")
    parser.add_argument("--data-2d", type=Path, required=True, help="data_2d_custom_<name>.npz")
    parser.add_argument("--out", type=Path, default=None,
                        help="output store (default: beside --data-2d, named custom_<name>.h5)")
    parser.add_argument("--subjects", nargs="+", default=None, metavar="VIDEO",
                        help="videos to keep, by their name in the file, e.g. clip.mp4 (default: all)")
    parser.add_argument("--fps", type=positive_float, default=50.0,
                        help="frame rate recorded in the store (the npz does not carry it; default 50)")
    args = parser.parse_args(argv)
    out = args.out or default_output(args.data_2d)

    import poseact.convert as converters  # the converter is imported inside the error boundary

    return convert_and_describe(parser.prog, out, lambda: converters.convert_custom(
        args.data_2d, out, subjects=split_subjects(args.subjects), fps=args.fps), inputs=[args.data_2d])


if __name__ == "__main__":
    sys.exit(main())
