"""Procedural human motion: per-subject bodies, forward kinematics over the H36M-17 tree, and
one smooth joint-angle programme per action (the 3-D half of the synthetic dataset).

Conventions: world metres, z up, floor at z = 0, the person near the world origin (the centre
of the H36M capture volume). The pelvis frame has x forward, y left, z up. Joint angles are
degrees and smooth functions of time, held as ``(T,)`` arrays: everything is vectorised over
frames; the only Python loops run over joints, body sides and a handful of events.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.random import Generator

from poseact.skeleton import H36M17

PARENTS = H36M17.parents
NOMINAL_HEIGHT = 1.76  # stature (m) of the rest skeleton below
ANKLE_HEIGHT = 0.08  # ankle joint above the floor (m) at nominal height

# joint: (rest direction in the parent frame, length in metres at nominal height, proportion group)
_REST: dict[int, tuple[tuple[float, float, float], float, str]] = {
    1: ((0, -1, -0.08), 0.13, "hips"), 2: ((0, 0, -1), 0.44, "thigh"), 3: ((0, 0, -1), 0.44, "shin"),
    4: ((0, 1, -0.08), 0.13, "hips"), 5: ((0, 0, -1), 0.44, "thigh"), 6: ((0, 0, -1), 0.44, "shin"),
    7: ((0, 0, 1), 0.23, "trunk"), 8: ((0.05, 0, 1), 0.25, "trunk"), 9: ((0.35, 0, 1), 0.12, "head"),
    10: ((-0.15, 0, 1), 0.115, "head"), 11: ((-0.05, 1, -0.05), 0.15, "shoulders"),
    12: ((0, 0, -1), 0.28, "upper_arm"), 13: ((0, 0, -1), 0.25, "forearm"),
    14: ((-0.05, -1, -0.05), 0.15, "shoulders"), 15: ((0, 0, -1), 0.28, "upper_arm"),
    16: ((0, 0, -1), 0.25, "forearm"),
}
_GROUPS = ("hips", "thigh", "shin", "trunk", "head", "shoulders", "upper_arm", "forearm")
# arm poses (shoulder flexion, abduction, twist, elbow flexion), degrees
ARM_REST = (6.0, 8.0, 0.0, 12.0)
ARM_CHANNELS = ("sh_flex", "sh_abd", "sh_twist", "elbow")


@dataclass(frozen=True)
class Body:
    """One subject's skeleton and movement style (deterministic in the subject name)."""

    height: float  # stature, metres (1.55-1.90)
    offsets: np.ndarray  # (17, 3) bone vector of each joint in its parent's rest frame, metres
    ankle_height: float  # ankle joint above the floor when standing, metres
    tempo: float  # cadence / speed factor (~1)
    swing: float  # arm-swing factor (~1)
    posture: float  # habitual forward trunk lean, degrees

    @property
    def leg(self) -> float:
        """Hip-to-ankle length (thigh + shin), metres."""
        return float(-self.offsets[2, 2] - self.offsets[3, 2])


def body_model(subject: str) -> Body:
    """Body proportions of ``subject``: stature U(1.55, 1.90) m, each segment group scaled by a
    further few per cent (left/right symmetric); seeded by the name only, so a subject has the
    same body under every dataset seed."""
    rng = np.random.default_rng(zlib.crc32(f"poseact-body-{subject}".encode()))
    height = rng.uniform(1.55, 1.90)
    factor = dict(zip(_GROUPS, 1 + np.clip(0.035 * rng.standard_normal(len(_GROUPS)), -0.08, 0.08)))
    scale = height / NOMINAL_HEIGHT
    offsets = np.zeros((17, 3))
    for j, (direction, length, group) in _REST.items():
        d = np.asarray(direction, dtype=np.float64)
        offsets[j] = d / np.linalg.norm(d) * length * scale * factor[group]
    return Body(height=height, offsets=offsets, ankle_height=ANKLE_HEIGHT * scale,
                tempo=rng.uniform(0.92, 1.08), swing=rng.uniform(0.75, 1.25), posture=rng.uniform(0, 5))


