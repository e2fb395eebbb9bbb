"""scipy's own tests for the functions fastprob shares with it, run against fastprob.

The test files are read from the installed scipy and executed here with one
change: the tested names come from fastprob instead of scipy.

- ``scipy/special/tests/test_logsumexp.py`` (``logsumexp``),
- ``scipy/special/tests/test_logit.py`` (``logit``, ``expit`` = ``sigmoid``,
  ``log_expit`` = ``log_sigmoid``),
- ``scipy/special/tests/test_basic.py``'s ``TestSoftplus`` (``softplus``),
- ``scipy/stats/tests/test_multivariate.py``'s ``TestMultivariateNormal``
  (``multivariate_normal``, see :class:`_MultivariateNormal`).

Only the numpy backend runs (``xp`` is numpy), so the decorators that pick
array-API backends are dropped.  Tests of what fastprob deliberately does
not offer are skipped with the reason, per group (the ``_expose`` calls), or at
run time where a test reaches such a feature after checking offered ones
(``multivariate_normal.cdf``, ``rvs``, ...: the parts before it have passed).
"""
import ast
import numbers
import pathlib
import types

import numpy as np
import pytest
import scipy

import fastprob

SCIPY = pathlib.Path(scipy.__file__).parent


# --------------------------------------------------------------------------- #
# Loading a scipy test module with fastprob's functions
# --------------------------------------------------------------------------- #
#: Decorators dropped from scipy's tests: array-API backend selection (only numpy runs here) and
#: scipy's own test-runner marks, which this suite does not register.
_DROPPED_DECORATORS = {"make_xp_test_case", "skip_xp_backends", "xfail_xp_backends", "slow", "xslow",
                       "thread_unsafe", "fail_slow"}


def _decorator_name(node):
    target = node.func if isinstance(node, ast.Call) else node
    return target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")


def _load(relpath, package, swap=None, inject=None, classes=None):
    """Execute scipy's test file ``relpath`` with fastprob's functions; return its namespace.

    ``swap`` replaces import lines (each must occur once), ``inject`` puts
    names into the namespace before the file runs (for names whose import was
    swapped out), ``classes``, if given, selects the test classes to define
    (module-level functions and imports are always kept).
    """
    path = SCIPY / relpath
    source = path.read_text(encoding="utf-8")
    for old, new in (swap or {}).items():
        assert source.count(old) == 1, f"{relpath} no longer has the line {old!r}: update the swap"
        source = source.replace(old, new)
    tree = ast.parse(source, filename=str(path))
    body = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and classes is not None and node.name not in classes:
            continue
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            for sub in [node] + [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]:
                sub.decorator_list = [d for d in sub.decorator_list if _decorator_name(d) not in _DROPPED_DECORATORS]
        body.append(node)
    tree.body = body
    module = types.ModuleType(f"{package}._fastprob_{path.stem}")
    module.__file__ = str(path)
    module.__package__ = package  # for the file's relative imports
    module.__dict__.update(inject or {})
    exec(compile(tree, str(path), "exec"), module.__dict__)
    return module


def _skip_params(test, reason, bad):
    """``test`` skipping (with ``reason``) the parameter sets for which ``bad(value)`` holds."""
    marks = getattr(test, "pytestmark", [])
    new_marks = []
    for mark in marks:
        if mark.name == "parametrize":
            names, values = mark.args[0], list(mark.args[1])  # materialise iterators (itertools.product)
            values = [pytest.param(*(v if isinstance(v, tuple) and "," in names else (v,)),
                                   marks=pytest.mark.skip(reason=reason)) if _any_bad(v, bad) else v
                      for v in values]
            mark = pytest.mark.parametrize(names, values, **mark.kwargs).mark
        new_marks.append(mark)
    test.pytestmark = new_marks
    return test


def _any_bad(value, bad):
    return any(bad(v) for v in (value if isinstance(value, tuple) else (value,)))


def _is_complex(value):
    return isinstance(value, complex) or (isinstance(value, str) and value.startswith("complex"))


COMPLEX = ("complex input: not offered (fastprob computes in real float64/float32; complex arrays are a "
           "TypeError naming the argument)")
LONG_DOUBLE = ("long double input: not offered (a TypeError asking for float64 or float32; computing it in "
               "float64 would lose its range silently)")


def _expose(module, name, skips=(), param_skips=(), skip_all=None):
    """Put scipy's test class or function ``name`` into this module for collection, with skip marks.

    A class becomes a subclass (and functions copies), so that the marks do
    not change the executed scipy module.
    """
    obj = getattr(module, name)
    if isinstance(obj, types.FunctionType):
        exposed = _copy_function(obj)
    else:
        exposed = type(name, (obj,), {"__module__": __name__, "__doc__": obj.__doc__})
        for test, reason in skips:
            setattr(exposed, test, pytest.mark.skip(reason=reason)(_copy_function(getattr(obj, test))))
        for test, reason, bad in param_skips:
            setattr(exposed, test, _skip_params(_copy_function(getattr(obj, test)), reason, bad))
    if skip_all:
        exposed = pytest.mark.skip(reason=skip_all)(exposed)
    globals()[name] = exposed


