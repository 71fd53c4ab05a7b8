"""Multi-task SPNet (Luvizon et al., TPAMI 2020): 2-D/3-D pose and action recognition from clips.

A ResNet-like entry flow brings a ``S×S`` frame to ``S/8`` px maps; a chain of alternating down
and up *pyramids* over ``num_levels`` scales follows, each holding one *prediction block* (PB)
per visited level. Every PB regresses joint heat maps (soft-argmax → normalised ``x, y``), optional
per-joint depth maps (``z = Σ P·sigmoid(D)``) and a joint confidence, and re-injects the maps into
the pose stream. PBs of the ``action_pyramids`` also run the action stream on the ``T×J`` grid:
pose features (coordinates × confidence) and appearance features (visual features pooled by the
joint probability maps) are fused, refined and turned into action heat maps (max+min pooled →
softmax). With ``pose_replica`` the action stream reads its own copies of the heat/depth-map
regressors (spec §3.9, "decoupling"). Every output is supervised.

Shapes: input ``(B, T, 3, S, S)`` in [-1, 1] (or ``(B, 3, S, S)``, i.e. T=1). Pose outputs:
a list of ``num_pyramids·(num_levels-1)`` tensors ``(B, T, J, dim+1)`` = ``[x, y, (z), confidence]``
with x, y, z in [0, 1]. Action outputs: per action PB, a list (one per dataset) of logits
``(B, A_k)`` whose softmax is the reference's ``softmax(GlobalMax + GlobalMin)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from poseact.multitask.models.layers import (ResidualUnit, SeparableConv, SoftArgmax2d, bn, conv, glorot_init,
                                         joint_confidence, max_min_pool, same_max_pool, spatial_softmax)


@dataclass
class SPNetConfig:
    """Size and heads of the network; defaults are the reference's ``ModelConfig`` (spec §3.1)."""

    num_joints: int = 16
    dim: int = 2  # 2: (x, y); 3: (x, y, z) with depth maps
    input_size: int = 256  # square frames, pixels
    num_pyramids: int = 8
    num_levels: int = 4
    growth: int = 96  # channels added per level (and the entry flow's width unit)
    stem_channels: int = 64  # the 7×7 stride-2 conv
    kernel_size: int = 5
    image_div: int = 8  # entry-flow output stride (a power of 2, >= 4)
    action_pyramids: list[int] = field(default_factory=list)  # 1-based
    num_actions: list[int] = field(default_factory=list)  # one softmax head per dataset
    pose_replica: bool = False
    pose_features: int = 128  # Fp
    visual_features: int = 128  # Fv
    sam_alpha: float = 1.0
    bn_momentum: float = 0.01  # PyTorch convention; 0.01 = Keras' 0.99 (faithful). Short runs need ~0.1

    @property
    def entry_channels(self) -> int:
        return int(math.log2(self.image_div)) * self.growth  # 3g for image_div 8

    def level_channels(self, i: int) -> int:
        return self.entry_channels + self.growth * i

    def level_size(self, i: int) -> int:
        return self.input_size // self.image_div // 2 ** i

    def validate(self) -> None:
        """Raise ``ValueError`` naming the offending field."""
        if self.dim not in (2, 3):
            raise ValueError(f"model.dim must be 2 or 3, got {self.dim}")
        if self.image_div < 4 or self.image_div & (self.image_div - 1):
            raise ValueError(f"model.image_div must be a power of 2 >= 4, got {self.image_div}")
        if self.num_levels < 2 or self.num_pyramids < 1:
            raise ValueError(f"model.num_levels must be >= 2 and num_pyramids >= 1, got "
                             f"{self.num_levels}, {self.num_pyramids}")
        if self.input_size % (self.image_div * 2 ** (self.num_levels - 1)) or self.level_size(self.num_levels - 1) < 2:
            raise ValueError(f"model.input_size {self.input_size} must be a multiple of image_div·2^(levels-1) = "
                             f"{self.image_div * 2 ** (self.num_levels - 1)} with the smallest map >= 2 px")
        bad = [p for p in self.action_pyramids if not 1 <= p <= self.num_pyramids]
        if bad:
            raise ValueError(f"model.action_pyramids {bad} outside 1..{self.num_pyramids}")
        if self.action_pyramids and not self.num_actions:
            raise ValueError("model.action_pyramids is set but model.num_actions is empty")
        if self.pose_features % 16:
            raise ValueError(f"model.pose_features must be a multiple of 16, got {self.pose_features}")


