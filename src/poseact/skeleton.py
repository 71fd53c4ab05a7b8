"""Joint layouts: parents, left/right sets, names, and conversions between layouts.

A layout is data (a frozen :class:`Skeleton`); everything else in poseact looks layouts up by
name through :func:`get_skeleton`, so a store, a checkpoint and a config agree on one string.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from poseact.errors import UnknownLayoutError


def mirror_joint_name(name: str) -> str:
    """The joint's name on the other side: ``left_knee`` -> ``right_knee``, ``mouth_right`` ->
    ``mouth_left``; names without a side are their own mirror."""
    swap = {"left": "right", "right": "left"}
    return "_".join(swap.get(part, part) for part in name.split("_"))


@dataclass(frozen=True)
class Skeleton:
    """A kinematic tree: ``parents[j]`` is the parent of joint ``j`` (-1 for the root)."""

    name: str
    parents: tuple[int, ...]
    joints_left: tuple[int, ...]
    joints_right: tuple[int, ...]
    joint_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        n = len(self.parents)
        if self.joint_names and len(self.joint_names) != n:
            raise ValueError(f"skeleton {self.name!r}: {len(self.joint_names)} names for {n} joints")
        if len(self.joints_left) != len(self.joints_right):
            raise ValueError(f"skeleton {self.name!r}: left/right sets differ in size")
        if self.joint_names:
            left = {self.joint_names[j] for j in self.joints_left}
            right = {self.joint_names[j] for j in self.joints_right}
            if {mirror_joint_name(n) for n in left} != right:
                raise ValueError(f"skeleton {self.name!r}: the left set {sorted(left)} and the right set "
                                 f"{sorted(right)} must be mirror images by name (left <-> right)")
        for j, p in enumerate(self.parents):
            if p >= j and p != -1:
                raise ValueError(f"skeleton {self.name!r}: parent of joint {j} is {p}, must precede it")

    @property
    def num_joints(self) -> int:
        return len(self.parents)

    @property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """(child, parent) pairs for every non-root joint."""
        return tuple((j, p) for j, p in enumerate(self.parents) if p >= 0)

    def flip_permutation(self) -> np.ndarray:
        """Index array that swaps left and right joints: ``pose[..., perm, :]`` mirrors labels.

        Joints are paired by name (``left_knee`` with ``right_knee``) where the layout names them,
        else by position in the two sets. The reference swaps by position; for its MPII layout,
        whose sets list the left side hip-first and the right side ankle-first, that pairs a hip
        with an ankle, so naming the joints is what makes the mirror right.
        """
        perm = np.arange(self.num_joints)
        if self.joint_names:
            index = {n: j for j, n in enumerate(self.joint_names)}
            right = [index[mirror_joint_name(self.joint_names[j])] for j in self.joints_left]
        else:
            right = list(self.joints_right)
        perm[list(self.joints_left)] = right
        perm[right] = self.joints_left
        return perm

    def remove_joints(self, remove: list[int], name: str) -> tuple["Skeleton", list[int]]:
        """Drop joints, re-attaching orphans to their nearest kept ancestor.

        Returns the reduced skeleton and the kept original indices (in order).
        """
        removed = set(remove)
        kept = [j for j in range(self.num_joints) if j not in removed]
        new_index = {old: new for new, old in enumerate(kept)}
        parents = []
        for j in kept:
            p = self.parents[j]
            while p in removed:
                p = self.parents[p]
            parents.append(-1 if p == -1 else new_index[p])
        left = tuple(new_index[j] for j in self.joints_left if j in new_index)
        right = tuple(new_index[j] for j in self.joints_right if j in new_index)
        names = tuple(self.joint_names[j] for j in kept) if self.joint_names else ()
        return Skeleton(name, tuple(parents), left, right, names), kept


H36M32 = Skeleton(
    name="h36m32",
    parents=(-1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14, 12, 16, 17, 18, 19, 20, 19, 22,
             12, 24, 25, 26, 27, 28, 27, 30),
    joints_left=(6, 7, 8, 9, 10, 16, 17, 18, 19, 20, 21, 22, 23),
    joints_right=(1, 2, 3, 4, 5, 24, 25, 26, 27, 28, 29, 30, 31),
)

#: Original H36M-32 indices kept in the 17-joint layout (the Martinez et al. subset).
H36M32_TO_17: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)

H36M17 = Skeleton(
    name="h36m17",
    # shoulders (11, 14) re-attached to the thorax (8), as the reference does after reduction
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    joints_left=(4, 5, 6, 11, 12, 13),
    joints_right=(1, 2, 3, 14, 15, 16),
    joint_names=("pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
                 "left_ankle", "spine", "thorax", "neck", "head", "left_shoulder", "left_elbow",
                 "left_wrist", "right_shoulder", "right_elbow", "right_wrist"),
)

HUMANEVA15 = Skeleton(
    name="humaneva15",
    parents=(-1, 0, 1, 2, 3, 1, 5, 6, 0, 8, 9, 0, 11, 12, 1),
    joints_left=(2, 3, 4, 8, 9, 10),
    joints_right=(5, 6, 7, 11, 12, 13),
    joint_names=("pelvis", "thorax", "left_shoulder", "left_elbow", "left_wrist",
                 "right_shoulder", "right_elbow", "right_wrist", "left_hip", "left_knee",
                 "left_ankle", "right_hip", "right_knee", "right_ankle", "head"),
)

COCO17 = Skeleton(
    name="coco17",
    # a tree rooted at the nose; used for drawing and flipping, not for bone-length losses
    parents=(-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14),
    joints_left=(1, 3, 5, 7, 9, 11, 13, 15),
    joints_right=(2, 4, 6, 8, 10, 12, 14, 16),
    joint_names=("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
                 "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                 "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"),
)

MPII16 = Skeleton(
    name="mpii16",
    # 0 r_ankle 1 r_knee 2 r_hip 3 l_hip 4 l_knee 5 l_ankle 6 pelvis 7 thorax 8 neck 9 head
    # 10 r_wrist 11 r_elbow 12 r_shoulder 13 l_shoulder 14 l_elbow 15 l_wrist; tree rooted at 6
    # is re-expressed with parents preceding children by the order of definition below.
    parents=(-1, 0, 1, -1, 3, 4, -1, 6, 7, 8, -1, 10, 11, -1, 13, 14),
    joints_left=(3, 4, 5, 13, 14, 15),
    joints_right=(0, 1, 2, 10, 11, 12),
    joint_names=("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
                 "pelvis", "thorax", "neck", "head", "right_wrist", "right_elbow",
                 "right_shoulder", "left_shoulder", "left_elbow", "left_wrist"),
)

HALPE26 = Skeleton(
    name="halpe26",
    # AlphaPose's Halpe-26: COCO-17 first, then head top, neck, hip centre, toes and heels.
    # Rooted at the nose like COCO17 (parents must precede children); drawing and flipping only.
    parents=(-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14, 0, 0, 11, 15, 16, 15, 16, 15, 16),
    joints_left=(1, 3, 5, 7, 9, 11, 13, 15, 20, 22, 24),
    joints_right=(2, 4, 6, 8, 10, 12, 14, 16, 21, 23, 25),
    joint_names=COCO17.joint_names + ("head", "neck", "hip", "left_big_toe", "right_big_toe",
                                      "left_small_toe", "right_small_toe", "left_heel", "right_heel"),
)

MEDIAPIPE33 = Skeleton(
    name="mediapipe33",
    # MediaPipe Pose (BlazePose) landmarks, rooted at the nose; drawing and flipping only.
    parents=(-1, 0, 1, 2, 0, 4, 5, 3, 6, 0, 0, 0, 0, 11, 12, 13, 14, 15, 16, 15, 16, 15, 16,
             11, 12, 23, 24, 25, 26, 27, 28, 27, 28),
    joints_left=(1, 2, 3, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31),
    joints_right=(4, 5, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32),
    joint_names=("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner",
                 "right_eye", "right_eye_outer", "left_ear", "right_ear", "mouth_left",
                 "mouth_right", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                 "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index",
                 "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee",
                 "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
                 "left_foot_index", "right_foot_index"),
)

PENN13 = Skeleton(
    name="penn13",
    # Penn Action's 13 joints in the order of its label files (x, y, visibility columns); the names
    # are the dataset's own. Rooted at the head; drawing, flipping and the mapping below only.
    parents=(-1, 0, 0, 1, 2, 3, 4, 1, 2, 7, 8, 9, 10),
    joints_left=(1, 3, 5, 7, 9, 11),
    joints_right=(2, 4, 6, 8, 10, 12),
    joint_names=("head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
                 "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
                 "right_ankle"),
)

NTU25 = Skeleton(
    name="ntu25",
    # Kinect v2 joints in the order of NTU RGB+D's .skeleton files: 0 SpineBase, 1 SpineMid, 2 Neck,
    # 3 Head, 4-7 left shoulder/elbow/wrist/hand, 8-11 right ..., 12-15 left hip/knee/ankle/foot,
    # 16-19 right ..., 20 SpineShoulder, 21 HandTipLeft, 22 ThumbLeft, 23 HandTipRight, 24 ThumbRight.
    # Names follow our vocabulary (SpineBase = pelvis, SpineMid = spine, SpineShoulder = thorax) so
    # that poseact.layouts.joint_map finds them; the Kinect names are the dataset's. Kinect's tree hangs the neck
    # and shoulders on SpineShoulder (20); here they hang on SpineMid (1) because a parent must
    # precede its child (drawing and flipping only).
    parents=(-1, 0, 1, 2, 1, 4, 5, 6, 1, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 1, 7, 7, 11, 11),
    joints_left=(4, 5, 6, 7, 12, 13, 14, 15, 21, 22),
    joints_right=(8, 9, 10, 11, 16, 17, 18, 19, 23, 24),
    joint_names=("pelvis", "spine", "neck", "head", "left_shoulder", "left_elbow", "left_wrist",
                 "left_hand", "right_shoulder", "right_elbow", "right_wrist", "right_hand", "left_hip",
                 "left_knee", "left_ankle", "left_foot", "right_hip", "right_knee", "right_ankle",
                 "right_foot", "thorax", "left_hand_tip", "left_thumb", "right_hand_tip", "right_thumb"),
)

SKELETONS: dict[str, Skeleton] = {s.name: s for s in (H36M32, H36M17, HUMANEVA15, COCO17, MPII16,
                                                      HALPE26, MEDIAPIPE33, PENN13, NTU25)}

#: Layout names used by VideoPose3D's 2-D metadata, mapped to ours.
REFERENCE_LAYOUT_NAMES: dict[str, str] = {
    "h36m": "h36m17", "coco": "coco17", "humaneva15": "humaneva15", "mpii": "mpii16",
}


def get_skeleton(name: str) -> Skeleton:
    """Look a layout up by name; the error lists the known names."""
    try:
        return SKELETONS[name]
    except KeyError:
        raise UnknownLayoutError(f"unknown joint layout {name!r}; known: {sorted(SKELETONS)}") from None


def h36m32_to_17(positions: np.ndarray) -> np.ndarray:
    """Reduce ``(..., 32, C)`` H36M joints to the 17-joint layout ``(..., 17, C)``."""
    if positions.shape[-2] != 32:
        raise ValueError(f"expected 32 H36M joints on axis -2, got shape {positions.shape}")
    return positions[..., list(H36M32_TO_17), :]
