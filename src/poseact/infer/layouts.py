"""2-D keypoint layout conversions (COCO-17, Halpe-26, MediaPipe-33, MPII-16 → H36M-17; → COCO-17).

Every conversion takes ``keypoints (T, J_src, 2)`` pixels and ``confidence (T, J_src)`` and
returns the same pair in the target layout. A joint made from several source joints is their
mean, and its confidence is the *minimum* of theirs (a derived joint is only as sure as its
least sure part). NaN propagates, so convert after filling gaps (:mod:`poseact.infer.gaps`).

COCO-17 / Halpe-26 / MediaPipe-33 → H36M-17 (the same semantics for all three, following the
convention MotionBERT and mmpose use for ``coco2h36m``):

=====  ===============  ===========================  ==========================  ============================
h36m   name             from COCO-17                  from Halpe-26               from MediaPipe-33
=====  ===============  ===========================  ==========================  ============================
0      pelvis           mid(11 l_hip, 12 r_hip)       mid(11, 12)                 mid(23 l_hip, 24 r_hip)
1-3    r hip/knee/ankl  12, 14, 16                    12, 14, 16                  24, 26, 28
4-6    l hip/knee/ankl  11, 13, 15                    11, 13, 15                  23, 25, 27
7      spine            mid(pelvis, thorax)           mid(pelvis, thorax)         mid(pelvis, thorax)
8      thorax           mid(5 l_sho, 6 r_sho)         mid(5, 6)                   mid(11 l_sho, 12 r_sho)
9      neck/nose        0 nose                        0 nose                      0 nose
10     head             mid(1 l_eye, 2 r_eye)         17 head (top)               mid(2 l_eye, 5 r_eye)
11-13  l sho/elb/wrist  5, 7, 9                       5, 7, 9                     11, 13, 15
14-16  r sho/elb/wrist  6, 8, 10                      6, 8, 10                    12, 14, 16
=====  ===============  ===========================  ==========================  ============================

Halpe-26 has its own ``hip`` (19) and ``neck`` (18); the mid-points above are used instead so
that the three sources agree on where the pelvis and thorax are. Halpe-26 → COCO-17 keeps the
first 17 joints; MediaPipe-33 → COCO-17 picks nose 0, eyes 2/5, ears 7/8, shoulders 11/12,
elbows 13/14, wrists 15/16, hips 23/24, knees 25/26, ankles 27/28.

MPII-16 → H36M-17 (for a multi-task model trained on the MPII layout): pelvis 6, right
hip/knee/ankle 2/1/0, left 3/4/5, spine = mid(pelvis, thorax), thorax 7, neck = upper neck 8,
head = head top 9, left shoulder/elbow/wrist 13/14/15, right 12/11/10. H36M-17 input (what the
synthetic-image multi-task model predicts) goes to an H36M-17 lifter unchanged.
"""

from __future__ import annotations

import numpy as np

from poseact.skeleton import get_skeleton

# A recipe: for each target joint, the source joints averaged into it (one index = a copy).
# "pelvis"/"thorax" refer to the *target* joints 0 and 8, filled before joint 7.
Recipe = tuple[tuple[int, ...] | str, ...]

_COCO_LIKE_TO_H36M: Recipe = (
    (11, 12), (12,), (14,), (16,), (11,), (13,), (15,), "spine", (5, 6), (0,), (1, 2),
    (5,), (7,), (9,), (6,), (8,), (10,),
)
_HALPE_TO_H36M: Recipe = _COCO_LIKE_TO_H36M[:10] + ((17,),) + _COCO_LIKE_TO_H36M[11:]
_MEDIAPIPE_TO_H36M: Recipe = (
    (23, 24), (24,), (26,), (28,), (23,), (25,), (27,), "spine", (11, 12), (0,), (2, 5),
    (11,), (13,), (15,), (12,), (14,), (16,),
)
_MEDIAPIPE_TO_COCO: Recipe = tuple((j,) for j in (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28))
_HALPE_TO_COCO: Recipe = tuple((j,) for j in range(17))
_MPII_TO_H36M: Recipe = (
    (6,), (2,), (1,), (0,), (3,), (4,), (5,), "spine", (7,), (8,), (9,),
    (13,), (14,), (15,), (12,), (11,), (10,),
)

CONVERSIONS: dict[tuple[str, str], Recipe] = {
    ("coco17", "h36m17"): _COCO_LIKE_TO_H36M,
    ("halpe26", "h36m17"): _HALPE_TO_H36M,
    ("mediapipe33", "h36m17"): _MEDIAPIPE_TO_H36M,
    ("mpii16", "h36m17"): _MPII_TO_H36M,
    ("halpe26", "coco17"): _HALPE_TO_COCO,
    ("mediapipe33", "coco17"): _MEDIAPIPE_TO_COCO,
}


class LayoutError(ValueError):
    """Keypoints cannot be brought into the layout a model expects."""


def can_convert(source: str, target: str) -> bool:
    return source == target or (source, target) in CONVERSIONS


def convert_layout(keypoints: np.ndarray, confidence: np.ndarray, source: str, target: str,
                   where: str = "keypoints") -> tuple[np.ndarray, np.ndarray]:
    """``(T, J_src, 2)`` pixels + ``(T, J_src)`` → ``(T, J_dst, 2)`` + ``(T, J_dst)``."""
    n_src = get_skeleton(source).num_joints
    if keypoints.shape[-2] != n_src or confidence.shape[-1] != n_src:
        raise LayoutError(f"{where}: {keypoints.shape[-2]} joints, layout {source} has {n_src}")
    if source == target:
        return keypoints, confidence
    try:
        recipe = CONVERSIONS[(source, target)]
    except KeyError:
        known = sorted({f"{s}->{t}" for s, t in CONVERSIONS})
        raise LayoutError(f"{where}: no conversion from {source} to {target} (known: {known})") from None
    n_dst = get_skeleton(target).num_joints
    out = np.empty(keypoints.shape[:-2] + (n_dst, 2), dtype=np.float32)
    conf = np.empty(confidence.shape[:-1] + (n_dst,), dtype=np.float32)
    for j, src in enumerate(recipe):
        if src == "spine":      # mid(pelvis, thorax) of the target, both filled already
            continue
        out[..., j, :] = keypoints[..., list(src), :].mean(axis=-2)
        conf[..., j] = confidence[..., list(src)].min(axis=-1)
    for j, src in enumerate(recipe):
        if src == "spine":
            out[..., j, :] = (out[..., 0, :] + out[..., 8, :]) / 2
            conf[..., j] = np.minimum(conf[..., 0], conf[..., 8])
    return out, conf
