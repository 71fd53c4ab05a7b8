"""Lifter architectures, by ``model.name``: one module each, registered in :data:`LIFTERS`.

Every lifter maps ``(B, T, J_in, F)`` normalised 2-D to ``(B, T', J_out, 3)`` metres and tells the
data pipeline what it needs through its window geometry (:meth:`poseact.lifting.windows.Windowing.of`):
``pad`` (context frames each side of its outputs), ``causal_shift`` (how far windows move into the
past), ``frames_out`` (output frames per training example: 1 for the temporal convolutions, the clip
length for seq2seq models). It trains on windows through ``forward_train`` and evaluates whole
sequences through ``forward``; ``set_bn_momentum`` (a no-op without BatchNorm) and
``architecture()`` (the config fields that rebuild it) complete the interface the lifting module
relies on. A new architecture is one module here and one line in :data:`LIFTERS`.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from poseact.lifting.models.mixste import MixSTE
from poseact.lifting.models.temporal import TemporalLifter

#: ``model.name`` → ``factory(model_config, num_joints_in, in_features, num_joints_out)``
LIFTERS: dict[str, Callable[..., nn.Module]] = {
    "temporal": TemporalLifter.from_config,
    "mixste": MixSTE.from_config,
}


def build_lifter(model, num_joints_in: int, in_features: int, num_joints_out: int) -> nn.Module:
    """The lifter ``model.name`` names, sized for the data (``model``: a ``ModelConfig``)."""
    try:
        factory = LIFTERS[model.name]
    except KeyError:
        from poseact.errors import ConfigError

        raise ConfigError(f"model.name must be one of {sorted(LIFTERS)}, got {model.name!r}") from None
    return factory(model, num_joints_in, in_features, num_joints_out)
