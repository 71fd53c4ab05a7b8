"""Conversions between joint layouts, one system for both of poseact's needs, matched by joint name.

Joint names mean the same body point in every layout (:mod:`poseact.skeleton`): MPII's upper neck
and H36M's neck joint are both ``neck``, NTU's SpineShoulder is ``thorax``, and so on. From the
names, two kinds of mapping follow:

* **Annotations** (:func:`joint_map`, :func:`map_joints`): image datasets' labels converted into a
  training layout (``h36m17`` / ``mpii16``). A target joint takes the source joint of the same
  name, or is missing (NaN): nothing is invented that the annotators did not mark.
* **Model inputs** (:func:`convert_layout`): a detector's keypoints (COCO-17, Halpe-26,
  MediaPipe-33, MPII-16 …) converted into what a lifter takes. Every target joint must be filled,
  so joints the source lacks are derived (:data:`DERIVED`); a derived joint is the mean of its
  parts and its confidence the *minimum* of theirs (it is only as sure as its least sure part).

The derivations reproduce the convention MotionBERT and mmpose use for ``coco2h36m``; for the
conversions into H36M-17 they give, joint by joint:

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

Halpe-26 has its own ``hip`` (19) and ``neck`` (18); the mid-points above are used instead, so the
three detectors agree on where the pelvis and thorax are. H36M's joint 9 is the "neck/nose" point
of the 32→17 reduction, which detectors place at the nose. MPII-16 → H36M-17 (a multi-task model
trained on MPII): by name, ``spine`` = mid(pelvis, thorax), ``neck`` = upper neck. MediaPipe-33 and
Halpe-26 → COCO-17 keep COCO's joints by name.
"""

from __future__ import annotations

import numpy as np

from poseact.errors import LayoutError
from poseact.skeleton import get_skeleton, mirror_joint_name

#: Layouts image datasets are converted into (the multi-task model's training layouts).
TRAINING_LAYOUTS: tuple[str, ...] = ("h36m17", "mpii16")

#: Annotation layouts with a name mapping into every training layout.
MAPPABLE_LAYOUTS: tuple[str, ...] = ("h36m17", "mpii16", "penn13", "ntu25")

#: Layouts lifters take whose input conversions are defined (and tested joint by joint, see the table).
INPUT_LAYOUTS: tuple[str, ...] = ("h36m17", "coco17")

#: Model-input derivations: target joint name → source joint groups, the first group the source
#: has entirely wins; ``@name`` is a target joint filled before (``spine`` from pelvis and thorax).
#: Joints not listed take the source joint of the same name.
DERIVED: dict[str, tuple[tuple[str, ...], ...]] = {
    "pelvis": (("pelvis",), ("left_hip", "right_hip")),
    "thorax": (("thorax",), ("left_shoulder", "right_shoulder")),
    "spine": (("spine",), ("@pelvis", "@thorax")),
    "neck": (("nose",), ("neck",)),
    "head": (("head",), ("left_eye", "right_eye")),
}

#: A recipe: per target joint, the source joint indices averaged into it, or target indices
#: (negative: ``-1 - j`` = target joint j, filled before) for derived joints of derived joints.
Recipe = tuple[tuple[int, ...], ...]


def joint_map(source: str, target: str, swap_sides: bool = False) -> np.ndarray:
    """Annotation map from ``source`` into training layout ``target``: ``(J_target,)`` int64, entry
    ``j`` = the source joint with target joint ``j``'s name, -1 where the source lacks it (NaN).

    ``swap_sides`` reads the source's left joints as right ones and vice versa (deephar spec §10
    quirk 6: datasets whose "left" is the viewer's left). Raises :class:`LayoutError` for a pair
    outside ``MAPPABLE_LAYOUTS`` × ``TRAINING_LAYOUTS``.
    """
    if source not in MAPPABLE_LAYOUTS or target not in TRAINING_LAYOUTS:
        raise LayoutError(f"no joint mapping from layout {source!r} to {target!r}: sources with a mapping are "
                          f"{list(MAPPABLE_LAYOUTS)}, targets {list(TRAINING_LAYOUTS)}")
    names = [mirror_joint_name(n) if swap_sides else n for n in get_skeleton(source).joint_names]
    index = {n: i for i, n in enumerate(names)}
    return np.array([index.get(n, -1) for n in get_skeleton(target).joint_names], dtype=np.int64)


