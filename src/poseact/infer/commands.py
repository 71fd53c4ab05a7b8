"""Argument parsing and dispatch of ``poseact infer``, ``poseact detect`` and ``poseact render``.

Kept beside the code they drive so ``cli.py`` only registers them; nothing heavy is imported
until a command runs.
"""

from __future__ import annotations

import argparse
import sys
import time

from poseact.argtypes import finite_float, non_negative_int, positive_float, positive_int, unit_interval
from poseact.bones import DEFAULT_HEIGHT_M
from poseact.infer.gaps import JOINT_THRESHOLD

COMMANDS = ("infer", "detect", "render")
DETECTORS = ("mediapipe", "multitask")
KEYPOINT_LAYOUTS = ("coco17", "halpe26", "mediapipe33", "h36m17", "mpii16")
KEYPOINT_CHOICES = DETECTORS + KEYPOINT_LAYOUTS


def _crop_args(p: argparse.ArgumentParser) -> None:
    """Options of the multi-task detector (see ``poseact.infer.multitask_keypoints``)."""
    p.add_argument("--crop", default="centre", choices=("centre", "full"),
                   help="multitask: the square the model sees when no --box is given: the largest centred "
                        "square (default) or the whole frame padded to a square")
    p.add_argument("--box", type=finite_float, nargs="+", default=None, metavar="X0 Y0 W H",
                   help="the subject: the person whose hips lie in this box (pixels; 4 numbers: x0 y0 width "
                        "height) where first seen, followed from there (mediapipe); multitask: the square crop "
                        "around it (or 3 numbers X0 Y0 SIDE: that square)")
    p.add_argument("--min-confidence", type=unit_interval, default=None,
                   help="multitask: frames whose mean joint confidence is below this hold no person "
                        "(default 0.2)")


def box_option(box: list[float] | None) -> tuple[float, ...] | None:
    """``--box``: 4 numbers (x0 y0 w h) or 3 (x0 y0 side, a square); checked where it is used
    (``options.check_box``, by ``check_options`` and ``make_detector``)."""
    return None if box is None else tuple(box)


