"""One person through a clip, followed by the body: every body found in every frame, linked into
tracks by motion and appearance, one subject chosen, and per frame the crop the pose model sees.

MediaPipe Pose is single-person: run on whole frames, it follows whoever is most prominent, so a
passer-by takes over. ``poseact detect`` therefore runs in two passes (:func:`poseact.infer.detect.detect`):

1. every body in every frame (:mod:`poseact.infer.bodies`: BlazePose's person detector over tiles),
   each with its hip centre, whole-body radius and the colours of its torso;
2. :func:`link_tracks`: detections linked frame to frame by an optimal assignment
   (:func:`scipy.optimize.linear_sum_assignment`) on a cost that adds the distance from each
   track's *predicted* hip centre (constant velocity), in body radii, to the difference of torso
   colours (Bhattacharyya distance of hue × saturation histograms), gated on both and on size;
   a track survives ``max_gap`` frames unseen, so people keep their identities through an occlusion;
3. :func:`choose_track`: the subject, once per clip — by a rule of :data:`TRACK_RULES`, a track id, or
   a box the subject stands in (:func:`track_in_box`); :func:`join_pieces` adds later pieces of the
   same person (same colours, nearby) that a long gap split off;
4. :func:`subject_crops`: per frame, the square the pose model sees, around the subject's body
   (smoothed over a few frames; carried forward by the predicted motion for up to ``coast`` frames
   where the detector missed the subject and nobody else is near). Where the subject cannot be told
   from another person — another body where the subject was expected and the subject unseen, or a
   second detection about as likely to be the subject as the one linked (:func:`ambiguous_frames`) —
   the crop is None: no pose there, the frame is flagged, never filled from someone else;
5. :func:`partly_hidden_frames`: frames where a quarter or more of the subject's body stands behind a nearer
   person (:func:`hidden_share`); where the subject is posed there (:func:`poseact.infer.detect.detect` keeps
   those), the pose is kept, since the hips and what shows are the subject's, but the frame is flagged,
   since the pose model guesses the hidden limbs.

Detections are dicts ``{"box": [x0, y0, w, h], "score", "hip": [x, y], "shoulder": [x, y],
"radius", "colour": [...]}`` in pixels; crops are ``[x0, y0, x1, y1]`` pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from poseact.infer.bodies import colour_distance

#: subject rules: the most body over the clip (frames seen × size × confidence), the most frames,
#: the largest body on average, the most confident detections
TRACK_RULES = ("main", "longest", "largest", "confident")
#: the crop's half side in whole-body radii (the detector's body square is 1.25)
CROP_MARGIN = 1.35
#: linking gates: hip distance from the prediction (radii), colour distance, radius ratio
MAX_MOTION, MAX_COLOUR, MAX_SIZE_RATIO = 1.0, 0.65, 2.2
#: weight of the colour distance against the motion distance in the linking cost
COLOUR_WEIGHT = 1.0
#: a frame is flagged as partly hidden when at least this share of the subject's body lies behind a nearer
#: person (:func:`hidden_share`; measured on real footage: a woman just behind a man 0.29-0.45, her pose
#: there 76-187 mm off; everyone else in pose2sim's Demo_Batch, with or without someone nearer, 0.00-0.24)
HIDDEN_SHARE = 0.25
#: another person is nearer when their feet are at least this many of the subject's torso lengths lower,
#: along the subject's own down axis (on a common floor, the nearer person's feet are lower in the image)
NEARER_MARGIN = 0.25
#: a body's column in torso lengths (hip centre to shoulder centre): along the axis from the feet to the
#: crown, across it to either side (a standing adult: legs ~1.7, head ~0.6 above the shoulders, ~0.8 wide)
BODY_ALONG, BODY_ACROSS = (-1.7, 1.6), 0.4


@dataclass
class Track:
    id: int
    frames: list[int] = field(default_factory=list)
    dets: list[dict] = field(default_factory=list)

    @property
    def boxes(self) -> list[list[float]]:
        return [d["box"] for d in self.dets]

    def hip_at(self, t: int) -> np.ndarray:
        """The hip centre expected at frame ``t``: constant velocity from the last sightings (px)."""
        last = np.asarray(self.dets[-1]["hip"], float)
        if len(self.dets) < 2:
            return last
        k = max(0, len(self.dets) - 4)  # velocity over up to the last 3 steps
        prev = np.asarray(self.dets[k]["hip"], float)
        dt = max(self.frames[-1] - self.frames[k], 1)
        return last + (last - prev) / dt * min(t - self.frames[-1], 10)

    def radius(self) -> float:
        return float(np.median([d["radius"] for d in self.dets[-5:]]))

    def colour(self) -> np.ndarray | None:
        """The torso colours of the last sightings, averaged (None: never seen in colour)."""
        return colour_of(self.dets[-10:])

    def summary(self) -> dict:
        return {"id": self.id, "first_frame": self.frames[0], "last_frame": self.frames[-1],
                "frames_seen": len(self.frames),
                "mean_body_radius_px": round(float(np.mean([d["radius"] for d in self.dets])), 1),
                "mean_score": round(float(np.mean([d["score"] for d in self.dets])), 3)}


def colour_of(dets: list[dict]) -> np.ndarray | None:
    """The torso colours of these sightings, averaged (None: none of them seen in colour)."""
    seen = [np.asarray(d["colour"]) for d in dets if d.get("colour")]
    return np.mean(seen, axis=0) if seen else None


def link_cost(track: Track, det: dict, t: int) -> float:
    """The cost of ``det`` at frame ``t`` continuing ``track``: hip distance from the prediction in body radii
    plus :data:`COLOUR_WEIGHT` × the colour distance; ``inf`` outside the gates."""
    r_track, r_det = track.radius(), float(det["radius"])
    if max(r_track, r_det) / max(min(r_track, r_det), 1e-6) > MAX_SIZE_RATIO:
        return np.inf
    gap = t - track.frames[-1]
    motion = float(np.hypot(*(track.hip_at(t) - np.asarray(det["hip"], float)))) / max(r_track, r_det)
    if motion > MAX_MOTION * (1.0 + 0.1 * (gap - 1)):
        return np.inf
    colour = colour_distance(track.colour(), det.get("colour"))
    if colour > MAX_COLOUR:
        return np.inf
    return motion + COLOUR_WEIGHT * colour


def link_tracks(bodies: list[list[dict]], max_gap: int = 30) -> list[Track]:
    """``bodies[t]`` = detections of frame ``t`` → tracks, each detection in at most one: the assignment of
    least total :func:`link_cost` between live tracks and detections; the unassigned start new tracks."""
    from scipy.optimize import linear_sum_assignment

    tracks: list[Track] = []
    live: list[Track] = []
    for t, found in enumerate(bodies):
        live = [tr for tr in live if t - tr.frames[-1] <= max_gap + 1]
        assigned: set[int] = set()
        if live and found:
            cost = np.array([[link_cost(tr, d, t) for d in found] for tr in live])
            finite = np.where(np.isfinite(cost), cost, 1e6)
            for i, j in zip(*linear_sum_assignment(finite)):
                if np.isfinite(cost[i, j]):
                    live[i].frames.append(t)
                    live[i].dets.append(found[j])
                    assigned.add(j)
        for j, d in enumerate(found):
            if j not in assigned:
                tr = Track(len(tracks), [t], [d])
                tracks.append(tr)
                live.append(tr)
    return tracks


def _iou(a, b) -> float:
    """Overlap of two ``[x0, y0, w, h]`` boxes."""
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    union = a[2] * a[3] + b[2] * b[3] - iw * ih
    return iw * ih / union if union > 0 else 0.0


def track_in_box(tracks: list[Track], box: tuple[float, ...]) -> tuple[Track, str]:
    """The track of the person standing in ``box`` (``(x0, y0, w, h)`` or ``(x0, y0, side)`` px): in the
    first frame where a body's hip centre lies in the box, the body with the largest share of itself in it."""
    x0, y0, w, h = [float(v) for v in box] + ([float(box[2])] if len(box) == 3 else [])
    first: dict[int, tuple[float, Track]] = {}
    for tr in tracks:
        for t, d in zip(tr.frames, tr.dets):
            hx, hy = d["hip"]
            if not (x0 <= hx <= x0 + w and y0 <= hy <= y0 + h):
                continue
            bx, by, bw, bh = d["box"]
            inter = max(0.0, min(bx + bw, x0 + w) - max(bx, x0)) * max(0.0, min(by + bh, y0 + h) - max(by, y0))
            share = inter / max(bw * bh, 1e-6)
            if t not in first or share > first[t][0]:
                first[t] = (share, tr)
    if not first:
        raise ValueError(f"--box {' '.join(f'{v:g}' for v in box)}: no person's hips lie in that box in any "
                         f"frame (x0 y0 width height, pixels)")
    t0 = min(first)
    share, tr = first[t0]
    return tr, f"track {tr.id}: the body in --box, first seen there at frame {t0}"


