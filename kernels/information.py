"""Reductions along rows: logsumexp, entropy, cross-entropy, KL divergence, Gaussian KL.

Inputs are 2-D C-contiguous ``(rows, n)`` arrays (the public functions move the
reduced axis last and flatten the others); each kernel writes one float64
value per row into ``out``.  Rows are independent and are what ``prange``
splits across threads; each row's sum runs in one fixed order inside one
thread, so results are bit-for-bit identical on any number of threads.
Everything is accumulated in float64 (also for float32 data).
"""
import numpy as np
from numba import prange

from . import mathfn as M
from ._config import serial_and_parallel


@serial_and_parallel(reduce=True)
def logsumexp_rows(a, out):
    """out[r] = log Σ_i exp(a[r, i]), stable and ±inf/NaN-safe.

    m + log1p(Σ_{i != argmax} exp(a_i - m)) (scipy's refinement: the max term
    is left out of the sum instead of being added as 1, so a small remainder
    keeps its digits).  All -inf gives -inf, any +inf gives +inf, any NaN NaN;
    an empty row gives -inf (log of an empty sum).
    """
    rows, n = a.shape
    for r in prange(rows):
        m = -np.inf
        j = 0
        has_nan = False
        for i in range(n):
            v = np.float64(a[r, i])
            if v > m:
                m = v
                j = i
            has_nan = has_nan | (v != v)
        if has_nan:
            out[r] = np.nan
        elif np.isinf(m):
            out[r] = m
        else:
            s = 0.0
            for i in range(n):
                t = M.exp(np.float64(a[r, i]) - m)
                s += 0.0 if i == j else t
            out[r] = m + M.log1p(s)


@serial_and_parallel(reduce=True)
def entropy_rows(p, scale, out):
    """out[r] = -Σ_i q_i log q_i with q = p[r] * scale[r] (0 log 0 = 0).

    ``scale`` is 1 (distributions already normalised) or 1 / row sum.
    """
    rows, n = p.shape
    for r in prange(rows):
        c = scale[r]
        s = 0.0
        for i in range(n):
            q = np.float64(p[r, i]) * c
            s += 0.0 if q == 0.0 else q * M.log(q)
        out[r] = -s


@serial_and_parallel(reduce=True)
def cross_entropy_rows(p, q, sp, sq, out):
    """out[r] = -Σ_i p_i log q_i with p = p[r] * sp[r], q = q[r] * sq[r].

    Terms with p_i == 0 are 0 (whatever q_i); q_i == 0 < p_i gives +inf.
    """
    rows, n = p.shape
    for r in prange(rows):
        cp = sp[r]
        cq = sq[r]
        s = 0.0
        for i in range(n):
            pi = np.float64(p[r, i]) * cp
            qi = np.float64(q[r, i]) * cq
            s += 0.0 if pi == 0.0 else pi * M.log(qi)
        out[r] = -s


@serial_and_parallel(reduce=True)
def kl_rows(p, q, sp, sq, out):
    """out[r] = Σ_i p_i log(p_i / q_i) with p = p[r] * sp[r], q = q[r] * sq[r].

    log(p/q) rather than log p - log q: exact 0 where p_i == q_i, and a ratio
    near 1 keeps its digits.  Where the ratio under/overflows (p and q of very
    different magnitude) the difference of logs is used instead.
    Terms with p_i == 0 are 0; q_i == 0 < p_i gives +inf.
    """
    rows, n = p.shape
    for r in prange(rows):
        cp = sp[r]
        cq = sq[r]
        s = 0.0
        for i in range(n):
            pi = np.float64(p[r, i]) * cp
            qi = np.float64(q[r, i]) * cq
            ratio = pi / qi
            ok = (ratio > 1e-300) & (ratio < 1e300)
            lg = M.log(ratio if ok else pi) - (0.0 if ok else M.log(qi))
            # q_i == 0 < p_i: ratio = inf, log pi - log 0 = +inf either way.
            s += 0.0 if pi == 0.0 else pi * lg
        out[r] = s


@serial_and_parallel(reduce=True)
def softmax_cross_entropy_rows(labels, logits, scale, out):
    """out[r] = -Σ_i y_i log softmax(z)_i = Σ_i y_i ((m - z_i) + log Σ_j exp(z_j - m)).

    y = labels[r] * scale[r].  Both terms are >= 0, so nothing cancels, and
    log softmax is never formed as log of a rounded-to-zero probability.
    A row whose logits hold NaN or +inf, or are all -inf, gives NaN (the
    softmax is undefined); a -inf logit with label 0 contributes 0.
    """
    rows, n = logits.shape
    for r in prange(rows):
        m = -np.inf
        j = 0
        bad = False
        for i in range(n):
            v = np.float64(logits[r, i])
            if v > m:
                m = v
                j = i
            bad = bad | (v != v)
        if bad or np.isinf(m):
            out[r] = np.nan
            continue
        s = 0.0
        for i in range(n):
            t = M.exp(np.float64(logits[r, i]) - m)
            s += 0.0 if i == j else t
        lse = M.log1p(s)
        c = scale[r]
        acc = 0.0
        for i in range(n):
            y = np.float64(labels[r, i]) * c
            acc += 0.0 if y == 0.0 else y * ((m - np.float64(logits[r, i])) + lse)
        out[r] = acc


@serial_and_parallel
def gaussian_kl(mean_p, chol_p, logdet_p, mean_q, chol_q, logdet_q, out):
    """KL(N(mean_p, L_p L_pᵀ) ‖ N(mean_q, L_q L_qᵀ)) for K pairs of Gaussians.

    ½ [ ‖L_q⁻¹ L_p‖_F² - d + ‖L_q⁻¹ (mean_q - mean_p)‖² + log|Σ_q| - log|Σ_p| ].

    Each argument has K entries or one (broadcast): mean_* (Km, d),
    chol_* (Kc, d, d) lower factors, logdet_* (Kc,), all float64; out (K,).
    L_q⁻¹ L_p is a forward substitution column by column: for identical
    factors it is exactly the identity, so KL(p ‖ p) is exactly 0.
    """
    K = out.shape[0]
    d = mean_p.shape[1]
    for k in prange(K):
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