# ---------------------------------------------------------------------------------------------
# kinematics


def _rot(axis: int, deg: np.ndarray) -> np.ndarray:
    """``(T, 3, 3)`` rotations by ``deg (T,)`` degrees about the x (0), y (1) or z (2) axis."""
    r = np.radians(deg)
    c, s = np.cos(r), np.sin(r)
    m = np.zeros(r.shape + (3, 3))
    i, j = ((1, 2), (2, 0), (0, 1))[axis]
    m[..., axis, axis] = 1
    m[..., i, i], m[..., j, j], m[..., i, j], m[..., j, i] = c, c, -s, s
    return m


class Angles(dict):
    """Joint-angle channels (degrees, ``(T,)`` arrays); a missing channel reads as zeros."""

    def __init__(self, num_frames: int):
        super().__init__()
        self.num_frames = num_frames

    def __missing__(self, key: str) -> np.ndarray:
        return np.zeros(self.num_frames)


def local_rotations(a: Angles) -> np.ndarray:
    """``(T, 17, 3, 3)`` joint rotations relative to the parent frame from angle channels.

    Channels: root ``yaw, pitch, roll``; per side ``_l``/``_r``: ``hip_flex, hip_abd, hip_twist,
    knee, sh_flex, sh_abd, sh_twist, elbow`` (abduction and twist mirrored for the right side);
    ``spine_*``, ``chest_*`` (``lean`` forward, ``side``, ``twist``), ``neck_*`` (``lean`` = nod).
    """
    R = np.broadcast_to(np.eye(3), (a.num_frames, 17, 3, 3)).copy()
    R[:, 0] = _rot(2, a["yaw"]) @ _rot(1, a["pitch"]) @ _rot(0, a["roll"])
    for side, sg, hip, knee, shoulder, elbow in (("l", 1, 4, 5, 11, 12), ("r", -1, 1, 2, 14, 15)):
        R[:, hip] = (_rot(2, sg * a[f"hip_twist_{side}"]) @ _rot(0, sg * a[f"hip_abd_{side}"])
                     @ _rot(1, -a[f"hip_flex_{side}"]))
        R[:, knee] = _rot(1, a[f"knee_{side}"])
        R[:, shoulder] = (_rot(0, sg * a[f"sh_abd_{side}"]) @ _rot(1, -a[f"sh_flex_{side}"])
                          @ _rot(2, sg * a[f"sh_twist_{side}"]))
        R[:, elbow] = _rot(1, -a[f"elbow_{side}"])
    for joint, part in ((7, "spine"), (8, "chest"), (9, "neck")):
        R[:, joint] = _rot(2, a[f"{part}_twist"]) @ _rot(1, a[f"{part}_lean"]) @ _rot(0, a[f"{part}_side"])
    return R


