"""Sparse (CSR) adjacency for full-batch training: ``A @ X`` with a cached transpose.

On CPU, torch-geometric has no compiled sparse extensions for torch 2.13
(no pyg-lib / torch-sparse wheels), and message passing over ``edge_index``
scatters one message per edge. A ``torch.sparse`` CSR matrix product is much
faster (4.6x per GraphSAGE epoch on 150k nodes / 3 M edges, ../shared/STACK.md).
:class:`SparseAdjacency` keeps a matrix and its transpose as CSR, so the
backward pass (``Aᵀ @ grad``) is a CSR product too instead of a conversion.

Examples
--------
>>> import numpy as np, scipy.sparse as sp, torch
>>> a = sp.csr_array(np.array([[0, 2.0], [1.0, 0]]))
>>> adj = SparseAdjacency.from_scipy(a)
>>> x = torch.ones(2, 3, requires_grad=True)
>>> (adj @ x).sum().backward()
>>> x.grad[:, 0].tolist()
[1.0, 2.0]
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = ["SparseAdjacency", "csr_tensor", "spmm", "invariant_checks_off"]


@contextmanager
def invariant_checks_off() -> Iterator[None]:
    """torch's sparse invariant checks explicitly off (``torch.sparse.check_sparse_tensor_invariants(False)``).

    From torch 2.11, building a sparse tensor while the checks are *implicitly* off
    warns ("Sparse invariant checks are implicitly disabled"), on CUDA also inside
    ``.to(device)`` and other internal re-constructions, and even when the factory
    is given ``check_invariants=False`` (torch 2.11 / 2.12). ``gnn`` builds its
    matrices from scipy CSR with sorted indices, so it opts out explicitly: around
    every construction and device move here, and around training and prediction.
    On exit torch restores the previous value as an explicit setting (off, unless
    the caller had switched the checks on).

    Examples
    --------
    >>> import torch
    >>> with invariant_checks_off():
    ...     torch.sparse.check_sparse_tensor_invariants.is_enabled()
    False
    """
    import torch

    with torch.sparse.check_sparse_tensor_invariants(enable=False):
        yield


def csr_tensor(mat: Any, device: Any = "cpu") -> Any:
    """A ``torch.sparse_csr_tensor`` (float32) from a scipy sparse matrix.

    Invariant checks are switched off explicitly (:func:`invariant_checks_off` and
    ``check_invariants=False``): scipy's CSR with sorted indices satisfies them.
    torch's "CSR support is in beta" warning is silenced here, and only here.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> csr_tensor(sp.csr_array(np.eye(2))).layout
    torch.sparse_csr
    """
    import torch

    m = mat.tocsr()
    m.sort_indices()
    with warnings.catch_warnings(), invariant_checks_off():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
        t = torch.sparse_csr_tensor(torch.from_numpy(m.indptr.astype(np.int64)),
                                    torch.from_numpy(m.indices.astype(np.int64)),
                                    torch.from_numpy(np.asarray(m.data, dtype=np.float32)),
                                    size=m.shape, check_invariants=False)
        return t.to(device)


def _function() -> Any:
    import torch

    class _SpMM(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, a: Any, a_t: Any, x: Any) -> Any:  # noqa: D401
            ctx.a_t = a_t
            return torch.sparse.mm(a, x)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            return None, None, torch.sparse.mm(ctx.a_t, grad.contiguous())

    return _SpMM


_SPMM: Any = None


def spmm(a: Any, a_t: Any, x: Any) -> Any:
    """``a @ x`` for a CSR ``a`` whose transpose ``a_t`` is given (used in the backward pass)."""
    global _SPMM
    if _SPMM is None:
        _SPMM = _function()
    return _SPMM.apply(a, a_t, x)


class SparseAdjacency:
    """A sparse matrix (CSR) and its transpose on one device; ``adj @ x`` is differentiable in ``x``.

    Parameters
    ----------
    matrix, transpose : torch.Tensor
        CSR tensors, ``transpose`` equal to ``matrix.T``.
    """

    def __init__(self, matrix: Any, transpose: Any) -> None:
        self.matrix = matrix
        self.transpose = transpose

    @classmethod
    def from_scipy(cls, mat: Any, device: Any = "cpu") -> SparseAdjacency:
        """Both orientations of a scipy sparse matrix as CSR tensors on ``device``."""
        m = mat.tocsr().astype(np.float32)
        return cls(csr_tensor(m, device), csr_tensor(m.T.tocsr(), device))

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return tuple(self.matrix.shape)  # type: ignore[return-value]

    @property
    def T(self) -> SparseAdjacency:  # noqa: N802 - mirrors numpy
        """The transpose (no copy)."""
        return SparseAdjacency(self.transpose, self.matrix)

    def __matmul__(self, x: Any) -> Any:
        return spmm(self.matrix, self.transpose, x)

    def to(self, device: Any) -> SparseAdjacency:
        """The same matrix on ``device`` (invariant checks explicitly off, as in :func:`csr_tensor`)."""
        with invariant_checks_off():
            return SparseAdjacency(self.matrix.to(device), self.transpose.to(device))
