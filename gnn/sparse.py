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
from typing import Any

import numpy as np

__all__ = ["SparseAdjacency", "csr_tensor", "spmm"]


def csr_tensor(mat: Any, device: Any = "cpu") -> Any:
    """A ``torch.sparse_csr_tensor`` (float32) from a scipy sparse matrix.

    torch's "CSR support is in beta" warning is silenced here, and only here.
    """
    import torch

    m = mat.tocsr()
    m.sort_indices()
    with warnings.catch_warnings():
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
        """The same matrix on ``device``."""
        return SparseAdjacency(self.matrix.to(device), self.transpose.to(device))
