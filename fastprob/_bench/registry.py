"""The one registry of comparisons between fastprob and reference implementations.

Each :class:`Comparison` says how to build inputs of a given size, how fastprob
computes the result and how the references (pure numpy, scipy, ...) compute the
same thing, with the tolerance they must agree to.  ``tests/test_registry.py``
runs every entry at its small ``test`` size and asserts agreement;
``benchmarks/`` and ``fastprob bench`` time every implementation of every entry
at its ``bench`` size.  Adding a capability means adding entries here, and all
of them get it.
"""
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

import numpy as np

from .. import gaussian as _g

__all__ = ["Comparison", "FAMILIES", "OURS", "QUICK", "REGISTRY", "comparisons", "max_relative_error"]

#: The label of fastprob's own implementation; speed-ups and errors are relative to it.
OURS = "fastprob"

#: Families of workloads, in report order: {family: title}.  Each gets its own figure.
FAMILIES = {
    "gaussian": "Gaussian log-density and fits",
    "mixture": "Gaussian mixtures: log-density, EM",
    "activations": "activations",
    "information": "information measures",
}


@dataclass(frozen=True)
class Comparison:
    """One operation on one input configuration, with its reference implementations.

    Attributes
    ----------
    name : str
        Unique id, also the benchmark group (operation and shape).
    make_inputs : callable (n, dtype, rng) -> tuple
        Positional arguments for every implementation, with ``n`` rows.
    fastprob : callable
        The fastprob implementation.
    references : mapping of str to callable
        Reference implementations by label ('numpy', 'scipy', ...).
    baselines : mapping of str to callable
        Implementations timed beside fastprob that compute something else, for
        scale (no error is reported): e.g. the complete-data iteration beside
        the missing-value one, or scikit-learn after mean imputation.
    sizes : mapping of str to int
        ``n`` for 'test' (correctness, CI smoke runs) and 'bench' (timings).
    dtype : numpy dtype
        Dtype of the data inputs.
    rtol, atol : float
        Agreement required between fastprob and each reference.
    flops_per_row : float
        Useful floating-point work per row, for rates in reports.
    normwise : bool
        Measure the error of each output array relative to its largest entry
        (for matrices and parameter sets) instead of elementwise.
    rounds : int
        Timed rounds per implementation in benchmarks (fewer for slow references).
    family : str
        Key of :data:`FAMILIES`: the report section and figure it belongs to.
    quick : bool
        In the representative subset ``fastprob bench --quick`` runs (one or
        two cases per operation, float64), small enough to run in seconds.
    """

    def error(self, result, reference):
        """The error measure this comparison is judged by (see ``normwise``)."""
        return max_relative_error(result, reference, normwise=self.normwise)

    name: str
    make_inputs: Callable
    fastprob: Callable
    references: Mapping[str, Callable]
    sizes: Mapping[str, int]
    baselines: Mapping[str, Callable] = field(default_factory=dict, compare=False)
    dtype: type = np.float64
    rtol: float = 1e-12
    atol: float = 0.0
    flops_per_row: float = field(default=0.0, compare=False)
    normwise: bool = False
    rounds: int = 7
    family: str = "gaussian"
    quick: bool = False

    def inputs(self, size="test", seed=0):
        """Inputs at the named size ('test' or 'bench'), reproducible from ``seed``."""
        rng = np.random.default_rng(seed)
        return self.make_inputs(self.sizes[size], np.dtype(self.dtype), rng)

    def implementations(self):
        """{'fastprob': f, 'fastprob-1thread': f on one thread, **references, **baselines}."""
        return {OURS: self.fastprob, f"{OURS}-1thread": _on_one_thread(self.fastprob),
                **self.references, **self.baselines}


def _on_one_thread(fn):
    """``fn`` run with the kernels limited to one thread (restored afterwards, even on error)."""
    from ..threads import set_num_threads

    def run(*args):
        with set_num_threads(1):
            return fn(*args)

    return run


