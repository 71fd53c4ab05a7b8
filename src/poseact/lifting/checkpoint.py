"""Lifter checkpoints: one reader for poseact's Lightning ``.ckpt`` and VideoPose3D's ``.bin``, and
the writer of ``.bin`` files (``poseact export``).

A VideoPose3D file is a ``torch.save`` dict with ``epoch``, ``lr``, ``random_state`` (a pickled numpy
RandomState, read as an inert stand-in: checkpoints are read by :mod:`poseact.safe_load`), ``optimizer``, ``model_pos``, ``model_traj`` (state dict or None) and
``random_state_semi``; its architecture is inferred from the tensor shapes (spec §1.6), and whether
it is causal is not recorded (the caller says). A poseact checkpoint is self-describing: its
hyper-parameters hold the family, the ``model`` section (architecture, causal, dense, ...), the input
joints and features, and the 2-D / 3-D layouts. The format is recognised from the content, not the
file name.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from poseact.atomic import atomic_output
from poseact.errors import CheckpointError
from poseact.run.checkpoints import has_weights, lightning_state, load_checkpoint_file, saved_family

log = logging.getLogger("poseact")

FAMILY = "lifting"


@dataclass(frozen=True)
class LifterArchitecture:
    """What a temporal-convolution state dict says about the network that produced it."""

    num_joints_in: int
    in_features: int
    num_joints_out: int
    filter_widths: tuple[int, ...]
    channels: int


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


def _complete_bn_keys(state: dict[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
    """Add ``num_batches_tracked`` for checkpoints from PyTorch 0.4 (spec §1.7)."""
    state = dict(state)
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)
    return state


def load_lifter_state(model: nn.Module, state: dict[str, Tensor], where: str = "checkpoint") -> None:
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


def is_lifter_checkpoint(raw: dict) -> bool:
    """Whether a loaded checkpoint holds a lifter (poseact lifting run or VideoPose3D file)."""
    family = saved_family(raw)
    if family is not None:
        return family == FAMILY
    return "model_pos" in raw or has_weights(raw, "model.expand_conv.")


@dataclass
class LifterCheckpoint:
    """A lifter checkpoint, whatever its format: reference-named state dicts and what rebuilds them."""

    path: Path
    format: str  # "poseact" (a lifting run's .ckpt) or "videopose3d" (.bin)
    pose: dict[str, Tensor]
    trajectory: dict[str, Tensor] | None
    model: dict  # the model config section: name, filter_widths, channels, dropout, causal, dense
    num_joints_in: int
    in_features: int
    num_joints_out: int
    layout_2d: str | None = None  # None: the file does not say (.bin)
    layout_3d: str | None = None
    epoch: int | None = None
    lr: float | None = None

    @property
    def where(self) -> str:
        return f"checkpoint {str(self.path)!r}"

    @property
    def causal(self) -> bool:
        return bool(self.model.get("causal", False))

    def build(self) -> tuple[nn.Module, nn.Module | None]:
        """``(pose model, trajectory model or None)`` in eval mode, weights loaded strictly."""
        from poseact.lifting.models import build_lifter, model_section

        cfg = model_section(self.model, strict=False)  # its architecture's keys (saved sections may hold more)
        pose = build_lifter(cfg, self.num_joints_in, self.in_features, self.num_joints_out)
        load_lifter_state(pose, self.pose, where=f"{self.where} (pose model)")
        traj = None
        if self.trajectory is not None:
            traj = build_lifter(cfg, self.num_joints_in, self.in_features, 1)
            load_lifter_state(traj, self.trajectory, where=f"{self.where} (trajectory model)")
        return pose.eval(), None if traj is None else traj.eval()


def read_lifter_checkpoint(path: str | os.PathLike, num_joints_in: int | None = None, causal: bool | None = None,
                           raw: dict | None = None) -> LifterCheckpoint:
    """Read a lifter checkpoint (``raw``: the file already loaded). ``num_joints_in`` splits a
    ``.bin``'s input channels into joints × features; ``causal`` says whether a ``.bin`` (which does
    not record it) is causal. Errors name the file and say what it is instead."""
    path = Path(path)
    where = f"checkpoint {str(path)!r}"
    raw = load_checkpoint_file(path) if raw is None else raw
    if "model_pos" in raw:
        pose, traj = raw["model_pos"], raw.get("model_traj")
        if not isinstance(pose, dict):
            raise CheckpointError(f"{where}: 'model_pos' is not a state dict")
        arch = infer_architecture(pose, num_joints_in, where=where)
        model = {"name": "temporal", "filter_widths": list(arch.filter_widths), "channels": arch.channels,
                 "causal": bool(causal), "dense": False}
        return LifterCheckpoint(path, "videopose3d", pose, traj if isinstance(traj, dict) else None, model,
                                arch.num_joints_in, arch.in_features, arch.num_joints_out,
                                epoch=raw.get("epoch"), lr=raw.get("lr"))
    if "state_dict" not in raw:
        raise CheckpointError(f"{where} is not a poseact or VideoPose3D checkpoint (top-level entries: "
                              f"{sorted(raw)[:6]})")
    if not is_lifter_checkpoint(raw):
        from poseact.run.registry import not_of_family

        raise not_of_family(raw, path, FAMILY)
    state = lightning_state(raw, path)
    parts = {pre: {k.removeprefix(pre): v for k, v in state.items() if k.startswith(pre)}
             for pre in ("model.", "trajectory_model.")}
    if not parts["model."]:
        raise CheckpointError(f"{where} holds no lifter weights (keys {sorted(state)[:4]} ...)")
    hp = raw.get("hyper_parameters") or {}
    model = hp.get("model")
    if model is not None and all(k in hp for k in ("num_joints_in", "in_features", "num_joints_out")):
        j_in, feats, j_out = int(hp["num_joints_in"]), int(hp["in_features"]), int(hp["num_joints_out"])
    else:  # written before checkpoints described their model: read the shapes
        arch = infer_architecture(parts["model."], hp.get("num_joints_in") or num_joints_in, where=where)
        j_in, feats, j_out = arch.num_joints_in, arch.in_features, arch.num_joints_out
        model = model or _model_from_run_folder(path, arch)
    epoch = raw.get("epoch")
    lr = None
    if raw.get("optimizer_states"):
        lr = float(raw["optimizer_states"][0]["param_groups"][0]["lr"])
    return LifterCheckpoint(path, "poseact", parts["model."], parts["trajectory_model."] or None, dict(model),
                            j_in, feats, j_out,
                            layout_2d=hp.get("layout_2d"), layout_3d=hp.get("layout_3d"),
                            epoch=None if epoch is None else int(epoch) + 1, lr=lr)


def _model_from_run_folder(path: Path, arch: LifterArchitecture) -> dict:
    """The model section of an old checkpoint (before poseact saved it in the file): the shapes, plus
    ``causal`` / ``dense`` from the run's ``config.yaml`` when the checkpoint still lies in its run."""
    from poseact.run.folder import RunFolder

    model = {"name": "temporal", "filter_widths": list(arch.filter_widths), "channels": arch.channels}
    folder = RunFolder.of_checkpoint(path)
    saved = (folder.read_config() or {}).get("model", {}) if folder is not None else {}
    if folder is None:
        log.warning("checkpoint %s predates self-describing checkpoints and lies outside its run folder: "
                    "assuming a non-causal, dilated model", path)
    model.update(causal=bool(saved.get("causal", False)), dense=bool(saved.get("dense", False)))
    return model


