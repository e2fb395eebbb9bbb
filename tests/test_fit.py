"""fastprob.normal_fit / mvn_fit against exactly-rounded two-pass references and numpy."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

import fastprob
from reference import weighted_moments_exact


@pytest.mark.parametrize("N, d", [(1, 1), (2, 3), (1000, 1), (5000, 4), (3001, 64)])
@pytest.mark.parametrize("weighted", [False, True])
def test_mvn_fit_matches_reference(rng, N, d, weighted):
    X = rng.standard_normal((N, d)) @ rng.standard_normal((d, d)) + 10.0
    w = rng.uniform(0.0, 3.0, N) if weighted else None
    mean, cov = fastprob.mvn_fit(X, w)
    ref_mean, ref_cov = weighted_moments_exact(X, w)
    assert mean.shape == (d,) and cov.shape == (d, d)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-13)
    np.testing.assert_allclose(cov, ref_cov, rtol=1e-11, atol=1e-12 * np.abs(ref_cov).max())
    np.testing.assert_array_equal(cov, cov.T)
    np.testing.assert_allclose(cov, np.cov(X.T, aweights=w, bias=True).reshape(d, d), rtol=1e-9,
                               atol=1e-12 * np.abs(ref_cov).max())


def test_normal_fit_matches_numpy(rng):
    x = rng.standard_normal(12345) * 3 + 7
    w = rng.uniform(0, 1, x.size)
    m, v = fastprob.normal_fit(x)
    assert m == pytest.approx(x.mean(), rel=1e-14) and v == pytest.approx(x.var(), rel=1e-12)
    m, v = fastprob.normal_fit(x, w)
    ref_m, ref_v = weighted_moments_exact(x, w)
    assert m == pytest.approx(ref_m[0], rel=1e-14) and v == pytest.approx(ref_v[0, 0], rel=1e-12)


def test_float32_far_from_zero_is_robust(rng):
    x = (1e4 + rng.standard_normal(1_000_000)).astype(np.float32)
    naive = np.mean(x * x, dtype=np.float32) - np.mean(x, dtype=np.float32) ** 2
    assert abs(naive - 1.0) > 0.5  # the one-pass formula is badly wrong here
    m, v = fastprob.normal_fit(x)
    assert m.dtype == np.float32 and v.dtype == np.float32
    ref_m, ref_v = weighted_moments_exact(x)
    assert v == pytest.approx(ref_v[0, 0], rel=1e-6)
    assert v == pytest.approx(1.0, abs=0.01)
    X = np.stack([x, -x + 2e4], axis=1)
    mean, cov = fastprob.mvn_fit(X)
    assert cov.dtype == np.float32
    np.testing.assert_allclose(cov, weighted_moments_exact(X)[1], rtol=1e-6)


def test_integer_weights_are_frequency_weights(rng):
    X = rng.standard_normal((50, 3))
    counts = rng.integers(0, 4, 50)
    counts[0] = 1
    mean, cov = fastprob.mvn_fit(X, counts)
    rep_mean, rep_cov = fastprob.mvn_fit(np.repeat(X, counts, axis=0))
    np.testing.assert_allclose(mean, rep_mean, rtol=1e-13)
    np.testing.assert_allclose(cov, rep_cov, rtol=1e-12)


def test_bit_identical_on_any_thread_count(rng, restore_threads):
    import numba

    X = rng.standard_normal((300_000, 5)) * 10 + 3
    w = rng.uniform(0, 1, len(X))
    results = []
    for n in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        restore_threads(n)
        results.append(fastprob.mvn_fit(X, w))
    for mean, cov in results[1:]:
        np.testing.assert_array_equal(mean, results[0][0])
        np.testing.assert_array_equal(cov, results[0][1])


def test_inputs_unchanged_and_layouts(rng):
    X = np.asfortranarray(rng.standard_normal((100, 3)))
    X.flags.writeable = False
    w = rng.uniform(0, 1, 100)
    snap = X.copy(), w.copy()
    a = fastprob.mvn_fit(X, w)
    b = fastprob.mvn_fit(np.ascontiguousarray(X), w)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(X, snap[0])
    np.testing.assert_array_equal(w, snap[1])


@settings(max_examples=40, deadline=None)
@given(N=hs.integers(1, 600), d=hs.integers(1, 5), seed=hs.integers(0, 2**32 - 1),
       offset=hs.floats(-1e6, 1e6), scale=hs.floats(1e-3, 1e3))
def test_property_against_reference(N, d, seed, offset, scale):
    rng = np.random.default_rng(seed)
    X = offset + scale * rng.standard_normal((N, d))
    mean, cov = fastprob.mvn_fit(X)
    ref_mean, ref_cov = weighted_moments_exact(X)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-14, atol=1e-15 * scale)
    # Off-diagonal entries can be ~0: judge them on the scale of their variances.
    # The last term: merging blocks (Chan) uses block means known to eps·|offset|
    # only, which moves the merged scatter by ~ eps·|offset|·scale — about 1e-9
    # of the variance when the offset is 1e9 times the spread.
    eps = np.finfo(np.float64).eps
    bound = (1e-9 * np.sqrt(np.outer(np.diag(ref_cov), np.diag(ref_cov))) + 1e-12 * scale**2
             + 8 * eps * abs(offset) * scale)
    assert np.all(np.abs(cov - ref_cov) <= bound), np.abs(cov - ref_cov) / bound


@pytest.mark.parametrize("call, match", [
    (lambda: fastprob.mvn_fit(np.empty((0, 2))), r"X is empty: at least one sample"),
    (lambda: fastprob.mvn_fit(np.ones(3)), r"X must have shape \(N, d\), got shape \(3,\)"),
    (lambda: fastprob.mvn_fit(np.ones((3, 0))), r"X has no features"),
    (lambda: fastprob.mvn_fit([[1.0, np.nan], [1.0, 2.0]]), r"X contains 1 non-finite .* \(0, 1\).*impute"),
    (lambda: fastprob.normal_fit(np.ones((3, 2))), r"x must have shape \(N,\) \(use mvn_fit"),
    (lambda: fastprob.normal_fit([1.0, 2.0], [1.0]), r"sample_weight must have shape \(2,\)"),
    (lambda: fastprob.normal_fit([1.0, 2.0], [1.0, -1.0]), r"sample_weight must be non-negative; sample_weight\[1\] = -1.0"),
    (lambda: fastprob.normal_fit([1.0, 2.0], [0.0, 0.0]), r"values of sample_weight sum to zero"),
    (lambda: fastprob.normal_fit([1.0, 2.0], [np.nan, 1.0]), r"sample_weight contains 1 non-finite"),
])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("zero_fraction", [0.5, 0.7, 0.95, 1.0 - 1.0 / 3001])
@pytest.mark.parametrize("d", [3, 16])
def test_mostly_zero_weights_match_reference(rng, zero_fraction, d):
    # Tiles where >= 2/3 of the rows have weight 0 take the packed path of the
    # moment kernel (only the used rows enter the mean and the Gram matrix):
    # the same moments as the two-pass reference, in clusters and scattered.
    N = 3001
    X = rng.standard_normal((N, d)) @ rng.standard_normal((d, d)) + 5.0
    for w in (rng.uniform(0.5, 2.0, N) * (rng.random(N) >= zero_fraction),
              np.where(np.arange(N) % 700 < 700 * (1 - zero_fraction), 1.0, 0.0)):
        if not w.any():
            w[17] = 1.0
        mean, cov = fastprob.mvn_fit(X, w)
        ref_mean, ref_cov = weighted_moments_exact(X, w)
        np.testing.assert_allclose(mean, ref_mean, rtol=1e-13)
        np.testing.assert_allclose(cov, ref_cov, rtol=1e-11, atol=1e-12 * np.abs(ref_cov).max() + 1e-300)
        used = w > 0
        m2, c2 = fastprob.mvn_fit(X[used], w[used])
        np.testing.assert_allclose(mean, m2, rtol=1e-13)
        np.testing.assert_allclose(cov, c2, rtol=1e-11, atol=1e-12 * np.abs(ref_cov).max() + 1e-300)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("scale", [2.0**-1074, 1e-310, 1e300, 2.0**1022])
def test_weights_at_the_ends_of_the_float64_range_give_the_unit_weight_fit(scale):
    # Only the ratios of the weights matter; weights near 1e308 overflowed their sum (NaN),
    # subnormal ones lost their ratios (a wrong variance).
    x = np.array([1.0, 2.0, 4.0])
    w = np.array([1.0, 2.0, 1.0])
    assert np.array_equal(w * scale / scale, w)
    mean, var = fastprob.normal_fit(x, sample_weight=w * scale)
    want_mean, want_var = fastprob.normal_fit(x, sample_weight=w)
    np.testing.assert_allclose([mean, var], [want_mean, want_var], rtol=1e-15)
    X = np.array([[1.0, 2.0], [2.0, 3.0], [4.0, 1.0]])
    for got, want in zip(fastprob.mvn_fit(X, sample_weight=w * scale), fastprob.mvn_fit(X, sample_weight=w)):
        np.testing.assert_allclose(got, want, rtol=1e-15)


@pytest.mark.parametrize("fit, data", [(fastprob.mvn_fit, np.arange(12.0).reshape(6, 2)),
                                       (fastprob.normal_fit, np.arange(6.0))])
def test_weights_keyword_is_deprecated_for_sample_weight(fit, data):
    w = np.array([1.0, 2.0, 0.5, 1.0, 3.0, 1.0])
    with pytest.warns(DeprecationWarning, match=rf"{fit.__name__}\(weights=...\) is deprecated.*sample_weight="):
        old = fit(data, weights=w)
    for a, b in zip(old, fit(data, sample_weight=w)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="both weights= .* and sample_weight="):
        fit(data, weights=w, sample_weight=w)


# --------------------------------------------------------------------------- #
# Data near the ends of the float64 range
# --------------------------------------------------------------------------- #
@pytest.mark.filterwarnings("error")
def test_data_near_the_float64_limit_fit_exactly():
    # Sums of such data overflow: the fit used to return (inf, nan) here.
    m, v = fastprob.normal_fit([1.7e308, 1.7e308])
    assert (m, v) == (1.7e308, 0.0)
    mean, cov = fastprob.mvn_fit(np.full((1000, 2), -1.5e308))
    np.testing.assert_array_equal(mean, [-1.5e308, -1.5e308])
    np.testing.assert_array_equal(cov, np.zeros((2, 2)))
    # (Distinct values this large differ by at least 1e292: their variance exceeds float64,
    # see test_covariances_beyond_the_range_are_an_error_not_inf.)


@pytest.mark.filterwarnings("error")
def test_columns_of_very_different_scales_each_keep_their_digits(rng):
    # Squares of the first column overflow unscaled (the fit gave inf); per-column scaling:
    # scaling by the first column's magnitude would push the second one into underflow.
    X = rng.standard_normal((500, 3))
    scales = np.array([1e154, 1e-154, 1.0])
    mean, cov = fastprob.mvn_fit(X * scales)
    ref_mean, ref_cov = weighted_moments_exact(X, None)
    np.testing.assert_allclose(mean, ref_mean * scales, rtol=1e-13)
    np.testing.assert_allclose(cov, ref_cov * np.outer(scales, scales), rtol=1e-12)
    tiny = rng.standard_normal(300) * 1e-160 + 3e-160  # squares in the subnormal range
    m, v = fastprob.normal_fit(tiny)
    rm, rv = weighted_moments_exact(tiny[:, None] * 1e160, None)
    assert m == pytest.approx(rm[0] * 1e-160, rel=1e-14, abs=0)
    assert v == pytest.approx(rv[0, 0] * 1e-320, rel=1e-3, abs=0)


@pytest.mark.parametrize("call, match", [
    (lambda: fastprob.normal_fit([1.7e308, -1.7e308]),
     r"The variance of x is about 1e616, beyond the float64 range.*Divide x by a constant c \(e.g. c = 1e158\)"),
    (lambda: fastprob.mvn_fit(np.random.default_rng(0).standard_normal((50, 2)) * 1e300),
     r"The covariance entry \(0, 0\) of X is about 1e599, beyond the float64 range.*c = 1e149"),
    (lambda: fastprob.mvn_fit(np.array([[3e38, 0.0], [-3e38, 1.0]], np.float32)),
     r"The fitted covariance of X reaches 9e\+76, beyond the float32 range: pass X.astype\(np.float64\)"),
])
def test_covariances_beyond_the_range_are_an_error_not_inf(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_float16_fits_in_float32_and_long_double_is_refused():
    m, v = fastprob.normal_fit(np.array([1.0, 2.0, 3.0], np.float16))
    assert m.dtype == v.dtype == np.float32 and (m, v) == (2.0, np.float32(2 / 3))
    assert fastprob.mvn_fit(np.ones((3, 2), bool))[1].dtype == np.float64
    if np.finfo(np.longdouble).eps == np.finfo(np.float64).eps:
        pytest.skip("long double is float64 on this platform")
    with pytest.raises(TypeError, match=r"X has dtype float(96|128) \(long double\).*X.astype\(np.float64\)"):
        fastprob.mvn_fit(np.ones((3, 2), np.longdouble))
    with pytest.raises(TypeError, match=r"sample_weight has dtype float(96|128) \(long double\)"):
        fastprob.normal_fit([1.0, 2.0], np.ones(2, np.longdouble))
