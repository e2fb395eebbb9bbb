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
    Batch,
    Statistics,
    allocate_partials,
    block_layout,
    group_moments,
    group_partials,
    merge_statistics,
    reduce_partials,
)
from .kernels import mixture as _mixk
from .kernels import moments as _mk
from .kernels.gaussian import LOG_2PI, solver_token
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
EMPTY_SHARE = _mk.EMPTY_SHARE

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


def centre_chunk_statistics(centre_sets, diagonals, X, sw, rng=None):
    """Moments of the rows nearest to each centre, for several sets of centres in one pass (a Batch).

    The labels are k-means' (the nearest centre by exact squared Euclidean
    distance, the first on ties), computed in the E-step kernel: the set's
    centres as a mixture of unit covariances and equal weights, each row
    wholly assigned to its most probable component.
    """
    mixtures = [_NearestCentres(np.ascontiguousarray(c, dtype=np.float64), diag)
                for c, diag in zip(centre_sets, diagonals)]
    return Batch(stacked_statistics(X, sw, mixtures, assign=_mixk.ASSIGN_HARD))


class _NearestCentres:
    """Centres as what the E-step kernel assigns rows to: unit covariances, equal weights.

    The log-density constant is exactly 0 (log-weight 0 and log|Σ| = -d log 2π),
    and with unit factors the solve gives x - μ exactly, so the kernel's
    log-probabilities are exactly -½ the squared distances and its most
    probable component is exactly the nearest centre.  Centres of full and
    tied candidates use the triangular-solver build their EM uses, those of
    diagonal and spherical ones the diagonal build (no extra compilation).
    """

    covariance_type = "spherical"

    def __init__(self, centres, diagonal_scatter):
        self.means = centres
        self.n_components = centres.shape[0]
        self.scatter_diagonal = diagonal_scatter

    def kernel_args(self, dtype):
        K, d = self.means.shape
        if self.scatter_diagonal:
            chol, var = np.zeros((0, 0, 0)), np.ones((K, d))
        else:
            chol, var = np.ascontiguousarray(np.broadcast_to(np.eye(d), (K, d, d))), np.empty((0, 0))
        diagonal = self.scatter_diagonal
        return (*read_only(np.zeros(K), self.means, chol, np.full(K, -(d * LOG_2PI)), var), diagonal,
                solver_token(d, diagonal))


def e_step_batch_chunk_statistics(mixtures, X, sw, rng=None, marginalize=False, assign=_mixk.ASSIGN_SOFT):
    return Batch(stacked_statistics(X, sw, mixtures, marginalize, assign))


def e_step_statistics(X, sw, comps, marginalize=False):
    """One fused E-step + statistics pass over an array (the expensive part of an EM iteration).

    With ``marginalize``, NaN entries are missing at random: the E-step
    scores the observed coordinates and the statistics are the expected ones
    (see :mod:`fastprob.kernels.missing`).  Callers pass it only for data
    with missing values (a source's ``holes``), so that data without NaN run
    the complete-data build exactly; X is not scanned again here.
    """
    return stacked_statistics(X, sw, [comps], marginalize)[0]


#: The mixtures sharing a pass are split over several kernel calls where their
#: per-block partial statistics together would exceed this.
STACK_PARTIALS_BYTES = 64 * 2**20


def stacked_statistics(X, sw, mixtures, marginalize=False, assign=_mixk.ASSIGN_SOFT):
    """E-step statistics of several mixtures over the rows of X, each bit-identical to its own pass.

    Mixtures whose passes have the same kind of scatter (full or diagonal),
    arithmetic dtype and block layout are stacked into one kernel call (up to
    :data:`STACK_PARTIALS_BYTES` of partials), which loads each tile of rows
    once for all of them; the others get calls of their own.  Each
    mixture's statistics are reduced from its own partials, in block order.
    With missing values (``marginalize``) every mixture has its own call.
    ``assign`` is em_step's: with ``ASSIGN_HARD`` the mixtures are
    :class:`_NearestCentres` and the statistics those of the nearest-centre
    clusters; with ``ASSIGN_NONE`` only the log-likelihoods are computed.
    """
    N, d = X.shape
    results = [None] * len(mixtures)
    groups = {}
    hard = assign == _mixk.ASSIGN_HARD
    for i, mix in enumerate(mixtures):
        diagonal = mix.scatter_diagonal if hard else mix.diagonal
        # Rows with holes compute in float64 (as mixture.score explains), and so do moments.
        dtype = np.dtype(np.float64) if (marginalize or hard) else mix.arithmetic_dtype(X.dtype)
        dd = 1 if diagonal else d
        layout = block_layout(N, d, mix.n_components, dd)
        groups.setdefault((diagonal, dtype, layout), []).append(i)
    for (diagonal, dtype, layout), members in groups.items():
        dd = 1 if diagonal else d
        batch, total = [], 0
        for i in members:
            K = mixtures[i].n_components
            if batch and (marginalize or (total + K) * layout[2] * d * dd * 8 > STACK_PARTIALS_BYTES):
                _stacked_pass(X, sw, [mixtures[j] for j in batch], batch, results, marginalize, assign, diagonal,
                              dtype, layout)
                batch, total = [], 0
            batch.append(i)
            total += K
        _stacked_pass(X, sw, [mixtures[j] for j in batch], batch, results, marginalize, assign, diagonal, dtype,
                      layout)
    return results


