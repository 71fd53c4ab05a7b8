"""Real motion capture → an in-the-wild lifting store: detector joint semantics, varied cameras, noise.

The lifter ``poseact infer`` runs is fed MediaPipe's (or COCO's) keypoints converted to H36M-17 by
:mod:`poseact.layouts`: pelvis = mid-hips, thorax = mid-shoulders, spine = their midpoint, joint 9
= the nose, joint 10 = mid-eyes. A lifter for real footage should be trained on exactly those
points, seen the way real footage sees people. This module makes such training data from mocap
takes (:mod:`poseact.convert.mocap_files`) and, beside them, the synthetic motion:

* **Joints** (:func:`detector_joints`): hips, knees, ankles, shoulders, elbows, wrists found by
  name in the file (``LeftUpLeg`` / ``thigh.L`` / ``lfemur`` …, :data:`JOINT_ALIASES`); the nose and
  eyes placed from the head segment and the facing direction of the shoulders (nose 0.35 L up and
  0.55 L forward of the head joint, mid-eyes 0.6 L up and 0.45 L forward, L = head joint → head
  end, 0.12-0.25 m; the head's yaw relative to the shoulders is not recovered). The up axis is the
  one from the ankles to the head; the result is z-up with the floor at z = 0.
* **Cameras as people hold them** (:func:`random_camera`): pinhole cameras of common frame sizes
  (landscape, portrait 40 % of clips, square), horizontal fields of view 40-80°, 0.3-2.8 m high (a
  phone at the hip to a balcony), aimed within ±0.3 m of the body's middle, from any side, at a
  distance that makes the body 20-90 % of the frame height; 60 % of them held tilted, rolled
  uniformly within ±45° about the optical axis (:func:`roll_camera`: for a pinhole camera an exact
  in-plane rotation of the 2-D with the same rotation of the camera-space 3-D), the rest within a
  few degrees of upright; a camera is moved back until the whole body stays in the frame in 98 % of
  the frames (:func:`in_view`). Real footage of pose2sim's demo is portrait with the body's axis
  17-42° off the image's vertical; upright-only training data failed on it (issue 19).
* **Chunks**: takes longer than 18 s are cut into ~12 s chunks, each with its own cameras (more
  viewpoints per motion, and a walking take's whole path need not fit one frame).
* **Triangulated real motion** (:class:`WorldTake`, :func:`upright_world`): takes already in the
  detector's joints (e.g. a calibrated multi-camera recording's 2-D triangulated), stood upright
  in their calibration frame, short gaps filled, then seen by the same cameras.
* **Subject size and proportions**: each clip's segments lengthened or shortened group by group
  (:func:`reproportion`: hip width 0.85-1.35, thighs 0.9-1.1, shins 0.88-1.08, torso 0.9-1.22,
  shoulder width 0.9-1.25, upper arms 0.9-1.1, forearms 0.9-1.15, head points 0.8-1.2; measured on
  pose2sim's Demo_Batch/Trial_1, MediaPipe's triangulated hips and shoulders are 5-15 % wider and
  its torso ~20 % longer, relative to the legs, than mocap joint centres), then the whole body
  scaled by 0.85-1.15 about the floor point below it.
* **Frame rate**: each clip resampled to a rate drawn from 24-60 fps (footage is rarely 50 fps).
* **Detector noise** (:func:`detector_like_noise`), in units of the body's height in the image:
  per-frame jitter (0.6 %, 1.0 % on knees/ankles/elbows/wrists, 1.2 % on hips), drift (1 %, 0.5 s),
  outliers (0.3 % of joints per frame, ~8 %, 1-3 frames) and left/right leg swaps (0.1 % of frames,
  3-10 frames) — MediaPipe's commonest failures on real video; noise is added to the detector's
  own points and the derived joints (pelvis, thorax, spine) are then derived from the noisy ones.

Each train take gives ``cameras`` clips (subject ``mocap``), the synthetic motion ``synthetic_cameras``
clips per take (subject ``synthetic``), and held-out takes ``cameras`` clips (subject ``heldout``):
the config :file:`configs/experiment/wild.yaml` trains on the first two and tests on the third.
The synthetic clips get the same pelvis/thorax/spine derivation; their joints 9 and 10 keep the
synthetic body's own neck/nose and head points (its skeleton has no head segment to place eyes from).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from poseact.convert.deepmimic import DEEPMIMIC_SUFFIXES, is_deepmimic_motion, read_deepmimic
from poseact.convert.mocap_files import MocapTake, PathLike, read_asf_amc, read_bvh
from poseact.errors import ConversionError
from poseact.geometry import world_to_camera
from poseact.geometry.tables import CameraCalibration
from poseact.skeleton import H36M17
from poseact.synthetic.generator import keyed_rng, ou_noise, project_camera

#: detector point → joint names to look for (lower case, side removed), first found wins; a name
#: ending in ``_end`` is the end point of that segment
JOINT_ALIASES: dict[str, tuple[str, ...]] = {
    "hip": ("upleg", "upperleg", "thigh", "femur", "hip"),
    "knee": ("leg", "lowerleg", "shin", "tibia", "calf", "knee"),
    "ankle": ("foot", "ankle"),
    "shoulder": ("upperarm", "arm", "humerus", "shoulder"),
    "elbow": ("forearm", "lowerarm", "radius", "elbow"),
    "wrist": ("wrist", "hand", "forearm_end", "lowerarm_end", "radius_end"),
}
HEAD_ALIASES = ("head", "face", "skull")
HEAD_TOP_ALIASES = ("head_end", "headtop", "headtop_end", "headtopend", "face_end", "skull_end")
NECK_ALIASES = ("neck", "upperneck", "lowerneck")
_SIDES = {"left": ("left", "l"), "right": ("right", "r")}

J = {n: i for i, n in enumerate(H36M17.joint_names)}
#: the detector's own points in the H36M-17 order (the rest are derived from them)
DETECTED = ("right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "neck", "head",
            "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist")
EXTREMITIES = ("right_knee", "right_ankle", "left_knee", "left_ankle", "left_elbow", "left_wrist",
               "right_elbow", "right_wrist")
RESOLUTIONS = ((1920, 1080), (1280, 720), (1080, 1920), (720, 1280), (640, 480), (1080, 1080))
FOOT_ABOVE_FLOOR_M = 0.08


def _split_side(name: str) -> tuple[str | None, tuple[str, ...]]:
    """A joint name → its side and the names it may go by, namespaces and side tags removed:
    ``LeftUpLeg`` → ("left", ("upleg",)); ``thigh.L`` → ("left", ("thigh",)); ``lfemur`` → ("left",
    ("femur",)); ``Bip01_L_Thigh`` → ("left", ("thigh",)); ``mixamorig:Head`` → (None, ("head",));
    an end site keeps ``_end`` (``Head_end`` → (None, ("head_end",)))."""
    raw = name.lower().rsplit(":", 1)[-1]
    end = raw.endswith("_end")
    base = raw[:-4] if end else raw
    parts = [p for p in re.split(r"[^a-z0-9]+", base) if p]
    side = None
    for k, part in enumerate(parts):
        for s, tags in _SIDES.items():
            if part in tags and len(parts) > 1:  # Bip01_L_Thigh, thigh.L, left_hip
                side = s
                after, before = parts[k + 1:], parts[:k]
                parts = after or before
            elif part.startswith(tags[0]) and len(part) > len(tags[0]):  # LeftUpLeg, mixamorig_LeftArm
                side = s
                parts = [part[len(tags[0]):], *parts[k + 1:]]
            if side:
                break
        if side:
            break
    known = {a for v in JOINT_ALIASES.values() for a in v} | {"hipjoint", "clavicle"}
    if side is None and len(parts) == 1 and len(parts[0]) > 1 and parts[0][0] in "lr" and parts[0][1:] in known:
        side, parts = ("left" if parts[0][0] == "l" else "right"), [parts[0][1:]]  # ASF: lfemur, rhumerus
    suffix = "_end" if end else ""
    return side, tuple("".join(parts[i:]) + suffix for i in range(len(parts)))


def _find(names: Sequence[str], side: str | None, aliases: Sequence[str]) -> int | None:
    split = [_split_side(n) for n in names]
    for alias in aliases:
        for j, (s, cores) in enumerate(split):
            if s == side and alias in cores:
                return j
    return None


def _required(names: Sequence[str], path: PathLike) -> dict[str, int]:
    found: dict[str, int] = {}
    missing = []
    for point, aliases in JOINT_ALIASES.items():
        for side in ("left", "right"):
            j = _find(names, side, aliases)
            if j is None:
                missing.append(f"{side}_{point}")
            else:
                found[f"{side}_{point}"] = j
    head = _find(names, None, HEAD_ALIASES)
    if head is None:
        missing.append("head")
    else:
        found["head_base"] = head
        top = _find(names, None, HEAD_TOP_ALIASES)
        neck = _find(names, None, NECK_ALIASES)
        if top is not None:
            found["head_top"] = top
        if neck is not None:
            found["neck"] = neck
        if top is None and neck is None:
            missing.append("head end site or neck")
    if missing:
        raise ConversionError(f"{path}: cannot find {', '.join(missing)} among the file's joints "
                              f"({', '.join(names[:40])})")
    return found


def leg_length(positions: np.ndarray, names: Sequence[str], path: PathLike) -> float:
    """Median hip → knee → ankle length (file units, legs averaged) of ``positions (T, J, 3)``."""
    total = []
    for side in ("left", "right"):
        hip, knee, ankle = (_find(names, side, JOINT_ALIASES[p]) for p in ("hip", "knee", "ankle"))
        if None in (hip, knee, ankle):
            raise ConversionError(f"{path}: cannot find the {side} leg (hip, knee, ankle) among the joints "
                                  f"({', '.join(names[:40])}) to tell the units; pass them explicitly")
        total.append(np.linalg.norm(positions[:, knee] - positions[:, hip], axis=-1)
                     + np.linalg.norm(positions[:, ankle] - positions[:, knee], axis=-1))
    return float(np.median(np.mean(total, axis=0)))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True).clip(1e-9)


def detector_joints(take: MocapTake) -> np.ndarray:
    """``(T, 17, 3)`` metres, z up, floor z = 0: the take's joints as a detector's keypoints converted
    to H36M-17 would place them (module docstring)."""
    idx = _required(take.names, take.source)
    p = take.positions
    g = {k: p[:, j] for k, j in idx.items()}
    if take.up_axis is not None:  # the format fixes it (a crawl's head is no higher than its feet)
        axis, sign = "xyz".index(take.up_axis[1]), (-1.0 if take.up_axis[0] == "-" else 1.0)
    else:
        up_vector = np.median(g["head_base"] - 0.5 * (g["left_ankle"] + g["right_ankle"]), axis=0)
        axis = int(np.argmax(np.abs(up_vector)))
        sign = np.sign(up_vector[axis])
    # a proper rotation taking the file's up axis to +z
    basis = {0: np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]]), 1: np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]]),
             2: np.eye(3)}[axis].astype(float)
    if sign < 0:
        basis = np.diag([1.0, -1.0, -1.0]) @ basis
    g = {k: v @ basis.T for k, v in g.items()}
    head_length = (np.median(np.linalg.norm(g["head_top"] - g["head_base"], axis=-1)) if "head_top" in g else 0.0)
    if head_length >= 0.08:  # a real head segment: its own up direction
        up, length = _unit(g["head_top"] - g["head_base"]), float(np.clip(head_length, 0.12, 0.25))
    elif "neck" in g:  # a stub end site (or none): the neck's direction, an average head
        up, length = _unit(g["head_base"] - g["neck"]), 0.18
    else:
        raise ConversionError(f"{take.source}: the head's end site is {head_length * 100:.0f} cm from the head "
                              "joint and there is no neck joint to give the head's direction")
    lateral = g["left_shoulder"] - g["right_shoulder"]  # towards the subject's left
    forward = _unit(np.cross(lateral, up))
    out = np.empty((take.num_frames, 17, 3))
    for side in ("left", "right"):
        for point in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"):
            out[:, J[f"{side}_{point}"]] = g[f"{side}_{point}"]
    out[:, J["neck"]] = g["head_base"] + length * (0.35 * up + 0.55 * forward)  # the nose
    out[:, J["head"]] = g["head_base"] + length * (0.60 * up + 0.45 * forward)  # mid-eyes
    derive_torso(out)
    floor = np.percentile(np.minimum(out[:, J["left_ankle"], 2], out[:, J["right_ankle"], 2]), 5)
    out[..., 2] -= floor - FOOT_ABOVE_FLOOR_M
    return out


@dataclass
class WorldTake:
    """A take already in the detector's H36M-17 semantics: ``pose (T, 17, 3)`` metres in any world
    frame (NaN where a joint was not seen), e.g. the detector's 2-D triangulated across calibrated
    views of a real recording (a pose2sim demo recording)."""

    name: str
    pose: np.ndarray
    fps: float
    source: str


def read_world_take(path: PathLike) -> WorldTake:
    """An ``.npz`` with ``pose3d_world (T, 17, 3)`` metres (H36M-17, the detector's semantics) and
    ``fps`` → :class:`WorldTake` (named after the file); read without pickles."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            pose, fps = np.asarray(z["pose3d_world"], dtype=np.float64), float(z["fps"])
    except FileNotFoundError:
        from poseact.errors import InputNotFoundError

        raise InputNotFoundError(f"{p}: triangulated motion file not found") from None
    except KeyError as e:
        raise ConversionError(f"{p}: needs pose3d_world (T, 17, 3) metres and fps; missing {e.args[0]}") from None
    except (OSError, ValueError) as e:
        raise ConversionError(f"{p}: not a readable .npz without pickles ({e})") from None
    if pose.ndim != 3 or pose.shape[1:] != (17, 3) or len(pose) < 2:
        raise ConversionError(f"{p}: pose3d_world has shape {pose.shape}, expected (T >= 2, 17, 3) metres")
    if not (np.isfinite(fps) and fps > 0):
        raise ConversionError(f"{p}: fps must be positive, got {fps}")
    return WorldTake(p.stem, pose, fps, str(p))


def upright_world(take: WorldTake, max_gap_s: float = 0.5) -> list[np.ndarray]:
    """A :class:`WorldTake` → its runs of usable frames as ``(T, 17, 3)`` metres, z up (the frame's
    axis nearest the ankles → head direction when within 25 degrees of it, else that direction),
    floor under the feet, facing kept; joints missing for
    less than ``max_gap_s`` are interpolated, longer gaps split the take; runs under 1 s are dropped."""
    pose = take.pose.copy()
    seen = np.isfinite(pose).all(axis=-1)  # (T, 17)
    t = np.arange(len(pose))
    good = seen.all(axis=1)
    if good.sum() < 2:
        raise ConversionError(f"{take.source}: fewer than two frames with every joint")
    for j in range(17):
        if seen[:, j].sum() >= 2 and not seen[:, j].all():
            for d in range(3):
                pose[:, j, d] = np.interp(t, t[seen[:, j]], pose[seen[:, j], j, d])
    # frames inside a short gap of any joint count as usable; a long gap splits the take
    usable = np.ones(len(pose), dtype=bool)
    max_gap = int(round(max_gap_s * take.fps))
    for j in range(17):
        miss = ~seen[:, j]
        k = 0
        while k < len(miss):
            if miss[k]:
                e = k
                while e < len(miss) and miss[e]:
                    e += 1
                if e - k > max_gap or k == 0 or e == len(miss):
                    usable[k:e] = False
                k = e
            else:
                k += 1
    up = np.median(pose[usable][:, J["head"]] - 0.5 * (pose[usable][:, J["left_ankle"]]
                                                       + pose[usable][:, J["right_ankle"]]), axis=0)
    up = _unit(up)
    axis = int(np.argmax(np.abs(up)))
    if abs(up[axis]) > np.cos(np.deg2rad(25)):  # a calibration frame with an axis up (z in Qualisys, y in
        up = np.eye(3)[axis] * np.sign(up[axis])  # OpenCV's): trust it over a leaning body's axis
    x = _unit(np.cross(up, [0.0, 0.0, 1.0]) if abs(up[2]) < 0.9 else np.cross(up, [1.0, 0.0, 0.0]))
    y = np.cross(up, x)
    world = pose @ np.stack([x, y, up], axis=0).T  # rows: new x, y, z axes
    derive_torso(world)
    floor = np.nanpercentile(np.minimum(world[usable, J["left_ankle"], 2], world[usable, J["right_ankle"], 2]), 5)
    world[..., 2] -= floor - FOOT_ABOVE_FLOOR_M
    runs, k = [], 0
    while k < len(usable):
        if usable[k]:
            e = k
            while e < len(usable) and usable[e]:
                e += 1
            if e - k >= take.fps:
                runs.append(world[k:e])
            k = e
        else:
            k += 1
    if not runs:
        raise ConversionError(f"{take.source}: no run of 1 s with every joint seen")
    return runs


def derive_torso(pose: np.ndarray) -> np.ndarray:
    """Fill pelvis, thorax and spine of ``(..., 17, D)`` in place as :mod:`poseact.layouts` derives them."""
    pose[..., J["pelvis"], :] = 0.5 * (pose[..., J["left_hip"], :] + pose[..., J["right_hip"], :])
    pose[..., J["thorax"], :] = 0.5 * (pose[..., J["left_shoulder"], :] + pose[..., J["right_shoulder"], :])
    pose[..., J["spine"], :] = 0.5 * (pose[..., J["pelvis"], :] + pose[..., J["thorax"], :])
    return pose


#: (parent, child) segments of the detector's joints, from the pelvis outwards (pelvis, spine and thorax
#: are re-derived after rescaling); group names index :attr:`WildConfig.proportions`
SEGMENTS: tuple[tuple[str, str, str], ...] = (
    ("pelvis", "left_hip", "hips"), ("pelvis", "right_hip", "hips"),
    ("left_hip", "left_knee", "thigh"), ("right_hip", "right_knee", "thigh"),
    ("left_knee", "left_ankle", "shin"), ("right_knee", "right_ankle", "shin"),
    ("pelvis", "thorax", "torso"),
    ("thorax", "left_shoulder", "shoulders"), ("thorax", "right_shoulder", "shoulders"),
    ("left_shoulder", "left_elbow", "upper_arm"), ("right_shoulder", "right_elbow", "upper_arm"),
    ("left_elbow", "left_wrist", "forearm"), ("right_elbow", "right_wrist", "forearm"),
    ("thorax", "neck", "head"), ("thorax", "head", "head"),
)


def reproportion(world: np.ndarray, factors: dict[str, float]) -> np.ndarray:
    """``world (T, 17, 3)`` with each segment group of :data:`SEGMENTS` lengthened by its factor (1 when
    absent), every segment keeping its direction in every frame; the pelvis stays, then pelvis, spine
    and thorax are re-derived and the feet put back on the floor. Other bodies' proportions than the
    few mocap subjects', and the detector's (MediaPipe's hips and shoulders sit wider and its
    torso longer than mocap joint centres)."""
    out = world.copy()
    for parent, child, group in SEGMENTS:  # parents are placed before their children
        f = factors.get(group, 1.0)
        out[:, J[child]] = out[:, J[parent]] + f * (world[:, J[child]] - world[:, J[parent]])
    derive_torso(out)
    floor = lambda p: np.percentile(np.minimum(p[:, J["left_ankle"], 2], p[:, J["right_ankle"], 2]), 5)  # noqa: E731
    out[..., 2] += floor(world) - floor(out)
    return out


def resample(world: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Linear resampling of ``(T, ...)`` along time from ``fps_in`` to ``fps_out``."""
    t = len(world)
    n = max(int(np.floor((t - 1) * fps_out / fps_in)) + 1, 1)
    src = np.arange(n) * fps_in / fps_out
    lo = np.minimum(np.floor(src).astype(int), t - 1)
    hi = np.minimum(lo + 1, t - 1)
    w = (src - lo).reshape(-1, *[1] * (world.ndim - 1))
    return (1 - w) * world[lo] + w * world[hi]


@dataclass(frozen=True)
class WildConfig:
    """Augmentation ranges of :func:`build_wild_store` (defaults: module docstring)."""

    cameras: int = 4  # clips per mocap take (per chunk of a long take)
    #: a short take gets more cameras, up to ``max_cameras_factor`` × ``cameras``, until its clips add up to
    #: this many seconds (DeepMimic's 1-4 s takes: kicks, jumps, a cartwheel, seen from more sides)
    short_take_views_s: float = 20.0
    max_cameras_factor: int = 4
    synthetic_cameras: int = 2  # clips per synthetic take
    chunk_s: float = 12.0  # long takes are cut into chunks of about this length, each seen by its own cameras
    fov_deg: tuple[float, float] = (40.0, 80.0)
    camera_height_m: tuple[float, float] = (0.3, 2.8)  # low (a phone at the hip) to high (a shelf, a balcony)
    aim_m: float = 0.3  # the aim point's spread about the body's middle, up and down
    body_fraction: tuple[float, float] = (0.2, 0.9)
    portrait_prob: float = 0.4
    roll_prob: float = 0.6  # clips whose camera is held tilted (else within a few degrees of upright)
    roll_deg: float = 45.0
    min_in_view: float = 0.98  # share of frames with the whole body in the frame
    subject_scale: tuple[float, float] = (0.85, 1.15)
    #: per clip, each segment group's length is multiplied by a factor drawn from its range
    proportions: tuple[tuple[str, float, float], ...] = (
        ("hips", 0.85, 1.35), ("thigh", 0.9, 1.1), ("shin", 0.88, 1.08), ("torso", 0.9, 1.22),
        ("shoulders", 0.9, 1.25), ("upper_arm", 0.9, 1.1), ("forearm", 0.9, 1.15), ("head", 0.8, 1.2))
    fps: tuple[float, float] = (24.0, 60.0)
    jitter: float = 0.006
    jitter_extremities: float = 0.010
    jitter_hips: float = 0.012
    drift: float = 0.010
    drift_time_s: float = 0.5
    outlier_prob: float = 0.003
    outlier_size: float = 0.08
    swap_prob: float = 0.001
    seed: int = 0


def roll_camera(cam: CameraCalibration, degrees: float) -> CameraCalibration:
    """The same camera turned by ``degrees`` about its own optical axis (a phone held tilted).

    For a pinhole camera (equal focal lengths, no distortion) this is exactly an in-plane rotation:
    the image turns by ``-degrees`` about the principal point and the camera-space 3-D about the
    camera's z axis by the same angle, so it doubles as a rotation augmentation of 2-D and 3-D alike.
    """
    qw, x, y, z = cam.orientation
    cam_to_world = Rotation.from_quat([x, y, z, qw]).as_matrix() @ Rotation.from_rotvec(
        [0.0, 0.0, np.deg2rad(degrees)]).as_matrix()
    x, y, z, qw = Rotation.from_matrix(cam_to_world).as_quat()
    return replace(cam, orientation=(float(qw), float(x), float(y), float(z)))


def in_view(world: np.ndarray, cam: CameraCalibration, margin: float = 0.02) -> float:
    """Fraction of the frames of ``world (T, J, 3)`` whose joints all project inside ``cam``'s frame
    (``margin``: a band at the edges, a fraction of the shorter side) and lie in front of it."""
    pose3d = world_to_camera(world, np.asarray(cam.orientation), np.asarray(cam.translation))
    uv = project_camera(pose3d.astype(np.float32), cam)
    pad = margin * min(cam.res_w, cam.res_h)
    inside = ((uv[..., 0] >= pad) & (uv[..., 0] <= cam.res_w - pad) & (uv[..., 1] >= pad)
              & (uv[..., 1] <= cam.res_h - pad) & (pose3d[..., 2] > 0.3))
    return float(inside.all(axis=1).mean())


def random_camera(rng: np.random.Generator, world: np.ndarray, name: str, cfg: WildConfig) -> CameraCalibration:
    """A pinhole camera seeing the take ``world (T, 17, 3)`` (z up) from a random side (docstring),
    moved back along its axis until the whole body stays in the frame (rolled frames are tighter)."""
    portrait = rng.random() < cfg.portrait_prob
    shapes = [r for r in RESOLUTIONS if (r[0] < r[1]) == portrait]
    w, h = shapes[rng.integers(len(shapes))]
    hfov = np.deg2rad(rng.uniform(*cfg.fov_deg)) if w >= h else 2 * np.arctan(np.tan(np.deg2rad(
        rng.uniform(*cfg.fov_deg)) / 2) * w / h)  # portrait: the field of view is the long side's
    f = w / (2 * np.tan(hfov / 2))
    pelvis = world[:, J["pelvis"]]
    centre = pelvis.mean(axis=0)
    stature = float(np.percentile(world[..., 2].max(axis=1), 90)) + 0.1
    extent = float(np.linalg.norm(pelvis[:, :2] - centre[:2], axis=-1).max())
    vfov = 2 * np.arctan(h / (2 * f))
    # near enough for the body's share of the frame, far enough that the whole path stays in view
    distance = max(f * stature / (rng.uniform(*cfg.body_fraction) * h), extent + 1.0,
                   extent / np.tan(0.8 * min(hfov, vfov) / 2) + 0.5)
    azimuth = rng.uniform(0, 2 * np.pi)
    height = rng.uniform(*cfg.camera_height_m)
    target = np.array([centre[0], centre[1], stature / 2 + rng.uniform(-cfg.aim_m, cfg.aim_m)])
    roll = rng.uniform(-cfg.roll_deg, cfg.roll_deg) if rng.random() < cfg.roll_prob else rng.normal(0, 3)
    centre_px = (w / 2 + rng.normal(0, 0.01 * w), h / 2 + rng.normal(0, 0.01 * h))
    for _ in range(30):
        position = np.array([centre[0] + distance * np.cos(azimuth), centre[1] + distance * np.sin(azimuth), height])
        forward = _unit(target - position)
        right = _unit(np.cross(forward, [0.0, 0.0, 1.0]))
        down = np.cross(forward, right)
        x, y, z, qw = Rotation.from_matrix(np.stack([right, down, forward], axis=1)).as_quat()
        cam = roll_camera(CameraCalibration(
            name, int(w), int(h), float(np.rad2deg(azimuth)), (float(f), float(f)), centre_px, (0.0, 0.0, 0.0),
            (0.0, 0.0), (float(qw), float(x), float(y), float(z)), tuple(float(v) for v in position)), roll)
        if in_view(world, cam) >= cfg.min_in_view:
            return cam
        distance *= 1.12
    return cam


def detector_like_noise(keypoints: np.ndarray, rng: np.random.Generator, fps: float, cfg: WildConfig,
                        res: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe-like corruption of clean ``keypoints (T, 17, 2)`` pixels (module docstring).

    Returns ``(noisy (T, 17, 2) float32 pixels, confidence (T, 17) float32)``; pelvis, thorax and
    spine are re-derived from the noisy detected points.
    """
    t = len(keypoints)
    size = np.ptp(keypoints[..., 1], axis=1).clip(20.0)[:, None, None]  # body height in the image, px
    sigma = np.full(17, cfg.jitter)
    sigma[[J[n] for n in EXTREMITIES]] = cfg.jitter_extremities
    sigma[[J["left_hip"], J["right_hip"]]] = cfg.jitter_hips
    err = rng.standard_normal((t, 17, 2)) * sigma[None, :, None]
    err += ou_noise(rng, (t, 17, 2), cfg.drift, cfg.drift_time_s * fps)
    start = rng.random((t, 17)) < cfg.outlier_prob
    outlier = np.zeros((t, 17), dtype=bool)
    for lag, keep in enumerate((1.0, 0.66, 0.33)):
        n = max(t - lag, 0)
        hit = start[:n] & (rng.random((n, 17)) < keep)
        outlier[lag:] |= hit
    direction = _unit(rng.standard_normal((t, 17, 2)))
    err += np.where(outlier[..., None], direction * cfg.outlier_size * rng.uniform(0.5, 1.5, (t, 17, 1)), 0)
    noisy = keypoints + err * size
    swapped = np.zeros(t, dtype=bool)
    for s in np.flatnonzero(rng.random(t) < cfg.swap_prob):
        swapped[s: s + rng.integers(3, 11)] = True
    legs_l, legs_r = [J["left_knee"], J["left_ankle"]], [J["right_knee"], J["right_ankle"]]
    noisy[np.ix_(swapped, legs_l + legs_r)] = noisy[np.ix_(swapped, legs_r + legs_l)]
    derive_torso(noisy)
    rel = np.linalg.norm(err, axis=-1) / max(cfg.jitter, 1e-6)
    conf = 0.95 - 0.3 * np.tanh(rel / 4) + 0.02 * rng.standard_normal((t, 17))
    conf = np.where(outlier, conf * rng.uniform(0.1, 0.5, (t, 17)), conf)
    inside = ((noisy >= 0) & (noisy <= np.asarray(res, dtype=np.float64))).all(axis=-1)
    conf = np.where(inside, conf, 0.4 * conf)
    return noisy.astype(np.float32), np.clip(conf, 0, 1).astype(np.float32)


def read_take(path: PathLike, units: str = "auto", amc_fps: float = 120.0) -> MocapTake:
    """A ``.bvh`` file, an ``.amc`` file with the ``.asf`` beside it (same stem, or the only one), or a
    DeepMimic humanoid3d motion (``.txt``/``.json``, :mod:`poseact.convert.deepmimic`)."""
    p = Path(path)
    if p.suffix.lower() == ".bvh":
        return read_bvh(p, units=units)
    if p.suffix.lower() in DEEPMIMIC_SUFFIXES:
        return read_deepmimic(p)
    if p.suffix.lower() == ".amc":
        same = p.with_suffix(".asf")
        candidates = [same] if same.exists() else sorted(p.parent.glob("*.asf"))
        if len(candidates) != 1:
            raise ConversionError(f"{p}: needs its skeleton: an .asf file of the same name, or the only .asf "
                                  f"in its folder ({len(candidates)} found)")
        return read_asf_amc(candidates[0], p, fps=amc_fps)
    raise ConversionError(f"{p}: unknown motion-capture suffix {p.suffix!r}; .bvh, .amc (+ .asf) or a DeepMimic "
                          ".txt/.json")


def find_takes(paths: Sequence[PathLike]) -> list[Path]:
    """Files and folders (searched recursively) → the ``.bvh`` / ``.amc`` files and DeepMimic motions (a
    folder's ``.txt``/``.json`` files that hold one; its licences do not), sorted, unique by content."""
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files += sorted(q for q in p.rglob("*") if q.is_file() and (
                q.suffix.lower() in (".bvh", ".amc")
                or (q.suffix.lower() in DEEPMIMIC_SUFFIXES and is_deepmimic_motion(q))))
        elif p.exists():
            files.append(p)
        else:
            from poseact.errors import InputNotFoundError

            raise InputNotFoundError(f"{p}: motion-capture file or folder not found")
    # sdists ship the same clip twice (bvhtools: tutorials/test1.bvh = testBvhFiles/test.bvh): files of
    # equal size are compared by content, the rest are distinct without reading them
    sizes = [f.stat().st_size for f in files]
    seen, unique = set(), []
    for f, size in zip(files, sizes):
        key = (size, zlib.crc32(f.read_bytes())) if sizes.count(size) > 1 else (size, None)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    if not unique:
        raise ConversionError(f"no .bvh, .amc or DeepMimic motion files in {', '.join(str(p) for p in paths)}")
    return unique


def chunks(n_frames: int, fps: float, chunk_s: float) -> list[tuple[int, int]]:
    """``[start, stop)`` frame ranges cutting a take of ``n_frames`` at ``fps`` into near-equal chunks
    of about ``chunk_s`` seconds (one chunk when shorter than 1.5 chunks)."""
    count = max(1, int(round(n_frames / (fps * chunk_s))))
    edges = np.linspace(0, n_frames, count + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def cameras_for(n_frames: int, fps: float, cfg: WildConfig) -> int:
    """Clips per chunk of a mocap take of ``n_frames`` at ``fps``: ``cfg.cameras``, more for a take
    shorter than ``cfg.short_take_views_s`` seconds (:class:`WildConfig`)."""
    wanted = int(np.ceil(round(cfg.short_take_views_s * fps / max(n_frames, 1), 3)))  # 30.0003 fps is 30
    return int(np.clip(wanted, cfg.cameras, cfg.cameras * cfg.max_cameras_factor))


def _add_take(builder, cameras: list, subject: str, action: str, take: str, world: np.ndarray, fps: float,
              n_cameras: int, cfg: WildConfig) -> None:
    parts = chunks(len(world), fps, cfg.chunk_s)
    for k, (start, stop) in enumerate(parts):
        label = take if len(parts) == 1 else f"{take} [{k}]"
        for c in range(n_cameras):
            rng = keyed_rng(cfg.seed, subject, take, k, c) if len(parts) > 1 else keyed_rng(cfg.seed, subject, take, c)
            rate = rng.uniform(*cfg.fps)
            clip = resample(world[start:stop], fps, rate)
            if cfg.proportions:
                clip = reproportion(clip, {g: rng.uniform(lo, hi) for g, lo, hi in cfg.proportions})
            floor = np.array([*clip[:, J["pelvis"], :2].mean(axis=0), 0.0])
            clip = floor + (clip - floor) * rng.uniform(*cfg.subject_scale)
            for _ in range(20):  # a camera that sees the whole take in front of it
                cam = random_camera(rng, clip, f"{label}#{c}", cfg)
                pose3d = world_to_camera(clip, np.asarray(cam.orientation), np.asarray(cam.translation))
                if pose3d[..., 2].min() > 0.5:
                    break
            else:
                raise ConversionError(f"{take}: no camera found that sees the whole take in front of it")
            clean = project_camera(pose3d.astype(np.float32), cam)
            keypoints, confidence = detector_like_noise(clean, rng, rate, cfg, (cam.res_w, cam.res_h))
            cameras.append((subject, cam))
            builder.add_clip(subject, action, f"{label} #{c}", len(cameras) - 1, keypoints, confidence=confidence,
                             pose3d=pose3d.astype(np.float32), pose3d_world=clip.astype(np.float32))


def build_wild_store(takes: Sequence[MocapTake], held_out: Sequence[str] = (), synthetic_frames: int = 600,
                     cfg: WildConfig = WildConfig(), store_fps: float = 50.0, world_takes: Sequence[WorldTake] = ()):
    """Mocap ``takes`` (``held_out``: take names for the test subject) + triangulated ``world_takes``
    (subject ``mocap``, action ``video <name>``) + the synthetic motion (``synthetic_frames`` per take
    at 50 fps; 0 = none) → a :class:`~poseact.store.PoseStore`."""
    from poseact.store import CameraTable, StoreBuilder

    unknown = sorted(set(held_out) - {t.name for t in takes})
    if unknown:
        raise ConversionError(f"--held-out {', '.join(unknown)}: no such take; takes: "
                              f"{', '.join(t.name for t in takes)}")
    if not [t for t in takes if t.name not in held_out] and synthetic_frames <= 0 and not world_takes:
        raise ConversionError("every take is held out and there is no synthetic motion: nothing to train on")
    cameras: list[tuple[str, CameraCalibration]] = []
    builder = StoreBuilder(CameraTable.from_calibrations([]), "h36m17", "h36m17", store_fps,
                           f"poseact wild v1 (seed {cfg.seed}): {len(takes)} mocap takes + synthetic motion")
    for take in takes:
        subject = "heldout" if take.name in held_out else "mocap"
        world = detector_joints(take)
        _add_take(builder, cameras, subject, f"mocap {take.name}", take.name, world, take.fps,
                  cameras_for(len(world), take.fps, cfg), cfg)
        builder.notes += [*take.notes, f"{take.name}: {take.source}, {take.num_frames} frames at {take.fps:g} fps "
                                       f"-> subject {subject}"]
    for wt in world_takes:
        runs = upright_world(wt)
        for k, world in enumerate(runs):
            name = wt.name if len(runs) == 1 else f"{wt.name}.{k}"
            _add_take(builder, cameras, "mocap", f"video {wt.name}", name, world, wt.fps,
                      cameras_for(len(world), wt.fps, cfg), cfg)
        builder.notes.append(f"{wt.name}: {wt.source}, {sum(map(len, runs))} of {len(wt.pose)} frames at "
                             f"{wt.fps:g} fps in {len(runs)} run(s) -> subject mocap")
    if synthetic_frames > 0:
        from poseact.synthetic.generator import DEFAULT_ACTIONS
        from poseact.synthetic.motion import generate_motion

        for subject in ("S1", "S5", "S6", "S7", "S8"):
            for action in DEFAULT_ACTIONS:
                world = generate_motion(subject, action, 1, synthetic_frames, 50.0,
                                        keyed_rng(cfg.seed, "synthetic", subject, action))
                world = derive_torso(world.copy())
                _add_take(builder, cameras, "synthetic", action, f"{subject} {action}", world, 50.0,
                          cfg.synthetic_cameras, cfg)
    builder.notes.append(f"clips resampled to {cfg.fps[0]:g}-{cfg.fps[1]:g} fps (footage's rates); the store's "
                         f"{store_fps:g} fps is nominal")
    builder.cameras = CameraTable.from_calibrations(cameras)
    store = builder.build()
    store.validate()
    return store


def convert_mocap(paths: Sequence[PathLike], out: PathLike, held_out: Sequence[str] = (),
                  synthetic_frames: int = 600, cfg: WildConfig = WildConfig(), units: str = "auto",
                  amc_fps: float = 120.0, triangulated: Sequence[PathLike] = ()) -> Path:
    """Read every take under ``paths`` and the ``triangulated`` ``.npz`` takes (:func:`read_world_take`),
    build the store (:func:`build_wild_store`), write it atomically."""
    import warnings

    from poseact.convert.npz import ConversionWarning
    from poseact.store import write_store

    files = find_takes(paths)
    takes = [read_take(p, units=units, amc_fps=amc_fps) for p in files]
    stems = [f.stem for f in files]
    for take, f in zip(takes, files):  # clashing stems (test.bvh, test.amc) get their suffix
        take.name = f.stem if stems.count(f.stem) == 1 else f"{f.stem}_{f.suffix.lower().lstrip('.')}"
    names = [t.name for t in takes]
    for take, f in zip(takes, files):
        if names.count(take.name) > 1:
            take.name = f"{take.name}-{zlib.crc32(str(f).encode()) % 10000:04d}"
    # --held-out may name a take, its file name or its path
    by_key = {k: t.name for t, f in zip(takes, files) for k in (t.name, f.name, str(f))}
    held_out = [by_key.get(h, h) for h in held_out]
    for t in takes:
        for note in t.notes:
            warnings.warn(note, ConversionWarning, stacklevel=2)
    world_takes = [read_world_take(p) for p in triangulated]
    store = build_wild_store(takes, held_out, synthetic_frames, cfg, world_takes=world_takes)
    write_store(out, store)
    return Path(out)