def forward_kinematics(offsets: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """Joint positions ``(T, 17, 3)`` relative to the root from bone ``offsets (17, 3)`` and local
    ``rotations (T, 17, 3, 3)``: ``p_j = p_parent + G_parent offset_j``, ``G_j = G_parent R_j``."""
    g = np.empty_like(rotations)
    p = np.zeros(rotations.shape[:2] + (3,))
    g[:, 0] = rotations[:, 0]
    for j in range(1, len(PARENTS)):
        q = PARENTS[j]
        p[:, j] = p[:, q] + g[:, q] @ offsets[j]
        g[:, j] = g[:, q] @ rotations[:, j]
    return p


# ---------------------------------------------------------------------------------------------
# smooth building blocks (t: (T,) seconds)


def _noise(rng: Generator, t: np.ndarray, timescale: float, n: int = 4) -> np.ndarray:
    """Smooth zero-mean noise of unit std: ``n`` sinusoids with periods ~ ``timescale`` s."""
    freq = rng.uniform(0.4, 1.2, n) / timescale
    phase = rng.uniform(0, 2 * np.pi, n)
    return np.sin(2 * np.pi * freq * t[:, None] + phase).sum(axis=1) * np.sqrt(2 / n)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return x**3 * (x * (6 * x - 15) + 10)


def _window(t: np.ndarray, start: float, end: float, ramp: float) -> np.ndarray:
    """0 -> 1 over ``[start, start + ramp]``, 1 -> 0 over ``[end - ramp, end]`` (C2-smooth)."""
    return _smoothstep((t - start) / ramp) * (1 - _smoothstep((t - end + ramp) / ramp))


def _events(rng: Generator, duration: float, period: float, length: tuple[float, float]
            ) -> list[tuple[float, float]]:
    """Non-overlapping ``(start, end)`` intervals, about one per ``period`` seconds."""
    n = max(1, int(round(duration / period)))
    slot = duration / n
    out = []
    for i in range(n):
        span = min(rng.uniform(*length), 0.9 * slot)
        start = i * slot + rng.uniform(0, slot - span)
        out.append((start, start + span))
    return out


def _blend_arm(a: Angles, side: str, pose: tuple[float, ...], weight: np.ndarray | float) -> None:
    """Move one arm's channels towards ``pose`` (flexion, abduction, twist, elbow) by ``weight``."""
    for channel, target in zip(ARM_CHANNELS, pose):
        key = f"{channel}_{side}"
        a[key] = a[key] + weight * (target - a[key])


def _jitter(rng: Generator, pose: tuple[float, ...], deg: float) -> tuple[float, ...]:
    return tuple(float(v) for v in np.asarray(pose) + rng.uniform(-deg, deg, len(pose)))


# ---------------------------------------------------------------------------------------------
# root placement


@dataclass
class RootPlan:
    """How an action places the pelvis: along a path, over planted feet, or on a chair."""

    mode: str  # "path" (xy given), "feet" (feet midpoint fixed at anchor), "seat" (pelvis at anchor)
    anchor: np.ndarray  # (2,) metres, world xy
    xy: np.ndarray | None = None  # (T, 2) pelvis path for mode "path"


def _place_root(rel: np.ndarray, plan: RootPlan, body: Body) -> np.ndarray:
    """Pelvis world position ``(T, 3)`` for root-relative joints ``rel (T, 17, 3)``.

    Height: the lower ankle (a smooth minimum) stands at ``ankle_height``, except when seated,
    where the pelvis rests at chair height (thighs level, shins vertical).
    """
    ankles = rel[:, [3, 6]]
    root = np.zeros((len(rel), 3))
    if plan.mode == "path":
        root[:, :2] = plan.xy
    elif plan.mode == "feet":
        root[:, :2] = plan.anchor - ankles[..., :2].mean(axis=1)
    else:
        root[:, :2] = plan.anchor
    if plan.mode == "seat":
        root[:, 2] = body.ankle_height - body.offsets[1, 2] - body.offsets[3, 2]
    else:
        tau = 0.01  # m, softness of the minimum over the two ankles
        z = ankles[..., 2]
        zmin = z.min(axis=1)
        soft = zmin - tau * np.log(np.exp(-(z - zmin[:, None]) / tau).sum(axis=1))
        root[:, 2] = body.ankle_height - soft
    return root


def _loop_path(rng: Generator, speed: np.ndarray, fps: float, direction: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """A closed, wobbly ellipse walked at ``speed (T,)`` m/s: returns xy ``(T, 2)`` metres (within
    about ±1.3 m of the origin, where all four H36M cameras see the whole body) and the heading
    of the path ``(T,)`` degrees."""
    rx, ry = rng.uniform(0.75, 1.0), rng.uniform(0.95, 1.2)
    e1, e2 = rng.uniform(0, 0.1, 2)
    p1, p2 = rng.uniform(0, 2 * np.pi, 2)
    centre = rng.uniform(-0.12, 0.12, 2)
    s = rng.uniform(0, 2 * np.pi * rx) + np.cumsum(speed) / fps  # arc length travelled
    loops = int(np.ceil(s[-1] / (2 * np.pi * 0.8 * min(rx, ry)))) + 1
    theta = np.linspace(0, 2 * np.pi * loops, 2048 * loops)
    r = 1 + e1 * np.cos(2 * theta + p1) + e2 * np.cos(3 * theta + p2)
    x, y = centre[0] + rx * r * np.cos(theta), centre[1] + direction * ry * r * np.sin(theta)
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    heading = np.degrees(np.unwrap(np.arctan2(np.gradient(y), np.gradient(x))))
    xy = np.stack([np.interp(s, arc, x), np.interp(s, arc, y)], axis=1)
    return xy, np.interp(s, arc, heading)


# ---------------------------------------------------------------------------------------------
# actions: each fills the angle channels and says how to place the root


_CYCLE = np.linspace(0, 1, 256, endpoint=False)  # gait-cycle grid (fraction of a cycle)


def _cyclic(values: np.ndarray, sigma: float = 0.04) -> np.ndarray:
    """Circular Gaussian smoothing (``sigma`` in cycles) of a profile sampled on ``_CYCLE``."""
    d = np.minimum(_CYCLE, 1 - _CYCLE)
    kernel = np.exp(-0.5 * (d / sigma) ** 2)
    return np.real(np.fft.ifft(np.fft.fft(values) * np.fft.fft(kernel / kernel.sum())))


def _bump(centre: float, width: float) -> np.ndarray:
    d = np.abs((_CYCLE - centre + 0.5) % 1 - 0.5)
    return np.exp(-0.5 * (d / width) ** 2)


STANCE = 0.6  # fraction of the gait cycle with the foot on the floor
# foot position along the walking direction relative to the hip, in half-strides: back at a
# constant rate during stance (the foot stays put while the body passes over it), forward in swing
_FOOT_WAVE = _cyclic(np.where(_CYCLE < STANCE, 1 - 2 * _CYCLE / STANCE, 2 * (_CYCLE - STANCE) / (1 - STANCE) - 1))
_KNEE_WAVE = _bump(0.75, 0.1) + 0.25 * _bump(0.12, 0.06)  # swing flexion, loading response


def _gait(a: Angles, rng: Generator, t: np.ndarray, fps: float, body: Body, speed: np.ndarray,
          stride: np.ndarray | float, knee_peak: float, stance_knee: float, swing: float, elbow: float) -> None:
    """Legs in a gait cycle, arm swing and pelvis/thorax counter-rotation.

    ``stride`` (m per cycle) sets the cadence ``speed / stride``; the hip angle places the foot
    ``STANCE * stride / 2`` ahead of / behind the hip, so the stance foot barely slides."""
    phase = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.cumsum(speed / stride) / fps
    reach = STANCE * stride / 2
    for side, offset in (("l", 0.0), ("r", 0.5)):
        c = (phase / (2 * np.pi) + offset) % 1
        foot = np.interp(c, _CYCLE, _FOOT_WAVE, period=1)
        a[f"hip_flex_{side}"] += np.degrees(np.arcsin(np.clip(foot * reach / body.leg, -1, 1))) + 3
        a[f"knee_{side}"] += stance_knee + knee_peak * np.interp(c, _CYCLE, _KNEE_WAVE, period=1)
        a[f"sh_flex_{side}"] += -swing * body.swing * foot
        a[f"elbow_{side}"] += elbow + 0.3 * swing * body.swing * (1 - foot)
        if side == "l":
            a["yaw"] += -5 * foot
            a["chest_twist"] += 9 * foot
    a["spine_side"] += 1.5 * np.sin(2 * phase)


def _locomotion(a: Angles, rng: Generator, t: np.ndarray, fps: float, body: Body, take: int,
                speed: tuple[float, float], stride: tuple[float, float], knee_peak: float,
                stance_knee: float, swing: float, elbow: float, lean: float, pace: np.ndarray | float = 1.0
                ) -> RootPlan:
    """Walk a loop around the capture volume (heading follows the path); ``pace`` (T,) scales
    the speed, e.g. for stop-and-go."""
    v = rng.uniform(*speed) * body.tempo * (1 + 0.07 * _noise(rng, t, 3.0)) * pace
    xy, heading = _loop_path(rng, v, fps, 1 if take % 2 else -1)
    stride_len = rng.uniform(*stride) * body.height / NOMINAL_HEIGHT * np.sqrt(pace)  # short steps when slow
    _gait(a, rng, t, fps, body, v, stride_len, knee_peak, stance_knee, swing, elbow)
    turn_rate = np.radians(np.gradient(heading)) * fps  # rad/s
    a["yaw"] += heading
    a["spine_side"] += -0.5 * np.degrees(np.arctan(v * turn_rate / 9.81))  # lean into the turn
    a["spine_lean"] += lean
    return RootPlan("path", np.zeros(2), xy=xy)


def _walking(a: Angles, rng: Generator, t: np.ndarray, fps: float, body: Body, take: int) -> RootPlan:
    plan = _locomotion(a, rng, t, fps, body, take, (1.1, 1.4), (1.25, 1.45), 55, 6, 16, 14, 3)
    return plan


def _walk_together(a: Angles, rng: Generator, t: np.ndarray, fps: float, body: Body, take: int) -> RootPlan:
    plan = _locomotion(a, rng, t, fps, body, take, (0.75, 0.95), (1.05, 1.2), 50, 6, 7, 18, 2)
    partner = 1 if take % 2 else -1  # the companion walks on this side (+1 left)
    a["neck_twist"] += partner * (25 + 12 * _noise(rng, t, 2.5))
    a["chest_twist"] += partner * 8
    side = "l" if partner > 0 else "r"
    _blend_arm(a, side, (25, 12, -20, 75), 0.8 * _smoothstep(0.3 + 0.7 * _noise(rng, t, 3.0)))
    return plan


def _walk_dog(a: Angles, rng: Generator, t: np.ndarray, fps: float, body: Body, take: int) -> RootPlan:
    """Stop-and-go walking, trunk bent forward, one hand low in front holding a leash."""
    pace = 0.35 + 0.65 * _smoothstep(0.5 + _noise(rng, t, 2.5))  # the dog sets the pace
    plan = _locomotion(a, rng, t, fps, body, take, (1.0, 1.2), (1.1, 1.3), 50, 8, 10, 20, 10, pace)
    side = "lr"[take % 2]
    _blend_arm(a, side, _jitter(rng, (35, 10, -10, 25), 8), 1.0)
    a[f"sh_flex_{side}"] += 10 * _noise(rng, t, 1.0)
    a["neck_lean"] += 15 + 10 * _noise(rng, t, 2.0)
    return plan


def _standing(a: Angles, rng: Generator, t: np.ndarray, turn: float) -> RootPlan:
    """Standing with soft knees, weight shifts and slow turning on planted feet."""
    for side in ("l", "r"):
        a[f"knee_{side}"] += 4 + 2 * _noise(rng, t, 3.0)
        a[f"hip_flex_{side}"] += 2
    a["spine_side"] += 3 * _noise(rng, t, 4.0)
    a["yaw"] += rng.uniform(-180, 180) + turn * _noise(rng, t, 4.0)
    return RootPlan("feet", rng.uniform(-0.3, 0.3, 2))


def _seated(a: Angles, rng: Generator, t: np.ndarray, weight: np.ndarray | float = 1.0) -> None:
    """Blend the legs towards sitting on a chair (thighs level, knees ~90 degrees, feet apart)."""
    for side in ("l", "r"):
        for channel, target in (("hip_flex", 94 + 2 * _noise(rng, t, 4.0)), ("hip_twist", 8.0),
                                ("knee", 88 + 8 * _noise(rng, t, 5.0)), ("hip_abd", 4.0)):
            key = f"{channel}_{side}"
            a[key] = a[key] + weight * (target - a[key])


def _directions(a: Angles, rng: Generator, t: np.ndarray, fps: float, body: Body, take: int) -> RootPlan:
    plan = _standing(a, rng, t, turn=45)
    duration = t[-1] + 1 / fps
    for i, (start, end) in enumerate(_events(rng, duration, 3.0, (1.3, 2.6))):
        side = "lr"[(i + take) % 2]
        w = _window(t, start, end, min(0.45, (end - start) / 3))
        _blend_arm(a, side, _jitter(rng, (80, 25, 0, 10), 15), w)
        a["neck_twist"] += (1 if side == "l" else -1) * rng.uniform(10, 30) * w
        a["chest_twist"] += (1 if side == "l" else -1) * 8 * w
    return plan


def _discussion(a: Angles, rng: Generator, t: np.ndarray, fps: float, body: Body, take: int) -> RootPlan:
    plan = _standing(a, rng, t, turn=30)
    for side in ("l", "r"):
        w = 0.9 * _smoothstep(0.5 + 0.6 * _noise(rng, t, 3.0))
        _blend_arm(a, side, _jitter(rng, (30, 15, -25, 75), 10), w)
        a[f"elbow_{side}"] += w * 15 * np.sin(2 * np.pi * rng.uniform(1.0, 1.8) * t + rng.uniform(0, 6))
        a[f"sh_abd_{side}"] += w * 8 * _noise(rng, t, 1.5)
    a["neck_twist"] += 25 * _noise(rng, t, 2.5)
    return plan


def _greeting(a: Angles, rng: Generator, t: np.ndarray, fps: float, body: Body, take: int) -> RootPlan:
    """A wave (arm raised, forearm oscillating) and a bow with a handshake, in random order;
    timed in seconds, so a short take shows part of the sequence (the first gesture may already
    be under way at frame 0)."""
    plan = _standing(a, rng, t, turn=20)
    duration = t[-1] + 1 / fps
    side = "lr"[take % 2]
    wave_len, bow_len, gap = rng.uniform(2.5, 4.0), rng.uniform(1.5, 2.5), rng.uniform(0.3, 1.5)
    first = rng.uniform(-1.0, 0.3 * duration)
    w0, b0 = (first, first + wave_len + gap) if rng.random() < 0.5 else (first + bow_len + gap, first)
    wave = _window(t, w0, w0 + wave_len, 0.6)
    _blend_arm(a, side, _jitter(rng, (20, 120, 90, 70), 10), wave)
    a[f"elbow_{side}"] += wave * 25 * np.sin(2 * np.pi * rng.uniform(2.0, 3.0) * t)
    bow = _window(t, b0, b0 + bow_len, 0.6)
    a["spine_lean"] += rng.uniform(15, 30) * bow
    a["chest_lean"] += 10 * bow
    a["neck_lean"] += 15 * bow
    _blend_arm(a, "r" if side == "l" else "l", (45, 8, 0, 35), 0.8 * bow)  # a handshake
    return plan


def _phoning(a: Angles, rng: Generator, t: np.ndarray, fps: float, body: Body, take: int) -> RootPlan:
    plan = _standing(a, rng, t, turn=40)
    side, other = ("r", "l") if take % 2 else ("l", "r")
    duration = t[-1] + 1 / fps
    hold = _window(t, rng.uniform(-1.0, 0.15) * duration, duration * rng.uniform(0.85, 2.0), 0.6)
    _blend_arm(a, side, _jitter(rng, (105, 25, 0, 152), 4), hold)
    a["neck_side"] += (-1 if side == "l" else 1) * 8 * hold
    w = 0.7 * _smoothstep(0.3 + 0.7 * _noise(rng, t, 3.0))
    _blend_arm(a, other, _jitter(rng, (25, 12, -20, 70), 10), w)
    a["neck_twist"] += 20 * _noise(rng, t, 3.0)
    return plan


def _sitting(a: Angles, rng: Generator, t: np.ndarray, fps: float, body: Body, take: int) -> RootPlan:
    _seated(a, rng, t)
    a["spine_lean"] += 5 + 12 * _noise(rng, t, 4.0)
    a["chest_lean"] += 4 * _noise(rng, t, 3.0)
    a["neck_twist"] += 30 * _noise(rng, t, 3.0)
    a["yaw"] += rng.uniform(-180, 180)
    for side in ("l", "r"):
        _blend_arm(a, side, (30, 12, -15, 55), 1.0)
        gesture = 0.8 * _smoothstep(0.7 * _noise(rng, t, 3.0) - 0.2)
        _blend_arm(a, side, _jitter(rng, (40, 20, -20, 90), 15), gesture)
    return RootPlan("seat", rng.uniform(-0.3, 0.3, 2))


def _eating(a: Angles, rng: Generator, t: np.ndarray, fps: float, body: Body, take: int) -> RootPlan:
    _seated(a, rng, t)
    a["spine_lean"] += 12 + 4 * _noise(rng, t, 3.0)
    a["yaw"] += rng.uniform(-180, 180)
    duration = t[-1] + 1 / fps
    for side in ("l", "r"):
        _blend_arm(a, side, (35, 10, -10, 75), 1.0)
    for i, (start, end) in enumerate(_events(rng, duration, 2.5, (1.2, 1.8))):
        side = "lr"[(i + take) % 2]
        w = _window(t, start, end, 0.45)
        _blend_arm(a, side, _jitter(rng, (70, 5, -55, 138), 4), w)
        a["neck_lean"] += 10 * w
    return RootPlan("seat", rng.uniform(-0.3, 0.3, 2))


def _sitting_down(a: Angles, rng: Generator, t: np.ndarray, fps: float, body: Body, take: int) -> RootPlan:
    plan = _standing(a, rng, t, turn=10)
    duration = t[-1] + 1 / fps
    ramp = min(1.6, 0.4 * duration)
    down = rng.uniform(0.1, 0.2) * duration
    seated = _window(t, down, duration * (0.95 if duration > 5 else 10.0), ramp)  # stand up at the end
    mid = down + ramp / 2
    transit = _window(t, mid - ramp * 0.6, mid + ramp * 0.6, ramp * 0.6)
    if duration > 5:
        up = duration * 0.95 - ramp / 2
        transit = transit + _window(t, up - ramp * 0.6, up + ramp * 0.6, ramp * 0.6)
    _seated(a, rng, t, seated)
    a["spine_lean"] += 35 * transit + seated * 6 * _noise(rng, t, 3.0)
    a["neck_lean"] += -15 * transit
    for side in ("l", "r"):
        _blend_arm(a, side, (40, 10, 0, 30), 0.8 * transit)
    return plan


#: action name -> programme(angles, rng, t (T,) s, fps, body, take number) -> root placement
ACTIONS: dict[str, Callable[[Angles, Generator, np.ndarray, float, Body, int], RootPlan]] = {
    "Directions": _directions, "Discussion": _discussion, "Eating": _eating, "Greeting": _greeting,
    "Phoning": _phoning, "Sitting": _sitting, "SittingDown": _sitting_down, "Walking": _walking,
    "WalkTogether": _walk_together, "WalkDog": _walk_dog,
}


def generate_motion(subject: str, action: str, take: int, num_frames: int, fps: float,
                    rng: Generator) -> np.ndarray:
    """One take of ``action`` by ``subject``: ``(T, 17, 3)`` world coordinates, metres, H36M-17
    joints, z up, feet on the floor z = 0, near the world origin.

    ``rng`` draws the per-take phases, amplitudes, tempo and event timing; ``take`` (an integer)
    alternates sides and walking direction between takes. Deterministic given ``rng``'s state.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown synthetic action {action!r}; known: {sorted(ACTIONS)}")
    body = body_model(subject)
    t = np.arange(num_frames) / fps
    a = Angles(num_frames)
    for side in ("l", "r"):
        _blend_arm(a, side, ARM_REST, 1.0)
        a[f"sh_flex_{side}"] += 3 * _noise(rng, t, 3.0)
    a["spine_lean"] += body.posture + 2 * _noise(rng, t, 4.0)
    a["chest_lean"] += 0.8 * np.sin(2 * np.pi * rng.uniform(0.2, 0.3) * t)  # breathing
    a["neck_lean"] += 4 * _noise(rng, t, 3.0)
    a["neck_twist"] += 8 * _noise(rng, t, 3.0)
    plan = ACTIONS[action](a, rng, t, fps, body, take)
    rel = forward_kinematics(body.offsets, local_rotations(a))
    return rel + _place_root(rel, plan, body)[:, None, :]