def _stacked_pass(X, sw, mixtures, where, results, marginalize, assign, diagonal, dtype, layout):
    """One em_step call for ``mixtures`` (stacked); their statistics go to results[where[i]]."""
    N, d = X.shape
    dd = 1 if diagonal else d
    block, tile, n_blocks = layout
    sizes = [mix.n_components for mix in mixtures]
    seg = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    K, M = int(seg[-1]), len(mixtures)
    args = stack_kernel_args([mix.kernel_args(dtype) for mix in mixtures], sizes)
    prec = mixtures[0].hole_precisions(True) if marginalize else np.empty(0)
    W_b, mean_b, M2_b = allocate_partials(n_blocks, K, d, dd)
    loglik_b = np.empty((n_blocks, M))
    worst_b = np.empty((n_blocks, M), dtype=np.int64)
    worst_ll_b = np.empty((n_blocks, M))
    # Per row and component: the triangular solve (~d² flops, none when diagonal) and the scatter (~d·dd).
    kernel = _mixk.em_step.for_size(N * K * d * (dd + 6 + (0 if args[5] else d)))
    kernel(n_blocks, *read_only(X, np.empty(0) if sw is None else sw, np.empty(0, np.int64), np.empty((0, 0)), seg),
           assign, *args, prec, block, tile, W_b, mean_b, M2_b, loglik_b, worst_b, worst_ll_b)
    for m, i in enumerate(where):
        k0, k1 = seg[m], seg[m + 1]
        parts = (W_b, mean_b, M2_b) if M == 1 else (np.ascontiguousarray(a[:, k0:k1]) for a in (W_b, mean_b, M2_b))
        W, mean, M2 = reduce_partials(*parts, diagonal)
        if assign == _mixk.ASSIGN_HARD:
            results[i] = Statistics(W, mean, M2)
            continue
        loglik = 0.0
        for value in loglik_b[:, m]:  # block order: reproducible on any thread count
            loglik += value
        if n_blocks == 0:
            results[i] = Statistics(W, mean, M2, loglik)
            continue
        worst = int(np.argmin(worst_ll_b[:, m]))
        results[i] = Statistics(W, mean, M2, loglik, int(worst_b[worst, m]), float(worst_ll_b[worst, m]))


def stack_kernel_args(args, sizes):
    """Several mixtures' kernel arguments (``Components.kernel_args``) stacked along the components.

    A shared ('tied') factor is repeated for each of its mixture's
    components, so that every component has its own.
    """
    if len(args) == 1:
        return args[0]
    per_component = []
    for a, K in zip(args, sizes):
        chol, logdet = a[2], a[3]
        if chol.shape[0] == 1 and K > 1:
            chol, logdet = np.repeat(chol, K, axis=0), np.repeat(logdet, K)
        per_component.append((a[0], a[1], chol, logdet, a[4]))
    stacked = [np.ascontiguousarray(np.concatenate(parts)) for parts in zip(*per_component)]
    return (*read_only(*stacked), args[0][5], args[0][6])


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
    stats = e_step_many(source, [comps])[0]
    check_underflow(stats)
    return stats


def e_step_many(source, mixtures):
    """The E-step statistics of several mixtures, in one pass over the source's rows (a list).

    Each is bit-identical to :func:`e_step` of that mixture alone (but not
    checked for underflow: see :func:`check_underflow`).
    """
    return list(source.map_reduce(functools.partial(e_step_batch_chunk_statistics, mixtures,
                                                    marginalize=source.holes),
                                  [m.n_components for m in mixtures], [m.diagonal for m in mixtures]))


