"""The numerics of EM for Gaussian mixtures, shared by the estimator.

One EM iteration is one call of the fused kernel (:func:`kernels.mixture.em_step`)
over X, which returns per-block sufficient statistics; they are reduced in
block order here and turned into new parameters by :func:`m_step`.  The
structure follows scikit-learn's ``sklearn/mixture`` (same formulas, same
10·eps added to the component weights), so that the same initial parameters
give the same fitted parameters.
"""
import functools

import numpy as np

from . import _covariance
from ._moments import (
    Statistics,
    allocate_partials,
    block_layout,
    group_moments,
    group_partials,
    merge_statistics,
    reduce_partials,
)
from .kernels import mixture as _mixk
from .mixture import make_components
from .threads import openmp_fork_guard
from ._validation import read_only

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

#: ... and at most this many bytes of them (float64), for very wide data.
INIT_SAMPLE_BYTES = 512 * 2**20

#: Rows per chunk when the 'random' initialisation draws responsibilities.
RANDOM_INIT_CHUNK = 65536


def estimate_parameters(stats, covariance_type, reg_covar, eps):
    """sklearn's ``_estimate_gaussian_parameters`` from reduced moments.

    Returns (nk, means, covariances); nk includes sklearn's ``10 * eps``, so an
    empty component gets mean 0 and covariance reg_covar·I exactly as in sklearn.
    """
    nk = stats.W + eps
    means = stats.mean * (stats.W / nk)[:, None]
    return nk, means, _covariance.lookup(covariance_type).estimate(stats.M2, nk, reg_covar)


# ---------------------------------------------------------------------- #
# Per-chunk statistics: what every chunk of rows (an array, a memmap chunk,
# a dask block) turns into; a source's map_reduce merges them in row order.
# Signature (X_chunk, weights_chunk, rng) after the leading arguments are
# bound with functools.partial (picklable, for dask workers).
# ---------------------------------------------------------------------- #
def random_chunk_statistics(n_components, diagonal, X, sw, random_state):
    """Moments under uniform random responsibilities, drawn row-chunk by row-chunk.

    Consecutive draws of (n, K) uniforms continue one stream, so a pass over
    the chunks in row order draws the same numbers as sklearn's single
    (N, K) draw, without holding an N x K array (``draws_per_row`` = K).
    """
    partials = []
    for c0 in range(0, X.shape[0], RANDOM_INIT_CHUNK):
        c1 = min(X.shape[0], c0 + RANDOM_INIT_CHUNK)
        resp = random_state.uniform(size=(c1 - c0, n_components))
        resp /= resp.sum(axis=1)[:, None]
        partials.append(group_partials(X[c0:c1], None if sw is None else sw[c0:c1], resp=resp,
                                       n_groups=n_components, diagonal=diagonal))
    W_b, mean_b, M2_b = (np.concatenate(p, axis=0) for p in zip(*partials))
    return Statistics(*reduce_partials(W_b, mean_b, M2_b, diagonal))


def labelled_chunk_statistics(X, sw, labels, n_components, diagonal):
    """Moments of the rows of each label (rows labelled -1 belong to no component)."""
    return Statistics(*group_moments(X, sw, labels=labels, n_groups=n_components, diagonal=diagonal))


def kmeans_chunk_statistics(kmeans, n_components, diagonal, X, sw, rng=None):
    """Moments of the rows nearest to each of a fitted ``KMeans``'s centres."""
    return labelled_chunk_statistics(X, sw, kmeans.predict(X).astype(np.int64), n_components, diagonal)


def e_step_chunk_statistics(comps, X, sw, rng=None, marginalize=False):
    return e_step_statistics(X, sw, comps, marginalize)


