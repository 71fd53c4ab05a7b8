"""Dilated temporal convolution lifter (VideoPose3D), with its strided single-frame form.

One module, one set of weights, two ways to run it:

* :meth:`TemporalLifter.forward` — the dilated network over a sequence of any length
  ``T >= receptive_field``: ``(B, T, J_in, F) -> (B, T - RF + 1, J_out, 3)``. Used for evaluation
  and inference over whole sequences.
  In eval mode without autograd it runs time-major with every BatchNorm folded into the
  convolution before it (one matrix product per kernel tap; ~1.3-1.5x faster than ``conv1d`` on a
  CPU, the same numbers to float rounding; under autocast ``conv1d`` runs).
* :meth:`TemporalLifter.forward_single` — the strided network for windows of exactly
  ``receptive_field`` frames: ``(B, RF, J_in, F) -> (B, 1, J_out, 3)``. It computes only the
  activations that the one output frame needs (kernel ``w`` applied with stride ``w`` instead
  of dilation), which is what makes training fast. Same parameters, same output.

Parameter names and shapes equal the reference's ``TemporalModel`` / ``TemporalModelOptimized1f``
(``expand_conv``, ``expand_bn``, ``layers_conv.{i}``, ``layers_bn.{i}``, ``shrink``), so original
checkpoints load with ``load_state_dict`` unchanged. With ``num_joints_out=1`` the same class is the
trajectory model (root position in camera space, metres).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from poseact.lifting.models.base import Lifter, LifterConfig
from poseact.nn import ReluDropout
from poseact.run.config import finite

#: output frames per piece of the folded evaluation (:meth:`TemporalLifter._forward_folded`): a long
#: sequence's activations are never all held at once
FOLDED_CHUNK = 1024


@dataclass
class TemporalConfig(LifterConfig):
    """The ``model`` section of ``name: temporal`` (VideoPose3D's dilated temporal convolutions)."""

    name: str = "temporal"
    filter_widths: list[int] = field(default_factory=lambda: [3, 3, 3])  # odd; receptive field = their product
    channels: int = 1024
    dropout: float = 0.25
    causal: bool = False  # see past frames only (real-time use)
    dense: bool = False  # the "no dilation" ablation


class TemporalLifter(Lifter):
    """Temporal convolutional 2-D → 3-D lifter.

    Args:
        num_joints_in: input joints ``J_in``.
        in_features: features per input joint ``F`` (2 for x, y; 3 with a confidence).
        num_joints_out: output joints ``J_out`` (1 for the trajectory model).
        filter_widths: odd kernel widths, e.g. ``[3, 3, 3]`` (27 frames).
        causal: residuals aligned to the last frame of each window (real-time use).
        dropout: dropout probability after every ReLU.
        channels: hidden channels ``C``.
        dense: the "no dilation" ablation (kernel ``2 * pad + 1``, dilation 1; no strided form).
    """

    name = "temporal"
    Config = TemporalConfig
    seq2seq = False
    free_keys = ("dropout",)  # causal changes no weight, but what the weights mean: an architecture key

    def __init__(
        self, num_joints_in: int, in_features: int, num_joints_out: int, filter_widths: list[int],
        causal: bool = False, dropout: float = 0.25, channels: int = 1024, dense: bool = False,
    ) -> None:
        super().__init__()
        widths = list(filter_widths)
        if not widths or any(w < 1 or w % 2 == 0 for w in widths):
            raise ValueError(f"filter_widths must be odd positive integers, got {widths}")
        self.num_joints_in, self.in_features, self.num_joints_out = num_joints_in, in_features, num_joints_out
        self.filter_widths, self.causal, self.dense, self.channels = widths, causal, dense, channels

        # registration order = state_dict order of the reference
        self.activation = ReluDropout(dropout)  # ReLU then dropout, fused (no parameters)
        self.expand_bn = nn.BatchNorm1d(channels, momentum=0.1)
        self.shrink = nn.Conv1d(channels, 3 * num_joints_out, 1)
        self.expand_conv = nn.Conv1d(num_joints_in * in_features, channels, widths[0], bias=False)

        self.pads = [widths[0] // 2]
        self.dilations: list[int] = []
        convs, bns = [], []
        dilation = widths[0]
        for w in widths[1:]:
            pad = (w - 1) * dilation // 2
            self.pads.append(pad)
            self.dilations.append(dilation)
            kernel = 2 * pad + 1 if dense else w
            convs += [nn.Conv1d(channels, channels, kernel, dilation=1 if dense else dilation, bias=False),
                      nn.Conv1d(channels, channels, 1, bias=False)]
            bns += [nn.BatchNorm1d(channels, momentum=0.1), nn.BatchNorm1d(channels, momentum=0.1)]
            dilation *= w
        self.layers_conv = nn.ModuleList(convs)
        self.layers_bn = nn.ModuleList(bns)
        self._fold_cache: tuple | None = None  # (key, folded layers) of _folded_weights

    # -- geometry of the receptive field -------------------------------------------------------

    @property
    def receptive_field(self) -> int:
        """Input frames per output frame: ``1 + 2 * sum(pads)`` = product of the widths."""
        return 1 + 2 * sum(self.pads)

    @property
    def pad(self) -> int:
        """Frames of context on each side of the output frame: ``(RF - 1) / 2``."""
        return sum(self.pads)

    @property
    def frames_out(self) -> int:
        """Output frames per training window (one: the centre, or the last frame when causal)."""
        return 1

    @property
    def causal_shift(self) -> int:
        """How far windows are shifted into the past in causal mode (``pad``, else 0)."""
        return self.pad if self.causal else 0

    @classmethod
    def config_checks(cls, section: TemporalConfig) -> list[tuple[bool, str, str]]:
        m = section
        return [
            (bool(m.filter_widths) and all(w >= 1 and w % 2 == 1 for w in m.filter_widths),
             "model.filter_widths", f"must be odd positive integers, got {m.filter_widths}"),
            (m.channels > 0, "model.channels", f"must be positive, got {m.channels}"),
            (finite(m.dropout) and 0 <= m.dropout < 1, "model.dropout", f"must be in [0, 1), got {m.dropout}"),
        ]

    @classmethod
    def from_config(cls, model: TemporalConfig, num_joints_in: int, in_features: int,
                    num_joints_out: int) -> "TemporalLifter":
        """Build from its ``model`` config section (:class:`TemporalConfig`)."""
        return cls(num_joints_in, in_features, num_joints_out, list(model.filter_widths), causal=model.causal,
                   dropout=model.dropout, channels=model.channels, dense=model.dense)

    def architecture(self) -> dict:
        """The ``model`` config fields that rebuild this network (saved in checkpoints)."""
        return {"name": "temporal", "filter_widths": list(self.filter_widths), "channels": self.channels,
                "dropout": self.activation.p, "causal": self.causal, "dense": self.dense}

    def set_bn_momentum(self, momentum: float) -> None:
        """Set the running-statistics momentum of every BatchNorm layer."""
        self.expand_bn.momentum = momentum
        for bn in self.layers_bn:
            bn.momentum = momentum

    # -- forward passes --------------------------------------------------------------------------

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[-2:] != (self.num_joints_in, self.in_features):
            raise ValueError(f"expected input (B, T, {self.num_joints_in}, {self.in_features}), "
                             f"got {tuple(x.shape)}")
        if x.shape[1] < self.receptive_field:
            raise ValueError(f"input has {x.shape[1]} frames, fewer than the receptive field "
                             f"{self.receptive_field}: pad the sequence first")

    def _block(self, x: Tensor, i: int, conv_out: Tensor) -> Tensor:
        h = self.activation(self.layers_bn[2 * i](conv_out))
        return self.activation(self.layers_bn[2 * i + 1](self.layers_conv[2 * i + 1](h)))

    def forward(self, x: Tensor) -> Tensor:
        """Dilated network: ``(B, T, J_in, F) -> (B, T - RF + 1, J_out, 3)``."""
        self._check_input(x)
        if not self.training and not torch.is_grad_enabled() and not _tracing() and not _autocast(x):
            return self._forward_folded(x)
        return self.forward_conv(x)

    def forward_conv(self, x: Tensor) -> Tensor:
        """:meth:`forward` as ``conv1d`` layers (training with autograd, export, the reference's form)."""
        h = rearrange(x, "b t j f -> b (j f) t")
        h = self.activation(self.expand_bn(self.expand_conv(h)))
        for i, pad in enumerate(self.pads[1:]):
            shift = pad if self.causal else 0
            length = h.shape[-1]
            res = h[:, :, pad + shift: length - pad + shift]
            h = res + self._block(h, i, self.layers_conv[2 * i](h))
        return rearrange(self.shrink(h), "b (j c) t -> b t j c", c=3)

    def _forward_folded(self, x: Tensor) -> Tensor:
        """:meth:`forward` for evaluation: time-major ``(T, C)`` per sequence, each BatchNorm's running
        statistics folded into the convolution before it, a dilated convolution as one matrix product
        per kernel tap on shifted views (no copies), ReLU in place (dropout is the identity)."""
        device = x.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype
        with torch.autocast(device, enabled=False):  # called directly under autocast: run in its dtype
            first, *layers, (shrink_w, shrink_b) = self._folded_weights(dtype)
            rf, outputs = self.receptive_field, []
            for sequence in rearrange(x, "b t j f -> b t (j f)").to(dtype):
                # in pieces of FOLDED_CHUNK output frames (each with its RF - 1 frames of context): the same
                # numbers, and a long sequence's activations never all at once (peak memory)
                pieces = [self._folded_piece(sequence[s: s + FOLDED_CHUNK + rf - 1], first, layers, shrink_w, shrink_b)
                          for s in range(0, sequence.shape[0] - rf + 1, FOLDED_CHUNK)]
                outputs.append(torch.cat(pieces))
        return rearrange(torch.stack(outputs), "b t (j c) -> b t j c", c=3)

    def _folded_piece(self, sequence: Tensor, first, layers, shrink_w: Tensor, shrink_b: Tensor) -> Tensor:
        """:meth:`_forward_folded` on one time-major piece ``(T, J·F) -> (T - RF + 1, J·3)``."""
        h = _conv_time_major(sequence, *first).relu_()
        for i, pad in enumerate(self.pads[1:]):
            start = pad + (pad if self.causal else 0)
            res = h[start: start + h.shape[0] - 2 * pad]
            y = _conv_time_major(h, *layers[2 * i]).relu_()
            h = _conv_time_major(y, *layers[2 * i + 1]).relu_().add_(res)
        return torch.addmm(shrink_b, h, shrink_w)

    def _folded_weights(self, dtype: torch.dtype) -> list:
        """The folded layers of :meth:`_forward_folded`, cached while no parameter or buffer changes:
        the cache key holds every tensor's storage and version counter (bumped by optimiser steps,
        ``load_state_dict`` and any in-place update; not by edits through ``.data``), and
        :meth:`train` clears it."""
        tensors = [*self.parameters(), *self.buffers()]
        # inference tensors (weights made under torch.inference_mode) have no version counter: no cache
        key = None if any(t.is_inference() for t in tensors) else \
            (dtype, *((t.data_ptr(), t._version) for t in tensors))
        cache = getattr(self, "_fold_cache", None)
        if key is not None and cache is not None and cache[0] == key:
            return cache[1]
        folded = [_fold(self.expand_conv, self.expand_bn, dtype),
                  *(_fold(conv, bn, dtype) for conv, bn in zip(self.layers_conv, self.layers_bn)),
                  (self.shrink.weight[:, :, 0].t().to(dtype), self.shrink.bias.to(dtype))]
        self._fold_cache = None if key is None else (key, folded)
        return folded

    def __getstate__(self) -> dict:
        # pickling (torch.save of the module, copies) leaves the cache out
        return {**self.__dict__, "_fold_cache": None}

    def train(self, mode: bool = True) -> TemporalLifter:
        self._fold_cache = None
        return super().train(mode)

    def forward_single(self, x: Tensor) -> Tensor:
        """Strided network for windows of exactly RF frames: ``(B, RF, J_in, F) -> (B, 1, J_out, 3)``.

        Runs time-major ``(B, T, C)``: a convolution whose stride equals its kernel is a reshape
        plus one matrix product, and the 1x1 convolutions are plain matrix products; this is
        ~3x faster than ``conv1d`` on CPU and gives the same numbers.
        """
        if self.dense:
            return self.forward(x)
        self._check_input(x)
        if x.shape[1] != self.receptive_field:
            raise ValueError(f"forward_single needs exactly {self.receptive_field} frames, got {x.shape[1]}")
        h = rearrange(x, "b t j f -> b t (j f)")
        h = _strided_conv(h, self.expand_conv.weight, self.filter_widths[0])
        h = self.activation(_batch_norm(self.expand_bn, h))
        for i, w in enumerate(self.filter_widths[1:]):
            offset = w // 2 + (w // 2 if self.causal else 0)
            res = h[:, offset::w]
            h = _strided_conv(h, self.layers_conv[2 * i].weight, w)
            h = self.activation(_batch_norm(self.layers_bn[2 * i], h))
            h = h @ self.layers_conv[2 * i + 1].weight[:, :, 0].t()
            h = res + self.activation(_batch_norm(self.layers_bn[2 * i + 1], h))
        out = h @ self.shrink.weight[:, :, 0].t() + self.shrink.bias
        return rearrange(out, "b t (j c) -> b t j c", c=3)

    def forward_train(self, x: Tensor) -> Tensor:
        """The training form: :meth:`forward_single` (windows of exactly RF frames, one output frame)."""
        return self.forward_single(x)


def _tracing() -> bool:
    """True while TorchScript, ONNX or ``torch.compile`` traces the module: they get ``conv1d``."""
    return torch.jit.is_tracing() or torch.compiler.is_compiling() or torch.onnx.is_in_onnx_export()


def _autocast(x: Tensor) -> bool:
    """Under autocast ``conv1d`` runs: cuDNN / oneDNN accumulate a low-precision convolution over
    all its taps in float32, where the folded form would round between taps; and on a CPU without
    bf16 units oneDNN's bf16 ``conv1d`` is ~2x faster than bf16 matrix products (benchmarks/RESULTS.md)."""
    return torch.is_autocast_enabled(x.device.type)


def _fold(conv: nn.Conv1d, bn: nn.BatchNorm1d, dtype: torch.dtype) -> tuple[Tensor, Tensor, int]:
    """A ``conv1d`` followed by an eval-mode ``BatchNorm1d`` as one affine map (torch's own fusion): weights
    ``(K, C_in, C_out)`` per kernel tap, bias ``(C_out,)``, and the dilation."""
    weight, bias = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps,
                                        bn.weight, bn.bias)
    return (rearrange(weight.detach(), "o c k -> k c o").contiguous().to(dtype), bias.detach().to(dtype),
            conv.dilation[0])


def _conv_time_major(h: Tensor, weight: Tensor, bias: Tensor, dilation: int) -> Tensor:
    """Unpadded dilated ``conv1d`` on time-major ``(T, C_in) -> (T - (K - 1) * dilation, C_out)``."""
    taps = weight.shape[0]
    length = h.shape[0] - (taps - 1) * dilation
    out = torch.addmm(bias, h[:length], weight[0])
    for k in range(1, taps):
        out.addmm_(h[k * dilation: k * dilation + length], weight[k])
    return out


def _strided_conv(h: Tensor, weight: Tensor, width: int) -> Tensor:
    """``conv1d`` with stride = kernel = ``width`` on time-major ``(B, T, C_in) -> (B, T / width, C_out)``."""
    windows = rearrange(h, "b (t k) c -> b t (k c)", k=width)
    return windows @ rearrange(weight, "o c k -> (k c) o")


def _batch_norm(bn: nn.BatchNorm1d, h: Tensor) -> Tensor:
    """Apply a ``BatchNorm1d`` (statistics over batch and time) to time-major ``(B, T, C)``."""
    b, t, c = h.shape
    return bn(h.reshape(b * t, c)).reshape(b, t, c)


def receptive_field_of(filter_widths: list[int]) -> int:
    """Receptive field of a stack of filter widths (their product)."""
    return math.prod(filter_widths)
