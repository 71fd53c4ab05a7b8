"""Read 2-D keypoint files the way detectors write them, for one person per clip.

Formats (``FORMATS``), all giving :class:`Track2D` — ``keypoints (T, J, 2)`` pixels with NaN
where nobody or no joint was seen, ``confidence (T, J)`` in [0, 1] (0 where missing):

* ``json`` — three shapes are recognised, the layout comes from the joint count
  (17 → ``coco17``, 26 → ``halpe26``, 33 → ``mediapipe33``):
    - COCO results / AlphaPose: ``[{"image_id": ..., "keypoints": [x, y, c, ...], "score": s,
      "box"/"bbox": [...], "idx": track}, ...]`` — grouped into frames by ``image_id``
      (sorted naturally: ``2.jpg`` before ``10.jpg``); AlphaPose's ``idx`` is a track id;
    - one list per frame: ``[[person, ...], ...]`` where a person is ``{"keypoints": ...}``
      or a bare ``[[x, y, c], ...]`` / flat ``[x, y, c, ...]``;
    - poseact's own (what ``poseact detect`` writes): ``{"layout", "width", "height", "fps",
      "frames": [[person, ...], ...]}``.
* ``npz`` — VideoPose3D's ``data_2d_custom_<name>.npz`` (spec §5.5): COCO-17, no confidence
  (taken as 1), frame size from ``metadata['video_metadata']``.

Choosing the person (several people in a frame): with track ids, the track with the largest
summed score (**most confident track**); otherwise, per frame, the person with the **largest**
keypoint bounding box (``person="largest"``) or the highest mean confidence
(``person="confident"``). The choice is stated in ``Track2D.person``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from poseact.errors import KeypointFileError, MissingFileError
from poseact.safe_load import load_npz_objects
from poseact.skeleton import get_skeleton

FORMATS = ("json", "npz")
LAYOUT_BY_JOINTS = {17: "coco17", 26: "halpe26", 33: "mediapipe33"}
PERSON_RULES = ("largest", "confident")


@dataclass
class Track2D:
    """One person's 2-D keypoints over a clip: ``keypoints (T, J, 2)`` px, ``confidence (T, J)``."""

    keypoints: np.ndarray
    confidence: np.ndarray
    layout: str
    source: str
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    person: str = "single person"
    notes: list[str] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.keypoints.shape[0])


