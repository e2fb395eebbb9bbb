"""Property-based fuzzing of every public function and the estimator.

Random shapes, dtypes and values (NaN, ±inf, 0, subnormals, ±1e308, empty, 0-d,
non-contiguous, read-only, big-endian): each call either returns a result of a
float (or label) dtype, or raises ValueError/TypeError whose message names one of
the call's arguments.  Never another exception, a crash, or a warning.
Deterministic (``derandomize``), so CI sees the same examples every run.
"""
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastprob

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))

SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, np.nan, np.inf, -np.inf, 5e-324, 2.2e-308, 1e308, -1e308, 1e-300, 3.0]
DTYPES = [np.float64, np.float64, np.float32, np.float16, np.int64, np.bool_, np.complex128, np.longdouble, object]


@st.composite
def arrays(draw, min_dims=0, max_dims=3, max_side=4):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side))
    values = draw(st.lists(st.sampled_from(SPECIAL) | st.floats(-10, 10), min_size=1, max_size=8))
    flat = np.resize(np.array(values, dtype=np.float64), int(np.prod(shape)))
    with np.errstate(invalid="ignore", over="ignore"):
        if dtype == object:
            a = np.array(list(flat), dtype=object).reshape(shape)
        else:
            a = flat.astype(dtype).reshape(shape)
    if draw(st.booleans()) and a.ndim and dtype != object:
        a = a.astype(a.dtype.newbyteorder())  # big-endian on this machine
    if draw(st.booleans()) and a.ndim >= 1 and a.shape[-1] > 0:
        a = np.repeat(a, 2, axis=-1)[..., ::2]  # non-contiguous, same values
    if draw(st.booleans()):
        a = a.view()
        a.flags.writeable = False
    return a


def scalar_or_array(**kw):
    return st.one_of(arrays(**kw), st.sampled_from(SPECIAL), st.integers(-3, 3))


def _uncomputable(a):
    """long double and complex: dtypes the kernels cannot compute in (no silent downcast)."""
    kind = np.asarray(a).dtype if not isinstance(a, (int, float)) else np.dtype(type(a))
    return kind.kind == "c" or (kind.kind == "f" and kind.itemsize > 8)


def check(fn, names, *args, **kwargs):
    """Call fn; the outcome must be a float/int result or a ValueError/TypeError naming an argument."""
    must_refuse = any(_uncomputable(a) and np.size(a) > 0 for a in args)
    snapshot = [np.array(a, copy=True) if isinstance(a, np.ndarray) and a.dtype != object else None for a in args]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            out = fn(*args, **kwargs)
        except (ValueError, TypeError) as exc:
            message = str(exc)
            assert any(re.search(rf"\b{re.escape(n)}\b", message) for n in names), (
                f"{fn.__name__}: {type(exc).__name__} names no argument of {names}: {message}")
            return
    assert not must_refuse, f"{fn.__name__} computed long double / complex input (a silent downcast)"
    for a, before in zip(args, snapshot):  # inputs are never modified
        if before is not None:
            np.testing.assert_array_equal(a, before)
    results = out if isinstance(out, tuple) else (out,)
    for r in results:
        if isinstance(r, fastprob.CholeskyFactors):
            r = r.L
        kind = np.asarray(r).dtype
        assert kind in (np.float32, np.float64, np.int64) or kind.kind == "b", (fn.__name__, kind)


UNARY = ["sigmoid", "log_sigmoid", "softplus", "tanh", "sigmoid_grad", "tanh_grad", "relu", "relu_grad"]


@pytest.mark.parametrize("name", UNARY)
@SETTINGS
@given(z=scalar_or_array())
def test_elementwise(name, z):
    check(getattr(fastprob, name), ["z"], z)


@SETTINGS
@given(p=scalar_or_array())
def test_logit(p):
    check(fastprob.logit, ["p"], p)


@SETTINGS
@given(y=scalar_or_array(), z=scalar_or_array())
def test_binary_cross_entropy_with_logits(y, z):
    check(fastprob.binary_cross_entropy_with_logits, ["y", "z"], y, z)


@SETTINGS
@given(a=scalar_or_array(), axis=st.sampled_from([None, -1, 0, 1, (0, 1)]))
def test_logsumexp(a, axis):
    check(fastprob.logsumexp, ["a", "axis", "b"], a, axis=axis)


@pytest.mark.parametrize("name", ["entropy"])
@SETTINGS
@given(p=scalar_or_array(), axis=st.sampled_from([-1, 0, 1]), normalize=st.booleans())
def test_entropy(name, p, axis, normalize):
    check(fastprob.entropy, ["p", "axis"], p, axis=axis, normalize=normalize)


