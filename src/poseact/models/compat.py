"""Original VideoPose3D checkpoints (``.bin``): read them into poseact lifters, write them back.

The file is a ``torch.save`` dict with ``epoch``, ``lr``, ``random_state`` (a pickled numpy
RandomState), ``optimizer``, ``model_pos``, ``model_traj`` (state dict or None) and
``random_state_semi``. Architecture is inferred from the tensor shapes (spec §1.6).
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from poseact.models.temporal import TemporalLifter

BN_PREFIXES = ("expand_bn",)


@dataclass(frozen=True)
class LifterArchitecture:
    """What a state dict says about the network that produced it."""

    num_joints_in: int
    in_features: int
    num_joints_out: int
    filter_widths: tuple[int, ...]
    channels: int

    def build(self, causal: bool = False, dropout: float = 0.25) -> TemporalLifter:
        return TemporalLifter(self.num_joints_in, self.in_features, self.num_joints_out,
                              list(self.filter_widths), causal=causal, dropout=dropout, channels=self.channels)


class CheckpointError(ValueError):
    """A checkpoint does not look like a VideoPose3D / poseact lifter checkpoint."""


def infer_architecture(state: dict[str, Tensor], num_joints_in: int | None = None,
                       where: str = "checkpoint") -> LifterArchitecture:
    """Infer ``(J_in, F, J_out, widths, C)`` from a lifter state dict (dilated, non-dense).

    ``expand_conv.weight`` is ``(C, J_in * F, w0)``; ``J_in * F`` is split using
    ``num_joints_in`` when given, else by assuming F = 2 (x, y) when divisible, else 3.
    """
    try:
        expand = state["expand_conv.weight"]
        shrink = state["shrink.weight"]
    except KeyError as e:
        raise CheckpointError(f"{where}: no {e.args[0]!r}; keys found: {sorted(state)[:8]} ...") from None
    channels, in_channels, w0 = expand.shape
    n_convs = len({k.split(".")[1] for k in state if k.startswith("layers_conv.")})
    widths = [int(w0)] + [int(state[f"layers_conv.{2 * i}.weight"].shape[2]) for i in range(n_convs // 2)]
    if num_joints_in is not None:
        if in_channels % num_joints_in:
            raise CheckpointError(f"{where}: expand_conv takes {in_channels} input channels, not a multiple "
                                  f"of {num_joints_in} joints")
        j_in, feats = num_joints_in, in_channels // num_joints_in
    else:
        feats = 2 if in_channels % 2 == 0 else 3
        j_in = in_channels // feats
    return LifterArchitecture(int(j_in), int(feats), int(shrink.shape[0]) // 3, tuple(widths), int(channels))


def _complete_bn_keys(state: dict[str, Tensor], model: TemporalLifter) -> dict[str, Tensor]:
    """Add ``num_batches_tracked`` for checkpoints from PyTorch 0.4 (spec §1.7)."""
    state = dict(state)
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)
    return state


def load_lifter_state(model: TemporalLifter, state: dict[str, Tensor], where: str = "checkpoint") -> None:
    """Load a reference-format state dict into ``model`` strictly, naming any mismatch."""
    state = _complete_bn_keys(state, model)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
             for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(f"{where}: does not fit the lifter — missing {missing[:5]}, unexpected "
                              f"{unexpected[:5]}, shape mismatches {wrong[:5]}")
    model.load_state_dict(state)


def read_videopose3d_checkpoint(path: str | os.PathLike) -> dict:
    """Read an original ``.bin`` file. It pickles numpy RandomState objects, so it is loaded with
    ``weights_only=False``: only open files you trust (the released ones, or your own)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {str(path)!r} not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as e:
        raise CheckpointError(f"checkpoint {str(path)!r} could not be read: {e}") from None
    if not isinstance(ckpt, dict) or "model_pos" not in ckpt:
        keys = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"checkpoint {str(path)!r} has no 'model_pos' (found {keys})")
    return ckpt


def load_videopose3d_checkpoint(
    path: str | os.PathLike, num_joints_in: int | None = None, causal: bool = False,
) -> tuple[TemporalLifter, TemporalLifter | None, dict]:
    """Build the pose model (and trajectory model if the file has one) from an original file.

    ``model_traj: None`` (saved by supervised runs) means no trajectory model (reference bug
    #191 fixed). Returns ``(pose_model, traj_model_or_None, metadata)`` with metadata holding
    ``epoch`` and ``lr``.
    """
    ckpt = read_videopose3d_checkpoint(path)
    where = f"checkpoint {str(path)!r}"
    arch = infer_architecture(ckpt["model_pos"], num_joints_in, where=f"{where} model_pos")
    pose = arch.build(causal=causal)
    load_lifter_state(pose, ckpt["model_pos"], where=f"{where} model_pos")
    traj = None
    if ckpt.get("model_traj") is not None:
        traj_arch = infer_architecture(ckpt["model_traj"], arch.num_joints_in, where=f"{where} model_traj")
        traj = traj_arch.build(causal=causal)
        load_lifter_state(traj, ckpt["model_traj"], where=f"{where} model_traj")
    return pose, traj, {"epoch": ckpt.get("epoch"), "lr": ckpt.get("lr")}


def save_videopose3d_checkpoint(
    path: str | os.PathLike, pose: TemporalLifter, traj: TemporalLifter | None = None,
    epoch: int = 0, lr: float = 0.0, optimizer: dict | None = None,
) -> Path:
    """Write a file in the original format (readable by the reference ``run.py --evaluate``).

    Written atomically. ``random_state`` entries are None: poseact samplers are seeded per epoch.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "epoch": int(epoch), "lr": float(lr), "random_state": None, "optimizer": optimizer or {},
        "model_pos": {k: v.detach().cpu() for k, v in pose.state_dict().items()},
        "model_traj": None if traj is None else {k: v.detach().cpu() for k, v in traj.state_dict().items()},
        "random_state_semi": None,
    }
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path
