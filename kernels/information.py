"""Reductions along rows: logsumexp, entropy, cross-entropy, KL divergence, Gaussian KL.

Inputs are 2-D C-contiguous ``(rows, n)`` arrays (the public functions move the
reduced axis last and flatten the others); each kernel writes one float64
value per row into ``out``.  Rows are independent: each kernel computes rows
i0 <= r < i1 and :class:`._config.BlockKernel` splits the rows across threads;
each row's sum runs in one fixed order inside one thread, so results are
bit-for-bit identical on any number of threads.
Everything is accumulated in float64 (also for float32 data).

The row kernels are compiled with FASTMATH_REDUCE (reassociation lets LLVM
vectorise the sums).  Reassociation would also be allowed to rewrite the
formulas around the sums, e.g. m + log1p(s + (c - 1)) into
m + log1p((s + c) - 1), which loses exactly the digits the formula is there
to keep; so every per-element term and every final combination lives in a
small strictly compiled helper (``_term_*``, ``_lse_finish``), whose
instructions keep their strict flags when inlined, and only the ``+=`` of
the sums is reassociable.
"""
import numpy as np

from . import mathfn as M
from ._config import blockwise, serial


@serial
def row_max(a, r):
    """max of row r of a 2-D array, ignoring NaN (-inf for an empty or all-NaN row).

    Four independent running maxima: a single one is a chain of dependent
    compare-selects (~3 cycles per element) that LLVM does not vectorise
    without the (forbidden) no-NaNs fast-math flag.
    """
    n = a.shape[1]
    m0 = -np.inf
    m1 = -np.inf
    m2 = -np.inf
    m3 = -np.inf
    n4 = n - n % 4
    for i in range(0, n4, 4):
        v0 = np.float64(a[r, i])
        v1 = np.float64(a[r, i + 1])
        v2 = np.float64(a[r, i + 2])
        v3 = np.float64(a[r, i + 3])
        m0 = v0 if v0 > m0 else m0
        m1 = v1 if v1 > m1 else m1
        m2 = v2 if v2 > m2 else m2
        m3 = v3 if v3 > m3 else m3
    for i in range(n4, n):
        v = np.float64(a[r, i])
        m0 = v if v > m0 else m0
    m0 = m1 if m1 > m0 else m0
    m2 = m3 if m3 > m2 else m2
    return m2 if m2 > m0 else m0


@serial
def row_has_nan(a, r):
    """Whether row r of a 2-D array holds a NaN."""
    for i in range(a.shape[1]):
        if a[r, i] != a[r, i]:
            return True
    return False


@serial(reduce=True)
def row_lse_shifted(a, r, m):
    """log Σ exp(a[r] - m) = log1p(rest) >= 0 for a finite row maximum m.

    scipy's refinement: the max term is left out of the sum instead of being
    added as 1, so a small remainder keeps its digits.  Every entry equal to m
    is skipped and all but one of them added back as (count - 1): the same
    value as skipping only the first, but without a sequential search, so the
    loop vectorises.  A NaN makes the sum (and the result) NaN.
    """
    s = 0.0
    for i in range(a.shape[1]):
        v = np.float64(a[r, i])
        t = M.exp(v - m)
        s += 0.0 if v == m else t
    # Counted in a loop of its own: two select-reductions on the same
    # condition in one loop are not recognised by LLVM's vectoriser.
    ties = 0
    for i in range(a.shape[1]):
        ties += 1 if np.float64(a[r, i]) == m else 0
    return _lse_finish(s, ties)


@serial
def _lse_finish(s, ties):
    """log1p(s + (ties - 1)), strictly (see the module notes)."""
    return M.log1p(s + np.float64(ties - 1))


@blockwise(reduce=True)
def logsumexp_rows(i0, i1, a, out):
    """out[r] = log Σ_i exp(a[r, i]), stable and ±inf/NaN-safe (scipy's semantics).

    All -inf gives -inf, any +inf gives +inf, any NaN NaN; an empty row gives
    -inf (log of an empty sum).
    """
    for r in range(i0, i1):
        m = row_max(a, r)
        if np.isinf(m):
            # ±inf max (or an empty/all-NaN row): the result is m unless a NaN is present.
            out[r] = np.nan if row_has_nan(a, r) else m
        else:
            out[r] = _plus(m, row_lse_shifted(a, r, m))


