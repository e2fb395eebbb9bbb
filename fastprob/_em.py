"""The numerics of EM for Gaussian mixtures, shared by the estimator.

One EM iteration is one call of the fused kernel (:func:`kernels.mixture.em_step`)
over X, which returns per-block sufficient statistics; they are reduced in
block order here and turned into new parameters by :func:`m_step`.  The
structure follows scikit-learn's ``sklearn/mixture`` (same formulas, same
10·eps added to the component weights), so that the same initial parameters
give the same fitted parameters.
"""
import numpy as np

from .kernels import mixture as _mixk
from ._moments import allocate_partials, block_layout, group_moments, group_partials, reduce_partials
from .mixture import make_components

#: sklearn's message when a covariance cannot be factorised, kept verbatim so
#: that code matching on it keeps working.
ILL_DEFINED = (
    "Fitting the mixture model failed because some components have ill-defined empirical "
    "covariance (for instance caused by singleton or collapsed samples). Try to decrease "
    "the number of components, increase reg_covar, or scale the input data."
)

#: A component whose share of the total weight falls below this has lost all
#: its points and is re-seeded.
EMPTY_SHARE = 1e-8

#: Above this many rows, 'kmeans' and 'k-means++' initialise on a random sample
#: of this many rows ('kmeans' then labels every row by its nearest centre).
INIT_SAMPLE_MAX = 100_000

#: Rows per chunk when the 'random' initialisation draws responsibilities.
RANDOM_INIT_CHUNK = 65536


class Statistics:
    """Reduced sufficient statistics of one pass: per component W, mean, scatter M2."""

    __slots__ = ("W", "mean", "M2", "loglik", "worst_row")

    def __init__(self, W, mean, M2, loglik=np.nan, worst_row=-1):
        self.W, self.mean, self.M2, self.loglik, self.worst_row = W, mean, M2, loglik, worst_row


def is_diagonal(covariance_type):
    return covariance_type in ("diag", "spherical")


def estimate_parameters(stats, covariance_type, reg_covar, eps):
    """sklearn's ``_estimate_gaussian_parameters`` from reduced moments.

    Returns (nk, means, covariances); nk includes sklearn's ``10 * eps``, so an
    empty component gets mean 0 and covariance reg_covar·I exactly as in sklearn.
    """
    nk = stats.W + eps
    means = stats.mean * (stats.W / nk)[:, None]
    d = means.shape[1]
    if covariance_type == "full":
        covs = stats.M2 / nk[:, None, None]
        covs[:, np.arange(d), np.arange(d)] += reg_covar
    elif covariance_type == "tied":
        covs = stats.M2.sum(axis=0) / nk.sum()
        covs[np.arange(d), np.arange(d)] += reg_covar
    else:
        covs = stats.M2 / nk[:, None] + reg_covar
        if covariance_type == "spherical":
            covs = covs.mean(axis=1)
    return nk, means, covs


def init_statistics(X, sw, method, n_components, random_state, diagonal):
    """Moments of the initial hard/soft assignment, as sklearn's initialisations.

    'kmeans': labels from sklearn's KMeans (n_init=1); 'k-means++': the seeds
    of sklearn's kmeans_plusplus, one point per component (both on a random
    sample of :data:`INIT_SAMPLE_MAX` rows when there are more); 'random_from_data':
    K distinct random rows; 'random': uniform random responsibilities, drawn
    in chunks of rows so that no N x K array is held (the random stream is the
    same as sklearn's single draw).
    """
    N = X.shape[0]
    K = n_components
    if method == "random":
        partials = []
        for c0 in range(0, N, RANDOM_INIT_CHUNK):
            c1 = min(N, c0 + RANDOM_INIT_CHUNK)
            resp = random_state.uniform(size=(c1 - c0, K))
            resp /= resp.sum(axis=1)[:, None]
            partials.append(group_partials(X[c0:c1], None if sw is None else sw[c0:c1], resp=resp,
                                           n_groups=K, diagonal=diagonal))
        W_b, mean_b, M2_b = (np.concatenate(p, axis=0) for p in zip(*partials))
        return Statistics(*reduce_partials(W_b, mean_b, M2_b, diagonal))
    labels = np.full(N, -1, dtype=np.int64)
    if method in ("kmeans", "k-means++") and N > INIT_SAMPLE_MAX:
        # k-means on a bounded random sample of rows: sklearn's KMeans copies X
        # and k-means++ holds (2 + log K) distances per row, which on millions
        # of rows would cost more memory than the whole EM.
        rows = np.sort(random_state.choice(N, size=INIT_SAMPLE_MAX, replace=False))
        X_init, sw_init = X[rows], None if sw is None else sw[rows]
    else:
        rows, X_init, sw_init = None, X, sw
    if method == "kmeans":
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=K, n_init=1, random_state=random_state).fit(X_init, sample_weight=sw_init)
        labels[:] = km.labels_ if rows is None else km.predict(X)
    elif method == "k-means++":
        from sklearn.cluster import kmeans_plusplus

        _, indices = kmeans_plusplus(X_init, K, random_state=random_state, sample_weight=sw_init)
        labels[indices if rows is None else rows[indices]] = np.arange(K)
    else:  # random_from_data
        labels[random_state.choice(N, size=K, replace=False)] = np.arange(K)
    return Statistics(*group_moments(X, sw, labels=labels, n_groups=K, diagonal=diagonal))


