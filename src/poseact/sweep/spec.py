"""Read a W&B sweep YAML into a :class:`SweepSpec`: flat parameters, search method, metric,
early termination, run cap and the trial command.

The same file runs online (``wandb sweep`` + ``wandb agent``) and offline (``poseact sweep``);
this module reproduces the W&B semantics the offline runner needs:

- a parameter is ``value`` (constant), ``values`` (a list to choose from) or a distribution
  (``min``/``max`` with no ``distribution`` means ``int_uniform`` when both bounds are integers,
  else ``uniform``, as in W&B);
- a parameter holding ``parameters`` is a group: its leaves become dot keys (``optim.lr``);
- ``${args_no_hyphens}`` in ``command`` expands to ``key=value`` with Python's ``str(value)``,
  exactly as the W&B agent formats it, so a value that breaks online breaks offline too.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from poseact.errors import SweepError


METHODS = ("grid", "random", "bayes")
#: distributions poseact sweep samples (W&B names); the others W&B knows are refused by name
DISTRIBUTIONS = ("constant", "categorical", "int_uniform", "uniform", "q_uniform", "log_uniform",
                 "log_uniform_values", "inv_log_uniform_values", "q_log_uniform_values")
WANDB_ONLY = ("normal", "q_normal", "log_normal", "q_log_normal", "beta", "q_beta", "inv_log_uniform",
              "q_log_uniform", "categorical_w_probabilities")
TOP_KEYS = {"program", "method", "metric", "parameters", "early_terminate", "run_cap", "command", "name",
            "description", "project", "entity", "controller", "job", "image_uri"}
PARAM_KEYS = {"value", "values", "distribution", "min", "max", "q", "mu", "sigma", "a", "b",
              "probabilities", "parameters"}
DEFAULT_COMMAND = ["${env}", "${interpreter}", "${program}", "${args}"]
_MACRO = re.compile(r"\$\{([a-z_]+)\}")
_ENVVAR = re.compile(r"\$\{envvar:([A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Param:
    """One swept key (flattened: ``data.sampling.mode``) and how its values are drawn."""

    key: str
    kind: str  # one of DISTRIBUTIONS
    values: tuple = ()  # constant: (value,); categorical: the choices
    low: float | None = None  # bounds as written in the YAML (log_uniform: exponents)
    high: float | None = None
    q: float | None = None

    def candidates(self) -> list:
        """Values to check before a sweep starts: every choice, or both ends of a range."""
        if self.kind in ("constant", "categorical"):
            return list(self.values)
        lo, hi = self.bounds()
        if self.kind == "int_uniform":
            return [int(lo), int(hi)]
        return [lo, hi]

    def bounds(self) -> tuple[float, float]:
        """The range of the values themselves (``log_uniform`` exponents undone)."""
        if self.kind == "log_uniform":
            return math.exp(self.low), math.exp(self.high)
        return self.low, self.high


@dataclass
class Metric:
    name: str
    goal: str = "minimize"

    @property
    def direction(self) -> str:
        return self.goal  # optuna spells them the same way

    @property
    def intermediate(self) -> str:
        """The per-epoch series hyperband compares: ``test/p1`` -> ``val/p1``."""
        return "val/" + self.name.split("/", 1)[1] if self.name.startswith("test/") else self.name


@dataclass
class Hyperband:
    """W&B's ``early_terminate: {type: hyperband}``: the bands (history indices) where runs are checked."""

    bands: list[int]
    eta: float