def max_relative_error(result, reference, normwise=False):
    """max |result - reference| / max(|reference|, tiny) over all outputs (tuples allowed).

    Elementwise by default; with ``normwise`` the scale of each output array is
    its largest absolute entry.
    """
    if isinstance(reference, tuple):
        return max(max_relative_error(r, e, normwise) for r, e in zip(result, reference))
    r = np.asarray(result, dtype=np.float64)
    e = np.asarray(reference, dtype=np.float64)
    scale = np.abs(e).max(initial=0.0) if normwise else np.abs(e)
    scale = np.maximum(scale, np.finfo(np.float64).tiny)
    return float(np.max(np.abs(r - e) / scale)) if e.size else 0.0


# --------------------------------------------------------------------------- #
# Reference implementations (imported lazily: scipy is slow to import)
# --------------------------------------------------------------------------- #
def _spd(d, rng, k=None):
    """Well-conditioned random SPD matrix (or a (k, d, d) stack)."""
    shape = (d, d) if k is None else (k, d, d)
    A = rng.standard_normal(shape)
    return A @ np.swapaxes(A, -1, -2) / d + np.eye(d)


def _numpy_mvn_logpdf(X, mean, cov):
    from scipy.linalg import solve_triangular

    L = np.linalg.cholesky(cov)
    Z = solve_triangular(L, (X - mean).T, lower=True)
    d = X.shape[1]
    return -0.5 * (d * np.log(2 * np.pi) + 2 * np.log(np.diag(L)).sum() + (Z * Z).sum(axis=0))


def _scipy_mvn_logpdf(X, mean, cov):
    from scipy.stats import multivariate_normal

    return multivariate_normal(mean, cov).logpdf(X)


def _scipy_mvn_logpdf_batched(X, means, covs):
    from scipy.stats import multivariate_normal

    return np.stack([multivariate_normal(m, c).logpdf(X) for m, c in zip(means, covs)], axis=1)


def _numpy_normal_logpdf(x, mean, var):
    return -0.5 * (np.log(2 * np.pi * var) + (x - mean) ** 2 / var)


def _scipy_normal_logpdf(x, mean, var):
    from scipy.stats import norm

    return norm.logpdf(x, mean, np.sqrt(var))


def _numpy_mvn_fit(X, w):
    mean = np.average(X, axis=0, weights=w)
    return mean, np.cov(X.T, aweights=w, bias=True).reshape(X.shape[1], X.shape[1])


def _numpy_normal_fit(x, w):
    mean = np.average(x, weights=w)
    return mean, np.average((x - mean) ** 2, weights=w)


def _mvn_inputs(d, k=None):
    def make(n, dtype, rng):
        mean = rng.standard_normal(d if k is None else (k, d))
        cov = _spd(d, rng, k)
        X = (rng.standard_normal((n, d)) * 1.5 + rng.standard_normal(d)).astype(dtype)
        return X, mean, cov

    return make


def _normal_inputs(n, dtype, rng):
    x = (rng.standard_normal(n) * 2.0).astype(dtype)
    return x, 0.3, 1.7


def _fit_inputs(d):
    def make(n, dtype, rng):
        X = (rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + 3.0).astype(dtype)
        return X, rng.uniform(0.0, 2.0, n)

    return make


def _normal_fit_inputs(n, dtype, rng):
    return (rng.standard_normal(n) * 3.0 + 5.0).astype(dtype), rng.uniform(0.0, 2.0, n)