def _copy_function(fn):
    """A copy of ``fn`` (same code and globals) whose marks can be changed without touching the original."""
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__dict__.update({k: list(v) if k == "pytestmark" else v for k, v in fn.__dict__.items()})
    copy.__qualname__ = fn.__qualname__
    return copy


@pytest.fixture
def xp():
    """scipy's ``xp`` fixture, numpy backend only (the one fastprob computes with)."""
    from scipy._lib._array_api import array_namespace

    return array_namespace(np.empty(0))


@pytest.fixture
def devices(xp):
    """scipy's ``devices`` fixture for numpy."""
    return xp.__array_namespace_info__().devices() + [None]


# --------------------------------------------------------------------------- #
# special: logsumexp
# --------------------------------------------------------------------------- #
_lse = _load("special/tests/test_logsumexp.py", "scipy.special.tests", swap={
    "from scipy.special import log_softmax, logsumexp, softmax":
        "from scipy.special import log_softmax, softmax\nfrom fastprob import logsumexp",
})

_expose(_lse, "TestLogSumExp", skips=[
    ("test_logsumexp_complex_sign", COMPLEX),
    ("test_gh21610", COMPLEX),
    ("test_gh21709_small_imaginary", COMPLEX),
], param_skips=[
    ("test_dtypes_a", COMPLEX, _is_complex),
    ("test_dtypes_ab", COMPLEX, _is_complex),
    ("test_gh22601_infinite_elements", COMPLEX, _is_complex),
    ("test_device", COMPLEX, _is_complex),
])
_expose(_lse, "test_wrap_radians", skip_all="a private scipy helper wrapping the phase of complex results; "
                                            "complex input is not offered")
_NO_SOFTMAX = "softmax/log_softmax: not offered (fastprob's cross_entropy_with_logits works from logits directly)"
_expose(_lse, "TestSoftmax", skip_all=_NO_SOFTMAX)
_expose(_lse, "TestLogSoftmax", skip_all=_NO_SOFTMAX)


# --------------------------------------------------------------------------- #
# special: logit, expit, log_expit, softplus
# --------------------------------------------------------------------------- #
_logit = _load("special/tests/test_logit.py", "scipy.special.tests", swap={
    "from scipy.special import logit, expit, log_expit":
        "from fastprob import logit, sigmoid as expit, log_sigmoid as log_expit",
})

_expose(_logit, "TestLogit")
_expose(_logit, "TestExpit", skips=[("test_large", LONG_DOUBLE)])
_expose(_logit, "TestLogExpit")

_softplus = _load("special/tests/test_basic.py", "scipy.special.tests", swap={
    "from scipy.special import softplus": "from fastprob import softplus",
}, classes={"TestSoftplus"})

_expose(_softplus, "TestSoftplus", skips=[
    ("test_softplus_with_kwargs", "ufunc keywords (where=): not offered; fastprob's activations are functions "
                                  "with out= only, not numpy ufuncs"),
])


# --------------------------------------------------------------------------- #
# stats: multivariate_normal
# --------------------------------------------------------------------------- #
def _not_offered(what, instead=""):
    pytest.skip(f"multivariate_normal.{what}: not offered by fastprob{instead}")


def _parameters(mean, cov):
    """scipy's spellings of the parameters as the arrays fastprob takes: (mean (d,), cov (d, d)).

    scipy's multivariate_normal._process_parameters_psd, without its checks
    (fastprob makes its own): mean None is zeros, a scalar cov is cov·I, a 1-D
    cov the diagonal.
    """
    if not isinstance(cov, (np.ndarray, list, tuple, numbers.Number, type(None))):
        _not_offered("with a scipy Covariance object")
    if mean is None:
        cov_arr = np.asarray(1.0 if cov is None else cov, dtype=float)
        dim = 1 if cov_arr.ndim < 2 else cov_arr.shape[0]
        mean = np.zeros(dim)
    mean = np.asarray(mean, dtype=float)
    dim = mean.size
    mean = mean.reshape(dim) if dim == 1 or mean.ndim == 0 else mean
    cov = np.asarray(1.0 if cov is None else cov, dtype=float)
    if dim == 1 and cov.size == 1:
        cov = cov.reshape(1, 1)
    if cov.ndim == 0:
        cov = cov * np.eye(dim)
    elif cov.ndim == 1:
        cov = np.diag(cov)
    return mean, cov


