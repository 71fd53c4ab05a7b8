"""Building blocks of the multi-task SPNet (Luvizon et al., TPAMI 2020): residual units,
separable convolutions, "same" pooling, spatial softmax, soft-argmax and joint confidence.

Conventions (deephar spec §2): images are folded frame-wise into ``(N, C, H, W)`` with
``N = B·T``; convolutions have no bias; BatchNorm uses Keras' defaults (PyTorch momentum 0.01,
eps 1e-3); weights are Glorot-uniform (:func:`glorot_init`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BN_MOMENTUM = 0.01  # Keras momentum 0.99
BN_EPS = 1e-3


def bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM, eps=BN_EPS)


def conv(c_in: int, c_out: int, kernel: int | tuple[int, int] = 1, stride: int = 1) -> nn.Conv2d:
    """Bias-free convolution with "same" padding for odd kernels (stride 1)."""
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    return nn.Conv2d(c_in, c_out, k, stride=stride, padding=(k[0] // 2, k[1] // 2), bias=False)


class SeparableConv(nn.Sequential):
    """Depthwise ``k×k`` (multiplier 1) then pointwise ``1×1`` to ``c_out``; no bias, nothing between."""

    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__(nn.Conv2d(c_in, c_in, kernel, padding=kernel // 2, groups=c_in, bias=False),
                         nn.Conv2d(c_in, c_out, 1, bias=False))


class ResidualUnit(nn.Module):
    """Pre-activation residual unit RU(x; k, C_out, type, fdiv) (spec §3.2).

    Identity (``C_in == C_out``): ``x + f(ReLU(BN(x)))``; projection: ``Conv1×1(a) + f(a)`` with
    ``a = ReLU(BN(x))`` shared. ``f`` is a separable ``k×k`` (``kind="depthwise"``) or
    ``Conv1×1(C_out/fdiv) → BN → ReLU → Conv k×k(C_out)`` (``kind="normal"``).
    Shapes: ``(N, C_in, H, W) -> (N, C_out, H, W)``.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, kind: str = "depthwise", fdiv: int = 2) -> None:
        super().__init__()
        self.bn = bn(c_in)
        self.shortcut = None if c_in == c_out else nn.Conv2d(c_in, c_out, 1, bias=False)
        if kind == "depthwise":
            self.f: nn.Module = SeparableConv(c_in, c_out, kernel)
        elif kind == "normal":
            mid = max(1, c_out // fdiv)
            self.f = nn.Sequential(nn.Conv2d(c_in, mid, 1, bias=False), bn(mid), nn.ReLU(), conv(mid, c_out, kernel))
        else:
            raise ValueError(f"residual unit kind must be 'depthwise' or 'normal', got {kind!r}")

    def forward(self, x: Tensor) -> Tensor:
        a = F.relu(self.bn(x))
        return (x if self.shortcut is None else self.shortcut(a)) + self.f(a)


def same_max_pool(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int]) -> Tensor:
    """TF-style "same" max pooling: output ``ceil(n / stride)``, padding split before/after
    (the extra cell after) and filled with -inf."""
    pads = []
    for n, k, s in zip(reversed(x.shape[-2:]), reversed(kernel), reversed(stride)):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    if any(pads):
        x = F.pad(x, pads, value=float("-inf"))
    return F.max_pool2d(x, kernel, stride)


def max_min_pool(x: Tensor) -> Tensor:
    """MaxMinPool 2×2 stride 2 "same": max + min of each window (spec §10 quirk 12: a sum)."""
    return same_max_pool(x, (2, 2), (2, 2)) - same_max_pool(-x, (2, 2), (2, 2))


def spatial_softmax(logits: Tensor, alpha: float = 1.0) -> Tensor:
    """Softmax over the last two axes of ``(N, J, H, W)`` logits, computed stably (sum ≥ 1e-7)."""
    z = alpha * logits
    z = z - z.amax(dim=(-2, -1), keepdim=True)
    e = z.exp()
    return e / e.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-7)


class SoftArgmax2d(nn.Module):
    """Expected (x, y) of probability maps on the reference's ramps: column ``c`` of a ``W``-wide map
    sits at ``c/(W-1)`` (first and last cell centres at 0 and 1; spec §3.7, quirk 1). The ramps
    are fixed buffers, never trained. ``(N, J, H, W) -> (N, J, 2)`` normalised crop coordinates."""

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        self.register_buffer("ramp_x", torch.linspace(0.0, 1.0, width), persistent=False)
        self.register_buffer("ramp_y", torch.linspace(0.0, 1.0, height), persistent=False)

    def forward(self, prob: Tensor) -> Tensor:
        x = (prob.sum(dim=-2) * self.ramp_x).sum(-1)
        y = (prob.sum(dim=-1) * self.ramp_y).sum(-1)
        return torch.stack([x, y], dim=-1)


def joint_confidence(prob: Tensor) -> Tensor:
    """Max over all 2×2 windows of the summed probability (spec §3.7): ``(N, J, H, W) -> (N, J)``
    in [0, 1], no sigmoid. Maps must be at least 2×2."""
    return (F.avg_pool2d(prob, 2, stride=1) * 4).amax(dim=(-2, -1))


def glorot_init(module: nn.Module) -> None:
    """Glorot-uniform weights for every convolution (Keras' default); BN scale 1, shift 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
