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