def log_likelihoods(source, mixtures):
    """Σ w log p(x) over the source's rows under each mixture: one pass, no statistics (a list)."""
    batch = source.map_reduce(functools.partial(e_step_batch_chunk_statistics, mixtures, marginalize=source.holes,
                                                assign=_mixk.ASSIGN_NONE),
                              [m.n_components for m in mixtures], [m.diagonal for m in mixtures])
    return [stats.loglik for stats in batch]


def check_underflow(stats):
    """Refuse statistics in which some row's density underflowed under every component (see :func:`e_step`)."""
    if stats.worst_ll == -np.inf:
        raise ValueError(f"Row {stats.worst_row} of X is so far from every component that its density "
                         "underflows to 0 (log-likelihood -inf): the data's values span more than float64 can "
                         "square. Scale the data (e.g. divide each column by its standard deviation) or "
                         "remove the outlying rows before fitting.")


def init_plan(source, method, n_components, random_state, diagonal):
    """Moments of the initial hard/soft assignment, as sklearn's initialisations (a generator).

    'kmeans': labels from sklearn's KMeans (n_init=1); 'k-means++': the seeds
    of sklearn's kmeans_plusplus, one point per component (both on a random
    sample of :func:`init_sample_rows` rows (100 000, fewer for very wide
    data) when there are more, so that initialisation never loads all the
    data); 'random_from_data': K distinct random rows; 'random': uniform
    random responsibilities, drawn chunk by chunk (the same random stream as
    sklearn's single draw).

    The reads that several initialisations can share are yielded to the
    caller (:class:`InitRunner`) instead of made: ``("take", rows)``, answered
    with ``source.take(rows)``, and ``("centres", centres, diagonal)``, the
    moments of the rows nearest to each centre (a pass over all rows),
    answered with their :class:`Statistics`.  All random draws come before
    the ``centres`` request.  A source of at most that many rows must be
    given in memory (:meth:`InitRunner.source_for`), so that the
    initialisation is the in-memory one exactly, whatever the source.
    """
    N = source.n_rows
    K = n_components
    limit = init_sample_rows(source.n_features)
    if method == "random":
        return source.map_reduce(functools.partial(random_chunk_statistics, K, diagonal), K, diagonal,
                                 random_state=random_state, draws_per_row=K)
    if method == "random_from_data":
        return (yield from _seed_statistics(source, _data_seed_rows(source, random_state, K), diagonal))
    if N > limit:
        # k-means on a bounded random sample of rows: sklearn's KMeans copies X
        # and k-means++ holds (2 + log K) distances per row, which on millions
        # of rows would cost more memory than the whole EM.
        rows = sample_rows(random_state, N, limit)
        X_init, sw_init = yield ("take", rows)
    else:
        rows = None
        X_init, sw_init = source.X, source.sw
    # KMeans and kmeans_plusplus run OpenMP code, which hangs in a forked child (see openmp_fork_guard).
    with openmp_fork_guard():
        if method == "kmeans":
            from sklearn.cluster import KMeans

            km = KMeans(n_clusters=K, n_init=1, random_state=random_state).fit(X_init, sample_weight=sw_init)
        else:
            from sklearn.cluster import kmeans_plusplus  # k-means++

            _, seeds = kmeans_plusplus(X_init, K, random_state=random_state, sample_weight=sw_init)
    if method != "kmeans":
        seed_rows = seeds if rows is None else rows[seeds]
        del X_init, sw_init  # not held while the other initialisations run
        return (yield from _seed_statistics(source, seed_rows, diagonal))
    if N <= limit:
        return labelled_chunk_statistics(source.X, source.sw, km.labels_.astype(np.int64), K, diagonal)
    centres = km.cluster_centers_
    del X_init, sw_init, km  # not held while the other initialisations run
    # Every row takes the label of its nearest centre.
    return (yield ("centres", centres, diagonal))


