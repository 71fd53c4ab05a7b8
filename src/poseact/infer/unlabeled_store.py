"""``poseact data from-videos``: a folder of clips → an unlabeled store for semi-supervised training.

Every clip is detected and tracked as ``poseact infer`` does (MediaPipe, one subject followed by the
body, :mod:`poseact.infer.detectors`), its 2-D cleaned and gaps filled (:func:`~poseact.infer.clean2d.clean_stage`),
converted to the store's 2-D layout and written as unlabeled clips (no 3-D) with one camera per clip:

* **intrinsics** from a calibration file (``calibration``: Qualisys ``.qca.txt``, Pose2Sim/OpenCV ``.toml``,
  poseact's simple ``.yaml``; :func:`poseact.geometry.calibration.read_calibration`), the clip matched to a
  camera by file name (:func:`match_camera`: ``cam01.mp4`` ↔ ``cam01`` / ``cam_01`` / ``cam1``; a name that
  ends with one camera's name, ``trial3_cam01.mp4``, also matches); else a pinhole camera from a field of
  view ``fov`` degrees across the image's longer side (landscape: horizontal; portrait: vertical; default
  :data:`DEFAULT_FOV_DEG`) or a ``focal`` length in pixels, principal point at the image centre, no distortion;
* **flagged frames kept out**: frames where the subject was lost, a left/right swap was unsure or a gap
  was too long to fill split the clip; every stretch of at least ``min_frames`` unflagged frames becomes
  one store clip (take ``<clip>`` or ``<clip>#<k>``), shorter stretches are dropped (counted in the report);
* **synchronised views**: with a calibration that places the cameras (extrinsics), each camera row also gets
  its orientation and centre, clips whose names differ only by their camera (``trial1_cam01``, ``trial1_cam02``)
  are views of one recording (``trial1``), and every store clip's take is ``<recording>@<frame>``: its first
  frame on the recording's time line (the view's frame minus its offset; ``offsets``: estimated by
  triangulation, none, or given), so split clips and late-starting views still line up
  (:mod:`poseact.lifting.multiview`, the ``semi.multiview_weight`` term);
* **resumable**: each clip's cleaned 2-D is cached as ``<cache>/<clip>.npz`` (written atomically, keyed by
  the input's path, size, modification time and the detection options), so a rerun after a crash or with
  more clips detects only the clips without a valid cache file. The store is written atomically at the end.

Store contents: subject ``subject`` (default ``"videos"``), action ``"video"``, take = the clip name, camera
row ``(subject, camera name)``; ``keypoints (T, J, 2)`` pixels in ``layout`` (default ``h36m17``), confidence,
NaN 3-D. Train on it with ``poseact fit ... data.store_unlabeled=OUT data.subjects_unlabeled=[videos]``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from poseact.errors import CalibrationError, MissingFileError, UsageError

#: Field of view across the image's longer side assumed when neither a calibration, ``--fov`` nor ``--focal``
#: is given: a phone's main camera in 16:9 video mode is ~60-70°; pose2sim's calibrated lab cameras 59.5°.
DEFAULT_FOV_DEG = 60.0
DEFAULT_LAYOUT = "h36m17"
DEFAULT_SUBJECT = "videos"
ACTION = "video"
#: Shortest stretch of unflagged frames kept as a store clip.
DEFAULT_MIN_FRAMES = 10
#: A calibration's image size may differ from the video's by this fraction per axis (encoders pad
#: 1080 to 1088); the calibrated K is used as is.
SIZE_TOLERANCE = 0.02
#: bumped when what a cached clip holds changes (2: frames where the subject is partly hidden are flagged)
CACHE_VERSION = 2
#: ``--offsets auto`` searches each view's start within this many frames of the first view's (the window
#: doubled while an offset lands on its edge and the clips are long enough)
MAX_OFFSET = 10
KEYPOINT_SUFFIXES = (".json", ".npz")


@dataclass
class ClipReport:
    """What happened to one input: its name, frames, flagged frames, kept store clips and frames,
    whether its 2-D was detected now or read from the cache, and the camera it got."""

    name: str
    source: str
    frames: int
    flagged: int
    segments: list[tuple[int, int]]
    dropped_frames: int
    detected: bool
    camera: str
    intrinsics: str

    @property
    def kept_frames(self) -> int:
        return sum(b - a for a, b in self.segments)


@dataclass
class FromVideosResult:
    """The store written and one :class:`ClipReport` per input clip."""

    store: Path
    cache: Path
    clips: list[ClipReport] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines for the console."""
        detected = sum(c.detected for c in self.clips)
        kept = sum(len(c.segments) for c in self.clips)
        lines = [f"{self.store}: {len(self.clips)} input clips → {kept} store clips, "
                 f"{sum(c.kept_frames for c in self.clips)} frames "
                 f"({detected} detected now, {len(self.clips) - detected} from the cache {self.cache})"]
        for c in self.clips:
            lines.append(f"  {c.name}: {c.frames} frames, {c.flagged} flagged, {len(c.segments)} kept "
                         f"stretch(es) ({c.kept_frames} frames, {c.dropped_frames} unflagged frames dropped as "
                         f"too short); camera {c.camera}: {c.intrinsics}")
        return "\n".join(lines)


