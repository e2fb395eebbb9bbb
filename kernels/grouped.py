"""Many independent Gaussian-mixture fits in one kernel: EM for each group of rows.

:func:`grouped_em` runs, for every group of rows (a work item of a
:class:`.._config.BlockKernel`), the EM loop of ``fastprob.GaussianMixture``
(:mod:`fastprob._em`): the initial moments, then E-step + statistics, M-step,
Cholesky factors and the convergence test, until ``tol`` or ``max_iter``.
The row passes are the estimator's own kernel, :func:`.mixture.em_step`, called
on the group's rows with the block layout the estimator would use for them
(:func:`fastprob._moments.block_layout`), and the per-block statistics are
reduced in block order by :func:`.moments.reduce_moments`, so the statistics
of each iteration are those of the stand-alone fit; the M-step follows
``fastprob._covariance`` (sums in numpy's order, :func:`.kmeans.numpy_sum`).

What the estimator does in Python on rare events is not repeated here: the
group gets a status code (``EM_*`` below) and the caller refits it with the
estimator, which then re-seeds the component or raises its error.
"""
import numpy as np

from ._config import blockwise, serial
from .kmeans import numpy_sum
from .mixture import ASSIGN_SOFT, em_step
from .moments import EMPTY_SHARE, reduce_moments
from .tiles import compiled_block_rows

#: The estimator's fused pass, compiled once, called here on one group's rows from inside the kernel.
_em_step_blocks = em_step.kernel

#: Status codes of :func:`grouped_em` (0: fitted).
EM_OK = 0
#: A covariance is not positive definite at initialisation (the estimator raises).
EM_ILL_DEFINED_INIT = 1
#: A covariance is not positive definite after an iteration (the estimator raises).
EM_ILL_DEFINED = 2
#: A component lost all its points (the estimator re-seeds it from its random state).
EM_EMPTY_COMPONENT = 3
#: float32 data whose factors leave float32's range (the estimator computes in float64).
EM_FLOAT32_RANGE = 4
#: A row's density underflows under every component (the estimator raises).
EM_UNDERFLOW = 5

#: init codes: labels per row ('kmeans'), responsibilities per row ('random'),
#: one seed row per component ('k-means++', 'random_from_data').
INIT_LABELS = 0
INIT_RESP = 1
INIT_SEEDS = 2

#: covariance codes, in fastprob._covariance.TYPES order.
FULL, TIED, DIAG, SPHERICAL = 0, 1, 2, 3


@serial
def _pass(X, sw, labels, resp, log_weights, means, chol, logdet, var, diagonal, solver, tile, max_blocks,
          W, mean, M2):
    """One em_step pass over X (moments if ``means`` has no rows); reduced statistics into W, mean, M2
    (lower triangle); returns (Σ w log p, lowest log p)."""
    n, d = X.shape
    K = W.shape[0]
    dd = M2.shape[2]
    block, nb = compiled_block_rows(n, tile, max_blocks)
    W_b = np.empty((nb, K))
    mean_b = np.empty((nb, K, d))
    M2_b = np.empty((nb, K, d, dd))
    loglik_b = np.empty((nb, 1))
    worst_b = np.empty((nb, 1), np.int64)
    worst_ll_b = np.empty((nb, 1))
    seg = np.empty(2, np.int64)
    seg[0], seg[1] = 0, K
    _em_step_blocks(0, nb, X, sw, labels, resp, seg, ASSIGN_SOFT, log_weights, means, chol, logdet, var, diagonal,
                    solver, np.empty(0), block, tile, W_b, mean_b, M2_b, loglik_b, worst_b, worst_ll_b)
    reduce_moments(W_b, mean_b, M2_b, W, mean, M2)
    loglik = 0.0
    worst = np.inf
    for b in range(nb):
        loglik += loglik_b[b, 0]
        if worst_ll_b[b, 0] < worst:
            worst = worst_ll_b[b, 0]
    return loglik, worst


@serial
def _cholesky(A, L):
    """Lower Cholesky factor of the symmetric A (lower triangle read) into L, LAPACK potf2's order;
    False if A is not positive definite (or not finite)."""
    d = A.shape[0]
    for i in range(d):
        for j in range(d):
            L[i, j] = 0.0
    for j in range(d):
        s = 0.0
        for k in range(j):
            s += L[j, k] * L[j, k]
        ajj = A[j, j] - s
        if not (ajj > 0.0) or not np.isfinite(ajj):
            return False
        ajj = np.sqrt(ajj)
        L[j, j] = ajj
        r = 1.0 / ajj
        for i in range(j + 1, d):
            t = 0.0
            for k in range(j):
                t += L[i, k] * L[j, k]
            v = A[i, j] - t
            if not np.isfinite(v):
                return False
            L[i, j] = v * r
    return True