def e_step_statistics(X, sw, comps, marginalize=False):
    """One fused E-step + statistics pass over an array (the expensive part of an EM iteration).

    With ``marginalize``, NaN entries are missing at random: the E-step
    scores the observed coordinates and the statistics are the expected ones
    (see :mod:`fastprob.kernels.missing`).  Callers pass it only for data
    with missing values (a source's ``holes``), so that data without NaN run
    the complete-data build exactly; X is not scanned again here.
    """
    N, d = X.shape
    K = comps.n_components
    diagonal = comps.diagonal
    dd = 1 if diagonal else d
    block, tile, n_blocks = block_layout(N, d, K, dd)
    W_b, mean_b, M2_b = allocate_partials(n_blocks, K, d, dd)
    loglik_b = np.empty(n_blocks)
    worst_b = np.empty(n_blocks, dtype=np.int64)
    worst_ll_b = np.empty(n_blocks)
    # Per row and component: the triangular solve (~d² flops, none when diagonal) and the scatter (~d·dd).
    kernel = _mixk.em_step.for_size(N * K * d * (dd + 6 + (0 if diagonal else d)))
    kernel(n_blocks, *read_only(X, np.empty(0) if sw is None else sw, np.empty(0, np.int64), np.empty((0, 0))),
           # (with holes in float64, as mixture.score explains)
           *comps.kernel_args(np.float64 if marginalize else comps.arithmetic_dtype(X.dtype)),
           comps.hole_precisions(marginalize), block, tile,
           W_b, mean_b, M2_b, loglik_b, worst_b, worst_ll_b)
    W, mean, M2 = reduce_partials(W_b, mean_b, M2_b, diagonal)
    loglik = 0.0
    for value in loglik_b:  # block order: reproducible on any thread count
        loglik += value
    if n_blocks == 0:
        return Statistics(W, mean, M2, loglik)
    worst = int(np.argmin(worst_ll_b))
    return Statistics(W, mean, M2, loglik, int(worst_b[worst]), float(worst_ll_b[worst]))


