#!/usr/bin/env python
"""Convert VideoPose3D's HumanEva-I files into a poseact store (see data_prep/README.md).

    python data_prep/prepare_humaneva.py --data-3d data/data_3d_humaneva15.npz \\
        --data-2d data/data_2d_humaneva15_gt.npz --out data/humaneva15_gt.h5

Imports nothing heavy before the arguments are parsed, and never Lightning.
"""

from __future__ import annotations

from poseact.errors import handle_interrupts

handle_interrupts()  # first: a Ctrl-C from here on stops the conversion cleanly (exit 130)

import sys
from pathlib import Path

from poseact.argtypes import Parser
from poseact.convert.cli import convert_and_describe, default_output, split_subjects


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        prog="prepare_humaneva.py",
        description="HumanEva-I (VideoPose3D npz files) -> poseact HDF5 store: subjects keep their "
                    "split prefix (Train/S1, Validate/S1, Unlabeled/...), 3-D in every camera's space.")
    parser.add_argument("--data-3d", type=Path, default=None,
                        help="data_3d_humaneva15.npz (omit for a 2-D-only store)")
    parser.add_argument("--data-2d", type=Path, required=True,
                        help="data_2d_humaneva15_<detector>.npz, e.g. data_2d_humaneva15_gt.npz")
    parser.add_argument("--out", type=Path, default=None,
                        help="output store (default: beside --data-2d, named humaneva15_<detector>.h5)")
    parser.add_argument("--subjects", nargs="+", default=None, metavar="S",
                        help="subjects to keep, with their split prefix, e.g. Train/S1 Unlabeled/S4 "
                             "(default: all in the 2-D file)")
    args = parser.parse_args(argv)
    out = args.out or default_output(args.data_2d)

    import poseact.convert as converters  # the converter is imported inside the error boundary

    return convert_and_describe(parser.prog, out, lambda: converters.convert_humaneva(
        args.data_3d, args.data_2d, out, subjects=split_subjects(args.subjects)),
        inputs=[args.data_3d, args.data_2d])


if __name__ == "__main__":
    sys.exit(main())
