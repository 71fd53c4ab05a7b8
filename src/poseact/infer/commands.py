"""Argument parsing and dispatch of ``poseact infer``, ``poseact detect`` and ``poseact render``.

Kept beside the code they drive so ``cli.py`` only registers them; nothing heavy is imported
until a command runs.
"""

from __future__ import annotations

import argparse
import sys
import time

COMMANDS = ("infer", "detect", "render")


def add_parsers(sub) -> None:
    """Register the three subcommands on ``poseact``'s subparsers."""
    i = sub.add_parser("infer", help="3-D poses from a video, a folder of frames or a 2-D keypoint file",
                       description="INPUT: a video (.mp4, ...), a folder of images (both run MediaPipe, see "
                                   "`poseact detect setup`), or a keypoint file: COCO-17 / Halpe-26 / "
                                   "MediaPipe-33 JSON or VideoPose3D data_2d_custom .npz.")
    i.add_argument("input")
    i.add_argument("--checkpoint", required=True, help="poseact .ckpt or VideoPose3D .bin")
    i.add_argument("--out", default="infer_out", help="output folder (default: infer_out)")
    i.add_argument("--keypoints", default=None, choices=("coco17", "halpe26", "mediapipe33"),
                   help="check the keypoint file's layout (default: from the joint count)")
    i.add_argument("--input-layout", default=None, help="2-D layout a .bin checkpoint takes "
                   "(default: coco17 if 'coco' is in its name, else h36m17)")
    i.add_argument("--fps", type=float, default=None, help="frame rate (default: from the file/video, else 50)")
    i.add_argument("--image-size", type=int, nargs=2, metavar=("W", "H"), default=None,
                   help="frame size in pixels, for keypoint files that do not record it")
    i.add_argument("--video", default=None, help="draw the render over this video's frames")
    i.add_argument("--person", default="largest", choices=("largest", "confident"),
                   help="which person when several are detected (track ids win when present)")
    i.add_argument("--clip", default=None, help="video name inside a data_2d_custom npz")
    i.add_argument("--max-gap", type=int, default=10, help="longest gap (frames) interpolated without a flag")
    i.add_argument("--no-tta", action="store_true", help="no flip test-time augmentation")
    i.add_argument("--render", default="mp4", choices=("mp4", "gif", "none"))
    i.add_argument("--limit", type=int, default=None, help="render only the first N frames")
    d = sub.add_parser("detect", help="MediaPipe 2-D keypoints in their own environment",
                       description="`poseact detect setup` creates the MediaPipe environment "
                                   "($POSEACT_MEDIAPIPE_ENV, else ~/.cache/poseact/venv-mediapipe); "
                                   "`poseact detect VIDEO|FRAMES --out K.json` writes MediaPipe-33 keypoints.")
    d.add_argument("input", help="'setup', a video, or a folder of images")
    d.add_argument("--out", default=None, help="keypoint JSON (default: INPUT stem + _keypoints.json)")
    d.add_argument("--env", default=None, help="environment folder")
    d.add_argument("--python", default=None, help="interpreter for the environment (setup; needs 3.9-3.12)")
    r = sub.add_parser("render", help="render a store sequence: input 2-D, prediction, ground truth")
    r.add_argument("config")
    r.add_argument("overrides", nargs="*", help="key=value overrides (checkpoint=... picks the model)")
    r.add_argument("--subject", required=True)
    r.add_argument("--take", required=True, help='sequence name, e.g. "Walking 1"')
    r.add_argument("--camera", required=True, help="camera name, e.g. 54138969")
    r.add_argument("--out", default=None, help=".mp4 or .gif (default OUTPUT_DIR/renders/...mp4)")
    r.add_argument("--size", type=float, default=3.0, help="panel size in inches (80 dpi)")
    r.add_argument("--fps", type=float, default=None)
    r.add_argument("--azimuth", type=float, default=None, help="view azimuth (default: the camera's)")
    r.add_argument("--limit", type=int, default=None, help="first N frames only")
    r.add_argument("--no-tta", action="store_true")


def run(args: argparse.Namespace) -> int:
    """Run one of :data:`COMMANDS`; known failures print one line naming the file and return 2."""
    from poseact.config import ConfigError
    from poseact.data.store import StoreError
    from poseact.infer.detect import DetectionError
    from poseact.infer.formats import KeypointFileError
    from poseact.infer.gaps import NoPersonError
    from poseact.infer.layouts import LayoutError
    from poseact.infer.lifter import CheckpointMismatch
    from poseact.models.compat import CheckpointError
    from poseact.viz.video import VideoError

    known = (DetectionError, KeypointFileError, NoPersonError, LayoutError, CheckpointMismatch,
             CheckpointError, VideoError, ConfigError, StoreError, FileNotFoundError, KeyError)
    try:
        if args.command == "infer":
            return _infer(args)
        if args.command == "detect":
            return _detect(args)
        return _render(args)
    except known as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"poseact: error: {msg}", file=sys.stderr)
        return 2


def _infer(args) -> int:
    from poseact.infer.pipeline import run_infer

    t0 = time.perf_counter()
    res = run_infer(args.input, args.checkpoint, args.out, keypoint_layout=args.keypoints,
                    input_layout=args.input_layout, fps=args.fps,
                    image_size=tuple(args.image_size) if args.image_size else None, video=args.video,
                    person=args.person, clip=args.clip, max_gap=args.max_gap, tta=not args.no_tta,
                    render=None if args.render == "none" else args.render, render_limit=args.limit)
    print(f"{res.frames} frames in {time.perf_counter() - t0:.1f} s; person: {res.person}; {res.gaps}")
    for p in (res.npz, res.json, res.render):
        if p is not None:
            print(f"wrote {p}")
    return 0


def _detect(args) -> int:
    from poseact.infer.detect import MEDIAPIPE_REQUIREMENTS, detect, env_dir, setup_env

    if args.input == "setup":
        t0 = time.perf_counter()
        print(f"creating {env_dir(args.env)} with {' '.join(MEDIAPIPE_REQUIREMENTS)} ...", file=sys.stderr)
        d = setup_env(args.env, python=args.python)
        print(f"ready: {d} ({time.perf_counter() - t0:.0f} s)")
        return 0
    from pathlib import Path

    src = Path(args.input)
    out = args.out or str(src.with_name((src.name if src.is_dir() else src.stem) + "_keypoints.json"))
    print(detect(src, out, env=args.env))
    return 0


def _render(args) -> int:
    from pathlib import Path

    from poseact.config import load_config
    from poseact.viz.sequence import render_sequence

    cfg = load_config(args.config, args.overrides)
    out = args.out or str(Path(cfg.output_dir) / "renders" /
                          f"{args.subject}_{args.take.replace(' ', '_')}_{args.camera}.mp4")
    print(render_sequence(cfg, args.subject, args.take, args.camera, out, size=args.size, fps=args.fps,
                          azimuth=args.azimuth, limit=args.limit, tta=not args.no_tta))
    return 0
