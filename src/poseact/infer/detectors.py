"""The detect stage: where the 2-D keypoints come from, behind one interface (:class:`Detector`).

* :class:`MediaPipeDetector` — MediaPipe Pose in its own environment (:mod:`poseact.infer.detect`);
  on clips the subject is followed by the body (:mod:`poseact.infer.tracking`);
* :class:`MultitaskDetector` — poseact's multi-task model (:mod:`poseact.infer.multitask_keypoints`);
* :class:`KeypointFile` — keypoints someone else detected (:mod:`poseact.infer.formats`).

:func:`make_detector` turns the options into one of them and holds every check of the detector
options (``poseact infer`` and ``poseact detect`` both use it). A detector is asked, in order, to
:meth:`~Detector.prepare` (load and check everything before any output is made), :meth:`~Detector.detect`
(write the keypoint file) and :meth:`~Detector.read` (the subject's :class:`Detections`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from poseact.errors import CheckpointError, KeypointFileError, UsageError
from poseact.infer.formats import Track2D, read_keypoints
from poseact.layouts import can_convert
from poseact.skeleton import get_skeleton

DETECTORS = ("mediapipe", "multitask")


@dataclass
class Detections:
    """The detect stage's result: the subject's 2-D ``track`` (``(T, J, 2)`` px, NaN where unseen, its
    ``person`` line saying who it is), the keypoint file, the frames where the subject was lost
    (``lost (T,)``: flagged, never filled from someone else), the frames where it was posed but partly
    hidden behind a nearer person (``partly_hidden (T,)``: flagged; None: not known) and the other people per
    frame (``others``: ``[[{"hip": [x, y], "radius"}, ...], ...]`` px, or None)."""

    track: Track2D
    keypoint_file: Path
    lost: np.ndarray
    others: list | None = None
    partly_hidden: np.ndarray | None = None

    @property
    def flagged(self) -> np.ndarray:
        """``(T,)`` the frames flagged before cleaning: the subject lost or partly hidden."""
        return self.lost if self.partly_hidden is None else self.lost | self.partly_hidden


class Detector:
    """One source of 2-D keypoints (module docstring). ``name`` goes into the outputs (None: a file)."""

    name: str | None = None

    def prepare(self, src: Path, lifter_layout: str | None, lifter_source: str = "") -> None:
        """Load and check what detection needs, before any output is made (default: nothing)."""

    def detect(self, src: Path, output: Path) -> Path:
        """Write the keypoint file ``output`` for ``src``; returns it."""
        raise NotImplementedError

    def read(self, keypoint_file: Path, src: Path, person: str = "largest", layout: str | None = None,
             clip: str | None = None) -> Detections:
        """The subject's keypoints from our own keypoint file, errors naming the input (not the file)."""
        try:
            track = read_keypoints(keypoint_file, layout, person=person, clip=clip)
        except KeypointFileError as e:
            msg = str(e).replace(f"keypoint file {str(keypoint_file)!r}", f"{str(src)!r} ({self.name} keypoints)")
            raise KeypointFileError(msg + self.no_person_hint()) from None
        return Detections(track, keypoint_file, np.zeros(track.num_frames, bool))

    def no_person_hint(self) -> str:
        return ""


class KeypointFile(Detector):
    """Keypoints detected elsewhere: nothing to run; the file's layout is checked (``layout``)."""

    def detect(self, src: Path, output: Path) -> Path:
        return src

    def read(self, keypoint_file: Path, src: Path, person: str = "largest", layout: str | None = None,
             clip: str | None = None) -> Detections:
        track = read_keypoints(keypoint_file, layout, person=person, clip=clip)
        found = Detections(track, keypoint_file, np.zeros(track.num_frames, bool))
        if Path(keypoint_file).suffix.lower() == ".json":  # poseact's own: who was followed, lost, partly hidden
            doc = json.loads(Path(keypoint_file).read_text())
            apply_tracking(found, doc.get("tracking") if isinstance(doc, dict) else None)
        return found


