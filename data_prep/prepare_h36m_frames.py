#!/usr/bin/env python
"""Pair Human3.6M video frames with the pose store of prepare_h36m.py (see data_prep/README.md).

    python data_prep/prepare_h36m.py --data-3d data/data_3d_h36m.npz \\
        --data-2d data/data_2d_h36m_gt.npz --out data/h36m_gt.h5
    python data_prep/prepare_h36m_frames.py --pose-store data/h36m_gt.h5 \\
        --frames data/h36m/frames --out data/h36m/h36m_frames.h5 --frame-step 5

Imports nothing heavy before the arguments are parsed, and never Lightning.
"""

from __future__ import annotations

from poseact.errors import handle_interrupts

handle_interrupts()  # first: a Ctrl-C from here on stops the conversion cleanly (exit 130)

import sys
from pathlib import Path

from poseact.argtypes import Parser, positive_int
from poseact.convert.cli import add_image_options, convert_and_describe, split_subjects


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        prog="prepare_h36m_frames.py",
        description="Human3.6M pose store (prepare_h36m.py with --data-3d) + frames extracted from the videos -> "
                    "poseact HDF5 store: 2-D by projection, 3-D, frames referenced, per-frame boxes.")
    parser.add_argument("--pose-store", type=Path, required=True, help="store written by prepare_h36m.py with 3-D")
    parser.add_argument("--frames", type=Path, required=True, help="root of the extracted frames")
    parser.add_argument("--out", type=Path, default=None,
                        help="output store (default: h36m_frames.h5 beside --frames)")
    parser.add_argument("--pattern", default="{subject}/{take}.{camera}/{frame:06d}.jpg",
                        help="frame file below --frames; fields subject, take, camera, frame (1-based), index "
                             "(0-based) (default: {subject}/{take}.{camera}/{frame:06d}.jpg)")
    parser.add_argument("--frame-step", type=positive_int, default=5,
                        help="keep every k-th frame (default 5: 10 fps, deephar's training rate)")
    parser.add_argument("--subjects", nargs="+", default=None, metavar="S",
                        help="subjects to keep, e.g. S1 S5 or S1,S5 (default: all)")
    add_image_options(parser, "h36m17", left_right=False)
    args = parser.parse_args(argv)
    out = args.out or args.frames.parent / "h36m_frames.h5"

    import poseact.convert as converters  # the converter is imported inside the error boundary

    return convert_and_describe(parser.prog, out, lambda: converters.convert_h36m_frames(
        args.pose_store, args.frames, out, layout=args.layout, pattern=args.pattern, frame_step=args.frame_step,
        subjects=split_subjects(args.subjects), on_bad=args.on_bad),
        inputs=[args.pose_store])


if __name__ == "__main__":
    sys.exit(main())
