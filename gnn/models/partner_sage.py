"""PartnerSAGE (ours, the default): DirSAGE over wiring features *and* partner-type profiles.

The input of every node is its wiring features plus its partner-type profile
(:mod:`gnn.profiles`): the fraction and number of its input and output synapses
from and onto each *known* cell type. Known means training labels only.

Training uses the label trick (Wang et al. 2021, "Bag of tricks for node
classification"): each epoch the training nodes are split at random into
label *inputs* (whose labels build the profiles) and *targets* (which carry the
loss). Without it, a training node's own label would come back to it through
its partners' profiles in the second layer, a shortcut that test nodes never
have. At evaluation and prediction time every training label is an input.

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
