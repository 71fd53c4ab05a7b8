"""Catch the 2-D detector's mistakes before lifting: left/right label swaps, implausible jumps, and
joints that land on another person.

Works on one subject's ``keypoints (T, J, 2)`` pixels (NaN where not seen) and ``confidence (T, J)``
in the detector's own layout, before gaps are filled:

* **Left/right swaps** (:func:`find_swaps`), for the body's left and right joints of the layout (paired by
  name, :data:`GROUPS`): each frame's labels are kept or exchanged so that the body moves least from frame
  to frame over the whole clip (dynamic programming; a small cost on exchanging keeps the detector's labels
  where movement does not decide, e.g. while left and right overlap). A detector's swap shows as a jump
  of every left joint to where the right one was and back; the stretches in between are exchanged back
  (fixed). A swapped stretch that runs to the clip's start or end (only one switch seen) is fixed too but
  also flagged (less sure). Where the two labellings cover similar shares of the clip
  (:data:`MAX_FIX_FRACTION`), which one is right is unclear: nothing is exchanged, the frames of the
  rarer labelling are flagged. A single limb pair (arms or legs) exchanged on its own is fixed for a
  few frames (:data:`MAX_LIMB_FIX`), flagged beyond (arms crossing, a leg behind the other).
* **Jumps** (:func:`find_jumps`): a joint that leaves both its neighbours in time by more than
  :data:`JUMP_TORSOS` torso lengths while they agree with each other — a one- or two-frame spike — is
  removed (then filled over time like any gap).
* **Joints on another person**: a jump that lands inside another detected person's body (the tracking
  stage's ``others``) is counted as a *teleport* rather than a jump.

Everything removed or exchanged is counted in the report (:class:`CleanReport`, written to the JSON and
summarised on the console).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from poseact.skeleton import get_skeleton

if TYPE_CHECKING:
    from poseact.infer.gaps import GapReport

#: the cost of exchanging a frame's labels, in torso lengths: the detector's labels stand unless exchanging
#: them saves more movement than this over the stretch
KEEP_PRIOR = 0.02
#: swaps are fixed only where the exchanged labelling covers at most this share of the frames (the detector
#: is right most of the time); beyond it, which labelling is right is unclear: flagged, not exchanged
MAX_FIX_FRACTION = 0.35
#: a single limb pair's swap is fixed only for stretches up to this many frames (longer ones: flagged)
MAX_LIMB_FIX = 5
#: a joint farther than this many torso lengths from both neighbours (which agree) is a jump
JUMP_TORSOS = 0.6
#: limb groups whose labels are checked together, in this order: a detector's mirror (seen from behind, taken
#: as seen from the front) exchanges the whole body at once; then a single limb pair (the arms, the legs)
#: exchanged on its own
GROUPS = {"body": ("shoulder", "elbow", "wrist", "hip", "knee", "ankle", "heel", "foot", "pinky", "index", "thumb",
                   "eye", "ear", "mouth"),
          "arms": ("shoulder", "elbow", "wrist", "pinky", "index", "thumb"),
          "legs": ("hip", "knee", "ankle", "heel", "foot")}


@dataclass
class CleanReport:
    """What :func:`clean_2d` changed; frame ranges ``(first, last)`` inclusive."""

    frames: int
    swapped: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # group -> stretches fixed
    swapped_frames: int = 0
    unsure_frames: list[int] = field(default_factory=list)  # fixed but flagged
    jumps: int = 0
    teleports: int = 0

    def as_dict(self) -> dict:
        return {"left_right_swaps": {g: [list(r) for r in rs] for g, rs in self.swapped.items() if rs},
                "swapped_frames": self.swapped_frames, "swap_unsure_frames": self.unsure_frames,
                "jumps_removed": self.jumps, "joints_on_another_person_removed": self.teleports}

    def summary(self) -> str:
        """One line for the console: what was fixed, flagged and removed (or that nothing was)."""
        parts = []
        stretches = sum(len(r) for r in self.swapped.values())
        if stretches:
            parts.append(f"{stretches} left/right swap{'s' if stretches != 1 else ''} fixed "
                         f"({self.swapped_frames} frame{'s' if self.swapped_frames != 1 else ''})")
        if self.unsure_frames:
            n = len(self.unsure_frames)
            parts.append(f"{n} frame{'s' if n != 1 else ''} flagged as possibly swapped (a swap cut by the clip's "
                         f"end, or too long to tell which labelling is right)")
        if self.jumps:
            parts.append(f"{self.jumps} joint jump{'s' if self.jumps != 1 else ''} removed")
        if self.teleports:
            parts.append(f"{self.teleports} joint{'s' if self.teleports != 1 else ''} on another person removed")
        return "; ".join(parts) if parts else "none needed (no left/right swap, no joint jump)"


def pairs(layout: str) -> dict[str, list[tuple[int, int]]]:
    """Per limb group of :data:`GROUPS`, the layout's ``(left, right)`` joint index pairs (by name)."""
    names = get_skeleton(layout).joint_names or ()
    index = {n: i for i, n in enumerate(names)}
    out: dict[str, list[tuple[int, int]]] = {g: [] for g in GROUPS}
    for n, i in index.items():
        if not n.startswith("left_"):
            continue
        j = index.get("right_" + n[5:])
        if j is None:
            continue
        for g, words in GROUPS.items():
            if any(w in n for w in words):
                out[g].append((i, j))
    return {g: p for g, p in out.items() if p}


