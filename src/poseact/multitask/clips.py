"""Image clips for the multi-task model: clip sampling (spec §6.4), crop augmentation (§6.2–6.3) and
deephar's target normalisation, from a store with ``frames/images`` (rendered crops) or
``frames/image_ref`` (image files decoded lazily, see :mod:`poseact.store.images`).

One sample is a dict of tensors:

* ``frames (T, 3, S, S)`` float in [-1, 1] (``2·(pixel/255)^γ − 1``);
* ``pose (T, J, 3)`` normalised crop coordinates: x, y in [0, 1] of the crop, z in [0, 1] over the
  root depth ± 1 m·s (0.5 = root); NaN = missing label or outside the crop;
* ``visible (T, J)`` 1 where annotated and strictly inside the crop; ``annotated (T, J)`` bool;
* ``action (1,)`` int64 label (-1 = none); ``video ()`` int64 clip row (-1 for pseudo-clips);
* ``intrinsics (T, 4)`` fx, fy, cx, cy of the unaugmented crop (normalised units), ``pose3d (T, J, 3)``
  camera metres, ``head_size (T,)`` normalised: for evaluation.

Crops. Rendered stores already hold crops: the window is the whole image. Stores with image files
crop a square window around the person: a clip uses one window, the union of the person boxes of its
first, middle and last sampled frames (spec §6.2, Penn/NTU rule, applied to every dataset);
a pseudo-clip frame uses its own box. A frame's box is ``frames/boxes`` when the store has it, else
the square of 1.5× the extent of its annotated joints (at least 32 px); with neither, the centred
square of side max(w, h) of the image. Augmentation (§6.3) acts on that window: zoom-out by s,
rotation about its centre, a shift of s·(tx, ty) source pixels, flip with the joints' left/right swap.

Bad input raises errors that name the store, clip and file: a missing or undecodable image, a person
box outside its image (:class:`~poseact.store.images.FrameImageError`). A clip shorter than T is
stretched as the reference does (§6.4, frames repeat), never silently mislabelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from einops import rearrange
from torch.utils.data import Dataset

from poseact.geometry.boxes import box_window, person_box, union_box
from poseact.store.images import crop_affine, crop_file, to_crop, warp
from poseact.synthetic.render import crop_intrinsics
from poseact.store import PoseStore, StoreError
from poseact.skeleton import get_skeleton

#: joints that stand in for the MPII head box (neck, head top) per layout, for PCKh
HEAD_JOINTS = {"h36m17": (9, 10), "mpii16": (8, 9)}


@dataclass
class AugmentConfig:
    """Random choices per clip at train time (spec §6.3); all off at test. Shifts are in pixels of
    the source image (of the rendered crop for rendered stores) and are multiplied by the scale."""

    rotation: list[float] = field(default_factory=lambda: [-10.0, -5.0, 0.0, 5.0, 10.0])  # degrees
    scales: list[float] = field(default_factory=lambda: [0.8, 1.0, 1.2])
    shift_x: list[float] = field(default_factory=lambda: [-2.0, 0.0, 2.0])  # pixels (× s)
    shift_y: list[float] = field(default_factory=lambda: [-1.0, 0.0, 1.0])
    gammas: list[float] = field(default_factory=lambda: [0.9 + 0.02 * i for i in range(11)])
    flip: bool = True


def clip_frame_index(n: int, t: int, k: int, rng: np.random.Generator | None) -> np.ndarray:
    """Frame indices of one clip of ``t`` frames at subsample ``k`` from a video of ``n`` frames
    (reference ``get_clip_frame_index``): short videos are stretched by 1.5^m (frames repeat);
    random start with ``rng``, centred start without."""
    stretch = 1.0
    while n * stretch < t:
        stretch *= 1.5
    n_s = int(n * stretch)
    k = max(1, min(k, n_s // t))
    span = k * (t - 1) + 1
    start = int(rng.integers(0, n_s - span + 1)) if rng is not None else (n_s - span) // 2
    return np.minimum(((start + k * np.arange(t)) / stretch).astype(np.int64), n - 1)


def multi_clip_starts(n: int, t: int, k: int) -> list[int]:
    """Starts of the sliding test clips (reference ``get_clip_index``): advance ``t//2 + k - 1``."""
    span = k * (t - 1) + 1
    if n < span:
        return [0]
    return list(range(0, n - span + 1, t // 2 + k - 1))


class ClipDataset(Dataset):
    """Clips (or pseudo-clips of independent frames) of selected store clips.

    Args:
        store: a store with ``images`` (rendered crops) or ``image_ref`` (image files, relative to the
            store's folder); ``rows``: clip rows to use.
        t: clip length; ``subsample``: choices of the frame step (train) / its first entry (test).
        augment: ``AugmentConfig`` at train time, None at test.
        pseudo: each sample is ``t`` independent random frames (the reference's pose batches, §5.3).
        length: samples per epoch (train); None = one centred clip per row, or every multi-clip.
        multi_clip: enumerate the sliding clips of every row (video-level test, §6.4).
        size: crop side S in pixels; required for image files, defaults to the rendered crops' side.
    """

    def __init__(self, store: PoseStore, rows: np.ndarray, t: int, subsample: list[int],
                 augment: AugmentConfig | None = None, pseudo: bool = False, length: int | None = None,
                 multi_clip: bool = False, seed: int = 0, size: int | None = None) -> None:
        if store.images is None and store.image_ref is None:
            raise StoreError(f"store {store.path!r} has no frames/images and no frames/image_ref "
                             f"(render the synthetic data, or convert a dataset with data_prep/)")
        if store.layout_2d not in HEAD_JOINTS:
            raise StoreError(f"store {store.path!r}: layout {store.layout_2d!r} has no head-size mapping for PCKh; "
                             f"known: {sorted(HEAD_JOINTS)} (convert with --layout h36m17 or mpii16)")
        if not len(rows):
            raise StoreError(f"store {store.path!r}: no clips selected")
        if store.images is None and size is None:
            raise StoreError(f"store {store.path!r} references image files: give the crop size (model input size)")
        self.store, self.rows, self.t, self.subsample = store, np.asarray(rows), t, list(subsample)
        self.augment, self.pseudo, self.seed = augment, pseudo, seed
        self.source_size = store.images.shape[1] if store.images is not None else None
        self.size = int(size) if size is not None else int(self.source_size)
        self.root = Path(store.path).parent
        self.flip_perm = get_skeleton(store.layout_2d).flip_permutation()
        c = store.clips
        if multi_clip:
            self.items = [(r, s) for r in self.rows for s in multi_clip_starts(int(c.length[r]), t, self.subsample[0])]
        else:
            self.items = [(r, -1) for r in self.rows]
        self.length = length if length is not None else len(self.items)
        self.frames_pool = np.flatnonzero(store.frame_mask(self.rows))
        self.epoch = 0

    def __len__(self) -> int:
        return self.length

    def _indices(self, i: int, rng: np.random.Generator | None) -> tuple[int, np.ndarray]:
        c = self.store.clips
        if self.pseudo:
            frames = rng.choice(self.frames_pool, self.t) if rng is not None else self.frames_pool[:self.t]
            return -1, frames
        if rng is not None:
            row = int(rng.choice(self.rows))
            k = int(rng.choice(self.subsample))
            return row, c.start[row] + clip_frame_index(int(c.length[row]), self.t, k, rng)
        row, start = self.items[i]
        k = self.subsample[0]
        if start < 0:
            return row, c.start[row] + clip_frame_index(int(c.length[row]), self.t, k, None)
        idx = np.minimum(start + k * np.arange(self.t), c.length[row] - 1)
        return row, c.start[row] + idx

    def _where(self, frame: int) -> str:
        """``store '...': clip S1/take/cam frame f`` for error messages."""
        c = self.store.clips
        inside = np.flatnonzero((c.start <= frame) & (frame < c.start + c.length))
        if len(inside):
            r = int(inside[0])
            return f"store {self.store.path!r}: clip {self.store.clip_name(r)} frame {frame - c.start[r]}"
        return f"store {self.store.path!r}: frame row {frame}"

    def _frame_box(self, frame: int) -> np.ndarray:
        """``(4,)`` person box of a frame: the stored box, else from its annotated joints (may be NaN)."""
        s = self.store
        if s.boxes is not None and np.isfinite(s.boxes[frame]).all():
            return s.boxes[frame].astype(np.float64)
        return person_box(s.keypoints[frame].astype(np.float64))

    def _windows(self, idx: np.ndarray) -> list[np.ndarray | None]:
        """Unaugmented window ``(3,)`` per frame (None = the whole image, known once decoded)."""
        if self.store.images is not None:
            return [np.array([self.source_size / 2, self.source_size / 2, float(self.source_size)])] * len(idx)
        if self.pseudo:
            boxes = [self._frame_box(int(f)) for f in idx]
            return [box_window(b) if np.isfinite(b).all() else None for b in boxes]
        keys = [int(idx[0]), int(idx[len(idx) // 2]), int(idx[-1])]
        box = union_box(np.stack([self._frame_box(f) for f in keys]))
        if box is None:  # none of the three frames has a box: any frame of the clip
            box = union_box(np.stack([self._frame_box(int(f)) for f in idx]))
        return [box_window(box) if box is not None else None] * len(idx)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, i]) if self.augment is not None else None
        row, idx = self._indices(i, rng)
        s = self.store
        kp = s.keypoints[idx].astype(np.float64)  # (T, J, 2) source pixels
        p3 = s.pose3d[idx].astype(np.float64) if s.pose3d is not None else np.full((*kp.shape[:2], 3), np.nan)
        a = self.augment
        rot = float(rng.choice(a.rotation)) if a else 0.0
        scale = float(rng.choice(a.scales)) if a else 1.0
        shift = np.array([rng.choice(a.shift_x), rng.choice(a.shift_y)]) * scale if a else np.zeros(2)
        flip = bool(a.flip and rng.integers(2)) if a else False
        gamma = float(rng.choice(a.gammas)) if a else 1.0
        frames, mats, offs, windows = self._crops(idx, row, rot, scale, shift, flip)
        uv = to_crop(kp, mats, offs)  # (T, J, 2) crop pixels
        frames = 2 * frames.clamp(0, 1) ** gamma - 1
        if flip:
            uv, p3 = uv[:, self.flip_perm], p3[:, self.flip_perm]
            p3 = p3 * np.array([-1.0, 1.0, 1.0])
        root_z = p3[:, :1, 2]
        z = (p3[..., 2] - (root_z - scale)) / (2 * scale)
        pose = np.concatenate([uv / self.size, z[..., None]], -1)
        annotated = np.isfinite(uv).all(-1)
        inside = annotated & (pose[..., :2] > 0).all(-1) & (pose[..., :2] < 1).all(-1)
        pose[~inside] = np.nan
        head_size = self._head_size(idx, kp, windows[:, 2] * scale)
        label = int(s.clips.action[row]) if row >= 0 else -1
        return {
            "frames": rearrange(frames, "t h w c -> t c h w").contiguous(),
            "pose": torch.as_tensor(pose, dtype=torch.float32),
            "visible": torch.as_tensor(inside, dtype=torch.float32),
            "annotated": torch.as_tensor(annotated),
            "action": torch.tensor([label], dtype=torch.int64),
            "video": torch.tensor(row, dtype=torch.int64),
            "intrinsics": torch.as_tensor(self._intrinsics(idx, p3, windows), dtype=torch.float32),
            "pose3d": torch.as_tensor(p3, dtype=torch.float32),
            "head_size": torch.as_tensor(head_size, dtype=torch.float32),
        }

    def _crops(self, idx: np.ndarray, row: int, rot: float, scale: float, shift: np.ndarray, flip: bool
               ) -> tuple[torch.Tensor, np.ndarray, np.ndarray, np.ndarray]:
        """Crops ``(T, S, S, 3)`` in [0, 1], affines ``M (T, 2, 2)``, ``m (T, 2)``, windows ``(T, 3)``."""
        s, size = self.store, self.size
        windows = self._windows(idx)
        if s.images is not None:
            img = torch.from_numpy(s.images[idx]).float() / 255.0  # (T, S0, S0, 3)
            mat, off = crop_affine(windows[0], size, rot, scale, shift, flip)
            mats, offs = np.repeat(mat[None], len(idx), 0), np.repeat(off[None], len(idx), 0)
            if size != self.source_size or rot != 0 or scale != 1 or shift.any() or flip:
                img = warp(img, mats, offs, size)
            return img, mats, offs, np.stack(windows)
        crops, mats, offs, used = [], [], [], []
        shared: np.ndarray | None = None  # a clip's fallback window, from its first image
        for t, frame in enumerate(idx):
            where = self._where(int(frame)) if row < 0 else \
                f"store {s.path!r}: clip {s.clip_name(row)} frame {int(frame - s.clips.start[row])}"
            window = windows[t] if windows[t] is not None else (None if self.pseudo else shared)
            crop, mat, off, window = crop_file(self.root / s.image_ref[frame], window, size, rot, scale, shift,
                                               flip, where)
            if not self.pseudo:
                shared = window
            crops.append(crop), mats.append(mat), offs.append(off), used.append(window)
        return torch.stack(crops), np.stack(mats), np.stack(offs), np.stack(used)

    def _head_size(self, idx: np.ndarray, kp: np.ndarray, side: np.ndarray) -> np.ndarray:
        """``(T,)`` head size in crop units: the stored head size (MPII: 0.6 × head-box diagonal), else
        2·0.6·√2·|head − neck| (a stand-in for the box), divided by the augmented window side."""
        neck, head = HEAD_JOINTS[self.store.layout_2d]
        size_px = 2 * 0.6 * math.sqrt(2) * np.linalg.norm(kp[:, head] - kp[:, neck], axis=-1)
        if self.store.head_size is not None:
            stored = self.store.head_size[idx].astype(np.float64)
            size_px = np.where(np.isfinite(stored), stored, size_px)
        return size_px / side

    def _intrinsics(self, idx: np.ndarray, p3: np.ndarray, windows: np.ndarray) -> np.ndarray:
        """``(T, 4)`` fx, fy, cx, cy of the unaugmented crop in normalised crop units: the synthetic crop
        camera for rendered stores, the store camera seen through the window for image files
        (lens distortion ignored), NaN without 3-D or calibration."""
        s = self.store
        if s.pose3d is None:
            return np.full((len(idx), 4), np.nan)
        if s.images is not None:
            return crop_intrinsics(p3[:, 0], self.size) / self.size
        order = np.argsort(s.clips.start, kind="stable")
        rows = order[np.searchsorted(s.clips.start[order], idx, side="right") - 1]  # the clip of each frame
        cams = s.clips.camera[rows]
        k = s.cameras.intrinsics[cams, :4]  # (T, 4) pixels: fx, fy, cx, cy (NaN = unknown)
        corner = windows[:, :2] - windows[:, 2:3] / 2
        return np.concatenate([k[:, :2], k[:, 2:4] - corner], 1) / windows[:, 2:3]
