"""MixSTE (Zhang et al., CVPR 2022): a seq2seq mixed spatio-temporal transformer lifter.

Every joint of every frame is a token. A linear *joint embedding* takes its 2-D (or 2-D +
confidence) to ``width`` channels, a learned spatial position embedding (one per joint) is added,
then ``depth`` loops alternate a **spatial** transformer block (attention across the joints of a
frame) and a **temporal** block (attention across the frames of each joint; the learned temporal
position embedding, one per frame, is added before the first). Every block is pre-norm
(``x + DropPath(Attn(LN(x)))``, ``x + DropPath(MLP(LN(x)))``); after every spatial block one shared
LayerNorm, after every temporal block another. A regression head (LayerNorm + Linear) gives every
joint of every frame its 3-D: a clip of ``T`` frames in, ``T`` poses out.

The paper's configuration (and this module's defaults): depth 8, width 512, 8 heads, MLP ratio 2,
GELU, qkv bias, no dropout, stochastic depth 0.1 spread linearly over the loops (a loop's spatial
and temporal block share their rate), T = 243 (27 and 81 in its ablations). Parameters:
33.78 M at T = 243 (paper: 33.7 M; 42.2 M at depth 10).

Interface shared with :class:`~poseact.lifting.models.temporal.TemporalLifter`:
``forward`` over a whole sequence of any length (cut into clips of ``T`` frames, see
:meth:`MixSTE.forward`), ``forward_train`` on training clips, ``pad``/``causal_shift`` (0: a clip
needs no context beyond itself), ``receptive_field`` (= ``T``), ``frames_out`` (= ``T``).
With ``num_joints_out`` other than the input's (1 for the trajectory model) the head regresses
from all joint tokens of a frame at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from poseact.lifting.models.base import Lifter, LifterConfig
from poseact.run.config import finite, positive

#: clips evaluated per forward when a long sequence is cut into clips (bounds memory)
EVAL_CLIPS_PER_BATCH = 32


class DropPath(nn.Module):
    """Stochastic depth: in training, drop a residual branch for a whole sample with probability ``p``
    (and scale the kept ones by ``1 / (1 - p)``)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class Attention(nn.Module):
    """Multi-head self-attention over the middle axis of ``(B, N, C)``."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} must be a multiple of heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width, bias=True)
        self.proj = nn.Linear(width, width)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = rearrange(self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.heads)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q kᵀ / √d) v, no mask: not causal
        return self.proj(rearrange(out, "b h n d -> b n (h d)"))


class Block(nn.Module):
    """A pre-norm transformer block: attention and an MLP, each a residual with stochastic depth."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, drop_path: float) -> None:
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.attn = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


@dataclass
class MixSTEConfig(LifterConfig):
    """The ``model`` section of ``name: mixste`` (the defaults are the paper's configuration)."""

    name: str = "mixste"
    frames: int = 243  # clip length T (input and output frames)
    depth: int = 8  # loops of a spatial and a temporal transformer block
    width: int = 512  # channels per joint token
    heads: int = 8  # attention heads
    mlp_ratio: float = 2.0  # MLP hidden width / width
    drop_path: float = 0.1  # stochastic depth of the last loop (0 for the first, linear between)
    train_stride: int | None = None  # frames between training clips (null: the clip length, no overlap)