def read_keypoints(path: str | Path, layout: str | None = None, person: str = "largest",
                   clip: str | None = None) -> Track2D:
    """Read ``path`` (format from the suffix); ``layout`` checks the joint layout when given."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"keypoint file {str(path)!r} not found")
    if person not in PERSON_RULES:
        raise ValueError(f"person rule {person!r}: use one of {PERSON_RULES}")
    if path.suffix == ".npz":
        track = _read_custom_npz(path, clip)
    elif path.suffix == ".json":
        track = _read_json(path, person)
    else:
        raise KeypointFileError(f"keypoint file {str(path)!r}: unknown suffix {path.suffix!r} "
                                f"(expected .json or .npz)")
    _check_track(track, path)
    if layout is not None and layout != track.layout:
        raise KeypointFileError(f"keypoint file {str(path)!r}: holds {track.keypoints.shape[1]} joints "
                                f"({track.layout}), but layout {layout!r} "
                                f"({get_skeleton(layout).num_joints} joints) was asked for")
    return track


# -- VideoPose3D custom npz ----------------------------------------------------------------------

def _read_custom_npz(path: Path, clip: str | None) -> Track2D:
    data = load_npz_objects(path, ["positions_2d", "metadata"], what="keypoint file", error=KeypointFileError)
    if "positions_2d" not in data:
        raise KeypointFileError(f"keypoint file {str(path)!r}: not a VideoPose3D data_2d_custom npz "
                                f"(needs 'positions_2d' and 'metadata'; it has no 'positions_2d')")
    positions = _npz_dict(data["positions_2d"], path, "positions_2d")
    metadata = _npz_dict(data["metadata"], path, "metadata") if "metadata" in data else {}
    videos = sorted(positions)
    if not videos:
        raise KeypointFileError(f"keypoint file {str(path)!r}: positions_2d is empty")
    if clip is None:
        if len(videos) > 1:
            raise KeypointFileError(f"keypoint file {str(path)!r}: holds {len(videos)} videos {videos[:5]}; "
                                    f"choose one with --clip")
        clip = videos[0]
    if clip not in positions:
        raise KeypointFileError(f"keypoint file {str(path)!r}: no video {clip!r} (has {videos[:5]})")
    cams = positions[clip]
    try:
        arr = np.asarray(cams["custom"][0] if isinstance(cams, dict) else cams[0], dtype=np.float32)
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise KeypointFileError(f"keypoint file {str(path)!r}: video {clip!r} is not a list (or a dict "
                                f"{{'custom': [...]}}) of per-camera (frames, joints, 2) number arrays "
                                f"({type(e).__name__}: {e})") from None
    if arr.ndim != 3 or arr.shape[-1] < 2:
        raise KeypointFileError(f"keypoint file {str(path)!r}: video {clip!r} has shape {arr.shape}, "
                                f"expected (frames, joints, 2)")
    layout = _layout_for(arr.shape[1], path)
    meta = metadata.get("video_metadata", {})
    meta = meta.get(clip, {}) if isinstance(meta, dict) else meta
    if not isinstance(meta, dict):
        raise KeypointFileError(f"keypoint file {str(path)!r}: metadata['video_metadata'][{clip!r}] is a "
                                f"{type(meta).__name__}, expected a dict {{'w': width, 'h': height}}")
    kps = arr[..., :2].copy()
    conf = np.where(np.isfinite(kps).all(-1), 1.0, 0.0).astype(np.float32)
    return Track2D(kps, conf, layout, str(path), meta.get("w"), meta.get("h"),
                   person=f"video {clip!r}, single person (VideoPose3D: highest-scoring box per frame)")


def _check_track(track: Track2D, path: Path) -> None:
    """Refuse what has no meaning: a frame size or rate that is not a positive number, a layout
    that is not a name, a person whose every seen joint lies at (0, 0)."""
    for name, value in (("width", track.width), ("height", track.height), ("fps", track.fps)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not np.isfinite(value) or value <= 0:
            raise KeypointFileError(f"keypoint file {str(path)!r}: {name} {value!r} is not a positive number"
                                    + (" (the frame size scales the keypoints)" if name != "fps" else ""))
    if not isinstance(track.layout, str):
        raise KeypointFileError(f"keypoint file {str(path)!r}: layout {track.layout!r} is not a layout name")
    seen = np.isfinite(track.keypoints).all(-1) & (track.confidence > 0)
    if seen.any() and not np.any(track.keypoints[seen] != 0):
        raise KeypointFileError(f"keypoint file {str(path)!r}: every detected joint of its {track.num_frames} "
                                f"frames lies at (0, 0); nothing was detected, so there is nothing to lift")


def _npz_dict(arr: np.ndarray, path: Path, key: str) -> dict:
    """The dict pickled in a 0-d object array (VideoPose3D's npz convention)."""
    value = arr.item() if arr.dtype == object and arr.shape == () else arr
    if not isinstance(value, dict):
        what = f"{arr.dtype} array of shape {arr.shape}" if value is arr else type(value).__name__
        raise KeypointFileError(f"keypoint file {str(path)!r}: {key!r} is a {what}, expected a dict "
                                f"(a 0-d object array, as VideoPose3D writes)")
    return value


# -- JSON ----------------------------------------------------------------------------------------

def _natural_key(value) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(value)))


def _person_array(p, path: Path, where: str) -> tuple[np.ndarray, float | None, object]:
    """A person entry → ``(J, 3)`` x, y, confidence; its score and track id when given."""
    score, track = None, None
    if isinstance(p, dict):
        if "keypoints" not in p:
            raise KeypointFileError(f"keypoint file {str(path)!r}: {where} has no 'keypoints' "
                                    f"(keys {sorted(p)[:6]})")
        score, track = p.get("score"), p.get("idx", p.get("track_id"))
        p = p["keypoints"]
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            raise KeypointFileError(f"keypoint file {str(path)!r}: {where} score {score!r} is not a number")
        if track is not None and not isinstance(track, (int, str)):
            raise KeypointFileError(f"keypoint file {str(path)!r}: {where} track id {track!r} is not a "
                                    f"number or a string")
    try:
        a = np.asarray(p, dtype=np.float32)
    except (TypeError, ValueError):
        raise KeypointFileError(f"keypoint file {str(path)!r}: {where} keypoints are not numbers") from None
    if a.ndim == 1 and a.size % 3 == 0:
        a = a.reshape(-1, 3)
    if a.ndim != 2 or a.shape[1] not in (2, 3):
        raise KeypointFileError(f"keypoint file {str(path)!r}: {where} keypoints have shape {a.shape}, "
                                f"expected (J, 3) or a flat [x, y, c, ...]")
    if a.shape[1] == 2:
        a = np.concatenate([a, np.ones((len(a), 1), np.float32)], axis=1)
    return a, score, track


