"""Gaussian-mixture kernels: scores of a fitted mixture, and the fused EM pass.

These two kernels serve every row-wise mixture and Gaussian computation (log-densities,
responsibilities, labels, EM iterations, moments for fits and initialisation):
each call compiles, or loads from the disk cache, one build of one of them per
dtype and Mahalanobis solver (:func:`.gaussian.solver_token`), not one kernel per
public function.

Both work tile by tile (see :mod:`.tiles`): the weighted log-probabilities of
a tile's rows for all K components live in a (K, tile) buffer, so no N x K
array is ever allocated unless the caller asks for the responsibilities.

Tiles are kept in X's dtype; rows are centred (x - mu) as accurately as in
float64 (a split mean for float32, see :func:`.tiles.split_mean`), then
the triangular solve and the log-probabilities run in X's dtype -- float32
data uses float32 SIMD lanes, twice as many -- with the factors passed in that
dtype; log-sum-exp, per-block statistics and their reduction are accumulated
in float64.
"""
import numpy as np
from numba.core import types

from ._config import blockwise, choose_by_types, serial
from .gaussian import fix_infinite_rows, nan_row_limit, solver_scratch_rows, tile_log_prob
from .mathfn import exp_f32_unchecked, exp_nonpositive, log
from .missing import (
    fill_holes,
    find_holes,
    flush_holes,
    hole_variance,
    holes_scratch,
    marginalizes,
    refill_holes,
)
from .moments import accumulate_tile, load_weights
from .tiles import ROW_PAD, load_tile


#: em_step's ``assign``: responsibilities, nearest component, or none (log-likelihoods only).
ASSIGN_SOFT, ASSIGN_HARD, ASSIGN_NONE = 0, 1, 2


def exp_term(x):
    """e**x in x's dtype, for log(smallest normal of that dtype) <= x <= 0.

    float64: :func:`.mathfn.exp_nonpositive` (< 1 ULP, half the operations of
    the full-range :func:`.mathfn.exp`); float32: :func:`.mathfn.exp_f32_unchecked`,
    16 float32 lanes instead of 8 float64 ones (~1 float32 ULP, valid for
    x >= -87.3, where the result is a normal float32).
    """
    raise NotImplementedError("compiled use only")


@choose_by_types(exp_term)
def _exp_term_by_type(x):
    if x == types.float32:
        return lambda x: exp_f32_unchecked(x)
    return lambda x: exp_nonpositive(x)


def same_dtype(a, b):
    """True if arrays a and b have one dtype: a constant, known at compile time."""
    raise NotImplementedError("compiled use only")


@choose_by_types(same_dtype)
def _same_dtype_by_type(a, b):
    same = a.dtype == b.dtype
    return lambda a, b: same


