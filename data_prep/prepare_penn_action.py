#!/usr/bin/env python
"""Convert Penn Action (labels/*.mat + frames/) into a store (see data_prep/README.md).

    python data_prep/prepare_penn_action.py --root data/Penn_Action --out data/Penn_Action/penn.h5

Imports nothing heavy before the arguments are parsed, and never Lightning.
"""

from __future__ import annotations

from poseact.errors import handle_interrupts

handle_interrupts()  # first: a Ctrl-C from here on stops the conversion cleanly (exit 130)

import sys
from pathlib import Path

from poseact.argtypes import Parser
from poseact.convert.cli import add_image_options, convert_and_describe


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        prog="prepare_penn_action.py",
        description="Penn Action (labels/NNNN.mat + frames/NNNN/000001.jpg) -> poseact HDF5 store: one clip "
                    "per video, subjects train/test, 15 actions, frames referenced, per-frame boxes.")
    parser.add_argument("--root", type=Path, default=None, help="the Penn_Action folder (labels/ and frames/)")
    parser.add_argument("--labels", type=Path, default=None, help="labels folder (default: ROOT/labels)")
    parser.add_argument("--frames", type=Path, default=None, help="frames folder (default: ROOT/frames)")
    parser.add_argument("--out", type=Path, default=None, help="output store (default: ROOT/penn_action.h5)")
    add_image_options(parser, "mpii16")
    args = parser.parse_args(argv)
    if args.root is None and (args.labels is None or args.frames is None):
        parser.error("give --root, or both --labels and --frames")
    out = args.out or (args.root or args.labels.parent) / "penn_action.h5"

    import poseact.convert as converters  # the converter is imported inside the error boundary

    return convert_and_describe(parser.prog, out, lambda: converters.convert_penn_action(
        args.root, out, layout=args.layout, left_right=args.left_right, labels=args.labels,
        frames=args.frames, on_bad=args.on_bad))


if __name__ == "__main__":
    sys.exit(main())
