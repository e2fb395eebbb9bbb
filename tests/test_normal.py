"""fastprob.normal_logpdf and gaussian_nll against scipy.stats.norm and mpmath."""
import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp

import fastprob
from fastprob.kernels import gaussian as gk
from reference import normal_logpdf_mp


def test_scalar_defaults_and_mpmath():
    assert fastprob.normal_logpdf(0.0) == pytest.approx(-0.5 * np.log(2 * np.pi), rel=1e-16)
    for x, m, v in [(1.5, 0.2, 3.0), (-40.0, 1.0, 0.01), (1e8, -3.0, 7.5)]:
        assert fastprob.normal_logpdf(x, m, v) == pytest.approx(normal_logpdf_mp(x, m, v), rel=1e-15)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("x, v", [(1e300, 1e300), (1e155, 1e10), (-1e200, 1e250), (1e-160, 1e-320), (3e-200, 1e-310)])
def test_squared_offset_that_does_not_fit_a_float64(x, v):
    # (x - m)² overflows or underflows where (x - m)² / var does not.
    want = normal_logpdf_mp(x, 0.0, v)
    for var in (v, np.array([v, v])):  # one variance (hoisted) and per-element variances
        got = fastprob.normal_logpdf(np.array([x, x]), 0.0, var)
        np.testing.assert_allclose(got, want, rtol=1e-15)
    assert fastprob.gaussian_nll(x, 0.0, v) == pytest.approx(-want, rel=1e-15)


@pytest.mark.parametrize("xs, ms, vs", [
    ((5,), (), ()),
    ((4, 3), (3,), (4, 1)),
    ((2, 1, 3), (1, 5, 1), ()),
    ((1,), (6,), (6,)),
])
def test_broadcasting_matches_scipy(rng, xs, ms, vs):
    x = rng.standard_normal(xs) * 3
    m = rng.standard_normal(ms)
    v = rng.uniform(0.1, 4.0, vs)
    got = fastprob.normal_logpdf(x, m, v)
    want = st.norm.logpdf(x, m, np.sqrt(v))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-14)


def test_dtype_rules():
    x32 = np.linspace(-3, 3, 7, dtype=np.float32)
    assert fastprob.normal_logpdf(x32, 0.5, 2.0).dtype == np.float32  # Python scalars are weak
    assert fastprob.normal_logpdf(x32, np.float64(0.5)).dtype == np.float64
    assert fastprob.normal_logpdf(np.arange(3)).dtype == np.float64
    got = fastprob.normal_logpdf(x32, 0.5, 2.0)
    np.testing.assert_allclose(got, st.norm.logpdf(x32.astype(float), 0.5, np.sqrt(2.0)), rtol=1e-7)


def test_nan_and_inf_in_x():
    got = fastprob.normal_logpdf(np.array([np.nan, np.inf, -np.inf, 0.0]))
    assert np.isnan(got[0]) and got[1] == -np.inf and got[2] == -np.inf and np.isfinite(got[3])


def test_empty_and_inputs_unchanged(rng):
    assert fastprob.normal_logpdf(np.empty((0, 3)), 0.0, np.ones(3)).shape == (0, 3)
    x = rng.standard_normal(100)
    x.flags.writeable = False
    v = np.full(100, 2.0)
    snap = v.copy()
    fastprob.normal_logpdf(x[::-1], 0.0, v)
    np.testing.assert_array_equal(v, snap)


def test_serial_equals_parallel(rng):
    x = rng.standard_normal(10_000)
    outs = []
    for build in (gk.normal_logpdf.serial, gk.normal_logpdf.parallel):
        out = np.empty_like(x)
        build(x.size, x, np.array([0.1]), np.array([2.5]), out)
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("kwargs, match", [
    (dict(var=0.0), r"var must be > 0; got 0.0"),
    (dict(var=np.array([1.0, -2.0])), r"var must be > 0; got -2.0 at index \(1,\)"),
    (dict(var=np.nan), r"var contains 1 non-finite"),
    (dict(mean=np.inf), r"mean contains 1 non-finite"),
    (dict(mean=np.zeros(3)), r"do not broadcast together: shapes \(2,\), \(3,\), \(\)"),
])
def test_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fastprob.normal_logpdf(np.zeros(2), **kwargs)


