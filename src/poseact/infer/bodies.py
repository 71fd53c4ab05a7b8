"""Every person's body in a frame: MediaPipe's bundled BlazePose detector, run over tiles.

Standalone on purpose (stdlib + numpy; the model runs with ``ai_edge_litert``): the MediaPipe
worker imports it inside the MediaPipe environment, where the model file lives
(``mediapipe/modules/pose_detection/pose_detection.tflite``, :func:`model_path`).

The model (BlazePose's person detector) takes a 224×224 RGB image scaled to [-1, 1] and returns,
for each of 2254 anchors (strides 8/16/32, 2/2/6 anchors per cell, fixed size), a box and 4
keypoints as offsets in 224-px units from the anchor, plus a logit. The keypoints are the hip
centre, a point on the circle around the whole body, the shoulder centre and a point on the
circle around the upper body; the body's square is centred on the hip centre with half-side
``BODY_MARGIN ×`` the whole-body radius (MediaPipe's own region of interest for the pose model).

One pass over the whole (letterboxed) frame finds only large people, so the frame is also cut
into overlapping square tiles at two sizes (:func:`tiles`); each tile's detections are mapped back
to the frame, down-weighted by how much of the body's square falls outside the tile (a person cut
by a tile edge is guessed poorly), and merged by non-maximum suppression on the body squares; a
person beside or behind a nearer one (their square inside the nearer one's) is kept apart when the
hips are apart and the torso colours differ (:func:`_two_people`).

A detection is ``{"box": [x0, y0, w, h], "score", "hip": [x, y], "shoulder": [x, y], "radius"}``
in frame pixels; ``box`` is the body's square clipped to the frame.
"""

from __future__ import annotations

import os

import numpy as np

INPUT = 224
#: the half side of a body's square in whole-body radii (MediaPipe's pose region: 1.25)
BODY_MARGIN = 1.25
MIN_SCORE = 0.5
NMS_IOU = 0.35
#: two overlapping detections are two people, not one guessed twice, when their hip centres are at least
#: this share of the smaller body's radius apart across the larger body's axis (side by side: one body whose
#: hips were also guessed at its chest is apart along its axis), their sizes within :data:`APART_SIZE_RATIO`
#: and their torso colours at least :data:`APART_COLOUR` apart (Bhattacharyya distance): someone standing
#: beside or behind a nearer person, whose body square lies inside the nearer one's (measured on real
#: footage: two people 0.45-0.98 radii apart, colours 0.57-1.0; one body seen twice up to 0.65 apart, mostly
#: along its axis, colours mostly ≤ 0.1)
APART_HIPS, APART_SIZE_RATIO, APART_COLOUR = 0.4, 2.0, 0.6


def model_path() -> str:
    """The body detector bundled with the installed ``mediapipe`` (the MediaPipe environment)."""
    import mediapipe

    return os.path.join(os.path.dirname(mediapipe.__file__), "modules", "pose_detection", "pose_detection.tflite")


def anchors() -> np.ndarray:
    """``(2254, 2)`` anchor centres in [0, 1] (x, y), in the model's output order."""
    out = []
    for stride, per_cell in ((8, 2), (16, 2), (32, 6)):
        n = INPUT // stride
        ys, xs = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], 1)
        out.append(np.repeat(cells, per_cell, axis=0))
    return np.concatenate(out).astype(np.float32)


def tiles(width: int, height: int) -> list[tuple[int, int, int]]:
    """Square tiles ``(x0, y0, side)`` px covering the frame: the whole frame (letterboxed), squares
    of the short side sliding along the long side, and squares of 0.6 × the short side (step 2/3
    of a side), so people from the whole frame's height down to about a fifth of it are found."""
    out = [(0, 0, max(width, height))]
    for frac in (1.0, 0.6):
        side = int(round(frac * min(width, height)))
        step = max(1, int(side * (0.5 if frac == 1.0 else 2 / 3)))
        xs = list(range(0, max(width - side, 0) + 1, step))
        ys = list(range(0, max(height - side, 0) + 1, step))
        if xs[-1] + side < width - 0.05 * side:  # a last tile only where a strip worth it is left
            xs.append(width - side)
        if ys[-1] + side < height - 0.05 * side:
            ys.append(height - side)
        out += [(x, y, side) for y in ys for x in xs if (x, y, side) not in out]
    return out