@dataclass
class SweepSpec:
    path: Path
    name: str
    method: str
    metric: Metric
    params: list[Param]
    command: list[str]
    program: str | None = None
    run_cap: int | None = None
    hyperband: Hyperband | None = None
    raw: dict = field(default_factory=dict)

    def where(self, key: str = "") -> str:
        return f"sweep {str(self.path)!r}" + (f": {key}" if key else "")

    @property
    def searched(self) -> list[Param]:
        return [p for p in self.params if p.kind != "constant"]

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of the ``values`` lists (constants included), in YAML order."""
        choices = [p.values for p in self.params]
        return [dict(zip([p.key for p in self.params], combo)) for combo in itertools.product(*choices)]

    def grid_size(self) -> int:
        return math.prod(len(p.values) for p in self.params)

    def total_trials(self) -> int | None:
        """How many trials the sweep runs: the grid size capped by ``run_cap``; ``run_cap`` otherwise."""
        if self.method == "grid":
            return min(self.grid_size(), self.run_cap) if self.run_cap else self.grid_size()
        return self.run_cap

    def fit_command(self) -> tuple[str, list[str]]:
        """The experiment YAML the command trains and the fixed overrides written beside it."""
        cmd = [str(c) for c in self.command]
        if "fit" not in cmd or cmd.index("fit") + 1 >= len(cmd):
            raise SweepError(f"{self.where('command')} must run `poseact fit CONFIG ...` "
                             f"(e.g. [${{env}}, ${{interpreter}}, -m, poseact, fit, configs/experiment/demo.yaml, "
                             f"${{args_no_hyphens}}]), got {cmd}")
        i = cmd.index("fit")
        if "${args_no_hyphens}" not in cmd[i + 1:]:
            raise SweepError(f"{self.where('command')} does not pass the trial's values: it needs "
                             f"${{args_no_hyphens}} after `fit CONFIG` (the key=value overrides poseact reads); "
                             f"without it every trial would train the same configuration. Got {cmd}")
        config = cmd[i + 1]
        fixed = [c for c in cmd[i + 2:] if not _MACRO.fullmatch(c)]
        return config, fixed


def format_override(key: str, value: Any) -> str:
    """``key=value`` as the W&B agent writes it (``str(value)``)."""
    return f"{key}={value}"


def build_command(spec: SweepSpec, values: dict[str, Any], interpreter: str | None = None) -> list[str]:
    """The trial's argv: the YAML's ``command`` with its macros filled in as the W&B agent does
    (``${env}`` is dropped: the runner passes the environment itself)."""
    flat = [format_override(k, v) for k, v in values.items()]
    macros = {
        "env": [],
        "interpreter": [interpreter or sys.executable],
        "program": [spec.program] if spec.program else None,
        "args": ["--" + f for f in flat],
        "args_no_hyphens": flat,
        "args_no_equals": [x for k, v in values.items() for x in (f"--{k}", str(v))],
        "args_no_boolean_flags": [f"--{k}" if v is True else f"--{k}={v}" for k, v in values.items() if v is not False],
        "args_json": [json.dumps(values)],
        "args_append_hydra": ["+" + f for f in flat],
        "args_override_hydra": ["++" + f for f in flat],
    }
    out: list[str] = []
    for chunk in spec.command:
        chunk = _ENVVAR.sub(lambda m: os.environ.get(m.group(1), m.group(1)), str(chunk))
        m = _MACRO.fullmatch(chunk)
        if not m:
            out.append(chunk)
            continue
        if m.group(1) not in macros:
            raise SweepError(f"{spec.where('command')}: unknown macro {chunk!r}; known: "
                             + ", ".join("${" + k + "}" for k in macros))
        if macros[m.group(1)] is None:
            raise SweepError(f"{spec.where('command')} uses ${{program}} but the sweep names no program")
        out += macros[m.group(1)]
    return out


def _flatten(params: Any, prefix: str, where: str) -> list[tuple[str, dict]]:
    if not isinstance(params, dict) or not params:
        raise SweepError(f"{where}: 'parameters' must be a non-empty mapping of key -> spec")
    out = []
    for name, body in params.items():
        key = f"{prefix}{name}"
        if not isinstance(body, dict):
            raise SweepError(f"{where}: parameters.{key} must be a mapping (value, values, or a distribution), "
                             f"got {body!r}")
        if "parameters" in body:
            extra = set(body) - {"parameters"}
            if extra:
                raise SweepError(f"{where}: parameters.{key} holds nested 'parameters' and also {sorted(extra)}")
            out += _flatten(body["parameters"], key + ".", where)
        else:
            out.append((key, body))
    return out


def _param(key: str, body: dict, where: str) -> Param:
    w = f"{where}: parameters.{key}"
    unknown = set(body) - PARAM_KEYS
    if unknown:
        raise SweepError(f"{w}: unknown field(s) {sorted(unknown)}; a parameter has value, values, or "
                         f"distribution/min/max/q")
    if "probabilities" in body:
        raise SweepError(f"{w}: 'probabilities' is a W&B-only feature poseact sweep does not sample; "
                         f"repeat values instead")
    dist = body.get("distribution")
    if dist is None:
        if "value" in body:
            dist = "constant"
        elif "values" in body:
            dist = "categorical"
        elif "min" in body and "max" in body:
            both_int = all(isinstance(body[k], int) and not isinstance(body[k], bool) for k in ("min", "max"))
            dist = "int_uniform" if both_int else "uniform"
        else:
            raise SweepError(f"{w}: give value, values, or min and max (optionally with a distribution)")
    if dist in WANDB_ONLY:
        raise SweepError(f"{w}: distribution {dist!r} is known to W&B but not sampled by poseact sweep; "
                         f"supported: {', '.join(DISTRIBUTIONS)}")
    if dist not in DISTRIBUTIONS:
        raise SweepError(f"{w}: unknown distribution {dist!r}; supported: {', '.join(DISTRIBUTIONS)}")
    if dist == "constant":
        if "value" not in body:
            raise SweepError(f"{w}: distribution constant needs 'value'")
        return Param(key, dist, (body["value"],))
    if dist == "categorical":
        values = body.get("values")
        if not isinstance(values, list):
            raise SweepError(f"{w}: 'values' must be a list, got {values!r}")
        if not values:
            raise SweepError(f"{w}: 'values' is an empty list")
        return Param(key, dist, tuple(values))
    lo, hi = body.get("min"), body.get("max")
    for name, v in (("min", lo), ("max", hi)):
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            hint = " (YAML reads 1e-4 as a string: write 1.0e-4)" if isinstance(v, str) and _is_float(v) else ""
            raise SweepError(f"{w}: distribution {dist} needs a numeric '{name}', got {v!r}{hint}")
    if lo > hi:
        raise SweepError(f"{w}: min {lo} > max {hi}")
    if dist == "int_uniform" and not (float(lo).is_integer() and float(hi).is_integer()):
        raise SweepError(f"{w}: int_uniform needs integer min and max, got {lo}, {hi}")
    if dist in ("log_uniform_values", "inv_log_uniform_values", "q_log_uniform_values") and lo <= 0:
        raise SweepError(f"{w}: {dist} needs min > 0, got {lo}")
    q = body.get("q", 1.0 if dist.startswith("q_") else None)
    if q is not None and (not isinstance(q, (int, float)) or q <= 0):
        raise SweepError(f"{w}: 'q' must be a positive number, got {q!r}")
    return Param(key, dist, (), float(lo) if dist != "int_uniform" else int(lo),
                 float(hi) if dist != "int_uniform" else int(hi), q)


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _hyperband(et: Any, where: str) -> Hyperband | None:
    if et is None:
        return None
    if not isinstance(et, dict) or et.get("type") != "hyperband":
        raise SweepError(f"{where}: early_terminate.type must be 'hyperband' (the only type W&B has), got {et!r}")
    eta = et.get("eta", 3)
    if not isinstance(eta, (int, float)) or eta <= 1:
        raise SweepError(f"{where}: early_terminate.eta must be > 1, got {eta!r}")
    if "max_iter" in et:  # W&B: bands max_iter/eta, max_iter/eta^2, ... (s of them)
        max_iter, s = et["max_iter"], et.get("s", 0)
        if not isinstance(max_iter, int) or max_iter < 1 or not isinstance(s, int) or s < 1:
            raise SweepError(f"{where}: early_terminate with max_iter needs integers max_iter >= 1 and s >= 1")
        bands, band = [], float(max_iter)
        for _ in range(s):
            band /= eta
            if band < 1:
                break
            bands.append(int(band))
        bands.sort()
    elif "min_iter" in et:  # W&B: bands min_iter, min_iter*eta, min_iter*eta^2, ...
        min_iter = et["min_iter"]
        if not isinstance(min_iter, int) or min_iter < 1:
            raise SweepError(f"{where}: early_terminate.min_iter must be an integer >= 1, got {min_iter!r}")
        bands = [int(min_iter * eta ** i) for i in range(32) if min_iter * eta ** i < 1e7]
    else:
        raise SweepError(f"{where}: early_terminate needs min_iter, or max_iter and s")
    if not bands:
        raise SweepError(f"{where}: early_terminate gives no band (increase max_iter or decrease eta)")
    return Hyperband(bands, float(eta))


def parse_sweep(data: dict, path: str | os.PathLike = "sweep.yaml") -> SweepSpec:
    """Check a sweep mapping (what ``yaml.safe_load`` of the file gives) and flatten it."""
    where = f"sweep {str(path)!r}"
    if not isinstance(data, dict):
        raise SweepError(f"{where} must hold a mapping")
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise SweepError(f"{where}: unknown top-level key(s) {sorted(unknown)}; known: {sorted(TOP_KEYS)}")
    method = data.get("method")
    if method not in METHODS:
        raise SweepError(f"{where}: method must be one of {', '.join(METHODS)}, got {method!r}")
    metric = data.get("metric")
    if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
        raise SweepError(f"{where}: metric.name is required (e.g. metric: {{name: val/p1, goal: minimize}})")
    goal = metric.get("goal", "minimize")
    if goal not in ("minimize", "maximize"):
        raise SweepError(f"{where}: metric.goal must be minimize or maximize, got {goal!r}")
    params = [_param(k, b, where) for k, b in _flatten(data.get("parameters"), "", where)]
    if method == "grid":
        bad = [p.key for p in params if p.kind not in ("constant", "categorical")]
        if bad:
            raise SweepError(f"{where}: method grid needs 'values' (or 'value') for every parameter; "
                             f"{bad} use distributions")
    run_cap = data.get("run_cap")
    if run_cap is not None and (not isinstance(run_cap, int) or isinstance(run_cap, bool) or run_cap < 1):
        raise SweepError(f"{where}: run_cap must be a positive integer, got {run_cap!r}")
    command = data.get("command", DEFAULT_COMMAND)
    if not isinstance(command, list) or not command:
        raise SweepError(f"{where}: command must be a non-empty list")
    name = data.get("name") or Path(str(path)).stem
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", str(name)):
        raise SweepError(f"{where}: name {name!r} must be letters, digits, '_', '-' or '.' (it names a folder)")
    return SweepSpec(Path(str(path)), str(name), method, Metric(metric["name"], goal), params,
                     [str(c) for c in command], data.get("program"), run_cap,
                     _hyperband(data.get("early_terminate"), where), data)


def load_sweep(path: str | os.PathLike) -> SweepSpec:
    """Read and check a sweep YAML file."""
    p = Path(path)
    if not p.exists():
        raise SweepError(f"sweep {str(p)!r}: file not found")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise SweepError(f"sweep {str(p)!r} is not valid YAML: {e}") from None
    return parse_sweep(data, p)