def choose_track(tracks: list[Track], rule: str | int = "main") -> tuple[Track, str]:
    """The subject's track and why it was chosen (``rule``: one of :data:`TRACK_RULES` or a track id)."""
    rule = str(rule)
    if not tracks:
        raise ValueError("no person was found in any frame")
    if rule.isdigit():
        chosen = [tr for tr in tracks if tr.id == int(rule)]
        if not chosen:
            raise ValueError(f"--track {rule}: no such track; tracks: {[tr.id for tr in tracks]}")
        return chosen[0], f"track {rule}, as asked"
    size = {tr.id: float(np.mean([d["radius"] for d in tr.dets])) for tr in tracks}
    score = {tr.id: float(np.mean([d["score"] for d in tr.dets])) for tr in tracks}
    body = {tr.id: float(sum(d["radius"] * d["score"] for d in tr.dets)) for tr in tracks}
    keys = {"main": lambda tr: (body[tr.id], len(tr.frames)),
            "longest": lambda tr: (len(tr.frames), size[tr.id]), "largest": lambda tr: (size[tr.id], len(tr.frames)),
            "confident": lambda tr: (score[tr.id], len(tr.frames))}
    if rule not in keys:
        raise ValueError(f"--track {rule!r}: use one of {TRACK_RULES} or a track id")
    best = max(tracks, key=keys[rule])
    why = {"main": f"the most body over the clip (seen in {len(best.frames)} frames, radius {size[best.id]:.0f} px)",
           "longest": f"seen in the most frames ({len(best.frames)})",
           "largest": f"the largest body on average (radius {size[best.id]:.0f} px)",
           "confident": f"the most confident detections (mean {score[best.id]:.2f})"}[rule]
    return best, f"track {best.id} of {len(tracks)}: {why}"


