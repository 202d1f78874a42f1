"""PartnerSAGE (ours, the default): DirSAGE over wiring features *and* partner-type profiles.

The input of every node is its wiring features plus its partner-type profile
(:mod:`connectome.gnn.profiles`): the fraction and number of its input and output synapses
from and onto each *known* cell type. Known means the labels the model is given
(``y >= 0``: the training labels): a validation, test or unlabelled node's label
never enters any feature. The module does all of this itself, as torch-geometric's
``LabelUsage`` does: it holds its :class:`~connectome.gnn.profiles.PartnerProfiles` (built once
per graph from the ``"synapses"`` operator), turns the known labels into profiles
and runs the prediction-reuse rounds in ``forward``; the training loop and the
classifier only pass ``(x, ops, y)``.

Prediction reuse (``reuse=2``, the default; label reuse in Wang et al. 2021,
"Bag of tricks for node classification"): most partners of a neuron have no
training label (they are validation, test or unlabelled nodes), so profiles
from training labels alone are thin. The model's own class probabilities for
those partners are fed back into the profiles, twice, in training and in
prediction alike — predictions, never their labels. On the larva (5 seeds,
same splits) it lifted macro-F1 from 0.718 to 0.754 on ``merge_class`` and from
0.852 to 0.868 on ``simple_group``; one round gave 0.736 / 0.861, three 0.745
(3 seeds) on ``merge_class``. The rounds run without gradients, in evaluation
mode; their result is kept until the weights, the features or the labels change,
so a training step reuses the profiles of the evaluation pass before it.

A training node's own label can come back to it through its partners'
profiles in the second layer (an echo that test nodes do not have);
``label_keep < 1`` (with ``reuse=0``) switches on the label trick instead: each
training step splits the training nodes at random into label *inputs* and loss
*targets* (:meth:`PartnerSAGE.training_step`). On the larva it scored lower
(simple_group macro-F1 0.833 with 0.5, against 0.852 without), so it is off by
default; the benchmark reports it.

Examples
--------
>>> import torch, numpy as np, scipy.sparse as sp
>>> from connectome.gnn.models.operators import build_operators
>>> ops = build_operators(sp.csr_array(np.array([[0, 3.0], [1.0, 0]])), PartnerSAGE.operators)
>>> net = PartnerSAGE(in_features=4, n_classes=3, hidden=8)
>>> net(torch.randn(2, 4), ops, y=torch.tensor([2, -1])).shape   # node 0's label is known, node 1's is not
torch.Size([2, 3])
>>> net.profiles.width
12
"""

from __future__ import annotations

from typing import Any

import torch

from connectome.errors import InputError

from ..profiles import PartnerProfiles, check_label_options
from .dir_sage import DirSAGE

__all__ = ["PartnerSAGE", "MAX_PROFILE_GIB"]

#: Largest memory (GiB) the dense partner-type profiles of a graph may take before the model refuses it.
MAX_PROFILE_GIB = 8.0


