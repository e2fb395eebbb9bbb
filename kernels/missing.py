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
covariance (Ghahramani & Jordan 1994).  A row costs O(m·d + m³) per component
beyond a complete one: the m x m factor of P_mm, nothing of size d x d.

Kernels pass ``prec``: an empty 1-D array when NaN propagates (the default;
these functions then compile to nothing), or to marginalise, per component
(Kp = K, or 1 for tied covariances) a (Kp, d + 2, d) float64 array (see
:func:`fastprob.mixture.Components.hole_precisions`): rows 0 .. d-1 the
precision P (triangular types only), row d the conditional variance of a
coordinate when it alone is missing (1/P_ii, or the variance for diagonal
types), row d + 1 its logarithm.  With the last two rows a row missing one
coordinate -- the common case -- costs one dot product per component: no
factorisation, division or logarithm; the tile's rows missing one
coordinate are grouped by that coordinate and computed together, vectorised
across rows.  A component's fills are computed once per tile
(:func:`fill_holes`, in the E-step) and kept for the statistics
(:func:`refill_holes`).  ``holes`` is the per-tile scratch of
:func:`holes_scratch`, filled once per tile by :func:`find_holes`.

Measured (one EM iteration, N = 1e6, d = 16, K = 16, 2 threads, Zen 4): see
docs/missing.md.
"""
import numpy as np

from ._config import choose_by_types, serial


@serial
def holes_scratch(d, tile):
    """Per-tile scratch of :func:`find_holes` (a tuple; see the names in :func:`_find_holes`).

    rows[j]: tile row of the j-th incomplete row; count[j]: its number of
    missing coordinates, which are idx[start[j] : start[j] + count[j]]
    (ascending); finite[j]: its observed values are finite; cov_start[j]:
    where its conditional covariance (m > 1) is kept; half_logdet[j]: what its
    log-density gains from the current component's normalising constant,
    -½ log|P_mm|; the rows missing exactly one coordinate i (finite ones):
    ones[one_start[i] : one_start[i + 1]] (indices j), their values in the
    columns of ``lone`` (d, tile), and ``acc`` for their dot products; A, B:
    (d, d) factor and inverse of P_mm; v: (2d,) right-hand side and centred row.
    """
    return (np.empty(tile, np.int64), np.empty(tile, np.int64), np.empty(tile, np.int64),
            np.empty(tile * d, np.int64), np.empty(tile, np.bool_), np.empty(tile, np.int64), np.empty(tile),
            np.empty(tile, np.int64), np.empty(d + 1, np.int64), np.empty((d, tile)), np.empty(tile),
            np.empty((d, d)), np.empty((d, d)), np.empty(2 * d))


def marginalizes(prec):
    """True if the kernels marginalise over NaN coordinates: a constant, known at compile time."""
    raise NotImplementedError("compiled use only")


@choose_by_types(marginalizes)
def _marginalizes_by_type(prec):
    on = prec.ndim == 3
    return lambda prec: on


def find_holes(prec, X, C, t0, nt, holes):
    """(n_inc, cached, cov_cached): the number of rows t0 <= n < t0 + nt of X (loaded in the tile C) with a NaN, listed in
    ``holes``, and the sizes of the caches of their fills and conditional covariances for
    :func:`fill_holes` (all 0 when NaN propagates)."""
    raise NotImplementedError("compiled use only")


@choose_by_types(find_holes)
def _find_holes_by_type(prec, X, C, t0, nt, holes):
    if prec.ndim != 3:
        return lambda prec, X, C, t0, nt, holes: (0, 0, 0)
    return lambda prec, X, C, t0, nt, holes: _find_holes(X, C, t0, nt, holes)


@serial
def _find_holes(X, C, t0, nt, holes):
    rows, count, start, idx, finite, cov_start, _, ones, one_start, lone, flag = holes[:11]
    d = X.shape[1]
    n_inc = 0
    used = 0
    used2 = 0
    one_start[:] = 0
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
        ok = n_inf == 0
        if m == 0:
            continue  # an infinity, no NaN: scored as a complete row
        rows[n_inc] = r
        count[n_inc] = m
        start[n_inc] = used
        finite[n_inc] = ok
        cov_start[n_inc] = used2
        if m > 1:
            used2 += m * m
        elif ok:
            one_start[idx[used] + 1] += 1
        used += m
        n_inc += 1
    # Group the finite rows missing one coordinate by that coordinate (a counting sort), values in lone.
    for i in range(d):
        one_start[i + 1] += one_start[i]
    slot = np.empty(d, np.int64)
    slot[:] = one_start[:d]
    for j in range(n_inc):
        if count[j] == 1 and finite[j]:
            c = slot[idx[start[j]]]
            slot[idx[start[j]]] += 1
            ones[c] = j
            for i in range(d):
                lone[i, c] = X[t0 + rows[j], i]
    return n_inc, used, used2


def fill_holes(prec, X, t0, n_inc, holes, k, means, diagonal, C, F, G):
    """Fill the holes of the tile's incomplete rows with component k's conditional means (the E-step).

    For each incomplete row j (tile row r = rows[j]): C[i, r] = E[x_i | x_o, k]
    for its missing i, also kept in F[k, start[j] + a]; half_logdet[j] =
    -½ log|P_mm| (so that the row's log-density is the complete formula's
    plus ½ m log 2π + half_logdet[j], see :func:`.gaussian.tile_log_prob`);
    with a non-empty G, the conditional covariance P_mm⁻¹ of a row missing
    more than one coordinate goes to G[k, cov_start[j]:] (m x m, row-major).
    A row with an infinite observed coordinate has no conditional
    distribution: it is filled with μ_k (its log-density is then -inf or NaN,
    which the callers turn into -inf).  Nothing when NaN propagates.
    """
    raise NotImplementedError("compiled use only")


@choose_by_types(fill_holes)
def _fill_holes_by_type(prec, X, t0, n_inc, holes, k, means, diagonal, C, F, G):
    if prec.ndim != 3:
        return lambda prec, X, t0, n_inc, holes, k, means, diagonal, C, F, G: None

    def fill(prec, X, t0, n_inc, holes, k, means, diagonal, C, F, G):
        _fill_holes(prec, X, t0, n_inc, holes, k, means, diagonal, C, F, G)
    return fill


@serial
def _dot(P, ia, delta, d):
    """P[ia, :d] · delta, with four partial sums: one running sum would wait on each addition."""
    s0 = s1 = s2 = s3 = 0.0
    d4 = d - d % 4
    for i in range(0, d4, 4):
        s0 += P[ia, i] * delta[i]
        s1 += P[ia, i + 1] * delta[i + 1]
        s2 += P[ia, i + 2] * delta[i + 2]
        s3 += P[ia, i + 3] * delta[i + 3]
    for i in range(d4, d):
        s0 += P[ia, i] * delta[i]
    return (s0 + s1) + (s2 + s3)


@serial
def _fill_holes(prec, X, t0, n_inc, holes, k, means, diagonal, C, F, G):
    rows, count, start, idx, finite, cov_start, half_logdet, ones, one_start, lone, acc, A, B, v = holes
    d = X.shape[1]
    Q = prec[k if prec.shape[0] > 1 else 0]
    alone = Q[d]  # Var[x_i | all the other coordinates], and its log below
    log_alone = Q[d + 1]
    delta = v[d:]
    want_cov = G.shape[1] > 0
    if not diagonal:
        # Rows missing one coordinate i, vectorised across the rows of each group:
        # x̂_i = μ_i - Var[x_i | rest] Σ_{l != i} P_il (x_l - μ_l).
        for i in range(d):
            c0, c1 = one_start[i], one_start[i + 1]
            if c1 == c0:
                continue
            # (slices of the group: LLVM vectorises these loops, not the same loops over acc[c0:c1])
            group = acc[c0:c1]
            group[:] = 0.0
            for l in range(d):
                if l != i:
                    p = Q[i, l]
                    mu = means[k, l]
                    values = lone[l, c0:c1]
                    for c in range(c1 - c0):
                        group[c] += p * (values[c] - mu)
            mu = means[k, i]
            for c in range(c0, c1):
                j = ones[c]
                x = mu - acc[c] * alone[i]
                C[i, rows[j]] = C.dtype.type(x)
                F[k, start[j]] = x
                half_logdet[j] = 0.5 * log_alone[i]
    for j in range(n_inc):
        m = count[j]
        if m == 1 and finite[j] and not diagonal:
            continue  # done above
        r = rows[j]
        n = t0 + r
        miss = idx[start[j]:start[j] + m]
        if diagonal or not finite[j]:
            s = 0.0
            for a in range(m):
                i = miss[a]
                C[i, r] = C.dtype.type(means[k, i])
                F[k, start[j] + a] = means[k, i]
                s += log_alone[i]
            half_logdet[j] = 0.5 * s if diagonal and finite[j] else 0.0
            continue
        for i in range(d):
            delta[i] = np.float64(X[n, i]) - means[k, i]
        for a in range(m):
            delta[miss[a]] = 0.0
        # P_mm = L D Lᵀ (unit lower L in A's strict lower triangle, D on its diagonal): no square
        # roots, and one logarithm for |P_mm| = Π D_a.
        for a in range(m):
            v[a] = _dot(Q, miss[a], delta, d)
            for b in range(a + 1):
                A[a, b] = Q[miss[a], miss[b]]
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
            A[a, a] = t  # <= 0 only if P_mm is numerically indefinite: NaN results below, not a crash
            det *= t
            if not 1e-300 < abs(det) < 1e300:  # keep the product in range
                logdet += np.log(det)
                det = 1.0
        half_logdet[j] = -0.5 * (logdet + np.log(det))
        # P_mm w = v: L y = v, then Lᵀ w = y / D, in place in v; x̂_m = μ_m - w.
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
        for a in range(m):
            x = means[k, miss[a]] - v[a]
            C[miss[a], r] = C.dtype.type(x)
            F[k, start[j] + a] = x
        if not want_cov:
            continue
        # Cov[x_m | x_o] = P_mm⁻¹ = L⁻ᵀ D⁻¹ L⁻¹, with the unit lower L⁻¹ in B.
        for a in range(m):
            B[a, a] = 1.0
            for b in range(a + 1, m):
                t = 0.0
                for c in range(a, b):
                    t -= A[b, c] * B[c, a]
                B[b, a] = t
        g = cov_start[j]
        for a in range(m):
            for b in range(a + 1):
                t = 0.0
                for c in range(a, m):
                    t += B[c, a] * B[c, b] / A[c, c]
                G[k, g + a * m + b] = t
                G[k, g + b * m + a] = t


def hole_variance(prec, G, k, i, m, g, a, diagonal):
    """Var[x_i | x_o, k] of a row's a-th missing coordinate i, of m (cov_start g), after :func:`fill_holes`
    kept G for k.  (Scalars, not the ``holes`` tuple: passing it per call would copy it.)"""
    raise NotImplementedError("compiled use only")


@choose_by_types(hole_variance)
def _hole_variance_by_type(prec, G, k, i, m, g, a, diagonal):
    if prec.ndim != 3:
        return lambda prec, G, k, i, m, g, a, diagonal: np.nan

    def variance(prec, G, k, i, m, g, a, diagonal):
        if diagonal or m == 1:
            return prec[k if prec.shape[0] > 1 else 0, prec.shape[2], i]
        return G[k, g + a * m + a]
    return variance


def refill_holes(prec, n_inc, holes, k, C, F, G, diagonal, rk, M2h):
    """Component k's fills back into C (from :func:`fill_holes`'s F) for the statistics, and
    M2h += Σ_j rk[r_j] Cov[x_m | x_o, k] ((d, d) lower triangle, or (d, 1) diagonal).
    Nothing when NaN propagates."""
    raise NotImplementedError("compiled use only")


@choose_by_types(refill_holes)
def _refill_holes_by_type(prec, n_inc, holes, k, C, F, G, diagonal, rk, M2h):
    if prec.ndim != 3:
        return lambda prec, n_inc, holes, k, C, F, G, diagonal, rk, M2h: None

    def refill(prec, n_inc, holes, k, C, F, G, diagonal, rk, M2h):
        _refill_holes(prec, n_inc, holes, k, C, F, G, diagonal, rk, M2h)
    return refill


@serial
def _refill_holes(prec, n_inc, holes, k, C, F, G, diagonal, rk, M2h):
    rows, count, start, idx, finite, cov_start = holes[:6]
    full = M2h.shape[1] > 1
    alone = prec[k if prec.shape[0] > 1 else 0, prec.shape[2]]  # Var[x_i | all the other coordinates]
    for j in range(n_inc):
        r = rows[j]
        m = count[j]
        s = start[j]
        for a in range(m):
            C[idx[s + a], r] = C.dtype.type(F[k, s + a])
        w = rk[r]
        if w == 0.0 or not finite[j]:
            continue
        if diagonal or m == 1:
            for a in range(m):
                i = idx[s + a]
                M2h[i, i if full else 0] += w * alone[i]
            continue
        g = cov_start[j]
        for a in range(m):
            if full:
                for b in range(a + 1):
                    M2h[idx[s + a], idx[s + b]] += w * G[k, g + a * m + b]  # idx ascending: lower triangle
            else:
                M2h[idx[s + a], 0] += w * G[k, g + a * m + a]
