"""Weighted means and centred second moments, merged blockwise (Chan et al. 1983).

Building blocks of the fused pass :func:`.mixture.em_step`, which computes the
Gaussian maximum-likelihood fits, the mixture initialisations and the EM steps.  Never the one-pass E[x²] - E[x]² formula: in float32 it returns
negative variances for data such as N(1e4, 1).  Every "scatter" array ``M2`` is
either (d, d), of which only the lower triangle is used, or (d, 1) for the
diagonal only (diagonal and spherical mixtures).
"""
import numpy as np

from ._config import serial
from .tiles import centred


#: A mixture component whose share of the total weight falls below this has lost all its points
#: (EM re-seeds it).
EMPTY_SHARE = 1e-8


@serial
def merge_moments(W, mean, M2, Wb, mean_b, M2_b):
    """Merge a group's (Wb, mean_b, M2_b) into (W, mean, M2) in place; return the new W."""
    if Wb <= 0.0:
        return W
    Wn = W + Wb
    f = Wb / Wn
    g = W * f  # = W * Wb / Wn
    d = mean.shape[0]
    if M2.shape[1] == 1:
        for i in range(d):
            di = mean_b[i] - mean[i]
            M2[i, 0] += M2_b[i, 0] + g * di * di
    else:
        for i in range(d):
            di = mean_b[i] - mean[i]
            for j in range(i + 1):
                M2[i, j] += M2_b[i, j] + g * di * (mean_b[j] - mean[j])
    for i in range(d):
        mean[i] += f * (mean_b[i] - mean[i])
    return Wn


@serial(reduce=True)
def tile_moments(C, nt, rk, Wt, mean_t, M2_t, Z):
    """Mean and centred scatter of the first nt columns of C (d, tile), weights rk (sum Wt > 0).

    Two passes over the cache-resident tile: the mean, then the scatter of the
    centred copy ``Z`` (C's dtype, at least C's shape; scratch), which is scaled by
    √rk so that the scatter is the plain Gram matrix Z Zᵀ.  ``rk`` is
    overwritten.
    C is float64, or float32 (the mixture kernels on float32 data): then the
    float64 mean is split into its float32 rounding and the rest, so that
    the centring loses nothing to a large mean (see
    :func:`.tiles.split_mean`); for float64 C the rest is 0.

    Rows of weight exactly 0 add nothing to the scatter.  When they are at
    least two thirds of the tile (about the measured break-even) -- hard
    labels, components far from most rows, whose responsibilities underflow
    (in float32, most of them on well separated mixtures), zero sample
    weights -- only the other rows are copied into Z (packed to the left), so
    the mean and the Gram matrix cost in proportion to the rows that count.
    """
    d = C.shape[0]
    n_used = 0
    for r in range(nt):
        n_used += rk[r] != 0.0
    src = C
    if 3 * n_used <= nt:
        # Pack the used rows' weights and columns to the left of rk and Z, then
        # proceed as for a dense tile of n_used rows, in place in Z.  Packing is
        # branch-free (a data-dependent branch per row mispredicts): every row
        # writes its index, only used rows advance the slot.
        used = np.empty(nt, np.int64)
        j = 0
        for r in range(nt):
            used[j] = r
            j += rk[r] != 0.0
        for j in range(n_used):
            rk[j] = rk[used[j]]  # j <= used[j]: packing rk in place is safe
        for i in range(d):
            for j in range(n_used):
                Z[i, j] = C[i, used[j]]  # same dtype as C in every caller: exact
        src = Z
    else:
        n_used = nt
    for i in range(d):
        s = 0.0
        for r in range(n_used):
            s += rk[r] * src[i, r]
        mean_t[i] = s / Wt
    for r in range(n_used):
        rk[r] = np.sqrt(rk[r])
    for i in range(d):
        # Not tiles.split_mean: ml stays float64 here, its product with the
        # float64 weight below is float64 anyway.
        mh = C.dtype.type(mean_t[i])
        ml = mean_t[i] - mh
        for r in range(n_used):
            Z[i, r] = centred(src[i, r], mh, ml) * rk[r]
    if M2_t.shape[1] == 1:
        for i in range(d):
            s = Z.dtype.type(0.0)
            for r in range(n_used):
                s += Z[i, r] * Z[i, r]
            M2_t[i, 0] = s
    else:
        lower_gram(Z[:d], n_used, M2_t)  # Z may have more rows than d (the solver's scratch)