class EntryFlow(nn.Sequential):
    """``(N, 3, S, S) -> (N, C_0, S/image_div, S/image_div)`` (spec §3.3)."""

    def __init__(self, cfg: SPNetConfig) -> None:
        g = cfg.growth
        layers: list[nn.Module] = [nn.Conv2d(3, cfg.stem_channels, 7, stride=2, padding=3, bias=False),
                                   ResidualUnit(cfg.stem_channels, g, 3, "normal"),
                                   _SameMaxPool(3, 2), ResidualUnit(g, 2 * g, 3, "normal"),
                                   ResidualUnit(2 * g, 2 * g, 3, "normal")]
        width = 2 * g
        for _ in range(int(math.log2(cfg.image_div)) - 2):
            layers += [_SameMaxPool(2, 2), ResidualUnit(width, width + g, 3, "normal"),
                       ResidualUnit(width + g, width + g, 3, "normal")]
            width += g
        super().__init__(*layers)


class _SameMaxPool(nn.Module):
    def __init__(self, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: Tensor) -> Tensor:
        return same_max_pool(x, (self.kernel, self.kernel), (self.stride, self.stride))


class PoseHead(nn.Module):
    """Heat-map (and depth-map) regressors of a PB, with an optional replica for the action stream."""

    def __init__(self, c: int, j: int, dim: int, replica: bool) -> None:
        super().__init__()
        self.heat = nn.Conv2d(c, j, 1, bias=False)
        self.depth = nn.Conv2d(c, j, 1, bias=False) if dim == 3 else None
        self.heat_replica = nn.Conv2d(c, j, 1, bias=False) if replica else None
        self.depth_replica = nn.Conv2d(c, j, 1, bias=False) if replica and dim == 3 else None

    def copy_to_replica(self) -> None:
        """Initialise the replica kernels from the originals (the reference's ``copy_replica_layers``)."""
        with torch.no_grad():
            if self.heat_replica is not None:
                self.heat_replica.weight.copy_(self.heat.weight)
            if self.depth_replica is not None and self.depth is not None:
                self.depth_replica.weight.copy_(self.depth.weight)