# -- inputs and names -------------------------------------------------------------------------------

def list_inputs(inputs: list[str | os.PathLike]) -> list[Path]:
    """Folders → their videos (sorted by name); files kept as given (videos or keypoint files)."""
    from poseact.viz.video import is_image, is_video

    found: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            videos = sorted(f for f in p.iterdir() if is_video(f) and not f.name.startswith("."))
            if not videos:
                raise MissingFileError(f"folder {str(p)!r} holds no video")
            found.extend(videos)
        elif p.is_file():
            if is_image(p):
                raise UsageError(f"input {str(p)!r} is a still image; give videos (or keypoint files)")
            found.append(p)
        else:
            raise MissingFileError(f"input {str(p)!r} not found")
    names: dict[str, Path] = {}
    for p in found:
        n = clip_name(p)
        if n in names:
            raise UsageError(f"inputs {str(names[n])!r} and {str(p)!r} have the same clip name {n!r}; "
                             f"rename one (clips are named by their file name)")
        names[n] = p
    return found


def clip_name(path: Path) -> str:
    """The clip's name: the file name without its suffix (and without ``_keypoints`` for keypoint files)."""
    stem = path.stem
    if path.suffix.lower() in KEYPOINT_SUFFIXES and stem.endswith("_keypoints"):
        stem = stem[: -len("_keypoints")]
    return stem


def _normal(name: str) -> str:
    """Lower case, letters and digits only, leading zeros of numbers dropped: cam_01 → cam1."""
    s = re.sub(r"[^a-z0-9]", "", name.lower())
    return re.sub(r"(?<![0-9])0+(?=[0-9])", "", s)


def match_camera(name: str, cameras: list, calibration: str | os.PathLike):
    """The calibration camera of clip ``name``: equal names after :func:`_normal`, else the one camera
    whose name ends the clip's name (``trial3_cam01`` → ``cam01``). Raises naming the cameras."""
    clip = _normal(name)
    exact = [c for c in cameras if _normal(c.name) == clip]
    if len(exact) == 1:
        return exact[0]
    tail = [c for c in cameras if _normal(c.name) and clip.endswith(_normal(c.name))]
    if len(exact) == 0 and len(tail) == 1:
        return tail[0]
    names = [c.name for c in cameras]
    why = "several cameras match" if len(exact) > 1 or len(tail) > 1 else "no camera matches"
    raise CalibrationError(f"calibration {str(calibration)!r}: clip {name!r}: {why} by name (cameras {names}); "
                           f"name each video after its camera, e.g. {names[0]}.mp4")


# -- cameras ---------------------------------------------------------------------------------------

def focal_from_fov(side: int, fov_deg: float) -> float:
    """Focal length in pixels of a pinhole camera whose image is ``side`` pixels across the direction of
    the field of view ``fov_deg`` degrees: ``f = (side / 2) / tan(fov / 2)``."""
    if not 0 < fov_deg < 180:
        raise UsageError(f"--fov {fov_deg:g}: a field of view is between 0 and 180 degrees")
    return (side / 2) / math.tan(math.radians(fov_deg) / 2)