@blockwise(reduce=True)
def logsumexp_weighted_rows(i0, i1, a, b, out, sign):
    """out[r] = log |Σ_i b[r, i] exp(a[r, i])|, sign[r] = the sign of that sum (+1, -1, 0 or NaN).

    scipy's semantics: a weight of 0 removes its term whatever a is (also NaN
    or inf); the terms at the row maximum m are summed apart, as c, and the
    others as s = Σ b exp(a - m), so the result is m + log|c| + log1p(s / c)
    (with |1 + r| = 1 + (-r - 2) for r = s / c < -1).  A zero sum gives -inf
    with sign 0; NaN anywhere (in a kept term) gives NaN with sign NaN; +inf
    terms give inf with their sign, or NaN if they have weights of both signs;
    an infinite weight on a -inf term is NaN (inf * 0).  Where the maximum's
    weights cancel (c == 0) the next lower value takes its place.
    """
    for r in range(i0, i1):
        n = a.shape[1]
        m = -np.inf
        bad = False
        for i in range(n):
            w = np.float64(b[r, i])
            v = np.float64(a[r, i])
            if w != 0.0:
                # NaN, or an infinite weight on a zero term (inf * 0, as IEEE and scipy)
                bad = bad or (v != v) or (w != w) or (v == -np.inf and abs(w) == np.inf)
                m = v if v > m else m
        if bad:
            out[r] = np.nan
            sign[r] = np.nan
        elif m == -np.inf:
            out[r] = -np.inf
            sign[r] = 0.0
        elif m == np.inf:
            pos = False
            neg = False
            for i in range(n):
                w = np.float64(b[r, i])
                if np.float64(a[r, i]) == np.inf:
                    pos = pos or w > 0.0
                    neg = neg or w < 0.0
            out[r] = np.nan if pos and neg else np.inf
            sign[r] = np.nan if pos and neg else (1.0 if pos else -1.0)
        else:
            c = _weight_at(a, b, r, m)
            while c == 0.0:
                # The terms at m cancel exactly: shift to the next lower value instead, so
                # that the rest cannot underflow relative to m (e.g. 1000, 1000, 0 with
                # weights 1, -1, 1 is log e**0 = 0).
                below = -np.inf
                for i in range(n):
                    v = np.float64(a[r, i])
                    if np.float64(b[r, i]) != 0.0 and v < m and v > below:
                        below = v
                if below == -np.inf:
                    break
                m = below
                c = _weight_at(a, b, r, m)
            s = 0.0
            for i in range(n):
                s += _term_weighted(np.float64(a[r, i]), np.float64(b[r, i]), m)
            out[r], sign[r] = _lse_weighted_finish(m, c, s)


@serial(reduce=True)
def _weight_at(a, b, r, m):
    """Σ b[r, i] over the entries a[r, i] == m."""
    c = 0.0
    for i in range(a.shape[1]):
        c += np.float64(b[r, i]) if np.float64(a[r, i]) == m else 0.0
    return c


@serial
def _term_weighted(v, w, m):
    """b exp(a - m) for a term below m; 0 for terms at or above m (summed apart) and zero weights."""
    return 0.0 if (w == 0.0 or v >= m) else w * M.exp(v - m)


@serial
def _lse_weighted_finish(m, c, s):
    """(log |e**m (c + s)|, sign of c + s) for a finite m, strictly (see the module notes)."""
    total = c + s
    if not np.isfinite(total):  # infinite weights
        if total != total:
            return np.nan, np.nan
        return np.inf, (1.0 if total > 0.0 else -1.0)
    if c == 0.0:
        if s == 0.0:
            return -np.inf, 0.0
        return m + M.log(abs(s)), (1.0 if s > 0.0 else -1.0)
    q = s / c
    t = 1.0 + q
    if t == 0.0:
        return -np.inf, 0.0
    sgn = (1.0 if c > 0.0 else -1.0) * (1.0 if t > 0.0 else -1.0)
    # log|1 + q|: for q < -1, |1 + q| = 1 + (-q - 2), again as log1p.
    return m + (M.log(abs(c)) + M.log1p(q if q >= -1.0 else -q - 2.0)), sgn