class InitRunner:
    """Runs the initialisations of many EM runs (:func:`init_plan` generators) sharing their reads.

    Runs are started in waves (:meth:`wave`): the runs of one wave have
    independent random states and advance in lockstep, their ``take``
    requests answered by one ``take`` of all the rows they ask for; a run's
    nearest-centre pass is deferred to :meth:`finish`, one pass over the
    rows for every initialisation of every wave.  A data source of at most
    :func:`init_sample_rows` rows is gathered into memory once, for all.
    """

    def __init__(self, source):
        self.source = source
        self.small = source.n_rows <= init_sample_rows(source.n_features)
        self._memory = None
        self._pending = []  # (generator, centres, diagonal, slot)
        self.results = []

    def source_for(self):
        """The source the plans read: all rows in memory for small data."""
        if not self.small:
            return self.source
        if self._memory is None:
            self._memory = self.source.in_memory()
        return self._memory

    def wave(self, plans):
        """Advance generators (None: nothing to initialise) until all their draws are made; returns result slots."""
        slots = []
        live = []
        for plan in plans:
            slots.append(len(self.results))
            self.results.append(None)
            if plan is not None:
                live.append((plan, slots[-1], None))
        while live:
            takes, nxt = [], []
            for plan, slot, fetch in live:
                try:
                    # the rows asked for are fetched only now, and released by the plan once used
                    request = plan.send(None if fetch is None else fetch())
                except StopIteration as stop:
                    self.results[slot] = stop.value
                    continue
                except Exception as exc:  # the run's own failure: its model decides (see result)
                    self.results[slot] = _Failed(exc)
                    continue
                if request[0] == "centres":
                    self._pending.append((plan, request[1], request[2], slot))
                else:
                    takes.append((plan, slot, request[1]))
            if takes:
                fetchers = self._take([rows for _, _, rows in takes])
                nxt = [(plan, slot, fetch) for (plan, slot, _), fetch in zip(takes, fetchers)]
            live = nxt
        return slots

    def _take(self, requests):
        """For each sorted row list, a function returning ``source.take(rows)``.

        A source that reads the rows it is asked for (memory, a memmap) is
        asked at each call.  From one that must stream all its rows (chunks,
        dask), the requests share takes of their union, in batches of at most
        :data:`TAKE_BATCH_BYTES`: one pass serves the restarts of many
        candidates; each batch is kept only until its last request is served.
        """
        source = self.source_for()
        if self.small or source.random_access:
            return [functools.partial(source.take, rows) for rows in requests]
        fetchers, batch, size = [], [], 0
        row_bytes = 8 * max(1, source.n_features)
        for rows in requests:
            if batch and (size + len(rows)) * row_bytes > TAKE_BATCH_BYTES:
                fetchers += _UnionTake(source, batch).fetchers()
                batch, size = [], 0
            batch.append(rows)
            size += len(rows)
        return fetchers + _UnionTake(source, batch).fetchers()

    def finish(self):
        """The deferred nearest-centre passes, one pass for all (then :meth:`result` has every run's)."""
        if self._pending:
            centres = [c for _, c, _, _ in self._pending]
            diagonals = [diag for _, _, diag, _ in self._pending]
            batch = self.source_for().map_reduce(
                functools.partial(centre_chunk_statistics, centres, diagonals),
                [len(c) for c in centres], diagonals)
            for (plan, _, _, slot), stats in zip(self._pending, batch):
                try:
                    plan.send(stats)
                except StopIteration as stop:
                    self.results[slot] = stop.value
                except Exception as exc:
                    self.results[slot] = _Failed(exc)
            self._pending = []

    def failure(self, slot):
        """The exception a run's initialisation raised so far, or None."""
        value = self.results[slot]
        return value.exc if isinstance(value, _Failed) else None

    def result(self, slot):
        """A run's initial statistics (after :meth:`finish`), or the exception its initialisation raised."""
        value = self.results[slot]
        if isinstance(value, _Failed):
            raise value.exc
        return value


#: The rows several initialisations ask a streaming source for are taken together up to this size.
TAKE_BATCH_BYTES = 256 * 2**20


class _UnionTake:
    """One take of the union of several row lists, served list by list and dropped after the last."""

    def __init__(self, source, requests):
        self.source, self.requests = source, requests
        self.union = self.X = self.sw = None
        self.left = len(requests)

    def fetchers(self):
        return [functools.partial(self._fetch, rows) for rows in self.requests]

    def _fetch(self, rows):
        if self.X is None:
            self.union = np.unique(np.concatenate(self.requests))
            self.X, self.sw = self.source.take(self.union)
        at = np.searchsorted(self.union, rows)
        answer = (np.ascontiguousarray(self.X[at]), None if self.sw is None else self.sw[at])
        self.left -= 1
        if self.left == 0:
            self.union = self.X = self.sw = None
        return answer


class _Failed:
    def __init__(self, exc):
        self.exc = exc


def run_plan(source, make_plan):
    """The result of one initialisation plan run alone: ``make_plan(source to read)`` is the generator."""
    runner = InitRunner(source)
    slot = runner.wave([make_plan(runner.source_for())])[0]
    runner.finish()
    return runner.result(slot)


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
    """Moments with one row per component (the row itself, M2 = 0): component k at row seeds[k] (a generator
    asking for the rows, see :func:`init_plan`)."""
    order = np.argsort(seeds)
    X_seed, sw_seed = yield ("take", seeds[order])
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
