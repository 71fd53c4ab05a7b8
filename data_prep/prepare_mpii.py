#!/usr/bin/env python
"""Convert MPII Human Pose (the official annotation file + images) into a store (see data_prep/README.md).

    python data_prep/prepare_mpii.py --annotations data/mpii/mpii_human_pose_v1_u12_1.mat \\
        --images data/mpii/images --out data/mpii/mpii.h5

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
        prog="prepare_mpii.py",
        description="MPII Human Pose (mpii_human_pose_v1_u12_1.mat + images/) -> poseact HDF5 store: one "
                    "single-frame clip per annotated person, images referenced, boxes and head sizes.")
    parser.add_argument("--annotations", type=Path, required=True, help="mpii_human_pose_v1_u12_1.mat")
    parser.add_argument("--images", type=Path, default=None,
                        help="folder of the JPEGs (default: images/ beside the .mat file)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output store (default: mpii.h5 beside the .mat file; image paths are stored "
                             "relative to it, so keep the images where they are relative to the store)")
    parser.add_argument("--val-images", type=Path, default=None,
                        help="text file, one image name per line: their people form subject 'val' (else 'train')")
    parser.add_argument("--single-person", action="store_true",
                        help="keep only the people listed in single_person (isolated people)")
    parser.add_argument("--actions", choices=["none", "category", "activity"], default="none",
                        help="action labels of the clips: none (default: no label), MPII's activity category, "
                             "or its activity name")
    add_image_options(parser, "mpii16", left_right=False)
    args = parser.parse_args(argv)
    out = args.out or args.annotations.with_name("mpii.h5")

    import poseact.convert as converters  # the converter is imported inside the error boundary

    def convert():
        val = None
        if args.val_images is not None:
            val = [line.strip() for line in args.val_images.read_text().splitlines() if line.strip()]
        return converters.convert_mpii(args.annotations, out, images=args.images, layout=args.layout, val_images=val,
                            single_person=args.single_person, actions=args.actions, on_bad=args.on_bad)

    return convert_and_describe(parser.prog, out, convert)


if __name__ == "__main__":
    sys.exit(main())
