"""Assemble a :class:`PoseStore` clip by clip (used by the synthetic generator and converters)."""

from __future__ import annotations

import numpy as np

from poseact.store.schema import CameraTable, ClipTable, PoseStore


class StoreBuilder:
    """Collects clips, then concatenates them into flat frame arrays in one go.

    Every clip must carry the same optional arrays as the first (confidence, 3-D, world 3-D);
    clips without 3-D in a store that has some get NaN rows (unlabeled). Image datasets add
    ``image_ref`` (every clip or none), ``boxes`` and ``head_size`` (NaN-filled where a clip has none),
    and set ``partial=True`` when NaN marks joints missing in the annotation.
    """

    def __init__(self, cameras: CameraTable, layout_2d: str, layout_3d: str, fps: float, source: str,
                 actions: list[str] | None = None, partial: bool = False):
        self.cameras = cameras
        self.layout_2d, self.layout_3d, self.fps, self.source = layout_2d, layout_3d, fps, source
        self.actions: list[str] = list(actions or [])  # fixed label order first, then as met
        self.partial = partial
        self.notes: list[str] = []
        self._rows: list[tuple[str, int, str, int, int]] = []
        self._arrays: dict[str, list[np.ndarray | None]] = {
            "keypoints": [], "confidence": [], "pose3d": [], "pose3d_world": [], "image_ref": [],
            "boxes": [], "head_size": []}

    def __len__(self) -> int:
        """Clips added so far."""
        return len(self._rows)

    def action_id(self, action: str | None) -> int:
        """Label id of ``action`` (added if new); ``None`` = no action label (-1)."""
        if action is None:
            return -1
        if action not in self.actions:
            self.actions.append(action)
        return self.actions.index(action)

    def add_clip(
        self, subject: str, action: str | None, take: str, camera: int, keypoints: np.ndarray,
        confidence: np.ndarray | None = None, pose3d: np.ndarray | None = None,
        pose3d_world: np.ndarray | None = None, image_ref: list[str] | np.ndarray | None = None,
        boxes: np.ndarray | None = None, head_size: np.ndarray | None = None,
    ) -> None:
        """Add one (sequence, camera) clip. ``keypoints (T, J2, 2)`` pixels; ``pose3d (T, J3, 3)``
        metres in camera space (absolute); ``camera`` is a row of the camera table; ``action`` None =
        no label. Image data: ``image_ref (T,)`` file paths relative to the store's folder,
        ``boxes (T, 4)`` pixels x_min, y_min, x_max, y_max, ``head_size (T,)`` pixels."""
        t = len(keypoints)
        for name, arr in (("confidence", confidence), ("pose3d", pose3d), ("pose3d_world", pose3d_world),
                          ("image_ref", image_ref), ("boxes", boxes), ("head_size", head_size)):
            if arr is not None and len(arr) != t:
                raise ValueError(f"clip {subject}/{take}/camera {camera}: {name} has {len(arr)} frames, "
                                 f"keypoints {t}")
        self._rows.append((subject, self.action_id(action), take, camera, t))
        self._arrays["keypoints"].append(np.asarray(keypoints, dtype=np.float32))
        for name, arr in (("confidence", confidence), ("pose3d", pose3d), ("pose3d_world", pose3d_world),
                          ("boxes", boxes), ("head_size", head_size)):
            self._arrays[name].append(None if arr is None else np.asarray(arr, np.float32))
        self._arrays["image_ref"].append(None if image_ref is None else np.asarray(image_ref, dtype=str))

    def _concat(self, name: str, tail: tuple[int, ...] | None) -> np.ndarray | None:
        parts = self._arrays[name]
        if all(p is None for p in parts):
            return None
        if tail is None:
            tail = next(p for p in parts if p is not None).shape[1:]
        filled = [p if p is not None else np.full((len(k), *tail), np.nan, np.float32)
                  for p, k in zip(parts, self._arrays["keypoints"])]
        return np.concatenate(filled, axis=0)

    def build(self) -> PoseStore:
        if not self._rows:
            raise ValueError(f"{self.source}: no clips were added")
        subject, action, take, camera, length = zip(*self._rows)
        length_arr = np.asarray(length, dtype=np.int64)
        start = np.concatenate([[0], np.cumsum(length_arr)[:-1]]).astype(np.int64)
        confidence = self._concat("confidence", None)
        if confidence is not None and any(c is None for c in self._arrays["confidence"]):
            raise ValueError(f"{self.source}: some clips have confidences and some do not")
        refs = self._arrays["image_ref"]
        if any(r is None for r in refs) and not all(r is None for r in refs):
            raise ValueError(f"{self.source}: some clips reference image files and some do not")
        return PoseStore(
            keypoints=np.concatenate(self._arrays["keypoints"], axis=0),
            confidence=confidence,
            pose3d=self._concat("pose3d", None),
            pose3d_world=self._concat("pose3d_world", None),
            image_ref=None if refs[0] is None else np.concatenate(refs),
            boxes=self._concat("boxes", (4,)),
            head_size=self._concat("head_size", ()),
            partial=self.partial, notes="\n".join(self.notes),
            clips=ClipTable(subject=np.array(subject, dtype=str), action=np.asarray(action, np.int64),
                            take=np.array(take, dtype=str), camera=np.asarray(camera, np.int64),
                            start=start, length=length_arr),
            cameras=self.cameras, actions=list(self.actions), layout_2d=self.layout_2d,
            layout_3d=self.layout_3d, fps=self.fps, source=self.source,
        )