@serial
def tile_logsumexp(LP, nt, lse, s, top, normalise):
    """lse[r] = log Σ_k exp(LP[k, r]); LP is overwritten (responsibilities if ``normalise``).

    Stable: the row maximum m is factored out, and the responsibilities are
    exp(LP - m) / Σ exp(LP - m), so each row sums to 1 within a few ulps even
    where |lse| is large.  A row of all -inf gives -inf (responsibilities NaN:
    undefined); NaN anywhere in a row gives NaN.  ``s`` is (tile,) float64
    scratch, ``top`` (tile,) scratch in LP's dtype.  Loops run over rows
    innermost and use :mod:`.mathfn`'s exp/log (libm's are scalar calls that
    would keep the loops from vectorising).
    """
    K = LP.shape[0]
    # Terms below the smallest normal number of LP's dtype are stored as 0 rather
    # than as subnormals: they are below the rounding error of the row sum (which
    # is >= 1), and on many Intel CPUs every arithmetic operation on a subnormal
    # costs ~100 cycles -- in float32 W2 one term in ten falls in that band.
    cutoff = LP.dtype.type(np.log(np.finfo(LP.dtype).tiny))
    zero = LP.dtype.type(0.0)
    # Row maximum, shift, exp and the rescaling all run in LP's dtype, only the
    # sum in float64.  A loop that mixes float32 and float64 elements is
    # vectorised at the float64 width: with the sum in the exp loop, float32
    # ran its exp 8 lanes wide instead of 16 (log-sum-exp 1.4x slower,
    # measured), so for float32 the sum gets a loop of its own; float64 keeps
    # it in the exp loop (a second sweep of LP made W1 ~4% slower).
    for r in range(nt):
        top[r] = -np.inf
    for k in range(K):
        for r in range(nt):
            if LP[k, r] > top[r]:
                top[r] = LP[k, r]
    for r in range(nt):
        if not np.isfinite(top[r]):
            top[r] = 0.0  # a shift of 0 lets exp/log produce the right infinity below
        s[r] = 0.0
    fused = same_dtype(LP, s)  # a compile-time constant
    for k in range(K):
        for r in range(nt):
            x = LP[k, r] - top[r]  # exact: top is one of the row's values
            e = zero if x < cutoff else exp_term(x)  # NaN stays NaN
            LP[k, r] = e
            if fused:
                s[r] += e
        if not fused:
            for r in range(nt):
                s[r] += LP[k, r]
    for r in range(nt):
        lse[r] = top[r] + log(s[r])
    if normalise:
        for r in range(nt):
            top[r] = 1.0 / s[r]  # rounded once to LP's dtype
        for k in range(K):
            for r in range(nt):
                LP[k, r] *= top[r]


@blockwise
def mixture_scores(b0, b1, X, log_weights, means, chol, logdet, var, diagonal, solver, prec, tile,
                   lp_out, lse_out, resp_out, label_out, impute_out, impute_var_out):
    """Per-row weighted log-probabilities, log-likelihood, responsibilities and/or most probable component.

    Computes tiles b0 <= b < b1 (a :class:`.._config.BlockKernel`: call its builds
    with n_blocks = ceil(N / tile) first).

    Also the multivariate normal log-density (:func:`fastprob.mvn_logpdf`: zero
    log-weights and ``lp_out``), so that one build serves every scoring call.

    Parameters
    ----------
    X : (N, d) float32/float64, C-contiguous.
    log_weights, means, chol, logdet, var, diagonal, solver : the mixture, as for
        :func:`.gaussian.tile_log_prob`.  The tiles and the per-row arithmetic
        after centring run in ``chol``'s dtype: X's for the mixture functions,
        float64 for :func:`fastprob.mvn_logpdf` on float32 data.
    prec : NaN handling (see :mod:`.missing`): an empty 1-D array (NaN
        propagates), or the precisions, to score the observed coordinates.
    tile : rows per work item (results do not depend on it).
    lp_out : (N, K) out, log_weights[k] + log N(x_n | means[k], Σ_k), or empty to
        skip.  NaN rows give NaN; rows with an infinite coordinate (and no NaN)
        give -inf.
    lse_out : (N,) out, log p(x_n), or empty to skip.
    resp_out : (N, K) out, P(h = k | x_n), or empty to skip.
    label_out : (N,) int64 out, argmax_k of the weighted log-probability (first
        on ties), or empty to skip.
    impute_out : (N, d) float64 out, X with each NaN replaced by its
        conditional mean under the mixture, Σ_k P(k | x_o) E[x_m | x_o, k], or
        empty to skip (only with a marginalising ``prec``).
    impute_var_out : (N, d) float64 out, the conditional variance under the
        mixture of each imputed entry (0 where observed), or empty to skip.
    """
    N, d = X.shape
    K = means.shape[0]
    want_lp = lp_out.size > 0
    want_lse = lse_out.size > 0
    want_resp = resp_out.size > 0
    want_label = label_out.size > 0
    want_impute = impute_out.size > 0
    want_var = impute_var_out.size > 0
    marginal = marginalizes(prec)
    holes = holes_scratch(prec, d, tile, K)  # per call: the pattern cache serves all its tiles
    for b in range(b0, b1):
        t0 = b * tile
        nt = min(N, t0 + tile) - t0
        C = np.empty((d, nt + ROW_PAD), chol.dtype)
        Z = np.empty((solver_scratch_rows(d, nt + ROW_PAD), nt + ROW_PAD), chol.dtype)
        maha = np.empty(nt, chol.dtype)
        LP = np.empty((K, nt + ROW_PAD), chol.dtype)
        lse = np.empty(nt)
        s = np.empty(nt)
        top = np.empty(nt, chol.dtype)
        load_tile(X, t0, nt, C)
        n_inc, cached, cov_cached = find_holes(prec, X, C, t0, nt, holes)
        F = np.empty((K, cached))
        G = np.empty((K, cov_cached if want_var else 0))
        if n_inc > 0:
            fill_holes(prec, X, t0, n_inc, holes, diagonal, F, G)
        tile_log_prob(C, nt, log_weights, means, chol, logdet, var, diagonal, solver, Z, maha, LP,
                      X, t0, prec, n_inc, holes, F, G, 0, K)
        if want_lp:
            fix_infinite_rows(X, t0, nt, LP, marginal)
            for r in range(nt):
                for k in range(K):
                    lp_out[t0 + r, k] = LP[k, r]
        # A row with an infinite coordinate (and no NaN) has log-probabilities
        # -inf or NaN (0 * inf in the solve); its label is 0 either way, its
        # responsibilities NaN (undefined) either way, and its log p(x) -- NaN
        # from the log-sum-exp -- is set to the true limit -inf below: one check
        # per row of lse instead of one per row and component of LP.
        if want_label:
            for r in range(nt):
                label_out[t0 + r] = most_probable(LP, 0, K, r)
        if want_lse or want_resp or want_impute:
            tile_logsumexp(LP, nt, lse, s, top, want_resp or want_impute)
            for r in range(nt):
                if np.isnan(lse[r]):
                    lse[r] = nan_row_limit(X, t0 + r, marginal)
            for j in range(n_inc):
                if holes[1][j] == d:
                    lse[holes[0][j]] = 0.0  # no observed value: log Σ_k π_k = 0 exactly, not to rounding
        if want_lse:
            for r in range(nt):
                lse_out[t0 + r] = lse[r]
        if want_resp:
            for r in range(nt):
                for k in range(K):
                    resp_out[t0 + r, k] = LP[k, r]
        if want_impute:
            impute_tile(X, t0, nt, n_inc, holes, F, G, LP, prec, diagonal, impute_out, impute_var_out, want_var)