def add_parsers(sub) -> None:
    """Register the three subcommands on ``poseact``'s subparsers."""
    i = sub.add_parser("infer", help="3-D poses from a video, a folder of frames or a 2-D keypoint file",
                       description="INPUT: a video (.mp4, ...) or a folder of images — 2-D keypoints from "
                                   "MediaPipe (default; `poseact detect setup` once) or from poseact's multi-task "
                                   "model (--keypoint-checkpoint CKPT) — or a keypoint file: COCO-17 / Halpe-26 / "
                                   "MediaPipe-33 JSON, poseact keypoint JSON, or VideoPose3D data_2d_custom .npz.")
    i.add_argument("input")
    i.add_argument("--checkpoint", required=True, help="poseact .ckpt or VideoPose3D .bin")
    i.add_argument("--out", default="infer_out", help="output folder (default: infer_out)")
    i.add_argument("--keypoints", default=None, choices=KEYPOINT_CHOICES, metavar="SOURCE|LAYOUT",
                   help="video/frames: the 2-D detector, mediapipe (default) or multitask (poseact's "
                        "multi-task model, needs --keypoint-checkpoint); keypoint file: check its layout, "
                        f"one of {', '.join(KEYPOINT_LAYOUTS)} (default: from the file)")
    i.add_argument("--keypoint-checkpoint", default=None, metavar="CKPT",
                   help="multi-task .ckpt (`poseact fit configs/experiment/multitask_*.yaml`) that finds the "
                        "2-D keypoints; implies --keypoints multitask")
    i.add_argument("--keypoint-config", default=None, metavar="YAML",
                   help="the multi-task model's experiment YAML or run config.yaml (default: the run's "
                        "config.yaml beside the checkpoint)")
    _crop_args(i)
    i.add_argument("--input-layout", default=None, help="2-D layout a .bin checkpoint takes "
                   "(default: coco17 if 'coco' is in its name, else h36m17)")
    i.add_argument("--fps", type=positive_float, default=None, help="frame rate (default: from the file/video, else 50)")
    i.add_argument("--image-size", type=positive_int, nargs=2, metavar=("W", "H"), default=None,
                   help="frame size in pixels, for keypoint files that do not record it")
    i.add_argument("--video", default=None, help="draw the render over this video's frames")
    i.add_argument("--person", default="largest", choices=("largest", "confident"),
                   help="which person when several are detected (track ids win when present)")
    i.add_argument("--clip", default=None, help="video name inside a data_2d_custom npz")
    i.add_argument("--max-gap", type=non_negative_int, default=10, help="longest gap (frames) interpolated without a flag")
    i.add_argument("--no-tta", action="store_true", help="no flip test-time augmentation")
    i.add_argument("--upright", action=argparse.BooleanOptionalAction, default=True,
                   help="lift the clip as a camera rolled so the body stands upright would see it, then turn the 3-D "
                        "back (exact for a centred pinhole camera; default: on — tilted phones and leaning bodies)")
    i.add_argument("--height", type=positive_float, default=DEFAULT_HEIGHT_M,
                   help=f"the subject's stature in metres: the output's scale (default {DEFAULT_HEIGHT_M}, "
                        f"an average adult)")
    i.add_argument("--model-scale", action="store_true", help="keep the lifter's own scale (ignore --height)")
    i.add_argument("--track", default="main", metavar="RULE|ID|none",
                   help="videos/GIFs with MediaPipe: follow one subject by the body: 'main' (default: the most "
                        "body over the clip, seen long and large), 'longest', 'largest', 'confident', a track id "
                        "(listed in the keypoint JSON), or 'none' (whole frames); --box names the subject instead")
    i.add_argument("--clean-2d", action=argparse.BooleanOptionalAction, default=True,
                   help="fix the detector's left/right swaps and remove joint jumps before lifting (default: on; "
                        "counted in the summary and the JSON's 'cleaning')")
    i.add_argument("--joint-threshold", type=unit_interval, default=JOINT_THRESHOLD,
                   help=f"joints below this confidence (or outside the image) are unreliable (default {JOINT_THRESHOLD})")
    i.add_argument("--photos", action=argparse.BooleanOptionalAction, default=None,
                   help="a folder holds unrelated photos, each lifted on its own (default: when their sizes differ)")
    i.add_argument("--constant-bones", action=argparse.BooleanOptionalAction, default=None,
                   help="one length per bone over the clip (default: on for more than one frame)")
    i.add_argument("--render", default="mp4", choices=("mp4", "gif", "none"))
    i.add_argument("--limit", type=positive_int, default=None, help="render only the first N frames")
    i.add_argument("--render-height", type=positive_int, default=None, metavar="PX",
                   help="render height in pixels (default: the input's, divided by a whole factor to at most 720)")
    d = sub.add_parser("detect", help="2-D keypoints only: MediaPipe (own environment) or the multi-task model",
                       description="`poseact detect setup` creates the MediaPipe environment "
                                   "($POSEACT_MEDIAPIPE_ENV, else ~/.cache/poseact/venv-mediapipe); "
                                   "`poseact detect VIDEO|FRAMES --out K.json` writes MediaPipe-33 keypoints, "
                                   "or with --keypoint-checkpoint CKPT those of poseact's multi-task model.")
    d.add_argument("input", help="'setup', a video, or a folder of images")
    d.add_argument("--out", default=None, help="keypoint JSON (default: INPUT stem + _keypoints.json)")
    d.add_argument("--env", default=None, help="environment folder")
    d.add_argument("--python", default=None, help="interpreter for the environment (setup; needs 3.9-3.12)")
    d.add_argument("--track", default="main", metavar="RULE|ID|none",
                   help="videos/GIFs: follow one subject (as poseact infer --track); 'none': whole frames")
    d.add_argument("--keypoints", default=None, choices=DETECTORS,
                   help="detector: mediapipe (default) or multitask (needs --keypoint-checkpoint)")
    d.add_argument("--keypoint-checkpoint", default=None, metavar="CKPT",
                   help="multi-task .ckpt; implies --keypoints multitask")
    d.add_argument("--keypoint-config", default=None, metavar="YAML", help="its experiment YAML / run config.yaml")
    _crop_args(d)
    r = sub.add_parser("render", help="render a store sequence: input 2-D, prediction, ground truth")
    r.add_argument("config")
    r.add_argument("overrides", nargs="*", help="key=value overrides (checkpoint=... picks the model)")
    r.add_argument("--subject", required=True)
    r.add_argument("--take", required=True, help='sequence name, e.g. "Walking 1"')
    r.add_argument("--camera", required=True, help="camera name, e.g. 54138969")
    r.add_argument("--out", default=None, help=".mp4 or .gif (default OUTPUT_DIR/renders/...mp4)")
    r.add_argument("--size", type=positive_int, default=None, metavar="PX",
                   help="output height in pixels (default: the input's, divided by a whole factor to at most 720)")
    r.add_argument("--fps", type=positive_float, default=None)
    r.add_argument("--view-turn", type=finite_float, default=None, metavar="DEG",
                   help="turn the 3-D view about the vertical from the camera's viewpoint (default 20; 0 = as the camera sees it)")
    r.add_argument("--limit", type=positive_int, default=None, help="first N frames only")
    r.add_argument("--no-tta", action="store_true")


