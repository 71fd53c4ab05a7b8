"""Run `poseact fit` and record, per rank, which training samples each epoch used.

Usage: python record_samples.py OUT_DIR CONFIG [key=value ...]; writes OUT_DIR/rank<r>.json
({epoch: [dataset indices]}). Works under strategy=ddp (this script is re-executed per rank).
"""

import json
import sys
from collections import defaultdict
from pathlib import Path

import pytorch_lightning as pl

from poseact.run import commands
from poseact.run.config import load_config


class RecordSamples(pl.Callback):
    def __init__(self, out: Path) -> None:
        self.out, self.seen = out, defaultdict(list)

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.seen[trainer.current_epoch] += batch["index"].tolist()

    def on_train_end(self, trainer, module) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / f"rank{trainer.global_rank}.json").write_text(json.dumps(self.seen))


if __name__ == "__main__":
    out, config, *overrides = sys.argv[1:]
    commands.fit(load_config(config, overrides), callbacks=[RecordSamples(Path(out))])
