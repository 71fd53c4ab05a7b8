"""Render the synthetic motion into person-centred image crops: the embedded image dataset.

Each frame of a synthetic clip (camera-space H36M-17 joints, metres) is seen by a *crop camera*:
a pinhole camera with the clip camera's orientation whose principal point puts the root (pelvis)
at the crop centre and whose focal length makes a ``CROP_EXTENT_M`` square at the root depth fill
the ``size×size`` crop (:func:`crop_intrinsics`; the H36M crop rule of spec §6.2, ≈2.25 m).
Limbs are shaded capsules, the head a sphere, resolved with a z-buffer over a per-clip background
(two-colour gradient + random boxes + per-frame noise). Left limbs are warm, right limbs cool, so
left/right is visible in the pixels. Stored as a poseact store with ``frames/images``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from poseact.skeleton import H36M17
from poseact.store import PoseStore, StoreBuilder, write_store
from poseact.synthetic.generator import GENERATOR_VERSION, SyntheticConfig, keyed_rng, generate_synthetic

RENDER_VERSION = "poseact render v1"
CROP_EXTENT_M = 2.2  # side of the square (metres, at the root depth) that fills a crop
# radius (m) of the capsule from each joint to its parent, in H36M-17 joint order (joint 0: none)
_RADIUS = np.array([0, .075, .06, .05, .075, .06, .05, .11, .12, .05, .10, .06, .045, .04, .06, .045, .04])
_LEFT, _RIGHT = set(H36M17.joints_left) | {11, 12, 13}, set(H36M17.joints_right) | {14, 15, 16}


@dataclass
class RenderConfig:
    """Which synthetic clips to render and how (``synthetic``: the motion and cameras)."""

    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    size: int = 64  # crop side, pixels
    frame_step: int = 5  # keep every k-th frame (50 fps -> 10 fps)
    cameras: list[int] = field(default_factory=lambda: [0, 1, 2, 3])  # which of the 4 cameras

    def digest(self) -> str:
        fields = {**asdict(self), "synthetic": self.synthetic.identity()}  # the cache folder is no part of it
        text = json.dumps({"render": RENDER_VERSION, "generator": GENERATOR_VERSION, **fields}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()


def crop_intrinsics(root: np.ndarray, size: int) -> np.ndarray:
    """Crop camera of frames with camera-space ``root (..., 3)`` metres: ``(..., 4)`` fx, fy, cx, cy
    in pixels of the ``size``-pixel crop (root projected at the centre)."""
    z = root[..., 2]
    f = size * z / CROP_EXTENT_M
    cx = size / 2 - f * root[..., 0] / z
    cy = size / 2 - f * root[..., 1] / z
    return np.stack([f, f, cx, cy], axis=-1)


def project_crop(pose3d: np.ndarray, size: int) -> np.ndarray:
    """``pose3d (N, J, 3)`` camera metres -> crop pixels ``(N, J, 2)`` (root at the crop centre)."""
    k = crop_intrinsics(pose3d[:, 0], size)[:, None]
    return np.stack([k[..., 0] * pose3d[..., 0] / pose3d[..., 2] + k[..., 2],
                     k[..., 1] * pose3d[..., 1] / pose3d[..., 2] + k[..., 3]], axis=-1)


def _palette(rng: np.random.Generator) -> np.ndarray:
    """(17, 3) colours in [0, 1] per capsule ending at joint j: warm left, cool right, tinted trunk."""
    tint = rng.uniform(0.0, 0.3, 3)
    cols = np.zeros((17, 3))
    for j in range(17):
        if j in _LEFT:
            cols[j] = (0.95, 0.45, 0.2)
        elif j in _RIGHT:
            cols[j] = (0.2, 0.55, 0.95)
        else:
            cols[j] = (0.6, 0.6, 0.55)
    cols[10] = (0.95, 0.8, 0.65)  # head
    return np.clip(cols * 0.8 + tint, 0, 1)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) float in [0, 1]: a random two-colour gradient with a few random boxes."""
    a, b = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size] / size
    w = (np.cos(angle) * xx + np.sin(angle) * yy)
    w = (w - w.min()) / max(np.ptp(w), 1e-6)
    img = a * (1 - w[..., None]) + b * w[..., None]
    for _ in range(rng.integers(2, 6)):
        x0, y0 = rng.integers(0, size, 2)
        x1, y1 = x0 + rng.integers(size // 8, size // 2), y0 + rng.integers(size // 8, size // 2)
        img[y0:y1, x0:x1] = 0.5 * img[y0:y1, x0:x1] + 0.5 * rng.uniform(0, 1, 3)
    return img


def render_frames(pose3d: np.ndarray, size: int, palette: np.ndarray, background: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """Draw ``pose3d (N, 17, 3)`` camera metres into ``(N, size, size, 3)`` uint8 crops."""
    uv = project_crop(pose3d, size)  # (N, J, 2)
    f = crop_intrinsics(pose3d[:, 0], size)[:, 0]  # (N,)
    child = np.arange(1, 17)
    parent = np.asarray(H36M17.parents)[child]
    a, b = uv[:, parent], uv[:, child]  # (N, 16, 2)
    za, zb = pose3d[:, parent, 2], pose3d[:, child, 2]
    # the head: a sphere between neck (9) and head (10), as a degenerate capsule
    head_c = 0.5 * (uv[:, 9] + uv[:, 10])
    a = np.concatenate([a, head_c[:, None]], 1)
    b = np.concatenate([b, head_c[:, None]], 1)
    za = np.concatenate([za, 0.5 * (pose3d[:, 9:10, 2] + pose3d[:, 10:11, 2])], 1)
    zb = np.concatenate([zb, za[:, -1:]], 1)
    radius = np.concatenate([_RADIUS[child], [0.11]])  # metres, (S,)
    colour = np.concatenate([palette[child], palette[10:11]])  # (S, 3)
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    p = np.stack([xs, ys], -1)[None, None]  # (1, 1, H, W, 2)
    ab = (b - a)[:, :, None, None]
    t = ((p - a[:, :, None, None]) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-9)
    t = np.clip(t, 0, 1)
    closest = a[:, :, None, None] + t[..., None] * ab
    dist = np.linalg.norm(p - closest, axis=-1)  # (N, S, H, W)
    z = za[:, :, None, None] + t * (zb - za)[:, :, None, None]
    r_px = radius[None, :, None, None] * f[:, None, None, None] / z
    inside = dist < r_px
    bulge = np.sqrt(np.clip(1 - (dist / np.maximum(r_px, 1e-6)) ** 2, 0, 1))
    depth = np.where(inside, z - radius[None, :, None, None] * bulge, np.inf)
    front = depth.argmin(1)  # (N, H, W)
    hit = np.isfinite(depth.min(1))
    shade = np.take_along_axis(bulge, front[:, None], 1)[:, 0]
    body = colour[front] * (0.35 + 0.65 * shade[..., None])
    img = np.where(hit[..., None], body, background[None])
    img = img + rng.normal(0, 0.02, img.shape)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def render_synthetic(cfg: RenderConfig, chunk: int = 64) -> PoseStore:
    """Render every clip of ``generate_synthetic(cfg.synthetic)`` seen by ``cfg.cameras`` into a store
    with ``frames/images (N, size, size, 3)``, ``keypoints`` in crop pixels and camera-space ``pose3d``."""
    src = generate_synthetic(cfg.synthetic)
    builder = StoreBuilder(src.cameras, src.layout_2d, src.layout_3d, src.fps / cfg.frame_step,
                           f"{RENDER_VERSION} of {src.source}, {cfg.size}px crops")
    images: list[np.ndarray] = []
    c = src.clips
    for i in range(len(c)):
        subject = str(c.subject[i])
        k = int(c.camera[i]) - int(np.flatnonzero(src.cameras.subject == subject)[0])  # camera of the subject
        if k not in cfg.cameras or src.pose3d is None or np.isnan(src.pose3d[c.start[i], 0, 0]):
            continue
        rows = np.arange(c.start[i], c.start[i] + c.length[i], cfg.frame_step)
        pose = src.pose3d[rows].astype(np.float64)
        rng = keyed_rng(cfg.synthetic.seed, "render", subject, c.take[i], int(c.camera[i]))
        palette, background = _palette(keyed_rng(cfg.synthetic.seed, "clothes", subject)), _background(rng, cfg.size)
        frames = [render_frames(pose[s:s + chunk], cfg.size, palette, background, rng) for s in range(0, len(pose), chunk)]
        images.append(np.concatenate(frames))
        builder.add_clip(subject, src.actions[int(c.action[i])], str(c.take[i]), int(c.camera[i]),
                         project_crop(pose, cfg.size).astype(np.float32), pose3d=pose.astype(np.float32))
    store = builder.build()
    store.images = np.concatenate(images)
    store.validate()
    return store


def rendered_store(cfg: RenderConfig, cache_dir: str | Path | None = None) -> Path:
    """Path of the cached rendered store (``<cache_dir>/images-<sha1[:10]>.h5``, default the motion's
    ``cache_dir``), rendered if absent."""
    path = Path(cfg.synthetic.cache_dir if cache_dir is None else cache_dir) / f"images-{cfg.digest()[:10]}.h5"
    if not path.exists():
        write_store(path, render_synthetic(cfg))
    return path
