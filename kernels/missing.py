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

Kernels pass ``prec``: an empty 1-D array when NaN propagates (today's
behaviour; these functions then compile to nothing), or the precisions
(Kc, d, d) float64 (Kc = 1 for tied, 0 for diagonal covariances, whose
precision is 1/var) to marginalise.  ``holes`` is the per-tile scratch of
:func:`holes_scratch`.
"""
import numpy as np

from ._config import choose_by_types, serial


@serial
def holes_scratch(d, tile):
    """(rows, count, half_logdet, A, B, v, idx): per-tile scratch for :func:`find_holes` / :func:`fill_holes`.

    rows[j]: tile row of the j-th incomplete row; count[j]: its number of
    missing coordinates; half_logdet[j]: what its log-density gains from
    the current component's normalising constant, -½ log|P_mm|; A, B: (d, d)
    factor and inverse of P_mm; v: (2d,) right-hand side and centred row;
    idx: (d,) missing coordinates.
    """
    return (np.empty(tile, np.int64), np.empty(tile, np.int64), np.empty(tile), np.empty((d, d)),
            np.empty((d, d)), np.empty(2 * d), np.empty(d, np.int64))


def marginalizes(prec):
    """True if the kernels marginalise over NaN coordinates: a constant, known at compile time."""
    raise NotImplementedError("compiled use only")


@choose_by_types(marginalizes)
def _marginalizes_by_type(prec):
    on = prec.ndim == 3
    return lambda prec: on


def find_holes(prec, X, t0, nt, holes):
    """Number of rows t0 <= n < t0 + nt of X with a NaN; their tile rows go to holes[0] (0 when NaN propagates)."""
    raise NotImplementedError("compiled use only")


@choose_by_types(find_holes)
def _find_holes_by_type(prec, X, t0, nt, holes):
    if prec.ndim != 3:
        return lambda prec, X, t0, nt, holes: 0
    return lambda prec, X, t0, nt, holes: _find_holes(X, t0, nt, holes)


@serial
def _find_holes(X, t0, nt, holes):
    rows = holes[0]
    d = X.shape[1]
    n = 0
    for r in range(nt):
        hole = False
        for i in range(d):
            hole |= np.isnan(X[t0 + r, i])
        if hole:
            rows[n] = r
            n += 1
    return n


def fill_holes(prec, X, t0, n_inc, holes, k, means, var, diagonal, C, rk, M2h, cvar):
    """Fill the holes of the tile's incomplete rows with component k's conditional means.

    For each incomplete row j (tile row r = holes[0][j]): C[i, r] = E[x_i | x_o, k]
    for its missing i, holes[1][j] = the number of them, holes[2][j] =
    -½ log|P_mm| (so that the row's log-density is the complete formula's plus
    ½ m log 2π + holes[2][j], see :func:`.gaussian.tile_log_prob`).  With a
    non-empty ``rk`` (weights of the tile's rows for k) the conditional
    covariances weighted by rk are added to ``M2h`` ((d, d) lower triangle, or
    (d, 1) diagonal); with a non-empty ``cvar`` (tile, d), cvar[j, i] = Var[x_i |
    x_o, k] for the missing i.  A row with an infinite observed coordinate has
    no conditional distribution: it is filled with μ_k (its log-density is
    then -inf or NaN, which the callers turn into -inf).  Nothing when NaN
    propagates.
    """
    raise NotImplementedError("compiled use only")


@choose_by_types(fill_holes)
def _fill_holes_by_type(prec, X, t0, n_inc, holes, k, means, var, diagonal, C, rk, M2h, cvar):
    if prec.ndim != 3:
        return lambda prec, X, t0, n_inc, holes, k, means, var, diagonal, C, rk, M2h, cvar: None

    def fill(prec, X, t0, n_inc, holes, k, means, var, diagonal, C, rk, M2h, cvar):
        _fill_holes(prec, X, t0, n_inc, holes, k, means, var, diagonal, C, rk, M2h, cvar)
    return fill


@serial
def _fill_holes(prec, X, t0, n_inc, holes, k, means, var, diagonal, C, rk, M2h, cvar):
    rows, count, half_logdet, A, B, v, idx = holes
    d = X.shape[1]
    delta = v[d:]
    want_cov = rk.size > 0
    want_var = cvar.size > 0
    for j in range(n_inc):
        r = rows[j]
        n = t0 + r
        m = 0
        finite = True
        for i in range(d):
            x = X[n, i]
            if np.isnan(x):
                idx[m] = i
                m += 1
                delta[i] = 0.0
            else:
                delta[i] = np.float64(x) - means[k, i]
                finite &= np.isfinite(delta[i])
        count[j] = m
        w = rk[r] if want_cov else 0.0
        if diagonal or not finite:
            s = 0.0
            for a in range(m):
                i = idx[a]
                C[i, r] = C.dtype.type(means[k, i])
                if diagonal:
                    vi = np.float64(var[k, i])
                    s += np.log(vi)
                    if w != 0.0:
                        M2h[i, 0] += w * vi
                    if want_var:
                        cvar[j, i] = vi
            half_logdet[j] = 0.5 * s if finite else 0.0
            continue
        P = prec[k if prec.shape[0] > 1 else 0]
        for a in range(m):
            ia = idx[a]
            # v_a = P[ia, :] · delta (delta is 0 at the holes): four partial sums, so
            # that the additions do not wait on each other (one chain is latency-bound)
            s0 = s1 = s2 = s3 = 0.0
            d4 = d - d % 4
            for i in range(0, d4, 4):
                s0 += P[ia, i] * delta[i]
                s1 += P[ia, i + 1] * delta[i + 1]
                s2 += P[ia, i + 2] * delta[i + 2]
                s3 += P[ia, i + 3] * delta[i + 3]
            for i in range(d4, d):
                s0 += P[ia, i] * delta[i]
            v[a] = (s0 + s1) + (s2 + s3)
            for b in range(a + 1):
                A[a, b] = P[ia, idx[b]]
        # Cholesky factor of P_mm in A's lower triangle (a principal block of a positive
        # definite matrix is positive definite), and log|P_mm| = 2 Σ log A_aa.
        logdet = 0.0
        for a in range(m):
            s = A[a, a]
            for c in range(a):
                s -= A[a, c] * A[a, c]
            A[a, a] = np.sqrt(s)  # NaN for a (numerically) indefinite block: NaN results, not a crash
            logdet += np.log(A[a, a])
            for b in range(a + 1, m):
                t = A[b, a]
                for c in range(a):
                    t -= A[b, c] * A[a, c]
                A[b, a] = t / A[a, a]
        half_logdet[j] = -logdet
        # P_mm w = v by two triangular solves, in place in v; x̂_m = μ_m - w.
        for a in range(m):
            t = v[a]
            for c in range(a):
                t -= A[a, c] * v[c]
            v[a] = t / A[a, a]
        for a in range(m - 1, -1, -1):
            t = v[a]
            for c in range(a + 1, m):
                t -= A[c, a] * v[c]
            v[a] = t / A[a, a]
        for a in range(m):
            C[idx[a], r] = C.dtype.type(means[k, idx[a]] - v[a])
        if w == 0.0 and not want_var:
            continue
        # Cov[x_m | x_o] = P_mm⁻¹ = L⁻ᵀ L⁻¹ with L⁻¹ (lower) in B.
        for a in range(m):
            B[a, a] = 1.0 / A[a, a]
            for b in range(a + 1, m):
                t = 0.0
                for c in range(a, b):
                    t -= A[b, c] * B[c, a]
                B[b, a] = t / A[b, b]
        for a in range(m):
            for b in range(a + 1):
                t = 0.0
                for c in range(a, m):
                    t += B[c, a] * B[c, b]
                if w != 0.0:
                    if M2h.shape[1] == 1:
                        if a == b:
                            M2h[idx[a], 0] += w * t
                    else:
                        M2h[idx[a], idx[b]] += w * t  # idx ascending: (a, b) with b <= a is lower
                if want_var and a == b:
                    cvar[j, idx[a]] = t