def guessed_camera(name: str, width: int, height: int, fov: float | None = None, focal: float | None = None):
    """A pinhole :class:`~poseact.geometry.tables.CameraCalibration` (focal from ``focal`` px or ``fov``
    degrees across the longer side, default :data:`DEFAULT_FOV_DEG`; principal point at the image centre; no distortion) and a
    line saying which."""
    from poseact.geometry.tables import CameraCalibration

    if focal is not None:
        if not focal > 0:
            raise UsageError(f"--focal {focal:g}: a focal length in pixels is positive")
        f, how = float(focal), f"focal {focal:g} px (given)"
    else:
        deg = DEFAULT_FOV_DEG if fov is None else fov
        f = focal_from_fov(max(width, height), deg)
        how = f"focal {f:.1f} px from a {deg:g}° field of view across the longer side" + (
            " (default)" if fov is None else "")
    cam = CameraCalibration(id=name, res_w=width, res_h=height, azimuth=70.0, focal_length=(f, f),
                            center=(width / 2, height / 2), radial_distortion=(0.0, 0.0, 0.0),
                            tangential_distortion=(0.0, 0.0))
    return cam, how + ", principal point at the image centre, no distortion"


def calibrated_camera(camera, width: int, height: int, calibration: str | os.PathLike):
    """A calibration :class:`~poseact.geometry.calibration.Camera` as a store camera (its K and OpenCV
    distortion; its extrinsics when the file has them, in the store's convention: camera-to-world
    quaternion ``R^T`` and the camera centre ``-R^T t`` metres, as :func:`poseact.geometry.camera.world_to_camera`
    reads them), checked against the video's size (:data:`SIZE_TOLERANCE`)."""
    from poseact.geometry.tables import CameraCalibration
    from poseact.lifting.multiview import quaternion_from_matrix

    cw, ch = camera.size
    if abs(cw - width) > SIZE_TOLERANCE * width or abs(ch - height) > SIZE_TOLERANCE * height:
        raise CalibrationError(f"calibration {str(calibration)!r}: camera {camera.name!r} is {cw}x{ch} px, "
                               f"its video {width}x{height} px; calibrate at the video's resolution")
    k1, k2, p1, p2, k3 = (float(v) for v in camera.distortion)
    K = camera.K
    cam = CameraCalibration(id=camera.name, res_w=width, res_h=height, azimuth=70.0,
                            focal_length=(float(K[0, 0]), float(K[1, 1])), center=(float(K[0, 2]), float(K[1, 2])),
                            radial_distortion=(k1, k2, k3), tangential_distortion=(p1, p2))
    if camera.has_extrinsics:
        from dataclasses import replace

        cam = replace(cam, orientation=tuple(float(v) for v in quaternion_from_matrix(np.asarray(camera.R).T)),
                      translation=tuple(float(v) for v in camera.centre))
    pose = ", with its position" if camera.has_extrinsics else ", no extrinsics"
    return cam, f"calibrated ({Path(calibration).name}: focal {K[0, 0]:.1f} px{pose})"


# -- synchronised views -----------------------------------------------------------------------------

def recording_name(clip: str, camera: str) -> str:
    """The recording a clip belongs to: its name without the camera's (``trial3_cam01`` with camera
    ``cam01`` → ``trial3``; ``cam01`` alone → ``recording``). Clips of one recording seen by different
    cameras are synchronised views of it."""
    target = _normal(camera)
    for i in range(len(clip)):  # the shortest head whose remaining tail names the camera
        if _normal(clip[i:]) == target:
            head = clip[:i].rstrip("_-. ")
            return head or "recording"
    return clip


