"""Partner-type profiles: each neuron's synapses to and from each cell type, from *known* labels only.

Cell typing in the field reads a neuron's type off the types of its partners
(FlyWire, hemibrain and larva typing all compare type-to-type connectivity).
For node ``i`` and class ``c``::

    out[i, c] = Σ_j A[i, j] · [y_j = c and j is known]      (synapses onto known type-c partners)
    in[i, c]  = Σ_j A[j, i] · [y_j = c and j is known]      (synapses from known type-c partners)

A profile is ``[out / out_total, in / in_total, log1p(out), log1p(in)]`` (4 × classes
columns), where totals count all synapses (known partners or not). Only labels of
nodes in ``known`` enter: pass the training mask, never validation or test nodes.
Self-loops are excluded, so a node's own label never enters its own profile.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> a = sp.csr_array(np.array([[0, 3, 1], [0, 0, 0], [2, 0, 0]], dtype=float))
>>> y = np.array([-1, 0, 1])
>>> p = partner_type_profiles(a, y, known=np.array([False, True, True]), n_classes=2)
>>> p[0, :2].tolist(), p[0, 2:4].tolist()   # node 0: 3 of 4 synapses onto class 0, 1 onto class 1; 2 in from class 1
([0.75, 0.25], [0.0, 1.0])
>>> partner_type_profiles(a, y, known=np.array([False, True, False]), n_classes=2)[0, :2].tolist()
[0.75, 0.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from connectome.errors import InputError
from connectome.validate import check_int

from .sparse import SparseAdjacency

__all__ = ["PartnerProfiles", "partner_type_profiles", "profile_names", "check_label_options"]


def profile_names(classes: list[str]) -> list[str]:
    """Column names of a profile matrix.

    Examples
    --------
    >>> profile_names(["KC", "PN"])[:3]
    ['out_fraction_KC', 'out_fraction_PN', 'in_fraction_KC']
    """
    return ([f"out_fraction_{c}" for c in classes] + [f"in_fraction_{c}" for c in classes]
            + [f"out_log_synapses_{c}" for c in classes] + [f"in_log_synapses_{c}" for c in classes])


def check_label_options(reuse: Any, label_keep: Any) -> None:
    """Refuse prediction-reuse rounds and label-trick shares that cannot be used (names the option and the fix).

    Examples
    --------
    >>> check_label_options(2, 1.0)
    >>> check_label_options(1, 0.5)
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: reuse > 0 cannot be combined with label_keep < 1: pass reuse=0 to use the label trick
    """
    if not 0 < float(label_keep) <= 1:
        raise InputError(f"label_keep must be in (0, 1], not {label_keep!r}", "label_keep")
    check_int(reuse, "reuse", low=0, high=5, what="an integer from 0 to 5")
    if reuse and float(label_keep) < 1:
        raise InputError("reuse > 0 cannot be combined with label_keep < 1: pass reuse=0 to use the label trick", "reuse")


def _no_self_loops(adjacency: Any) -> Any:
    a = adjacency.tocsr().astype(np.float64, copy=True)
    a.setdiag(0)
    a.eliminate_zeros()
    return a


class PartnerProfiles:
    """Computes profiles on a device, again and again, for changing sets of known labels.

    Parameters
    ----------
    adjacency : scipy.sparse matrix
        ``adjacency[i, j]`` = synapses from node ``i`` to node ``j`` (self-loops are dropped).
    n_classes : int
    device : str or torch.device

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, torch
    >>> a = sp.csr_array(np.array([[0, 3.0], [1.0, 0]]))
    >>> prof = PartnerProfiles(a, n_classes=2)
    >>> prof(torch.tensor([0, 1]), torch.tensor([True, True])).shape
    torch.Size([2, 8])
    """

    def __init__(self, adjacency: Any, n_classes: int, device: Any = "cpu") -> None:
        import torch

        a = _no_self_loops(adjacency)
        self.n_classes = int(n_classes)
        self.adj = SparseAdjacency.from_scipy(a, device)
        self.out_total = torch.tensor(np.asarray(a.sum(axis=1)).ravel(), dtype=torch.float32, device=device)
        self.in_total = torch.tensor(np.asarray(a.sum(axis=0)).ravel(), dtype=torch.float32, device=device)

    @property
    def width(self) -> int:
        """Number of profile columns (4 × classes)."""
        return 4 * self.n_classes

    def __call__(self, y: Any, known: Any) -> Any:
        """Profiles (n × 4·classes, float32) from the labels ``y`` of nodes where ``known`` is true."""
        return self.from_soft(self.onehot(y, known))

    def onehot(self, y: Any, known: Any) -> Any:
        """Class indicator matrix (n × classes): one-hot rows for known labelled nodes, zero rows elsewhere."""
        import torch

        onehot = torch.zeros(self.adj.shape[0], self.n_classes, device=self.out_total.device)
        idx = torch.nonzero(known & (y >= 0)).ravel()
        onehot[idx, y[idx]] = 1.0
        return onehot

    def from_soft(self, labels: Any) -> Any:
        """Profiles from a (n × classes) matrix of label weights: one-hot known labels, or probabilities.

        Rows of nodes with no known label are zero (or, with prediction reuse, a model's
        class probabilities for that node — predictions, never labels).
        """
        import torch

        out = torch.sparse.mm(self.adj.matrix, labels)
        inn = torch.sparse.mm(self.adj.transpose, labels)
        return torch.cat([out / self.out_total.clamp(min=1).unsqueeze(1),
                          inn / self.in_total.clamp(min=1).unsqueeze(1),
                          torch.log1p(out), torch.log1p(inn)], dim=1)


def partner_type_profiles(adjacency: Any, y: np.ndarray, known: np.ndarray, n_classes: int) -> np.ndarray:
    """Profiles as a numpy array (see the module docstring); labels outside ``known`` are never read.

    Parameters
    ----------
    adjacency : scipy.sparse matrix
        Synapse counts, pre (rows) → post (columns).
    y : numpy.ndarray of int
        Class codes (``-1`` unlabelled).
    known : numpy.ndarray of bool
        Nodes whose labels may be used (the training nodes).
    n_classes : int

    Returns
    -------
    numpy.ndarray of float32, shape (n, 4 · n_classes)
    """
    import torch

    prof = PartnerProfiles(adjacency, n_classes)
    yk = np.where(np.asarray(known, dtype=bool), np.asarray(y, dtype=np.int64), -1)
    with torch.no_grad():
        return prof(torch.from_numpy(yk), torch.from_numpy(yk >= 0)).numpy()
