"""The lift stage: the subject's cleaned 2-D → 3-D poses in metres, scaled and with steady bones.

Steps: the 2-D converted to the layout the lifter takes, unreliable joints found (:func:`joint_report`:
below the confidence threshold or outside the image; a frame with too few reliable joints is flagged),
lifted (:func:`poseact.lifting.inference.lift`, flip TTA), then scale and bones
(:func:`poseact.bones.apply_body_rules`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from poseact import bones
from poseact.errors import KeypointFileError
from poseact.infer.gaps import MIN_RELIABLE_FRACTION
from poseact.layouts import convert_layout
from poseact.lifting.inference import lift
from poseact.skeleton import get_skeleton


@dataclass
class Lifted:
    """The lift stage's result: the lifter's 2-D input ``keypoints_2d (T, J2, 2)`` px and ``confidence
    (T, J2)``, ``flagged (T,)``, ``pose (T, J, 3)`` m root-relative in camera space, ``trajectory (T, 3)`` m
    or None, the ``body`` rule applied and the ``joints`` report. ``pose`` is None for a photo whose pose
    has too few reliable joints (reported, not lifted)."""

    keypoints_2d: np.ndarray
    confidence: np.ndarray
    flagged: np.ndarray
    pose: np.ndarray | None
    trajectory: np.ndarray | None
    body: dict
    joints: dict


def lift_stage(lifter, keypoints: np.ndarray, confidence: np.ndarray, layout: str, flagged: np.ndarray,
               width: int, height_px: int, where: str, tta: bool = True, height: float | None = None,
               constant_bones: bool | None = None, joint_threshold: float = 0.3,
               single_image: bool = False, upright: bool = False) -> Lifted:
    """Convert, check the joints, lift and apply the body rules (module docstring)."""
    kps, conf = convert_layout(keypoints, confidence, layout, lifter.layout_2d, where=where)
    joints, too_few = joint_report(kps, conf, width, height_px, lifter.layout_2d, joint_threshold)
    flagged = flagged | too_few
    if single_image and too_few.any():
        return Lifted(kps, conf, flagged, None, None, {}, joints)
    pose, trajectory = lift(lifter, kps, conf, width, height_px, tta=tta, upright=upright)
    try:
        pose, trajectory, body = bones.apply_body_rules(
            pose, trajectory, lifter.layout_3d, ~flagged, height,
            len(pose) > 1 if constant_bones is None else constant_bones)
    except ValueError as e:  # a degenerate lift (every joint at the root)
        raise KeypointFileError(f"the lifted poses cannot be scaled to --height {height}: {e}") from None
    return Lifted(kps, conf, flagged, pose, trajectory, body, joints)


def joint_report(kps: np.ndarray, conf: np.ndarray, width: int, height: int, layout: str,
                 threshold: float) -> tuple[dict, np.ndarray]:
    """Which detected joints are unreliable (below ``threshold`` confidence or outside the image), per
    frame, and which fully detected frames have too few reliable joints (:data:`MIN_RELIABLE_FRACTION`).
    Entries filled over a gap (confidence 0) are the gap report's, not counted here. Returns the
    report (for the JSON) and the ``(T,)`` mask of frames with too few reliable joints."""
    names = get_skeleton(layout).joint_names or tuple(str(j) for j in range(kps.shape[1]))
    inside = (kps[..., 0] >= 0) & (kps[..., 0] < width) & (kps[..., 1] >= 0) & (kps[..., 1] < height)
    detected = conf > 0  # filled entries have confidence 0: the gap report covers them
    unreliable = detected & ((conf < threshold) | ~inside)
    need = int(np.ceil(MIN_RELIABLE_FRACTION * kps.shape[1]))
    too_few = detected.all(1) & ((~unreliable).sum(1) < need)
    per_joint = unreliable.sum(0)
    worst = [f"{names[j]} ({int(per_joint[j])})" for j in np.argsort(-per_joint) if per_joint[j]][:6]
    summary = (f"{int(unreliable.any(1).sum())} of {len(kps)} frames with unreliable joints "
               f"(confidence < {threshold:g} or outside the image)" + (f": {', '.join(worst)}" if worst else "")
               + (f"; {int(too_few.sum())} frames with fewer than {need} reliable joints flagged"
                  if too_few.any() else ""))
    return {"threshold": threshold, "min_reliable_joints": need,
            "unreliable": {int(t): [names[j] for j in np.flatnonzero(row)] for t, row in enumerate(unreliable)
                           if row.any()},
            "too_few_frames": np.flatnonzero(too_few).tolist(), "summary": summary}, too_few


def body_line(body: dict, frames: int = 2) -> str:
    """The scale and bone rule applied, one line for the console."""
    scale = (f"scaled x{body['scale']:.2f} to a {body['height_m']:.2f} m stature" if body.get("height_m")
             else body["rule"])
    if body["constant_bones"]:
        bones_ = "one length per bone" + (
            f" (as lifted they varied by up to {body['bones_as_lifted']['largest_spread_m'] * 100:.1f} cm)"
            if frames >= 2 and "bones_as_lifted" in body else "")
    elif frames < 2:
        bones_ = "one frame: bone lengths as lifted"
    else:
        bones_ = f"bone lengths vary by up to {body['bones']['largest_spread_m'] * 100:.1f} cm"
    return f"{scale}; {bones_}"