def join_pieces(chosen: Track, tracks: list[Track], reach: float = 1.5) -> tuple[Track, list[int]]:
    """The chosen track with later (or earlier) pieces of the same person added: a track that shares no frame
    with it, starts (or ends) within ``reach`` body radii of where it left off and has its torso colours
    (distance ≤ :data:`MAX_COLOUR`). Nearest in time first; returns the joined track and the ids joined."""
    joined = Track(chosen.id, list(chosen.frames), list(chosen.dets))
    ids: list[int] = []
    while True:
        best = None
        frames = set(joined.frames)
        for tr in tracks:
            if tr.id == chosen.id or tr.id in ids or frames & set(tr.frames):
                continue
            if tr.frames[0] > joined.frames[-1]:
                gap, mine, theirs = tr.frames[0] - joined.frames[-1], joined.dets[-1], tr.dets[0]
            elif tr.frames[-1] < joined.frames[0]:
                gap, mine, theirs = joined.frames[0] - tr.frames[-1], joined.dets[0], tr.dets[-1]
            else:
                continue  # interleaved with the chosen track in time: someone else
            far = float(np.hypot(*(np.asarray(mine["hip"]) - np.asarray(theirs["hip"])))) / max(mine["radius"], theirs["radius"])
            if far <= reach * (1 + gap / 30) and colour_distance(mine.get("colour"), theirs.get("colour")) <= MAX_COLOUR \
                    and (best is None or gap < best[0]):
                best = (gap, tr)
        if best is None:
            break
        tr = best[1]
        ids.append(tr.id)
        pairs = sorted(zip(joined.frames + tr.frames, joined.dets + tr.dets), key=lambda p: p[0])
        joined = Track(chosen.id, [p[0] for p in pairs], [p[1] for p in pairs])
    return joined, ids


