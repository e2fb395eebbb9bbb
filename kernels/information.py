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
    A row whose logits hold NaN or +inf, or are all -inf, gives NaN (the
    softmax is undefined); a -inf logit with label 0 contributes 0.
    """
    rows, n = logits.shape
    for r in range(i0, i1):
        m = row_max(logits, r)
        if np.isinf(m):
            out[r] = np.nan  # +inf logits, or all -inf/NaN: the softmax is undefined
            continue
        # log Σ exp(z - m); NaN anywhere makes it NaN.
        lse = row_lse_shifted(logits, r, m)
        c = scale[r]
        acc = 0.0
        for i in range(n):
            acc += _term_softmax_xent(np.float64(labels[r, i]) * c, m, np.float64(logits[r, i]), lse)
        out[r] = acc


# --------------------------------------------------------------------------- #
# Strict per-element terms (see the module notes)
# --------------------------------------------------------------------------- #
@serial
def _term_xlogy(x, y):
    """x log y, with 0 log y = 0 for any y (0 log 0 = 0)."""
    return 0.0 if x == 0.0 else x * M.log(y)


@serial
def _term_kl(p, q):
    """p log(p / q): 0 for p == 0, +inf for q == 0 < p.

    log(p/q) rather than log p - log q: exact 0 where p == q, and a ratio
    near 1 keeps its digits.  Where the ratio under/overflows (p and q of
    very different magnitudes) the difference of logs is used instead.
    """
    ratio = p / q
    ok = (ratio > 1e-300) & (ratio < 1e300)
    lg = M.log(ratio if ok else p) - (0.0 if ok else M.log(q))
    return 0.0 if p == 0.0 else p * lg


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