@pytest.mark.parametrize("name", ["cross_entropy", "kl_divergence"])
@SETTINGS
@given(p=scalar_or_array(), q=scalar_or_array(), normalize=st.booleans())
def test_pairwise_information(name, p, q, normalize):
    check(getattr(fastprob, name), ["p", "q", "axis"], p, q, normalize=normalize)


@SETTINGS
@given(labels=scalar_or_array(), logits=scalar_or_array())
def test_cross_entropy_with_logits(labels, logits):
    check(fastprob.cross_entropy_with_logits, ["labels", "logits", "axis"], labels, logits)


@SETTINGS
@given(x=scalar_or_array(), mean=scalar_or_array(max_dims=1), var=scalar_or_array(max_dims=1))
def test_normal_logpdf_and_nll(x, mean, var):
    check(fastprob.normal_logpdf, ["x", "mean", "var"], x, mean, var)
    check(fastprob.gaussian_nll, ["y", "mean", "var", "reduction"], x, mean, var)


@SETTINGS
@given(x=scalar_or_array(max_dims=2), w=st.none() | arrays(max_dims=1))
def test_fits(x, w):
    check(fastprob.normal_fit, ["x", "sample_weight"], x, w)
    check(fastprob.mvn_fit, ["X", "sample_weight"], x, w)


@SETTINGS
@given(X=scalar_or_array(), mean=scalar_or_array(max_dims=2), cov=scalar_or_array())
def test_mvn_logpdf(X, mean, cov):
    check(fastprob.mvn_logpdf, ["X", "mean", "cov"], X, mean, cov)


@SETTINGS
@given(cov=scalar_or_array(), B=scalar_or_array(max_dims=2))
def test_covariance_helpers(cov, B):
    check(fastprob.cholesky, ["cov"], cov)
    check(fastprob.gaussian_entropy, ["cov"], cov)
    check(fastprob.cov_from_factor, ["B", "jitter"], B)


@SETTINGS
@given(mean=scalar_or_array(max_dims=1), cov=scalar_or_array(), n=st.integers(-1, 3) | st.just(2.5))
def test_samplers(mean, cov, n):
    check(fastprob.mvn_sample, ["mean", "cov", "n"], mean, cov, n, random_state=0)


@SETTINGS
@given(mp=scalar_or_array(max_dims=1), cp=scalar_or_array(), mq=scalar_or_array(max_dims=1),
       cq=scalar_or_array())
def test_gaussian_kl(mp, cp, mq, cq):
    check(fastprob.gaussian_kl, ["mean_p", "cov_p", "mean_q", "cov_q"], mp, cp, mq, cq)


MIXTURE = st.sampled_from(["full", "tied", "diag", "spherical"])


@SETTINGS
@given(X=scalar_or_array(), weights=scalar_or_array(max_dims=1), means=scalar_or_array(max_dims=2),
       covs=scalar_or_array(), covariance_type=MIXTURE)
def test_mixture_functions(X, weights, means, covs, covariance_type):
    names = ["X", "weights", "means", "covs", "covariance_type"]
    check(fastprob.gmm_logpdf, names, X, weights, means, covs, covariance_type=covariance_type)
    check(fastprob.gmm_responsibilities, names, X, weights, means, covs, covariance_type=covariance_type)
    check(fastprob.gmm_sample, ["weights", "means", "covs", "n", "covariance_type"], weights, means, covs, 3,
          covariance_type=covariance_type)


@SETTINGS
@given(X=arrays(min_dims=1, max_dims=2, max_side=6), covariance_type=MIXTURE, k=st.integers(1, 3))
def test_estimator(X, covariance_type, k):
    gm = fastprob.GaussianMixture(k, covariance_type=covariance_type, max_iter=5, random_state=0)

    def fit_and_score(X):
        # Degenerate data may not converge in 5 iterations or be singular: both are reported, not raised.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Best performing initialization did not converge")
            warnings.filterwarnings("ignore", "Number of distinct clusters")
            warnings.filterwarnings("ignore", ".*a component lost all its points")
            gm.fit(X)
        return gm.score_samples(X), gm.predict(X)

    fit_and_score.__name__ = "GaussianMixture.fit"
    # scikit-learn's own messages about X say "array", "feature(s)" or "sample(s)"
    check(fit_and_score, ["X", "array", "feature", "sample", "n_components", "reg_covar", "covariance"], X)