def other_people_colours(chosen: Track, tracks: list[Track], joined: list[int] = ()) -> dict[int, np.ndarray]:
    """Track id → mean torso colours of every other tracked PERSON: a track (not the subject's, nor a piece
    joined to it) whose colours are at least :data:`poseact.infer.bodies.APART_COLOUR` from the subject's, as
    the body detector tells two people apart — pieces of the subject's own body seen as extra detections
    have its colours and are left out. The identity check of the poses compares a pose's colours to these."""
    from poseact.infer.bodies import APART_COLOUR

    mine = colour_of(chosen.dets)
    out: dict[int, np.ndarray] = {}
    if mine is None:
        return out
    for tr in tracks:
        if tr.id == chosen.id or tr.id in joined:
            continue
        theirs = colour_of(tr.dets)
        if theirs is not None and colour_distance(mine, theirs) >= APART_COLOUR:
            out[tr.id] = theirs
    return out


def ambiguous_frames(track: Track, bodies: list[list[dict]], margin: float = 0.25) -> list[int]:
    """Frames where the subject cannot be told from someone else: another detection there is about as good
    a continuation of the subject (its :func:`link_cost` from the sightings before, within ``margin`` of the
    linked detection's)."""
    out = []
    for k, (t, det) in enumerate(zip(track.frames, track.dets)):
        if k < 1:
            continue
        before = Track(track.id, track.frames[:k], track.dets[:k])
        own = link_cost(before, det, t)
        for other in bodies[t]:
            if other is det:
                continue
            c = link_cost(before, other, t)
            if np.isfinite(c) and c - own < margin:
                out.append(t)
                break
    return out


def body_axis(det: dict) -> tuple[np.ndarray, np.ndarray, float]:
    """A detection's hip centre (px), unit axis from hips to shoulders (image "up" for this body, whatever the
    camera's roll) and torso length (px)."""
    hip, shoulder = np.asarray(det["hip"], float), np.asarray(det["shoulder"], float)
    length = max(float(np.hypot(*(shoulder - hip))), 1.0)
    return hip, (shoulder - hip) / length, length


def _in_body(axis: tuple[np.ndarray, np.ndarray, float], points: np.ndarray) -> np.ndarray:
    """``(N,)`` which of ``points (N, 2)`` px lie in the body column of a body with this :func:`body_axis`:
    :data:`BODY_ALONG` widened by 0.1 torso length at each end, :data:`BODY_ACROSS` by 0.05 on each side."""
    hip, up, length = axis
    rel = (points - hip) / length
    along, across = rel @ up, rel @ np.array([-up[1], up[0]])
    return (along >= BODY_ALONG[0] - 0.1) & (along <= BODY_ALONG[1] + 0.1) & (np.abs(across) <= BODY_ACROSS + 0.05)