def _build_registry():
    reg = []
    for dtype, rtol in ((np.float64, 1e-11), (np.float32, 2e-6)):
        tag = np.dtype(dtype).name
        for d in (2, 16, 64):
            reg.append(Comparison(
                name=f"mvn_logpdf-d{d}-{tag}",
                make_inputs=_mvn_inputs(d),
                fastprob=_g.mvn_logpdf,
                references={"numpy": _numpy_mvn_logpdf, "scipy": _scipy_mvn_logpdf},
                sizes={"test": 2000, "bench": 1_000_000},
                dtype=dtype, rtol=rtol, flops_per_row=d * (d + 1),
            ))
        reg.append(Comparison(
            name=f"mvn_logpdf-K8-d16-{tag}",
            make_inputs=_mvn_inputs(16, k=8),
            fastprob=_g.mvn_logpdf,
            references={"scipy": _scipy_mvn_logpdf_batched},
            sizes={"test": 2000, "bench": 1_000_000},
            dtype=dtype, rtol=rtol, flops_per_row=8 * 16 * 17,
        ))
        reg.append(Comparison(
            name=f"normal_logpdf-{tag}",
            make_inputs=_normal_inputs,
            fastprob=_g.normal_logpdf,
            references={"numpy": _numpy_normal_logpdf, "scipy": _scipy_normal_logpdf},
            sizes={"test": 10_000, "bench": 10_000_000},
            dtype=dtype, rtol=1e-13 if dtype is np.float64 else 1e-6,
        ))
        for d in (2, 16):
            reg.append(Comparison(
                name=f"mvn_fit-d{d}-{tag}",
                make_inputs=_fit_inputs(d),
                fastprob=_g.mvn_fit,
                references={"numpy": _numpy_mvn_fit},
                sizes={"test": 5000, "bench": 1_000_000},
                dtype=dtype, rtol=1e-10 if dtype is np.float64 else 1e-5,
            ))
        reg.append(Comparison(
            name=f"normal_fit-{tag}",
            make_inputs=_normal_fit_inputs,
            fastprob=_g.normal_fit,
            references={"numpy": _numpy_normal_fit},
            sizes={"test": 5000, "bench": 10_000_000},
            dtype=dtype, rtol=1e-10 if dtype is np.float64 else 1e-5,
        ))
    return tuple(reg)


# --------------------------------------------------------------------------- #
# Gaussian mixtures: log-density, one EM iteration, a full fit (issue workloads)
# --------------------------------------------------------------------------- #
#: (name, N for benchmarks, d, K): the workloads the README reports.
MIXTURE_WORKLOADS = (("W1", 1_000_000, 2, 8), ("W2", 1_000_000, 16, 16), ("W3", 200_000, 64, 8))
#: EM iterations of the 'fit' comparisons (tol=0, so every implementation runs them all).
FIT_ITERATIONS = 5


def mixture_inputs(d, K):
    """X from a random K-component full-covariance mixture, and a perturbed start (weights, means, covs)."""

    def make(n, dtype, rng):
        weights = rng.dirichlet(np.full(K, 5.0))
        means = rng.standard_normal((K, d)) * 4.0
        covs = _spd(d, rng, K)
        labels = rng.choice(K, size=n, p=weights)
        Z = rng.standard_normal((n, d))
        L = np.linalg.cholesky(covs)
        X = np.empty((n, d))
        for k in range(K):
            idx = labels == k
            X[idx] = means[k] + Z[idx] @ L[k].T
        # Start near the truth so every component keeps its points (no implementation
        # re-seeds or loses one) and all run the same EM path.
        start = (np.full(K, 1.0 / K), means + rng.standard_normal((K, d)) * 0.1, covs * 1.2)
        return (X.astype(dtype), *start)

    return make


def _sklearn_model(X, weights, means, covs, **kw):
    from sklearn.mixture import GaussianMixture as SkGM
    from scipy.linalg import solve_triangular

    sk = SkGM(n_components=len(weights), covariance_type="full", **kw)
    dtype = X.dtype
    sk.weights_, sk.means_, sk.covariances_ = weights.astype(dtype), means.astype(dtype), covs.astype(dtype)
    sk.precisions_cholesky_ = np.stack([solve_triangular(np.linalg.cholesky(c), np.eye(len(c)), lower=True).T
                                        for c in covs]).astype(dtype)
    return sk


def _precisions(covs):
    return np.linalg.inv(covs)


def _fastprob_gmm_logpdf(X, weights, means, covs):
    from ..mixture import gmm_logpdf

    return gmm_logpdf(X, weights, means, covs)


def _sklearn_gmm_logpdf(X, weights, means, covs):
    return _sklearn_model(X, weights, means, covs).score_samples(X)


def _numpy_weighted_log_prob(X, weights, means, covs):
    from scipy.linalg import solve_triangular

    d = X.shape[1]
    out = np.empty((X.shape[0], len(weights)))
    for k, (m, c) in enumerate(zip(means, covs)):
        L = np.linalg.cholesky(c)
        Z = solve_triangular(L, (X - m).T, lower=True)
        out[:, k] = np.log(weights[k]) - 0.5 * (d * np.log(2 * np.pi) + 2 * np.log(np.diag(L)).sum()
                                                  + np.einsum("ij,ij->j", Z, Z))
    return out


