"""GraphSAGE baseline (flywire-gnn setup): two ``SAGEConv`` (mean) layers, undirected, unweighted.

Examples
--------
>>> import torch, numpy as np, scipy.sparse as sp
>>> from connectome.gnn.models.operators import build_operators
>>> ops = build_operators(sp.csr_array(np.array([[0, 1.0], [0, 0]])), GraphSAGE.operators)
>>> GraphSAGE(in_features=4, n_classes=3)(torch.randn(2, 4), ops).shape
torch.Size([2, 3])
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import SAGEConv

from .base import CellTypeModel

__all__ = ["GraphSAGE"]


class GraphSAGE(CellTypeModel):
    """``SAGEConv → ReLU → dropout → SAGEConv`` (hidden 128, mean aggregation, as flywire-gnn).

    The graph is passed as a CSR adjacency (operator ``"undirected"``); pass
    ``edge_index`` instead through ``ops={"undirected": edge_index}`` to compare.
    """

    operators: tuple[str, ...] = ("undirected",)

    def __init__(self, in_features: int, n_classes: int, hidden: int = 128, layers: int = 2,
                 dropout: float = 0.5) -> None:
        super().__init__()
        dims = [in_features] + [hidden] * (layers - 1) + [n_classes]
        self.convs = nn.ModuleList(SAGEConv(a, b, aggr="mean") for a, b in zip(dims[:-1], dims[1:]))
        self.dropout = dropout

    def forward(self, x: torch.Tensor, ops: dict[str, Any], y: torch.Tensor | None = None) -> torch.Tensor:
        adj = ops["undirected"]
        for conv in self.convs[:-1]:
            x = F.dropout(F.relu(conv(x, adj)), self.dropout, self.training)
        return self.convs[-1](x, adj)