def hidden_share(det: dict, others: list[dict]) -> float:
    """The share of ``det``'s body column (:data:`BODY_ALONG` × :data:`BODY_ACROSS`, on a 17 × 5 grid) covered
    by the column of a nearer person in ``others``: one at least half its size whose feet lie at least
    :data:`NEARER_MARGIN` torso lengths lower along ``det``'s down axis (the largest share of any one)."""
    hip, up, length = body_axis(det)
    side = np.array([-up[1], up[0]])
    along, across = np.meshgrid(np.linspace(*BODY_ALONG, 17), np.linspace(-BODY_ACROSS, BODY_ACROSS, 5))
    grid = hip + (along.reshape(-1, 1) * up + across.reshape(-1, 1) * side) * length
    feet = hip + BODY_ALONG[0] * length * up
    share = 0.0
    for other in others:
        if other is det or float(other["radius"]) < 0.5 * float(det["radius"]):
            continue
        o_hip, o_up, o_length = o_axis = body_axis(other)
        lower = float((o_hip + BODY_ALONG[0] * o_length * o_up - feet) @ -up) / length
        if lower >= NEARER_MARGIN:
            share = max(share, float(_in_body(o_axis, grid).mean()))
    return share


def partly_hidden_frames(track: Track, bodies: list[list[dict]], unsighted: dict[int, dict] | None = None,
                         smooth: int = 2, share: float = HIDDEN_SHARE) -> tuple[list[int], dict[int, float]]:
    """Frames where the subject is partly hidden — of those the subject was sighted in, or is placed in by
    ``unsighted`` (frame → the subject's body where the body detector missed it but a pose was made, e.g. from
    the pose's own hips and shoulders, :func:`pose_body`): most of the frames within ``smooth`` that have a
    :func:`hidden_share` (a strict majority, so a frame at a clip's edge or a gap needs its own share too) reach
    ``share``; and the share per frame (frame → share)."""
    shares = {t: hidden_share(d, bodies[t]) for t, d in zip(track.frames, track.dets)}
    shares.update({t: hidden_share(d, bodies[t]) for t, d in (unsighted or {}).items() if t not in shares})
    frames = []
    for t in sorted(shares):
        near = [shares[u] for u in range(t - smooth, t + smooth + 1) if u in shares]
        if 2 * sum(x >= share for x in near) > len(near):
            frames.append(t)
    return frames, shares


def pose_body(keypoints: np.ndarray | list, radius: float) -> dict:
    """A body (as the detector's, for :func:`hidden_share`) from a MediaPipe-33 pose ``(33, ≥2)`` px: hip and
    shoulder centres from its hips (23, 24) and shoulders (11, 12), and the given whole-body radius (px)."""
    k = np.asarray(keypoints, float)
    return {"hip": k[[23, 24], :2].mean(0).tolist(), "shoulder": k[[11, 12], :2].mean(0).tolist(),
            "radius": float(radius)}


def subject_crops(track: Track, bodies: list[list[dict]], width: int, height: int, smooth: int = 2,
                  coast: int = 15) -> tuple[list[list[float] | None], dict[str, list[int]]]:
    """Per frame, the square ``[x0, y0, x1, y1]`` px the pose model sees around the subject (hip centre and
    radius averaged over the sightings within ``smooth`` frames), clipped to the image; and why frames have
    none: ``{"ambiguous": [...], "occluded": [...], "unseen": [...]}`` (module docstring, step 4). In frames
    where nobody at all is found in a clip that never holds two people, the whole frame."""
    n = len(bodies)
    seen = {t: d for t, d in zip(track.frames, track.dets)}
    unsure = set(ambiguous_frames(track, bodies))
    alone = max((len(f) for f in bodies), default=0) <= 1
    crops: list[list[float] | None] = []
    why: dict[str, list[int]] = {"ambiguous": [], "occluded": [], "unseen": []}

    def square(hip, radius):
        half = CROP_MARGIN * radius
        return [max(0.0, hip[0] - half), max(0.0, hip[1] - half), min(float(width), hip[0] + half),
                min(float(height), hip[1] + half)]

    for t in range(n):
        if t in unsure:
            crops.append(None)
            why["ambiguous"].append(t)
            continue
        if t in seen:
            near = [seen[u] for u in range(t - smooth, t + smooth + 1) if u in seen]
            hip = np.mean([d["hip"] for d in near], axis=0)
            crops.append(square(hip, float(np.mean([d["radius"] for d in near]))))
            continue
        if not bodies[t] and alone:
            crops.append([0.0, 0.0, float(width), float(height)])
            continue
        before = [u for u in track.frames if u < t]
        after = [u for u in track.frames if u > t]
        if not before or t - before[-1] > coast:
            crops.append(None)
            why["unseen"].append(t)
            continue
        piece = Track(track.id, [u for u in track.frames if u < t], [seen[u] for u in before])
        hip, radius = piece.hip_at(t), piece.radius()
        if after and after[0] - t <= coast:  # between two sightings: interpolate instead of extrapolating
            a, b = before[-1], after[0]
            w = (t - a) / (b - a)
            hip = (1 - w) * np.asarray(seen[a]["hip"], float) + w * np.asarray(seen[b]["hip"], float)
        crowd = [d for d in bodies[t] if np.hypot(*(np.asarray(d["hip"]) - hip)) < 1.0 * max(radius, d["radius"])]
        if crowd:  # someone else where the subject should be, and the subject not seen: never pose them
            crops.append(None)
            why["occluded"].append(t)
            continue
        crops.append(square(hip, radius))
    return crops, why