@serial(reduce=True)
def lower_gram(Z, nt, G):
    """Lower triangle of G = Z[:, :nt] Z[:, :nt]ᵀ, register-blocked 4 x 4.

    Each pass over the tile's rows feeds 16 accumulators from 8 streams, twice
    the arithmetic per load of the plain triple loop (which is load-bound).
    """
    d = Z.shape[0]
    d4 = d - d % 4
    for i0 in range(0, d4, 4):
        for j0 in range(0, i0 + 1, 4):
            # Accumulators in Z's dtype: a tile's partial sums of float32 data stay
            # float32 (16 SIMD lanes; a few hundred terms), and are merged into
            # the float64 block accumulators by the caller.
            zero = Z.dtype.type(0.0)
            s00 = s01 = s02 = s03 = zero
            s10 = s11 = s12 = s13 = zero
            s20 = s21 = s22 = s23 = zero
            s30 = s31 = s32 = s33 = zero
            for r in range(nt):
                a0 = Z[i0, r]
                a1 = Z[i0 + 1, r]
                a2 = Z[i0 + 2, r]
                a3 = Z[i0 + 3, r]
                b0 = Z[j0, r]
                b1 = Z[j0 + 1, r]
                b2 = Z[j0 + 2, r]
                b3 = Z[j0 + 3, r]
                s00 += a0 * b0
                s01 += a0 * b1
                s02 += a0 * b2
                s03 += a0 * b3
                s10 += a1 * b0
                s11 += a1 * b1
                s12 += a1 * b2
                s13 += a1 * b3
                s20 += a2 * b0
                s21 += a2 * b1
                s22 += a2 * b2
                s23 += a2 * b3
                s30 += a3 * b0
                s31 += a3 * b1
                s32 += a3 * b2
                s33 += a3 * b3
            G[i0, j0] = s00
            G[i0 + 1, j0] = s10
            G[i0 + 1, j0 + 1] = s11
            G[i0 + 2, j0] = s20
            G[i0 + 2, j0 + 1] = s21
            G[i0 + 2, j0 + 2] = s22
            G[i0 + 3, j0] = s30
            G[i0 + 3, j0 + 1] = s31
            G[i0 + 3, j0 + 2] = s32
            G[i0 + 3, j0 + 3] = s33
            if j0 < i0:  # off-diagonal block: its upper half is lower-triangle too
                G[i0, j0 + 1] = s01
                G[i0, j0 + 2] = s02
                G[i0, j0 + 3] = s03
                G[i0 + 1, j0 + 2] = s12
                G[i0 + 1, j0 + 3] = s13
                G[i0 + 2, j0 + 3] = s23
    for i in range(d4, d):  # remaining rows when d is not a multiple of 4
        for j in range(i + 1):
            s = Z.dtype.type(0.0)
            for r in range(nt):
                s += Z[i, r] * Z[j, r]
            G[i, j] = s


@serial
def load_weights(sw, t0, nt, base):
    """base[:nt] = the tile's sample weights (ones when ``sw`` is empty)."""
    if sw.size > 0:
        for r in range(nt):
            base[r] = sw[t0 + r]
    else:
        base[:nt] = 1.0


@serial(reduce=True)
def accumulate_tile(C, nt, rk, W, mean, M2, mean_t, M2_t, Z):
    """Add the tile's rows, weighted by rk, to accumulators (W, mean, M2); return the new W.

    ``mean_t``, ``M2_t`` and ``Z`` are scratch.  A tile with no weight changes nothing.
    """
    Wt = 0.0
    for r in range(nt):
        Wt += rk[r]
    if Wt <= 0.0:
        return W
    tile_moments(C, nt, rk, Wt, mean_t, M2_t, Z)
    return merge_moments(W, mean, M2, Wt, mean_t, M2_t)


@serial
def reduce_moments(W_b, mean_b, M2_b, W, mean, M2):
    """Merge per-block moments serially, in block order, into W (K,), mean (K, d), M2.

    ``M2`` keeps the layout of ``M2_b`` (lower triangle, or diagonal column).
    """
    W[:] = 0.0
    mean[:] = 0.0
    M2[:] = 0.0
    for b in range(W_b.shape[0]):
        for k in range(W.shape[0]):
            W[k] = merge_moments(W[k], mean[k], M2[k], W_b[b, k], mean_b[b, k], M2_b[b, k])