@serial
def impute_tile(X, t0, nt, n_inc, holes, F, G, R, prec, diagonal, impute_out, impute_var_out, want_var):
    """Rows t0 .. t0 + nt of X with their holes filled by the mixture's conditional means (and variances).

    ``R`` holds the tile's responsibilities (K, tile), F and G the components'
    fills and conditional covariances (:func:`.missing.fill_holes`).  The mean
    is Σ_k r_k x̂_k; the variance Σ_k r_k (Var_k + (x̂_k - mean)²), the law of
    total variance, in two sweeps over the components (no cancellation of
    large squares).
    """
    d = X.shape[1]
    K = R.shape[0]
    for r in range(nt):
        for i in range(d):
            impute_out[t0 + r, i] = X[t0 + r, i]
            if want_var:
                impute_var_out[t0 + r, i] = 0.0
    rows, count, start, idx, finite, cov_start = holes[:6]
    for j in range(n_inc):
        n = t0 + rows[j]
        for a in range(count[j]):
            s = 0.0
            for k in range(K):
                s += R[k, rows[j]] * F[k, start[j] + a]
            impute_out[n, idx[start[j] + a]] = s
            if want_var:
                t = 0.0
                for k in range(K):
                    e = F[k, start[j] + a] - s
                    v = hole_variance(prec, G, k, idx[start[j] + a], count[j], cov_start[j], a, diagonal)
                    t += R[k, rows[j]] * (v + e * e)
                impute_var_out[n, idx[start[j] + a]] = t