def map_joints(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Apply a :func:`joint_map` to ``values (..., J_source, C)``: ``(..., J_target, C)`` float32,
    NaN where the map is -1."""
    out = np.full((*values.shape[:-2], len(index), values.shape[-1]), np.nan, dtype=np.float32)
    ok = index >= 0
    out[..., ok, :] = values[..., index[ok], :]
    return out


def input_recipe(source: str, target: str) -> Recipe | None:
    """How to build every joint of ``target`` from ``source`` model inputs, or None when ``target``
    is not one of :data:`INPUT_LAYOUTS` or some target joint can be neither found by name nor derived."""
    if target not in INPUT_LAYOUTS:
        return None
    src = {n: i for i, n in enumerate(get_skeleton(source).joint_names)}
    tgt = get_skeleton(target).joint_names
    tgt_index = {n: j for j, n in enumerate(tgt)}
    recipe: list[tuple[int, ...]] = []
    for name in tgt:
        for group in DERIVED.get(name, ((name,),)):
            parts = [(-1 - tgt_index[p[1:]]) if p.startswith("@") and p[1:] in tgt_index else src.get(p)
                     for p in group]
            if all(p is not None for p in parts):
                recipe.append(tuple(parts))
                break
        else:
            return None
    return tuple(recipe)


def can_convert(source: str, target: str) -> bool:
    return source == target or input_recipe(source, target) is not None


def convert_layout(keypoints: np.ndarray, confidence: np.ndarray, source: str, target: str,
                   where: str = "keypoints") -> tuple[np.ndarray, np.ndarray]:
    """Model inputs ``(T, J_src, 2)`` pixels + ``(T, J_src)`` confidence → ``(T, J_dst, 2)`` +
    ``(T, J_dst)``. NaN propagates, so convert after filling gaps."""
    n_src = get_skeleton(source).num_joints
    if keypoints.shape[-2] != n_src or confidence.shape[-1] != n_src:
        raise LayoutError(f"{where}: {keypoints.shape[-2]} joints, layout {source} has {n_src}")
    if source == target:
        return keypoints, confidence
    recipe = input_recipe(source, target)
    if recipe is None:
        why = (f"{target}'s joints {_missing(source, target)} are neither in {source} nor derivable from it"
               if target in INPUT_LAYOUTS else f"conversions go into {', '.join(INPUT_LAYOUTS)} only")
        raise LayoutError(f"{where}: no conversion from {source} to {target}: {why}")
    n_dst = len(recipe)
    out = np.empty(keypoints.shape[:-2] + (n_dst, 2), dtype=np.float32)
    conf = np.empty(confidence.shape[:-1] + (n_dst,), dtype=np.float32)
    derived_later = [j for j, parts in enumerate(recipe) if min(parts) < 0]
    for j, parts in enumerate(recipe):
        if j not in derived_later:
            out[..., j, :] = keypoints[..., list(parts), :].mean(axis=-2)
            conf[..., j] = confidence[..., list(parts)].min(axis=-1)
    for j in derived_later:  # made of target joints filled above
        targets = [-1 - p for p in recipe[j]]
        out[..., j, :] = out[..., targets, :].mean(axis=-2)
        conf[..., j] = conf[..., targets].min(axis=-1)
    return out, conf


def _missing(source: str, target: str) -> list[str]:
    have = set(get_skeleton(source).joint_names)
    return [n for n in get_skeleton(target).joint_names
            if not any(all(p.startswith("@") or p in have for p in g) for g in DERIVED.get(n, ((n,),)))]
