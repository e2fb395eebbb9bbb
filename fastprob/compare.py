"""The one registry of comparisons between fastprob and reference implementations.

Each :class:`Comparison` says how to build inputs of a given size, how fastprob
computes the result and how the references (pure numpy, scipy, ...) compute the
same thing, with the tolerance they must agree to.  ``tests/`` runs every entry
at its small ``test`` size and asserts agreement; ``benchmarks/`` times every
implementation of every entry at its ``bench`` size.  Adding a capability means
adding entries here, and both get it.
"""
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from . import gaussian as _g

__all__ = ["Comparison", "REGISTRY", "comparisons", "max_relative_error"]


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
    sizes : mapping of str to int
        ``n`` for 'test' (correctness, CI smoke runs) and 'bench' (timings).
    dtype : numpy dtype
        Dtype of the data inputs.
    rtol, atol : float
        Agreement required between fastprob and each reference.
    """

    name: str
    make_inputs: Callable
    fastprob: Callable
    references: Mapping[str, Callable]
    sizes: Mapping[str, int]
    dtype: type = np.float64
    rtol: float = 1e-12
    atol: float = 0.0
    flops_per_row: float = field(default=0.0, compare=False)

    def inputs(self, size="test", seed=0):
        """Inputs at the named size ('test' or 'bench'), reproducible from ``seed``."""
        rng = np.random.default_rng(seed)
        return self.make_inputs(self.sizes[size], np.dtype(self.dtype), rng)

    def implementations(self):
        """{'fastprob': f, 'fastprob-1thread': f on one thread, **references}."""
        return {"fastprob": self.fastprob, "fastprob-1thread": _on_one_thread(self.fastprob),
                **self.references}


def _on_one_thread(fn):
    """``fn`` run with Numba limited to one thread (restored afterwards, even on error)."""
    import numba

    def run(*args):
        before = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            return fn(*args)
        finally:
            numba.set_num_threads(before)

    return run


def max_relative_error(result, reference):
    """max |result - reference| / max(|reference|, tiny) over all outputs (tuples allowed)."""
    if isinstance(reference, tuple):
        return max(max_relative_error(r, e) for r, e in zip(result, reference))
    r = np.asarray(result, dtype=np.float64)
    e = np.asarray(reference, dtype=np.float64)
    scale = np.maximum(np.abs(e), np.finfo(np.float64).tiny)
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


#: Every comparison, in a stable order.
REGISTRY = _build_registry()


def comparisons(prefix=""):
    """Registry entries whose name starts with ``prefix``."""
    return [c for c in REGISTRY if c.name.startswith(prefix)]