@serial
def _m_step(W, mean, M2, cov_code, reg_covar, eps, nk, means, covs, var):
    """fastprob._em.estimate_parameters: nk, means and the covariances (full/tied: covs (Kc, d, d);
    diag/spherical: var (K, d)) from reduced statistics (M2: lower triangle)."""
    K, d = mean.shape
    for k in range(K):
        nk[k] = W[k] + eps
        f = W[k] / nk[k]
        for i in range(d):
            means[k, i] = mean[k, i] * f
    if cov_code == FULL:
        for k in range(K):
            for i in range(d):
                for j in range(i + 1):
                    c = M2[k, i, j] / nk[k]
                    covs[k, i, j] = c
                    covs[k, j, i] = c
                covs[k, i, i] += reg_covar
    elif cov_code == TIED:
        total = numpy_sum(nk, 0, K)
        for i in range(d):
            for j in range(i + 1):
                s = M2[0, i, j]
                for k in range(1, K):
                    s += M2[k, i, j]
                c = s / total
                covs[0, i, j] = c
                covs[0, j, i] = c
            covs[0, i, i] += reg_covar
    elif cov_code == DIAG:
        for k in range(K):
            for i in range(d):
                var[k, i] = M2[k, i, 0] / nk[k] + reg_covar
    else:
        row = np.empty(d)
        for k in range(K):
            for i in range(d):
                row[i] = M2[k, i, 0] / nk[k] + reg_covar
            c = numpy_sum(row, 0, d) / d
            for i in range(d):
                var[k, i] = c


@serial
def _factorise(covs, var, diagonal, chol64, logdet, diag_scratch):
    """Cholesky factors (or checked variances) and log-determinants; False if one is not positive definite."""
    if diagonal:
        K, d = var.shape
        for k in range(K):
            for i in range(d):
                if not (var[k, i] > 0.0):
                    return False
                diag_scratch[i] = np.log(var[k, i])
            logdet[k] = numpy_sum(diag_scratch, 0, d)
        return True
    Kc, d = covs.shape[0], covs.shape[1]
    for k in range(Kc):
        if not _cholesky(covs[k], chol64[k]):
            return False
        for i in range(d):
            diag_scratch[i] = np.log(chol64[k, i, i])
        logdet[k] = 2.0 * numpy_sum(diag_scratch, 0, d)
        if not np.isfinite(logdet[k]):
            return False
    return True


@serial
def _fits(a, tiny, big):
    """Every nonzero |entry| of ``a`` within [tiny, big] (Components.fit_dtype)."""
    for v in a.ravel():
        m = abs(v)
        if m != 0.0 and (m > big or m < tiny):
            return False
    return True


