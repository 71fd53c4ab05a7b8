"""The ``poseact`` command line: fit, test, predict, export, data.

Usage::

    poseact fit CONFIG [key=value ...]       train; resumes from the run's last checkpoint
    poseact test CONFIG [key=value ...]      evaluate checkpoint=... (or the run's last)
    poseact predict CONFIG [key=value ...]   3-D for every test sequence -> predictions.npz
    poseact export CKPT OUT.bin              a lifter checkpoint in VideoPose3D's format
    poseact export CKPT OUT.pt --format torchscript   (or OUT.onnx --format onnx)
    poseact data describe STORE              what a store holds
    poseact data synthetic [key=value ...]   generate (or find) the synthetic store
    poseact data from-videos CLIPS --out U.h5  clips -> an unlabeled store (data.store_unlabeled)
    poseact sweep SWEEP.yaml [--workers N]   run a W&B sweep YAML offline (Optuna; resumable)
    poseact infer INPUT --checkpoint CKPT    3-D from a video, frames or a keypoint file
    poseact detect setup | INPUT --out K     2-D keypoints: MediaPipe (own environment) or multi-task model
    poseact render CONFIG --subject ...      a store sequence: input 2-D, prediction, ground truth

Lightning is imported only by the commands that train or evaluate, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse

from poseact.argtypes import Parser, non_negative_int, positive_int

EPILOG = ("Overrides are OmegaConf dot-lists, e.g. model.channels=256 data.subjects_train=[S1,S5], config "
          "groups (model=mixste27, data=h36m_cpn) and Lightning options (trainer.gradient_clip_val=1.0).")
EXPORT_FORMATS = ("videopose3d", "torchscript", "onnx")


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="poseact", epilog=EPILOG,
                                description="3-D pose and action experiments (VideoPose3D lifter, deephar "
                                            "multi-task model).")
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in (("fit", "train a model (resumes from the run's last checkpoint)"),
                        ("test", "evaluate checkpoint=... on the test subjects"),
                        ("predict", "write 3-D predictions of the test sequences")):
        c = sub.add_parser(name, help=help_, epilog=EPILOG)
        c.add_argument("config", help="experiment YAML, e.g. configs/experiment/demo.yaml")
        c.add_argument("overrides", nargs="*", help="key=value overrides")
        if name == "predict":
            c.add_argument("--out", default=None, help="output .npz (default OUTPUT_DIR/predictions.npz)")
    e = sub.add_parser("export", help="write a checkpoint's model in another format (default: VideoPose3D .bin)")
    e.add_argument("checkpoint")
    e.add_argument("output")
    e.add_argument("--format", default=None, choices=EXPORT_FORMATS,
                   help="default: from OUTPUT's suffix (.bin, .pt, .onnx). videopose3d: an original .bin (temporal "
                        "lifters); torchscript (.pt) or onnx (.onnx): "
                        "a file that runs without poseact, checked against the original on writing (lifters)")
    d = sub.add_parser("data", help="inspect or generate stores")
    dsub = d.add_subparsers(dest="data_command", required=True)
    desc = dsub.add_parser("describe", help="summarise a store")
    desc.add_argument("store")
    syn = dsub.add_parser("synthetic", help="generate the synthetic store (cached)")
    syn.add_argument("overrides", nargs="*", help="data.synthetic.* overrides, e.g. data.synthetic.seed=1")
    from poseact.infer.unlabeled_store import add_parser as add_from_videos

    add_from_videos(dsub)  # data from-videos
    sw = sub.add_parser("sweep", help="run a W&B sweep YAML offline (no W&B server; resumable)")
    sw.add_argument("sweep", help="sweep YAML, e.g. sweeps/schedules.yaml")
    sw.add_argument("--workers", type=positive_int, default=None, help="parallel trials (default: one per visible GPU, else 1)")
    sw.add_argument("--storage", default=None, help="Optuna RDB URL shared by workers (default: sqlite in --output)")
    sw.add_argument("--output", default=None, help="sweep folder (default outputs/sweeps/<sweep name>)")
    sw.add_argument("--max-trials", type=positive_int, default=None, help="cap for random/bayes sweeps without run_cap")
    sw.add_argument("--seed", type=non_negative_int, default=0, help="sampler seed (random/bayes)")
    sw.add_argument("--dry-run", action="store_true", help="validate and list the trial commands; run nothing")
    from poseact.infer.commands import add_parsers as add_media_parsers

    add_media_parsers(sub)  # infer, detect, render
    return p


def main(argv: list[str] | None = None) -> int:
    """Run a command behind the one error boundary (:func:`poseact.errors.run_cli`): a user error is
    one line ``poseact: error: ...`` and exit 2, Ctrl-C exit 130, a bug keeps its traceback."""
    from poseact.errors import handle_interrupts, run_cli

    handle_interrupts()
    args = _parser().parse_args(argv)
    return run_cli("poseact", lambda: _run(args, whole_process=argv is None))


def _run(args, whole_process: bool = False) -> int:
    """``whole_process``: this command is the process (the ``poseact`` program, not ``main([...])``
    called from someone's Python), so process-wide settings such as the allocator's may change."""
    if args.command in ("infer", "detect", "render"):
        from poseact.infer.commands import run as run_media

        return run_media(args)
    if args.command == "sweep":
        return _sweep(args)
    if args.command in ("fit", "test", "predict"):
        from poseact.run.allocator import keep_freed_memory
        from poseact.run.trainer import preload_wandb, wandb_wanted

        if whole_process:  # a process-wide, lasting setting: never for a caller's own process
            keep_freed_memory()  # a step's activations are reused, not page-faulted in again every step

        if args.command == "fit" and wandb_wanted(args.config, args.overrides):
            preload_wandb()  # before torch: W&B's start-up imports are ~1 s cheaper then
        from poseact.run import commands
        from poseact.run.config import load_config

        cfg = load_config(args.config, args.overrides) if args.command == "fit" else \
            commands.evaluation_config(args.config, args.overrides, args.command)  # the run's own config.yaml
        if args.command == "fit":
            commands.fit(cfg)
        elif args.command == "test":
            commands.test(cfg)
        else:
            commands.predict(cfg, args.out)
    elif args.command == "export":
        from poseact.run.commands import export

        from poseact.atomic import check_writable
        from poseact.lifting.export import format_of

        check_writable(args.output, "export")  # a folder in the way is the first thing to say
        print(export(args.checkpoint, args.output, args.format or format_of(args.output)))
    elif args.command == "data" and args.data_command == "from-videos":
        from poseact.infer.unlabeled_store import run_command

        return run_command(args)
    elif args.command == "data":
        from poseact.store import describe, open_store

        if args.data_command == "describe":
            print(describe(open_store(args.store)))
        else:
            from poseact.lifting.datasets import resolve_store_path
            from poseact.run.config import load_config

            cfg = load_config(None, args.overrides)
            print(describe(open_store(resolve_store_path(cfg.data))))
    return 0


def _sweep(args) -> int:
    from poseact.sweep import dry_run, load_sweep, run_sweep

    if args.dry_run:
        if args.storage:
            from poseact.sweep.runner import check_storage

            check_storage(args.storage)
        print(dry_run(load_sweep(args.sweep), max_trials=args.max_trials))
    else:
        run_sweep(args.sweep, output=args.output, storage=args.storage, workers=args.workers,
                  max_trials=args.max_trials, seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