def data_factor(max_abs, dtype, reg_covar=0.0):
    """The power of two EM scales the data by: 1, unless their squares would leave ``dtype``'s range.

    Data whose largest |x| is beyond 2^(2/5 of the dtype's exponent range)
    (~1e123 in float64, ~2e15 in float32), or nonzero below its inverse,
    would square (in distances, scatter, covariances) past the largest or
    below the smallest number; scaled to |x| < 1 they do not.  A power of two
    scales exactly.
    """
    limit = 2.0 ** (np.finfo(dtype).maxexp * 2 // 5)
    if max_abs == 0 or 1 / limit <= max_abs <= limit:
        return 1.0
    f = float(np.ldexp(1.0, min(-int(np.frexp(max_abs)[1]), np.finfo(dtype).maxexp - 4)))
    if reg_covar * f * f > limit:
        # Tiny data under a ridge that dwarfs them: the covariances are the ridge, which
        # scaled up would overflow; unscaled, the data's negligible squares just underflow.
        return 1.0
    return f


def scaled(params, f):
    """(weights, means, covariances) in the units of the data multiplied by f (None stays None)."""
    weights, means, covs = params
    # covs * f * f, not covs * (f * f): f² alone may leave float64 where the product does not
    return (weights, None if means is None else means * f, None if covs is None else covs * f * f)


def unscaled_components(comps, f, covariance_type, dtype):
    """The components fitted on data multiplied by f, in the data's own units (or a clear error)."""
    with np.errstate(over="ignore", under="ignore"):  # checked below
        weights, means, covs = scaled((comps.weights, comps.means, comps.covariances), 1 / f)
    largest = np.abs(comps.covariances).max()
    if not np.isfinite(covs).all() or not np.isfinite(means).all() or (largest > 0 and not np.abs(covs).max() > 0):
        exponent = np.log10(largest) - 2 * np.log10(f)
        raise ValueError(f"The covariances fitted to X are of the order of 1e{exponent:.0f}, beyond the range "
                         f"of {np.dtype(dtype).name}: the data spread over more than its numbers can square. Fit "
                         "them in other units (e.g. divide each column of X by its standard deviation).")
    return factorise_or_raise(weights, means, covs, covariance_type, dtype, "in the data's units")


def e_step(source, comps):
    """E-step statistics of all rows of a source under the mixture ``comps`` (one pass).

    A source with missing values (``source.holes``) gets exact EM's expected
    statistics given each row's observed values.

    A row whose density underflows under every component (log p = -inf: the
    data span more than float64's range of squared distances) has no defined
    responsibilities; it is an error naming the row, not NaN parameters.
    """
    stats = source.map_reduce(functools.partial(e_step_chunk_statistics, comps, marginalize=source.holes),
                              comps.n_components, comps.diagonal)
    if stats.worst_ll == -np.inf:
        raise ValueError(f"Row {stats.worst_row} of X is so far from every component that its density "
                         "underflows to 0 (log-likelihood -inf): the data's values span more than float64 can "
                         "square. Scale the data (e.g. divide each column by its standard deviation) or "
                         "remove the outlying rows before fitting.")
    return stats


def init_statistics(source, method, n_components, random_state, diagonal):
    """Moments of the initial hard/soft assignment, as sklearn's initialisations.

    'kmeans': labels from sklearn's KMeans (n_init=1); 'k-means++': the seeds
    of sklearn's kmeans_plusplus, one point per component (both on a random
    sample of :func:`init_sample_rows` rows (100 000, fewer for very wide
    data) when there are more, so that initialisation never loads all the
    data); 'random_from_data': K distinct random rows; 'random': uniform
    random responsibilities, drawn chunk by chunk (the same random stream as
    sklearn's single draw).

    A source of at most that many rows is first gathered into memory, so that
    the initialisation is the in-memory one exactly, whatever the source.
    """
    N = source.n_rows
    K = n_components
    limit = init_sample_rows(source.n_features)
    if N <= limit:
        source = source.in_memory()
    if method == "random":
        return source.map_reduce(functools.partial(random_chunk_statistics, K, diagonal), K, diagonal,
                                 random_state=random_state, draws_per_row=K)
    if method == "random_from_data":
        return _seed_statistics(source, _data_seed_rows(source, random_state, K), diagonal)
    if N > limit:
        # k-means on a bounded random sample of rows: sklearn's KMeans copies X
        # and k-means++ holds (2 + log K) distances per row, which on millions
        # of rows would cost more memory than the whole EM.
        rows = sample_rows(random_state, N, limit)
        X_init, sw_init = source.take(rows)
    else:
        rows = None
        X_init, sw_init = source.X, source.sw
    # KMeans and kmeans_plusplus run OpenMP code, which hangs in a forked child (see openmp_fork_guard).
    with openmp_fork_guard():
        if method == "kmeans":
            from sklearn.cluster import KMeans

            km = KMeans(n_clusters=K, n_init=1, random_state=random_state).fit(X_init, sample_weight=sw_init)
            if N <= limit:
                return labelled_chunk_statistics(source.X, source.sw, km.labels_.astype(np.int64), K, diagonal)
            # Every row takes the label of its nearest centre.
            return source.map_reduce(functools.partial(kmeans_chunk_statistics, km, K, diagonal), K, diagonal)
        from sklearn.cluster import kmeans_plusplus  # k-means++

        _, seeds = kmeans_plusplus(X_init, K, random_state=random_state, sample_weight=sw_init)
        return _seed_statistics(source, seeds if rows is None else rows[seeds], diagonal)


def _data_seed_rows(source, random_state, K):
    """K distinct random rows of positive weight, for 'random_from_data'.

    Without zero sample weights this is scikit-learn's draw (uniform over all
    rows).  A row of weight 0 is not data: seeded there, a component would
    start with no mass (at the origin) and EM could not move it, so the draw
    is uniform over the positively weighted rows -- the same numbers from any
    source (the source finds which rows they are).
    """
    if source.n_positive == source.n_rows:
        return sample_rows(random_state, source.n_rows, K, ordered=False)
    _check_positive_rows(source.n_positive, K)
    ordinals = sample_rows(random_state, source.n_positive, K, ordered=False)
    order = np.argsort(ordinals)
    rows = np.empty(K, dtype=np.int64)
    rows[order] = source.positive_rows(ordinals[order])
    return rows


def _check_positive_rows(n_positive, K):
    if n_positive < K:
        raise ValueError(f"init_params='random_from_data' seeds each of the n_components = {K} components at a "
                         f"distinct row of positive sample weight, but only {n_positive} such rows were found. "
                         "Use fewer components or another init_params.")


def init_sample_rows(n_features):
    """Rows k-means initialises on: :data:`INIT_SAMPLE_MAX`, fewer for very wide data."""
    return int(min(INIT_SAMPLE_MAX, max(1000, INIT_SAMPLE_BYTES // (8 * max(1, n_features)))))


def sample_rows(random_state, N, k, ordered=True):
    """k distinct random row indices of range(N), in memory O(k) (sorted when ``ordered``).

    For N up to :data:`INIT_SAMPLE_MAX` (and up to 4k) this is numpy's
    ``choice(N, k, replace=False)``, the draw sklearn makes, which permutes all
    N indices; above, a permutation would cost 8·N bytes (8 GB for 1e9 rows),
    so the rows are drawn with replacement until k distinct ones are found and
    k of those are kept (still a uniformly random k-subset).
    """
    if N <= max(INIT_SAMPLE_MAX, 4 * k):
        rows = random_state.choice(N, size=k, replace=False)
        return np.sort(rows) if ordered else rows
    picked = np.empty(0, dtype=np.int64)
    while picked.size < k:
        more = random_state.randint(0, N, size=(k - picked.size) * 11 // 10 + 16, dtype=np.int64)
        picked = np.union1d(picked, more)
    rows = random_state.choice(picked, size=k, replace=False)
    return np.sort(rows) if ordered else rows


def _seed_statistics(source, seeds, diagonal):
    """Moments with one row per component (the row itself, M2 = 0): component k at row seeds[k]."""
    order = np.argsort(seeds)
    X_seed, sw_seed = source.take(seeds[order])
    labels = np.empty(len(seeds), dtype=np.int64)
    labels[:] = order  # the j-th row taken (in row order) seeds component order[j]
    return labelled_chunk_statistics(np.ascontiguousarray(X_seed), sw_seed, labels, len(seeds), diagonal)


def m_step(stats, covariance_type, reg_covar, eps):
    """New (weights, means, covariances) from the statistics of an E-step (sklearn's _m_step)."""
    nk, means, covs = estimate_parameters(stats, covariance_type, reg_covar, eps)
    return nk / nk.sum(), means, covs


def factorise_or_raise(weights, means, covs, covariance_type, dtype, when):
    """Components for the kernels, or sklearn's ValueError naming the failing components."""
    comps, failed = make_components(weights, means, covs, covariance_type)
    if not failed and dtype == np.float32:
        # The fitted attributes keep the data's dtype: they must not become inf.
        largest = max(np.abs(covs).max(), np.abs(_covariance.lookup(covariance_type).precisions(comps)[1]).max())
        if largest > np.finfo(np.float32).max:
            raise ValueError(f"The covariances or precisions reached {largest:.3g} {when}, beyond float32's "
                             "range, so the fitted model cannot be stored in float32 like the data: pass the "
                             "data as float64.")
    if failed:
        msg = ILL_DEFINED
        if dtype == np.float32:
            msg += " The numerical accuracy can also be improved by passing float64 data instead of float32."
        ctype = _covariance.lookup(covariance_type)
        which = f"the {ctype.name} covariance" if ctype.shared else f"component(s) {failed}"
        raise ValueError(f"{msg} ({which} not positive definite {when}.)")
    return comps


def reseed_empty(weights, means, covs, stats, covariance_type, source, rng):
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
    N = source.n_rows
    rows = [stats.worst_row] if stats.worst_row >= 0 else []
    others = sample_rows(rng, N, min(N, empty.size + 1), ordered=False)
    rows += [int(r) for r in others if int(r) not in rows]
    rows = rows[:empty.size]
    order = np.argsort(rows)
    X_rows = np.empty((len(rows), means.shape[1]))
    X_rows[order] = source.take(np.asarray(rows, dtype=np.int64)[order])[0]
    share = weights[live] / weights[live].sum()
    ctype = _covariance.lookup(covariance_type)
    average = ctype.average(covs, share, live)
    for k, x in zip(empty, X_rows):
        means[k] = x
        ctype.set_component(covs, k, average)
        weights[k] = 1.0 / N
    weights /= weights.sum()
    return empty.tolist()
