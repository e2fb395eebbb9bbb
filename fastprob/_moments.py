"""Python side of the blockwise moment kernels: block layout, allocation, reduction."""
import numpy as np

from .kernels import mixture as _mixk
from .kernels import moments as _mk
from .kernels.gaussian import solver_token
from .kernels.tiles import block_rows, max_blocks, rows_per_tile
from ._validation import read_only


def block_layout(N, d, K, dd):
    """(block, tile, n_blocks) for N rows: a function of the data shape only.

    Never of the thread count, so that the serial reduction of the per-block
    partial statistics gives bit-identical results on any number of threads.
    Between 16 and 256 blocks, fewer when the partials would exceed ~32 MiB.
    """
    tile = rows_per_tile(d)
    block, n_blocks = block_rows(N, tile, max_blocks(K, d, dd))
    return block, tile, n_blocks


def allocate_partials(n_blocks, K, d, dd):
    """Per-block (W, mean, M2) output buffers for the moment kernels."""
    return np.empty((n_blocks, K)), np.empty((n_blocks, K, d)), np.empty((n_blocks, K, d, dd))


def reduce_partials(W_b, mean_b, M2_b, diagonal):
    """Merge per-block moments in block order.

    Returns W (K,), mean (K, d) and M2: (K, d, d) full and symmetric, or (K, d)
    when ``diagonal`` (partials of shape (n_blocks, K, d, 1)).
    """
    K, d, dd = M2_b.shape[1:]
    W = np.empty(K)
    mean = np.empty((K, d))
    M2 = np.empty((K, d, dd))
    _mk.reduce_moments(W_b, mean_b, M2_b, W, mean, M2)
    if diagonal:
        return W, mean, M2[:, :, 0]
    lower = np.tril(M2)
    return W, mean, lower + np.tril(M2, -1).transpose(0, 2, 1)


def group_partials(X, sw=None, labels=None, resp=None, n_groups=1, diagonal=False):
    """Per-block weighted moments of row groups of X (C-contiguous float32/float64).

    Parameters
    ----------
    X : (N, d) array.
    sw : (N,) float64 sample weights or None.
    labels : (N,) int64 group per row (other values: no group) or None.
    resp : (N, K) soft memberships or None.
    n_groups : K.
    diagonal : only the diagonal of the scatter matrices.

    Returns
    -------
    W_b, mean_b, M2_b : per-block partials for :func:`reduce_partials`.
    """
    N, d = X.shape
    dd = 1 if diagonal else d
    block, tile, n_blocks = block_layout(N, d, n_groups, dd)
    W_b, mean_b, M2_b = allocate_partials(n_blocks, n_groups, d, dd)
    kernel = _mixk.em_step.for_size(N * n_groups * d * (dd + 3))
    # No mixture (0 components): em_step computes moments of the groups instead of an
    # E-step, in float64 tiles, from the build the EM iterations of float64 data use.
    no_mixture = (np.empty(0), np.empty((0, d)), np.empty((0, d, d)), np.empty(0), np.empty((0, 0)))
    kernel(n_blocks, *read_only(X, np.empty(0) if sw is None else sw, np.empty(0, np.int64) if labels is None else labels,
                      np.empty((0, 0)) if resp is None else resp), np.array([0, n_groups]), _mixk.ASSIGN_SOFT,
           *read_only(*no_mixture), diagonal, solver_token(d, diagonal), np.empty(0), block, tile, W_b, mean_b, M2_b,
           np.empty((n_blocks, 1)), np.empty((n_blocks, 1), np.int64), np.empty((n_blocks, 1)))
    return W_b, mean_b, M2_b


def group_moments(X, sw=None, labels=None, resp=None, n_groups=1, diagonal=False):
    """Reduced weighted moments (W, mean, M2) of row groups; see :func:`group_partials`."""
    return reduce_partials(*group_partials(X, sw, labels, resp, n_groups, diagonal), diagonal)


class Statistics:
    """Reduced sufficient statistics of one pass: per component W, mean, scatter M2.

    ``loglik`` is Σ w log p(x) over the rows, ``worst_row`` the (global) index
    of the row with the lowest log-likelihood and ``worst_ll`` its value.
    """

    __slots__ = ("W", "mean", "M2", "loglik", "worst_row", "worst_ll")

    def __init__(self, W, mean, M2, loglik=np.nan, worst_row=-1, worst_ll=np.inf):
        self.W, self.mean, self.M2 = W, mean, M2
        self.loglik, self.worst_row, self.worst_ll = loglik, worst_row, worst_ll

    @classmethod
    def zero(cls, K, d, diagonal):
        """The statistics of no rows (the neutral element of :func:`merge_statistics`)."""
        return cls(np.zeros(K), np.zeros((K, d)), np.zeros((K, d) if diagonal else (K, d, d)), 0.0)

    def shifted(self, offset):
        """The same statistics with ``worst_row`` counted from ``offset`` (a chunk's first row)."""
        if self.worst_row >= 0:
            self.worst_row += offset
        return self


class Batch(tuple):
    """The :class:`Statistics` of several mixtures over the same rows, computed in one pass."""

    __slots__ = ()

    def shifted(self, offset):
        for stats in self:
            stats.shifted(offset)
        return self


def zero_statistics(n_components, d, diagonal):
    """The statistics of no rows: a :class:`Statistics`, or a :class:`Batch` where ``n_components``
    and ``diagonal`` are sequences (one entry per mixture)."""
    if np.ndim(n_components) == 0:
        return Statistics.zero(n_components, d, diagonal)
    return Batch(Statistics.zero(K, d, diag) for K, diag in zip(n_components, diagonal))


def merge_statistics(a, b):
    """Statistics of the union of two disjoint sets of rows (Chan et al.'s pairwise update).

    ``a`` may be None (nothing yet).  M2 is (K, d, d) or, for diagonal
    covariances, (K, d).  Two :class:`Batch` merge mixture by mixture.
    """
    if a is None:
        return b
    if isinstance(b, Batch):
        return Batch(merge_statistics(x, y) for x, y in zip(a, b))
    W = a.W + b.W
    with np.errstate(invalid="ignore", divide="ignore"):
        share_b = np.where(W > 0, b.W / W, 0.0)
    delta = b.mean - a.mean
    mean = a.mean + delta * share_b[:, None]
    cross = a.W * share_b  # Wa·Wb / W
    if a.M2.ndim == 3:
        M2 = a.M2 + b.M2 + cross[:, None, None] * (delta[:, :, None] * delta[:, None, :])
    else:
        M2 = a.M2 + b.M2 + cross[:, None] * delta * delta
    worst = b if b.worst_ll < a.worst_ll else a
    return Statistics(W, mean, M2, a.loglik + b.loglik, worst.worst_row, worst.worst_ll)