class PredictionBlock(nn.Module):
    """PB at a level with ``c`` channels (spec §3.6); optional action stream (spec §3.8)."""

    def __init__(self, cfg: SPNetConfig, c: int, size: int, action: bool, first_action: bool) -> None:
        super().__init__()
        j, k = cfg.num_joints, cfg.kernel_size
        self.dim, self.alpha = cfg.dim, cfg.sam_alpha
        self.ru = ResidualUnit(c, c, k, "depthwise")
        self.sep_bn, self.sep = bn(c), SeparableConv(c, c, k)
        self.out_bn = bn(c)
        self.head = PoseHead(c, j, cfg.dim, cfg.pose_replica and action)
        self.forward_maps = nn.Conv2d(c, j, 1, bias=False)
        self.reinject_heat = nn.Conv2d(2 * j, c, 1, bias=False)
        self.reinject_depth = nn.Conv2d(j, c, 1, bias=False) if cfg.dim == 3 else None
        self.softargmax = SoftArgmax2d(size, size)
        self.action = ActionStream(cfg, c, first_action) if action else None

    def _pose(self, heat: Tensor, depth: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """Probability maps ``(N, J, h, w)``, coordinates ``(N, J, dim)``, confidence ``(N, J)``."""
        prob = spatial_softmax(heat, self.alpha)
        coords = self.softargmax(prob)
        if depth is not None:
            z = (prob * torch.sigmoid(depth)).sum(dim=(-2, -1))
            coords = torch.cat([coords, z[..., None]], dim=-1)
        return prob, coords, joint_confidence(prob)

    def forward(self, xp: Tensor, xa: Tensor | None, appearance: Tensor | None, t: int,
                with_action: bool) -> tuple[Tensor, Tensor | None, Tensor, list[Tensor] | None]:
        """``xp (B·T, C, h, w)``, ``xa (B, F, T', J')`` → new ``xp``, new ``xa``, pose ``(B, T, J, dim+1)``,
        action logits per dataset (or None)."""
        r = self.ru(xp)
        s = self.sep(F.relu(self.sep_bn(r)))
        u = F.relu(self.out_bn(s))
        heat = self.head.heat(u)
        depth = self.head.depth(u) if self.head.depth is not None else None
        out = r + s + self.reinject_heat(F.relu(torch.cat([self.forward_maps(u), heat], dim=1)))
        if depth is not None:
            out = out + self.reinject_depth(depth)
        prob, coords, confidence = self._pose(heat, depth)
        pose = rearrange(torch.cat([coords, confidence[..., None]], -1), "(b t) j d -> b t j d", t=t)
        if self.action is None or not with_action:
            return out, xa, pose, None
        if self.head.heat_replica is not None:
            depth_r = self.head.depth_replica(u) if self.head.depth_replica is not None else None
            prob, coords, confidence = self._pose(self.head.heat_replica(u), depth_r)
        xa, logits = self.action(coords, confidence, prob, appearance, xa, t)
        return out, xa, pose, logits


class ActionStream(nn.Module):
    """Early fusion of pose and appearance features on the ``T×J`` grid (spec §3.8).

    Action tensors are ``(B, F, T, J)``. T is padded to a multiple of ``2·ts`` and J to a multiple
    of 4 (``ts = 2`` when T >= 16); action heat maps are ``(B, A_k, T'/(2ts), J'/4)``.
    """

    def __init__(self, cfg: SPNetConfig, c_visual: int, first: bool) -> None:
        super().__init__()
        fp, fv, d = cfg.pose_features, cfg.visual_features, cfg.dim
        f = max(fp, fv)
        self.pose_convs = nn.ModuleList([conv(d, fp // 16, (3, 1)), conv(d, fp // 8, (3, 3)), conv(d, fp // 4, (3, 5))])
        self.pose_ru = ResidualUnit(7 * fp // 16, fp, 3, "normal", fdiv=2)
        self.visual = nn.Conv2d(c_visual, fv, 1, bias=False)
        self.fuse = ResidualUnit(fp + fv + (0 if first else f), f, 3, "normal", fdiv=4)
        self.pre_bn, self.pre = bn(f), conv(f, f, 3)
        self.heads_bn = bn(f)
        self.heads = nn.ModuleList([conv(f, a, 3) for a in cfg.num_actions])
        self.reinject = conv(sum(cfg.num_actions), f, 3)

    @staticmethod
    def _pad_pool(x: Tensor, ts: int) -> Tensor:
        t, j = x.shape[-2:]
        pt, pj = (-t) % (2 * ts), (-j) % 4
        x = F.pad(x, (pj // 2, pj - pj // 2, pt // 2, pt - pt // 2))
        return same_max_pool(x, (2, 2), (ts, 2))

    def forward(self, coords: Tensor, confidence: Tensor, prob: Tensor, visual: Tensor, xa: Tensor | None,
                t: int) -> tuple[Tensor, list[Tensor]]:
        """``coords (B·T, J, dim)``, ``confidence (B·T, J)``, ``prob (B·T, J, h, w)``, ``visual (B·T, C, h, w)``."""
        ts = 2 if t >= 16 else 1
        q = rearrange(coords * confidence[..., None], "(b t) j d -> b d t j", t=t)
        x1 = self._pad_pool(self.pose_ru(torch.cat([c(q) for c in self.pose_convs], dim=1)), ts)
        app = torch.einsum("njhw,nchw->ncj", prob, visual)  # attention-pooled features per joint
        app = rearrange(app, "(b t) c j -> b c t j", t=t)
        x2 = self._pad_pool(self.visual(app), ts)
        e = self.fuse(torch.cat([x1, x2] + ([] if xa is None else [xa]), dim=1))
        x1p = self.pre(F.relu(self.pre_bn(e)))
        m = F.relu(self.heads_bn(max_min_pool(x1p)))
        maps = [h(m) for h in self.heads]
        logits = [h.amax(dim=(-2, -1)) + h.amin(dim=(-2, -1)) for h in maps]
        g = self.reinject(F.relu(F.interpolate(torch.cat(maps, 1), size=x1p.shape[-2:], mode="nearest")))
        return e + x1p + g, logits


class SPNet(nn.Module):
    """The Sequential Pyramid Network; see the module docstring for shapes."""

    def __init__(self, cfg: SPNetConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        L = cfg.num_levels
        self.entry = EntryFlow(cfg)
        self.scale_units = nn.ModuleList()
        self.action_units = nn.ModuleList()
        self.blocks = nn.ModuleList()
        self.schedule: list[tuple[int, int, bool]] = []  # (pyramid, level, action) per PB
        seen_action = False
        for p in range(1, cfg.num_pyramids + 1):
            down = p % 2 == 1
            levels = range(1, L) if down else range(L - 2, -1, -1)
            action = p in cfg.action_pyramids
            for i in levels:
                c_in = cfg.level_channels(i - 1 if down else i + 1)
                c = cfg.level_channels(i)
                self.scale_units.append(ResidualUnit(c_in, c, 5, "depthwise"))
                f = max(cfg.pose_features, cfg.visual_features)
                self.action_units.append(ResidualUnit(f, f, 3, "depthwise") if action and seen_action else nn.Identity())
                self.blocks.append(PredictionBlock(cfg, c, cfg.level_size(i), action, first_action=not seen_action))
                self.schedule.append((p, i, action))
                seen_action |= action
        glorot_init(self)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = cfg.bn_momentum

    @property
    def num_pose_outputs(self) -> int:
        return len(self.blocks)

    @property
    def num_action_outputs(self) -> int:
        return sum(a for _, _, a in self.schedule)

    def copy_replicas(self) -> None:
        for b in self.blocks:
            b.head.copy_to_replica()

    def forward(self, frames: Tensor, with_action: bool = True) -> tuple[list[Tensor], list[list[Tensor]]]:
        """``frames (B, T, 3, S, S)`` or ``(B, 3, S, S)`` → (pose outputs, action outputs); the action
        stream is skipped when ``with_action`` is False (pose steps: pose outputs never depend on it)."""
        if frames.dim() == 4:
            frames = frames[:, None]
        t = frames.shape[1]
        x = self.entry(rearrange(frames, "b t c h w -> (b t) c h w"))
        L = self.cfg.num_levels
        lp: list[Tensor | None] = [x] + [None] * (L - 1)
        la: list[Tensor | None] = [None] * L
        lz: list[Tensor | None] = [x] + [None] * (L - 1)
        poses: list[Tensor] = []
        actions: list[list[Tensor]] = []
        xp: Tensor = x
        xa: Tensor | None = None
        for n, (p, i, action) in enumerate(self.schedule):
            down = p % 2 == 1
            if (down and i == 1) or (not down and i == L - 2):  # a pyramid starts
                xp, xa = lp[0 if down else L - 1], la[0 if down else L - 1]
            xp = self.scale_units[n](same_max_pool(xp, (2, 2), (2, 2)) if down else
                                     F.interpolate(xp, scale_factor=2.0, mode="nearest"))
            if lz[i] is None:
                lz[i] = xp
            if lp[i] is not None:
                xp = xp + lp[i]
            run_action = action and with_action
            if run_action and xa is not None:
                xa = self.action_units[n](xa)
                if la[i] is not None:
                    xa = xa + la[i]
            xp, xa_new, pose, logits = self.blocks[n](xp, xa, lz[i], t, run_action)
            lp[i] = xp
            poses.append(pose)
            if logits is not None:
                xa = la[i] = xa_new
                actions.append(logits)
        return poses, actions