@blockwise(reduce=True)
def entropy_rows(i0, i1, p, scale, out):
    """out[r] = -Σ_i q_i log q_i with q = p[r] * scale[r] (0 log 0 = 0).

    ``scale`` is 1 (distributions already normalised) or 1 / row sum.
    """
    rows, n = p.shape
    for r in range(i0, i1):
        c = scale[r]
        s = 0.0
        for i in range(n):
            s += _term_xlogy(np.float64(p[r, i]) * c, np.float64(p[r, i]) * c)
        out[r] = -s


@blockwise(reduce=True)
def cross_entropy_rows(i0, i1, p, q, sp, sq, out):
    """out[r] = -Σ_i p_i log q_i with p = p[r] * sp[r], q = q[r] * sq[r].

    Terms with p_i == 0 are 0 (whatever q_i); q_i == 0 < p_i gives +inf.
    """
    rows, n = p.shape
    for r in range(i0, i1):
        cp = sp[r]
        cq = sq[r]
        s = 0.0
        for i in range(n):
            s += _term_xlogy(np.float64(p[r, i]) * cp, np.float64(q[r, i]) * cq)
        out[r] = -s


@blockwise(reduce=True)
def kl_rows(i0, i1, p, q, sp, sq, out):
    """out[r] = Σ_i p_i log(p_i / q_i) with p = p[r] * sp[r], q = q[r] * sq[r] (see _term_kl)."""
    rows, n = p.shape
    for r in range(i0, i1):
        cp = sp[r]
        cq = sq[r]
        s = 0.0
        for i in range(n):
            s += _term_kl(np.float64(p[r, i]) * cp, np.float64(q[r, i]) * cq)
        out[r] = s


@blockwise(reduce=True)
def softmax_cross_entropy_rows(i0, i1, labels, logits, scale, out):
    """out[r] = -Σ_i y_i log softmax(z)_i = Σ_i y_i ((m - z_i) + log Σ_j exp(z_j - m)).

    y = labels[r] * scale[r].  Both terms are >= 0, so nothing cancels, and
    log softmax is never formed as log of a rounded-to-zero probability.
    Infinite logits give the limits: a -inf logit is a class of probability
    0 (its term is 0 for label 0, +inf for a positive label); a single +inf
    logit takes all the probability (loss 0 if every label is on it, +inf if
    any label is elsewhere).  Undefined, NaN: a NaN logit; all logits -inf;
    several +inf logits sharing the labels (their split is inf - inf).
    """
    rows, n = logits.shape
    for r in range(i0, i1):
        m = row_max(logits, r)
        if m == -np.inf:
            out[r] = np.nan  # all -inf (or NaN): the softmax is undefined
            continue
        if m == np.inf:
            out[r] = np.nan if row_has_nan(logits, r) else _xent_infinite_logit(labels, logits, r)
            continue
        # log Σ exp(z - m) >= 0; NaN anywhere makes it (and the loss) NaN.
        lse = row_lse_shifted(logits, r, m)
        c = scale[r]
        acc = 0.0
        for i in range(n):
            acc += _term_softmax_xent(np.float64(labels[r, i]) * c, m, np.float64(logits[r, i]), lse)
        out[r] = acc


@serial
def _xent_infinite_logit(labels, logits, r):
    """Softmax cross-entropy of a row with +inf logits: its limit, or NaN where it has none."""
    n_inf = 0
    label_elsewhere = False
    for i in range(logits.shape[1]):
        if np.float64(logits[r, i]) == np.inf:
            n_inf += 1
        elif labels[r, i] > 0:
            label_elsewhere = True
    if label_elsewhere:
        return np.inf  # probability 0 for a labelled class; every other term is >= 0
    return 0.0 if n_inf == 1 else np.nan


