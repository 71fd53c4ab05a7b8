"""Lifter architectures, by ``model.name``: one module each, registered once in :data:`LIFTERS`.

Every architecture is a class derived from :class:`~poseact.lifting.models.base.Lifter` that
declares its name, its ``model`` config section, whether it is seq2seq, which keys fix its weights
and how it exports (see :mod:`poseact.lifting.models.base`). The config schema, the resume check,
checkpoints and export all read those declarations, so a new architecture is one module plus one
:func:`register_lifter` call (built-ins: the tuple below).

``model`` sections: :func:`model_section` turns a composed ``model`` mapping into the section
dataclass of its architecture, naming unknown keys; keys of the flat ``ModelConfig`` of the previous
release that belong to another architecture are dropped (a one-line deprecation warning when one was
set to something other than its old default, as old run folders' ``config.yaml`` files hold them all).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, fields
from typing import Any

from poseact.errors import ConfigError
from poseact.lifting.models.base import Lifter, LifterConfig
from poseact.lifting.models.mixste import MixSTE, MixSTEConfig
from poseact.lifting.models.temporal import TemporalConfig, TemporalLifter

log = logging.getLogger("poseact")

#: ``model.name`` → the lifter class
LIFTERS: dict[str, type[Lifter]] = {}

#: the flat ``ModelConfig`` of the previous release: every key with its default (one model section for
#: every architecture). Its keys that belong to another architecture than ``model.name`` are dropped
#: from a section, with a deprecation warning where the value differs from this default.
LEGACY_MODEL_DEFAULTS: dict[str, Any] = {
    "name": "temporal", "filter_widths": [3, 3, 3], "channels": 1024, "dropout": 0.25, "causal": False,
    "dense": False, "trajectory": False, "frames": 243, "depth": 8, "width": 512, "heads": 8,
    "mlp_ratio": 2.0, "drop_path": 0.1, "train_stride": None,
}

_warned: set[str] = set()


def register_lifter(cls: type[Lifter]) -> type[Lifter]:
    """Make ``cls`` selectable as ``model.name=<cls.name>`` (usable as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Lifter)) or not cls.name:
        raise TypeError(f"{cls!r} is not a named Lifter subclass")
    if not issubclass(cls.Config, LifterConfig):
        raise TypeError(f"{cls.__name__}.Config must derive from LifterConfig")
    LIFTERS[cls.name] = cls
    return cls


for _cls in (TemporalLifter, MixSTE):
    register_lifter(_cls)


def lifter_class(name: str) -> type[Lifter]:
    """The registered lifter ``model.name`` names; a :class:`ConfigError` for any other name."""
    try:
        return LIFTERS[name]
    except KeyError:
        raise ConfigError(f"model.name must be one of {sorted(LIFTERS)}, got {name!r}") from None


def _norm(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def model_section(raw: Any, where: str = "model", strict: bool = True) -> LifterConfig:
    """A ``model`` mapping (or a section of any architecture) → the section dataclass of the
    architecture its ``name`` says (default ``temporal``).

    ``strict`` (configs): a key neither of that section nor of the previous release's flat section is
    a :class:`ConfigError`, and so is a value of the wrong type. Not strict (checkpoints, whose saved
    hyper-parameters are a superset): unknown keys are dropped quietly."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(raw, LifterConfig):
        if type(raw) is LIFTERS.get(raw.name, Lifter).Config:
            return raw
        raw = asdict(raw)
    raw = dict(raw or {})
    cls = lifter_class(str(raw.get("name") or "temporal"))
    own = {f.name for f in fields(cls.Config)}
    foreign = {k: v for k, v in raw.items() if k not in own}
    unknown = sorted(k for k in foreign if k not in LEGACY_MODEL_DEFAULTS)
    if unknown and strict:
        raise ConfigError(f"{where}.{unknown[0]} is not a key of {where}.name={cls.name} (its keys: "
                          f"{', '.join(sorted(own))}){_did_you_mean(unknown[0], own, where)}")
    if strict and foreign.get("causal"):  # refused before sections were split: still refused
        raise ConfigError(f"{where}.causal is not available for {where}.name={cls.name} (not a key of its section)")
    if strict:
        changed = {k: v for k, v in foreign.items()
                   if k in LEGACY_MODEL_DEFAULTS and _norm(v) != LEGACY_MODEL_DEFAULTS[k]}
        if changed:
            _deprecated(f"{where}: {', '.join(f'{k}={v}' for k, v in changed.items())} "
                        f"{'is not a key' if len(changed) == 1 else 'are not keys'} of {where}.name={cls.name}; "
                        f"ignored (deprecated: an error in the next release)")
    kept = {k: v for k, v in raw.items() if k in own}
    kept["name"] = cls.name
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls.Config), kept))
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or ""
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"{where}{'.' + key if key else ''}: {msg}") from None


def _did_you_mean(key: str, candidates, where: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, sorted(candidates), n=1)
    return f". Did you mean {where}.{close[0]}?" if close else ""


def known_model_keys() -> set[str]:
    """Every key some registered lifter's section has, and the previous release's flat keys."""
    return {f.name for cls in LIFTERS.values() for f in fields(cls.Config)} | set(LEGACY_MODEL_DEFAULTS)


def check_model_part(part: Any, where: str) -> None:
    """A config file's (or override's) ``model`` mapping, before it is merged: a key no lifter has is a
    :class:`ConfigError` naming ``where`` (the file) and the key (which architecture's keys apply is
    known only once every part is merged: :func:`model_section`)."""
    model = part.get("model") if hasattr(part, "get") else None
    if not hasattr(model, "keys"):
        return
    known = known_model_keys()
    for key in model.keys():
        if str(key) not in known:
            raise ConfigError(f"{where}: key 'model.{key}' is not a key of any lifter's model section"
                              f"{_did_you_mean(str(key), known, 'model')}")


def _deprecated(message: str) -> None:
    """A deprecation as one logged line, once per process."""
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


def ModelConfig(**values: Any) -> LifterConfig:  # noqa: N802 - the previous release's class name
    """Deprecated (one release): the flat ``ModelConfig`` of the previous release; builds the section
    of ``values['name']`` (default ``temporal``) instead."""
    warnings.warn("poseact.lifting.config.ModelConfig is deprecated: use the architecture's own section "
                  "(poseact.lifting.models.TemporalConfig, MixSTEConfig, or lifter_class(name).Config)",
                  DeprecationWarning, stacklevel=2)
    return model_section(values)


def build_lifter(model: LifterConfig, num_joints_in: int, in_features: int, num_joints_out: int) -> Lifter:
    """The lifter ``model.name`` names, sized for the data (``model``: its config section)."""
    section = model_section(model, strict=False)
    return lifter_class(section.name).from_config(section, num_joints_in, in_features, num_joints_out)


__all__ = ["LIFTERS", "LEGACY_MODEL_DEFAULTS", "Lifter", "LifterConfig", "MixSTE", "MixSTEConfig", "ModelConfig",
           "TemporalConfig", "TemporalLifter", "build_lifter", "check_model_part", "known_model_keys", "lifter_class", "model_section",
           "register_lifter"]