def e_step_statistics(X, sw, comps):
    """One fused E-step + statistics pass (the expensive part of an EM iteration)."""
    N, d = X.shape
    K = comps.n_components
    diagonal = comps.diagonal
    dd = 1 if diagonal else d
    block, tile, n_blocks = block_layout(N, d, K, dd)
    W_b, mean_b, M2_b = allocate_partials(n_blocks, K, d, dd)
    loglik_b = np.empty(n_blocks)
    worst_b = np.empty(n_blocks, dtype=np.int64)
    worst_ll_b = np.empty(n_blocks)
    kernel = _mixk.em_step.for_size(N * K * d * (d + dd + 4))
    kernel(X, np.empty(0) if sw is None else sw, *comps.kernel_args(X.dtype), block, tile,
           W_b, mean_b, M2_b, loglik_b, worst_b, worst_ll_b)
    W, mean, M2 = reduce_partials(W_b, mean_b, M2_b, diagonal)
    loglik = 0.0
    for value in loglik_b:  # block order: reproducible on any thread count
        loglik += value
    worst_row = int(worst_b[int(np.argmin(worst_ll_b))]) if n_blocks else -1
    return Statistics(W, mean, M2, loglik, worst_row)


def m_step(stats, covariance_type, reg_covar, eps):
    """New (weights, means, covariances) from the statistics of an E-step (sklearn's _m_step)."""
    nk, means, covs = estimate_parameters(stats, covariance_type, reg_covar, eps)
    return nk / nk.sum(), means, covs


def factorise_or_raise(weights, means, covs, covariance_type, dtype, when):
    """Components for the kernels, or sklearn's ValueError naming the failing components."""
    comps, failed = make_components(weights, means, covs, covariance_type)
    if failed:
        msg = ILL_DEFINED
        if dtype == np.float32:
            msg += " The numerical accuracy can also be improved by passing float64 data instead of float32."
        which = "the tied covariance" if covariance_type == "tied" else f"component(s) {failed}"
        raise ValueError(f"{msg} ({which} not positive definite {when}.)")
    return comps


def reseed_empty(weights, means, covs, stats, covariance_type, X, rng):
    """Re-seed components that lost all their points; return their indices.

    The first empty component moves to the worst-explained sample (lowest
    log-likelihood in the last E-step), any others to random distinct samples;
    each gets the weight-averaged covariance of the live components and a
    weight of one sample, then the weights are renormalised.
    """
    total = stats.W.sum()
    empty = np.flatnonzero(stats.W < EMPTY_SHARE * total)
    if empty.size == 0 or empty.size == len(weights):
        return []
    live = np.setdiff1d(np.arange(len(weights)), empty)
    rows = [stats.worst_row] if stats.worst_row >= 0 else []
    others = rng.choice(X.shape[0], size=min(X.shape[0], empty.size + 1), replace=False)
    rows += [int(r) for r in others if int(r) not in rows]
    share = weights[live] / weights[live].sum()
    for k, row in zip(empty, rows):
        means[k] = X[row]
        if covariance_type != "tied":
            covs[k] = np.tensordot(share, covs[live], axes=1)
        weights[k] = 1.0 / X.shape[0]
    weights /= weights.sum()
    return empty.tolist()
