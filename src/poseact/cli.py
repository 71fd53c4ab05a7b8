"""The ``poseact`` command line: fit, test, predict, export, data.

Usage::

    poseact fit CONFIG [key=value ...]       train; resumes from the run's last checkpoint
    poseact test CONFIG [key=value ...]      evaluate checkpoint=... (or the run's last)
    poseact predict CONFIG [key=value ...]   3-D for every test sequence -> predictions.npz
    poseact export CKPT OUT.bin              a poseact checkpoint in VideoPose3D's format
    poseact data describe STORE              what a store holds
    poseact data synthetic [key=value ...]   generate (or find) the synthetic store

Lightning is imported only by the commands that train or evaluate, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import sys

EPILOG = "Overrides are OmegaConf dot-lists, e.g. model.channels=256 data.subjects_train=[S1,S5]."


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="poseact", description="3-D pose experiments (VideoPose3D lifter).",
                                epilog=EPILOG)
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in (("fit", "train a model (resumes from the run's last checkpoint)"),
                        ("test", "evaluate checkpoint=... on the test subjects"),
                        ("predict", "write 3-D predictions of the test sequences")):
        c = sub.add_parser(name, help=help_, epilog=EPILOG)
        c.add_argument("config", help="experiment YAML, e.g. configs/experiment/demo.yaml")
        c.add_argument("overrides", nargs="*", help="key=value overrides")
        if name == "predict":
            c.add_argument("--out", default=None, help="output .npz (default OUTPUT_DIR/predictions.npz)")
    e = sub.add_parser("export", help="convert a poseact .ckpt to a VideoPose3D .bin")
    e.add_argument("checkpoint")
    e.add_argument("output")
    d = sub.add_parser("data", help="inspect or generate stores")
    dsub = d.add_subparsers(dest="data_command", required=True)
    desc = dsub.add_parser("describe", help="summarise a store")
    desc.add_argument("store")
    syn = dsub.add_parser("synthetic", help="generate the synthetic store (cached)")
    syn.add_argument("overrides", nargs="*", help="data.synthetic.* overrides, e.g. data.synthetic.seed=1")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from poseact.config import ConfigError, load_config
    from poseact.data.lifting import SelectionError
    from poseact.data.store import StoreError

    try:
        if args.command in ("fit", "test", "predict"):
            import importlib

            from poseact.config import task_spec

            cfg = load_config(args.config, args.overrides)
            runner = importlib.import_module(task_spec(cfg.task).runner)
            if args.command == "fit":
                runner.fit(cfg)
            elif args.command == "test":
                runner.test(cfg)
            else:
                runner.predict(cfg, args.out)
        elif args.command == "export":
            from poseact.experiment import export_videopose3d

            print(export_videopose3d(args.checkpoint, args.output))
        elif args.command == "data":
            from poseact.data.store import describe, open_store

            if args.data_command == "describe":
                print(describe(open_store(args.store)))
            else:
                from poseact.data.modules import resolve_store_path

                cfg = load_config(None, args.overrides)
                print(describe(open_store(resolve_store_path(cfg.data))))
    except (ConfigError, StoreError, SelectionError, FileNotFoundError) as e:
        print(f"poseact: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
