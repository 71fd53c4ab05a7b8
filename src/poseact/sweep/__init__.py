"""W&B sweep YAMLs run offline: ``poseact sweep sweeps/<name>.yaml``.

The same file runs online with ``wandb sweep`` + ``wandb agent``. Offline, the search runs on
Optuna (samplers, RDB storage that makes a sweep resumable and shareable between workers); each
trial is a real ``poseact fit`` process writing a W&B offline run. Modules: :mod:`.spec` (YAML →
parameters, command), :mod:`.validate` (checks before any trial), :mod:`.search` (Optuna
samplers, W&B's hyperband rule), :mod:`.runner` (trial processes), :mod:`.report` (tables, plot).
"""

from __future__ import annotations

import sys
from pathlib import Path

from poseact.sweep.spec import SweepError, SweepSpec, build_command, load_sweep, parse_sweep

__all__ = ["SweepError", "SweepSpec", "build_command", "load_sweep", "parse_sweep", "run_sweep", "dry_run"]

DEFAULT_ROOT = Path("outputs/sweeps")


def dry_run(spec: SweepSpec, limit: int = 20, max_trials: int | None = None) -> str:
    """Validate, and list the trials a grid would run (or a few random draws) without running them."""
    import optuna

    from poseact.sweep.search import suggest
    from poseact.sweep.validate import validate_sweep

    checked = validate_sweep(spec, max_trials)
    total = spec.total_trials() or max_trials
    lines = [f"sweep {spec.name}: method {spec.method}, metric {spec.metric.name} ({spec.metric.goal}), "
             f"{total if total else 'unbounded (no run_cap)'} trials"
             + (f", hyperband bands {spec.hyperband.bands[:6]} eta {spec.hyperband.eta:g}" if spec.hyperband else ""),
             f"validated: {checked['configs_composed']} {checked['task']} configurations composed from {checked['config']}"
             + (f"; action names checked in {', '.join(checked['stores_checked'])}" if checked["stores_checked"] else "")]
    if spec.method == "grid":
        combos = spec.grid()[: total]
    else:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        combos = [suggest(study.ask(), spec.params) for _ in range(min(limit, total or limit))]
    for i, values in enumerate(combos[:limit]):
        lines.append(f"  {i:4d}: {' '.join(build_command(spec, values))}")
    if len(combos) > limit:
        lines.append(f"  ... {len(combos) - limit} more")
    return "\n".join(lines)


def run_sweep(path: str | Path, output: str | Path | None = None, storage: str | None = None,
              workers: int | None = None, max_trials: int | None = None, seed: int = 0, **options):
    """Validate the sweep, run (or resume) it, write the report; returns the report's paths."""
    import optuna

    from poseact.run.registry import family
    from poseact.sweep.report import write_report
    from poseact.sweep.runner import RunOptions, SweepRunner
    from poseact.sweep.validate import validate_sweep

    spec = load_sweep(path)
    checked = validate_sweep(spec, max_trials)
    out = Path(output) if output else DEFAULT_ROOT / spec.name
    from poseact.atomic import check_writable

    check_writable(out / "study.db", "sweep output folder")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    runner = SweepRunner(spec, RunOptions(out_dir=out, storage=storage, workers=workers, max_trials=max_trials,
                                          seed=seed, **options))
    study = runner.run()
    paths = write_report(study, runner.out, spec.metric.name, spec.metric.goal,
                         summary_keys=family(checked["task"]).summary_keys)
    print(f"sweep {spec.name}: report {paths['md']}, plot {paths['png']}", file=sys.stderr)
    return paths