class MixSTE(Lifter):
    """Seq2seq mixed spatio-temporal encoder.

    Args:
        num_joints_in, in_features: input joints ``J`` and features per joint ``F`` (2, or 3 with
            a confidence).
        num_joints_out: output joints (``J`` for the pose, 1 for the trajectory model).
        frames: clip length ``T``.
        depth: loops of (spatial block, temporal block); ``width``: channels per token; ``heads``:
            attention heads; ``mlp_ratio``: MLP hidden / width; ``drop_path``: the largest
            stochastic-depth rate (the last loop's; the first loop's is 0).
    """

    name = "mixste"
    Config = MixSTEConfig
    seq2seq = True
    free_keys = ("drop_path", "train_stride")

    def __init__(self, num_joints_in: int, in_features: int, num_joints_out: int, frames: int = 243,
                 depth: int = 8, width: int = 512, heads: int = 8, mlp_ratio: float = 2.0,
                 drop_path: float = 0.1) -> None:
        super().__init__()
        self.num_joints_in, self.in_features, self.num_joints_out = num_joints_in, in_features, num_joints_out
        self.frames, self.depth, self.width, self.heads = frames, depth, width, heads
        self.mlp_ratio, self.drop_path_rate = mlp_ratio, drop_path
        self.joint_embed = nn.Linear(in_features, width)
        self.spatial_pos = nn.Parameter(torch.zeros(1, num_joints_in, width))
        self.temporal_pos = nn.Parameter(torch.zeros(1, frames, width))
        rates = torch.linspace(0, drop_path, depth).tolist()
        self.spatial_blocks = nn.ModuleList(Block(width, heads, mlp_ratio, r) for r in rates)
        self.temporal_blocks = nn.ModuleList(Block(width, heads, mlp_ratio, r) for r in rates)
        self.spatial_norm = nn.LayerNorm(width, eps=1e-6)  # one module, after every spatial block
        self.temporal_norm = nn.LayerNorm(width, eps=1e-6)  # one module, after every temporal block
        per_joint = num_joints_out == num_joints_in
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width if per_joint else width * num_joints_in,
                                                                 3 if per_joint else 3 * num_joints_out))
        self.per_joint_head = per_joint

    @classmethod
    def config_checks(cls, section: MixSTEConfig) -> list[tuple[bool, str, str]]:
        m = section
        return [
            (m.frames >= 1, "model.frames", f"must be >= 1, got {m.frames}"),
            (m.depth >= 1, "model.depth", f"must be >= 1, got {m.depth}"),
            (m.heads >= 1 and m.width >= 1 and m.width % m.heads == 0, "model.width",
             f"must be a positive multiple of model.heads ({m.heads}), got {m.width}"),
            (positive(m.mlp_ratio), "model.mlp_ratio", f"must be positive, got {m.mlp_ratio}"),
            (finite(m.drop_path) and 0 <= m.drop_path < 1, "model.drop_path", f"must be in [0, 1), got {m.drop_path}"),
            (m.train_stride is None or m.train_stride >= 1, "model.train_stride",
             f"must be >= 1 or null, got {m.train_stride}"),
        ]

    @classmethod
    def from_config(cls, model: MixSTEConfig, num_joints_in: int, in_features: int, num_joints_out: int) -> "MixSTE":
        return cls(num_joints_in, in_features, num_joints_out, frames=model.frames, depth=model.depth,
                   width=model.width, heads=model.heads, mlp_ratio=model.mlp_ratio, drop_path=model.drop_path)

    def architecture(self) -> dict:
        return {"name": "mixste", "frames": self.frames, "depth": self.depth, "width": self.width,
                "heads": self.heads, "mlp_ratio": self.mlp_ratio, "drop_path": self.drop_path_rate,
                "causal": False, "dense": False}

    # -- the window geometry the data pipeline reads ----------------------------------------------

    @property
    def receptive_field(self) -> int:
        return self.frames

    @property
    def frames_out(self) -> int:
        return self.frames

    @property
    def causal(self) -> bool:
        return False

    # -- forward passes ----------------------------------------------------------------------------

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[-2:] != (self.num_joints_in, self.in_features):
            raise ValueError(f"expected input (B, T, {self.num_joints_in}, {self.in_features}), got {tuple(x.shape)}")

    def forward_train(self, x: Tensor) -> Tensor:
        """Clips of exactly ``T`` frames: ``(B, T, J, F) -> (B, T, J_out, 3)``."""
        self._check_input(x)
        if x.shape[1] != self.frames:
            raise ValueError(f"MixSTE takes clips of exactly {self.frames} frames, got {x.shape[1]}")
        b, t, j, _ = x.shape
        h = self.joint_embed(rearrange(x, "b t j f -> (b t) j f")) + self.spatial_pos
        for i, (spatial, temporal) in enumerate(zip(self.spatial_blocks, self.temporal_blocks)):
            h = self.spatial_norm(spatial(h))  # attention across the joints of each frame
            h = rearrange(h, "(b t) j c -> (b j) t c", b=b)
            if i == 0:
                h = h + self.temporal_pos
            h = self.temporal_norm(temporal(h))  # attention across the frames of each joint
            h = rearrange(h, "(b j) t c -> (b t) j c", b=b)
        if self.per_joint_head:
            return rearrange(self.head(h), "(b t) j c -> b t j c", b=b)  # each joint token → its 3-D
        out = self.head[1](rearrange(self.head[0](h), "bt j c -> bt (j c)"))  # all tokens of a frame → J_out·3
        return rearrange(out, "(b t) (j c) -> b t j c", b=b, c=3)

    forward_single = forward_train

    def forward(self, x: Tensor) -> Tensor:
        """A whole sequence of any length ``L``: ``(B, L, J, F) -> (B, L, J_out, 3)``.

        The sequence is cut into clips of ``T`` frames starting at 0, T, 2T, …; when ``L`` is not a
        multiple of ``T`` the last clip is the final ``T`` frames, of which only the frames no earlier
        clip covered are kept; a sequence shorter than ``T`` is edge-padded at its end and the padded
        frames' outputs dropped. So every frame gets exactly one prediction (the paper's code scores
        the overlap twice and the padding too; poseact does neither)."""
        self._check_input(x)
        b, length = x.shape[:2]
        t = self.frames
        if length < t:
            padded = torch.cat([x, x[:, -1:].expand(b, t - length, *x.shape[2:])], dim=1)
            return self.forward_train(padded)[:, :length]
        starts = list(range(0, length - t + 1, t))
        if starts[-1] + t < length:
            starts.append(length - t)
        clips = torch.stack([x[:, s:s + t] for s in starts], dim=1)  # (B, K, T, J, F)
        flat = rearrange(clips, "b k t j f -> (b k) t j f")
        out = torch.cat([self.forward_train(flat[i:i + EVAL_CLIPS_PER_BATCH])
                         for i in range(0, len(flat), EVAL_CLIPS_PER_BATCH)])
        out = rearrange(out, "(b k) t j c -> b k t j c", b=b)
        pieces, covered = [], 0
        for k, s in enumerate(starts):
            pieces.append(out[:, k, covered - s:])
            covered = s + t
        return torch.cat(pieces, dim=1)


def multiply_adds(model: MixSTE) -> dict[str, int]:
    """Multiply-accumulates of one forward pass over one clip of ``T`` frames: ``linear`` (every
    ``nn.Linear``: embedding, qkv, projections, MLPs, head) and ``attention`` (the ``q kᵀ`` and
    ``attention · v`` products of the spatial and the temporal blocks). Norms, softmax and GELU are
    not counted (below 0.5 % here)."""
    t, j, c, f = model.frames, model.num_joints_in, model.width, model.in_features
    hidden = int(c * model.mlp_ratio)
    per_token = f * c + 2 * model.depth * (3 * c * c + c * c + 2 * c * hidden)
    head = c * 3 * j if model.per_joint_head else j * c * 3 * model.num_joints_out
    linear = t * (j * per_token + head)
    spatial = model.depth * t * 2 * j * j * c  # per frame: (J × J) scores and their use, over all heads
    temporal = model.depth * j * 2 * t * t * c  # per joint: (T × T)
    return {"linear": linear, "attention": spatial + temporal}
