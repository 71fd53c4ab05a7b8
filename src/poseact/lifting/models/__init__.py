"""Lifter architectures, by ``model.name``: one module each, registered in :data:`LIFTERS`.

Every lifter maps ``(B, T, J_in, F)`` normalised 2-D to ``(B, T', J_out, 3)`` metres and tells the
data pipeline what it needs through three properties: ``pad`` (context frames each side of an
output frame), ``causal_shift`` (how far windows move into the past) and ``receptive_field``.
It trains on windows through ``forward_single`` and evaluates whole sequences through
``forward``; ``set_bn_momentum`` and ``architecture()`` (the config fields that rebuild it) complete
the interface the lifting module relies on.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from poseact.lifting.models.temporal import TemporalLifter

#: ``model.name`` → ``factory(model_config, num_joints_in, in_features, num_joints_out)``
LIFTERS: dict[str, Callable[..., nn.Module]] = {
    "temporal": TemporalLifter.from_config,
}


def build_lifter(model, num_joints_in: int, in_features: int, num_joints_out: int) -> nn.Module:
    """The lifter ``model.name`` names, sized for the data (``model``: a ``ModelConfig``)."""
    try:
        factory = LIFTERS[model.name]
    except KeyError:
        from poseact.errors import ConfigError

        raise ConfigError(f"model.name must be one of {sorted(LIFTERS)}, got {model.name!r}") from None
    return factory(model, num_joints_in, in_features, num_joints_out)
