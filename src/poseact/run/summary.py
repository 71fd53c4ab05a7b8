"""``results/summary.json``: one self-describing shape for every family.

::

    {"family": "lifting", "name": "demo", "seed": 0, "commit": "<git sha>" | null, "stage": "fit" | "test",
     "model": {"name": "temporal", ...the model section...},
     "checkpoint": the weights evaluated (null: the fit's final weights),
     "init_checkpoint": the weights a fit started from (or null),
     "trained_on": {"store", "subjects", "actions", "sampling", "store_unlabeled", "subjects_unlabeled"},
     "evaluated_on": {"store", "subjects", "actions"},
     "budget": {"unit", "amount", "sample": what one sample is,
                "planned": {"samples", "steps"}, "done": {"samples", "steps"}},
     "metrics": {"p1": {"value": 41.2, "unit": "mm"}, ...},
     "p1": 41.2, ...}

The last line: every metric also under its bare name (and the family's other legacy keys), as
summaries were written before, so sweep reports, notebooks and scripts that read ``summary["p1"]``
keep working. Values that do not apply to a family are null.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

#: what one training sample is, per family (a budget's samples count these)
SAMPLE_KINDS = {"lifting": "output frame (one frame of a training window's 3-D output)",
                "multitask": "clip (pose pseudo-clips and action clips each count)"}

_UNIT_SUFFIXES = ("_frame_wise", "_action_wise", "_best")
_NOT_METRICS = ("budget_",)


def metric_unit(name: str) -> str | None:
    """The unit of a summary metric (``p1`` → ``mm``, ``test/acc_clip`` → ``%``), None if unknown."""
    from poseact.viz.plots import UNITS

    base = name.split("/")[-1]
    for suffix in _UNIT_SUFFIXES:
        base = base.removesuffix(suffix)
    if base in UNITS:
        return UNITS[base]
    return {"err2d_px": "px", "action_ce": "nats", "acc_video": "%"}.get(base)


def git_commit(start: Path | None = None) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the repository poseact runs from."""
    where = start or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        if not sha:
            return {"commit": None, "dirty": None}
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                                capture_output=True, text=True, timeout=20).stdout
        return {"commit": sha, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _get(obj: Any, dotted: str, default: Any = None) -> Any:
    for key in dotted.split("."):
        obj = getattr(obj, key, None)
        if obj is None:
            return default
    return obj


def data_description(cfg: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(trained_on, evaluated_on)`` of a run's config, in the same keys for every family."""
    d = getattr(cfg, "data", None)
    store = _get(d, "store") or "synthetic (generated from data.synthetic)"
    sampling = _get(d, "sampling.mode")
    trained = {
        "store": store,
        "subjects": list(_get(d, "subjects_train", []) or []),
        "actions": _listed(_get(d, "actions")),
        "sampling": None if sampling is None else {"mode": sampling, "actions": _listed(_get(d, "sampling.actions"))},
        "store_unlabeled": (_get(d, "store_unlabeled") or store) if _get(d, "subjects_unlabeled") else None,
        "subjects_unlabeled": list(_get(d, "subjects_unlabeled", []) or []),
        "downsample": _get(d, "downsample"),
        "subset": _get(d, "subset"),
    }
    pose_sources = _get(d, "pose_sources") or []
    if pose_sources:
        trained["pose_sources"] = [{"store": s.store, "subjects": list(s.subjects), "weight": s.weight}
                                   for s in pose_sources]
    action_source = _get(d, "action_source")
    if action_source is not None:
        trained["action_source"] = {"store": action_source.store, "subjects": list(action_source.subjects)}
    evaluated = {"store": store, "subjects": list(_get(d, "subjects_test", []) or []),
                 "actions": _listed(_get(d, "actions")), "downsample": _get(d, "downsample")}
    return trained, evaluated


def _listed(value: Any) -> list | None:
    return None if value is None else list(value)


def model_description(cfg: Any) -> dict[str, Any]:
    """The model section as plain data, with its ``name`` (the family's name when it has none)."""
    from poseact.run.config import to_dict

    model = to_dict(cfg).get("model") or {}
    return {"name": model.get("name", cfg.task), **model}


def evaluation_data(cfg: Any, datamodule: Any) -> dict[str, Any]:
    """What an evaluation reads: the config's test selection, with the actions and frame count the
    data module actually selected where it says (``test_actions``, ``test_set.views.length``)."""
    _, evaluated = data_description(cfg)
    if hasattr(datamodule, "test_actions"):
        evaluated["actions"] = _listed(datamodule.test_actions)
    views = getattr(getattr(datamodule, "test_set", None), "views", None)
    length = getattr(views, "length", None)
    if length is not None:
        evaluated["sequences"] = int(len(length))
        evaluated["frames"] = int(sum(int(n) for n in length))
    return evaluated


def build_summary(cfg: Any, metrics: dict[str, float], stage: str, budget: dict[str, Any] | None,
                  checkpoint: str | None = None, evaluated: dict[str, Any] | None = None) -> dict[str, Any]:
    """The summary of a finished fit or test: ``metrics`` (the family's final numbers, flat) with
    what produced them (``evaluated``: :func:`evaluation_data`, else the config's test selection)."""
    trained, configured = data_description(cfg)
    evaluated = evaluated or configured
    named = {k: {"value": v, "unit": metric_unit(k)} for k, v in metrics.items()
             if not k.startswith(_NOT_METRICS) and isinstance(v, (int, float))}
    out: dict[str, Any] = dict(metrics)  # the legacy flat keys first; the structured ones win a clash
    out.update({
        "family": cfg.task,
        "name": cfg.name,
        "stage": stage,
        "seed": cfg.seed,
        **git_commit(),
        "model": model_description(cfg),
        "checkpoint": checkpoint,
        "init_checkpoint": getattr(cfg, "init_checkpoint", None),
        "trained_on": trained,
        "evaluated_on": evaluated,
        "budget": budget,
        "metrics": named,
    })
    return out
