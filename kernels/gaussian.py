"""Gaussian log-densities: univariate (elementwise) and multivariate (via Cholesky)."""
import numpy as np
from numba import prange

from ._config import serial_and_parallel

LOG_2PI = np.log(2.0 * np.pi)


@serial_and_parallel
def normal_logpdf(x, mean, var, out):
    """log N(x | mean, var) elementwise, computed in float64.

    All arguments are 1-D and C-contiguous; ``x``, ``mean`` and ``var`` have
    either ``out.size`` elements or exactly one (a broadcast scalar).
    """
    n = out.size
    # Stride 0 reads the single element of a broadcast scalar.
    sx = 1 if x.size > 1 else 0
    sm = 1 if mean.size > 1 else 0
    if var.size == 1:
        # One variance: hoist the logarithm (a scalar libm call per element
        # would dominate) so the loop is SIMD arithmetic only.
        v = np.float64(var[0])
        c = LOG_2PI + np.log(v)
        for i in prange(n):
            z = np.float64(x[i * sx]) - np.float64(mean[i * sm])
            out[i] = -0.5 * (c + z * z / v)
    else:
        for i in prange(n):
            v = np.float64(var[i])
            z = np.float64(x[i * sx]) - np.float64(mean[i * sm])
            out[i] = -0.5 * (LOG_2PI + np.log(v) + z * z / v)


@serial_and_parallel
def mvn_logpdf(X, means, chol, logdet, block, out):
    """log N(x_n | mean_k, L_k L_kᵀ) for every row n and component k.

    Parameters
    ----------
    X : (N, d) float32/float64, C-contiguous.  NaN rows give NaN; rows with
        an infinite coordinate (and no NaN) give -inf.
    means : (Km, d) float64, Km in {1, K}.
    chol : (Kc, d, d) float64 lower Cholesky factors, Kc in {1, K}.
    logdet : (Kc,) float64 log-determinants of the covariances.
    block : rows per work item; results do not depend on it.
    out : (N, K) out, X's dtype.

    Notes
    -----
    Each block of rows is copied, centred, into a (d, block) float64 buffer
    (structure of arrays), and the forward substitution runs across the rows of
    the block, so the innermost loop is a contiguous SIMD-friendly sweep.  The
    mean is subtracted before anything else: solving L z = x and L m = mu
    separately loses digits when |mu| is large.
    """
    N, d = X.shape
    K = out.shape[1]
    Km = means.shape[0]
    Kc = chol.shape[0]
    n_blocks = (N + block - 1) // block
    const = d * LOG_2PI
    for b in prange(n_blocks):
        r0 = b * block
        nb = min(N, r0 + block) - r0
        Z = np.empty((d, nb))
        maha = np.empty(nb)
        for k in range(K):
            mk = k if Km > 1 else 0
            ck = k if Kc > 1 else 0
            for i in range(d):
                mu = means[mk, i]
                for r in range(nb):
                    Z[i, r] = np.float64(X[r0 + r, i]) - mu
            maha[:] = 0.0
            # Forward substitution L z = (x - mu), row i of z for all rows at once;
            # the squared norm is accumulated as each coordinate is finished.
            for i in range(d):
                for j in range(i):
                    lij = chol[ck, i, j]
                    for r in range(nb):
                        Z[i, r] -= lij * Z[j, r]
                lii = chol[ck, i, i]
                for r in range(nb):
                    zi = Z[i, r] / lii
                    Z[i, r] = zi
                    maha[r] += zi * zi
            c = const + logdet[ck]
            for r in range(nb):
                out[r0 + r, k] = -0.5 * (c + maha[r])
        # An infinite coordinate makes 0 * inf = NaN inside the substitution;
        # its true limit is -inf unless the row also holds a NaN.
        for r in range(nb):
            if np.isnan(out[r0 + r, 0]):
                row_has_nan = False
                for i in range(d):
                    if np.isnan(X[r0 + r, i]):
                        row_has_nan = True
                if not row_has_nan:
                    for k in range(K):
                        out[r0 + r, k] = -np.inf
