"""Check a sweep against the experiment it trains, before any trial starts.

Every candidate value (each ``values`` entry, both ends of a range) is composed with the
command's config file through :func:`poseact.run.config.load_config`, so an unknown key, a wrong
type or a value the schema refuses fails here, naming the sweep file and the parameter. Each
composed configuration then goes through its family's ``sweep_checks`` (the lifter matches action
filters against the store it reads; the multi-task model checks its stores exist), and a random or
bayes sweep without a trial cap is refused, as the run would refuse it.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from poseact.sweep.spec import SweepError, SweepSpec, format_override

#: grids up to this many combinations are composed in full (each takes a few milliseconds)
FULL_GRID_CHECK = 256


def _load(config: str, overrides: list[str], where: str):
    from poseact.errors import ConfigError
    from poseact.run.config import load_config

    try:
        return load_config(config, overrides)
    except ConfigError as e:
        raise SweepError(f"{where}: {e}") from None


def _checked(config: str, overrides: list[str], where: str, cache: dict):
    """Compose one candidate and run its family's checks."""
    from poseact.run.registry import family

    cfg = _load(config, overrides, where)
    family(cfg.task).sweep_checks(cfg, where, cache)
    return cfg


def validate_sweep(spec: SweepSpec, max_trials: int | None = None) -> dict:
    """Raise :class:`SweepError` on the first problem; return what was checked (for ``--dry-run``)."""
    config, fixed = spec.fit_command()
    if not Path(config).exists():
        raise SweepError(f"{spec.where('command')}: config file {config!r} not found "
                         f"(paths are relative to the folder the sweep runs in: {Path.cwd()})")
    if not (spec.total_trials() or max_trials):
        raise SweepError(f"{spec.where('run_cap')}: a {spec.method} sweep without run_cap never ends "
                         f"(W&B runs it until stopped); add run_cap or pass --max-trials")
    cache: dict = {}
    base = _checked(config, fixed, spec.where(f"command {config} {' '.join(fixed)}".strip()), cache)
    composed = 1
    # each candidate is composed with the first candidate of every other parameter, so that
    # parameters that only make sense together (mode=single needs actions) are checked together
    first = {p.key: p.candidates()[0] for p in spec.params}
    for p in spec.params:
        for value in p.candidates():
            values = {**first, p.key: value}
            _checked(config, fixed + [format_override(k, v) for k, v in values.items()],
                     spec.where(f"parameters.{p.key} value {value!r}"), cache)
            composed += 1
    # combinations, seeds left out (a seed never makes a configuration invalid)
    combined = [p for p in spec.params if p.key != "seed" and len(p.values) > 1]
    if spec.method == "grid" and len(combined) > 1 and math.prod(len(p.values) for p in combined) <= FULL_GRID_CHECK:
        keys = [p.key for p in combined]
        for combo in itertools.product(*(p.values for p in combined)):
            values = dict(zip(keys, combo))
            where = spec.where("combination " + " ".join(format_override(k, v) for k, v in values.items()))
            _checked(config, fixed + [format_override(k, v) for k, v in values.items()], where, cache)
            composed += 1
    return {"config": config, "fixed_overrides": fixed, "configs_composed": composed, "task": base.task,
            "stores_checked": [str(s) for s in cache]}