# --------------------------------------------------------------------------- #
# gaussian_nll: "minimising MSE is maximum likelihood for a Gaussian mean"
# --------------------------------------------------------------------------- #
@settings(max_examples=50, deadline=None)
@given(y=hnp.arrays(np.float64, hs.integers(1, 50), elements=hs.floats(-1e3, 1e3)),
       mu=hs.floats(-1e3, 1e3), var=hs.floats(1e-3, 1e3))
def test_nll_equals_mse_over_two_var_plus_log_term(y, mu, var):
    mse = np.mean((y - mu) ** 2)
    expected = mse / (2 * var) + 0.5 * np.log(2 * np.pi * var)
    assert fastprob.gaussian_nll(y, mu, var) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_nll_reductions_and_minimiser(rng):
    y = rng.standard_normal(200) + 2.0
    per = fastprob.gaussian_nll(y, 1.0, 0.5, reduction="none")
    np.testing.assert_allclose(per, -st.norm.logpdf(y, 1.0, np.sqrt(0.5)), rtol=1e-14)
    assert fastprob.gaussian_nll(y, 1.0, 0.5, reduction="sum") == pytest.approx(per.sum(), rel=1e-13)
    # Over the mean, the NLL is minimised at the sample mean (the MLE).
    grid = np.linspace(y.mean() - 0.1, y.mean() + 0.1, 201)
    nll = [fastprob.gaussian_nll(y, m, 0.5) for m in grid]
    assert grid[int(np.argmin(nll))] == pytest.approx(y.mean(), abs=1e-3)
    assert fastprob.gaussian_nll(y.astype(np.float32), 1.0, 0.5).dtype == np.float32


def test_nll_errors():
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        fastprob.gaussian_nll([1.0], 0.0, 1.0, reduction="avg")
    with pytest.raises(ValueError, match="y is empty"):
        fastprob.gaussian_nll([], 0.0, 1.0)
    with pytest.raises(ValueError, match="var must be > 0"):
        fastprob.gaussian_nll([1.0], 0.0, -1.0)


def test_gaussian_nll_errors_name_y():
    with pytest.raises(ValueError, match=r"^y, mean and var do not broadcast together: shapes \(2,\), \(3,\), \(\)"):
        fastprob.gaussian_nll([1.0, 2.0], [0.0, 1.0, 2.0], 1.0)
    with pytest.raises(TypeError, match=r"^y is complex"):
        fastprob.gaussian_nll(np.array([1j]), 0.0, 1.0)
    with pytest.raises(ValueError, match=r"^x, mean and var do not broadcast"):
        fastprob.normal_logpdf([1.0, 2.0], [0.0, 1.0, 2.0])


@pytest.mark.skipif(np.finfo(np.longdouble).eps == np.finfo(np.float64).eps, reason="long double is float64 here")
def test_long_double_is_refused_not_rounded():
    with pytest.raises(TypeError, match=r"^x has dtype float(96|128) \(long double\), which fastprob cannot "
                                        r"compute in.*Pass x.astype\(np.float64\) \(or np.float32\)"):
        fastprob.normal_logpdf(np.longdouble(1e-4000))
    with pytest.raises(TypeError, match=r"^var has dtype float(96|128) \(long double\)"):
        fastprob.normal_logpdf(0.0, 0.0, np.longdouble(2))
    with pytest.raises(TypeError, match=r"^y has dtype float(96|128)"):
        fastprob.gaussian_nll(np.ones(2, np.longdouble), 0.0, 1.0)
    assert fastprob.normal_logpdf(np.float16(0.0)).dtype == np.float32  # float16 computes as float32
