"""Rows with missing coordinates (NaN) in the mixture kernels: marginal densities and conditional fills.

A Gaussian's marginal over a row's observed coordinates o is again Gaussian,
and for the missing ones m, given the observed ones,

    E[x_m | x_o] = μ_m - P_mm⁻¹ P_mo (x_o - μ_o),    Cov[x_m | x_o] = P_mm⁻¹,

with P = Σ⁻¹ (the blocks of the precision: no factorisation of Σ_oo, which
would cost d³/3 per row and component where most rows have their own
pattern).  Filling the missing coordinates with their conditional mean x̂
leaves the Mahalanobis distance of the observed ones unchanged --
(x̂ - μ)ᵀ P (x̂ - μ) = (x_o - μ_o)ᵀ Σ_oo⁻¹ (x_o - μ_o) -- so the kernels fill a
tile's holes per component and run the usual vectorised solver on it; the
normalising constant changes by log|Σ_oo| - log|Σ| = log|P_mm|.  The EM
statistics are those of the filled rows plus, per row, the conditional
covariance (Ghahramani & Jordan 1994).

Speed.  What depends only on which coordinates are missing -- per
component, the factor of P_mm, log|P_mm| and P_mm⁻¹ -- is computed once per
pattern: from a table for rows missing one coordinate, from a per-thread
cache keyed by the pattern for rows missing up to
:data:`PATTERN_MAX_MISSING` (row by row beyond, with the same arithmetic: a
row's result never depends on what the cache holds, so neither on the other
rows nor on the thread count).  A row's fills for all K components are then
one pass, vectorised across the components (:func:`fill_holes`, once per
tile), kept for the statistics (:func:`refill_holes`).

Kernels pass ``prec``: an empty 1-D array when NaN propagates (the default;
these functions then compile to nothing), or to marginalise, the (2d + 3, d,
K) float64 table of :func:`fastprob.gaussian.hole_precisions`, components
last (the axis the fills vectorise over): P[i, l] in rows 0 .. d-1 (zero for
diagonal covariances), the regression of coordinate i on the others when it
alone is missing, P_il / P_ii (0 at l = i), in rows d .. 2d-1, the variance of
a coordinate given all the others (1/P_ii, or the variance) in row 2d, its
logarithm in row 2d + 1 and the means μ[l] in row 2d + 2.  ``holes`` is the
per-call scratch of :func:`holes_scratch`, filled once per tile by
:func:`find_holes`.

Measured (one EM iteration, N = 1e6, d = 16, K = 16, 2 threads, Zen 4): see
docs/missing.md.
"""
import numpy as np

from . import simd
from ._config import choose_by_types, serial
from .mathfn import log


#: Rows missing 2 .. PATTERN_MAX_MISSING coordinates share what depends only on which coordinates
#: are missing through a per-thread cache keyed by the pattern (d <= 62).  Rows missing more, rare
#: where values are missing at random, are computed row by row.
PATTERN_MAX_MISSING = 4

#: Memory of that cache per thread (it holds at most 4096 patterns).
PATTERN_CACHE_BYTES = 8 * 2**20


