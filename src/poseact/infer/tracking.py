"""One person through a clip: faces found in every frame, linked into tracks, one track chosen.

MediaPipe Pose is single-person: run on whole frames, it follows whoever is most prominent, so a
passer-by takes over. ``poseact detect`` therefore runs in two passes (:func:`poseact.infer.detect.detect`):

1. every face in every frame (MediaPipe's bundled full-range face detector);
2. :func:`link_tracks`: detections linked frame to frame by an optimal assignment
   (:func:`scipy.optimize.linear_sum_assignment`) on the overlap of each track's *predicted* box
   (constant velocity) with each detection, gated by overlap and size; a track survives
   ``max_gap`` frames unseen;
3. :func:`choose_track`: the subject, chosen once per clip — the track seen in the most frames
   (``longest``, the default), the ``largest`` or most ``confident``, or a track id; then
   :func:`join_pieces` adds the pieces of the same person that a long gap (turning away) split off;
4. pose on the subject's crop only (:func:`subject_crops`: a box grown from the face to the body,
   per frame, smoothed over a few frames): in frames where the subject's face is not found but
   another's is, the crop is empty, so those frames have no pose — flagged, and never filled from
   another person; in frames where no face at all is found (the subject turned away, nobody else
   seen) the pose runs on the whole frame.

Face boxes are ``(x0, y0, w, h)`` pixels; crops ``[x0, y0, x1, y1]`` pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TRACK_RULES = ("longest", "largest", "confident")
#: the person's crop from the face box ``(x, y, w, h)``: half-width and top/bottom in face units
BODY_HALF_WIDTH, BODY_TOP, BODY_BOTTOM = 2.6, 0.8, 8.0


@dataclass
class Track:
    id: int
    frames: list[int] = field(default_factory=list)
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    def predict(self, t: int) -> np.ndarray:
        """The box expected at frame ``t`` (constant velocity from the last two sightings)."""
        last = np.asarray(self.boxes[-1], dtype=np.float64)
        if len(self.boxes) < 2:
            return last
        prev = np.asarray(self.boxes[-2], dtype=np.float64)
        dt = self.frames[-1] - self.frames[-2]
        velocity = (last - prev) / max(dt, 1)
        velocity[2:] = 0  # size: the last one
        return last + velocity * (t - self.frames[-1])

    def summary(self) -> dict:
        areas = [w * h for _, _, w, h in self.boxes]
        return {"id": self.id, "first_frame": self.frames[0], "last_frame": self.frames[-1], "frames_seen": len(self.frames),
                "mean_face_area_px": round(float(np.mean(areas)), 1), "mean_score": round(float(np.mean(self.scores)), 3)}


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def link_tracks(faces: list[list[list[float]]], max_gap: int = 15, min_iou: float = 0.1,
                max_size_ratio: float = 1.6) -> list[Track]:
    """``faces[t]`` = detections ``[x0, y0, w, h, score]`` of frame ``t`` → tracks, each detection in
    at most one. A detection joins the live track whose predicted box it overlaps (IoU ≥ ``min_iou``,
    sizes within ``max_size_ratio``) in the assignment of greatest total overlap; others start tracks."""
    from scipy.optimize import linear_sum_assignment

    tracks: list[Track] = []
    live: list[Track] = []
    for t, found in enumerate(faces):
        live = [tr for tr in live if t - tr.frames[-1] <= max_gap + 1]
        dets = [np.asarray(d[:4], dtype=np.float64) for d in found]
        assigned: set[int] = set()
        if live and dets:
            cost = np.ones((len(live), len(dets)))
            for i, tr in enumerate(live):
                guess = tr.predict(t)
                for j, d in enumerate(dets):
                    ratio = max(d[2], guess[2]) / max(min(d[2], guess[2]), 1e-6)
                    overlap = _iou(guess, d)
                    if overlap >= min_iou and ratio <= max_size_ratio:
                        cost[i, j] = 1.0 - overlap
            rows, cols = linear_sum_assignment(cost)
            for i, j in zip(rows, cols):
                if cost[i, j] < 1.0:
                    tr = live[i]
                    tr.frames.append(t)
                    tr.boxes.append(tuple(dets[j]))
                    tr.scores.append(float(found[j][4]))
                    assigned.add(j)
        for j, d in enumerate(dets):
            if j not in assigned:
                tr = Track(len(tracks), [t], [tuple(d)], [float(found[j][4])])
                tracks.append(tr)
                live.append(tr)
    return tracks


def choose_track(tracks: list[Track], rule: str | int = "longest") -> tuple[Track, str]:
    """The subject's track and why it was chosen (``rule``: one of :data:`TRACK_RULES` or a track id)."""
    rule = str(rule)
    if not tracks:
        raise ValueError("no face was found in any frame")
    if rule.isdigit():
        chosen = [tr for tr in tracks if tr.id == int(rule)]
        if not chosen:
            raise ValueError(f"--track {rule}: no such track; tracks: {[tr.id for tr in tracks]}")
        return chosen[0], f"track {rule}, as asked"
    area = {tr.id: float(np.mean([w * h for _, _, w, h in tr.boxes])) for tr in tracks}
    score = {tr.id: float(np.mean(tr.scores)) for tr in tracks}
    keys = {"longest": lambda tr: (len(tr.frames), area[tr.id]), "largest": lambda tr: (area[tr.id], len(tr.frames)),
            "confident": lambda tr: (score[tr.id], len(tr.frames))}
    if rule not in keys:
        raise ValueError(f"--track {rule!r}: use one of {TRACK_RULES} or a track id")
    best = max(tracks, key=keys[rule])
    why = {"longest": f"seen in the most frames ({len(best.frames)})",
           "largest": f"the largest face on average ({area[best.id]:.0f} px²)",
           "confident": f"the most confident detections (mean {score[best.id]:.2f})"}[rule]
    return best, f"track {best.id} of {len(tracks)}: {why}"


