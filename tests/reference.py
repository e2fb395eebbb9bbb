"""Slow, obviously-correct reference implementations for the tests.

Loops over points and components, and arbitrary precision (mpmath) where the
float64 references themselves would be in doubt.
"""
import mpmath
import numpy as np


def mvn_logpdf_loop(X, means, covs):
    """(N, K) log-densities, one np.linalg.solve / slogdet per point and component."""
    X = np.asarray(X, dtype=np.float64)
    out = np.empty((X.shape[0], len(means)))
    for k, (m, c) in enumerate(zip(means, covs)):
        sign, logdet = np.linalg.slogdet(c)
        assert sign > 0
        for n, x in enumerate(X):
            r = x - m
            out[n, k] = -0.5 * (len(m) * np.log(2 * np.pi) + logdet + r @ np.linalg.solve(c, r))
    return out


def mvn_logpdf_mp(x, mean, cov, dps=50):
    """log N(x | mean, cov) for one point in `dps`-digit arithmetic (returns a float)."""
    with mpmath.workdps(dps):
        d = len(mean)
        r = mpmath.matrix([mpmath.mpf(float(a)) - mpmath.mpf(float(b)) for a, b in zip(x, mean)])
        C = mpmath.matrix([[mpmath.mpf(float(v)) for v in row] for row in cov])
        maha = (r.T * mpmath.lu_solve(C, r))[0]
        return float(-(d * mpmath.log(2 * mpmath.pi) + mpmath.log(mpmath.det(C)) + maha) / 2)


def normal_logpdf_mp(x, mean, var, dps=50):
    """log N(x | mean, var) in `dps`-digit arithmetic."""
    with mpmath.workdps(dps):
        x, mean, var = (mpmath.mpf(float(v)) for v in (x, mean, var))
        return float(-(mpmath.log(2 * mpmath.pi * var) + (x - mean) ** 2 / var) / 2)


def weighted_moments_exact(X, w=None):
    """Weighted mean and ddof=0 covariance by two passes of correctly rounded sums (math.fsum)."""
    import math

    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    w = np.ones(len(X)) if w is None else np.asarray(w, dtype=np.float64)
    W = math.fsum(w)
    mean = np.array([math.fsum(w * X[:, i]) / W for i in range(X.shape[1])])
    C = X - mean
    cov = np.array([[math.fsum(w * C[:, i] * C[:, j]) / W for j in range(X.shape[1])]
                    for i in range(X.shape[1])])
    return mean, cov


def random_spd(d, rng, cond=10.0):
    """SPD matrix with eigenvalues spread over [1, cond] and a random orientation."""
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    ev = np.geomspace(1.0, cond, d)
    C = (Q * ev) @ Q.T
    return (C + C.T) / 2


def gmm_logpdf_loop(X, weights, means, covs, covariance_type):
    """log Σ_k w_k N(x | μ_k, Σ_k) via scipy, one component at a time (full matrices built explicitly)."""
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    K, d = np.shape(means)
    full = {
        "full": lambda k: covs[k],
        "tied": lambda k: covs,
        "diag": lambda k: np.diag(covs[k]),
        "spherical": lambda k: covs[k] * np.eye(d),
    }[covariance_type]
    lp = np.stack([np.log(weights[k]) + multivariate_normal(means[k], full(k)).logpdf(X).reshape(-1)
                   for k in range(K)], axis=1)
    return logsumexp(lp, axis=1), lp


def random_mixture(rng, K, d, covariance_type, spread=4.0):
    """Random well-separated mixture parameters in sklearn's shapes."""
    weights = rng.dirichlet(np.full(K, 3.0))
    means = rng.standard_normal((K, d)) * spread
    covs = {
        "full": lambda: np.stack([random_spd(d, rng, cond=5) for _ in range(K)]),
        "tied": lambda: random_spd(d, rng, cond=5),
        "diag": lambda: rng.uniform(0.3, 2.0, (K, d)),
        "spherical": lambda: rng.uniform(0.3, 2.0, K),
    }[covariance_type]()
    return weights, means, covs


# --------------------------------------------------------------------------- #
# Activations and information measures: exact values in mpmath
# --------------------------------------------------------------------------- #
def _mpf(x):
    return mpmath.mpf(float(x))


ACTIVATIONS_MP = {
    "sigmoid": lambda z: 1 / (1 + mpmath.exp(-z)),
    "log_sigmoid": lambda z: -mpmath.log1p(mpmath.exp(-z)),
    "softplus": lambda z: mpmath.log1p(mpmath.exp(z)),
    "tanh": lambda z: mpmath.tanh(z),
    "sigmoid_grad": lambda z: mpmath.exp(-abs(z)) / (1 + mpmath.exp(-abs(z))) ** 2,
    "tanh_grad": lambda z: mpmath.sech(z) ** 2,
    "logit": lambda p: mpmath.log(p / (1 - p)),
}