class PartnerSAGE(DirSAGE):
    """:class:`~connectome.gnn.models.dir_sage.DirSAGE` whose input includes partner-type profiles it computes itself.

    Parameters
    ----------
    in_features : int
        Wiring features; the module appends ``4 × n_classes`` profile columns itself.
    n_classes, hidden, layers, dropout
        As :class:`~connectome.gnn.models.dir_sage.DirSAGE`.
    reuse : int
        Prediction-reuse rounds (0 to 5; 0: profiles from known labels only).
    label_keep : float
        Share of training labels shown as inputs in each training step (the label trick);
        1 (default) shows them all and every training node carries the loss.
    seed : int
        Seed of the label-trick draws.

    Attributes
    ----------
    profiles : PartnerProfiles or None
        The profiles of the graph last seen (``None`` before the first forward pass).
    """

    operators: tuple[str, ...] = ("in_mean", "out_mean", "synapses")

    def __init__(self, in_features: int, n_classes: int, hidden: int = 128, layers: int = 2,
                 dropout: float = 0.5, *, reuse: int = 2, label_keep: float = 1.0, seed: int = 0) -> None:
        check_label_options(reuse, label_keep)
        super().__init__(in_features + 4 * n_classes, n_classes, hidden, layers, dropout)
        self.n_classes = int(n_classes)
        self.reuse = int(reuse)
        self.label_keep = float(label_keep)
        self.seed = int(seed)
        self.profiles: PartnerProfiles | None = None
        self._graph: tuple[Any, torch.device] | None = None  # (synapse matrix, device) the profiles belong to
        self._generator: torch.Generator | None = None  # label-trick draws, made on first use
        self._memo: tuple[tuple[Any, ...], torch.Tensor] | None = None  # last input: (what it was made from, it)

    def __getstate__(self) -> dict[str, Any]:
        # copies and pickles leave the graph behind (sparse tensors do not copy); the next forward rebuilds it
        return {**self.__dict__, "profiles": None, "_graph": None, "_memo": None}

    def forward(self, x: torch.Tensor, ops: dict[str, Any], y: torch.Tensor | None = None) -> torch.Tensor:
        """Logits from wiring features ``x`` plus the profiles of the known labels ``y`` (``-1``: unknown)."""
        return super().forward(self.inputs(x, ops, y), ops)

    def training_step(self, x: torch.Tensor, ops: dict[str, Any], y: torch.Tensor,
                      train_idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One training forward pass; with ``label_keep < 1`` only the hidden training labels carry the loss."""
        if self.label_keep >= 1:
            return self(x, ops, y), train_idx
        if self._generator is None:
            self._generator = torch.Generator().manual_seed(self.seed)
        keep = (torch.rand(len(train_idx), generator=self._generator) < self.label_keep).to(train_idx.device)
        shown = torch.full_like(y, -1)
        shown[train_idx[keep]] = y[train_idx[keep]]
        prof = self._profiles_for(ops, x.device)
        return super().forward(torch.cat([x, prof(shown, shown >= 0)], 1), ops), train_idx[~keep]

    def inputs(self, x: torch.Tensor, ops: dict[str, Any], y: torch.Tensor | None = None) -> torch.Tensor:
        """Wiring features ``x`` followed by the partner-type profiles (n × (f + 4·classes)).

        With ``reuse = r > 0`` the model's own class probabilities for every node without a
        known label feed back into the profiles ``r`` times: a neuron's profile then counts
        its unlabelled, validation and test partners by their *predicted* types.
        """
        prof = self._profiles_for(ops, x.device)
        if y is None:
            y = torch.full((x.shape[0],), -1, dtype=torch.long, device=x.device)
        key = self._memo_key(x, y)
        if self._memo is not None and self._memo[0] == key:
            return self._memo[1]
        known = y >= 0
        onehot = soft = prof.onehot(y, known)
        if self.reuse:
            was_training = self.training
            self.eval()
            with torch.no_grad():
                for _ in range(self.reuse):
                    p = torch.softmax(super().forward(torch.cat([x, prof.from_soft(soft)], 1), ops), dim=1)
                    soft = torch.where(known.unsqueeze(1), onehot, p)
            self.train(was_training)
        out = torch.cat([x, prof.from_soft(soft)], 1)
        self._memo = None if x.requires_grad else (key, out)
        return out

    def _memo_key(self, x: torch.Tensor, y: torch.Tensor) -> tuple[Any, ...]:
        # The same tensors (held, so compared by identity), unchanged in place (version counters), the same
        # profiles and, when predictions feed back, the same weights (an optimiser step or load_state_dict
        # bumps a parameter's version): then the input is what it was.
        weights = tuple((id(p), p.data_ptr(), p._version) for p in self.parameters()) if self.reuse else ()
        return (_Same(x), x._version, _Same(y), y._version, _Same(self.profiles), self.reuse, weights)

    def _profiles_for(self, ops: dict[str, Any], device: torch.device) -> PartnerProfiles:
        synapses = ops.get("synapses")
        if synapses is None:
            raise InputError("ops: PartnerSAGE needs the 'synapses' operator; build them with "
                             "build_operators(adjacency, PartnerSAGE.operators)", "ops")
        if self.profiles is None or self._graph is None or self._graph[0] is not synapses or self._graph[1] != device:
            n = synapses.shape[0]
            gib = n * 4 * self.n_classes * 4 * 3 / 2**30  # profiles, first-layer input and its gradient
            if gib > MAX_PROFILE_GIB:
                raise InputError(
                    f"model='partner_sage' would hold about {gib:.0f} GiB of partner-type profiles "
                    f"({self.n_classes} classes x {n:,} nodes); use model='dir_sage' (no profiles) or a coarser "
                    "label column", "model")
            self.profiles = PartnerProfiles(synapses, self.n_classes, device)
            self._graph = (synapses, device)
            self._memo = None
        return self.profiles


class _Same:
    """Holds an object and compares equal to a holder of the very same object (identity, not value)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    __hash__ = None  # type: ignore[assignment]