def join_pieces(chosen: Track, tracks: list[Track], reach: float = 4.0) -> tuple[Track, list[int]]:
    """The chosen track with the other pieces of the same person added: a track that shares no frame
    with it and, at the nearer end, starts (or ends) within ``reach`` face widths of where the chosen
    track left off — a subject who turned away for longer than the linking gap comes back as a new
    track. With one face per frame at most in the whole clip, every piece is the subject's. Pieces
    are added nearest in time first; returns the joined track and the ids joined."""
    one_person = all(len(set(a.frames) & set(b.frames)) == 0 for i, a in enumerate(tracks) for b in tracks[i + 1:])
    joined = Track(chosen.id, list(chosen.frames), list(chosen.boxes), list(chosen.scores))
    ids: list[int] = []
    others = [tr for tr in tracks if tr.id != chosen.id]
    while True:
        best = None
        frames = set(joined.frames)
        for tr in others:
            if tr.id in ids or frames & set(tr.frames):
                continue
            if tr.frames[0] > joined.frames[-1]:
                gap, mine, theirs = tr.frames[0] - joined.frames[-1], joined.boxes[-1], tr.boxes[0]
            elif tr.frames[-1] < joined.frames[0]:
                gap, mine, theirs = joined.frames[0] - tr.frames[-1], joined.boxes[0], tr.boxes[-1]
            else:
                continue  # interleaved with the chosen track in time: someone else
            centre = np.hypot(mine[0] + mine[2] / 2 - theirs[0] - theirs[2] / 2, mine[1] + mine[3] / 2 - theirs[1] - theirs[3] / 2)
            if (one_person or centre <= reach * max(mine[2], theirs[2])) and (best is None or gap < best[0]):
                best = (gap, tr)
        if best is None:
            break
        tr = best[1]
        ids.append(tr.id)
        order = np.argsort(joined.frames + tr.frames, kind="stable")
        merged = [(joined.frames + tr.frames)[i] for i in order], [(joined.boxes + tr.boxes)[i] for i in order], \
            [(joined.scores + tr.scores)[i] for i in order]
        joined = Track(chosen.id, *merged)
    return joined, ids


def subject_crops(track: Track, faces: list[list[list[float]]], width: int, height: int,
                  smooth: int = 2) -> list[list[float] | None]:
    """Per frame, the subject's body box ``[x0, y0, x1, y1]`` px grown from its face box (centre and
    size averaged over the sightings within ``smooth`` frames, so the crop does not jitter with the
    face detector), clipped to the image; the whole frame where no face at all was found; None where
    the subject is not seen but someone else is (the subject is lost there)."""
    n = len(faces)
    seen = {t: np.asarray(b, dtype=np.float64) for t, b in zip(track.frames, track.boxes)}
    crops: list[list[float] | None] = []
    for t in range(n):
        if t not in seen:
            crops.append([0.0, 0.0, float(width), float(height)] if not faces[t] else None)
            continue
        near = np.stack([seen[u] for u in range(t - smooth, t + smooth + 1) if u in seen])
        x, y, w, h = near.mean(axis=0)
        cx, side = x + w / 2, max(w, h)
        crops.append([max(0.0, cx - BODY_HALF_WIDTH * side), max(0.0, y - BODY_TOP * side),
                      min(float(width), cx + BODY_HALF_WIDTH * side), min(float(height), y + BODY_BOTTOM * side)])
    return crops
