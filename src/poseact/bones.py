"""Bone lengths of lifted poses: the subject's scale from a stature, and one length per bone per clip.

A lifter trained on one set of bodies predicts the proportions it saw, at a size set by the 2-D it is
given; on footage of someone else, the size is a guess and bone lengths wobble from frame to frame.
Two corrections, both on root-relative poses in metres:

* :func:`scale_to_height`: **the scale rule.** The standing chain ankle → knee → hip joint, plus
  pelvis → spine → thorax → neck → head (the legs' two chains averaged) is
  :data:`CHAIN_FRACTION` of the stature: the rest is the ankle's height above the floor and the
  crown above the head joint (the synthetic bodies' proportions, which are anthropometric tables').
  Poses (and a root trajectory, so the 2-D projection is unchanged: a body ``s`` times larger at ``s``
  times the distance projects to the same pixels) are multiplied by ``height / (chain / CHAIN_FRACTION)``.
* :func:`constant_bones`: **one length per bone over the clip.** Each bone keeps its direction in
  every frame and takes the clip's median length (over the frames given as reliable), left and right
  averaged, rebuilt from the root outwards; frame-to-frame spread of every bone is then zero.

Layouts: any :class:`~poseact.skeleton.Skeleton` for :func:`constant_bones`; those of
:data:`STANDING_CHAINS` (H36M-17) for :func:`scale_to_height`.
"""

from __future__ import annotations

import numpy as np

from poseact.skeleton import Skeleton, get_skeleton

#: an average adult's stature (metres): the default of ``poseact infer --height``
DEFAULT_HEIGHT_M = 1.70
#: the standing chain (ankle to head joint) as a fraction of stature (synthetic rest body: 1.595 / 1.76)
CHAIN_FRACTION = 0.906
#: by layout: (the two legs' chains ankle → hip joint, the trunk chain pelvis → head), joint indices
STANDING_CHAINS: dict[str, tuple[tuple[tuple[int, ...], tuple[int, ...]], tuple[int, ...]]] = {
    "h36m17": (((3, 2, 1), (6, 5, 4)), (0, 7, 8, 9, 10)),
}


def bone_report(pose: np.ndarray, skeleton: Skeleton | str, reliable: np.ndarray | None = None) -> dict:
    """Per bone (named by its child joint): median length and frame-to-frame spread (standard
    deviation over the ``reliable`` frames), metres, rounded to 0.1 mm; and the largest spread."""
    sk = get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton
    lengths = bone_lengths(np.asarray(pose, dtype=np.float64), sk)
    if reliable is not None and reliable.any():
        lengths = lengths[reliable]
    names = [sk.joint_names[c] if sk.joint_names else str(c) for c, _ in sk.bones]
    median, spread = np.median(lengths, axis=0), lengths.std(axis=0)
    return {"median_m": {n: round(float(m), 4) for n, m in zip(names, median)},
            "spread_m": {n: round(float(s), 4) for n, s in zip(names, spread)},
            "largest_spread_m": round(float(spread.max()), 4) if len(spread) else 0.0}


