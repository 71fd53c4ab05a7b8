"""Collectives for evaluation under DDP: every rank scores a disjoint shard, every rank gets the total.

Both functions are no-ops (``None`` / the input) without an initialised process group of more
than one rank, so evaluation code calls them unconditionally. With NCCL the current CUDA device
must be set (Lightning does).
"""

from __future__ import annotations

from typing import Any

import torch


def world_size() -> int:
    """Ranks in the default process group (1 when there is none)."""
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_objects(obj: Any) -> list[Any] | None:
    """Every rank's ``obj`` (picklable), in rank order; None when not distributed."""
    world = world_size()
    if world <= 1:
        return None
    gathered: list[Any] = [None] * world
    torch.distributed.all_gather_object(gathered, obj)
    return gathered


def sum_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``values`` over ranks (a new tensor; ``values`` itself when alone)."""
    if world_size() <= 1:
        return values
    out = values.clone()
    torch.distributed.all_reduce(out)
    return out
