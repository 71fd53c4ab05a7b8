"""The sweep's search on Optuna: W&B parameters as Optuna suggestions, samplers for
grid/random/bayes, and W&B's hyperband stopping rule as an Optuna pruner.

- ``grid``: every combination is enqueued once, in YAML order, when the study is created
  (as the W&B controller walks the grid); a resumed or second worker pops what is left.
- ``random``: :class:`optuna.samplers.RandomSampler`.
- ``bayes``: :class:`optuna.samplers.TPESampler` stands in for W&B's Gaussian-process search
  (both model good and bad regions from finished runs; the proposals differ).
- ``early_terminate: hyperband``: :class:`WandbHyperband` applies W&B's own rule, not Optuna's
  ``HyperbandPruner`` (which splits trials into brackets that never compete with each other):
  at each band ``b`` (an index into the run's metric history), a running trial stops when its
  value at ``b`` is worse than the ``1/eta`` quantile of every trial's value at ``b``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import optuna

from poseact.sweep.spec import Hyperband, Param, SweepSpec

_JSON = "json:"


def encode(value: Any) -> Any:
    """Optuna stores scalar choices only: lists and mappings travel as JSON strings."""
    if isinstance(value, (list, tuple, dict)):
        return _JSON + json.dumps(value)
    return value


def decode(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_JSON):
        return json.loads(value[len(_JSON):])
    return value


def suggest(trial: optuna.trial.BaseTrial, params: list[Param]) -> dict[str, Any]:
    """Draw every parameter for ``trial`` (constants as written); values as the command gets them."""
    out: dict[str, Any] = {}
    for p in params:
        if p.kind == "constant":
            out[p.key] = p.values[0]
        elif p.kind == "categorical":
            out[p.key] = decode(trial.suggest_categorical(p.key, [encode(v) for v in p.values]))
        elif p.kind == "int_uniform":
            out[p.key] = trial.suggest_int(p.key, int(p.low), int(p.high))
        elif p.kind == "uniform":
            out[p.key] = trial.suggest_float(p.key, p.low, p.high)
        elif p.kind == "q_uniform":
            out[p.key] = _quantize(trial.suggest_float(p.key, p.low, p.high), p.q)
        elif p.kind in ("log_uniform", "log_uniform_values", "inv_log_uniform_values"):
            # 1/X log-uniform on [1/max, 1/min] is X log-uniform on [min, max]
            lo, hi = p.bounds()
            out[p.key] = trial.suggest_float(p.key, lo, hi, log=True)
        elif p.kind == "q_log_uniform_values":
            out[p.key] = _quantize(trial.suggest_float(p.key, p.low, p.high, log=True), p.q)
        else:  # parse_sweep refuses anything else
            raise AssertionError(p.kind)
    return out


def _quantize(x: float, q: float) -> float | int:
    v = round(x / q) * q
    return int(v) if float(q).is_integer() else round(v, 12)  # 0.30000000000000004 -> 0.3


def sampler_for(spec: SweepSpec, seed: int) -> optuna.samplers.BaseSampler:
    """Grid trials are enqueued (their values fixed), so grid needs no sampler of its own."""
    if spec.method == "bayes":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, (spec.run_cap or 20) // 4)))
    return optuna.samplers.RandomSampler(seed=seed)


def grid_trials(spec: SweepSpec) -> list[dict[str, Any]]:
    """The grid's combinations the sweep will run (``run_cap`` first ones), Optuna-encoded."""
    combos = spec.grid()[: spec.total_trials()]
    return [{k: encode(v) for k, v in combo.items() if k in {p.key for p in spec.searched}} for combo in combos]


class WandbHyperband(optuna.pruners.BasePruner):
    """W&B's ``hyperband`` early termination (``sweeps.hyperband_stopping``) over Optuna trials.

    A trial's history is its intermediate values in step order (step = history index). At the
    last band ``b`` the trial has passed (``len(history) > b``), it is stopped when
    ``history[b]`` is worse than ``sorted(values at b over all trials)[int(len / eta)]``.
    """

    def __init__(self, hyperband: Hyperband, goal: str) -> None:
        self.bands = list(hyperband.bands)
        self.r = 1.0 / hyperband.eta
        self.sign = -1.0 if goal == "maximize" else 1.0

    def _history(self, trial: optuna.trial.FrozenTrial) -> list[float]:
        vals = [trial.intermediate_values[s] for s in sorted(trial.intermediate_values)]
        return [self.sign * v for v in vals if v is not None and math.isfinite(v)]

    def thresholds(self, study: optuna.Study) -> dict[int, float]:
        states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                  optuna.trial.TrialState.RUNNING)
        histories = [self._history(t) for t in study.get_trials(deepcopy=False, states=states)]
        out = {}
        for band in self.bands:
            at = sorted(h[band] for h in histories if len(h) > band)
            out[band] = at[int(self.r * len(at))] if at else math.inf
        return out

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        history = self._history(trial)
        passed = [b for b in self.bands if b < len(history)]
        if not passed:
            return False
        band = passed[-1]
        return history[band] > self.thresholds(study)[band]