def activation_mp(name, z, dps=50):
    """The exact (``dps``-digit) value of activation ``name`` at float ``z``, as an mpf."""
    with mpmath.workdps(dps):
        return ACTIVATIONS_MP[name](_mpf(z))


def ulp_error(result, exact, dtype):
    """|result - exact| in units in the last place of ``exact`` rounded to ``dtype``.

    The ULP is that of the binade of ``exact`` (2**(e - p)), floored at the
    smallest subnormal, so subnormal results are measured in absolute terms as
    they should be.  Infinite ``exact`` gives 0 if matched, else inf.
    """
    info = np.finfo(dtype)
    p = info.nmant + 1
    tiny_sub = mpmath.mpf(2) ** (info.minexp - info.nmant)
    with mpmath.workdps(60):
        if mpmath.isinf(exact):
            return 0.0 if float(result) == float(exact) else float("inf")
        if exact == 0:
            ulp = tiny_sub
        else:
            _, e = mpmath.frexp(exact)
            ulp = max(mpmath.mpf(2) ** (e - p), tiny_sub)
        r = _mpf(result)
        if mpmath.isinf(r):
            return float("inf")
        return float(abs(r - exact) / ulp)


def logsumexp_mp(row, dps=50):
    """log Σ exp(row) in ``dps`` digits (a float)."""
    with mpmath.workdps(dps):
        return float(mpmath.log(mpmath.fsum(mpmath.exp(_mpf(v)) for v in row)))


def entropy_mp(p, q=None, dps=50):
    """-Σ p log q (q = p by default) in ``dps`` digits, with 0 log 0 = 0 (a float)."""
    q = p if q is None else q
    with mpmath.workdps(dps):
        return float(-mpmath.fsum(_mpf(a) * mpmath.log(_mpf(b)) for a, b in zip(p, q) if a != 0))


def softmax_cross_entropy_mp(labels, logits, dps=50):
    """-Σ y log softmax(z) in ``dps`` digits (a float)."""
    with mpmath.workdps(dps):
        z = [_mpf(v) for v in logits]
        lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in z))
        return float(mpmath.fsum(_mpf(y) * (lse - v) for y, v in zip(labels, z) if y != 0))


def gaussian_kl_naive(mean_p, cov_p, mean_q, cov_q):
    """Closed-form Gaussian KL with explicit inverses and slogdet (float64, one pair)."""
    d = len(mean_p)
    Sq_inv = np.linalg.inv(cov_q)
    diff = np.asarray(mean_q, float) - np.asarray(mean_p, float)
    _, ld_q = np.linalg.slogdet(cov_q)
    _, ld_p = np.linalg.slogdet(cov_p)
    return 0.5 * (np.trace(Sq_inv @ cov_p) + diff @ Sq_inv @ diff - d + ld_q - ld_p)


# --------------------------------------------------------------------------- #
# Incremental EM (partial_fit): statistics summed over chunks, M-step on the sums
# --------------------------------------------------------------------------- #
def incremental_em_full(chunks, weights, means, covs, reg_covar):
    """Parameters after one incremental EM step per chunk (full covariances), with scipy densities.

    Each chunk's responsibilities use the parameters current when it arrives;
    Nₖ, Σ r x and Σ r x xᵀ accumulate over the chunks; after every chunk the
    parameters are the M-step of the sums (sklearn's formulas, 10·eps on Nₖ).
    """
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    K, d = means.shape
    Nk, Sx, Sxx = np.zeros(K), np.zeros((K, d)), np.zeros((K, d, d))
    eps = 10 * np.finfo(np.float64).eps
    for X in chunks:
        logp = np.stack([np.log(weights[k]) + multivariate_normal(means[k], covs[k]).logpdf(X)
                         for k in range(K)], axis=1)
        resp = np.exp(logp - logsumexp(logp, axis=1)[:, None])
        Nk += resp.sum(axis=0)
        Sx += resp.T @ X
        Sxx += np.einsum("nk,ni,nj->kij", resp, X, X)
        nk = Nk + eps
        means = Sx / nk[:, None]
        covs = Sxx / nk[:, None, None] - np.einsum("ki,kj->kij", means, means) * (Nk / nk)[:, None, None]
        covs += reg_covar * np.eye(d)
        weights = nk / nk.sum()
    return weights, means, covs


# --------------------------------------------------------------------------- #
# Missing values: marginal densities and EM by the textbook formulas
# --------------------------------------------------------------------------- #
def full_covariance(covs, covariance_type, k, d):
    """Component k's covariance as a (d, d) matrix, from sklearn's shapes."""
    return {"full": lambda: covs[k], "tied": lambda: covs, "diag": lambda: np.diag(covs[k]),
            "spherical": lambda: covs[k] * np.eye(d)}[covariance_type]()


