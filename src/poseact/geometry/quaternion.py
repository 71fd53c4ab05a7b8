"""Unit quaternions in (w, x, y, z) order: rotation of 3-D vectors and inversion."""

from __future__ import annotations

import torch
from torch import Tensor


def qrot(q: Tensor, v: Tensor) -> Tensor:
    """Rotate vectors ``v (..., 3)`` by unit quaternions ``q (..., 4)`` (broadcast).

    Uses ``v + 2 (w (u x v) + u x (u x v))`` with ``u`` the vector part.
    """
    if q.shape[-1] != 4 or v.shape[-1] != 3:
        raise ValueError(f"qrot expects q (...,4) and v (...,3), got {tuple(q.shape)} and {tuple(v.shape)}")
    if q.dim() < v.dim():  # same rank, so linalg.cross broadcasts q without copying it
        q = q.reshape((1,) * (v.dim() - q.dim()) + tuple(q.shape))
    w, u = q[..., :1], q[..., 1:]
    uv = torch.linalg.cross(u, v)
    uuv = torch.linalg.cross(u, uv)
    return v + 2 * (w * uv + uuv)


def qinverse(q: Tensor) -> Tensor:
    """Inverse of unit quaternions ``(..., 4)``: the conjugate ``(w, -x, -y, -z)``."""
    return torch.cat([q[..., :1], -q[..., 1:]], dim=-1)
