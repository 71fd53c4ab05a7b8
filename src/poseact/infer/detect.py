"""The MediaPipe detection stage: its own environment, created on request, run as a subprocess.

MediaPipe 0.10.21 is the last release that bundles the pose models, and it needs numpy<2 and
protobuf<5, which poseact's environment cannot hold (ENVIRONMENT.md). So, as VideoPose3D runs
Detectron2 as a separate step, ``poseact detect setup`` creates a virtual environment holding
only MediaPipe, and ``poseact detect INPUT --out K.json`` runs :mod:`mediapipe_worker` inside it,
writing a keypoint file that :func:`poseact.infer.formats.read_keypoints` reads.

The environment lives at ``$POSEACT_MEDIAPIPE_ENV``, else ``~/.cache/poseact/venv-mediapipe``
(the tests keep theirs in the repository's ``.venv-mediapipe``, ignored by git).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from poseact.atomic import atomic_output
from poseact.errors import DetectionError, MissingFileError

if TYPE_CHECKING:
    from poseact.infer.tracking import Track

#: What the detection environment holds (mediapipe brings opencv-contrib-python for decoding;
#: ai-edge-litert runs the bundled body detector, :mod:`poseact.infer.bodies`).
MEDIAPIPE_REQUIREMENTS = ("mediapipe==0.10.21", "numpy<2", "protobuf<5", "ai-edge-litert==2.3.0")
WORKER = Path(__file__).with_name("mediapipe_worker.py")
#: Run in the new environment before it is marked ready: the worker's imports and the bundled
#: full pose model (complexity 1) and the body detector load, offline.
SMOKE_TEST = ("import sys, cv2, mediapipe as mp; sys.path.insert(0, sys.argv[1]); import bodies; "
              "bodies.BodyDetector(); mp.solutions.pose.Pose(model_complexity=1).close(); "
              "print(mp.__version__, cv2.__version__)")


def env_dir(path: str | os.PathLike | None = None) -> Path:
    """``path``, else ``$POSEACT_MEDIAPIPE_ENV``, else poseact's cache folder/venv-mediapipe (any cwd)."""
    if path is None:
        path = os.environ.get("POSEACT_MEDIAPIPE_ENV")
    if path is None:
        from poseact.paths import cache_dir

        path = cache_dir("venv-mediapipe")
    return Path(path).absolute()


def env_python(path: str | os.PathLike | None = None) -> Path:
    return env_dir(path) / "bin" / "python"


def env_ready(path: str | os.PathLike | None = None) -> bool:
    """Whether the environment exists and holds every one of :data:`MEDIAPIPE_REQUIREMENTS`."""
    return env_state(path) == "ready"


def env_state(path: str | os.PathLike | None = None) -> str:
    """``"missing"`` (no ready environment), ``"outdated"`` (ready, but made before a requirement
    was added: ``setup`` installs what it lacks) or ``"ready"``."""
    marker = env_dir(path) / ".poseact-ready"
    if not marker.exists():
        return "missing"
    held = marker.read_text().split("\n", 1)[0].split()
    return "ready" if all(r in held for r in MEDIAPIPE_REQUIREMENTS) else "outdated"