def gmm_logpdf_missing(X, weights, means, covs, covariance_type):
    """(log p(x_o) per row, (N, K) weighted log-densities) of each row's observed coordinates via scipy.

    A row with no observed value has log-density 0 (its weighted log-densities are log weights).
    """
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    K, d = np.shape(means)
    lp = np.empty((len(X), K))
    for n, x in enumerate(X):
        o = ~np.isnan(x)
        for k in range(K):
            S = full_covariance(covs, covariance_type, k, d)
            ld = multivariate_normal(means[k][o], S[np.ix_(o, o)]).logpdf(x[o]) if o.any() else 0.0
            lp[n, k] = np.log(weights[k]) + ld
    lse = logsumexp(lp, axis=1)
    lse[np.isnan(X).all(axis=1)] = 0.0  # log Σ_k π_k, exactly 0 (logsumexp rounds it to ±2e-16)
    return lse, lp


def conditionals(x, mean, S):
    """(E[x | x_o], Cov[x | x_o]) of one row under N(mean, S): observed entries exact, zero covariance there."""
    o = ~np.isnan(x)
    m = ~o
    xhat = x.copy()
    cov = np.zeros_like(S)
    if m.any():
        if o.any():
            B = np.linalg.solve(S[np.ix_(o, o)], S[np.ix_(o, m)]).T  # Σ_mo Σ_oo⁻¹
            xhat[m] = mean[m] + B @ (x[o] - mean[o])
            cov[np.ix_(m, m)] = S[np.ix_(m, m)] - B @ S[np.ix_(o, m)]
        else:
            xhat[:] = mean
            cov[:] = S
    return xhat, cov


def em_step_missing(X, sample_weight, weights, means, covs, covariance_type, reg_covar):
    """One exact EM iteration on data with NaN (Ghahramani & Jordan 1994), sklearn's M-step conventions.

    E-step on the observed marginals; M-step with E[x | x_o, k] and the conditional covariance of the
    missing block added to the scatter; 10·eps on Nₖ as sklearn.  Returns (weights, means, covs, mean
    log-likelihood under the old parameters).
    """
    N, d = X.shape
    K = len(weights)
    sw = np.ones(N) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    lse, lp = gmm_logpdf_missing(X, weights, means, covs, covariance_type)
    resp = np.exp(lp - lse[:, None]) * sw[:, None]
    nk = resp.sum(axis=0) + 10 * np.finfo(np.float64).eps
    xhat = np.empty((K, N, d))
    ccov = np.empty((K, N, d, d))
    for k in range(K):
        S = full_covariance(covs, covariance_type, k, d)
        for n in range(N):
            xhat[k, n], ccov[k, n] = conditionals(X[n], means[k], S)
    new_means = np.einsum("nk,kni->ki", resp, xhat) / nk[:, None]
    scatter = np.empty((K, d, d))
    for k in range(K):
        D = xhat[k] - new_means[k]
        scatter[k] = (resp[:, k] * D.T) @ D + np.einsum("n,nij->ij", resp[:, k], ccov[k])
    if covariance_type == "full":
        new_covs = scatter / nk[:, None, None] + reg_covar * np.eye(d)
    elif covariance_type == "tied":
        new_covs = scatter.sum(axis=0) / nk.sum() + reg_covar * np.eye(d)
    elif covariance_type == "diag":
        new_covs = np.diagonal(scatter, axis1=1, axis2=2) / nk[:, None] + reg_covar
    else:
        new_covs = np.diagonal(scatter, axis1=1, axis2=2).mean(axis=1) / nk + reg_covar
    return nk / nk.sum(), new_means, new_covs, float(sw @ lse / sw.sum())


def impute_missing(X, weights, means, covs, covariance_type):
    """(conditional means, conditional standard deviations) of X's NaN entries under the mixture."""
    K, d = np.shape(means)
    _, lp = gmm_logpdf_missing(X, weights, means, covs, covariance_type)
    resp = np.exp(lp - lp.max(axis=1, keepdims=True))
    resp /= resp.sum(axis=1, keepdims=True)
    fill, std = X.copy(), np.zeros_like(X)
    for n, x in enumerate(X):
        parts = [conditionals(x, means[k], full_covariance(covs, covariance_type, k, d)) for k in range(K)]
        mean = sum(r * p[0] for r, p in zip(resp[n], parts))
        var = sum(r * (np.diag(p[1]) + (p[0] - mean) ** 2) for r, p in zip(resp[n], parts))
        fill[n], std[n] = mean, np.sqrt(var)
    return fill, std
