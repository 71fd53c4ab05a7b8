"""Start `poseact fit` and SIGKILL this very process after a given number of training steps.

Usage: python fit_then_die.py STEP CONFIG [key=value ...] — a real, unclean interruption at a
deterministic point (mid-epoch), for the resume test.
"""

import os
import signal
import sys

import pytorch_lightning as pl

from poseact.run import commands
from poseact.run.config import load_config


class DieAtStep(pl.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    step, config, *overrides = sys.argv[1:]
    commands.fit(load_config(config, overrides), callbacks=[DieAtStep(int(step))])
