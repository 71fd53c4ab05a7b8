"""Real-video accuracy: a lifter on real footage, against a pseudo-ground truth triangulated from four calibrated views.

    python benchmarks/real_video.py --checkpoint outputs/demo/checkpoints/last.ckpt \\
        [--recording Demo_Batch/Trial_1 --recording Demo_Batch/Trial_2] [--source video|keypoints|none] \\
        [--subject box|main|both] [--view cam03] [--cache outputs/real_video] [--json CACHE/results.json]

``--recording`` also takes a folder in Pose2Sim's layout (``videos/`` in it, ``calibration/`` in it or in its
parent; :func:`open_recording`), e.g. ``data/pose2sim/Demo_MultiPerson``; an empty ``--cache`` folder rebuilds
everything (MediaPipe included) as a fresh machine does.

From Python (e.g. to choose a checkpoint on one recording and report on another)::

    sys.path.insert(0, "benchmarks"); from real_video import evaluate
    r = evaluate("outputs/wild/checkpoints/last.ckpt", "Demo_Batch/Trial_1", source="keypoints")
    r["summary"]["clean"]["p_mpjpe_mm"], r["summary"]["detector"]["p_mpjpe_mm"], r["summary"]["static"]["p_mpjpe_mm"]

**Recordings.** ``pose2sim``'s development recordings (``data_prep/fetch_pose2sim.py``, BSD-3): a
man moving on a treadmill platform filmed by 4 portrait phone-style cameras (1088 × 1920, 60 fps,
100 frames, Qualisys calibration). ``Demo_Batch/Trial_2`` is the same footage with a second person
(a woman) composited in; ``Demo_MultiPerson``'s videos are Trial_2's (an alias here).

**Pseudo-ground truth** (:func:`pseudo_ground_truth`). MediaPipe-33 keypoints from
``poseact detect VIDEO --track none`` in every view (:data:`DETECT_OPTIONS`, pinned; cached in
``outputs/real_video/detections``), then
(:mod:`poseact.geometry.triangulate`): the views' frame offsets (the cameras are a few frames apart)
by reprojection error within ±:data:`MAX_OFFSET` frames (the window doubled, up to 4x, where an offset lands
on its edge: Trial_2's cam03 started 25 frames before cam01); per frame, the views that agree on one
person (the largest set of views whose joint triangulation reprojects within :data:`AGREE_PX`;
a view whose detector followed someone else is left out for that frame) and each view's
left/right labels as given or mirrored, whichever the views agree on; then a confidence-weighted
DLT of all 33 landmarks. H36M-17 joints are derived from the 3-D landmarks exactly as poseact
derives them from MediaPipe 2-D (:mod:`poseact.layouts`: pelvis = mid-hips, thorax = mid-shoulders,
spine = their middle, "neck" = the nose, head = mid-eyes, the limbs' joints as MediaPipe places
them). So the pseudo-ground truth has the *detector's* joint semantics, not a motion-capture
skeleton's: MediaPipe's hip points, its shoulders (on the skin, not the joint centres), the nose
as H36M's neck. Its own error is reported as the reprojection error in each view (px, and mm at the
subject's distance): a floor under which no comparison against it is meaningful.

**What is compared, per view, in that camera's frame** (root-relative, metres → mm), over the
frames where every evaluated joint of the pseudo-ground truth is valid:

* ``detector``: ``poseact infer`` on the view's video (``--source video``; the real pipeline:
  detection, tracking, gap filling, lifting; told whom to follow with ``--box`` around the pseudo-ground
  truth's projected hips at its first valid frame, :func:`subject_box`, so it measures the person the
  pseudo-ground truth is of — ``--subject main`` leaves infer's default ``--track main``, ``both`` adds it
  where it follows someone else; :func:`who_was_posed` counts the frames posed on the subject, flagged,
  and lifted from someone else) or on its cached ``poseact detect`` keypoints
  (``--source keypoints``: the same 2-D, no second MediaPipe run), with ``--model-scale
  --no-constant-bones``: the RAW lifter. ``detector_default`` applies ``poseact infer``'s default
  body rules (``--height 1.70``, one length per bone) to that same output, as infer does;
* ``clean``: the lifter (:func:`poseact.lift`, flip TTA, raw) on CLEAN 2-D: the pseudo-ground
  truth's MediaPipe landmarks projected into the view (distortion included; correctly labelled,
  the same joint semantics as the detector's). The gap between ``clean`` and ``detector`` is the
  detector's; ``clean`` itself is the lifter's;
* ``detector_on_subject``: ``detector`` on only the frames where the view's detection agreed
  with the other views (its detector followed the subject, not someone else), when that is fewer;
* ``static``: the clip's mean pseudo-ground-truth pose in this camera (root-relative, averaged
  over the evaluated frames), repeated for every frame. An oracle that knows the subject's size,
  proportions and average orientation in this camera, and nothing of the motion: a lifter should
  beat it. Root-relative distances do not change under a rotation, so its MPJPE / P-MPJPE are
  the same in every view.

Metrics: ``mpjpe_mm`` (root-relative), ``p_mpjpe_mm`` (per-frame similarity Procrustes),
``n_mpjpe_mm`` (per-frame least-squares scale), on :data:`EVAL_JOINTS` (all 17) and P-MPJPE on
:data:`BODY_JOINTS` (15: without the face points "neck" and "head", whose meaning differs most
between training sets and MediaPipe); ``bone_ratio`` (per bone: median predicted length / the
pseudo-ground truth's median, then averaged), ``bone_spread_cm`` (per bone standard deviation over
frames, mean over bones; ``largest`` the worst bone), ``per_joint_p_mpjpe_mm`` (after the per-frame
Procrustes alignment), ``stature_m`` (:func:`poseact.bones.stature`,
median over frames; the pseudo-ground truth's beside it).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from poseact.geometry.calibration import Camera, read_calibration  # noqa: E402
from poseact.geometry.triangulate import (  # noqa: E402
    align_views,
    estimate_offsets,
    reprojection_errors,
    resolve_views,
    triangulate,
)

DATA = REPO / "data" / "pose2sim"
CACHE = REPO / "outputs" / "real_video"
RECORDINGS = ("Demo_Batch/Trial_1", "Demo_Batch/Trial_2")
#: recordings whose videos are another's (byte-identical)
ALIASES = {"Demo_MultiPerson": "Demo_Batch/Trial_2"}
VIEWS = ("cam01", "cam02", "cam03", "cam04")
SOURCE_LAYOUT = "mediapipe33"
#: the offset search window (frames, each way; doubled while an offset lands on its edge)
MAX_OFFSET = 10
#: a detection counts in triangulation, offsets and swaps above this confidence
MIN_CONFIDENCE = 0.5
#: views agree on a person when their joint triangulation reprojects within this (mean, px)
AGREE_PX = 40.0
#: a pseudo-ground-truth joint is valid when its 2-D sources reproject within this (mean over views, px)
VALID_PX = 30.0
#: H36M-17 joints evaluated, and the body without the face points (neck = nose, head = mid-eyes)
EVAL_JOINTS = tuple(range(17))
BODY_JOINTS = tuple(j for j in range(17) if j not in (9, 10))
#: offsets whose reprojection cost is within this of the best one's (px) are as likely: the timing's uncertainty
OFFSET_TIE_PX = 1.0
#: bump when the pseudo-ground truth's recipe changes (invalidates the cache)
RECIPE = "7"


# ------------------------------------------------------------------------------------------
# recordings and detections


#: video files a recording's ``videos/`` folder may hold
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")
#: ``poseact detect``'s options for the pseudo-ground truth's 2-D, pinned here (not infer's default, which may
#: change): whole frames, MediaPipe's most prominent person per frame. Measured against body tracking
#: (``--track main``) on Demo_Batch Trial_1 and Trial_2: see :func:`detection_file`.
DETECT_OPTIONS = ("--track", "none")


@dataclass(frozen=True)
class Recording:
    """One calibrated multi-camera recording: ``name`` (its cache key, ``/`` allowed), its ``folder``, the
    ``calibration`` file, and per view (named as the calibration names its camera) the video and the camera."""

    name: str
    folder: Path
    calibration: Path
    views: tuple[str, ...]
    videos: tuple[Path, ...]
    cameras: tuple[Camera, ...]

    def video(self, view: str) -> Path:
        return self.videos[self.views.index(view)]

    @property
    def key(self) -> str:
        """The name as one path component (cache files)."""
        return self.name.replace("/", "_")


def _offered() -> str:
    return ", ".join(RECORDINGS + tuple(ALIASES))


def open_recording(recording: str | os.PathLike, data: Path = DATA) -> Recording:
    """A recording by name (:data:`RECORDINGS`, :data:`ALIASES`: fetched if absent) or by folder, in Pose2Sim's
    layout: ``videos/*.mp4`` in the folder, ``calibration/*.qca.txt`` or ``calibration/*.toml`` in it or in its
    parent (a batch's trials share the batch's calibration). Videos are matched to the calibration's cameras by
    name (``cam01.mp4`` ↔ ``cam01``), else, as many as there are cameras, in sorted order (Pose2Sim's rule).
    A folder that is not a calibrated recording: :class:`~poseact.errors.CalibrationError`, one line."""
    from poseact.errors import CalibrationError, MissingFileError

    text = str(recording)
    if text in RECORDINGS or text in ALIASES:
        name = ALIASES.get(text, text)
        spec = importlib.util.spec_from_file_location("fetch_pose2sim", REPO / "data_prep" / "fetch_pose2sim.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        folder = Path(module.fetch(data, [name])[name]).resolve()
    else:
        folder = Path(recording).expanduser()
        if not folder.is_dir():
            raise MissingFileError(f"recording {text!r}: no such folder, and not one of the named recordings "
                                   f"({_offered()})")
        folder = folder.resolve()
        try:
            name = folder.relative_to(Path(data).resolve()).as_posix()
        except ValueError:  # outside the data folder: its name and where it is
            name = f"{folder.name}-{hashlib.sha256(str(folder).encode()).hexdigest()[:8]}"
    calibration = _calibration_file(folder)
    cams = read_calibration(calibration)
    vdir = folder / "videos"
    videos = sorted(p for p in vdir.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES) if vdir.is_dir() else []
    if not videos:
        raise CalibrationError(f"{folder}: not a calibrated recording: no videos/*.mp4 in it (Pose2Sim's layout: "
                               f"videos/ and calibration/)")
    by_stem = {p.stem: p for p in videos}
    named = [c for c in cams if c.name in by_stem]
    if len(named) == len(videos):
        pairs = [(c, by_stem[c.name]) for c in named]
    elif len(videos) == len(cams):
        pairs = list(zip(sorted(cams, key=lambda c: c.name), videos))
    else:
        raise CalibrationError(f"{folder}: {len(videos)} videos for the {len(cams)} cameras of {calibration} "
                               f"({', '.join(c.name for c in cams)}): name each video after its camera")
    if len(pairs) < 2:
        raise CalibrationError(f"{folder}: one calibrated view ({pairs[0][1].name}); triangulation needs two or more")
    return Recording(name, folder, calibration, tuple(c.name for c, _ in pairs), tuple(v for _, v in pairs),
                     tuple(c for c, _ in pairs))


def _calibration_file(folder: Path) -> Path:
    """The recording's calibration: ``calibration/`` in the folder, else in its parent; a Qualisys
    ``.qca.txt`` before a ``.toml`` (Pose2Sim writes its own ``Calib*.toml`` beside the file it converted)."""
    from poseact.errors import CalibrationError

    for d in (folder / "calibration", folder.parent / "calibration"):
        if d.is_dir():
            found = sorted(d.glob("*.qca.txt")) or sorted(d.glob("Calib*.toml")) or sorted(d.glob("*.toml"))
            if found:
                return found[0]
    raise CalibrationError(f"{folder}: not a calibrated recording: no calibration/*.qca.txt or calibration/*.toml "
                           f"in it or in its parent folder")


def _poseact(*args: str) -> None:
    cmd = [sys.executable, "-m", "poseact", *args]
    env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "disabled")}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")


def _made_as_pinned(header: dict) -> bool:
    """Whether a cached detection file was made as :func:`detection_file` makes it: MediaPipe's 33 joints
    with :data:`DETECT_OPTIONS` (``--track none``: no tracking block), not another detector or tracker."""
    return (not header.get("tracking") and header.get("layout") == "mediapipe33"
            and str(header.get("detector", "")).startswith("mediapipe"))


def detection_file(recording: Recording | str, view: str, cache: Path = CACHE) -> Path:
    """``poseact detect VIDEO --track none``'s keypoint JSON of one view (:data:`DETECT_OPTIONS`), run once and
    cached; a cached file made with other options (body tracking, the old face pass) is made again.

    Why whole frames, not body tracking (infer's default), measured with an empty cache (2026-12-06; valid
    frames = all 17 joints valid; reprojection px median per view cam01-04):

    * Demo_Batch/Trial_1, one person: ``--track none`` 78 of 96 frames, 13.9 / 9.2 / 14.3 / 9.8 px;
      ``--track main`` 80 of 96, 13.7 / 9.1 / 14.9 / 10.3 px: the same within the floor.
    * Demo_Batch/Trial_2, two people: ``--track main`` follows whoever has the most body over the clip in each
      view, the woman in two views and the man in two: no frame valid (0 of 85). ``--track none`` (the most
      prominent person per frame; the views' agreement test keeps, frame by frame, the views on one person):
      53 of 88. A second pass with ``--box`` around the first pass's subject in every view: 64 of 98, but
      cam01 35.7 px (15.7 from whole frames) and its bones spread twice as much: a worse-checked triangulation.

    Whole frames also keep the reference independent of the tracker that ``--source video`` evaluates."""
    rec = recording if isinstance(recording, Recording) else open_recording(recording)
    out = Path(cache) / "detections" / f"{rec.key}_{view}.json"
    if out.exists():
        try:
            header = {k: v for k, v in json.loads(out.read_text()).items() if k != "frames"}
        except (OSError, ValueError):
            header = {"tracking": "unreadable"}
        if _made_as_pinned(header):
            return out
        print(f"real_video.py: {out} was made with other detect options; detecting again ({' '.join(DETECT_OPTIONS)})",
              file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    _poseact("detect", str(rec.video(view)), "--out", str(out), *DETECT_OPTIONS)
    return out


def read_detections(path: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """A ``poseact-keypoints/1`` JSON → ``(T, 33, 2)`` pixels (NaN where nobody), ``(T, 33)``
    confidence, and its header (width, height, fps, detector, tracking)."""
    doc = json.loads(path.read_text())
    frames = doc["frames"]
    kps = np.full((len(frames), 33, 2), np.nan)
    conf = np.zeros((len(frames), 33))
    for t, people in enumerate(frames):
        if people:
            a = np.asarray(people[0]["keypoints"], dtype=np.float64)
            kps[t], conf[t] = a[:, :2], a[:, 2]
    return kps, conf, {k: v for k, v in doc.items() if k not in ("frames", "sizes")}


# ------------------------------------------------------------------------------------------
# the pseudo-ground truth


@dataclass
class PseudoGT:
    """The triangulated subject of one recording, frames in the reference view's (cam01) time.

    ``landmarks (T, 33, 3)`` world metres (MediaPipe-33, NaN where not triangulated), ``pose
    (T, 17, 3)`` H36M-17 world metres, ``valid (T, 17)``; ``frames[v] (T,)`` view ``v``'s video frame
    of each pseudo-ground-truth frame (-1 where that camera has none: it started later, stopped earlier, or
    ran past the shortest view's length); ``used (V, T)`` whether a view's detection was the subject's
    (agreed with the others) in that frame; ``report``: offsets, swaps, reprojection errors, coverage."""

    recording: str
    cameras: list[Camera]
    landmarks: np.ndarray
    pose: np.ndarray
    valid: np.ndarray
    frames: np.ndarray
    used: np.ndarray
    swapped: np.ndarray
    detections: np.ndarray  # (V, T, 33, 2) the aligned detections, left/right as found consistent
    confidence: np.ndarray  # (V, T, 33)
    sizes: list[tuple[int, int]]
    report: dict
    views: tuple[str, ...] = VIEWS  # the cameras' names, in the order of the arrays' V axis


def h36m_from_mediapipe(points: np.ndarray) -> np.ndarray:
    """MediaPipe-33 points ``(..., 33, D)`` → H36M-17 ``(..., 17, D)`` by poseact's model-input
    derivations (:func:`poseact.layouts.input_recipe`): a derived joint is the mean of its parts."""
    from poseact.layouts import input_recipe

    recipe = input_recipe(SOURCE_LAYOUT, "h36m17")
    out = np.empty(points.shape[:-2] + (len(recipe), points.shape[-1]))
    for j, parts in enumerate(recipe):
        if min(parts) >= 0:
            out[..., j, :] = points[..., list(parts), :].mean(axis=-2)
    for j, parts in enumerate(recipe):
        if min(parts) < 0:
            out[..., j, :] = out[..., [-1 - p for p in parts], :].mean(axis=-2)
    return out


def _h36m_sources() -> list[list[int]]:
    """Per H36M-17 joint, the MediaPipe landmarks it is made of (derived joints expanded)."""
    from poseact.layouts import input_recipe

    recipe = input_recipe(SOURCE_LAYOUT, "h36m17")

    def expand(j: int) -> list[int]:
        return sorted({s for p in recipe[j] for s in ([p] if p >= 0 else expand(-1 - p))})

    return [expand(j) for j in range(len(recipe))]


def pseudo_ground_truth(recording: str = "Demo_Batch/Trial_1", cache: Path = CACHE, refresh: bool = False,
                        rec: Recording | None = None) -> PseudoGT:
    """Triangulate the recording's subject from its views' MediaPipe keypoints (module
    docstring); cached in ``cache/<recording>/pseudo_gt.npz`` (+ ``.json``) until the detections change.
    ``rec``: the recording already opened (:func:`open_recording`)."""
    from poseact.skeleton import get_skeleton

    rec = rec or open_recording(recording)
    cache = Path(cache)
    cams, names = list(rec.cameras), rec.views
    files = [detection_file(rec, v, cache) for v in names]
    # the detections, the calibration and which video each camera is: any of them changed, triangulate again
    inputs = [*files, rec.calibration, *(rec.video(v) for v in names)]
    key = hashlib.sha256("".join(f"{f}:{f.stat().st_size}:{f.stat().st_mtime_ns};" for f in inputs).encode()
                         + RECIPE.encode()).hexdigest()[:16]
    store = cache / rec.key
    npz, meta = store / "pseudo_gt.npz", store / "pseudo_gt.json"
    raw = [read_detections(f) for f in files]
    sizes = [(int(h["width"]), int(h["height"])) for _, _, h in raw]
    if not refresh and npz.exists() and meta.exists():
        report = json.loads(meta.read_text())
        if report.get("key") == key:
            a = np.load(npz)
            return PseudoGT(recording, cams, a["landmarks"], a["pose"], a["valid"], a["frames"], a["used"],
                            a["swapped"], a["detections"], a["confidence"], sizes, report, names)
    T = min(len(k) for k, _, _ in raw)
    pts = np.stack([k[:T] for k, _, _ in raw])
    conf = np.stack([c[:T] for _, c, _ in raw])
    flip = get_skeleton(SOURCE_LAYOUT).flip_permutation()
    # two passes: offsets from pairs of views, the views that agree on one person per frame; then
    # the offsets again from those detections only, and the agreement again
    usable = None
    for rounds in (0, 2):
        offsets = estimate_offsets(pts, conf, cams, max_offset=MAX_OFFSET, min_confidence=MIN_CONFIDENCE,
                                   rounds=rounds, usable=usable)
        # every frame some view has: a camera started late leaves the others' frames in
        p, c, first = align_views(pts, conf, offsets.offsets, span="all")
        views = resolve_views(p, c, cams, flip, min_confidence=MIN_CONFIDENCE, agree_px=AGREE_PX)
        frames = first + np.arange(p.shape[1])[None, :] + np.asarray(offsets.offsets)[:, None]  # (V, n)
        inside = (frames >= 0) & (frames < T)
        usable = np.zeros(pts.shape[:2], dtype=bool)
        for v in range(len(cams)):
            usable[v, frames[v][inside[v]]] = views.used[v][inside[v]]
    conf_used = views.confidence * views.used[:, :, None]
    landmarks = triangulate(views.points, conf_used, cams, MIN_CONFIDENCE)
    err = reprojection_errors(landmarks, views.points, cams)  # (V, T, 33)
    seen = (conf_used > MIN_CONFIDENCE) & np.isfinite(err)
    err_seen = np.where(seen, err, np.nan)
    pose = h36m_from_mediapipe(landmarks)
    sources = _h36m_sources()
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a joint no view saw confidently: NaN, invalid
        joint_err = np.stack([np.nanmean(err_seen[:, :, s], axis=(0, 2)) for s in sources], axis=-1)  # (T, 17)
    valid = np.isfinite(pose).all(-1) & (joint_err < VALID_PX)
    n = p.shape[1]
    frames = np.where(inside, frames, -1)  # -1: that camera has no frame at this instant
    # the error in mm at the subject: px / focal * depth
    depth = np.stack([cam.to_camera(pose[:, 0])[:, 2] for cam in cams])  # (V, T)
    mm = err_seen * (depth[:, :, None] / np.array([cam.K[0, 0] for cam in cams])[:, None, None]) * 1000
    h36m_names = get_skeleton("h36m17").joint_names
    mp_names = get_skeleton(SOURCE_LAYOUT).joint_names
    all_sources = sorted({s for ss in sources for s in ss})
    report = {
        "key": key, "recording": str(recording), "folder": str(rec.folder), "calibration": str(rec.calibration),
        "views": list(names), "frames": int(n), "detector": raw[0][2].get("detector"),
        "detect_options": list(DETECT_OPTIONS),
        "offsets": dict(zip(names, offsets.offsets)), "offset_window": [offsets.window[0], offsets.window[-1]],
        # an offset at the window's edge was not found, only bounded: that view's timing is a guess
        "offsets_at_window_edge": [v for v, o in zip(names, offsets.offsets) if abs(o) >= offsets.window[-1]],
        # how well each offset is determined: the offsets whose cost is within OFFSET_TIE_PX of the best
        "offset_range": {v: _offset_range(c, offsets.window) for v, c in zip(names, offsets.cost_px)},
        "offset_cost_px": dict(zip(names, offsets.cost_px)),
        # per view, its video frame at the first instant of the time line it filmed
        "first_frames": {v: int(f[i][0]) if i.any() else None for v, f, i in zip(names, frames, inside)},
        "views_agreeing": {v: int(u.sum()) for v, u in zip(names, views.used)},
        "swaps": dict(zip(names, views.counts)),
        "swapped_frames": {v: [int(t) for t in np.flatnonzero(s)] for v, s in zip(names, views.swapped)},
        "reprojection_px": {v: {"median": _r(np.nanmedian(e[:, all_sources])), "mean": _r(np.nanmean(e[:, all_sources])),
                                "mm_at_subject": _r(np.nanmedian(m[:, all_sources]))}
                            for v, e, m in zip(names, err_seen, mm)},
        "joints": {h36m_names[j]: {"from": [mp_names[s] for s in sources[j]],
                                   "valid_frames": int(valid[:, j].sum()),
                                   "reprojection_px": _r(np.nanmedian(joint_err[:, j]))}
                   for j in range(17)},
        "frames_all_valid": int(valid.all(1).sum()),
        "stature_m": _r(_stature(pose[valid.all(1)])),
        # a body's bones keep their length: their spread over frames is the 3-D's own noise
        "bone_spread_cm": _bone_spread(pose[valid.all(1)]),
    }
    store.mkdir(parents=True, exist_ok=True)
    from poseact.atomic import write_json, write_npz

    write_npz(npz, {"landmarks": landmarks, "pose": pose, "valid": valid, "frames": frames, "used": views.used,
                    "swapped": views.swapped, "detections": views.points, "confidence": views.confidence})
    write_json(meta, report, indent=1)
    return PseudoGT(recording, cams, landmarks, pose, valid, frames, views.used, views.swapped, views.points,
                    views.confidence, sizes, report, names)


def _offset_range(cost_px, window=range(-MAX_OFFSET, MAX_OFFSET + 1)) -> list[int]:
    """The first and last offset (frames) of ``window`` whose cost lies within :data:`OFFSET_TIE_PX` of the least:
    a subject that barely moves gives a flat cost and a wide range (its timing is a guess)."""
    cost = np.asarray(cost_px, float)
    if not np.any(cost):  # the reference view: every offset costs nothing, its own is 0
        return [0, 0]
    close = [window[i] for i in np.flatnonzero(cost <= np.nanmin(cost) + OFFSET_TIE_PX)]
    return [int(min(close)), int(max(close))]


def _r(x, digits: int = 2):
    x = float(x)
    return round(x, digits) if np.isfinite(x) else None


def _bone_spread(pose: np.ndarray) -> dict:
    from poseact.bones import bone_lengths
    from poseact.skeleton import get_skeleton

    sk = get_skeleton("h36m17")
    spread = bone_lengths(pose, sk).std(axis=0) * 100 if len(pose) > 1 else np.zeros(len(sk.bones))
    return {"mean": _r(spread.mean()), "largest": _r(spread.max()),
            "per_bone": {sk.joint_names[c]: _r(x) for (c, _), x in zip(sk.bones, spread)}}


def _stature(pose: np.ndarray) -> float:
    from poseact.bones import stature

    return float(np.median(stature(pose, "h36m17"))) if len(pose) else float("nan")


# ------------------------------------------------------------------------------------------
# metrics


def pose_metrics(pred: np.ndarray, truth: np.ndarray) -> dict:
    """Root-relative ``pred`` against ``truth``, both ``(T, 17, 3)`` metres in one camera's frame:
    MPJPE / P-MPJPE / N-MPJPE (mm) on :data:`EVAL_JOINTS`, P-MPJPE on :data:`BODY_JOINTS`, bone
    ratios, frame-to-frame bone spread (cm), implied stature (m)."""
    from poseact.bones import bone_lengths
    from poseact.metrics.pose import procrustes_align, sequence_metrics
    from poseact.skeleton import get_skeleton

    pred = pred - pred[:, :1]
    truth = truth - truth[:, :1]
    ev, body = list(EVAL_JOINTS), list(BODY_JOINTS)
    m = sequence_metrics(pred[:, ev], truth[:, ev], names=("p1", "p2", "n_mpjpe"))
    p2_body = sequence_metrics(pred[:, body], truth[:, body], names=("p2",))["p2"]
    sk = get_skeleton("h36m17")
    lp, lt = bone_lengths(pred, sk), bone_lengths(truth, sk)
    ratio = np.median(lp, axis=0) / np.median(lt, axis=0)
    spread = lp.std(axis=0) * 100
    per_frame = np.linalg.norm(pred[:, ev] - truth[:, ev], axis=-1).mean(-1)
    aligned = procrustes_align(pred[:, ev], truth[:, ev])
    per_joint = np.linalg.norm(aligned - truth[:, ev], axis=-1).mean(0) * 1000
    return {"mpjpe_mm": _r(m["p1"] * 1000, 1), "p_mpjpe_mm": _r(m["p2"] * 1000, 1),
            "n_mpjpe_mm": _r(m["n_mpjpe"] * 1000, 1), "p_mpjpe_body15_mm": _r(p2_body * 1000, 1),
            "bone_ratio": _r(ratio.mean(), 3), "bone_ratio_min": _r(ratio.min(), 3), "bone_ratio_max": _r(ratio.max(), 3),
            "bone_spread_cm": _r(spread.mean(), 2), "bone_spread_largest_cm": _r(spread.max(), 2),
            "stature_m": _r(_stature(pred), 3), "frames": int(len(pred)),
            "per_joint_p_mpjpe_mm": {sk.joint_names[j]: _r(e, 1) for j, e in zip(ev, per_joint)},
            "per_frame_mpjpe_mm": [round(float(e) * 1000, 1) for e in per_frame]}


# ------------------------------------------------------------------------------------------
# the lifter on one view


@functools.cache
def _code_stamp() -> str:
    """A digest of the poseact package's source files (names and contents): a cached ``poseact infer``
    output made by other code is made again (a stale cache once put 69.3 mm where the code gave 68.0)."""
    import poseact

    root = Path(poseact.__file__).parent
    digest = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        digest.update(f.relative_to(root).as_posix().encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


def _infer_output(checkpoint: Path, rec: Recording, view: str, source: str, cache: Path,
                  upright: bool = True, box: tuple[float, ...] | None = None) -> dict:
    """``poseact infer`` (raw: ``--model-scale --no-constant-bones``) on the view's video or its
    cached keypoints; cached per checkpoint (path, size, mtime), poseact's code (:func:`_code_stamp`),
    source and subject. The npz's arrays, and (video) ``tracking``: the keypoint JSON's account of whom
    it followed. ``box`` (video only): ``--box X0 Y0 W H`` names the subject; None: ``--track main``,
    infer's default."""
    st = checkpoint.stat()
    tag = hashlib.sha256(f"{checkpoint.resolve()}:{st.st_size}:{st.st_mtime_ns}:{_code_stamp()}".encode()
                         ).hexdigest()[:12]
    name = rec.key
    who = "" if source != "video" else "_box" if box is not None else "_main"
    out = cache / "infer" / f"{checkpoint.stem}-{tag}" / f"{name}_{view}_{source}{who}_{'upright' if upright else 'as_seen'}"
    found = sorted(out.glob("*_3d.npz"))
    if not found:
        src = rec.video(view) if source == "video" else detection_file(rec, view, cache)
        subject = (["--box", *(f"{v:.0f}" for v in box)] if box is not None else ["--track", "main"]) \
            if source == "video" else []
        _poseact("infer", str(src), "--checkpoint", str(checkpoint), "--out", str(out), "--model-scale",
                 "--no-constant-bones", "--render", "none", "--upright" if upright else "--no-upright", *subject)
        found = sorted(out.glob("*_3d.npz"))
    with np.load(found[0]) as a:
        result = {k: a[k] for k in a.files}
    keypoints = sorted(out.glob("*_keypoints.json"))
    if keypoints:
        result["tracking"] = json.loads(keypoints[0].read_text()).get("tracking")
    return result


def subject_box(gt: PseudoGT, v: int) -> tuple[tuple[float, float, float, float], int]:
    """The click-free way to name the pseudo-ground truth's subject in view ``v``: ``--box X0 Y0 W H`` px
    around its projected hips at the first frame where its hips and thorax are valid, and that video frame.
    A square centred on the mid-hip point, half a side = 0.35 × the projected torso (pelvis → thorax),
    at least 0.6 × the projected hip width: it holds the subject's hip centre, not a neighbour's."""
    ok = gt.valid[:, [0, 1, 4, 8]].all(1) & (gt.frames[v] >= 0)
    if not ok.any():
        raise RuntimeError(f"{gt.recording}: the pseudo-ground truth's hips are valid in no frame of {gt.views[v]}")
    k = int(np.flatnonzero(ok)[0])
    cam = gt.cameras[v]
    hips = cam.project(gt.landmarks[k, [23, 24]])
    pelvis, thorax = cam.project(gt.pose[k, [0, 8]])
    half = max(0.35 * float(np.hypot(*(thorax - pelvis))), 0.6 * float(np.hypot(*(hips[0] - hips[1]))))
    x, y = hips.mean(0)
    return (round(x - half), round(y - half), round(2 * half), round(2 * half)), int(gt.frames[v][k])


#: a 2-D pose is on the subject when its pelvis and thorax lie within this share of the subject's
#: projected torso length (pelvis → thorax) from the pseudo-ground truth's
ON_SUBJECT = 0.5


def who_was_posed(gt: PseudoGT, v: int, keypoints_2d: np.ndarray, flagged: np.ndarray) -> dict:
    """Per video frame of view ``v``, whom infer's 2-D (``(T, 17, 2)`` H36M-17 px, cleaned and filled) is
    of: ``on_subject`` (not flagged; pelvis and thorax within :data:`ON_SUBJECT` torso lengths of the
    pseudo-ground truth's projection), ``other_person`` (not flagged and farther: lifted from someone
    else, or from nobody), ``flagged`` (infer flagged it: no trusted pose), ``unchecked`` (not flagged; the
    pseudo-ground truth has no valid pelvis/thorax there). Counts and frame lists."""
    T = len(keypoints_2d)
    state = np.full(T, "unchecked", dtype=object)
    state[flagged[:T]] = "flagged"
    cam = gt.cameras[v]
    ok = gt.valid[:, [0, 8]].all(1)
    for k in np.flatnonzero(ok):
        t = int(gt.frames[v][k])
        if t < 0 or t >= T or state[t] == "flagged":
            continue
        pelvis, thorax = cam.project(gt.pose[k, [0, 8]])
        torso = max(float(np.hypot(*(thorax - pelvis))), 1.0)
        far = max(float(np.hypot(*(keypoints_2d[t, 0] - pelvis))), float(np.hypot(*(keypoints_2d[t, 8] - thorax))))
        state[t] = "on_subject" if np.isfinite(far) and far <= ON_SUBJECT * torso else "other_person"
    kinds = ("on_subject", "flagged", "other_person", "unchecked")
    out: dict = {f"frames_{k}": int((state == k).sum()) for k in kinds}
    out["frames"] = T
    out["other_person_frames"] = [int(t) for t in np.flatnonzero(state == "other_person")]
    return out


def evaluate(checkpoint: str | os.PathLike, recording: str | os.PathLike = "Demo_Batch/Trial_1", *,
             source: str = "video", views: tuple[str, ...] | None = None, cache: str | os.PathLike = CACHE, tta: bool = True,
             upright: bool = True, subject: str = "box") -> dict:
    """One lifter checkpoint on one recording, per view: ``detector`` (``poseact infer``, raw),
    ``detector_default`` (infer's default body rules on it), ``clean`` (projected pseudo-ground
    truth, raw), ``static`` (the mean pose), each a :func:`pose_metrics` dict; and ``summary``:
    each's metrics averaged over the views. ``source``: ``"video"`` (infer runs MediaPipe again),
    ``"keypoints"`` (infer on the cached detections) or ``"none"`` (no detector path). ``upright``:
    both lift the clip uprighted and turned back, as ``poseact infer`` does by default.

    ``subject`` (``source="video"``): ``"box"`` names the pseudo-ground truth's subject to infer with
    ``--box`` (:func:`subject_box`), so the row measures the person the pseudo-ground truth is of;
    ``"main"``: infer's default ``--track main`` (whoever has the most body); ``"both"``: the box, and
    where the default would have followed someone else, also ``detector_default_subject``: that run's
    raw metrics and :func:`who_was_posed`. Each video row has ``subject``: frames posed on the subject,
    flagged, lifted from someone else (must be 0), unchecked; and ``detector_posed``: the metrics over the
    evaluated frames infer did not flag."""
    import poseact
    from poseact.bones import DEFAULT_HEIGHT_M, apply_body_rules

    if source not in ("video", "keypoints", "none"):
        raise ValueError(f"source {source!r}: video, keypoints or none")
    if subject not in ("box", "main", "both"):
        raise ValueError(f"subject {subject!r}: box, main or both")
    from poseact.errors import UsageError

    cache = Path(cache)
    ckpt = Path(checkpoint)
    rec = open_recording(recording)
    unknown = [v for v in views or () if v not in rec.views]
    if unknown:
        raise UsageError(f"view {unknown[0]!r}: {rec.folder} has {', '.join(rec.views)}")
    views = tuple(views or rec.views)
    gt = pseudo_ground_truth(recording, cache, rec=rec)
    lifter = poseact.load_lifter(ckpt)
    if lifter.layout_3d != "h36m17":
        raise SystemExit(f"{ckpt}: predicts {lifter.layout_3d}; the benchmark compares H36M-17")
    evaluated = gt.valid[:, list(EVAL_JOINTS)].all(1)
    result: dict = {"checkpoint": str(ckpt), "recording": str(recording), "source": source, "tta": tta, "upright": upright,
                    "subject": subject if source == "video" else None,
                    "pseudo_gt": {k: v for k, v in gt.report.items() if k != "key"},
                    "frames_evaluated": int(evaluated.sum()), "views": {}}
    for v, view in enumerate(gt.views):
        if view not in views:
            continue
        cam = gt.cameras[v]
        in_view = evaluated & (gt.frames[v] >= 0)  # the frames this camera has
        if not in_view.any():
            result.setdefault("views_without_frames", []).append(view)
            continue
        truth = cam.to_camera(gt.pose)[in_view]
        row: dict = {"frames_evaluated": int(in_view.sum()), "offset": gt.report["offsets"][view],
                     "swaps_in_detections": gt.report["swaps"][view],
                     "frames_detector_on_subject": int((gt.used[v] & in_view).sum())}
        static = np.broadcast_to((truth - truth[:, :1]).mean(0), truth.shape)
        row["static"] = pose_metrics(static, truth)
        clean_2d = _clean_2d(gt, v)
        pose, _ = poseact.lift(lifter, clean_2d, gt.sizes[v], layout=SOURCE_LAYOUT, tta=tta, upright=upright)
        row["clean"] = pose_metrics(pose[in_view], truth)
        if source != "none":
            box = None
            if source == "video" and subject != "main":
                box, row["box_frame"] = subject_box(gt, v)
                row["box"] = list(box)
            out = _infer_output(ckpt, rec, view, source, cache, upright, box)
            raw = out["pose3d"].astype(np.float64)
            idx = gt.frames[v]
            if idx[in_view].max() >= len(raw):
                raise RuntimeError(f"poseact infer gave {len(raw)} frames for {view}; the pseudo-ground truth needs "
                                   f"frame {idx[in_view].max()}")
            row["detector"] = pose_metrics(raw[idx][in_view], truth)
            flagged = out.get("flagged", np.zeros(len(raw), bool)).astype(bool)
            default, _, _ = apply_body_rules(raw, out.get("trajectory"), lifter.layout_3d, ~flagged,
                                             DEFAULT_HEIGHT_M, len(raw) > 1)
            row["detector_default"] = pose_metrics(default[idx][in_view].astype(np.float64), truth)
            row["flagged_by_infer"] = int(flagged[idx][in_view].sum())
            # the detector's left/right swaps, as infer saw them: error in the swapped frames vs the rest
            sw = gt.swapped[v][in_view]
            per_frame = np.asarray(row["detector"]["per_frame_mpjpe_mm"])
            row["detector_mpjpe_swapped_frames_mm"] = _r(per_frame[sw].mean(), 1) if sw.any() else None
            row["detector_mpjpe_other_frames_mm"] = _r(per_frame[~sw].mean(), 1) if (~sw).any() else None
            # where the view's detector followed the subject (agreed with the other views)
            on = gt.used[v][in_view]
            row["detector_on_subject"] = pose_metrics(raw[idx][in_view][on], truth[on]) if on.sum() > 1 else None
            posed = ~flagged[idx][in_view]
            row["detector_posed"] = pose_metrics(raw[idx][in_view][posed], truth[posed]) if posed.sum() > 1 else None
            if source == "video":
                row["subject"] = who_was_posed(gt, v, out["keypoints_2d"].astype(np.float64), flagged)
                tracking = out.get("tracking") or {}
                row["tracking"] = {k: tracking.get(k) for k in ("chosen", "why", "default_choice", "lost_why")}
                if subject == "both" and tracking.get("default_choice") not in (None, tracking.get("chosen")):
                    other = _infer_output(ckpt, rec, view, source, cache, upright, None)
                    o_raw = other["pose3d"].astype(np.float64)
                    o_flag = other.get("flagged", np.zeros(len(o_raw), bool)).astype(bool)
                    row["detector_default_subject"] = pose_metrics(o_raw[idx][in_view], truth)
                    row["default_subject"] = who_was_posed(gt, v, other["keypoints_2d"].astype(np.float64), o_flag)
                    o_posed = ~o_flag[idx][in_view]
                    row["detector_default_subject_posed"] = (pose_metrics(o_raw[idx][in_view][o_posed], truth[o_posed])
                                                             if o_posed.sum() > 1 else None)
        result["views"][view] = row
    kinds = ("static", "clean", "detector", "detector_default")
    result["summary"] = {
        k: {m: _r(np.mean([r[k][m] for r in result["views"].values()]), 3)
            for m in ("mpjpe_mm", "p_mpjpe_mm", "n_mpjpe_mm", "p_mpjpe_body15_mm", "bone_ratio", "bone_spread_cm",
                      "stature_m")}
        for k in kinds if all(k in r for r in result["views"].values()) and result["views"]}
    return result


def _clean_2d(gt: PseudoGT, v: int) -> np.ndarray:
    """The pseudo-ground truth's landmarks projected into view ``v`` ``(T, 33, 2)`` pixels; a
    landmark never triangulated takes the view's own (relabelled) detection; gaps in time are
    filled linearly (those frames are not evaluated)."""
    px = gt.cameras[v].project(gt.landmarks)
    missing = ~np.isfinite(px).all(-1)
    px[missing] = gt.detections[v][missing]
    for j in range(px.shape[1]):
        for d in range(2):
            col = px[:, j, d]
            ok = np.isfinite(col)
            if ok.any() and not ok.all():
                col[~ok] = np.interp(np.flatnonzero(~ok), np.flatnonzero(ok), col[ok])
            elif not ok.any():
                col[:] = gt.sizes[v][d] / 2
    return px


# ------------------------------------------------------------------------------------------
# printing


def table(result: dict) -> str:
    """A Markdown table of one :func:`evaluate` result: one row per view and kind."""
    gt = result["pseudo_gt"]
    lines = [f"### {Path(result['checkpoint']).name} on {result['recording']} (source: {result['source']}; "
             f"{'upright' if result.get('upright', True) else 'as seen'}; "
             + (f"subject: {result['subject']}; " if result.get("subject") else "") +
             f"{result['frames_evaluated']} of {gt['frames']} frames evaluated)", "",
             "pseudo-ground truth: offsets " + ", ".join(f"{v} {o:+d}" for v, o in gt["offsets"].items())
             + "".join(f" ({v} at the search window's edge: its timing undetermined)"
                       for v in gt.get("offsets_at_window_edge", []))
             + "".join(f" ({v} as likely from {lo:+d} to {hi:+d})" for v, (lo, hi) in gt.get("offset_range", {}).items()
                       if hi - lo > 2)
             + "; detector swaps " + ", ".join(f"{v} {n}" for v, n in gt["swaps"].items())
             + "; views on the subject " + ", ".join(f"{v} {n}" for v, n in gt["views_agreeing"].items())
             + "; reprojection px (median) " + ", ".join(f"{v} {e['median']}" for v, e in gt["reprojection_px"].items())
             + f"; stature {gt['stature_m']} m; its bones' spread over frames {gt['bone_spread_cm']['mean']} cm "
             f"(largest {gt['bone_spread_cm']['largest']})", "",
             "| view | 2-D | MPJPE | P-MPJPE | P-MPJPE 15 | N-MPJPE | bone ratio | bone spread (cm) | stature (m) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, row in result["views"].items():
        n = row.get("frames_evaluated", result["frames_evaluated"])
        view = name if n == result["frames_evaluated"] else f"{name} ({n} frames)"  # the camera has fewer
        for kind in ("static", "clean", "detector", "detector_default", "detector_on_subject", "detector_posed",
                     "detector_default_subject", "detector_default_subject_posed"):
            if kind in ("detector_on_subject", "detector_posed", "detector_default_subject_posed") and row.get(kind) \
                    and row[kind]["frames"] == row.get("frames_evaluated", result["frames_evaluated"]):
                continue  # the same frames as "detector"
            if not row.get(kind):
                continue
            m = row[kind]
            label = f"{kind} ({m['frames']} frames)" if kind in ("detector_on_subject", "detector_posed",
                                                                 "detector_default_subject_posed") else kind
            lines.append(f"| {view} | {label} | {m['mpjpe_mm']} | {m['p_mpjpe_mm']} | {m['p_mpjpe_body15_mm']} | "
                         f"{m['n_mpjpe_mm']} | {m['bone_ratio']} | {m['bone_spread_cm']} | {m['stature_m']} |")
    for kind, m in result["summary"].items():
        lines.append(f"| mean | {kind} | {m['mpjpe_mm']:.1f} | {m['p_mpjpe_mm']:.1f} | {m['p_mpjpe_body15_mm']:.1f} | "
                     f"{m['n_mpjpe_mm']:.1f} | {m['bone_ratio']:.3f} | {m['bone_spread_cm']:.2f} | {m['stature_m']:.3f} |")
    whom = [(view, row) for view, row in result["views"].items() if row.get("subject")]
    if whom:
        lines += ["", "| view | subject named by | box (x0 y0 w h px, frame) | followed | posed on the subject | flagged | "
                      "on someone else | unchecked |", "|---|---|---|---|---:|---:|---:|---:|"]
        for view, row in whom:
            for label, key in (("--box" if row.get("box") else "--track main", "subject"),
                               ("--track main", "default_subject")):
                c = row.get(key)
                if not c:
                    continue
                tr = row.get("tracking") or {}
                followed = (f"track {tr.get('chosen')}" if key == "subject" else f"track {tr.get('default_choice')}")
                where = f"{' '.join(map(str, row['box']))}, {row['box_frame']}" if key == "subject" and row.get("box") else "—"
                lines.append(f"| {view} | {label} | {where} | {followed} | {c['frames_on_subject']} | {c['frames_flagged']} | "
                             f"{c['frames_other_person']} | {c['frames_unchecked']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", action="append", required=True, help="a lifter .ckpt (repeatable)")
    parser.add_argument("--recording", action="append", help=f"a named recording ({_offered()}; default: "
                        f"{RECORDINGS[0]}) or a folder in Pose2Sim's layout (videos/, calibration/ in it or its "
                        f"parent); repeatable")
    parser.add_argument("--source", default="video", choices=("video", "keypoints", "none"),
                        help="poseact infer on the video (default), on the cached detections, or not at all")
    parser.add_argument("--subject", default="box", choices=("box", "main", "both"),
                        help="--source video: name the pseudo-ground truth's subject with --box (default), use "
                             "infer's --track main, or both (main where it follows someone else)")
    parser.add_argument("--cache", type=Path, default=CACHE,
                        help="folder of the cached detections, pseudo-ground truths and infer outputs (default: "
                             f"{CACHE.relative_to(REPO)} in the repository); "
                             "an empty one rebuilds everything, as on a fresh machine")
    parser.add_argument("--json", type=Path, help="results JSON (default: CACHE/results.json)")
    parser.add_argument("--view", action="append", help="only these views, by camera name (repeatable; default: all)")
    parser.add_argument("--no-tta", action="store_true")
    parser.add_argument("--upright", action=argparse.BooleanOptionalAction, default=True,
                        help="lift uprighted and turn back, as poseact infer does by default (--no-upright: as seen)")
    args = parser.parse_args(argv)
    from poseact.errors import PoseactError

    results = []
    for rec in args.recording or [RECORDINGS[0]]:
        for ckpt in args.checkpoint:
            try:
                r = evaluate(ckpt, rec, source=args.source, tta=not args.no_tta, upright=args.upright,
                             subject=args.subject, views=tuple(args.view or ()), cache=args.cache)
            except PoseactError as e:
                print(f"real_video.py: error: {e}", file=sys.stderr)
                return 2
            print(table(r), end="\n\n", flush=True)
            results.append(r)
    from poseact.atomic import write_json

    out = args.json or args.cache / "results.json"
    write_json(out, results, indent=1)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
