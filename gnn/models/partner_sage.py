"""PartnerSAGE (ours, the default): DirSAGE over wiring features *and* partner-type profiles.

The input of every node is its wiring features plus its partner-type profile
(:mod:`gnn.profiles`): the fraction and number of its input and output synapses
from and onto each *known* cell type. Known means training labels only: a
validation, test or unlabelled node's label never enters any feature.

By default the profiles are built once from every training label
(``label_keep=1.0``). A training node's own label can then come back to it
through its partners' profiles in the second layer (an echo that test nodes do
not have); ``label_keep < 1`` switches on the label trick (Wang et al. 2021,
"Bag of tricks for node classification"): each epoch the training nodes are
split at random into label *inputs* and loss *targets*. On the larva it scored
lower (simple_group macro-F1 0.835 with 0.8, 0.834 with 0.5, against 0.853
without; 5 seeds), so it is off by default; the benchmark reports both.

Examples
--------
>>> import torch, numpy as np, scipy.sparse as sp
>>> from gnn.models.operators import build_operators
>>> ops = build_operators(sp.csr_array(np.array([[0, 3.0], [1.0, 0]])), PartnerSAGE.operators)
>>> PartnerSAGE(in_features=4 + 4 * 3, n_classes=3, hidden=8)(torch.randn(2, 16), ops).shape
torch.Size([2, 3])
"""

from __future__ import annotations

from .dir_sage import DirSAGE

__all__ = ["PartnerSAGE"]


class PartnerSAGE(DirSAGE):
    """:class:`~gnn.models.dir_sage.DirSAGE` whose input includes partner-type profiles.

    ``in_features`` counts both the wiring features and the ``4 × n_classes``
    profile columns; :func:`gnn.train` appends the profiles.
    """

    uses_profiles = True