def apply_tracking(found: Detections, tracking: dict | None) -> bool:
    """What ``poseact detect`` recorded in a keypoint JSON's ``tracking`` about the subject it followed, onto
    ``found``: the lost frames (``lost_frames``), the partly hidden ones (``partly_hidden_frames``; None when
    the file predates them), the other people and the person line. False (``found`` unchanged) when no subject
    was followed."""
    if not tracking or tracking.get("chosen") is None:
        return False
    lost = found.lost
    lost[[t for t in tracking["lost_frames"] if t < len(lost)]] = True
    if "partly_hidden_frames" in tracking:
        found.partly_hidden = np.zeros(len(lost), bool)
        found.partly_hidden[[t for t in tracking["partly_hidden_frames"] if t < len(lost)]] = True
    why = ", ".join(f"{len(v)} {k.replace('_', ' ')}" for k, v in tracking.get("lost_why", {}).items() if v)
    n = int(lost.sum())
    h = 0 if found.partly_hidden is None else int(found.partly_hidden.sum())
    unposed = int((~np.isfinite(found.track.keypoints).all(axis=(1, 2)) & ~lost).sum())
    found.track.person = f"followed by the body: {tracking['why']}; " + (
        f"the subject is lost in {n} frame{'s' if n != 1 else ''}" + (f" ({why})" if why else "")
        + " (flagged, never filled from another person)" if n else "the subject is found in every frame") + (
        f"; the pose model found no pose in its crop in {unposed} more frame{'s' if unposed != 1 else ''} (filled "
        f"over time)" if unposed else "") + (
        f"; partly hidden behind a nearer person in {h} frame{'s' if h != 1 else ''} (posed, flagged: the "
        f"hidden limbs are guessed)" if h else "")
    found.others = tracking.get("others")
    return True


class MediaPipeDetector(Detector):
    """MediaPipe Pose; on clips the subject chosen by ``track_rule`` (None: whole frames) or ``box``."""

    name = "mediapipe"

    def __init__(self, track_rule: str | None = "main", box: tuple[float, ...] | None = None,
                 env: str | os.PathLike | None = None):
        self.track_rule, self.box, self.env = track_rule, box, env

    def detect(self, src: Path, output: Path) -> Path:
        from poseact.infer.detect import detect

        return detect(src, output, env=self.env, person=self.track_rule, box=self.box)

    def read(self, keypoint_file: Path, src: Path, person: str = "largest", layout: str | None = None,
             clip: str | None = None) -> Detections:
        found = super().read(keypoint_file, src, person, layout, clip)
        tracking = json.loads(keypoint_file.read_text()).get("tracking")
        if not apply_tracking(found, tracking):
            found.track.person = ("one person per frame (MediaPipe Pose is single-person: the most prominent one)"
                                  + (f"; {tracking['why']}" if tracking else ""))
        return found