def torso_length(keypoints: np.ndarray, layout: str) -> float:
    """The clip's median shoulder-centre to hip-centre distance (px); the body's size for thresholds."""
    names = get_skeleton(layout).joint_names or ()
    idx = {n: i for i, n in enumerate(names)}
    need = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
    if not all(n in idx for n in need):
        span = np.nanmax(keypoints, axis=1) - np.nanmin(keypoints, axis=1)
        return float(np.nanmedian(np.hypot(span[:, 0], span[:, 1]))) / 3
    sh = (keypoints[:, idx["left_shoulder"]] + keypoints[:, idx["right_shoulder"]]) / 2
    hip = (keypoints[:, idx["left_hip"]] + keypoints[:, idx["right_hip"]]) / 2
    d = np.hypot(*(sh - hip).T)
    return float(np.nanmedian(d)) if np.isfinite(d).any() else 1.0


def _labelling(kps: np.ndarray, group: list[tuple[int, int]], torso: float) -> np.ndarray:
    """``(T,)`` True for the frames whose left/right labels are best exchanged: the labelling of least total
    frame-to-frame movement (median over the pairs, so a few odd joints neither make nor hide a switch),
    found by dynamic programming over the two labellings of each frame, with a small cost
    (:data:`KEEP_PRIOR` torsos a frame) on exchanging, so the detector's labels stand unless movement says
    otherwise. Frames that do not see the group keep their labels and are skipped over."""
    left = [a for a, _ in group]
    right = [b for _, b in group]
    seen = [t for t in range(len(kps)) if np.isfinite(kps[t][left + right]).all()]
    out = np.zeros(len(kps), bool)
    if len(seen) < 2:
        return out

    def moved(p: np.ndarray, q: np.ndarray, exchange_p: bool, exchange_q: bool) -> float:
        pl, pr = (p[right], p[left]) if exchange_p else (p[left], p[right])
        ql, qr = (q[right], q[left]) if exchange_q else (q[left], q[right])
        return float(np.median(np.hypot(*(pl - ql).T) + np.hypot(*(pr - qr).T)))

    prior = KEEP_PRIOR * torso
    cost = np.array([0.0, prior])
    back = np.zeros((len(seen), 2), int)
    for k in range(1, len(seen)):
        p, q = kps[seen[k - 1]], kps[seen[k]]
        step = np.array([[moved(p, q, bool(a), bool(b)) for b in (0, 1)] for a in (0, 1)])
        total = cost[:, None] + step  # [from, to]
        back[k] = total.argmin(0)
        cost = total.min(0) + np.array([0.0, prior])
    state = int(cost.argmin())
    for k in range(len(seen) - 1, -1, -1):
        out[seen[k]] = bool(state)
        state = back[k, state]
    return out


