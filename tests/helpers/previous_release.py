"""Checkpoints in the previous release's format, written the way that release wrote them.

That release saved the lifter's whole flat ``model`` section in the checkpoint's hyper-parameters
(every architecture's keys: a temporal run also carried MixSTE's ``frames``, ``depth``, ...), with
the state dict's names as today. These files are built here instead of being committed: the
weights are a fresh model's, the structure is the release's (checked against files that release
wrote: same top-level keys, same hyper-parameter keys, same state-dict names).
"""

from __future__ import annotations

from pathlib import Path

import torch

from poseact.lifting.models import MixSTE, TemporalLifter

#: the previous release's flat model section, as its temporal and MixSTE test runs saved it
FLAT_SECTIONS = {
    "temporal": {"name": "temporal", "filter_widths": [3, 3, 3], "channels": 8, "dropout": 0.25, "causal": False,
                 "dense": False, "trajectory": True, "frames": 243, "depth": 8, "width": 512, "heads": 8,
                 "mlp_ratio": 2.0, "drop_path": 0.1, "train_stride": None},
    "mixste": {"name": "mixste", "filter_widths": [3, 3, 3], "channels": 1024, "dropout": 0.25, "causal": False,
               "dense": False, "trajectory": False, "frames": 9, "depth": 1, "width": 8, "heads": 2,
               "mlp_ratio": 2.0, "drop_path": 0.1, "train_stride": 9},
}


def _networks(flat: dict) -> dict[str, torch.nn.Module]:
    if flat["name"] == "temporal":
        pose = TemporalLifter(17, 2, 17, flat["filter_widths"], dropout=flat["dropout"], channels=flat["channels"])
        traj = TemporalLifter(17, 2, 1, flat["filter_widths"], dropout=flat["dropout"], channels=flat["channels"])
        return {"model.": pose, "trajectory_model.": traj}
    pose = MixSTE(num_joints_in=17, in_features=2, num_joints_out=17, frames=flat["frames"], depth=flat["depth"],
                  width=flat["width"], heads=flat["heads"])
    return {"model.": pose}


def write_previous_release_checkpoint(folder: Path, name: str) -> Path:
    """``folder/<name>.ckpt`` (``name``: temporal | mixste) in the previous release's format."""
    flat = FLAT_SECTIONS[name]
    torch.manual_seed(0)
    state = {prefix + k: v for prefix, net in _networks(flat).items() for k, v in net.state_dict().items()}
    ckpt = {"epoch": 0, "global_step": 8, "pytorch-lightning_version": "2.6.6", "state_dict": state,
            "loops": {}, "callbacks": {}, "optimizer_states": [], "lr_schedulers": [], "hparams_name": None,
            "hyper_parameters": {"family": "lifting", "num_joints_in": 17, "in_features": 2, "num_joints_out": 17,
                                 "layout_2d": "h36m17", "layout_3d": "h36m17", "model": dict(flat)}}
    path = Path(folder) / f"{name}.ckpt"
    torch.save(ckpt, path)
    return path