def _numpy_gmm_logpdf(X, weights, means, covs):
    from scipy.special import logsumexp

    return logsumexp(_numpy_weighted_log_prob(X, weights, means, covs), axis=1)


def _fastprob_em_iteration(X, weights, means, covs):
    """One EM iteration through fastprob's internals (the estimator's inner loop)."""
    from .. import _em
    from ..mixture import make_components

    comps, _ = make_components(weights, means, covs, "full")
    stats = _em.e_step_statistics(X, None, comps)
    new = _em.m_step(stats, "full", 1e-6, 10 * np.finfo(X.dtype).eps)
    return tuple(a.astype(X.dtype) for a in new)  # what the estimator stores


def _sklearn_em_iteration(X, weights, means, covs):
    sk = _sklearn_model(X, weights, means, covs, reg_covar=1e-6)
    _, log_resp = sk._e_step(X)
    sk._m_step(X, log_resp)
    return sk.weights_, sk.means_, sk.covariances_


def _numpy_em_iteration(X, weights, means, covs):
    """Textbook EM iteration in numpy: an N x K responsibility matrix, BLAS for the moments."""
    from scipy.special import logsumexp

    X = X.astype(np.float64)
    lp = _numpy_weighted_log_prob(X, weights, means, covs)
    resp = np.exp(lp - logsumexp(lp, axis=1)[:, None])
    nk = resp.sum(axis=0) + 10 * np.finfo(np.float64).eps
    new_means = resp.T @ X / nk[:, None]
    d = X.shape[1]
    new_covs = np.empty((len(nk), d, d))
    for k in range(len(nk)):
        D = X - new_means[k]
        new_covs[k] = (resp[:, k] * D.T) @ D / nk[k] + 1e-6 * np.eye(d)
    return nk / nk.sum(), new_means, new_covs


def _fit_kwargs(weights, means, covs):
    return dict(n_components=len(weights), weights_init=weights, means_init=means,
                precisions_init=_precisions(covs), max_iter=FIT_ITERATIONS, tol=0.0)


def _quiet_fit(model, X):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    return model.weights_, model.means_, model.covariances_


def _fastprob_fit(X, weights, means, covs):
    from ..estimator import GaussianMixture

    return _quiet_fit(GaussianMixture(**_fit_kwargs(weights, means, covs)), X)


def _sklearn_fit(X, weights, means, covs):
    from sklearn.mixture import GaussianMixture as SkGM

    return _quiet_fit(SkGM(**_fit_kwargs(weights, means, covs)), X)


def _numpy_fit(X, weights, means, covs):
    params = (weights, means, covs)
    for _ in range(FIT_ITERATIONS):
        params = _numpy_em_iteration(X, *params)
    return params


# --------------------------------------------------------------------------- #
# Missing values: one EM iteration with NaN entries (exact EM), beside the complete data
# --------------------------------------------------------------------------- #
#: (tag, how values go missing): one column in 30% of the rows (2 patterns), or 10% of all
#: entries completely at random (thousands of patterns at d = 16).
MISSING_CASES = (("1col30", "column"), ("mcar10", "mcar"))