def run(args: argparse.Namespace) -> int:
    """Run one of :data:`COMMANDS` (user errors reach ``poseact.cli.main``'s error boundary)."""
    if args.command == "infer":
        return _infer(args)
    if args.command == "detect":
        return _detect(args)
    return _render(args)


def _infer(args) -> int:
    from poseact.infer.options import InferOptions
    from poseact.infer.pipeline import run

    t0 = time.perf_counter()
    detector = args.keypoints if args.keypoints in DETECTORS else None
    layout = args.keypoints if args.keypoints in KEYPOINT_LAYOUTS else None
    res = run(InferOptions(
        args.input, args.checkpoint, args.out, keypoint_layout=layout, detector=detector,
        keypoint_checkpoint=args.keypoint_checkpoint, keypoint_config=args.keypoint_config, crop=args.crop,
        box=box_option(args.box), min_confidence=args.min_confidence, input_layout=args.input_layout, fps=args.fps,
        image_size=tuple(args.image_size) if args.image_size else None, video=args.video, person=args.person,
        clip=args.clip, max_gap=args.max_gap, tta=not args.no_tta, render=None if args.render == "none" else args.render,
        render_limit=args.limit, render_height=args.render_height, height=None if args.model_scale else args.height,
        constant_bones=args.constant_bones, joint_threshold=args.joint_threshold, photos=args.photos,
        track_rule=args.track, clean=args.clean_2d, upright=args.upright))
    for one in res.photos or [res]:
        print(f"{one.json.name.removesuffix('_3d.json')}: {one.frames} frame{'s' if one.frames != 1 else ''}")
        if one.npz is None:
            print(f"  {one.body}")
        else:
            for label, text in (("person", one.person), ("2-D fixes", one.cleaning), ("2-D gaps", one.gaps),
                                ("joints", one.joints), ("scale", one.body)):
                if text:
                    print(f"  {label + ':':11s}{text}")
        for p in (one.keypoints, one.npz, one.json, one.render):
            if p is not None:
                print(f"  wrote {p}")
    print(f"{res.person + '; ' if res.photos else ''}done in {time.perf_counter() - t0:.1f} s")
    return 0


def _detect(args) -> int:
    from poseact.infer.detect import MEDIAPIPE_REQUIREMENTS, env_dir, env_state, setup_env

    if args.input == "setup":
        t0 = time.perf_counter()
        state = env_state(args.env)
        if state == "ready":
            print(f"ready: {env_dir(args.env)} (already set up: {' '.join(MEDIAPIPE_REQUIREMENTS)})")
            return 0
        doing = "creating" if state == "missing" else "updating"
        print(f"{doing} {env_dir(args.env)} with {' '.join(MEDIAPIPE_REQUIREMENTS)} ...", file=sys.stderr)
        d = setup_env(args.env, python=args.python)
        print(f"ready: {d} ({time.perf_counter() - t0:.0f} s)")
        return 0
    from pathlib import Path

    from poseact.errors import MissingFileError
    from poseact.infer.detectors import make_detector

    src = Path(args.input)
    out = args.out or str(src.with_name((src.name if src.is_dir() else src.stem) + "_keypoints.json"))
    if not src.exists():
        raise MissingFileError(f"input {args.input!r} not found")
    detector = make_detector(src, True, args.keypoints, None, args.keypoint_checkpoint, args.keypoint_config,
                             args.crop, box_option(args.box), args.min_confidence,
                             None if args.track == "none" else args.track, env=args.env)
    detector.prepare(src, None)
    print(detector.detect(src, Path(out)))
    return 0


def _render(args) -> int:

    from poseact.atomic import check_writable
    from poseact.infer.sequence import render_sequence
    from poseact.run.commands import evaluation_config
    from poseact.run.folder import RunFolder

    cfg = evaluation_config(args.config, args.overrides, stage="render")  # the run's own settings, as test
    out = args.out or str(RunFolder(cfg.output_dir).renders /
                          f"{args.subject}_{args.take.replace(' ', '_')}_{args.camera}.mp4")
    check_writable(out, "--out")
    print(render_sequence(cfg, args.subject, args.take, args.camera, out, height=args.size, fps=args.fps,
                          view_turn=args.view_turn, limit=args.limit, tta=not args.no_tta))
    return 0
