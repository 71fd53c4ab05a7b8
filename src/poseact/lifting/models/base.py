"""What a lifter architecture declares about itself: the base class every lifter derives from.

A lifter class says, as class attributes and methods, everything the rest of poseact needs to know
about it, so that nothing outside its module branches on its name:

* ``name`` — the ``model.name`` that selects it;
* ``Config`` — its ``model`` config section, a dataclass derived from :class:`LifterConfig` holding
  its own keys only (a temporal run's config carries no transformer depth);
* ``seq2seq`` — whether a training example has several output frames (a clip) or one;
* ``free_keys`` — section keys that leave the meaning of the weights unchanged (dropout, stochastic
  depth, training stride): every other key of ``Config`` is an *architecture key*, compared when a run
  resumes or loads weights (:meth:`Lifter.architecture_keys`), so a new key is checked unless declared free;
* ``config_checks`` — its keys' meaning (ranges), as ``(ok, key, message)`` triples;
* ``from_config`` / ``architecture`` — build from a section; the section values that rebuild it;
* the window geometry the data pipeline reads (``pad``, ``causal_shift``, ``frames_out``,
  ``receptive_field``) and the export form (:meth:`Lifter.export_module`,
  :meth:`Lifter.export_inputs`, :meth:`Lifter.export_geometry`), whose defaults follow from ``seq2seq``.

Every lifter maps ``(B, T, J_in, F)`` normalised 2-D to ``(B, T', J_out, 3)`` metres: ``forward`` over
a whole (padded) sequence, ``forward_train`` over training windows of exactly ``frames_in`` frames.
Registering the class (:func:`poseact.lifting.models.register_lifter`) is all that makes it known.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import torch
from torch import Tensor, nn


@dataclass
class LifterConfig:
    """The keys every lifter's ``model`` section has; each architecture derives its own section."""

    name: str = ""  # the architecture (poseact.lifting.models.LIFTERS)
    trajectory: bool = False  # also train the trajectory model (always on in semi-supervised runs)

    @property
    def causal(self) -> bool:
        """Whether the lifter sees past frames only (a section that can be causal has the key)."""
        return False

    @property
    def train_stride(self) -> int | None:
        """Frames between training examples (null: one per output frame, non-overlapping clips)."""
        return None


class Lifter(nn.Module):
    """Base of every lifter architecture (see the module docstring for what a subclass declares)."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[LifterConfig]] = LifterConfig
    seq2seq: ClassVar[bool] = False
    free_keys: ClassVar[tuple[str, ...]] = ()

    # -- what the class declares -------------------------------------------------------------------

    @classmethod
    def architecture_keys(cls) -> tuple[str, ...]:
        """The section keys a checkpoint fixes: ``name`` and every key of ``Config`` not declared free
        (``trajectory`` is checked on its own: it says whether a second model exists)."""
        own = [f.name for f in fields(cls.Config) if f.name not in ("name", "trajectory", *cls.free_keys)]
        return ("name", *own)

    @classmethod
    def config_checks(cls, section: LifterConfig) -> list[tuple[bool, str, str]]:
        """``(ok, key, message)`` for the section's values (ranges the types cannot say)."""
        return []

    @classmethod
    def from_config(cls, section: LifterConfig, num_joints_in: int, in_features: int,
                    num_joints_out: int) -> Lifter:
        """The network a ``model`` section describes, sized for the data."""
        raise NotImplementedError

    def architecture(self) -> dict:
        """The ``model`` section values that rebuild this network (saved in checkpoints)."""
        raise NotImplementedError

    # -- window geometry (defaults: a clip of ``receptive_field`` frames in and out) ----------------

    @property
    def pad(self) -> int:
        """Frames of context each side of the output frame(s) (0 for a seq2seq clip)."""
        return 0

    @property
    def causal_shift(self) -> int:
        """How far training windows move into the past (``pad`` for a causal lifter, else 0)."""
        return 0

    @property
    def frames_out(self) -> int:
        """Output frames per training window."""
        return 1

    @property
    def receptive_field(self) -> int:
        """Input frames per training window."""
        return 2 * self.pad + self.frames_out

    def set_bn_momentum(self, momentum: float) -> None:
        """Set the running-statistics momentum of every BatchNorm layer (none: nothing to do). Called
        every training step: the layers are looked up once."""
        layers = self.__dict__.get("_batchnorm_layers")
        if layers is None:
            layers = [m for m in self.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
            self.__dict__["_batchnorm_layers"] = layers
        for m in layers:
            m.momentum = momentum

    def forward_train(self, x: Tensor) -> Tensor:
        """Training windows of exactly ``receptive_field`` frames → ``(B, frames_out, J_out, 3)``."""
        return self(x)

    # -- the exported form ------------------------------------------------------------------------

    def export_geometry(self) -> dict:
        """What an exported file takes: ``before`` / ``after`` (edge-padding frames of a sliding
        lifter), ``frames`` (the fixed clip length of a seq2seq lifter, else None) and ``input``, the
        frame-count rule in words."""
        if self.seq2seq:
            t = int(self.receptive_field)
            return {"before": 0, "after": 0, "frames": t, "input": f"exactly 'frames' = {t} frames"}
        before, after = int(self.pad + self.causal_shift), int(self.pad - self.causal_shift)
        return {"before": before, "after": after, "frames": None,
                "input": f"L >= {before + after + 1}, padded by 'before'/'after' edge-replicated frames"}

    def export_module(self) -> nn.Module:
        """The module an exported file runs: a sliding lifter as it is (any length), a seq2seq
        lifter's fixed-length clip form (``forward_train``)."""
        return _ClipForm(self).eval() if self.seq2seq else self

    def export_inputs(self, generator: torch.Generator, num_joints_in: int,
                      in_features: int) -> tuple[Tensor, Tensor]:
        """``(trace input, check input)`` in [-1, 1): the check differs from the trace in batch and,
        where the file takes any length, in length."""
        j, f = num_joints_in, in_features
        if self.seq2seq:
            t = int(self.receptive_field)
            return (torch.rand(1, t, j, f, generator=generator) * 2 - 1,
                    torch.rand(2, t, j, f, generator=generator) * 2 - 1)
        rf = int(self.receptive_field)
        return (torch.rand(1, rf + 4, j, f, generator=generator) * 2 - 1,
                torch.rand(3, rf + 37, j, f, generator=generator) * 2 - 1)


class _ClipForm(nn.Module):
    """A seq2seq lifter's clip form as a module of its own (what TorchScript / ONNX trace)."""

    def __init__(self, inner: Lifter) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: Tensor) -> Tensor:
        return self.inner.forward_train(x)
