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

Speed.  What depends only on which coordinates are missing -- the regression
P_mm⁻¹ P_m·, -½ log|P_mm| and P_mm⁻¹, per component -- is computed once per
pattern: from a table for rows missing one coordinate, from a per-thread
cache keyed by the pattern for rows missing up to
:data:`PATTERN_MAX_MISSING` (row by row beyond).  A row's fills for all K
components are then one pass, vectorised across the components
(:func:`fill_holes`, once per tile), kept for the statistics
(:func:`refill_holes`).

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

from ._config import choose_by_types, serial


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
    entry in the pattern cache (-1: none); half_logdet[j, k]: what its
    log-density under component k gains from the normalising constant,
    -½ log|P_mm|; flag (tile,); D (d, K): a row centred on each component;
    acc (K,); A, B: (d, d) factor and inverse of P_mm; v: (2d,) right-hand
    side and centred row; the cache: a hash table of pattern keys (bit i set:
    coordinate i missing) with their entry numbers, the entries (S, width, K):
    the regression P_mm⁻¹ P_m· (m x d), -½ log|P_mm| and P_mm⁻¹ (m x m) per
    component, valid[s] once entry s is computed, and the number in use.
    """
    W = PATTERN_MAX_MISSING * d + 1 + PATTERN_MAX_MISSING ** 2
    S = 0
    if prec.ndim == 3 and 3 <= d <= 62:
        S = max(16, min(4096, PATTERN_CACHE_BYTES // (8 * max(K, 1) * W)))
    T = 1
    while T < 2 * S:
        T *= 2
    return (np.empty(tile, np.int64), np.empty(tile, np.int64), np.empty(tile, np.int64),
            np.empty(tile * d, np.int64), np.empty(tile, np.bool_), np.empty(tile, np.int64),
            np.empty(tile, np.int64), np.empty((tile, K)), np.empty(tile), np.empty((d, K)), np.empty(K),
            np.empty((d, d)), np.empty((d, d)), np.empty(2 * d),
            np.full(T, -1, np.int64), np.empty(T, np.int64), np.empty((S, W, K)), np.zeros(S, np.bool_),
            np.zeros(1, np.int64))


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
    keys, slot_of, entries, valid, n_slots = holes[14:]
    d = X.shape[1]
    S = entries.shape[0]
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
    for its a-th missing coordinate i; half_logdet[j, k] = -½ log|P_mm| (the
    row's log-density is the complete formula's plus ½ m log 2π +
    half_logdet[j, k], see :func:`.gaussian.tile_log_prob`); with a non-empty
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
    rows, count, start, idx, finite, cov_start, slot, half_logdet, _, D, acc, A, B, v = holes[:14]
    entries, valid = holes[16], holes[17]
    d = X.shape[1]
    K = D.shape[1]
    mu = prec[2 * d + 2]  # (d, K): each component's mean, components last
    alone = prec[2 * d]  # Var[x_i | all the other coordinates], and its log below
    log_alone = prec[2 * d + 1]
    want_cov = G.shape[1] > 0
    for j in range(n_inc):
        n = t0 + rows[j]
        m = count[j]
        s0 = start[j]  # (indices, not slices: a view per row costs two atomic reference counts)
        if not finite[j] or m == d or diagonal:
            # x̂ = μ: diagonal covariances (no correlation), empty rows, rows with an infinity
            for k in range(K):
                acc[k] = 0.0
            for a in range(m):
                i = idx[s0 + a]
                for k in range(K):
                    F[k, s0 + a] = mu[i, k]
                    acc[k] += log_alone[i, k]
            for k in range(K):
                half_logdet[j, k] = 0.5 * acc[k] if diagonal and finite[j] else 0.0
            if m == d and not diagonal and finite[j]:
                _row_by_row(prec, X, n, idx, s0, m, j, cov_start[j], half_logdet, F, G, want_cov, A, B, v)
            continue
        # The row centred on every component at once (components last: vectorised), 0 at the holes.
        for i in range(d):
            x = np.float64(X[n, i])
            for k in range(K):
                D[i, k] = x - mu[i, k]
        for a in range(m):
            for k in range(K):
                D[idx[s0 + a], k] = 0.0
        if m == 1:
            # x̂_i = μ_i - Σ_l (P_il / P_ii) (x_l - μ_l), from the table
            i = idx[s0]
            for k in range(K):
                acc[k] = 0.0
            for l in range(d):
                for k in range(K):
                    acc[k] += prec[d + i, l, k] * D[l, k]
            for k in range(K):
                F[k, s0] = mu[i, k] - acc[k]
                half_logdet[j, k] = 0.5 * log_alone[i, k]
            continue
        sl = slot[j]
        if sl < 0:
            _row_by_row(prec, X, n, idx, s0, m, j, cov_start[j], half_logdet, F, G, want_cov, A, B, v)
            continue
        if not valid[sl]:
            _pattern_entry(prec, idx, s0, m, d, A, B, v, entries, sl)
            valid[sl] = True
        for a in range(m):
            for k in range(K):
                acc[k] = 0.0
            for l in range(d):
                for k in range(K):
                    acc[k] += entries[sl, a * d + l, k] * D[l, k]
            i = idx[s0 + a]
            for k in range(K):
                F[k, s0 + a] = mu[i, k] - acc[k]
        for k in range(K):
            half_logdet[j, k] = entries[sl, m * d, k]
        if want_cov:
            g = cov_start[j]
            for e in range(m * m):
                for k in range(K):
                    G[k, g + e] = entries[sl, m * d + 1 + e, k]


@serial
def _row_by_row(prec, X, n, idx, s0, m, j, g, half_logdet, F, G, want_cov, A, B, v):
    """A row whose pattern is not cached: per component, P_mm = L D Lᵀ and the solve (O(m·d + m³))."""
    d = X.shape[1]
    K = F.shape[0]
    delta = v[d:]
    for k in range(K):
        for i in range(d):
            delta[i] = np.float64(X[n, i]) - prec[2 * d + 2, i, k]
        for a in range(m):
            delta[idx[s0 + a]] = 0.0
        for a in range(m):
            t = 0.0
            for l in range(d):
                t += prec[idx[s0 + a], l, k] * delta[l]
            v[a] = t
            for b in range(a + 1):
                A[a, b] = prec[idx[s0 + a], idx[s0 + b], k]
        half_logdet[j, k] = -0.5 * _ldl(A, m)
        _ldl_solve(A, m, v)
        for a in range(m):
            F[k, s0 + a] = prec[2 * d + 2, idx[s0 + a], k] - v[a]
        if want_cov:
            _ldl_inverse(A, B, m, G, k, g)


@serial
def _ldl(A, m):
    """P_mm = L D Lᵀ in place (unit lower L in A's strict lower triangle, D on its diagonal); log|P_mm|.

    From A's lower triangle.  No square roots, one logarithm for |P_mm| = Π D_a.  A pivot <= 0
    (a numerically indefinite block) gives NaN results, not a crash.
    """
    det = 1.0
    logdet = 0.0
    for a in range(m):
        for b in range(a):
            t = A[a, b]
            for c in range(b):
                t -= A[a, c] * A[b, c] * A[c, c]
            A[a, b] = t / A[b, b]
        t = A[a, a]
        for c in range(a):
            t -= A[a, c] * A[a, c] * A[c, c]
        A[a, a] = t
        det *= t
        if not 1e-300 < abs(det) < 1e300:  # keep the product in range
            logdet += np.log(det)
            det = 1.0
    return logdet + np.log(det)


@serial
def _ldl_solve(A, m, v):
    """v[:m] = P_mm⁻¹ v[:m] from :func:`_ldl`'s factor: L y = v, then Lᵀ w = y / D."""
    for a in range(m):
        t = v[a]
        for c in range(a):
            t -= A[a, c] * v[c]
        v[a] = t
    for a in range(m - 1, -1, -1):
        t = v[a] / A[a, a]
        for c in range(a + 1, m):
            t -= A[c, a] * v[c]
        v[a] = t


@serial
def _ldl_inverse(A, B, m, out, row, o):
    """out[row, o : o + m*m] (row-major) = P_mm⁻¹ = L⁻ᵀ D⁻¹ L⁻¹ from :func:`_ldl`'s factor (L⁻¹ in B)."""
    for a in range(m):
        B[a, a] = 1.0
        for b in range(a + 1, m):
            t = 0.0
            for c in range(a, b):
                t -= A[b, c] * B[c, a]
            B[b, a] = t
    for a in range(m):
        for b in range(a + 1):
            t = 0.0
            for c in range(a, m):
                t += B[c, a] * B[c, b] / A[c, c]
            out[row, o + a * m + b] = t
            out[row, o + b * m + a] = t


@serial
def _pattern_entry(prec, idx, s0, m, d, A, B, v, entries, sl):
    """Cache entry sl of the pattern missing idx[s0 : s0 + m], for every component: the regression
    P_mm⁻¹ P_m· (m x d, row-major), -½ log|P_mm| and P_mm⁻¹ (m x m)."""
    K = entries.shape[2]
    out = np.empty((1, m * m))
    for k in range(K):
        for a in range(m):
            for b in range(a + 1):
                A[a, b] = prec[idx[s0 + a], idx[s0 + b], k]
        entries[sl, m * d, k] = -0.5 * _ldl(A, m)
        for col in range(d):
            for a in range(m):
                v[a] = prec[idx[s0 + a], col, k]
            _ldl_solve(A, m, v)
            for a in range(m):
                entries[sl, a * d + col, k] = v[a]
        _ldl_inverse(A, B, m, out, 0, 0)
        for e in range(m * m):
            entries[sl, m * d + 1 + e, k] = out[0, e]


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
    full = M2.shape[1] > 1
    alone = prec[2 * prec.shape[1]]  # Var[x_i | all the other coordinates]
    for j in range(n_inc):
        r = rows[j]
        m = count[j]
        s = start[j]
        for a in range(m):
            C[idx[s + a], r] = C.dtype.type(F[k, s + a])
        w = rk[r] if rk.size > 0 else 0.0
        if w == 0.0 or not finite[j]:
            continue
        if diagonal or m == 1:
            for a in range(m):
                i = idx[s + a]
                M2[i, i if full else 0] += w * alone[i, k]
            continue
        g = cov_start[j]
        for a in range(m):
            if full:
                for b in range(a + 1):
                    M2[idx[s + a], idx[s + b]] += w * G[k, g + a * m + b]  # idx ascending: lower triangle
            else:
                M2[idx[s + a], 0] += w * G[k, g + a * m + a]