def save_videopose3d_checkpoint(
    path: str | os.PathLike, pose: nn.Module, traj: nn.Module | None = None,
    epoch: int = 0, lr: float = 0.0, optimizer: dict | None = None,
) -> Path:
    """Write a file in the original format (readable by the reference ``run.py --evaluate``).

    Written atomically. ``random_state`` entries are None: poseact samplers are seeded per epoch.
    Weights that are not finite (a run whose loss exploded) are refused: the file would compute NaN.
    """
    for name, model in (("model_pos", pose), ("model_traj", traj)):
        bad = [k for k, v in ({} if model is None else model.state_dict()).items()
               if v.is_floating_point() and not bool(torch.isfinite(v).all())]
        if bad:
            raise CheckpointError(f"cannot export to {str(path)!r}: {name} has non-finite (NaN or inf) weights in "
                                  f"{bad[:3]}{' ...' if len(bad) > 3 else ''}; the exported model would output "
                                  f"NaN (was the checkpoint written after the training loss diverged?)")
    payload = {
        "epoch": int(epoch), "lr": float(lr), "random_state": None, "optimizer": optimizer or {},
        "model_pos": {k: v.detach().cpu() for k, v in pose.state_dict().items()},
        "model_traj": None if traj is None else {k: v.detach().cpu() for k, v in traj.state_dict().items()},
        "random_state_semi": None,
    }
    try:
        with atomic_output(path) as tmp:
            torch.save(payload, tmp)
    except RuntimeError as e:  # torch reports a failed write (a full disk) as a RuntimeError, no file named
        import shutil

        folder = Path(path).parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        first = str(e).strip().splitlines()[0][:120]
        raise CheckpointError(f"{str(path)!r} could not be written ({first}); {shutil.disk_usage(folder).free / 1e6:.1f} "
                              f"MB free there — No space left on device?; nothing was left behind") from None
    return Path(path)