class _MultivariateNormal:
    """``scipy.stats.multivariate_normal`` for the features fastprob offers: logpdf and pdf (fastprob.mvn_logpdf,
    also with allow_singular), entropy (fastprob.gaussian_entropy), fit without fixed parameters (fastprob.mvn_fit).

    What it adds to fastprob's functions is scipy's calling convention only:
    the parameter spellings of :func:`_parameters`, points with any leading
    shape (..., d) (fastprob takes (N, d) or (d,)), and the squeezing of the
    result (one point gives a scalar).  Anything else (cdf, logcdf, rvs,
    Covariance objects, fixed-parameter fits, ...) skips the test at the point
    where it is used.
    """

    def __call__(self, mean=None, cov=1, allow_singular=False, seed=None, **cdf_options):
        # cdf_options (maxpts, abseps, releps) only matter to cdf, which is not offered.
        return _FrozenNormal(mean, cov, allow_singular)

    def logpdf(self, x, mean=None, cov=1, allow_singular=False):
        mean, cov = _parameters(mean, cov)
        x = np.asarray(x, dtype=float)
        d = mean.size
        if x.ndim > 2 or (x.ndim == 2 and d == 1 and x.shape[-1] != 1):
            lead = x.shape[:-1] if x.shape[-1] == d else x.shape
            out = fastprob.mvn_logpdf(x.reshape(-1, d), mean, cov, allow_singular=allow_singular).reshape(lead)
        else:
            out = np.asarray(fastprob.mvn_logpdf(x, mean, cov, allow_singular=allow_singular))
        out = out.squeeze()
        return out[()] if out.ndim == 0 else out

    def pdf(self, x, mean=None, cov=1, allow_singular=False):
        out = np.exp(self.logpdf(x, mean, cov, allow_singular))
        return out[()] if np.ndim(out) == 0 else out

    def entropy(self, mean=None, cov=1):
        mean, cov = _parameters(mean, cov)
        return fastprob.gaussian_entropy(cov)

    def fit(self, x, fix_mean=None, fix_cov=None):
        if fix_mean is not None or fix_cov is not None:
            _not_offered("fit with fix_mean/fix_cov", " (mvn_fit estimates both)")
        return fastprob.mvn_fit(x)

    def __getattr__(self, name):
        if name.startswith("_"):  # introspection (pytest, copy, ...), not a scipy method
            raise AttributeError(name)
        _not_offered(name)


class _FrozenNormal:
    def __init__(self, mean, cov, allow_singular):
        _parameters(mean, cov)  # skips for what is not offered
        self._args = dict(mean=mean, cov=cov, allow_singular=allow_singular)

    @property
    def cov_object(self):
        # The rank of the covariance is not a fastprob feature; test_degenerate_distributions
        # checks it before the densities, so it is answered here with numpy (a check of numpy,
        # not of fastprob) to let those density checks run.
        _, cov = _parameters(self._args["mean"], self._args["cov"])
        return types.SimpleNamespace(rank=np.linalg.matrix_rank(cov, hermitian=True))

    def logpdf(self, x):
        return multivariate_normal.logpdf(x, **self._args)

    def pdf(self, x):
        return multivariate_normal.pdf(x, **self._args)

    def entropy(self):
        return multivariate_normal.entropy(self._args["mean"], self._args["cov"])

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        _not_offered(f"(frozen).{name}")


multivariate_normal = _MultivariateNormal()

_mvn = _load("stats/tests/test_multivariate.py", "scipy.stats.tests", swap={
    "from scipy.stats import (multivariate_normal, multivariate_hypergeom,":
        "from scipy.stats import (multivariate_hypergeom,",
    # Helpers of the other distributions' tests, which are not run here.
    "from .test_continuous_basic import check_distribution_rvs": "",
    "from .common_tests import check_random_state_property": "",
}, inject={"multivariate_normal": multivariate_normal},
   classes={"TestMultivariateNormal", "MVNProblem", "SingularMVNProblem"})

_SCIPY_INTERNAL = "tests scipy's private helpers (_PSD, _lnB), not multivariate_normal"
_expose(_mvn, "TestMultivariateNormal", skips=[
    ("test_large_pseudo_determinant", _SCIPY_INTERNAL),
    ("test_pseudodet_pinv", _SCIPY_INTERNAL),
    ("test_exception_nonsquare_cov", _SCIPY_INTERNAL),
    ("test_exception_nonfinite_cov", _SCIPY_INTERNAL),
    ("test_exception_non_psd_cov", _SCIPY_INTERNAL),
    ("test_lnB", _SCIPY_INTERNAL),
    ("test_rank", "the rank of the covariance (cov_object.rank): not offered"),
    ("test_frozen_multivariate_normal_exposes_attributes",
     "frozen-distribution attributes and scipy Covariance objects: not offered"),
    ("test_exception_singular_cov",
     "scipy raises numpy.linalg.LinAlgError for a singular covariance; fastprob raises ValueError naming the "
     "component and the remedies (allow_singular=True, a ridge), like all its argument errors"),
    ("test_fit_wrong_fit_data_shape", "scipy's error wording for fit; fastprob's mvn_fit names the shape it needs"),
])


def test_every_skip_names_a_test_that_exists():
    # A skip or swap left behind by a scipy rename would silently run nothing.
    for module, cls in ((_lse, "TestLogSumExp"), (_logit, "TestExpit"), (_softplus, "TestSoftplus"),
                        (_mvn, "TestMultivariateNormal")):
        for name in vars(globals()[cls]):
            if name.startswith("test_"):
                assert hasattr(getattr(module, cls), name), (cls, name)
    assert _lse.logsumexp is fastprob.logsumexp and _logit.expit is fastprob.sigmoid
    assert _softplus.softplus is fastprob.softplus and _mvn.multivariate_normal is multivariate_normal
