"""Row tiles in structure-of-arrays layout, the unit of work inside every row kernel.

A tile of ``nt`` rows of X (N, d) is copied and transposed into a (d, tile)
buffer: every later pass then sweeps contiguous rows of the buffer, which LLVM
vectorises across samples.  The buffer is float64 where a kernel computes in
float64 (float32 data then accumulates in float64 without a full-size copy),
float32 in the mixture kernels on float32 data, which centre with a split mean
(see :func:`split_mean`).
"""
import numpy as np
from numba.core import types

from ._config import choose_by_types, serial


#: Spare elements at the end of every row of a tile buffer (C, Z, LP).  Tile
#: widths are often powers of two: unpadded, the rows of a (d, 512) float64
#: buffer lie exactly 4 KiB apart, so a sweep that reads d rows at one offset
#: maps them all to one L1 cache set (8 ways) and misses for d > 8.  Padding
#: each row by 16 elements (64 bytes of float32, 128 of float64) puts the rows
#: in different sets.  Kernels index only the first nt columns of a row.
ROW_PAD = 16


#: The per-block partial statistics of one pass are kept near or below this size.
PARTIALS_BYTES = 32 * 2**20


def max_blocks(K, d, dd):
    """Blocks a pass over the rows is split into at most: 16 to 256, fewer when the partial statistics
    (K components of d means and d x dd scatter per block) would exceed :data:`PARTIALS_BYTES`."""
    return int(min(256, max(16, PARTIALS_BYTES // (8 * K * d * dd + 8))))


def block_rows(n, tile, blocks):
    """(block, n_blocks) for n rows in at most ``blocks`` blocks of a multiple of ``tile`` rows.

    A function of the data shape only, never of the thread count (see
    :func:`fastprob._moments.block_layout`).  Plain Python, also compiled as
    :data:`compiled_block_rows` for kernels that lay out passes themselves.
    """
    per_block = max(1, -(-n // blocks))
    block = -(-per_block // tile) * tile
    return block, max(1, -(-n // block))


compiled_block_rows = serial(block_rows)


def rows_per_tile(d):
    """Tile height for d features: keeps one (d, tile) float64 buffer near 64 KiB."""
    return int(max(16, min(512, 8192 // max(d, 1))))


@serial
def load_tile(X, t0, nt, C):
    """C[i, r] = X[t0 + r, i] for r < nt, in C's dtype (float64, or X's float32: both exact)."""
    d = X.shape[1]
    if d * X.itemsize >= 64:
        # A row of X fills a cache line or more: read it whole and scatter it
        # down the column of C.  Measured against reading X column by column
        # (which fetches each line d times): 1.2-1.6x faster at d = 16 (float32
        # and float64) and at d = 64 in float32, about even at d = 64 in float64.
        for r in range(nt):
            for i in range(d):
                C[i, r] = X[t0 + r, i]
    else:
        # Short rows: column by column, each sweep of a contiguous row of C
        # vectorises and X's few lines per tile stay in L1.
        for i in range(d):
            for r in range(nt):
                C[i, r] = X[t0 + r, i]


@serial
def split_mean(mu, like):
    """(mh, ml): the float64 ``mu`` as mh + ml in ``like``'s dtype, for :func:`centred`.

    mh is mu rounded to that dtype and ml the rest, rounded; for float64, mh = mu
    and ml = 0, and centring is exactly x - mu (one subtraction).  For float32
    x (float32 data, exact in the tile) the two float32 subtractions
    (x - mh) - ml each round relative to the *difference*, not to |mu|:
    z = (x - mu)(1 + d) with |d| <= ~2 float32 ulps however large the mean --
    the accuracy of a float64 subtraction rounded to float32, in 16-lane
    float32 arithmetic.  (Rounding the mean to float32 alone would be off by
    up to |mu|/2**24: 6e-4 at mu = 1e4.)
    """
    mh = like.dtype.type(mu)
    return mh, like.dtype.type(mu - mh)


def centred(x, mh, ml):
    """x - (mh + ml): the tile value x minus a float64 mean split as mh + ml.

    mh is the mean rounded to x's dtype and ml the rest (see
    :func:`split_mean`).  For float64 x, ml is 0 and this is
    x - mh, the plain float64 subtraction (no extra operation); for float32 x
    it is (x - mh) - ml, as accurate as a float64 subtraction rounded to
    float32, however large the mean.
    """
    raise NotImplementedError("compiled use only")


@choose_by_types(centred)
def _centred_by_type(x, mh, ml):
    if x == types.float64:
        return lambda x, mh, ml: x - mh
    return lambda x, mh, ml: (x - mh) - ml