# --------------------------------------------------------------------------- #
# Strict per-element terms (see the module notes)
# --------------------------------------------------------------------------- #
@serial
def _term_xlogy(x, y):
    """x log y, with 0 log y = 0 for any y (0 log 0 = 0)."""
    return 0.0 if x == 0.0 else x * M.log(y)


@serial
def _term_kl(p, q):
    """p log(p / q) - p + q >= 0: 0 for p == q, q for p == 0, +inf for q == 0 < p.

    Summed over a distribution the -p + q parts cancel (both sum to 1), and
    each term is >= 0, so nothing cancels in the sum.  For p near q it is
    (p + q) t² (1 + t (1 + t) B(t²)) with t = (p - q) / (p + q) (exact for
    nearby p, q) and B(x) = 1/3 + x/5 + x²/7 + ...: the terms of p log(p/q)
    and -p + q that cancel to first order never appear (p log(p/q) on the
    rounded ratio left 1e-4 relative error at differences of 1e-12).
    Elsewhere the plain formula loses at most a few bits; where the ratio
    p/q under/overflows, log p - log q is used instead.
    """
    if p == 0.0:
        return q
    if q == 0.0:
        return np.inf
    t = (p - q) / (p + q)
    if abs(t) <= KL_SERIES_MAX:
        return (p + q) * (t * t) * (1.0 + t * (1.0 + t) * _kl_series(t * t))
    ratio = p / q
    ok = (ratio > 1e-300) & (ratio < 1e300)
    lg = M.log(ratio if ok else p) - (0.0 if ok else M.log(q))
    return (p * lg - p) + q


#: |t| = |p - q| / (p + q) up to which _term_kl uses its series: p / q in [1/2, 2].
KL_SERIES_MAX = 1.0 / 3.0


@serial
def _kl_series(x):
    """B(x) = Σ_k x^k / (2k + 3) for 0 <= x <= 1/9, to below 1e-17 relative (17 terms)."""
    b = 1.0 / 35.0
    for k in range(15, -1, -1):
        b = 1.0 / (2 * k + 3) + x * b
    return b


@serial
def _term_softmax_xent(y, m, z, lse):
    """y ((m - z) + lse): both parts >= 0, so nothing cancels; 0 where y == 0."""
    return 0.0 if y == 0.0 else y * ((m - z) + lse)


@serial
def _plus(a, b):
    return a + b


@blockwise
def gaussian_kl(i0, i1, mean_p, chol_p, logdet_p, mean_q, chol_q, logdet_q, out):
    """KL(N(mean_p, L_p L_pᵀ) ‖ N(mean_q, L_q L_qᵀ)) for K pairs of Gaussians.

    ½ [ ‖L_q⁻¹ L_p‖_F² - d + ‖L_q⁻¹ (mean_q - mean_p)‖² + log|Σ_q| - log|Σ_p| ].

    Each argument has K entries or one (broadcast): mean_* (Km, d),
    chol_* (Kc, d, d) lower factors, logdet_* (Kc,), all float64; out (K,).
    L_q⁻¹ L_p is a forward substitution column by column: for identical
    factors it is exactly the identity, so KL(p ‖ p) is exactly 0.
    """
    d = mean_p.shape[1]
    for k in range(i0, i1):
        mp = k if mean_p.shape[0] > 1 else 0
        mq = k if mean_q.shape[0] > 1 else 0
        cp = k if chol_p.shape[0] > 1 else 0
        cq = k if chol_q.shape[0] > 1 else 0
        X = np.empty(d)
        trace = 0.0
        for c in range(d):
            # Column c of L_q⁻¹ L_p (zero above the diagonal: both are lower).
            for i in range(c, d):
                v = chol_p[cp, i, c]
                for j in range(c, i):
                    v -= chol_q[cq, i, j] * X[j]
                X[i] = v / chol_q[cq, i, i]
                trace += X[i] * X[i]
        maha = 0.0
        for i in range(d):
            v = mean_q[mq, i] - mean_p[mp, i]
            for j in range(i):
                v -= chol_q[cq, i, j] * X[j]
            X[i] = v / chol_q[cq, i, i]
            maha += X[i] * X[i]
        out[k] = 0.5 * (((trace - d) + maha) + (logdet_q[cq] - logdet_p[cp]))