class BodyDetector:
    """BlazePose's person detector with ``ai_edge_litert``: ``detect(rgb uint8 (H, W, 3))`` → people."""

    def __init__(self, path: str | None = None, threads: int | None = None, min_score: float = MIN_SCORE):
        from ai_edge_litert.interpreter import Interpreter

        threads = threads or min(4, os.cpu_count() or 1)  # 2 threads: 0.6x the time of 1 (measured, 224 px)
        self.interpreter = Interpreter(model_path=path or model_path(), num_threads=threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        outputs = self.interpreter.get_output_details()
        by_width = {int(o["shape"][-1]): o["index"] for o in outputs}
        self.boxes, self.logits = by_width[12], by_width[1]
        self.anchors = anchors()
        self.min_score = min_score

    def _run(self, square: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One 224×224 RGB float image in [-1, 1] → ``(N, 12)`` decoded rows in [0, 1] units, ``(N,)`` scores."""
        self.interpreter.set_tensor(self.input, square[None])
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self.boxes)[0]
        logit = np.clip(self.interpreter.get_tensor(self.logits)[0, :, 0], -100, 100)
        score = 0.5 * (1.0 + np.tanh(0.5 * logit))  # the logistic function, without overflow
        keep = score >= self.min_score
        raw, score = raw[keep] / INPUT, score[keep]
        raw[:, 0::2] += self.anchors[keep, :1]  # x offsets
        raw[:, 1::2] += self.anchors[keep, 1:]  # y offsets
        raw[:, 2:4] -= self.anchors[keep]  # width and height are sizes, not offsets
        return raw, score

    def detect(self, rgb: np.ndarray) -> list[dict]:
        """Every body in ``rgb (H, W, 3)`` uint8 → detections (module docstring), best first."""
        import cv2

        h, w = rgb.shape[:2]
        found = []  # (score, hip xy, shoulder xy, radius) in frame px
        for x0, y0, side in tiles(w, h):
            cut = rgb[y0:y0 + side, x0:x0 + side]
            ch, cw = cut.shape[:2]
            square = np.zeros((side, side, 3), np.uint8)  # letterbox: the cut at the top left, padded
            square[:ch, :cw] = cut
            img = cv2.resize(square, (INPUT, INPUT), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1.0
            rows, scores = self._run(img)
            for r, s in zip(rows, scores):
                hip = np.array([x0 + r[4] * side, y0 + r[5] * side])
                radius = float(np.hypot(r[6] - r[4], r[7] - r[5]) * side)
                shoulder = np.array([x0 + r[8] * side, y0 + r[9] * side])
                half = BODY_MARGIN * radius
                if half < 8:
                    continue
                # the share of the body's square inside the tile (only edges inside the frame cut)
                lo = np.array([x0 if x0 > 0 else -np.inf, y0 if y0 > 0 else -np.inf])
                hi = np.array([x0 + side if x0 + side < w else np.inf, y0 + side if y0 + side < h else np.inf])
                inside = np.clip(np.minimum(hip + half, hi) - np.maximum(hip - half, lo), 0, None) / (2 * half)
                found.append((float(s) * float(np.prod(inside)), hip, shoulder, radius))
        found.sort(key=lambda d: -d[0])
        kept: list[tuple] = []
        colours: dict[int, list[float]] = {}

        def colour(d: tuple) -> list[float]:
            if id(d) not in colours:
                colours[id(d)] = torso_histogram(rgb, list(d[1]), list(d[2]))
            return colours[id(d)]

        for d in found:
            if d[0] < self.min_score * 0.8:
                break
            if all(not _same_body(d, k) or _two_people(d, k, colour) for k in kept):
                kept.append(d)
        out = []
        for s, hip, shoulder, radius in kept:
            x0, y0, x1, y1 = _square((s, hip, shoulder, radius))
            x0, y0, x1, y1 = max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1)
            out.append({"box": [round(x0, 1), round(y0, 1), round(x1 - x0, 1), round(y1 - y0, 1)],
                        "score": round(s, 3), "hip": [round(float(v), 1) for v in hip],
                        "shoulder": [round(float(v), 1) for v in shoulder], "radius": round(radius, 1)})
        return out


def _square(d: tuple) -> tuple[float, float, float, float]:
    half = BODY_MARGIN * d[3]
    return d[1][0] - half, d[1][1] - half, d[1][0] + half, d[1][1] + half


def _same_body(a: tuple, b: tuple) -> bool:
    """Two detections of one body: their squares overlap (IoU ≥ :data:`NMS_IOU`), or one lies mostly in the
    other with hip centres within 0.8 of the smaller radius (the same person seen at two tile sizes, one
    guess of the hips at the chest)."""
    sa, sb = _square(a), _square(b)
    if _iou(sa, sb) >= NMS_IOU:
        return True
    near = float(np.hypot(*(a[1] - b[1]))) < 0.8 * min(a[3], b[3])
    iw = max(0.0, min(sa[2], sb[2]) - max(sa[0], sb[0]))
    ih = max(0.0, min(sa[3], sb[3]) - max(sa[1], sb[1]))
    smaller = min((sa[2] - sa[0]) * (sa[3] - sa[1]), (sb[2] - sb[0]) * (sb[3] - sb[1]))
    return near and iw * ih >= 0.6 * smaller


def _two_people(a: tuple, b: tuple, colour) -> bool:
    """Two overlapping detections that are two people (:data:`APART_HIPS`): hips apart, sizes alike, torso
    colours (``colour(d)`` → histogram) unlike."""
    small, large = sorted((a[3], b[3]))
    big = a if a[3] >= b[3] else b
    axis = big[2] - big[1]  # the larger body's hips → shoulders
    axis = axis / max(float(np.hypot(*axis)), 1e-6)
    apart = a[1] - b[1]
    beside = abs(float(apart[0] * axis[1] - apart[1] * axis[0]))  # across that axis: not hips guessed at the chest
    if beside < APART_HIPS * small or large > APART_SIZE_RATIO * small:
        return False
    ca, cb = colour(a), colour(b)
    if not ca or not cb:
        return False
    return colour_distance(ca, cb) >= APART_COLOUR


def colour_distance(a, b) -> float:
    """Bhattacharyya distance of two normalised histograms, 0 (same) to 1; 0.5 when either is unknown."""
    if a is None or b is None or len(a) == 0 or len(b) == 0:
        return 0.5
    bc = float(np.sum(np.sqrt(np.clip(np.asarray(a, float), 0, None) * np.clip(np.asarray(b, float), 0, None))))
    return float(np.sqrt(max(0.0, 1.0 - min(bc, 1.0))))


def _iou(a: tuple, b: tuple) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def torso_histogram(rgb: np.ndarray, hip: list[float], shoulder: list[float], bins: tuple[int, int] = (12, 4)) -> list[float]:
    """The colours of the torso between shoulder and hip centres: a normalised hue × saturation
    histogram (``bins``) of its HSV pixels, flattened; empty when the torso is off the frame."""
    import cv2

    h, w = rgb.shape[:2]
    hip_, sh = np.asarray(hip, float), np.asarray(shoulder, float)
    length = float(np.hypot(*(hip_ - sh)))
    centre = (hip_ + sh) / 2
    half_w, half_h = 0.3 * length, 0.4 * length
    x0, x1 = int(max(0, centre[0] - half_w)), int(min(w, centre[0] + half_w))
    y0, y1 = int(max(0, centre[1] - half_h)), int(min(h, centre[1] + half_h))
    if x1 - x0 < 3 or y1 - y0 < 3:
        return []
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, list(bins), [0, 180, 0, 256]).ravel()
    total = float(hist.sum())
    return [round(float(v) / total, 4) for v in hist] if total > 0 else []