def parse_offsets(text: str | None) -> str | dict[str, int]:
    """``--offsets``: ``auto`` (estimated from the 2-D by triangulation), ``none`` (the videos start
    together), or ``CAM=FRAMES,...`` (a camera's video shows recording frame ``f`` at its frame
    ``f + FRAMES``; cameras not named: 0)."""
    if text is None or text in ("auto", "none"):
        return text or "auto"
    out: dict[str, int] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            out[_normal(name.strip())] = int(value) if sep and name.strip() else int("x")
        except ValueError:
            raise UsageError(f"--offsets {text!r}: expected auto, none or CAM=FRAMES,... (e.g. cam03=2), "
                             f"got {part!r}") from None
    return out


def estimate_view_offsets(points: list[np.ndarray], confidence: list[np.ndarray], cameras: list,
                          max_offset: int = MAX_OFFSET) -> list[int] | None:
    """The frame offsets of synchronised views (``points[v] (T_v, J, 2)`` px, ``confidence[v] (T_v, J)``,
    flagged frames at 0 confidence), by :func:`poseact.geometry.triangulate.estimate_offsets` (view ``v``'s
    frame ``f + offsets[v]`` shows the instant of the first view's frame ``f``); None when the clips are too
    short to search ``±max_offset`` frames."""
    from poseact.geometry.triangulate import estimate_offsets

    T = max(len(p) for p in points)
    shortest = min(len(p) for p in points)
    if 2 * max_offset >= shortest - 2:
        return None
    J = points[0].shape[1]
    P = np.zeros((len(points), T, J, 2))
    C = np.zeros((len(points), T, J))
    for v, (p, c) in enumerate(zip(points, confidence)):
        P[v, :len(p)], C[v, :len(c)] = p, c
    # an offset on the window's edge widens the search as far as the shortest clip allows
    return [int(o) for o in estimate_offsets(P, C, cameras, max_offset=max_offset, length=shortest).offsets]


# -- detection, cached ----------------------------------------------------------------------------

