"""Camera model: screen normalisation, world<->camera transforms, H36M distortion projection.

Conventions (as in VideoPose3D): camera axes x right, y down, z forward (metres); normalised
screen coordinates map x in [0, w] pixels to [-1, 1] and y to [-h/w, h/w]; an intrinsics
vector is ``[fx, fy, cx, cy, k1, k2, k3, p1, p2]`` in those normalised units.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from poseact.geometry.quaternion import qinverse, qrot

ArrayLike = Tensor | np.ndarray

#: Indices of the intrinsics vector that change sign under a horizontal flip (cx, p1).
FLIP_INTRINSICS_SIGN = (2, 7)
INTRINSICS_SIZE = 9


def _as_tensor(x: ArrayLike) -> tuple[Tensor, bool]:
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x)), True
    return x, False


def normalize_screen_coordinates(x: ArrayLike, w: float | ArrayLike, h: float | ArrayLike) -> ArrayLike:
    """Pixels ``(..., 2)`` to normalised screen units; ``w``, ``h`` broadcast against ``(...)``."""
    if x.shape[-1] != 2:
        raise ValueError(f"expected (..., 2) pixel coordinates, got shape {tuple(x.shape)}")
    if isinstance(x, np.ndarray):
        # as the reference: the scaling in the input's precision, the offset in float64
        w_arr = np.asarray(w)
        scaled = x / w_arr.astype(x.dtype)[..., None] * x.dtype.type(2)
        offset = np.stack(np.broadcast_arrays(np.ones_like(w_arr, dtype=np.float64),
                                              np.asarray(h, dtype=np.float64) / w_arr), axis=-1)
        return (scaled - offset).astype(x.dtype)
    out = x / (w[..., None] if isinstance(w, Tensor) else w) * 2
    offset_y = h / w
    out[..., 0] = out[..., 0] - 1
    out[..., 1] = out[..., 1] - (offset_y if not isinstance(offset_y, Tensor) else offset_y)
    return out


def image_coordinates(x: ArrayLike, w: float, h: float) -> ArrayLike:
    """Inverse of :func:`normalize_screen_coordinates`: normalised ``(..., 2)`` to pixels."""
    out = x.copy() if isinstance(x, np.ndarray) else x.clone()
    out[..., 0] = out[..., 0] + 1
    out[..., 1] = out[..., 1] + h / w
    return out * (w / 2)


def world_to_camera(x: ArrayLike, orientation: ArrayLike, translation: ArrayLike) -> ArrayLike:
    """World points ``(..., 3)`` metres to camera space; ``orientation`` is camera-to-world
    ``(4,)`` (w, x, y, z), ``translation`` the camera centre ``(3,)`` metres."""
    xt, is_np = _as_tensor(x)
    q, _ = _as_tensor(orientation)
    t, _ = _as_tensor(translation)
    q, t = q.to(xt.dtype), t.to(xt.dtype)
    out = qrot(qinverse(q), xt - t)
    return out.numpy() if is_np else out


def camera_to_world(x: ArrayLike, orientation: ArrayLike, translation: ArrayLike) -> ArrayLike:
    """Camera-space points ``(..., 3)`` metres to world space (inverse of world_to_camera)."""
    xt, is_np = _as_tensor(x)
    q, _ = _as_tensor(orientation)
    t, _ = _as_tensor(translation)
    q, t = q.to(xt.dtype), t.to(xt.dtype)
    out = qrot(q, xt) + t
    return out.numpy() if is_np else out


def _expand_intrinsics(x: Tensor, intrinsics: Tensor) -> Tensor:
    """Broadcast ``(N, 9)`` (or ``(9,)``) intrinsics against points ``(N, ..., 3)``."""
    if intrinsics.shape[-1] != INTRINSICS_SIZE:
        raise ValueError(f"intrinsics must end with {INTRINSICS_SIZE} values, got {tuple(intrinsics.shape)}")
    if intrinsics.dim() == 1:
        return intrinsics
    return intrinsics.reshape(intrinsics.shape[0], *([1] * (x.dim() - 2)), INTRINSICS_SIZE)


def project_to_2d(x: ArrayLike, intrinsics: ArrayLike) -> ArrayLike:
    """Project camera-space points ``(N, ..., 3)`` metres with the H36M distortion model.

    Perspective division, clamp of each coordinate to [-1, 1], radial (k1..k3) and the
    H36M-toolbox tangential form ``x (radial + p1 x + p2 y) + p1 r^2``, then focal/centre.
    Returns normalised screen coordinates ``(N, ..., 2)``. Differentiable.
    """
    xt, is_np = _as_tensor(x)
    cam = _expand_intrinsics(xt, _as_tensor(intrinsics)[0].to(xt.dtype))
    f, c, k, p = cam[..., 0:2], cam[..., 2:4], cam[..., 4:7], cam[..., 7:9]
    xy = torch.clamp(xt[..., :2] / xt[..., 2:3], -1, 1)
    r2 = (xy**2).sum(dim=-1, keepdim=True)
    radial = 1 + (k * torch.cat([r2, r2**2, r2**3], dim=-1)).sum(dim=-1, keepdim=True)
    tangential = (p * xy).sum(dim=-1, keepdim=True)
    distorted = xy * (radial + tangential) + p * r2
    out = f * distorted + c
    return out.numpy() if is_np else out


def project_to_2d_linear(x: ArrayLike, intrinsics: ArrayLike) -> ArrayLike:
    """Pinhole projection (same clamp, no distortion) of ``(N, ..., 3)`` to ``(N, ..., 2)``."""
    xt, is_np = _as_tensor(x)
    cam = _expand_intrinsics(xt, _as_tensor(intrinsics)[0].to(xt.dtype))
    xy = torch.clamp(xt[..., :2] / xt[..., 2:3], -1, 1)
    out = cam[..., 0:2] * xy + cam[..., 2:4]
    return out.numpy() if is_np else out


def intrinsics_vector(
    focal_length: ArrayLike, center: ArrayLike, radial: ArrayLike, tangential: ArrayLike,
    res_w: float, res_h: float,
) -> np.ndarray:
    """Normalised 9-vector ``[fx, fy, cx, cy, k1, k2, k3, p1, p2]`` (float32) from pixels."""
    # float32 arithmetic throughout, as the reference: the vectors then match it bit for bit
    f = np.asarray(focal_length, dtype=np.float32) / np.float32(res_w) * np.float32(2)
    c = normalize_screen_coordinates(np.asarray(center, dtype=np.float32), res_w, res_h)
    return np.concatenate([f, c, np.asarray(radial, np.float32), np.asarray(tangential, np.float32)]).astype(np.float32)


def flip_intrinsics(intrinsics: ArrayLike) -> ArrayLike:
    """Intrinsics of the horizontally mirrored image: cx and p1 change sign."""
    out = intrinsics.copy() if isinstance(intrinsics, np.ndarray) else intrinsics.clone()
    for i in FLIP_INTRINSICS_SIGN:
        out[..., i] = -out[..., i]
    return out


def mirror_points(points: ArrayLike, swap: ArrayLike) -> ArrayLike:
    """Mirror ``(..., J, C)`` points horizontally: the left/right joint permutation ``swap``
    (:meth:`poseact.skeleton.Skeleton.flip_permutation`) applied, then channel 0 (x) negated;
    further channels (y, z, a confidence) are kept. A new array or tensor of the input's kind."""
    out = points[..., swap, :]  # advanced indexing copies, for numpy and torch alike
    out[..., 0] = -out[..., 0]
    return out
