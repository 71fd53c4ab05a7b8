"""A third model family in one module, as a researcher would add one: the run layer trains it,
checkpoints it, resumes it and evaluates it without a line of run-layer code changing.

The task: regress ``y = x · w`` (fixed ``w``) from random ``x`` with one linear layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from poseact.errors import ConfigError
from poseact.run.config import RunConfig
from poseact.run.registry import Family


@dataclass
class ToyData:
    samples: int = 64
    features: int = 3
    batch_size: int = 16


@dataclass
class ToyConfig(RunConfig):
    task: str = "toy"
    name: str = "toy"
    data: ToyData = field(default_factory=ToyData)
    lr: float = 0.1


class ToyFamily(Family):
    name = "toy"
    schema = ToyConfig
    summary_keys = ("mse",)
    monitor = ("val/mse", "min")

    def validate(self, cfg: ToyConfig) -> None:
        if cfg.data.samples < cfg.data.batch_size:
            raise ConfigError(f"data.samples must be >= data.batch_size, got {cfg.data.samples}")

    def build(self, cfg: ToyConfig, stage: str):
        import pytorch_lightning as pl
        import torch

        class Module(pl.LightningModule):
            def __init__(self) -> None:
                super().__init__()
                self.save_hyperparameters({"family": "toy"})
                self.layer = torch.nn.Linear(cfg.data.features, 1)
                self.mse = float("nan")

            def training_step(self, batch, batch_idx):
                x, y = batch
                return torch.nn.functional.mse_loss(self.layer(x), y)

            def _score(self, batch, stage):
                x, y = batch
                self.mse = float(torch.nn.functional.mse_loss(self.layer(x), y))
                self.log(f"{stage}/mse", self.mse, batch_size=len(x))

            def validation_step(self, batch, batch_idx):
                self._score(batch, "val")

            def test_step(self, batch, batch_idx):
                self._score(batch, "test")

            def configure_optimizers(self):
                return torch.optim.SGD(self.parameters(), lr=cfg.lr)

        class Data(pl.LightningDataModule):
            def _loader(self, seed: int):
                g = torch.Generator().manual_seed(seed)
                x = torch.randn(cfg.data.samples, cfg.data.features, generator=g)
                y = x @ torch.arange(1.0, cfg.data.features + 1)[:, None]
                return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=cfg.data.batch_size)

            def train_dataloader(self):
                return self._loader(cfg.seed)

            def val_dataloader(self):
                return self._loader(1000)

            def test_dataloader(self):
                return self._loader(1000)

        module = Module()
        if cfg.checkpoint:
            from poseact.run.checkpoints import lightning_state, load_checkpoint_file

            module.load_state_dict(lightning_state(load_checkpoint_file(cfg.checkpoint), cfg.checkpoint))
        return module, Data()

    def report(self, cfg: ToyConfig, module, folder, global_zero: bool) -> dict[str, float]:
        return {"mse": module.mse}

    def predict(self, cfg: ToyConfig, output: Path) -> Path:
        np.save(output, np.zeros(1))
        return output

    def owns_checkpoint(self, raw: dict) -> bool:
        return (raw.get("hyper_parameters") or {}).get("family") == "toy"


FAMILY = ToyFamily()
