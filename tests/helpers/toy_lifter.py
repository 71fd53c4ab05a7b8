"""A third lifter architecture in one module, as a researcher would add one: a class that declares
its name, its config section, that it is not seq2seq, which keys fix its weights; one
``register_lifter(ToyLifter)`` and the run layer fits, resumes, tests, predicts and exports it.

The network: a per-frame linear map of a window of ``2 * context + 1`` frames (one ``conv1d``), a
ReLU and a linear head — ``(B, T, J_in, F) -> (B, T - 2 * context, J_out, 3)`` metres.
"""

from __future__ import annotations

from dataclasses import dataclass

from einops import rearrange
from torch import Tensor, nn

from poseact.lifting.models.base import Lifter, LifterConfig


@dataclass
class ToyConfig(LifterConfig):
    """The ``model`` section of ``name: toy``."""

    name: str = "toy"
    context: int = 1  # frames each side of the output frame
    hidden: int = 16  # channels of the hidden layer
    dropout: float = 0.0  # does not change the weights' meaning: a free key


class ToyLifter(Lifter):
    name = "toy"
    Config = ToyConfig
    seq2seq = False
    free_keys = ("dropout",)

    def __init__(self, num_joints_in: int, in_features: int, num_joints_out: int, context: int = 1,
                 hidden: int = 16, dropout: float = 0.0) -> None:
        super().__init__()
        self.num_joints_in, self.in_features, self.num_joints_out = num_joints_in, in_features, num_joints_out
        self.context, self.hidden, self.dropout_p = context, hidden, dropout
        self.window = nn.Conv1d(num_joints_in * in_features, hidden, 2 * context + 1)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Conv1d(hidden, 3 * num_joints_out, 1)

    @classmethod
    def config_checks(cls, section: ToyConfig) -> list[tuple[bool, str, str]]:
        return [(section.context >= 0, "model.context", f"must be >= 0, got {section.context}"),
                (section.hidden >= 1, "model.hidden", f"must be >= 1, got {section.hidden}")]

    @classmethod
    def from_config(cls, section: ToyConfig, num_joints_in: int, in_features: int, num_joints_out: int) -> ToyLifter:
        return cls(num_joints_in, in_features, num_joints_out, section.context, section.hidden, section.dropout)

    def architecture(self) -> dict:
        return {"name": self.name, "context": self.context, "hidden": self.hidden, "dropout": self.dropout_p}

    @property
    def pad(self) -> int:
        return self.context

    def forward(self, x: Tensor) -> Tensor:
        h = self.drop(self.window(rearrange(x, "b t j f -> b (j f) t")).relu())
        return rearrange(self.head(h), "b (j c) t -> b t j c", c=3)