def expected_hips(track: Track, n: int) -> np.ndarray:
    """``(n, 2)`` the subject's hip centre per frame (px): seen, else interpolated between sightings, else held."""
    frames = np.asarray(track.frames)
    hips = np.asarray([d["hip"] for d in track.dets], float)
    t = np.arange(n)
    return np.stack([np.interp(t, frames, hips[:, 0]), np.interp(t, frames, hips[:, 1])], 1)


def torso_box(det: dict) -> list[float]:
    """The head and torso of a detection ``[x0, y0, x1, y1]`` px, from its shoulder and hip centres."""
    hip, _, length = body_axis(det)
    sh = np.asarray(det["shoulder"], float)
    cx = (hip[0] + sh[0]) / 2
    return [cx - 0.6 * length, min(sh[1], hip[1]) - 0.8 * length, cx + 0.6 * length, max(sh[1], hip[1]) + 0.2 * length]


def other_people_masks(track: Track, bodies: list[list[dict]], crops: list) -> list[list[list[float]]]:
    """Per frame, the heads and torsos of the other people (:func:`torso_box`), cut back where they would cover
    the subject's own: painted grey before the pose model sees the subject's crop, so it cannot choose a more
    prominent person there (the identity check of the poses still stands behind it). Only where the subject
    is seen; a box cut to a sliver is left out."""
    seen = {t: d for t, d in zip(track.frames, track.dets)}
    out: list[list[list[float]]] = []
    for t, found in enumerate(bodies):
        boxes: list[list[float]] = []
        if t in seen and crops[t] is not None:
            mine = torso_box(seen[t])
            for d in found:
                if d is seen[t]:
                    continue
                b = torso_box(d)
                # cut the other's box back to the subject's edge, along the axis that parts them most
                dx = (b[0] + b[2]) / 2 - (mine[0] + mine[2]) / 2
                dy = (b[1] + b[3]) / 2 - (mine[1] + mine[3]) / 2
                if abs(dx) / (mine[2] - mine[0]) >= abs(dy) / (mine[3] - mine[1]):
                    b = [max(b[0], mine[2]), b[1], b[2], b[3]] if dx > 0 else [b[0], b[1], min(b[2], mine[0]), b[3]]
                else:
                    b = [b[0], max(b[1], mine[3]), b[2], b[3]] if dy > 0 else [b[0], b[1], b[2], min(b[3], mine[1])]
                if b[2] - b[0] > 0.3 * (mine[2] - mine[0]) and b[3] - b[1] > 0.3 * (mine[3] - mine[1]):
                    boxes.append([round(v, 1) for v in b])
        out.append(boxes)
    return out