@blockwise
def grouped_em(b0, b1, X, sw, starts, init_labels, init_resp, seed_rows, total_weight, fpar, ipar, diagonal,
               solver, weights_out, means_out, covs_out, var_out, W_out, mean_out, M2_out, lower_bound_out,
               bounds_out, n_iter_out, converged_out, status_out):
    """Fit a Gaussian mixture to each group of rows by EM; groups b0 <= g < b1.

    Parameters
    ----------
    X : (N, d) float32/float64, rows sorted by group: group g is rows starts[g] .. starts[g + 1].
    sw : (N,) float64 sample weights, each group's scaled to mean 1, or empty.
    starts : (G + 1,) int64.
    init_labels : (N,) int64 component of each row ('kmeans'), or empty.
    init_resp : (N, K) float64 responsibilities ('random'), or empty.
    seed_rows : (G, K) int64 row (within its group) seeding each component, or empty.
    total_weight : (G,) float64: each group's total (scaled) weight.
    fpar : float64 [tol, reg_covar, eps (10 · the dtype's eps), float32 tiny, float32 max].
    ipar : int64 [K, max_iter, tile, max_blocks, covariance code, init code, float32 data].
    diagonal, solver : as for :func:`.mixture.em_step`.
    weights_out (G, K), means_out (G, K, d), covs_out (G, Kc, d, d) (full: Kc = K, tied: 1, else 0),
    var_out (G, K, d) (diag/spherical, else (G, 0, d)) : float64 fitted parameters.
    W_out (G, K), mean_out (G, K, d), M2_out (G, K, d, dd) : the last E-step's statistics (M2 lower).
    lower_bound_out (G,), bounds_out (G, max_iter), n_iter_out (G,) int64, converged_out (G,) int64.
    status_out (G,) int64 : EM_* code; a group with a nonzero code has no result.
    """
    d = X.shape[1]
    tol, reg_covar, eps, tiny32, max32 = fpar[0], fpar[1], fpar[2], fpar[3], fpar[4]
    K, max_iter, tile, max_blocks = ipar[0], ipar[1], ipar[2], ipar[3]
    cov_code, init_code, is32 = ipar[4], ipar[5], ipar[6] != 0
    dd = 1 if diagonal else d
    Kc = 0 if diagonal else (1 if cov_code == TIED else K)
    Kv = K if diagonal else 0
    no_labels = np.empty(0, np.int64)
    no_resp = np.empty((0, 0))
    no_means = np.empty((0, d))
    no_chol = np.empty((0, d, d))
    no_w = np.empty(0)
    no_var = np.empty((0, 0))
    for g in range(b0, b1):
        s = starts[g]
        n = starts[g + 1] - s
        Xg = X[s:s + n]
        swg = sw[s:s + n] if sw.size > 0 else sw
        tw = total_weight[g]
        W = np.empty(K)
        mean = np.empty((K, d))
        M2 = np.empty((K, d, dd))
        # ---- initial moments (fastprob._em.init_statistics) ----
        if init_code == INIT_LABELS:
            _pass(Xg, swg, init_labels[s:s + n], no_resp, no_w, no_means, no_chol, no_w, no_var, diagonal, solver,
                  tile, max_blocks, W, mean, M2)
        elif init_code == INIT_RESP:
            _pass(Xg, swg, no_labels, init_resp[s:s + n], no_w, no_means, no_chol, no_w, no_var, diagonal, solver,
                  tile, max_blocks, W, mean, M2)
        else:
            # _seed_statistics: the seed rows taken in row order, labelled with their components
            order = np.argsort(seed_rows[g])
            Xs = np.empty((K, d), X.dtype)
            sws = np.empty(K if sw.size > 0 else 0)
            labs = np.empty(K, np.int64)
            for j in range(K):
                r = seed_rows[g, order[j]]
                for i in range(d):
                    Xs[j, i] = Xg[r, i]
                if sw.size > 0:
                    sws[j] = swg[r]
                labs[j] = order[j]
            _pass(Xs, sws, labs, no_resp, no_w, no_means, no_chol, no_w, no_var, diagonal, solver,
                  tile, max_blocks, W, mean, M2)
        nk = np.empty(K)
        weights = np.empty(K)
        means = np.empty((K, d))
        covs = np.empty((Kc, d, d))
        var = np.empty((Kv, d))
        chol64 = np.empty((Kc, d, d))
        logdet = np.empty(Kc if not diagonal else K)
        scratch = np.empty(d)
        chol = np.empty((Kc, d, d), X.dtype)
        var_t = np.empty((Kv, d), X.dtype)
        log_weights = np.empty(K)
        _m_step(W, mean, M2, cov_code, reg_covar, eps, nk, means, covs, var)
        for k in range(K):
            weights[k] = nk[k] / tw
        status = EM_OK
        if not _factorise(covs, var, diagonal, chol64, logdet, scratch):
            status = EM_ILL_DEFINED_INIT
        elif is32 and not (_fits(chol64, tiny32, max32) and _fits(var, tiny32, max32)):
            status = EM_FLOAT32_RANGE
        lower_bound = -np.inf
        n_iter = 0
        converged = False
        for it in range(1, max_iter + 1):
            if status != EM_OK:
                break
            n_iter = it
            prev = lower_bound
            for k in range(K):
                log_weights[k] = np.log(weights[k])
            for k in range(Kc):
                for i in range(d):
                    for j in range(d):
                        chol[k, i, j] = chol64[k, i, j]
            for k in range(Kv):
                for i in range(d):
                    var_t[k, i] = var[k, i]
            loglik, worst = _pass(Xg, swg, no_labels, no_resp, log_weights, means, chol, logdet, var_t, diagonal,
                                  solver, tile, max_blocks, W, mean, M2)
            if worst == -np.inf:
                status = EM_UNDERFLOW
                break
            _m_step(W, mean, M2, cov_code, reg_covar, eps, nk, means, covs, var)
            total = numpy_sum(nk, 0, K)
            for k in range(K):
                weights[k] = nk[k] / total
            wsum = numpy_sum(W, 0, K)
            n_empty = 0
            for k in range(K):
                if W[k] < EMPTY_SHARE * wsum:
                    n_empty += 1
            if 0 < n_empty < K:
                status = EM_EMPTY_COMPONENT
                break
            if not _factorise(covs, var, diagonal, chol64, logdet, scratch):
                status = EM_ILL_DEFINED
                break
            if is32 and not (_fits(chol64, tiny32, max32) and _fits(var, tiny32, max32)):
                status = EM_FLOAT32_RANGE
                break
            lower_bound = loglik / tw
            bounds_out[g, it - 1] = lower_bound
            if abs(lower_bound - prev) < tol:
                converged = True
                break
        status_out[g] = status
        if status != EM_OK:
            continue
        for k in range(K):
            weights_out[g, k] = weights[k]
            W_out[g, k] = W[k]
            for i in range(d):
                means_out[g, k, i] = means[k, i]
                mean_out[g, k, i] = mean[k, i]
                for j in range(dd):
                    M2_out[g, k, i, j] = M2[k, i, j]
        for k in range(Kc):
            for i in range(d):
                for j in range(d):
                    covs_out[g, k, i, j] = covs[k, i, j]
        for k in range(Kv):
            for i in range(d):
                var_out[g, k, i] = var[k, i]
        lower_bound_out[g] = lower_bound
        n_iter_out[g] = n_iter
        converged_out[g] = 1 if converged else 0


@serial
def group_sums(a, starts, out):
    """out[g] = a[starts[g] : starts[g + 1]].sum() in numpy's summation order (each group non-empty)."""
    for g in range(out.shape[0]):
        out[g] = numpy_sum(a, starts[g], starts[g + 1] - starts[g])