class MultitaskDetector(Detector):
    """poseact's multi-task model on a fixed square crop (``crop`` mode or ``box``)."""

    name = "multitask"

    def __init__(self, checkpoint: str | os.PathLike, config: str | os.PathLike | None = None,
                 crop: str = "centre", box: tuple[float, ...] | None = None, min_confidence: float | None = None):
        from poseact.infer.multitask_keypoints import DEFAULT_MIN_CONFIDENCE, square_box

        self.checkpoint, self.config, self.crop = checkpoint, config, crop
        self.box = square_box(box)
        self.min_confidence = DEFAULT_MIN_CONFIDENCE if min_confidence is None else min_confidence
        self.model = None

    def prepare(self, src: Path, lifter_layout: str | None, lifter_source: str = "") -> None:
        from poseact.infer.multitask_keypoints import crop_box, load_keypoint_model

        try:
            crop_box(1, 1, self.crop, self.box)  # a bad crop option fails before anything is made
        except ValueError as e:
            raise UsageError(f"input {str(src)!r}: {e}") from None
        self.model = load_keypoint_model(self.checkpoint, self.config)
        if lifter_layout is not None and not can_convert(self.model.layout, lifter_layout):
            raise CheckpointError(
                f"checkpoint {lifter_source!r} takes {get_skeleton(lifter_layout).num_joints} joints "
                f"({lifter_layout}), but keypoint checkpoint {self.model.source!r} predicts "
                f"{self.model.num_joints} ({self.model.layout}) and there is no conversion between them")

    def detect(self, src: Path, output: Path) -> Path:
        from poseact.infer.multitask_keypoints import detect_multitask

        if self.model is None:
            self.prepare(src, None)
        return detect_multitask(src, output, self.model, crop=self.crop, box=self.box,
                                min_confidence=self.min_confidence)

    def no_person_hint(self) -> str:
        return (f" (every frame's mean joint confidence was below --min-confidence {self.min_confidence:g}; "
                f"a tighter --box around the person may help)")

    def read(self, keypoint_file: Path, src: Path, person: str = "largest", layout: str | None = None,
             clip: str | None = None) -> Detections:
        found = super().read(keypoint_file, src, person, layout, clip)
        detected = json.loads(keypoint_file.read_text())
        found.track.person = (f"one pose per frame from the multi-task model (crop {detected['crop']['mode']} "
                              f"{detected['crop']['box']} = x0, y0, side px); frames with mean joint confidence "
                              f"< {detected['min_confidence']} count as no person")
        return found


def make_detector(src: Path, is_frames: bool, detector: str | None = None, keypoint_layout: str | None = None,
                  keypoint_checkpoint: str | os.PathLike | None = None,
                  keypoint_config: str | os.PathLike | None = None, crop: str = "centre",
                  box: tuple[float, ...] | None = None, min_confidence: float | None = None,
                  track_rule: str | None = "main", env: str | os.PathLike | None = None) -> Detector:
    """The detector the options ask for, after every check of the detector options (one line each)."""
    from poseact.infer.options import check_box

    check_box(box)
    given = detector is not None
    if detector is None:
        detector = "multitask" if keypoint_checkpoint is not None else "mediapipe"
    if detector not in DETECTORS:
        raise UsageError(f"detector {detector!r}: use one of {DETECTORS}")
    multitask_only = keypoint_checkpoint is not None or keypoint_config is not None \
        or min_confidence is not None or crop != "centre"
    if not is_frames:
        if multitask_only or given or box is not None:
            raise UsageError(f"input {str(src)!r} is a keypoint file: detector options (--keypoints "
                             f"{detector}, --keypoint-checkpoint, --crop, --box, --min-confidence) apply "
                             f"to videos and image folders")
        return KeypointFile()
    if keypoint_layout is not None:
        raise UsageError(f"input {str(src)!r} is a video or an image folder: --keypoints "
                         f"{keypoint_layout} checks a keypoint file's layout; choose the detector with "
                         f"--keypoints mediapipe|multitask")
    if detector == "mediapipe":
        if multitask_only:
            raise UsageError(f"input {str(src)!r}: --keypoint-checkpoint/--keypoint-config/--crop/"
                             f"--min-confidence belong to --keypoints multitask")
        return MediaPipeDetector(None if track_rule in (None, "none") else track_rule, box, env)
    if keypoint_checkpoint is None:
        raise UsageError(f"input {str(src)!r}: --keypoints multitask needs --keypoint-checkpoint CKPT "
                         f"(a checkpoint of `poseact fit configs/experiment/multitask_*.yaml`)")
    if env is not None:
        raise UsageError("--env is the MediaPipe environment; the multi-task model runs in poseact's")
    return MultitaskDetector(keypoint_checkpoint, keypoint_config, crop, box, min_confidence)