def bone_lengths(pose: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """``pose (..., J, 3)`` → ``(..., B)`` lengths of ``skeleton.bones`` (child, parent) in pose units."""
    child = np.array([c for c, _ in skeleton.bones])
    parent = np.array([p for _, p in skeleton.bones])
    return np.linalg.norm(pose[..., child, :] - pose[..., parent, :], axis=-1)


def chain_length(pose: np.ndarray, layout: str) -> np.ndarray:
    """``pose (..., J, 3)`` metres → ``(...)`` length of the standing chain (see the module docstring)."""
    if layout not in STANDING_CHAINS:
        raise ValueError(f"layout {layout!r}: the scale rule knows {sorted(STANDING_CHAINS)}")
    legs, trunk = STANDING_CHAINS[layout]

    def along(chain: tuple[int, ...]) -> np.ndarray:
        idx = np.asarray(chain)
        return np.linalg.norm(np.diff(pose[..., idx, :], axis=-2), axis=-1).sum(-1)

    return np.mean([along(leg) for leg in legs], axis=0) + along(trunk)


def stature(pose: np.ndarray, layout: str) -> np.ndarray:
    """The stature (metres) a pose implies under the scale rule: ``chain / CHAIN_FRACTION``."""
    return chain_length(pose, layout) / CHAIN_FRACTION


def scale_to_height(pose: np.ndarray, layout: str, height: float = DEFAULT_HEIGHT_M,
                    reliable: np.ndarray | None = None) -> float:
    """The factor that makes ``pose (T, J, 3)``'s median stature over ``reliable (T,)`` frames (all
    when None) equal ``height`` metres. Multiply the pose, and the trajectory if any, by it."""
    if not np.isfinite(height) or height <= 0:
        raise ValueError(f"height {height!r}: give the subject's stature in metres, e.g. 1.70")
    frames = stature(pose, layout)
    if reliable is not None and reliable.any():
        frames = frames[reliable]
    current = float(np.median(frames))
    if not current > 0:
        raise ValueError("the poses have no extent (every joint at the root): nothing to scale")
    return height / current


def constant_bones(pose: np.ndarray, skeleton: Skeleton | str, reliable: np.ndarray | None = None,
                   symmetric: bool = True) -> np.ndarray:
    """``pose (T, J, 3)`` → the same poses with every bone at its clip median length.

    Directions are kept: joint ``j`` becomes ``new[parent] + L_b * unit(pose[j] - pose[parent])``,
    computed parents first, so the root stays where it was. ``reliable (T,)`` chooses the frames the
    medians come from (all when None or when none is reliable); ``symmetric`` gives a left bone and
    its mirror the mean of their two medians. A zero-length bone keeps a zero offset."""
    sk = get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton
    pose = np.asarray(pose, dtype=np.float64)
    if pose.ndim != 3 or pose.shape[1:] != (sk.num_joints, 3):
        raise ValueError(f"poses of shape {pose.shape}: expected (T, {sk.num_joints}, 3) for {sk.name}")
    lengths = bone_lengths(pose, sk)
    use = lengths[reliable] if reliable is not None and reliable.any() else lengths
    target = np.median(use, axis=0)
    if symmetric:
        flip = sk.flip_permutation()
        index = {bone: b for b, bone in enumerate(sk.bones)}
        mirrored = np.array([index.get((int(flip[c]), int(flip[p])), b) for b, (c, p) in enumerate(sk.bones)])
        target = (target + target[mirrored]) / 2
    out = pose.copy()
    for b, (c, p) in enumerate(sk.bones):  # parents precede children (Skeleton's invariant)
        offset = pose[:, c] - pose[:, p]
        norm = np.linalg.norm(offset, axis=-1, keepdims=True)
        unit = np.divide(offset, norm, out=np.zeros_like(offset), where=norm > 0)
        out[:, c] = out[:, p] + target[b] * unit
    return out


def apply_body_rules(pose: np.ndarray, trajectory: np.ndarray | None, layout: str, reliable: np.ndarray | None,
                     height: float | None, constant: bool) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """:func:`constant_bones` (when ``constant``), then :func:`scale_to_height` (when ``height`` is given
    and ``layout`` has a stature rule), of ``pose (T, J, 3)`` and the ``trajectory (T, 3)`` alike →
    ``(pose, trajectory, report)`` float32; the report says what was applied and each bone's median
    length and spread (``bones``) and, with constant bones, the same of the bones as lifted, at the same
    scale (``bones_as_lifted``: their frame-to-frame spread, which constant bones set to zero). A degenerate
    pose (no extent) raises ``ValueError``."""
    report: dict = {"constant_bones": bool(constant)}
    as_lifted = pose
    if constant:
        pose = constant_bones(pose, layout, reliable=reliable).astype(np.float32)
    if height is not None and layout in STANDING_CHAINS:
        factor = scale_to_height(pose, layout, height, reliable)
        pose = (pose * factor).astype(np.float32)
        if trajectory is not None:
            trajectory = (trajectory * factor).astype(np.float32)
        report.update(height_m=height, model_stature_m=round(height / factor, 4), scale=round(factor, 4),
                      rule=f"standing chain ankle-knee-hip + pelvis-spine-thorax-neck-head = {CHAIN_FRACTION} "
                           f"x stature; pose and trajectory scaled alike")
    else:
        report.update(height_m=None, scale=1.0, rule="the model's own scale" if height is None else
                      f"no stature rule for layout {layout!r}: the model's own scale")
    report["bones"] = bone_report(pose, layout, reliable)
    if constant:
        report["bones_as_lifted"] = bone_report(as_lifted * report["scale"], layout, reliable)
    return pose, trajectory, report
