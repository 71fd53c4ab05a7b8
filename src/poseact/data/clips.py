"""Image clips for the multi-task model: clip sampling (spec §6.4), crop augmentation (§6.2–6.3) and
deephar's target normalisation, from a store with ``frames/images``.

One sample is a dict of tensors:

* ``frames (T, 3, S, S)`` float in [-1, 1] (``2·(pixel/255)^γ − 1``);
* ``pose (T, J, 3)`` normalised crop coordinates: x, y in [0, 1] of the crop, z in [0, 1] over the
  root depth ± 1 m·s (0.5 = root); NaN = missing label or outside the crop;
* ``visible (T, J)`` 1 where annotated and strictly inside the crop; ``annotated (T, J)`` bool;
* ``action (1,)`` int64 label (-1 = none); ``video ()`` int64 clip row;
* ``intrinsics (T, 4)`` fx, fy, cx, cy of the unaugmented crop (normalised units), ``pose3d (T, J, 3)``
  camera metres, ``head_size (T,)`` normalised: for evaluation.

Bad input raises errors that name the clip: a clip shorter than T is stretched as the reference does
(§6.4, frames repeat), never silently mislabelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch.utils.data import Dataset

from poseact.data.render import crop_intrinsics
from poseact.data.store import PoseStore, StoreError
from poseact.skeleton import get_skeleton

#: joints that stand in for the MPII head box (neck, head top) per layout, for PCKh
HEAD_JOINTS = {"h36m17": (9, 10), "mpii16": (8, 9)}


@dataclass
class AugmentConfig:
    """Random choices per clip at train time (spec §6.3); all off at test."""

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
        store: a store with ``images``; ``rows``: clip rows to use.
        t: clip length; ``subsample``: choices of the frame step (train) / its first entry (test).
        augment: ``AugmentConfig`` at train time, None at test.
        pseudo: each sample is ``t`` independent random frames (the reference's pose batches, §5.3).
        length: samples per epoch (train); None = one centred clip per row, or every multi-clip.
        multi_clip: enumerate the sliding clips of every row (video-level test, §6.4).
    """

    def __init__(self, store: PoseStore, rows: np.ndarray, t: int, subsample: list[int],
                 augment: AugmentConfig | None = None, pseudo: bool = False, length: int | None = None,
                 multi_clip: bool = False, seed: int = 0) -> None:
        if store.images is None:
            raise StoreError(f"store {store.path!r} has no frames/images (render or convert images first)")
        if store.layout_2d not in HEAD_JOINTS:
            raise StoreError(f"store {store.path!r}: layout {store.layout_2d!r} has no head-size mapping for PCKh; "
                             f"known: {sorted(HEAD_JOINTS)}")
        if not len(rows):
            raise StoreError(f"store {store.path!r}: no clips selected")
        self.store, self.rows, self.t, self.subsample = store, np.asarray(rows), t, list(subsample)
        self.augment, self.pseudo, self.seed = augment, pseudo, seed
        self.size = store.images.shape[1]
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

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, i]) if self.augment is not None else None
        row, idx = self._indices(i, rng)
        s = self.store
        img = torch.from_numpy(s.images[idx]).float() / 255.0  # (T, S, S, 3)
        kp = s.keypoints[idx].astype(np.float64)  # (T, J, 2) crop pixels
        p3 = s.pose3d[idx].astype(np.float64) if s.pose3d is not None else np.full((*kp.shape[:2], 3), np.nan)
        a = self.augment
        rot = float(rng.choice(a.rotation)) if a else 0.0
        scale = float(rng.choice(a.scales)) if a else 1.0
        shift = np.array([rng.choice(a.shift_x), rng.choice(a.shift_y)]) * scale if a else np.zeros(2)
        flip = bool(a.flip and rng.integers(2)) if a else False
        gamma = float(rng.choice(a.gammas)) if a else 1.0
        frames, uv = self._warp(img, kp, rot, scale, shift, flip)
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
        neck, head = HEAD_JOINTS[s.layout_2d]
        head_size = 2 * 0.6 * math.sqrt(2) * np.linalg.norm(kp[:, head] - kp[:, neck], axis=-1) / self.size
        k = crop_intrinsics(p3[:, 0], self.size) / self.size if s.pose3d is not None else np.full((self.t, 4), np.nan)
        label = int(s.clips.action[row]) if row >= 0 else -1
        return {
            "frames": rearrange(frames, "t h w c -> t c h w").contiguous(),
            "pose": torch.as_tensor(pose, dtype=torch.float32),
            "visible": torch.as_tensor(inside, dtype=torch.float32),
            "annotated": torch.as_tensor(annotated),
            "action": torch.tensor([label], dtype=torch.int64),
            "video": torch.tensor(row, dtype=torch.int64),
            "intrinsics": torch.as_tensor(k, dtype=torch.float32),
            "pose3d": torch.as_tensor(p3, dtype=torch.float32),
            "head_size": torch.as_tensor(head_size, dtype=torch.float32),
        }

    def _warp(self, img: torch.Tensor, kp: np.ndarray, rot: float, scale: float, shift: np.ndarray,
              flip: bool) -> tuple[torch.Tensor, np.ndarray]:
        """Rotate by ``rot`` degrees about the crop centre, zoom out by ``scale``, shift, flip.
        Source pixel ``p = c + shift + scale·R·(q − c)`` for output pixel ``q`` (flipped first)."""
        if rot == 0 and scale == 1 and not shift.any() and not flip:
            return img, kp
        c = self.size / 2
        th = math.radians(rot)
        r = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
        m = scale * r
        fl = np.diag([-1.0, 1.0]) if flip else np.eye(2)
        a = m @ fl  # q (centred) -> p (centred)
        theta = np.concatenate([a, (shift / c)[:, None]], 1)  # in [-1, 1] grid units (align_corners=False)
        grid = F.affine_grid(torch.as_tensor(theta, dtype=torch.float32)[None].expand(len(img), 2, 3),
                             [len(img), 3, self.size, self.size], align_corners=False)
        out = F.grid_sample(rearrange(img, "t h w c -> t c h w"), grid, align_corners=False, padding_mode="zeros")
        uv = (kp - c - shift) @ np.linalg.inv(a).T + c
        return rearrange(out, "t c h w -> t h w c"), uv
