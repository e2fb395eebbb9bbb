"""Weighted means and centred second moments, merged blockwise (Chan et al. 1983).

Used by the Gaussian maximum-likelihood fits and, per component, by the mixture
M-step.  Never the one-pass E[x²] - E[x]² formula: in float32 it returns
negative variances for data such as N(1e4, 1).
"""
import numpy as np
from numba import prange

from ._config import serial, serial_and_parallel


@serial
def merge_moments(W, mean, M2, Wb, mean_b, M2_b):
    """Merge one group's (Wb, mean_b, M2_b) into (W, mean, M2) in place; return new W.

    Only the lower triangle of the (d, d) ``M2`` arrays is read and written.
    """
    if Wb <= 0.0:
        return W
    Wn = W + Wb
    f = Wb / Wn
    g = W * f  # = W * Wb / Wn
    d = mean.shape[0]
    delta = np.empty(d)
    for i in range(d):
        delta[i] = mean_b[i] - mean[i]
    for i in range(d):
        for j in range(i + 1):
            M2[i, j] += M2_b[i, j] + g * delta[i] * delta[j]
    for i in range(d):
        mean[i] += f * delta[i]
    return Wn


@serial_and_parallel(reduce=True)
def block_moments(X, w, block, tile, W_out, mean_out, M2_out):
    """Weighted (sum of weights, mean, centred scatter) of fixed blocks of rows.

    Parameters
    ----------
    X : (N, d) float32/float64, C-contiguous.
    w : (N,) weights, or an empty array for unit weights.
    block : rows per block; a function of N only, never of the thread count, so
        the serial reduction that follows gives bit-identical results on any
        number of threads.
    tile : rows per tile inside a block; a tile is centred on its own mean in a
        (d, tile) float64 buffer, then merged into the block's accumulators.
    W_out : (n_blocks,) float64 out.
    mean_out : (n_blocks, d) float64 out.
    M2_out : (n_blocks, d, d) float64 out; lower triangle of
        sum_n w_n (x_n - mean)(x_n - mean)ᵀ.
    """
    N, d = X.shape
    weighted = w.size > 0
    n_blocks = W_out.shape[0]
    for b in prange(n_blocks):
        r0 = b * block
        r1 = min(N, r0 + block)
        C = np.empty((d, tile))
        wt = np.empty(tile)
        mean_t = np.empty(d)
        M2_t = np.empty((d, d))
        W = 0.0
        mean_out[b, :] = 0.0
        M2_out[b, :, :] = 0.0
        for t0 in range(r0, r1, tile):
            nt = min(r1, t0 + tile) - t0
            # Two plain loops rather than a branch per element, so both vectorise.
            if weighted:
                for r in range(nt):
                    wt[r] = w[t0 + r]
            else:
                wt[:nt] = 1.0
            Wt = 0.0
            for r in range(nt):
                Wt += wt[r]
            if Wt <= 0.0:
                continue
            # Transpose the tile once (the only strided read of X), then every
            # pass below runs over contiguous rows of C.
            for i in range(d):
                for r in range(nt):
                    C[i, r] = X[t0 + r, i]
            for i in range(d):
                s = 0.0
                for r in range(nt):
                    s += wt[r] * C[i, r]
                mean_t[i] = s / Wt
                for r in range(nt):
                    C[i, r] -= mean_t[i]
            for i in range(d):
                for j in range(i + 1):
                    s = 0.0
                    for r in range(nt):
                        s += wt[r] * C[i, r] * C[j, r]
                    M2_t[i, j] = s
            W = merge_moments(W, mean_out[b], M2_out[b], Wt, mean_t, M2_t)
        W_out[b] = W


@serial
def reduce_moments(W_b, mean_b, M2_b, mean, M2):
    """Merge per-block moments serially, in block order, into ``mean``/``M2``.

    ``mean`` (d,) and ``M2`` (d, d) are outputs (M2 full and symmetric).
    Returns the total weight.
    """
    d = mean.shape[0]
    mean[:] = 0.0
    M2[:, :] = 0.0
    W = 0.0
    for b in range(W_b.shape[0]):
        W = merge_moments(W, mean, M2, W_b[b], mean_b[b], M2_b[b])
    for i in range(d):
        for j in range(i + 1, d):
            M2[i, j] = M2[j, i]
    return W
