"""DirSAGE (ours): direction-aware, synapse-weighted GraphSAGE with jumping knowledge.

Each layer mixes three views of a neuron: itself, the synapse-weighted mean of
its *inputs* (presynaptic partners) and, with separate weights, of its
*outputs* (postsynaptic partners)::

    h' = ReLU(LayerNorm(W_self h + W_in · mean_in(h) + W_out · mean_out(h)))

Weights are ``log1p(synapses)``; a neuron's type shows in whom it listens to and
whom it drives, which an undirected, unweighted mean blurs. The classifier reads
the concatenation of every layer's output (jumping knowledge), so 1-hop and
2-hop evidence both reach it.

Examples
--------
>>> import torch, numpy as np, scipy.sparse as sp
>>> from connectome.gnn.models.operators import build_operators
>>> ops = build_operators(sp.csr_array(np.array([[0, 3.0], [1.0, 0]])), DirSAGE.operators)
>>> DirSAGE(in_features=4, n_classes=3, hidden=8)(torch.randn(2, 4), ops).shape
torch.Size([2, 3])
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .base import CellTypeModel

__all__ = ["DirSAGE"]


class DirSAGE(CellTypeModel):
    """Direction-aware, synapse-weighted message passing (see the module docstring).

    Parameters
    ----------
    in_features, n_classes : int
    hidden : int
    layers : int
        Message-passing layers (after an input projection).
    dropout : float
    """

    operators: tuple[str, ...] = ("in_mean", "out_mean")

    def __init__(self, in_features: int, n_classes: int, hidden: int = 128, layers: int = 2,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.inp = nn.Linear(in_features, hidden)
        self.lin_self = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.lin_in = nn.ModuleList(nn.Linear(hidden, hidden, bias=False) for _ in range(layers))
        self.lin_out = nn.ModuleList(nn.Linear(hidden, hidden, bias=False) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.head = nn.Linear(hidden * (layers + 1), n_classes)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, ops: dict[str, Any], y: torch.Tensor | None = None) -> torch.Tensor:
        a_in, a_out = ops["in_mean"], ops["out_mean"]
        h = F.dropout(F.relu(self.inp(x)), self.dropout, self.training)
        hs = [h]
        for lin_s, lin_i, lin_o, norm in zip(self.lin_self, self.lin_in, self.lin_out, self.norms):
            m = lin_s(h) + lin_i(a_in @ h) + lin_o(a_out @ h)
            h = F.dropout(F.relu(norm(m)), self.dropout, self.training)
            hs.append(h)
        return self.head(torch.cat(hs, dim=1))
