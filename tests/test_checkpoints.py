"""``last.ckpt`` follows training, whatever the monitored metric does (resume depends on it)."""

from __future__ import annotations

import pytest
import torch

from poseact.run.trainer import checkpoint_callbacks


class _Regressor:
    """A one-layer model whose logged validation metric never improves after the first epoch."""

    @staticmethod
    def module():
        import pytorch_lightning as pl

        class Module(pl.LightningModule):
            def __init__(self) -> None:
                super().__init__()
                self.layer = torch.nn.Linear(4, 1)

            def training_step(self, batch, batch_idx):
                x, y = batch
                return torch.nn.functional.mse_loss(self.layer(x), y)

            def validation_step(self, batch, batch_idx):
                # worse every epoch: the best checkpoint stays at epoch 0
                self.log("val/p1", float(self.current_epoch), batch_size=1)

            def configure_optimizers(self):
                return torch.optim.SGD(self.parameters(), lr=0.01)

        return Module()


def _loader():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 4, generator=g)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8)


@pytest.mark.parametrize("limits", [{"max_epochs": 3}, {"max_epochs": -1, "max_steps": 13}],
                         ids=["epochs", "budget ending mid-epoch"])
def test_last_checkpoint_is_the_last_step_even_when_the_metric_gets_worse(tmp_path, limits):
    import pytorch_lightning as pl

    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                         callbacks=checkpoint_callbacks(tmp_path, "val/p1", "min"), **limits)
    trainer.fit(_Regressor.module(), _loader(), _loader())
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["epoch000.ckpt", "last.ckpt"], files
    last = torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert last["global_step"] == trainer.global_step == limits.get("max_steps", 15)
    assert torch.load(tmp_path / "epoch000.ckpt", weights_only=False)["global_step"] == 5
