#!/usr/bin/env python
"""Convert VideoPose3D's Human3.6M files into a poseact store (see data_prep/README.md).

    python data_prep/prepare_h36m.py --data-3d data/data_3d_h36m.npz \\
        --data-2d data/data_2d_h36m_cpn_ft_h36m_dbb.npz --out data/h36m_cpn_ft_h36m_dbb.h5

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
        prog="prepare_h36m.py",
        description="Human3.6M (VideoPose3D npz files) -> poseact HDF5 store: 3-D reduced to 17 "
                    "joints in every camera's space, 2-D truncated to the mocap length.")
    parser.add_argument("--data-3d", type=Path, default=None,
                        help="data_3d_h36m.npz (omit for a 2-D-only store)")
    parser.add_argument("--data-2d", type=Path, required=True,
                        help="data_2d_h36m_<detector>.npz, e.g. data_2d_h36m_cpn_ft_h36m_dbb.npz or _gt")
    parser.add_argument("--out", type=Path, default=None,
                        help="output store (default: beside --data-2d, named h36m_<detector>.h5)")
    parser.add_argument("--subjects", nargs="+", default=None, metavar="S",
                        help="subjects to keep, e.g. S1 S5 S9 or S1,S5,S9 (default: all in the 2-D file)")
    args = parser.parse_args(argv)
    out = args.out or default_output(args.data_2d)

    import poseact.convert as converters  # the converter is imported inside the error boundary

    return convert_and_describe(parser.prog, out, lambda: converters.convert_h36m(
        args.data_3d, args.data_2d, out, subjects=split_subjects(args.subjects)),
        inputs=[args.data_3d, args.data_2d])


if __name__ == "__main__":
    sys.exit(main())
