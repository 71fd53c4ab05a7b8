"""Person crops from images: crop windows from boxes or keypoints, the crop affine of spec §6.2–6.3,
and lazy decoding of the image files a store references (``frames/image_ref``).

Coordinates are continuous pixels: pixel ``i`` covers ``[i, i + 1)``, its centre is ``i + 0.5``
(the ``align_corners=False`` convention of :func:`torch.nn.functional.grid_sample`). A crop of side
``S`` maps crop pixel ``q`` to source pixel ``p = M q + m`` (``M (2, 2)``, ``m (2,)``); every
augmentation (rotation about the window centre, zoom-out by ``s``, shift, horizontal flip) is part
of that one affine, so targets follow the pixels exactly.

Decoding is lazy and cheap for small crops: JPEG files are decoded at 1/2, 1/4 or 1/8 resolution
when the crop is that much smaller than the window (``Image.draft``), only the window's region is
kept, and it is box-filtered down (``Image.reduce``) to at most twice the crop's resolution before
the bilinear warp, which therefore does not alias.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from poseact.errors import FrameImageError
from poseact.geometry.boxes import image_window, window_inside


def crop_affine(window: np.ndarray, size: int, rotation: float = 0.0, scale: float = 1.0,
                shift: np.ndarray | None = None, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Affine ``p = M q + m`` from crop pixels ``q`` (crop of side ``size``) to source pixels ``p``.

    Args:
        window: ``(3,)`` unaugmented window centre x, y and side, source pixels.
        rotation: degrees, about the window centre (the image turns by ``-rotation`` in the crop).
        scale: zoom-out factor ``s`` (window side × s).
        shift: ``(2,)`` source pixels added to the centre (already multiplied by ``s``).
        flip: mirror the crop horizontally.
    Returns:
        ``M (2, 2)``, ``m (2,)`` float64.
    """
    c = window[:2] + (shift if shift is not None else 0.0)
    th = math.radians(rotation)
    r = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    fl = np.diag([-1.0, 1.0]) if flip else np.eye(2)
    mat = (window[2] * scale / size) * r @ fl
    return mat, c - mat @ np.full(2, size / 2)


def to_crop(points: np.ndarray, mat: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Source pixels ``(..., 2)`` -> crop pixels under the affine ``p = M q + m`` (``mat (2, 2)`` or
    ``(..., 2, 2)`` per leading index with ``off`` alike)."""
    inv = np.linalg.inv(mat)
    return np.einsum("...ij,...kj->...ki", inv, points - off[..., None, :]) if mat.ndim == 3 \
        else (points - off) @ inv.T


def _theta(mat: np.ndarray, off: np.ndarray, size: int, width: int, height: int) -> np.ndarray:
    """``(2, 3)`` grid for ``affine_grid`` (``align_corners=False``) sampling a ``width × height``
    source through ``p = M q + m`` into a ``size × size`` crop."""
    d = np.diag([2.0 / width, 2.0 / height])
    a = d @ mat * (size / 2)
    b = d @ (mat @ np.full(2, size / 2) + off) - 1.0
    return np.concatenate([a, b[:, None]], 1)


def warp(images: torch.Tensor, mats: np.ndarray, offs: np.ndarray, size: int) -> torch.Tensor:
    """Crop ``images (T, H, W, 3)`` float through per-frame affines ``mats (T, 2, 2)``, ``offs (T, 2)``:
    ``(T, size, size, 3)``, bilinear, zeros outside the source."""
    t, h, w = images.shape[:3]
    theta = np.stack([_theta(mats[i], offs[i], size, w, h) for i in range(t)])
    grid = F.affine_grid(torch.as_tensor(theta, dtype=torch.float32), [t, 3, size, size], align_corners=False)
    out = F.grid_sample(images.permute(0, 3, 1, 2), grid, align_corners=False, padding_mode="zeros")
    return out.permute(0, 2, 3, 1)


def open_image(path: Path, where: str) -> Image.Image:
    """Open (not yet decode) an image file; :class:`FrameImageError` naming the file otherwise."""
    try:
        return Image.open(path)
    except FileNotFoundError:
        raise FrameImageError(f"{where}: image file {str(path)!r} not found") from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise FrameImageError(f"{where}: cannot read image file {str(path)!r} ({e})") from None


def image_size(path: Path, where: str) -> tuple[int, int]:
    """``(width, height)`` from the file's header (no decoding)."""
    with open_image(path, where) as img:
        return img.size


def crop_file(path: Path, window: np.ndarray | None, size: int, rotation: float = 0.0, scale: float = 1.0,
              shift: np.ndarray | None = None, flip: bool = False, where: str = ""
              ) -> tuple[torch.Tensor, np.ndarray, np.ndarray, np.ndarray]:
    """Decode one image file lazily and crop it (spec §6.2: rotate about the window centre, square
    window, zero outside the image, resize to ``size``, optional flip).

    Args:
        path: the image file.
        window: ``(3,)`` centre x, y, side in the file's pixels, or None for the whole image
            (:func:`image_window`).
    Returns:
        crop ``(size, size, 3)`` float in [0, 1]; ``M``, ``m`` of :func:`crop_affine`; the window used.
    Raises:
        FrameImageError: missing or undecodable file; a window that does not overlap the image.
    """
    with open_image(path, where) as img:
        width, height = img.size
        if window is None:
            window = image_window(width, height)
        elif not window_inside(window, width, height):
            raise FrameImageError(
                f"{where}: person box (centre {window[0]:.1f}, {window[1]:.1f}, side {window[2]:.1f} px) lies "
                f"outside the image {width}x{height} of {str(path)!r}")
        mat, off = crop_affine(window, size, rotation, scale, shift, flip)
        step = float(np.sqrt(abs(np.linalg.det(mat))))  # source pixels per crop pixel
        d = 1
        try:
            if img.format == "JPEG" and step >= 2:
                img.draft("RGB", (max(1, math.ceil(width / step)), max(1, math.ceil(height / step))))
                d = max(1, round(width / img.size[0]))
            rgb = img.convert("RGB")
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise FrameImageError(f"{where}: cannot decode image file {str(path)!r} ({e})") from None
    # region of the decoded image that the crop covers (1-pixel margin for bilinear taps)
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float64) @ mat.T + off
    lo = np.floor(corners.min(0) / d) - 1
    hi = np.ceil(corners.max(0) / d) + 1
    lo = np.maximum(lo, 0).astype(int)
    hi = np.minimum(hi, [rgb.width, rgb.height]).astype(int)
    if (hi <= lo).any():  # an augmented window entirely off the image: all zeros
        return torch.zeros(size, size, 3), mat, off, window
    region = rgb.crop((int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1])))
    f = max(1, int(step / d / 2))  # box-filter down to at most 2x the crop's resolution
    if f >= 2:
        region = region.reduce(f)
    src = torch.from_numpy(np.asarray(region, dtype=np.uint8).copy()).float().div_(255.0)
    mat_r, off_r = mat / (d * f), (off / d - lo) / f
    out = warp(src[None], mat_r[None], off_r[None], size)[0]
    return out, mat, off, window
