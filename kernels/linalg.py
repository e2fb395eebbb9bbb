"""Batched dense linear algebra for small (d x d) matrices."""
import numpy as np

from ._config import serial


@serial
def cholesky(cov, L, logdet, failed_pivot):
    """Lower Cholesky factors of a batch of symmetric matrices, in float64.

    Single-threaded: the factors of a mixture are microseconds of work, less
    than waking threads (and a parallel build would take longer to compile
    than any factorisation it could speed up).

    Parameters
    ----------
    cov : (K, d, d) float array; only the lower triangle is read.
    L : (K, d, d) float64 out; the strict upper triangle is set to 0.
    logdet : (K,) float64 out; log|cov_k| = 2 * sum(log(diag(L_k))).
    failed_pivot : (K,) int64 out; -1 where cov_k is positive definite, else
        the first pivot whose Schur complement was not > 0 (or was NaN).

    Returns
    -------
    int : number of components that are not positive definite.
    """
    K, d = cov.shape[0], cov.shape[1]
    for k in range(K):
        failed_pivot[k] = -1
        for j in range(d):
            s = np.float64(cov[k, j, j])
            for p in range(j):
                s -= L[k, j, p] * L[k, j, p]
            # `not (s > 0)` also catches NaN.
            if not (s > 0.0):
                failed_pivot[k] = j
                break
            ljj = np.sqrt(s)
            L[k, j, j] = ljj
            for i in range(j + 1, d):
                t = np.float64(cov[k, i, j])
                for p in range(j):
                    t -= L[k, i, p] * L[k, j, p]
                L[k, i, j] = t / ljj
            for i in range(j):
                L[k, i, j] = 0.0
        acc = 0.0
        if failed_pivot[k] < 0:
            for j in range(d):
                acc += np.log(L[k, j, j])
        logdet[k] = 2.0 * acc
    n_failed = 0
    for k in range(K):
        if failed_pivot[k] >= 0:
            n_failed += 1
    return n_failed
