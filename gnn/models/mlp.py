"""MLP baseline (flywire-gnn setup): two linear layers on node features, no graph.

Examples
--------
>>> import torch
>>> m = MLP(in_features=10, n_classes=3)
>>> m(torch.randn(5, 10), {}).shape
torch.Size([5, 3])
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .base import CellTypeModel

__all__ = ["MLP"]


class MLP(CellTypeModel):
    """``Linear → ReLU → dropout → Linear`` (hidden 128, as flywire-gnn).

    Parameters
    ----------
    in_features, n_classes : int
    hidden : int
    layers : int
        Number of linear layers (2 in the flywire-gnn setup).
    dropout : float
    """

    operators: tuple[str, ...] = ()

    def __init__(self, in_features: int, n_classes: int, hidden: int = 128, layers: int = 2,
                 dropout: float = 0.5) -> None:
        super().__init__()
        dims = [in_features] + [hidden] * (layers - 1) + [n_classes]
        self.lins = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.dropout = dropout

    def forward(self, x: torch.Tensor, ops: dict[str, Any], y: torch.Tensor | None = None) -> torch.Tensor:
        for lin in self.lins[:-1]:
            x = F.dropout(F.relu(lin(x)), self.dropout, self.training)
        return self.lins[-1](x)