def setup_env(path: str | os.PathLike | None = None, python: str | None = None, quiet: bool = True) -> Path:
    """Create the MediaPipe environment (idempotent). Returns its folder.

    Uses the interpreter running poseact unless ``python`` is given; MediaPipe 0.10.21 has
    wheels for CPython 3.9–3.12. Only PyPI is contacted (pip). The environment is marked ready
    only after :data:`SMOKE_TEST` passes in it; on machines without the system's libGL (slim
    containers) OpenCV is swapped for its headless build of the same version.
    """
    d = env_dir(path)
    try:
        d.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DetectionError(f"cannot create the MediaPipe environment's folder {d.parent}: {e.strerror}") from None
    if not os.access(d.parent, os.W_OK):
        raise DetectionError(f"cannot create the MediaPipe environment in {d.parent}: not writable (--env elsewhere)")
    state = env_state(d)
    if state == "ready":
        return d
    pip = [str(d / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    if quiet:
        pip.append("--quiet")
    if state == "outdated":  # made by an earlier poseact: add what it lacks, keep the rest
        r = subprocess.run(pip + list(MEDIAPIPE_REQUIREMENTS), capture_output=quiet, text=True)
        error = f"(pip install {' '.join(MEDIAPIPE_REQUIREMENTS)}):\n{(r.stderr or '')[-2000:]}" if r.returncode \
            else _smoke_test(d)
        if error:
            raise DetectionError(f"updating {d} failed {error[-2000:]}")
        (d / ".poseact-ready").write_text(" ".join(MEDIAPIPE_REQUIREMENTS) + "\n")
        return d
    if python is None and not (3, 9) <= sys.version_info[:2] <= (3, 12):
        raise DetectionError(f"mediapipe 0.10.21 has wheels for CPython 3.9-3.12; this is "
                             f"{sys.version.split()[0]}: pass --python /path/to/python3.12")
    made = subprocess.run([python or sys.executable, "-m", "venv", "--clear", str(d)], capture_output=True, text=True)
    if made.returncode:
        last = (made.stderr or made.stdout or "").strip().splitlines()[-1:] or ["no message"]
        raise DetectionError(f"creating {d} failed (python -m venv): {last[0]}")
    r = subprocess.run(pip + list(MEDIAPIPE_REQUIREMENTS), capture_output=quiet, text=True)
    if r.returncode:
        raise DetectionError(f"creating {d} failed (pip install {' '.join(MEDIAPIPE_REQUIREMENTS)}):\n"
                             f"{(r.stderr or '')[-2000:]}")
    note = ""
    error = _smoke_test(d)
    if error and _needs_headless_opencv(error):
        # opencv-contrib-python links the system's libGL, absent on slim/CI images; the headless
        # build of the same version provides the same cv2 without it (MediaPipe bundles its own GL)
        note = _swap_to_headless_opencv(d, pip)
        error = _smoke_test(d)
    if error:
        raise DetectionError(f"created {d}, but MediaPipe does not load there:\n{error[-2000:]}")
    (d / ".poseact-ready").write_text(" ".join(MEDIAPIPE_REQUIREMENTS) + "\n" + note)
    return d


def _smoke_test(d: Path) -> str | None:
    """None when :data:`SMOKE_TEST` passes in the environment ``d``, else its stderr."""
    r = subprocess.run([str(d / "bin" / "python"), "-c", SMOKE_TEST, str(WORKER.parent)], capture_output=True,
                       text=True)
    return None if r.returncode == 0 else (r.stderr or r.stdout or f"exit status {r.returncode}")


def _needs_headless_opencv(error: str) -> bool:
    return "cv2" in error and any(lib in error for lib in ("libGL", "libgthread", "libSM", "libXext"))


def _swap_to_headless_opencv(d: Path, pip: list[str]) -> str:
    """Replace opencv-contrib-python by opencv-contrib-python-headless of the same version."""
    py = str(d / "bin" / "python")
    r = subprocess.run([py, "-c", "import importlib.metadata as m; print(m.version('opencv-contrib-python'))"],
                       capture_output=True, text=True)
    version = r.stdout.strip()
    if r.returncode or not version:
        raise DetectionError(f"created {d}, but cv2 does not load and opencv-contrib-python's version is "
                             f"unknown:\n{r.stderr[-1000:]}")
    subprocess.run([py, "-m", "pip", "uninstall", "--yes", "--quiet", "opencv-contrib-python"],
                   capture_output=True, text=True, check=False)
    headless = f"opencv-contrib-python-headless=={version}"
    r = subprocess.run(pip + ["--no-deps", headless], capture_output=True, text=True)
    if r.returncode:
        raise DetectionError(f"created {d}, but cv2 needs the system's libGL and installing {headless} "
                             f"failed:\n{r.stderr[-2000:]}")
    return f"{headless} (the system has no libGL for opencv-contrib-python)\n"


def detect(input_path: str | os.PathLike, output: str | os.PathLike, env: str | os.PathLike | None = None,
           complexity: int = 1, progress: bool = True, person: str | None = "main",
           box: tuple[float, ...] | None = None) -> Path:
    """Run MediaPipe Pose on a video, a GIF, one image or a folder of images → MediaPipe-33
    keypoint JSON (with each frame's size). A folder's images are detected one by one (static
    mode); a video's and a GIF's frames as a clip (tracking mode). Progress on stderr.

    Clips with ``person`` (a rule of :data:`poseact.infer.tracking.TRACK_RULES` or a track id) or ``box``
    (``(x0, y0, w, h)`` px: the subject is the body in that box where first seen) are detected in two
    passes (:mod:`poseact.infer.tracking`): every body, tracks, one subject, then pose on the subject's
    crop only; a pose that lands on another person is dropped. The JSON's ``tracking`` says which track
    was chosen and why, which frames lost the subject and why, where the other people were, and in which
    frames the subject, though posed, was partly hidden behind a nearer person (``partly_hidden_frames``, with each
    frame's ``partly_hidden_share``; :func:`poseact.infer.tracking.partly_hidden_frames`).
    ``person=None`` and no ``box``: whole frames (the most prominent person per frame)."""
    import tempfile

    input_path, output = Path(input_path), Path(output)
    if not input_path.exists():
        raise MissingFileError(f"input {str(input_path)!r} not found")
    state = env_state(env)
    if state == "missing":
        raise DetectionError(f"no MediaPipe environment at {env_dir(env)}: run `poseact detect setup` "
                             f"first (one time, about a minute)")
    if state == "outdated":
        raise DetectionError(f"the MediaPipe environment at {env_dir(env)} lacks the body detector's runtime "
                             f"(ai-edge-litert): run `poseact detect setup` once more (it adds it)")
    if person is not None:
        check_track_rule(person)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="poseact-detect-") as tmp:
        source, extra = str(input_path), []
        if input_path.suffix.lower() == ".gif":  # decoded here (Pillow): OpenCV's GIF support varies by build
            source, fps = _gif_to_frames(input_path, Path(tmp))
            extra = ["--temporal"] + (["--fps", str(fps)] if fps else [])
        cmd = [str(env_python(env)), str(WORKER), source, "{out}", "--complexity", str(complexity), *extra]
        clip = not (input_path.is_dir() or input_path.suffix.lower() in _image_suffixes()) or bool(extra)
        tracking, rc, stderr, found = None, 0, "", None
        if (person is not None or box is not None) and clip:
            bodies_file = Path(tmp) / "bodies.json"
            rc, stderr = _run_with_progress([str(bodies_file) if c == "{out}" else c for c in cmd] + ["--bodies"],
                                            f"finding people in {input_path.name}" if progress else None)
            if rc:
                stderr = f"(finding people for --track; --track none skips it)\n{stderr}"
            else:
                tracking, crops, found = _track(bodies_file, person or "main", str(input_path), box)
                if crops is not None:
                    from poseact.infer.tracking import other_people_masks

                    crops_file, masks_file = Path(tmp) / "crops.json", Path(tmp) / "masks.json"
                    crops_file.write_text(json.dumps(crops))
                    masks_file.write_text(json.dumps(other_people_masks(found[0], found[1], crops)))
                    cmd += ["--crops", str(crops_file), "--masks", str(masks_file)]
        if not rc:
            poses = Path(tmp) / "keypoints.json"
            rc, stderr = _run_with_progress([str(poses) if c == "{out}" else c for c in cmd],
                                            f"detecting {input_path.name}" if progress else None)
            if not rc:
                doc = json.loads(poses.read_text())
                if tracking is not None:
                    if found is not None:
                        _drop_other_people(doc["frames"], tracking, *found)
                        _mark_partly_hidden(doc["frames"], tracking, *found[:2])
                    doc["tracking"] = tracking
                doc["source"] = str(input_path.absolute())
                with atomic_output(output) as out:
                    out.write_text(json.dumps(doc))
    if rc:
        msg = [ln for ln in stderr.splitlines() if "poseact detect: error" in ln]
        text = msg[-1].removeprefix("poseact detect: error: ") if msg else \
            f"MediaPipe on {str(input_path)!r} failed:\n{stderr[-2000:]}"
        raise DetectionError(text.replace(source, str(input_path)))
    return output


def _image_suffixes() -> tuple[str, ...]:
    from poseact.viz.video import IMAGE_SUFFIXES

    return IMAGE_SUFFIXES


def check_track_rule(rule: str | int) -> None:
    """Refuse a ``--track`` value before any detection runs."""
    from poseact.errors import UsageError
    from poseact.infer.tracking import TRACK_RULES

    if not (str(rule) in TRACK_RULES or str(rule).isdigit()):
        raise UsageError(f"--track {rule!r}: use {', '.join(TRACK_RULES)}, a track id (listed in the keypoint "
                         f"JSON's 'tracking'), or none")


def _track(bodies_file: Path, person: str | int, source: str, box: tuple[float, ...] | None = None
           ) -> tuple[dict, list | None, tuple | None]:
    """Bodies → tracks → the subject, its per-frame crops (None: nobody found anywhere, whole frames) and
    what the identity check of the poses needs (the subject's track, every frame's bodies)."""
    from poseact.infer.tracking import (
        choose_track,
        join_pieces,
        link_tracks,
        other_people_colours,
        subject_crops,
        track_in_box,
    )

    doc = json.loads(bodies_file.read_text())
    bodies, (w, h) = doc["bodies"], (doc["width"], doc["height"])
    tracks = link_tracks(bodies)
    if not tracks:
        if box is not None:
            raise DetectionError(f"{source!r}: --box: no person's body was found in any frame")
        return {"chosen": None, "why": "no body found in any frame: pose on whole frames (the most prominent "
                                       "person per frame)", "tracks": [], "lost_frames": []}, None, None
    try:
        chosen, why = track_in_box(tracks, box) if box is not None else choose_track(tracks, str(person))
    except ValueError as e:
        raise DetectionError(f"{source!r}: {e}") from None
    if box is None:  # say where the chosen person is, so a user can tell who it is (a box says it already)
        hip = chosen.dets[0]["hip"]
        why += f", first seen at frame {chosen.frames[0]} with the hips at ({hip[0]:.0f}, {hip[1]:.0f}) px"
    default = choose_track(tracks, "main")[0].id  # whom the default rule would follow (beside a box or rule)
    chosen, joined = join_pieces(chosen, tracks)
    if joined:
        why += f", joined with track(s) {', '.join(map(str, joined))} (the same person after a gap)"
    crops, reasons = subject_crops(chosen, bodies, w, h)
    lost = sorted(t for t, c in enumerate(crops) if c is None)
    people = [[{"hip": d["hip"], "radius": d["radius"]} for d in f if d not in chosen.dets] for f in bodies]
    return {"chosen": chosen.id, "joined": joined, "why": why, "rule": "box" if box is not None else person,
            "box": list(box) if box is not None else None, "default_choice": default,
            "tracks": [tr.summary() for tr in tracks],
            "lost_frames": lost, "lost_why": reasons, "people_per_frame_max": max(len(f) for f in bodies),
            "detector": doc.get("detector"), "others": people}, crops, \
        (chosen, bodies, other_people_colours(chosen, tracks, joined))


def _drop_other_people(frames: list, tracking: dict, chosen, bodies: list[list[dict]],
                       people: dict | None = None) -> None:
    """The identity check of the poses: a pose whose hip centre lies nearer another person's body than the
    subject's (where the subject is expected, :func:`poseact.infer.tracking.expected_hips`), or whose torso
    colours are not the subject's (Bhattacharyya distance above :data:`~poseact.infer.tracking.MAX_COLOUR`
    from the subject's sightings nearest in time), or are nearer another tracked person's colours (``people``:
    track id → colours, :func:`poseact.infer.tracking.other_people_colours`) than the subject's — someone
    standing right behind or in front of the subject, whose body the detector could not tell apart — is
    someone else caught in the subject's crop: removed, its frame added to the lost frames (``other_person``).
    ``tracking["pose_colour_distance"]``: per frame, to the subject's colours; ``"pose_colour_other"``: to the
    nearest other person's."""
    import numpy as np

    from poseact.infer.tracking import MAX_COLOUR, colour_distance, colour_of, expected_hips

    expect = expected_hips(chosen, len(frames))
    radius = float(np.median([d["radius"] for d in chosen.dets]))
    sighted = np.asarray(chosen.frames)
    dropped, distances, to_others = [], [None] * len(frames), [None] * len(frames)
    for t, found in enumerate(frames):
        if not found:
            continue
        k = np.asarray(found[0]["keypoints"], float)
        hip = k[[23, 24], :2].mean(0)
        mine = float(np.hypot(*(hip - expect[t])))
        others = [float(np.hypot(*(hip - np.asarray(d["hip"])))) for d in bodies[t] if d not in chosen.dets]
        at = int(np.searchsorted(sighted, t))  # the subject's 5 sightings nearest frame t (sighted is sorted)
        lo = max(0, at - 5)
        near = lo + np.argsort(np.abs(sighted[lo:at + 5] - t), kind="stable")[:5]
        subject = colour_of([chosen.dets[j] for j in near])
        colour = colour_distance(subject, found[0]["colour"]) \
            if subject is not None and found[0].get("colour") else None
        distances[t] = None if colour is None else round(colour, 3)
        other = min((colour_distance(c, found[0]["colour"]) for c in (people or {}).values()), default=None) \
            if colour is not None else None
        to_others[t] = None if other is None else round(other, 3)
        if (others and min(others) < mine) or mine > 1.0 * radius or (colour is not None and colour > MAX_COLOUR) \
                or (other is not None and other < colour):
            frames[t] = []
            dropped.append(t)
    tracking["lost_why"]["other_person"] = dropped
    tracking["lost_frames"] = sorted(set(tracking["lost_frames"]) | set(dropped))
    tracking["pose_colour_distance"] = distances
    tracking["pose_colour_other"] = to_others


def _mark_partly_hidden(frames: list, tracking: dict, chosen: Track, bodies: list[list[dict]]) -> None:
    """``tracking["partly_hidden_frames"]``: the frames with a pose of the subject in which a quarter or more
    of the body stands behind a nearer person (:func:`poseact.infer.tracking.partly_hidden_frames`; where the
    body detector missed the subject, its body is taken from the pose's hips and shoulders);
    ``"partly_hidden_share"`` per frame (None: not posed)."""
    import numpy as np

    from poseact.infer.tracking import partly_hidden_frames, pose_body

    radius = float(np.median([d["radius"] for d in chosen.dets]))
    sighted = set(chosen.frames)
    unsighted = {t: pose_body(found[0]["keypoints"], radius) for t, found in enumerate(frames)
                 if found and t not in sighted and t < len(bodies)}
    hidden, shares = partly_hidden_frames(chosen, bodies, unsighted)
    posed = {t for t, found in enumerate(frames) if found}
    tracking["partly_hidden_frames"] = [t for t in hidden if t in posed]
    tracking["partly_hidden_share"] = [round(shares[t], 3) if t in shares and t in posed else None
                                       for t in range(len(frames))]


def _gif_to_frames(path: Path, folder: Path) -> tuple[Path, float | None]:
    """A GIF's frames as numbered PNGs in ``folder``; its frame rate from the first frame's duration."""
    from poseact.viz.video import gif_fps, iter_frames

    import imageio.v3 as iio

    for i, frame in enumerate(iter_frames(path)):
        iio.imwrite(folder / f"{i:06d}.png", frame)
    return folder, gif_fps(path)


def _run_with_progress(cmd: list[str], what: str | None) -> tuple[int, str]:
    """Run the worker, turning its ``progress I N`` lines into a bar; (exit status, other stderr)."""
    from contextlib import nullcontext

    from poseact.viz.progress import ProgressLine

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    with ProgressLine(what) if what else nullcontext() as bar:
        for line in proc.stderr:
            if line.startswith("progress "):
                if bar is not None:
                    done, total = (int(v) for v in line.split()[1:3])
                    bar.update(done, total or None)
            else:
                lines.append(line)
    return proc.wait(), "".join(lines)