def _swaps(kps: np.ndarray, group: list[tuple[int, int]], torso: float) -> tuple[list[tuple[int, int]], list[int]]:
    """One group's swapped stretches ``(first, last)`` to fix and frames to flag (:func:`find_swaps`)."""
    T = len(kps)
    exchanged = _labelling(kps, group, torso)
    if not exchanged.any():
        return [], []
    seen = int(np.isfinite(kps[:, [i for p in group for i in p]]).all(axis=(1, 2)).sum())
    if exchanged.sum() > MAX_FIX_FRACTION * seen:
        return [], np.flatnonzero(exchanged).tolist()
    padded = np.concatenate([[False], exchanged, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    swapped = [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]
    return swapped, [t for a, b in swapped if a == 0 or b == T - 1 for t in range(a, b + 1)]


def _exchange(kps: np.ndarray, conf: np.ndarray, group: list[tuple[int, int]], a: int, b: int) -> None:
    left = [i for i, _ in group]
    right = [j for _, j in group]
    kps[a:b + 1, left + right] = kps[a:b + 1, right + left]
    conf[a:b + 1, left + right] = conf[a:b + 1, right + left]


def find_swaps(kps: np.ndarray, layout: str) -> dict[str, tuple[list[tuple[int, int]], list[int]]]:
    """Per group of :data:`GROUPS`, in order, each on the labels the groups before it fixed: the swapped
    stretches ``(first, last)`` to fix and the frames to flag. Which of the two labellings is right is only
    clear when the exchanged one covers at most :data:`MAX_FIX_FRACTION` of the frames that see the group;
    otherwise nothing is exchanged and the frames of the less frequent labelling are flagged."""
    kps = np.array(kps, dtype=np.float32, copy=True)
    conf = np.zeros(kps.shape[:2], np.float32)
    torso = torso_length(kps, layout)
    out = {}
    for g, group in pairs(layout).items():
        swapped, unsure = _swaps(kps, group, torso)
        if g != "body":  # one limb pair: a glitch of a few frames is clear, a longer stretch may be a real pose
            unsure = sorted(set(unsure) | {t for a, b in swapped if b - a + 1 > MAX_LIMB_FIX for t in range(a, b + 1)})
            swapped = [(a, b) for a, b in swapped if b - a + 1 <= MAX_LIMB_FIX]
        for a, b in swapped:
            _exchange(kps, conf, group, a, b)
        if swapped or unsure:
            out[g] = (swapped, unsure)
    return out


def find_jumps(kps: np.ndarray, torso: float) -> np.ndarray:
    """``(T, J)`` True where a joint leaves both neighbours by more than :data:`JUMP_TORSOS` torsos while they
    agree (within half that); spikes of one or two frames."""
    T = len(kps)
    bad = np.zeros(kps.shape[:2], bool)
    limit = JUMP_TORSOS * torso
    for width in (1, 2):
        for t in range(1, T - width):
            a, b = kps[t - 1], kps[t + width]
            agree = np.hypot(*(a - b).T) < 0.5 * limit
            for u in range(t, t + width):
                far = (np.hypot(*(kps[u] - a).T) > limit) & (np.hypot(*(kps[u] - b).T) > limit)
                bad[u] |= agree & far & ~bad[t - 1]
    return bad


def clean_2d(keypoints: np.ndarray, confidence: np.ndarray, layout: str,
             others: list[list[dict]] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, CleanReport]:
    """Fix swaps and remove jumps (module docstring) → ``keypoints (T, J, 2)`` (NaN where removed),
    ``confidence (T, J)`` (0 where removed), ``flagged (T,)`` and the :class:`CleanReport`."""
    kps = np.array(keypoints, dtype=np.float32, copy=True)
    conf = np.array(confidence, dtype=np.float32, copy=True)
    T = len(kps)
    report = CleanReport(frames=T)
    flagged = np.zeros(T, bool)
    if T < 3:
        return kps, conf, flagged, report
    swapped_any = np.zeros(T, bool)
    for g, (stretches, unsure) in find_swaps(kps, layout).items():
        for a, b in stretches:
            _exchange(kps, conf, pairs(layout)[g], a, b)
            swapped_any[a:b + 1] = True
        report.swapped[g] = stretches
        flagged[unsure] = True
    report.swapped_frames = int(swapped_any.sum())
    report.unsure_frames = np.flatnonzero(flagged).tolist()
    torso = torso_length(kps, layout)
    bad = find_jumps(kps, torso)
    if others:
        for t, u in zip(*np.nonzero(bad)):
            if t < len(others) and any(np.hypot(*(kps[t, u] - np.asarray(p["hip"]))) < p["radius"] for p in others[t]):
                report.teleports += 1
    report.jumps = int(bad.sum()) - report.teleports
    kps[bad] = np.nan
    conf[bad] = 0.0
    return kps, conf, flagged, report


@dataclass
class Clean2D:
    """The clean-2-D stage's result: the subject's ``keypoints (T, J, 2)`` px with every gap filled,
    ``confidence (T, J)`` (0 where filled or removed), ``flagged (T,)`` (lost, unsure swaps, long gaps),
    the gap report and the cleaning report (None when cleaning was off or the clip too short)."""

    keypoints: np.ndarray
    confidence: np.ndarray
    flagged: np.ndarray
    gaps: "GapReport"
    cleaning: CleanReport | None


def clean_stage(keypoints: np.ndarray, confidence: np.ndarray, layout: str, flagged: np.ndarray,
                others: list | None, max_gap: int, clean: bool = True, where: str = "keypoints") -> Clean2D:
    """The clean-2-D stage: :func:`clean_2d` (when ``clean`` and the clip has 3 frames or more), then every
    gap filled over time (:func:`poseact.infer.gaps.fill_gaps`); frames ``flagged (T,)`` by detection (the
    subject lost, or partly hidden: :attr:`poseact.infer.detectors.Detections.flagged`) stay flagged."""
    from poseact.infer.gaps import fill_gaps

    cleaning = None
    if clean and len(keypoints) >= 3:
        keypoints, confidence, unsure, cleaning = clean_2d(keypoints, confidence, layout, others)
        flagged = flagged | unsure
    kps, conf, long_gaps, report = fill_gaps(keypoints, confidence, max_gap, where=where)
    return Clean2D(kps, conf, long_gaps | flagged, report, cleaning)