def missing_inputs(d, K, how):
    """(X with NaN, the same X complete, weights, means, covs): W2-like data with holes punched in."""
    make = mixture_inputs(d, K)

    def make_missing(n, dtype, rng):
        X, *start = make(n, dtype, rng)
        Xh = X.copy()
        if how == "column":
            Xh[rng.random(n) < 0.3, d // 3] = np.nan
        else:
            Xh[rng.random(X.shape) < 0.1] = np.nan
        return (Xh, X, *start)

    return make_missing


def _fastprob_em_iteration_missing(Xh, X, weights, means, covs):
    """One exact EM iteration on data with NaN (the estimator's inner loop with missing='marginalize')."""
    from .. import _em
    from ..mixture import make_components

    comps, _ = make_components(weights, means, covs, "full")
    stats = _em.e_step_statistics(Xh, None, comps, marginalize=True)
    new = _em.m_step(stats, "full", 1e-6, 10 * np.finfo(Xh.dtype).eps)
    return tuple(a.astype(Xh.dtype) for a in new)


def _numpy_em_iteration_missing(Xh, X, weights, means, covs):
    """Textbook exact EM iteration in numpy, pattern by pattern (Ghahramani & Jordan 1994)."""
    from scipy.linalg import cho_factor, cho_solve
    from scipy.special import logsumexp

    Xh = Xh.astype(np.float64)
    N, d = Xh.shape
    K = len(weights)
    holes = np.isnan(Xh)
    patterns, inverse = np.unique(holes, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    lp = np.empty((N, K))
    for p, miss in enumerate(patterns):
        rows = np.flatnonzero(inverse == p)
        o = ~miss
        for k in range(K):
            if not o.any():
                lp[rows, k] = np.log(weights[k])
                continue
            L = np.linalg.cholesky(covs[k][np.ix_(o, o)])
            Z = np.linalg.solve(L, (Xh[np.ix_(rows, o)] - means[k][o]).T)
            lp[rows, k] = np.log(weights[k]) - 0.5 * (o.sum() * np.log(2 * np.pi)
                                                      + 2 * np.log(np.diag(L)).sum() + (Z * Z).sum(axis=0))
    resp = np.exp(lp - logsumexp(lp, axis=1)[:, None])
    nk = resp.sum(axis=0) + 10 * np.finfo(np.float64).eps
    Sx = np.zeros((K, d))
    Sxx = np.zeros((K, d, d))
    for p, miss in enumerate(patterns):
        rows = np.flatnonzero(inverse == p)
        o = ~miss
        for k in range(K):
            Xf = np.where(holes[rows], 0.0, Xh[rows])
            C = np.zeros((d, d))
            if miss.any():
                S = covs[k]
                if o.any():
                    cf = cho_factor(S[np.ix_(o, o)])
                    B = cho_solve(cf, S[np.ix_(o, miss)]).T  # Σ_mo Σ_oo⁻¹
                    Xf[:, miss] = means[k][miss] + (Xh[np.ix_(rows, o)] - means[k][o]) @ B.T
                    C[np.ix_(miss, miss)] = S[np.ix_(miss, miss)] - B @ S[np.ix_(o, miss)]
                else:
                    Xf[:] = means[k]
                    C = S.copy()
            r = resp[rows, k]
            Sx[k] += r @ Xf
            Sxx[k] += (Xf * r[:, None]).T @ Xf + r.sum() * C
    new_means = Sx / nk[:, None]
    # Σ r (x - μ)(x - μ)ᵀ / nk with Σ r x = nk μ: Sxx / nk - (2 - Σ r / nk) μ μᵀ
    W = nk - 10 * np.finfo(np.float64).eps
    new_covs = Sxx / nk[:, None, None] - np.einsum("ki,kj->kij", new_means, new_means) * (
        2 - W / nk)[:, None, None] + 1e-6 * np.eye(d)
    return nk / nk.sum(), new_means, new_covs


def _fastprob_complete_em_iteration(Xh, X, weights, means, covs):
    """The complete-data iteration on the same rows without holes (the speed the issue compares to)."""
    return _fastprob_em_iteration(X, weights, means, covs)


def _sklearn_mean_imputed_em_iteration(Xh, X, weights, means, covs):
    """What users do today: fill each hole with its column's mean, then scikit-learn's EM iteration."""
    filled = np.where(np.isnan(Xh), np.nanmean(Xh, axis=0), Xh)
    return _sklearn_em_iteration(filled, weights, means, covs)


def _missing_comparisons():
    reg = []
    wname, n, d, K = MIXTURE_WORKLOADS[1]  # W2
    for tag, how in MISSING_CASES:
        reg.append(Comparison(
            name=f"em_iteration_missing-{wname}-{tag}-float64", make_inputs=missing_inputs(d, K, how),
            fastprob=_fastprob_em_iteration_missing, references={"numpy": _numpy_em_iteration_missing},
            baselines={"fastprob-complete": _fastprob_complete_em_iteration,
                       "sklearn-mean-imputed": _sklearn_mean_imputed_em_iteration},
            sizes={"test": 3000, "bench": n}, rtol=1e-9, normwise=True, flops_per_row=2 * K * d * (d + 1),
            rounds=3, family="mixture"))
    return reg


#: The candidates of the stacked comparison: K = 1..8, two starts each (model selection's shape).
STACKED_CANDIDATES = tuple((K, r) for K in range(1, 9) for r in range(2))


def _stacked_candidates(weights, means, covs):
    """The candidates' (weights, means, covs): K of the 16 components each, from two different offsets."""
    out = []
    for K, r in STACKED_CANDIDATES:
        idx = (np.arange(K) + 8 * r) % len(weights)
        out.append((weights[idx] / weights[idx].sum(), means[idx], covs[idx]))
    return out


def _fastprob_stacked_em_iterations(X, weights, means, covs):
    """One EM iteration of each candidate, all their E-steps in one pass (the stacked kernel)."""
    from .. import _em
    from .._sources import ArraySource
    from ..mixture import make_components

    comps = [make_components(*c, "full")[0] for c in _stacked_candidates(weights, means, covs)]
    eps = 10 * np.finfo(X.dtype).eps
    return tuple(a for stats in _em.e_step_many(ArraySource(X), comps)
                 for a in _em.m_step(stats, "full", 1e-6, eps))


def _fastprob_one_by_one_em_iterations(X, weights, means, covs):
    """The same iterations with one pass per candidate."""
    return tuple(a for c in _stacked_candidates(weights, means, covs) for a in _fastprob_em_iteration(X, *c))


def _numpy_stacked_em_iterations(X, weights, means, covs):
    return tuple(a for c in _stacked_candidates(weights, means, covs) for a in _numpy_em_iteration(X, *c))


def _stacked_comparisons():
    wname, n, d, K = MIXTURE_WORKLOADS[1]  # W2
    flops = sum(k for k, _ in STACKED_CANDIDATES) * d * (d + 1)
    return [Comparison(
        name=f"em_iteration_stacked-{wname}-K1to8x2-float64", make_inputs=mixture_inputs(d, K),
        fastprob=_fastprob_stacked_em_iterations, references={"numpy": _numpy_stacked_em_iterations},
        baselines={"fastprob-one-by-one": _fastprob_one_by_one_em_iterations},
        sizes={"test": 3000, "bench": n}, rtol=1e-9, normwise=True, flops_per_row=2 * flops, rounds=3,
        family="mixture")]


def _mixture_comparisons():
    reg = []
    for dtype in (np.float64, np.float32):
        tag = np.dtype(dtype).name
        f32 = dtype is np.float32
        for wname, n, d, K in MIXTURE_WORKLOADS:
            make = mixture_inputs(d, K)
            sizes = {"test": 3000, "bench": n}
            flops = K * d * (d + 1)
            reg.append(Comparison(
                name=f"gmm_logpdf-{wname}-{tag}", make_inputs=make, fastprob=_fastprob_gmm_logpdf,
                references={"sklearn": _sklearn_gmm_logpdf, "numpy": _numpy_gmm_logpdf},
                sizes=sizes, dtype=dtype, rtol=2e-4 if f32 else 1e-10, flops_per_row=flops, family="mixture"))
            reg.append(Comparison(
                name=f"em_iteration-{wname}-{tag}", make_inputs=make, fastprob=_fastprob_em_iteration,
                references={"sklearn": _sklearn_em_iteration, "numpy": _numpy_em_iteration},
                sizes=sizes, dtype=dtype, rtol=2e-3 if f32 else 1e-9, normwise=True,
                flops_per_row=2 * flops, rounds=3, family="mixture"))
            reg.append(Comparison(
                name=f"fit{FIT_ITERATIONS}-{wname}-{tag}", make_inputs=make, fastprob=_fastprob_fit,
                references={"sklearn": _sklearn_fit, "numpy": _numpy_fit},
                sizes=sizes, dtype=dtype, rtol=2e-3 if f32 else 1e-8, normwise=True,
                flops_per_row=2 * flops * FIT_ITERATIONS, rounds=2, family="mixture"))
    return reg


# --------------------------------------------------------------------------- #
# Activations and logsumexp
# --------------------------------------------------------------------------- #
def _activation_inputs(n, dtype, rng):
    # Logits of a typical spread, including both tails (|z| up to ~25).
    return ((rng.standard_normal(n) * 5.0).astype(dtype),)


#: logsumexp rows of this length (a batch of softmax-like reductions).
LSE_ROW = 100


def _lse_inputs(n, dtype, rng):
    return ((rng.standard_normal((max(n // LSE_ROW, 1), LSE_ROW)) * 10.0).astype(dtype),)


def _numpy_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _scipy_expit(z):
    from scipy.special import expit

    return expit(z)


def _scipy_log_expit(z):
    from scipy.special import log_expit

    return log_expit(z)


def _numpy_log_sigmoid(z):
    return -np.logaddexp(0, -z)


def _numpy_softplus(z):
    return np.logaddexp(0, z)


def _scipy_softplus(z):
    from scipy.special import softplus

    return softplus(z)


def _numpy_logsumexp(a):
    m = a.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(a - m).sum(axis=-1, keepdims=True)))[:, 0]


def _fastprob_logsumexp_rows(a):
    from .. import information as _i

    return _i.logsumexp(a, axis=-1)  # one value per row (the default, as scipy's, reduces all elements)


def _scipy_logsumexp(a):
    from scipy.special import logsumexp

    return logsumexp(a, axis=-1)


def _activation_comparisons():
    from .. import activations as _a

    sizes = {"test": 20_000, "bench": 10_000_000}
    reg = []
    for dtype in (np.float64, np.float32):
        tag = np.dtype(dtype).name
        # Tolerances: fastprob is within 1-2 ULP of the exact result; the
        # references' own errors (a few ULP for the composed numpy
        # expressions, numpy's float32 SIMD exp/tanh ~1-2 ULP) set the bound.
        ulp = float(np.finfo(dtype).eps)
        entries = [
            ("sigmoid", _a.sigmoid, {"numpy": _numpy_sigmoid, "scipy": _scipy_expit}, 4 * ulp),
            ("log_sigmoid", _a.log_sigmoid, {"numpy": _numpy_log_sigmoid, "scipy": _scipy_log_expit}, 4 * ulp),
            ("softplus", _a.softplus, {"numpy": _numpy_softplus, "scipy": _scipy_softplus}, 4 * ulp),
            ("tanh", _a.tanh, {"numpy": np.tanh}, 4 * ulp),
        ]
        for name, fn, refs, rtol in entries:
            reg.append(Comparison(
                name=f"{name}-{tag}", make_inputs=_activation_inputs, fastprob=fn, references=refs,
                sizes=sizes, dtype=dtype, rtol=rtol, family="activations"))
        reg.append(Comparison(
            name=f"logsumexp-rows{LSE_ROW}-{tag}", make_inputs=_lse_inputs, fastprob=_fastprob_logsumexp_rows,
            references={"numpy": _numpy_logsumexp, "scipy": _scipy_logsumexp},
            sizes=sizes, dtype=dtype, rtol=3 * ulp, flops_per_row=LSE_ROW, family="information"))
    return reg


#: The representative subset ``fastprob bench --quick`` runs: every operation once or twice, float64 only.
#: Each dtype and each solver size class (d <= 4, larger d) compiles kernels of its own, and on an empty
#: kernel cache compiling is most of a small run's time; the float32 rows and the d = 64 cases add no
#: operation the others lack.
QUICK = frozenset({
    "mvn_logpdf-d16-float64", "normal_logpdf-float64", "mvn_fit-d16-float64", "normal_fit-float64",
    "gmm_logpdf-W1-float64", "gmm_logpdf-W2-float64", "em_iteration-W2-float64", f"fit{FIT_ITERATIONS}-W1-float64",
    "sigmoid-float64", "log_sigmoid-float64", "softplus-float64", "tanh-float64", f"logsumexp-rows{LSE_ROW}-float64",
    "em_iteration_missing-W2-1col30-float64", "em_iteration_stacked-W2-K1to8x2-float64",
})

#: Every comparison, in a stable order.
REGISTRY = tuple(replace(c, quick=c.name in QUICK) for c in
                 _build_registry() + tuple(_mixture_comparisons()) + tuple(_missing_comparisons())
                 + tuple(_stacked_comparisons())
                 + tuple(_activation_comparisons()))


def comparisons(prefix=""):
    """Registry entries whose name starts with ``prefix``."""
    return [c for c in REGISTRY if c.name.startswith(prefix)]