def _read_json(path: Path, person: str) -> Track2D:
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise KeypointFileError(f"keypoint file {str(path)!r}: not valid JSON ({e})") from None
    meta: dict = {}
    if isinstance(data, dict):
        if "frames" not in data:
            raise KeypointFileError(f"keypoint file {str(path)!r}: a JSON object needs 'frames' "
                                    f"(keys {sorted(data)[:6]})")
        meta, frames_raw = data, data["frames"]
    elif isinstance(data, list) and data and all(isinstance(d, dict) and "image_id" in d for d in data):
        by_image: dict = {}
        for i, d in enumerate(data):
            if isinstance(d["image_id"], bool) or not isinstance(d["image_id"], (int, float, str)):
                raise KeypointFileError(f"keypoint file {str(path)!r}: entry {i} has image_id {d['image_id']!r}; "
                                        f"expected a number or a file name")
            by_image.setdefault(d["image_id"], []).append(d)
        frames_raw = [by_image[k] for k in sorted(by_image, key=_natural_key)]
    elif isinstance(data, list):
        frames_raw = data
    else:
        raise KeypointFileError(f"keypoint file {str(path)!r}: expected a list or an object, got "
                                f"{type(data).__name__}")
    if not isinstance(frames_raw, list) or not frames_raw:
        raise KeypointFileError(f"keypoint file {str(path)!r}: no frames")
    frames: list[list[tuple[np.ndarray, float | None, object]]] = []
    for t, fr in enumerate(frames_raw):
        if fr is None:
            fr = []
        if not isinstance(fr, list):
            raise KeypointFileError(f"keypoint file {str(path)!r}: frame {t} is not a list of people")
        frames.append([_person_array(p, path, f"frame {t} person {i}") for i, p in enumerate(fr)])
    counts = {a.shape[0] for fr in frames for a, _, _ in fr}
    if not counts:
        raise KeypointFileError(f"keypoint file {str(path)!r}: no person detected in any of its "
                                f"{len(frames)} frames")
    if len(counts) > 1:
        raise KeypointFileError(f"keypoint file {str(path)!r}: people with different joint counts {sorted(counts)}")
    n_joints = counts.pop()
    layout = meta.get("layout") or _layout_for(n_joints, path)
    if not isinstance(layout, str):
        raise KeypointFileError(f"keypoint file {str(path)!r}: layout {layout!r} is not a layout name "
                                f"(e.g. 'coco17')")
    if get_skeleton(layout).num_joints != n_joints:
        raise KeypointFileError(f"keypoint file {str(path)!r}: says layout {layout!r} but holds {n_joints} joints")
    kps, conf, note = _choose_person(frames, n_joints, person)
    return Track2D(kps, conf, layout, str(path), meta.get("width"), meta.get("height"), meta.get("fps"),
                   person=note)


def _layout_for(n_joints: int, path: Path) -> str:
    try:
        return LAYOUT_BY_JOINTS[n_joints]
    except KeyError:
        known = ", ".join(f"{n} ({name})" for n, name in LAYOUT_BY_JOINTS.items())
        raise KeypointFileError(f"keypoint file {str(path)!r}: {n_joints} joints per person is not a known "
                                f"layout; expected {known}") from None


def _box_area(a: np.ndarray) -> float:
    seen = a[(a[:, 2] > 0) & np.isfinite(a[:, :2]).all(1), :2]
    if len(seen) < 2:
        return 0.0
    return float(np.prod(seen.max(0) - seen.min(0)))


def _choose_person(frames, n_joints: int, rule: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Pick one person per frame → ``(T, J, 2)`` with NaN where none, ``(T, J)``, a sentence."""
    T = len(frames)
    kps = np.full((T, n_joints, 2), np.nan, np.float32)
    conf = np.zeros((T, n_joints), np.float32)
    crowded = sum(len(fr) > 1 for fr in frames)
    tracks = {tr for fr in frames for _, _, tr in fr if tr is not None}
    if crowded and tracks and all(tr is not None for fr in frames for _, _, tr in fr):
        totals: dict = {}
        for fr in frames:
            for a, score, tr in fr:
                totals[tr] = totals.get(tr, 0.0) + (score if score is not None else float(a[:, 2].mean()))
        best = max(totals, key=totals.get)
        pick = [next((a for a, _, tr in fr if tr == best), None) for fr in frames]
        note = f"most confident track (id {best!r} of {len(tracks)} tracks)"
    else:
        def value(entry):
            a, score, _ = entry
            if rule == "largest":
                return _box_area(a)
            return score if score is not None else float(a[:, 2].mean())
        pick = [max(fr, key=value)[0] if fr else None for fr in frames]
        what = "largest keypoint box" if rule == "largest" else "most confident person"
        note = (f"{what} per frame ({crowded} of {T} frames had several people)" if crowded
                else "single person")
    for t, a in enumerate(pick):
        if a is None:
            continue
        c = np.clip(np.nan_to_num(a[:, 2]), 0.0, 1.0)
        ok = (c > 0) & np.isfinite(a[:, :2]).all(1)
        kps[t, ok] = a[ok, :2]
        conf[t, ok] = c[ok]
    return kps, conf, note