@blockwise(reduce=True)
def em_step(b0, b1, X, sw, labels, resp, seg, assign, log_weights, means, chol, logdet, var, diagonal, solver, prec,
            block, tile, W_out, mean_out, M2_out, loglik_out, worst_out, worst_loglik_out):
    """Per fixed block of rows: one fused E-step + sufficient statistics pass, or moments of row groups.

    Computes blocks b0 <= b < b1 (a :class:`.._config.BlockKernel`: call its builds
    with n_blocks = ``W_out.shape[0]`` first).

    With mixtures (``means`` has K > 0 rows), for every tile: weighted
    log-probabilities (K, tile), their logsumexp and responsibilities, then per
    component the responsibility-weighted mean and centred scatter of the
    tile, Chan-merged into the block's accumulators.  Nothing of size N x K is
    written.  Without one (``means`` has 0 rows), the weights of the K =
    ``W_out.shape[1]`` groups come from ``resp``, else ``labels``, else every
    row belongs to the one group: the moments behind the Gaussian fits and the
    mixture initialisations, from the same build as the EM iterations.

    Several mixtures can share one pass (model selection, restarts): their
    components are stacked, mixture m being components ``seg[m] .. seg[m +
    1]``.  Each tile is loaded once and every mixture's E-step runs on it
    while it is in cache; each component's arithmetic is exactly that of a
    pass over its mixture alone, so the statistics are bit-identical.

    Parameters
    ----------
    X : (N, d) float32/float64, C-contiguous.
    sw : (N,) sample weights or empty (unit weights).
    labels : (N,) int group of each row (rows with other values, e.g. -1,
        belong to no group), or empty.
    resp : (N, K) soft group memberships, or empty.
    seg : (M + 1,) int64 offsets of the M stacked mixtures' components
        (``[0, K]`` for one mixture, and for moments).
    assign : how the rows of a tile are shared among a mixture's components:
        ``ASSIGN_SOFT`` by responsibilities (EM); ``ASSIGN_HARD`` wholly to
        the most probable one (first on ties): with unit covariances and equal
        weights, k-means' nearest-centre labels and the moments of their
        clusters; ``ASSIGN_NONE``: not at all, only the log-likelihoods are
        computed (the moments come out 0).
    log_weights, means, chol, logdet, var, diagonal, solver : the current
        mixtures, stacked (see :func:`.gaussian.tile_log_prob`; ``chol`` and
        ``logdet`` per component unless M = 1), or arrays with no components.
        Tiles are kept in ``chol``'s dtype: X's for the mixture's iterations,
        float64 for moments.
    prec : NaN handling of the E-step (see :mod:`.missing`): an empty 1-D
        array (NaN propagates), or the precisions, for EM on the observed
        coordinates (one mixture only): a row's holes are filled with each
        component's conditional mean and its conditional covariance is added
        to the scatter.  Moments (no mixture) need complete rows.
    block, tile : rows per block (a multiple of ``tile``); the block layout
        depends on the data shape only, so the serial reduction of the outputs
        is bit-identical on any number of threads.
    W_out : (n_blocks, K) out: Σ sw·r_k per block.
    mean_out : (n_blocks, K, d) out.
    M2_out : (n_blocks, K, d, d) or (n_blocks, K, d, 1) out: centred scatter
        (lower triangle, or diagonal).
    loglik_out : (n_blocks, M) out: Σ sw·log p(x) per block and mixture (0 for moments).
    worst_out, worst_loglik_out : (n_blocks, M) out: row with the lowest
        log p(x) in the block (first on ties), and that value; used to
        re-seed components that lose all their points (-1 and inf for moments).
    """
    N, d = X.shape
    K = W_out.shape[1]
    M = seg.shape[0] - 1
    estep = means.shape[0] > 0
    soft = resp.size > 0
    labelled = labels.size > 0
    dd = M2_out.shape[3]
    # Computed, not a literal: a literal True argument would make Numba compile a second
    # tile_logsumexp (for the literal type) beside the one mixture_scores uses.  Log-likelihoods
    # alone need no responsibilities.
    normalise = K > 0 and assign != ASSIGN_NONE
    holes = holes_scratch(prec, d, tile, K)  # per call: the pattern cache serves all its blocks
    for b in range(b0, b1):
        r0 = b * block
        r1 = min(N, r0 + block)
        C = np.empty((d, tile + ROW_PAD), chol.dtype)
        Z = np.empty((solver_scratch_rows(d, tile + ROW_PAD), tile + ROW_PAD), chol.dtype)
        maha = np.empty(tile, chol.dtype)
        LP = np.empty((K, tile + ROW_PAD), chol.dtype)
        lse = np.empty(tile)
        s = np.empty(tile)
        top = np.empty(tile, chol.dtype)
        base = np.empty(tile)
        rk = np.empty(tile)
        mean_t = np.empty(d)
        M2_t = np.empty((d, dd))
        loglik = np.zeros(M)
        worst = np.full(M, -1, np.int64)
        worst_ll = np.full(M, np.inf)
        W_out[b, :] = 0.0
        mean_out[b] = 0.0
        M2_out[b] = 0.0
        for t0 in range(r0, r1, tile):
            nt = min(r1, t0 + tile) - t0
            load_tile(X, t0, nt, C)
            load_weights(sw, t0, nt, base)
            n_inc, cached, cov_cached = find_holes(prec, X, C, t0, nt, holes) if estep else (0, 0, 0)
            F = np.empty((K, cached))
            G = np.empty((K, cov_cached))
            if n_inc > 0:
                fill_holes(prec, X, t0, n_inc, holes, diagonal, F, G)
            for m in range(M if estep else 0):
                k0, k1 = seg[m], seg[m + 1]
                tile_log_prob(C, nt, log_weights, means, chol, logdet, var, diagonal, solver, Z, maha, LP,
                              X, t0, prec, n_inc, holes, F, G, k0, k1)
                if assign == ASSIGN_HARD:
                    assign_to_best(LP, k0, k1, nt)
                    continue
                tile_logsumexp(LP[k0:k1], nt, lse, s, top, normalise)
                for r in range(nt):
                    loglik[m] += base[r] * lse[r]
                    if base[r] > 0.0 and lse[r] < worst_ll[m]:
                        worst_ll[m] = lse[r]
                        worst[m] = t0 + r
            for k in range(K if assign != ASSIGN_NONE else 0):
                if estep:
                    for r in range(nt):
                        rk[r] = base[r] * LP[k, r]
                elif soft:
                    for r in range(nt):
                        rk[r] = base[r] * resp[t0 + r, k]
                elif labelled:
                    for r in range(nt):
                        rk[r] = base[r] if labels[t0 + r] == k else 0.0
                else:
                    for r in range(nt):
                        rk[r] = base[r]
                if n_inc > 0:
                    # The rows' conditional means for k, and their conditional covariances added to
                    # the scatter (accumulate_tile adds to it: the order does not matter).
                    refill_holes(prec, n_inc, holes, k, C, F, G, diagonal, rk, M2_out[b, k])
                W_out[b, k] = accumulate_tile(C, nt, rk, W_out[b, k], mean_out[b, k], M2_out[b, k],
                                              mean_t, M2_t, Z)
        flush_holes(prec, holes, M2_out[b])  # the block's conditional covariances (their weights were summed)
        for m in range(M):
            loglik_out[b, m] = loglik[m]
            worst_out[b, m] = worst[m]
            worst_loglik_out[b, m] = worst_ll[m]


@serial
def assign_to_best(LP, k0, k1, nt):
    """LP[k0 .. k1, r] = 1 for the most probable component of row r (the first on ties), else 0."""
    for r in range(nt):
        best = most_probable(LP, k0, k1, r)
        for k in range(k0, k1):
            LP[k, r] = 1.0 if k == best else 0.0


@serial
def most_probable(LP, k0, k1, r):
    """The k in k0 .. k1 with the largest LP[k, r], the first on ties."""
    best = k0
    for k in range(k0 + 1, k1):
        if LP[k, r] > LP[best, r]:
            best = k
    return best
