"""``poseact infer``: a video, a folder of frames or a keypoint file → 3-D poses + a render.

The pipeline runs in stages, each a module with one job, driven by one :class:`~poseact.infer.options.InferOptions`:

1. **check** (:mod:`poseact.infer.options`, :func:`~poseact.infer.detectors.make_detector`): every option and
   the input, the lifter checkpoint and the detector loaded, before anything is made or detected;
2. **detect** (:mod:`poseact.infer.detectors`: MediaPipe, the multi-task model or a keypoint file behind
   one interface) and, for MediaPipe on clips, **track** (:mod:`poseact.infer.tracking`: every body,
   one subject followed by motion and appearance; frames where it cannot be told apart are lost);
3. **clean 2-D** (:mod:`poseact.infer.clean2d`: left/right swaps, jumps, joints on another person; then
   gaps filled over time, :mod:`poseact.infer.gaps`);
4. **lift** (:mod:`poseact.infer.lift3d`: layout conversion, unreliable joints, the lifter with flip TTA,
   scale and bones);
5. **write** (:mod:`poseact.infer.write`): everything into a temporary folder, moved in at the end.

Outputs in ``out_dir`` (a failure leaves nothing behind):

* ``<name>_3d.npz``: ``pose3d (T, J, 3)`` float32 metres, camera space, root-relative;
  ``trajectory (T, 3)`` metres (root in camera space) when the checkpoint has a trajectory
  model; ``keypoints_2d (T, J2, 2)`` pixels and ``confidence (T, J2)`` (the model's input
  layout, cleaned and filled); ``flagged (T,)`` bool; ``fps``, ``width``, ``height``, layouts.
* ``<name>_3d.json``: the same poses as nested lists (millimetre precision) with the metadata:
  source, checkpoint, person choice, 2-D cleaning, gap report, joint names, units.
* ``<name>.mp4`` (or ``.gif``): input 2-D beside the 3-D, unless ``render=None``.
* ``<name>_keypoints.json``: the detections, when the input was a video or a folder.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from poseact.atomic import check_writable, remove_stale_temps, temp_sibling
from poseact.errors import CheckpointError, LayoutError, MissingFileError, UsageError
from poseact.infer.clean2d import clean_stage
from poseact.infer.detectors import DETECTORS, Detector, make_detector
from poseact.infer.gaps import JOINT_THRESHOLD
from poseact.infer.lift3d import body_line, lift_stage
from poseact.infer.options import DEFAULT_HEIGHT_M, InferOptions, check_options
from poseact.infer.write import publish, write_pose, write_render, write_unlifted
from poseact.layouts import can_convert
from poseact.lifting.inference import load_lifter
from poseact.skeleton import get_skeleton

DEFAULT_FPS = 50.0  # Human3.6M's rate, what the released models saw
__all__ = ["DEFAULT_FPS", "DEFAULT_HEIGHT_M", "DETECTORS", "InferOptions", "InferResult", "run", "run_infer"]


@dataclass
class InferResult:
    npz: Path | None  # None when the pose was reported instead of lifted (too few reliable joints)
    json: Path
    render: Path | None
    frames: int
    person: str
    gaps: str
    keypoints: Path | None = None  # the detections written, for video/frame input
    body: str = ""  # the scale and bone rule applied, one line
    joints: str = ""  # the unreliable joints, one line
    photos: list["InferResult"] = field(default_factory=list)  # a folder of unrelated photos: one each
    cleaning: str = ""  # the 2-D fixes (left/right swaps, jumps), one line; empty when not cleaned


def _name_of(path: Path) -> str:
    return path.name if path.is_dir() else path.stem


def run_infer(input_path, checkpoint, out_dir=".", keypoint_layout: str | None = None,
              input_layout: str | None = None, fps: float | None = None,
              image_size: tuple[int, int] | None = None, video=None, person: str = "largest",
              clip: str | None = None, max_gap: int = 10, tta: bool = True, render: str | None = "mp4",
              render_limit: int | None = None, render_height: int | None = None, view_turn: float | None = None,
              detector: str | None = None, keypoint_checkpoint=None, keypoint_config=None, crop: str = "centre",
              box: tuple[float, ...] | None = None, min_confidence: float | None = None,
              height: float | None = DEFAULT_HEIGHT_M, constant_bones: bool | None = None,
              joint_threshold: float = JOINT_THRESHOLD, photos: bool | None = None,
              track_rule: str | None = "main", clean: bool = True, upright: bool = True) -> InferResult:
    """Run the whole pipeline; see the module docstring for the outputs.

    ``keypoint_layout`` checks the keypoint file's layout; ``input_layout`` overrides the 2-D
    layout a ``.bin`` checkpoint takes; ``image_size = (width, height)`` for keypoint files
    that do not record it; ``video`` draws the render over that video's frames.

    Video/frame input only: ``detector`` ``"mediapipe"`` (default) or ``"multitask"`` (implied by
    ``keypoint_checkpoint``, a ``poseact fit`` multi-task ``.ckpt``; ``keypoint_config`` its
    config when the run folder is gone); ``crop`` (``"centre"`` / ``"full"``) or ``box = (x0, y0,
    side)`` pixels choose the square the multi-task model sees, ``min_confidence`` its no-person
    threshold (see :mod:`poseact.infer.multitask_keypoints`).

    Scale and bones (:mod:`poseact.bones`): ``height`` metres (default an average adult's,
    1.70 m) rescales pose and trajectory by the documented stature rule; ``None`` keeps the model's
    own scale. ``constant_bones`` gives each bone its clip median length (default: on when the input
    has more than one frame); the JSON reports each bone's median length and frame-to-frame spread.

    Inputs: a video or GIF (a clip), one photo (lifted as one frame, rendered as ``.png``), a folder
    of a clip's frames, or a folder of unrelated photos (``photos``; default: when its images differ
    in size), each lifted on its own at its own size (``InferResult.photos``). Joints below
    ``joint_threshold`` confidence or outside the image are unreliable: listed in the JSON and the
    summary; a frame with fewer than :data:`MIN_RELIABLE_FRACTION` reliable joints is flagged, and a
    photo's pose is then reported instead of lifted.

    ``track_rule`` (MediaPipe on clips): one subject through the clip (:mod:`poseact.infer.tracking`) —
    ``"main"`` (default), ``"longest"``, ``"largest"``, ``"confident"`` or a track id; ``box = (x0, y0, w, h)`` px names the subject instead (any detector); ``None`` / ``"none"``:
    whole frames. ``upright`` (default on): lift each clip as a camera rolled to the body's upright
    would see it and turn the 3-D back (:func:`poseact.lifting.inference.lift`).
    """
    return run(InferOptions(
        input_path, checkpoint, out_dir, keypoint_layout=keypoint_layout, input_layout=input_layout, fps=fps,
        image_size=image_size, video=video, person=person, clip=clip, max_gap=max_gap, tta=tta, render=render,
        render_limit=render_limit, render_height=render_height, view_turn=view_turn, detector=detector,
        keypoint_checkpoint=keypoint_checkpoint, keypoint_config=keypoint_config, crop=crop, box=box,
        min_confidence=min_confidence, height=height, constant_bones=constant_bones,
        joint_threshold=joint_threshold, photos=photos, track_rule=track_rule, clean=clean, upright=upright))


def run(o: InferOptions) -> InferResult:
    """Run the stages (module docstring) for the options ``o``."""
    # 1. check: the options, the input, the lifter and the detector, before anything is made
    check_options(o)
    from poseact.viz.video import image_sizes, is_image, is_video, video_info

    src = Path(o.input_path)
    if not src.exists():
        raise MissingFileError(f"input {str(src)!r} not found")
    if src.is_dir() and o.photos is not False:
        sizes = image_sizes(src)
        if o.photos or len({(w, h) for _, w, h in sizes}) > 1:
            return _run_photos(src, sizes, o)
    out = Path(o.out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a file; give a folder for the outputs")
    name = _name_of(src)
    check_writable(out / f"{name}_3d.npz", "--out")
    single_image = is_image(src)
    is_frames = src.is_dir() or is_video(src) or single_image
    render = "png" if single_image and o.render == "mp4" else o.render  # one frame
    detector: Detector = make_detector(src, is_frames, o.detector, o.keypoint_layout, o.keypoint_checkpoint,
                                       o.keypoint_config, o.crop, o.box, o.min_confidence, o.track_rule)
    lifter = load_lifter(o.checkpoint, o.input_layout)  # fail on a bad checkpoint before detecting
    if is_frames:
        video_info(src)  # an undecodable video fails here, naming the file, before anything is made
    detector.prepare(src, lifter.layout_2d, lifter.source)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    tmp = temp_sibling(out / name)  # removed below, or by the next run if this one is killed
    tmp.mkdir()
    moved: dict[str, Path] = {}
    try:
        # 2. detect (and track): the subject's 2-D keypoints
        keypoint_file = detector.detect(src, tmp / f"{name}_keypoints.json")
        found = detector.read(keypoint_file, src, o.person, o.keypoint_layout if not is_frames else None, o.clip)
        track = found.track
        frames_source = Path(o.video) if o.video is not None else src if is_frames else None
        width, height_px = o.image_size or (track.width, track.height)
        fps = o.fps
        if frames_source is not None and (width is None or height_px is None or not (fps or track.fps)):
            info = video_info(frames_source)
            if width is None or height_px is None:
                width, height_px = info["width"], info["height"]
            fps = fps or track.fps or info["fps"]
        if width is None or height_px is None:
            raise LayoutError(f"keypoint file {str(src)!r}: does not record the frame size; "
                              f"pass --image-size W H or --video")
        width, height_px = int(width), int(height_px)
        fps = float(fps or track.fps or DEFAULT_FPS)
        where = f"keypoint file {str(src)!r}" if detector.name is None else f"{str(src)!r} ({detector.name} keypoints)"
        if not can_convert(track.layout, lifter.layout_2d):
            raise CheckpointError(
                f"checkpoint {lifter.source!r} takes {get_skeleton(lifter.layout_2d).num_joints} joints "
                f"({lifter.layout_2d}), but {where} holds {track.keypoints.shape[1]} ({track.layout}) and "
                f"there is no conversion between them")
        # 3. clean the 2-D: swaps, jumps, then gaps filled
        clean = clean_stage(track.keypoints, track.confidence, track.layout, found.flagged, found.others,
                            o.max_gap, o.clean, where)
        # 4. lift
        lifted = lift_stage(lifter, clean.keypoints, clean.confidence, track.layout, clean.flagged, width,
                            height_px, where, o.tta, o.height, o.constant_bones, o.joint_threshold, single_image,
                            o.upright)
        if lifted.pose is None:  # a photo with too few reliable joints: reported, not lifted
            reason = write_unlifted(tmp, src, name, lifted.joints, track.person)
            moved = publish(tmp, out)
            return InferResult(None, moved[f"{name}_3d.json"], None, 1, track.person, "",
                               moved.get(f"{name}_keypoints.json"), reason, lifted.joints["summary"])
        # 5. write
        cleaning = clean.cleaning
        meta = {
            "source": str(src),
            "keypoints": str(src if detector.name is None else out / keypoint_file.name),
            "detector": detector.name,
            "keypoint_checkpoint": str(o.keypoint_checkpoint) if detector.name == "multitask" else None,
            "checkpoint": str(o.checkpoint), "person": track.person, "gaps": clean.gaps.as_dict(),
            "keypoint_layout": track.layout, "layout_2d": lifter.layout_2d, "layout_3d": lifter.layout_3d,
            "joint_names": list(get_skeleton(lifter.layout_3d).joint_names),
            "units": "m", "space": "camera (x right, y down, z forward), root-relative (joint 0 = 0)",
            "trajectory": "root position in camera space, m" if lifted.trajectory is not None else None,
            "fps": fps, "width": width, "height": height_px, "frames": int(len(lifted.pose)),
            "flip_tta": o.tta, "body": lifted.body, "joints": lifted.joints,
            "cleaning": {**cleaning.as_dict(), "summary": cleaning.summary()} if cleaning is not None else None,
        }
        write_pose(tmp, name, meta, lifted, fps, width, height_px, lifter.layout_2d, lifter.layout_3d)
        render_name = None
        if render is not None:
            render_name = write_render(tmp, name, render, lifted, lifter.layout_2d, lifter.layout_3d,
                                       (width, height_px), fps, frames_source, o.render_height, o.view_turn,
                                       o.render_limit)
        moved = publish(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if created and not moved and out.exists() and not any(out.iterdir()):
            out.rmdir()
    frames = len(lifted.pose)
    return InferResult(moved[f"{name}_3d.npz"], moved[f"{name}_3d.json"],
                       moved.get(render_name) if render_name else None, frames, track.person,
                       clean.gaps.summary(), moved.get(keypoint_file.name) if detector.name is not None else None,
                       body_line(lifted.body, frames), lifted.joints["summary"],
                       cleaning=cleaning.summary() if cleaning is not None else "")


def _run_photos(folder: Path, sizes: list[tuple[str, int, int]], options: InferOptions) -> InferResult:
    """A folder of unrelated photos: each lifted as one frame at its own size. Photos whose names
    differ only in their suffix are linked under their full names (``a.jpg`` → ``a.jpg_3d.json``) so
    no output overwrites another; if one photo fails, the outputs of those before it are removed."""
    import tempfile

    stems = [Path(n).stem for n, _, _ in sizes]
    results: list[InferResult] = []
    with tempfile.TemporaryDirectory(prefix="poseact-photos-") as links:
        try:
            for (file_name, _, _), stem in zip(sizes, stems):
                source = folder / file_name
                if stems.count(stem) > 1:  # a.jpg and a.png: name the outputs by the full file name
                    source = Path(links) / f"{file_name}{Path(file_name).suffix}"
                    source.symlink_to((folder / file_name).absolute())
                results.append(run(options.replace(input_path=source, photos=None, video=None)))
        except BaseException:
            for r in results:
                for p in (r.npz, r.json, r.render, r.keypoints):
                    if p is not None:
                        Path(p).unlink(missing_ok=True)
            raise
    lifted = sum(r.npz is not None for r in results)
    summary = (f"{len(results)} photos of {len({(w, h) for _, w, h in sizes})} sizes, each lifted as one frame "
               f"at its own size: {lifted} lifted, {len(results) - lifted} reported (too few reliable joints)")
    first = results[0]
    return InferResult(first.npz, first.json, first.render, len(results), summary, "", None, "", "",
                       photos=results)
