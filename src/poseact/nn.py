"""Small torch helpers every model family uses."""

from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of ``model`` (buffers, such as fixed soft-argmax ramps, are not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
