"""Check a sweep against the experiment it trains, before any trial starts.

Every candidate value (each ``values`` entry, both ends of a range) is composed with the
command's config file through :func:`poseact.config.load_config`, so an unknown key, a wrong
type or a value the schema refuses fails here, naming the sweep file and the parameter. Action
filters are matched (name prefixes, as the data module does) against the store each candidate
configuration reads, and a zero budget is refused.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

from poseact.sweep.spec import SweepError, SweepSpec, format_override

ACTION_KEYS = ("data.actions", "data.sampling.actions")
#: grids up to this many combinations are composed in full (each takes a few milliseconds)
FULL_GRID_CHECK = 256


def _load(config: str, overrides: list[str], where: str):
    from poseact.config import ConfigError, load_config

    try:
        return load_config(config, overrides)
    except ConfigError as e:
        raise SweepError(f"{where}: {e}") from None


def _store_actions(path: Path, cache: dict[Path, list[str]], where: str) -> list[str]:
    """The action names of a store, read from its ``actions`` table alone (no frame arrays)."""
    if path not in cache:
        import h5py

        if not path.exists():
            raise SweepError(f"{where}: store {str(path)!r} not found")
        try:
            with h5py.File(path, "r") as f:
                cache[path] = [str(a) for a in f["actions"].asstr()[...]]
        except (OSError, KeyError) as e:
            raise SweepError(f"{where}: store {str(path)!r} has no readable actions table: {e}") from None
    return cache[path]


def check_actions(cfg, where: str, cache: dict[Path, list[str]]) -> None:
    """Every action filter of ``cfg`` must match at least one action of its store."""
    filters = {"data.actions": cfg.data.actions, "data.sampling.actions": cfg.data.sampling.actions}
    if not any(filters.values()):
        return
    if cfg.data.store is not None:  # the common case, without importing Lightning
        path = Path(cfg.data.store)
    else:
        from poseact.data.modules import resolve_store_path  # generates the synthetic store once

        path = Path(resolve_store_path(cfg.data))
    names = _store_actions(path, cache, where)
    for key, prefixes in filters.items():
        for prefix in prefixes or []:
            if not any(name.startswith(str(prefix)) for name in names):
                raise SweepError(f"{where}: {key} entry {prefix!r} matches no action of the store "
                                 f"(actions are matched by prefix; the store has {', '.join(names)})")


def check_budget(key: str, value: Any, where: str) -> None:
    if key == "budget.amount" and isinstance(value, (int, float)) and value <= 0:
        raise SweepError(f"{where}: budget.amount {value!r} is not a budget (it must be > 0; "
                         f"0 silently means trainer.max_epochs)")
    if key == "trainer.max_epochs" and isinstance(value, (int, float)) and value < 1:
        raise SweepError(f"{where}: trainer.max_epochs {value!r} must be >= 1")


def validate_sweep(spec: SweepSpec) -> dict:
    """Raise :class:`SweepError` on the first problem; return what was checked (for ``--dry-run``)."""
    config, fixed = spec.fit_command()
    if not Path(config).exists():
        raise SweepError(f"{spec.where('command')}: config file {config!r} not found "
                         f"(paths are relative to the folder the sweep runs in: {Path.cwd()})")
    stores: dict[Path, list[str]] = {}
    base = _load(config, fixed, spec.where(f"command {config} {' '.join(fixed)}".strip()))
    check_actions(base, spec.where(f"config {config}"), stores)
    composed = 1
    # each candidate is composed with the first candidate of every other parameter, so that
    # parameters that only make sense together (mode=single needs actions) are checked together
    first = {p.key: p.candidates()[0] for p in spec.params}
    for p in spec.params:
        for value in p.candidates():
            where = spec.where(f"parameters.{p.key} value {value!r}")
            check_budget(p.key, value, where)
            values = {**first, p.key: value}
            cfg = _load(config, fixed + [format_override(k, v) for k, v in values.items()], where)
            composed += 1
            if p.key in ACTION_KEYS or p.key.startswith("data."):
                check_actions(cfg, where, stores)
    # combinations, seeds left out (a seed never makes a configuration invalid)
    combined = [p for p in spec.params if p.key != "seed" and len(p.values) > 1]
    if spec.method == "grid" and len(combined) > 1 and math.prod(len(p.values) for p in combined) <= FULL_GRID_CHECK:
        keys = [p.key for p in combined]
        for combo in itertools.product(*(p.values for p in combined)):
            values = dict(zip(keys, combo))
            where = spec.where("combination " + " ".join(format_override(k, v) for k, v in values.items()))
            cfg = _load(config, fixed + [format_override(k, v) for k, v in values.items()], where)
            check_actions(cfg, where, stores)
            composed += 1
    return {"config": config, "fixed_overrides": fixed, "configs_composed": composed,
            "stores_checked": [str(s) for s in stores]}