@serial
def holes_scratch(prec, d, tile, K):
    """Per-call scratch of :func:`find_holes` and the pattern cache (a tuple, fields as named in
    :func:`_find_holes` and :func:`_fill_holes`).

    rows[j]: tile row of the j-th incomplete row; count[j]: its number of
    missing coordinates, which are idx[start[j] : start[j] + count[j]]
    (ascending); finite[j]: its observed values are finite; cov_start[j]:
    where its conditional covariance (m > 1) is kept in G; slot[j]: its
    entry in the pattern cache (-1: none); half_logdet[k, j]: what its
    log-density under component k gains from the normalising constant,
    -½ log|P_mm|; flag (tile,); D (d, K): a row centred on each component;
    acc (K,); A, B (d, d, K): the factor and inverse of P_mm per component;
    V (d, K): right-hand sides; the cache: a hash table of pattern keys (bit i set:
    coordinate i missing) with their entry numbers, the entries (S, width, K):
    the factor of P_mm (m x m, as :func:`_factor` leaves it), log|P_mm| and
    P_mm⁻¹ (m x m) per component, valid[s] once entry s is computed, and the
    number in use;
    pos[e]: where the e-th hole of the tile (in F's order) is in the tile C,
    flattened; the weights of the conditional variances not yet added to the
    scatter (:func:`flush_holes`), per coordinate and component, for rows
    missing one coordinate (and diagonal covariances).
    """
    W = 2 * PATTERN_MAX_MISSING ** 2 + 1
    S = 0
    if prec.ndim == 3 and 3 <= d <= 62:
        S = max(16, min(4096, PATTERN_CACHE_BYTES // (8 * max(K, 1) * W)))
    T = 1
    while T < 2 * S:
        T *= 2
    if prec.ndim != 3:  # NaN propagates: nothing is used, keep the calls cheap for small data
        d = tile = K = 0
    return (np.empty(tile, np.int64), np.empty(tile, np.int64), np.empty(tile, np.int64),
            np.empty(tile * d, np.int64), np.empty(tile, np.bool_), np.empty(tile, np.int64),
            np.empty(tile, np.int64), np.empty((K, tile)), np.empty(tile), np.empty((d, K)), np.empty(K),
            np.empty((d, d, K)), np.empty((d, d, K)), np.empty((d, K)),
            np.full(T, -1, np.int64), np.empty(T, np.int64), np.empty((S, W, K)), np.zeros(S, np.bool_),
            np.zeros(1, np.int64), np.empty(tile * d, np.int64), np.zeros((d, K)))


def marginalizes(prec):
    """True if the kernels marginalise over NaN coordinates: a constant, known at compile time."""
    raise NotImplementedError("compiled use only")


@choose_by_types(marginalizes)
def _marginalizes_by_type(prec):
    on = prec.ndim == 3
    return lambda prec: on


def find_holes(prec, X, C, t0, nt, holes):
    """(n_inc, cached, cov_cached): the number of rows t0 <= n < t0 + nt of X (loaded in the tile C) with
    a NaN, listed in ``holes``, and the sizes of the caches of their fills and conditional covariances
    for :func:`fill_holes` (all 0 when NaN propagates)."""
    raise NotImplementedError("compiled use only")


@choose_by_types(find_holes)
def _find_holes_by_type(prec, X, C, t0, nt, holes):
    if prec.ndim != 3:
        return lambda prec, X, C, t0, nt, holes: (0, 0, 0)
    return lambda prec, X, C, t0, nt, holes: _find_holes(X, C, t0, nt, holes)


@serial
def _find_holes(X, C, t0, nt, holes):
    rows, count, start, idx, finite, cov_start, slot, _, flag = holes[:9]
    keys, slot_of, entries, valid, n_slots, pos, _ = holes[14:]
    d = X.shape[1]
    S = entries.shape[0]
    stride = C.shape[1]
    n_inc = 0
    used = 0
    used2 = 0
    # A row's flag is NaN iff it holds a NaN (or an infinity: 0 * inf), found vectorised across
    # the tile's rows; a search along each row would wait on one comparison after another.
    flag[:nt] = 0.0
    zero = C.dtype.type(0.0)
    for i in range(d):
        for r in range(nt):
            flag[r] += C[i, r] * zero
    for r in range(nt):
        if not np.isnan(flag[r]):
            continue
        m = 0
        n_inf = 0
        for i in range(d):  # branch-free: a branch per value mispredicts on scattered holes
            x = X[t0 + r, i]
            idx[used + m] = i
            m += np.isnan(x)
            n_inf += np.isinf(x)
        if m == 0:
            continue  # an infinity, no NaN: scored as a complete row
        for a in range(m):
            pos[used + a] = idx[used + a] * stride + r
        rows[n_inc] = r
        count[n_inc] = m
        start[n_inc] = used
        finite[n_inc] = n_inf == 0
        cov_start[n_inc] = used2
        slot[n_inc] = -1
        if m > 1:
            used2 += m * m
            if n_inf == 0 and m <= PATTERN_MAX_MISSING and m < d and S > 0:
                slot[n_inc] = _pattern_slot(idx, used, m, keys, slot_of, n_slots, S)
        used += m
        n_inc += 1
    return n_inc, used, used2


@serial
def _pattern_slot(idx, s0, m, keys, slot_of, n_slots, S):
    """The cache entry of the pattern missing idx[s0 : s0 + m] (a new one while there is room; -1 when full)."""
    key = 0
    for a in range(m):
        key |= 1 << idx[s0 + a]
    mask = keys.size - 1
    h = (key ^ (key >> 7) ^ (key >> 23)) & mask
    while keys[h] != -1:
        if keys[h] == key:
            return slot_of[h]
        h = (h + 1) & mask
    if n_slots[0] >= S:
        return -1
    keys[h] = key
    slot_of[h] = n_slots[0]
    n_slots[0] += 1
    return slot_of[h]


def fill_holes(prec, X, t0, n_inc, holes, diagonal, F, G):
    """Every component's conditional means for the holes of the tile's incomplete rows (the E-step).

    For incomplete row j and component k: F[k, start[j] + a] = E[x_i | x_o, k]
    for its a-th missing coordinate i; half_logdet[k, j] = -½ log|P_mm| (the
    row's log-density is the complete formula's plus ½ m log 2π +
    half_logdet[k, j], see :func:`.gaussian.tile_log_prob`); with a non-empty
    G, the conditional covariance P_mm⁻¹ of a row missing more than one
    coordinate goes to G[k, cov_start[j]:] (m x m, row-major; diagonal
    covariances need none: their conditional variances are the variances).
    A row with an infinite observed coordinate has no conditional
    distribution: it is filled with μ_k (its log-density is then -inf or NaN,
    which the callers turn into -inf).  Nothing when NaN propagates.
    """
    raise NotImplementedError("compiled use only")


@choose_by_types(fill_holes)
def _fill_holes_by_type(prec, X, t0, n_inc, holes, diagonal, F, G):
    if prec.ndim != 3:
        return lambda prec, X, t0, n_inc, holes, diagonal, F, G: None

    def fill(prec, X, t0, n_inc, holes, diagonal, F, G):
        _fill_holes(prec, X, t0, n_inc, holes, diagonal, F, G)
    return fill


@serial
def _fill_holes(prec, X, t0, n_inc, holes, diagonal, F, G):
    rows, count, start, idx, finite, cov_start, slot, half_logdet, _, D, acc, A, B, V = holes[:14]
    entries, valid = holes[16], holes[17]
    d = X.shape[1]
    K = D.shape[1]
    # Explicit vectors over the components (simd: LLVM vectorises the plain loops over K too,
    # but with checks before each of these short loops, which cost more than their arithmetic).
    table = prec.reshape((prec.shape[0] * d, K))  # rows (block, i): 2-d, for the vector loads
    Dflat = D.reshape(D.size)
    Vflat = V.reshape(V.size)
    W = simd.VECTOR_BYTES // D.itemsize
    zero = simd.splat(0.0)
    mu = prec[2 * d + 2]  # (d, K): each component's mean, components last
    log_alone = prec[2 * d + 1]  # log Var[x_i | all the other coordinates]
    want_cov = G.shape[1] > 0

    def dot(tab, row0, out, o):
        # out[o + k] = Σ_l tab[row0 + l, k] D[l, k] for every component k
        for c in range(0, K, W):
            nc = min(W, K - c)
            t = zero
            if nc == W:
                for l in range(d):
                    t = simd.fmadd(simd.load(tab, row0 + l, c), simd.load(D, l, c), t)
                simd.store(out, o + c, t)
            else:
                for l in range(d):
                    t = simd.fmadd(simd.load_first(tab, row0 + l, c, nc), simd.load_first(D, l, c, nc), t)
                simd.store_first(out, o + c, t, nc)

    for j in range(n_inc):
        n = t0 + rows[j]
        m = count[j]
        s0 = start[j]  # (indices, not slices: a view per row costs two atomic reference counts)
        if not finite[j] or diagonal:
            # x̂ = μ: diagonal covariances (no correlation), rows with an infinity
            for k in range(K):
                acc[k] = 0.0
            for a in range(m):
                i = idx[s0 + a]
                for k in range(K):
                    F[k, s0 + a] = mu[i, k]
                    acc[k] += log_alone[i, k]
            for k in range(K):
                half_logdet[k, j] = 0.5 * acc[k] if finite[j] else 0.0
            continue
        # The row centred on every component at once, 0 at the holes.
        for i in range(d):
            xs = simd.splat(np.float64(X[n, i]))
            for c in range(0, K, W):
                nc = min(W, K - c)
                if nc == W:
                    simd.store(Dflat, i * K + c, simd.sub(xs, simd.load(table, (2 * d + 2) * d + i, c)))
                else:
                    simd.store_first(Dflat, i * K + c,
                                     simd.sub(xs, simd.load_first(table, (2 * d + 2) * d + i, c, nc)), nc)
        for a in range(m):
            for k in range(K):
                D[idx[s0 + a], k] = 0.0
        if m == 1:
            # x̂_i = μ_i - Σ_l (P_il / P_ii) (x_l - μ_l), from the table
            i = idx[s0]
            dot(table, (d + i) * d, acc, 0)
            for k in range(K):
                F[k, s0] = mu[i, k] - acc[k]
                half_logdet[k, j] = 0.5 * log_alone[i, k]
            continue
        # v = P_m· δ, then P_mm⁻¹ v with P_mm's factor, for all components at once.  The factor,
        # log|P_mm| and P_mm⁻¹ depend on the pattern only: cached patterns take them from the cache,
        # the others compute them here -- the same numbers either way, so a row's result never
        # depends on which rows came before it.
        for a in range(m):
            dot(table, idx[s0 + a] * d, Vflat, a * K)
        sl = slot[j]
        if sl >= 0:
            if not valid[sl]:
                _pattern_entry(prec, idx, s0, m, A, B, acc, entries, sl)
                valid[sl] = True
            for e in range(m * m):
                for k in range(K):
                    A[e // m, e % m, k] = entries[sl, e, k]
            for k in range(K):
                half_logdet[k, j] = -0.5 * entries[sl, m * m, k]
        else:
            _factor(prec, idx, s0, m, A, acc)
            for k in range(K):
                half_logdet[k, j] = -0.5 * acc[k]
            if want_cov:
                _invert(A, B, m)
        _solve(A, m, V)
        for a in range(m):
            i = idx[s0 + a]
            for k in range(K):
                F[k, s0 + a] = mu[i, k] - V[a, k]
        if want_cov:
            g = cov_start[j]
            for a in range(m):
                for b in range(m):
                    for k in range(K):
                        G[k, g + a * m + b] = entries[sl, m * m + 1 + a * m + b, k] if sl >= 0 else \
                            B[min(a, b), max(a, b), k]


@serial
def _factor(prec, idx, s0, m, A, logdet):
    """P_mm = L D Lᵀ for every component k at once, of the pattern missing idx[s0 : s0 + m]: unit lower
    L in A[:m, :m, k]'s strict lower triangle, D on its diagonal; logdet[k] = log|P_mm|.

    Loops over the components innermost (vectorised).  A pivot <= 0 (a numerically
    indefinite block) gives NaN results, not a crash.
    """
    K = A.shape[2]
    for a in range(m):
        for b in range(a + 1):
            for k in range(K):
                A[a, b, k] = prec[idx[s0 + a], idx[s0 + b], k]
    logdet[:] = 0.0
    for a in range(m):
        for b in range(a + 1):
            for c in range(b):
                for k in range(K):
                    A[a, b, k] -= A[a, c, k] * A[b, c, k] * A[c, c, k]
            if b < a:
                for k in range(K):
                    A[a, b, k] /= A[b, b, k]
        for k in range(K):
            logdet[k] += log(A[a, a, k])


@serial
def _solve(A, m, V):
    """V[:m, k] <- P_mm⁻¹ V[:m, k] for every component, from :func:`_factor`: L y = v, then Lᵀ w = y / D."""
    K = A.shape[2]
    for a in range(m):
        for c in range(a):
            for k in range(K):
                V[a, k] -= A[a, c, k] * V[c, k]
    for a in range(m - 1, -1, -1):
        for k in range(K):
            V[a, k] /= A[a, a, k]
        for c in range(a + 1, m):
            for k in range(K):
                V[a, k] -= A[c, a, k] * V[c, k]


@serial
def _invert(A, B, m):
    """P_mm⁻¹ = L⁻ᵀ D⁻¹ L⁻¹ for every component, from :func:`_factor`: entry (a, b), b <= a, in B[b, a, k].

    The unit lower L⁻¹ is built in B's strict lower triangle first (entries (c, a), c > a, are all
    the upper triangle reads).
    """
    K = A.shape[2]
    for a in range(m):
        for b in range(a + 1, m):
            for k in range(K):
                B[b, a, k] = -A[b, a, k]
            for c in range(a + 1, b):
                for k in range(K):
                    B[b, a, k] -= A[b, c, k] * B[c, a, k]
    for a in range(m):
        for b in range(a + 1):
            if a == b:
                for k in range(K):
                    B[a, a, k] = 1.0 / A[a, a, k]
            else:
                for k in range(K):
                    B[b, a, k] = B[a, b, k] / A[a, a, k]
            for c in range(a + 1, m):
                for k in range(K):
                    B[b, a, k] += B[c, a, k] * B[c, b, k] / A[c, c, k]


@serial
def _pattern_entry(prec, idx, s0, m, A, B, logdet, entries, sl):
    """Cache entry sl of the pattern missing idx[s0 : s0 + m], for every component: the factor of P_mm
    (m x m, row-major, as :func:`_factor` leaves it in A), log|P_mm| and P_mm⁻¹ (m x m)."""
    K = A.shape[2]
    _factor(prec, idx, s0, m, A, logdet)
    _invert(A, B, m)
    for a in range(m):
        for b in range(m):
            for k in range(K):
                entries[sl, a * m + b, k] = A[a, b, k]
                entries[sl, m * m + 1 + a * m + b, k] = B[min(a, b), max(a, b), k]
    for k in range(K):
        entries[sl, m * m, k] = logdet[k]


def hole_variance(prec, G, k, i, m, g, a, diagonal):
    """Var[x_i | x_o, k] of a row's a-th missing coordinate i, of m (cov_start g), after :func:`fill_holes`
    kept G.  (Scalars, not the ``holes`` tuple: passing it per call would copy it.)"""
    raise NotImplementedError("compiled use only")


@choose_by_types(hole_variance)
def _hole_variance_by_type(prec, G, k, i, m, g, a, diagonal):
    if prec.ndim != 3:
        return lambda prec, G, k, i, m, g, a, diagonal: np.nan

    def variance(prec, G, k, i, m, g, a, diagonal):
        if diagonal or m == 1:
            return prec[2 * prec.shape[1], i, k]
        return G[k, g + a * m + a]
    return variance


def refill_holes(prec, n_inc, holes, k, C, F, G, diagonal, rk, M2):
    """Component k's fills into the tile C (from :func:`fill_holes`'s F), and M2 += Σ_j rk[r_j]
    Cov[x_m | x_o, k] ((d, d) lower triangle, or (d, 1) diagonal) when ``rk`` is given: with these the
    scatter of the filled rows is the expected scatter of exact EM.  Nothing when NaN propagates."""
    raise NotImplementedError("compiled use only")


@choose_by_types(refill_holes)
def _refill_holes_by_type(prec, n_inc, holes, k, C, F, G, diagonal, rk, M2):
    if prec.ndim != 3:
        return lambda prec, n_inc, holes, k, C, F, G, diagonal, rk, M2: None

    def refill(prec, n_inc, holes, k, C, F, G, diagonal, rk, M2):
        _refill_holes(prec, n_inc, holes, k, C, F, G, diagonal, rk, M2)
    return refill


@serial
def _refill_holes(prec, n_inc, holes, k, C, F, G, diagonal, rk, M2):
    rows, count, start, idx, finite, cov_start = holes[:6]
    pos, weight_one = holes[19], holes[20]
    # The fills go in by their precomputed places in C: one branch-free loop over the tile's holes.
    flat = C.reshape(C.size)
    for e in range(F.shape[1]):
        flat[pos[e]] = C.dtype.type(F[k, e])
    if rk.size == 0:
        return
    # A conditional covariance depends only on which coordinates are missing: for rows missing one
    # coordinate (and diagonal covariances, missing any) its weights are summed per coordinate here
    # and the variances added once per block (flush_holes).  Rows missing more add theirs in row
    # order, so that the sums do not depend on what the pattern cache holds.
    full = M2.shape[1] > 1
    for j in range(n_inc):
        w = rk[rows[j]]
        if w == 0.0 or not finite[j]:
            continue
        m = count[j]
        s = start[j]
        if diagonal or m == 1:
            for a in range(m):
                weight_one[idx[s + a], k] += w
            continue
        g = cov_start[j]
        for a in range(m):
            if full:
                for b in range(a + 1):
                    M2[idx[s + a], idx[s + b]] += w * G[k, g + a * m + b]  # idx ascending: lower triangle
            else:
                M2[idx[s + a], 0] += w * G[k, g + a * m + a]


def flush_holes(prec, holes, M2):
    """Add the conditional variances whose weights :func:`refill_holes` summed to the scatter M2
    (K, d, d) lower triangles, or (K, d, 1) diagonals, and reset the sums.  Nothing when NaN propagates."""
    raise NotImplementedError("compiled use only")


@choose_by_types(flush_holes)
def _flush_holes_by_type(prec, holes, M2):
    if prec.ndim != 3:
        return lambda prec, holes, M2: None
    return lambda prec, holes, M2: _flush_holes(prec, holes, M2)


@serial
def _flush_holes(prec, holes, M2):
    weight_one = holes[20]
    K, d = M2.shape[0], M2.shape[1]
    full = M2.shape[2] > 1
    alone = prec[2 * d]  # Var[x_i | all the other coordinates] (the variance, for diagonal types)
    for k in range(K):
        for i in range(d):
            M2[k, i, i if full else 0] += weight_one[i, k] * alone[i, k]
            weight_one[i, k] = 0.0
