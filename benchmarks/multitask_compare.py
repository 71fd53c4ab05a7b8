"""Does sharing help? Multi-task SPNet training against pose-only and action-only training at an
equal number of training iterations, on the rendered synthetic images (deephar's claim that joint
training helps both tasks, spec §5).

One iteration is one training batch: ``multitask`` takes a pose step *and* an action step on it
(two optimizer steps, the reference's ``MultiModelTrainer``), ``pose`` (``train.mode=pose``) only
the pose step, ``action`` (``train.mode=action``) only the action step. So every task gets the same
number of its own optimizer steps and the same data; the multi-task run additionally sees the
other task's supervision (and costs about the sum of the two). Scored after training on the
held-out subjects' centred clips, eval mode: PCKh@0.5 (%), mean 2-D error (pixels of the 64 px
input crop), MPJPE (mm, GT root depth, root-aligned: the reference H36M protocol), action clip
accuracy (%, 10 classes) and its cross-entropy (nats); all from the last output.

    nice -n 5 python benchmarks/multitask_compare.py                   # 2 seeds, the RESULTS.md table
    python benchmarks/multitask_compare.py --iterations 100 --seeds 0  # a quick look
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "experiment" / "multitask_synthetic.yaml"
MODES = ("multitask", "pose", "action")
METRICS = {"val/pckh": ("PCKh@0.5 %", 1), "val/err2d_px": ("2-D err px", 2), "val/mpjpe": ("MPJPE mm", 1),
           "val/acc_clip": ("action acc %", 1), "val/action_ce": ("action CE", 2)}

#: the comparison's data and model (on top of configs/experiment/multitask_synthetic.yaml)
BASE = [
    # 5 training subjects, 2 held out; 1 take of ~4 s per action, 4 cameras, 10 fps
    "data.synthetic.takes_per_action=1", "data.synthetic.seconds_per_take=4.0", "data.render_cameras=[0,1,2,3]",
    "data.subjects_train=[S1,S5,S6,S7,S8]", "data.subjects_test=[S9,S11]",
    "data.clip_length=8", "data.batch_clips=4", "data.subsample_train=[1,2]", "data.subsample_test=1",
    # the tiny SPNet (0.26 M parameters; 2 pyramids, 3 levels, action stream in both)
    "model.growth=16", "model.stem_channels=16", "model.pose_features=32", "model.visual_features=32",
    "model.bn_momentum=0.1",  # running statistics that have caught up after a few hundred steps
    "optim.optimizer=adam", "optim.lr=0.002",
    "logger.wandb=false", "logger.csv=false", "trainer.enable_progress_bar=false",
]


def run(mode: str, seed: int, iterations: int, cache: str, output_dir: Path, extra: list[str]) -> dict[str, float]:
    """Train one configuration for ``iterations`` batches and return the held-out ``val/*`` metrics
    (plus ``time_s``, the wall time of the fit)."""
    import pytorch_lightning as pl

    from poseact.run.config import load_config
    from poseact.run.folder import RunFolder
    from poseact.run.registry import family
    from poseact.run.trainer import build_trainer

    per_epoch = min(iterations, 100)
    if iterations % per_epoch:
        raise SystemExit(f"--iterations must be a multiple of {per_epoch}")
    epochs = iterations // per_epoch
    cfg = load_config(CONFIG, BASE + [f"train.mode={mode}", f"seed={seed}", f"data.synthetic.cache_dir={cache}",
                                      f"data.steps_per_epoch={per_epoch}", f"trainer.max_epochs={epochs}",
                                      f"eval.validate_every_n_epochs={epochs}",
                                      f"output_dir={output_dir / f'{mode}_seed{seed}'}"] + extra)
    pl.seed_everything(seed, verbose=False)
    fam = family("multitask")
    task, dm = fam.build(cfg, "fit")
    trainer = build_trainer(cfg, RunFolder(cfg.output_dir), None, options=fam.trainer_options(cfg, dm, 1))
    t0 = time.perf_counter()
    trainer.fit(task, datamodule=dm)
    elapsed = time.perf_counter() - t0
    trainer.validate(task, datamodule=dm, verbose=False)
    return {**task.last_results, "time_s": elapsed}


def table(rows: list[dict]) -> str:
    """Markdown table: one row per mode, mean ± half-range over seeds (single value for one seed)."""
    head = "| training | " + " | ".join(name for name, _ in METRICS.values()) + " | fit s |"
    lines = [head, "|" + "---|" * (len(METRICS) + 2)]
    for mode in MODES:
        runs = [r for r in rows if r["mode"] == mode]
        if not runs:
            continue
        cells = []
        for key, (_, digits) in list(METRICS.items()) + [("time_s", ("", 0))]:
            vals = [r[key] for r in runs if key in r]
            if not vals:
                cells.append("–")
                continue
            mean = statistics.fmean(vals)
            spread = f" ± {(max(vals) - min(vals)) / 2:.{digits}f}" if len(vals) > 1 else ""
            cells.append(f"{mean:.{digits}f}{spread}")
        lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=1000, help="training batches per run (multiple of 100)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--cache", default=str(REPO / "data" / "synthetic"), help="rendered-store cache")
    p.add_argument("--output", default=str(REPO / "outputs" / "multitask_compare"),
                   help="folder for the runs' configs and results.json")
    p.add_argument("--set", nargs="*", default=[], help="extra config overrides, key=value")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    import pytorch_lightning  # noqa: F401  (its import sets its loggers' level; quieten them after)

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    out = Path(a.output)
    rows: list[dict] = []
    print(f"{a.iterations} iterations per run, seeds {a.seeds}, torch threads {torch.get_num_threads()}", flush=True)
    for seed in a.seeds:
        for mode in a.modes:
            res = run(mode, seed, a.iterations, a.cache, out, list(a.set))
            rows.append({"mode": mode, "seed": seed, **res})
            print(f"{mode:9s} seed {seed}: " + ", ".join(f"{name} {res[k]:.2f}" for k, (name, _) in METRICS.items()
                                                         if k in res) + f", fit {res['time_s']:.0f} s", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main()