def cache_key(path: Path, options: dict) -> str:
    """What a cached clip depends on: the input's absolute path, size and modification time and the
    detection options (a changed video or option detects again)."""
    st = path.stat()
    text = json.dumps({"version": CACHE_VERSION, "source": str(path.resolve()), "size": st.st_size,
                       "mtime_ns": st.st_mtime_ns, "options": options}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def read_cache(file: Path, key: str) -> dict | None:
    """The cached clip in ``file`` when its key is ``key`` (anything unreadable counts as absent)."""
    if not file.is_file():
        return None
    try:
        with np.load(file, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, EOFError):
        return None


def detect_clip(path: Path, options: dict, env: str | os.PathLike | None = None) -> dict:
    """One input → its subject's cleaned 2-D: ``keypoints (T, J, 2)`` px (gaps filled), ``confidence (T, J)``,
    ``flagged (T,)`` bool, ``layout``, ``width``, ``height``, ``fps``, as ``poseact infer`` makes them."""
    import tempfile

    from poseact.infer.clean2d import clean_stage
    from poseact.infer.detectors import make_detector
    from poseact.viz.video import is_video, video_info

    is_frames = is_video(path) and path.suffix.lower() not in KEYPOINT_SUFFIXES
    detector = make_detector(path, is_frames, "mediapipe" if is_frames else None,
                             track_rule=options["track"] if is_frames else "main", env=env if is_frames else None)
    detector.prepare(path, None)
    with tempfile.TemporaryDirectory(prefix="poseact-from-videos-") as tmp:
        keypoint_file = detector.detect(path, Path(tmp) / f"{clip_name(path)}_keypoints.json")
        found = detector.read(keypoint_file, path, "largest", None, None)
    track = found.track
    width, height, fps = track.width, track.height, track.fps
    if is_frames and (width is None or height is None or not fps):
        info = video_info(path)
        width, height, fps = width or info["width"], height or info["height"], fps or info["fps"]
    if width is None or height is None:
        raise UsageError(f"keypoint file {str(path)!r} does not record the frame size (width, height); "
                         f"give the video instead")
    where = f"{str(path)!r}" if is_frames else f"keypoint file {str(path)!r}"
    clean = clean_stage(track.keypoints, track.confidence, track.layout, found.flagged, found.others,
                        options["max_gap"], True, where)
    flagged = clean.flagged | ~np.isfinite(clean.keypoints).all(axis=(1, 2))
    return {"keypoints": clean.keypoints.astype(np.float32), "confidence": clean.confidence.astype(np.float32),
            "flagged": flagged.astype(bool), "layout": np.array(track.layout), "width": np.array(int(width)),
            "height": np.array(int(height)), "fps": np.array(float(fps or 0.0))}


def segments(flagged: np.ndarray, min_frames: int) -> tuple[list[tuple[int, int]], int]:
    """Stretches ``[start, stop)`` of unflagged frames at least ``min_frames`` long, and how many
    unflagged frames fell in shorter stretches (dropped)."""
    from poseact.infer.gaps import _runs

    stretches = [(a, b + 1) for a, b in _runs(~np.asarray(flagged, bool))]
    kept = [(a, b) for a, b in stretches if b - a >= min_frames]
    return kept, sum(b - a for a, b in stretches if b - a < min_frames)


# -- the command -----------------------------------------------------------------------------------

def from_videos(inputs: list[str | os.PathLike], out: str | os.PathLike, calibration: str | os.PathLike | None = None,
                fov: float | None = None, focal: float | None = None, layout: str = DEFAULT_LAYOUT,
                subject: str = DEFAULT_SUBJECT, min_frames: int = DEFAULT_MIN_FRAMES,
                cache: str | os.PathLike | None = None, max_gap: int = 10, track: str = "main",
                env: str | os.PathLike | None = None, fps: float | None = None, offsets: str | None = "auto",
                log=print) -> FromVideosResult:
    """Clips (videos, folders of videos or ``poseact detect`` keypoint files) → the unlabeled store ``out``;
    see the module docstring. ``cache`` defaults to ``<out without suffix>.cache/`` beside ``out``;
    ``fps`` overrides the clips' own rate in the store (default: the first clip's); ``offsets`` (with a
    calibration that has extrinsics): how the views of one recording line up (:func:`parse_offsets`)."""
    from poseact.atomic import check_writable, remove_stale_temps, write_npz
    from poseact.layouts import convert_layout
    from poseact.skeleton import get_skeleton
    from poseact.store import CameraTable, StoreBuilder, write_store

    if sum(x is not None for x in (calibration, fov, focal)) > 1:
        raise UsageError("give one of --calibration, --fov, --focal")
    if min_frames < 1:
        raise UsageError(f"--min-frames {min_frames}: at least 1")
    get_skeleton(layout)  # an unknown layout fails before anything is detected
    if track not in ("none",):
        from poseact.infer.detect import check_track_rule

        check_track_rule(track)
    out = Path(out)
    check_writable(out, "--out")
    files = list_inputs(inputs)
    cameras = None
    if calibration is not None:
        from poseact.geometry.calibration import read_calibration

        if not Path(calibration).is_file():
            raise MissingFileError(f"calibration {str(calibration)!r} not found")
        cameras = read_calibration(calibration)
        for p in files:  # every clip has its camera before anything is detected
            match_camera(clip_name(p), cameras, calibration)
    if fov is not None:
        focal_from_fov(100, fov)  # the range check, before detecting
    offsets_given = parse_offsets(offsets)
    if isinstance(offsets_given, dict):
        unknown = sorted(set(offsets_given) - {_normal(c.name) for c in (cameras or [])})
        if unknown:
            raise UsageError(f"--offsets names cameras {unknown} that the calibration does not have"
                             if cameras is not None else "--offsets needs --calibration (synchronised calibrated views)")
    cache_dir = Path(cache) if cache is not None else out.with_name(out.stem + ".cache")
    cache_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(cache_dir)
    options = {"detector": "mediapipe", "track": track, "max_gap": int(max_gap), "clean": True}

    rows, clips, reports, loaded = [], [], [], []
    store_fps = fps
    for i, path in enumerate(files):
        name = clip_name(path)
        key = cache_key(path, options)
        cached = read_cache(cache_dir / f"{name}.npz", key)
        detected = cached is None
        if detected:
            verb = "reading" if path.suffix.lower() in KEYPOINT_SUFFIXES else "detecting and tracking"
            log(f"[{i + 1}/{len(files)}] {name}: {verb} {path}")
            cached = {**detect_clip(path, options, env), "key": np.array(key), "source": np.array(str(path))}
            write_npz(cache_dir / f"{name}.npz", cached)
        else:
            log(f"[{i + 1}/{len(files)}] {name}: 2-D from the cache")
        width, height = int(cached["width"]), int(cached["height"])
        source = match_camera(name, cameras, calibration) if cameras is not None else None
        if source is not None:
            cam, how = calibrated_camera(source, width, height, calibration)
        else:
            cam, how = guessed_camera(name, width, height, fov, focal)
        kps, conf = convert_layout(cached["keypoints"], cached["confidence"], str(cached["layout"]), layout,
                                   where=f"clip {name!r}")
        if store_fps is None and float(cached["fps"]) > 0:
            store_fps = float(cached["fps"])
        loaded.append((name, path, cached, detected, cam, how, source, kps, conf))
    starts = _recording_starts(loaded, offsets_given, log)
    for (name, path, cached, detected, cam, how, source, kps, conf), start in zip(loaded, starts):
        runs, dropped = segments(cached["flagged"], min_frames)
        if runs:
            rows.append((subject, cam))
            for k, (a, b) in enumerate(runs):
                if start is not None:  # a view of a recording: its place on the recording's time line
                    from poseact.lifting.multiview import synced_take

                    take = synced_take(start[0], a - start[1])
                else:
                    take = name if len(runs) == 1 else f"{name}#{k + 1}"
                clips.append((take, len(rows) - 1, kps[a:b], conf[a:b]))
        if start is not None:
            how += f"; recording {start[0]!r}, offset {start[1]:+d} frames"
        reports.append(ClipReport(name, str(path), len(kps), int(np.asarray(cached["flagged"]).sum()), runs, dropped,
                                  detected, cam.id, how))
    if not clips:
        raise UsageError(f"no stretch of {min_frames} or more unflagged frames in any clip "
                         f"({', '.join(c.name for c in reports)}); nothing to write (lower --min-frames?)")
    builder = StoreBuilder(CameraTable.from_calibrations(rows), layout, DEFAULT_LAYOUT, float(store_fps or 50.0),
                           f"from-videos: {len(files)} clips")
    for take, row, k, c in clips:
        builder.add_clip(subject, ACTION, take, row, k, confidence=c)
    builder.notes.append("unlabeled clips from `poseact data from-videos`; intrinsics: "
                         + "; ".join(f"{r.name}: {r.intrinsics}" for r in reports))
    return FromVideosResult(write_store(out, builder.build()), cache_dir, reports)


def _recording_starts(loaded: list, offsets, log) -> list[tuple[str, int] | None]:
    """Per clip, ``(recording, offset)`` when it is a calibrated view with extrinsics (else None): clips
    whose names differ only by their camera are views of one recording; view ``v``'s frame ``f`` shows
    recording frame ``f - offset``. Offsets: given, zero (``none``), or estimated (``auto``) for
    recordings of two or more views, the first view (by name) at 0."""
    out: list[tuple[str, int] | None] = [None] * len(loaded)
    groups: dict[str, list[int]] = {}
    for i, (name, _, _, _, _, _, source, _, _) in enumerate(loaded):
        if source is not None and source.has_extrinsics:
            groups.setdefault(recording_name(name, source.name), []).append(i)
    for recording, members in groups.items():
        members = sorted(members, key=lambda i: loaded[i][0])
        if isinstance(offsets, dict):
            found = [offsets.get(_normal(loaded[i][6].name), 0) for i in members]
        elif offsets == "auto" and len(members) > 1:
            points = [loaded[i][7] for i in members]
            conf = [loaded[i][8] * ~np.asarray(loaded[i][2]["flagged"], bool)[:, None] for i in members]
            found = estimate_view_offsets(points, conf, [loaded[i][6] for i in members])
            if found is None:
                log(f"recording {recording!r}: clips too short to estimate offsets (±{MAX_OFFSET} frames); taken as 0")
                found = [0] * len(members)
            else:
                log(f"recording {recording!r}: offsets estimated " + ", ".join(
                    f"{loaded[i][6].name} {o:+d}" for i, o in zip(members, found)) + " frames")
        else:
            found = [0] * len(members)
        for i, o in zip(members, found):
            out[i] = (recording, int(o))
    return out


def add_parser(data_subparsers) -> None:
    """Register ``poseact data from-videos`` on the ``poseact data`` subparsers."""
    from poseact.argtypes import positive_int

    p = data_subparsers.add_parser(
        "from-videos", help="clips → an unlabeled store for data.store_unlabeled (detected, tracked, cleaned; cached)",
        description="Detect and track the subject of every clip as `poseact infer` does, clean its 2-D and write an "
                    "unlabeled store (no 3-D) whose cameras have intrinsics, for `poseact fit ... "
                    "data.store_unlabeled=OUT data.subjects_unlabeled=[videos]`. Flagged frames (subject lost, unsure "
                    "swap, long gap) split a clip; stretches shorter than --min-frames are dropped. Each clip's 2-D is "
                    "cached (keyed by the file's size and time and the options), so a rerun redoes only unfinished clips.")
    p.add_argument("inputs", nargs="+", help="videos, folders of videos, or `poseact detect` keypoint files")
    p.add_argument("--out", required=True, help="the store to write (.h5)")
    cam = p.add_mutually_exclusive_group()
    cam.add_argument("--calibration", default=None,
                     help="camera file (Qualisys .qca.txt, Pose2Sim/OpenCV .toml, poseact .yaml); each clip is "
                          "matched to a camera by file name (cam01.mp4 = cam01 / cam_01 / cam1)")
    cam.add_argument("--fov", type=float, default=None,
                     help=f"field of view in degrees across the image's longer side (default {DEFAULT_FOV_DEG:g}: "
                          f"a phone's main camera in video mode); principal point at the image centre, no distortion")
    cam.add_argument("--focal", type=float, default=None, help="focal length in pixels (instead of --fov)")
    p.add_argument("--layout", default=DEFAULT_LAYOUT,
                   help=f"the store's 2-D layout, the labeled store's (default {DEFAULT_LAYOUT})")
    p.add_argument("--subject", default=DEFAULT_SUBJECT, help=f"subject name of every clip (default {DEFAULT_SUBJECT})")
    p.add_argument("--min-frames", type=positive_int, default=DEFAULT_MIN_FRAMES,
                   help=f"shortest unflagged stretch kept (default {DEFAULT_MIN_FRAMES})")
    p.add_argument("--cache", default=None, help="per-clip 2-D cache folder (default: OUT's name + .cache)")
    p.add_argument("--track", default="main",
                   help="the subject: main|longest|largest|confident|none (as poseact infer; default main)")
    p.add_argument("--fps", type=float, default=None, help="frame rate recorded in the store (default: the clips')")
    p.add_argument("--env", default=None, help="the MediaPipe environment (default: poseact detect setup's)")
    p.add_argument("--offsets", default="auto",
                   help="with a calibration that places the cameras: how the views of one recording (clips whose "
                        "names differ only by the camera, e.g. trial1_cam01.mp4, trial1_cam02.mp4) line up: auto "
                        f"(estimated by triangulating the 2-D, within ±{MAX_OFFSET} frames, widened up to ±{4 * MAX_OFFSET} "
                        "where an offset lands on the edge; default), none (they "
                        "start together), or CAM=FRAMES,... (cam03=2: cam03's frame 2 shows the instant of the "
                        "others' frame 0)")


def run_command(args) -> int:
    """``poseact data from-videos`` from parsed arguments."""
    result = from_videos(args.inputs, args.out, args.calibration, args.fov, args.focal, args.layout, args.subject,
                         args.min_frames, args.cache, track=args.track, env=args.env, fps=args.fps,
                         offsets=args.offsets)
    print(result.summary())
    return 0
