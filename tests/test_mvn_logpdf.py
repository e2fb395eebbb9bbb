"""fastprob.mvn_logpdf against scipy.stats.multivariate_normal and slow references."""
import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hs

import fastprob
from fastprob.kernels import gaussian as gk
from fastprob.kernels import mixture as mk
from reference import mvn_logpdf_loop, mvn_logpdf_mp, random_spd


@pytest.mark.parametrize("d", [1, 2, 5, 16, 64])
@pytest.mark.parametrize("N", [1, 7, 300])
def test_single_component_matches_scipy(rng, d, N):
    mean = rng.standard_normal(d)
    cov = random_spd(d, rng)
    X = rng.standard_normal((N, d)) * 2 + mean
    got = fastprob.mvn_logpdf(X, mean, cov)
    want = np.atleast_1d(st.multivariate_normal(mean, cov).logpdf(X))
    assert got.shape == (N,) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("K, d", [(1, 3), (3, 1), (4, 6), (8, 64)])
def test_components_batched_match_loop(rng, K, d):
    means = rng.standard_normal((K, d)) * 3
    covs = np.stack([random_spd(d, rng, cond=100) for _ in range(K)])
    X = rng.standard_normal((513, d)) * 3
    got = fastprob.mvn_logpdf(X, means, covs)
    assert got.shape == (513, K)
    np.testing.assert_allclose(got, mvn_logpdf_loop(X, means, covs), rtol=1e-12)
    for k in range(K):  # each column equals the single-component call exactly
        np.testing.assert_array_equal(got[:, k], fastprob.mvn_logpdf(X, means[k], covs[k]))


def test_shared_mean_or_shared_covariance_broadcast(rng):
    d, K = 3, 4
    means = rng.standard_normal((K, d))
    covs = np.stack([random_spd(d, rng) for _ in range(K)])
    X = rng.standard_normal((50, d))
    tied = fastprob.mvn_logpdf(X, means, covs[0])
    np.testing.assert_allclose(tied, mvn_logpdf_loop(X, means, [covs[0]] * K), rtol=1e-12)
    shared_mean = fastprob.mvn_logpdf(X, means[0], covs)
    np.testing.assert_allclose(shared_mean, mvn_logpdf_loop(X, [means[0]] * K, covs), rtol=1e-12)


def test_large_offset_accuracy_against_mpmath(rng):
    d = 4
    mean = np.full(d, 1e6)
    cov = random_spd(d, rng)
    X = mean + rng.standard_normal((20, d))
    got = fastprob.mvn_logpdf(X, mean, cov)
    want = np.array([mvn_logpdf_mp(x, mean, cov) for x in X])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    # scipy agrees to the same bound (it also centres first).
    np.testing.assert_allclose(st.multivariate_normal(mean, cov).logpdf(X), want, atol=1e-9)


def test_well_conditioned_against_mpmath(rng):
    d = 6
    mean = rng.standard_normal(d)
    cov = random_spd(d, rng, cond=20)
    X = rng.standard_normal((30, d)) * 2
    want = np.array([mvn_logpdf_mp(x, mean, cov) for x in X])
    np.testing.assert_allclose(fastprob.mvn_logpdf(X, mean, cov), want, rtol=1e-13)


def test_float32_stays_float32_and_is_accurate(rng):
    d = 16
    mean = rng.standard_normal(d)
    cov = random_spd(d, rng)
    X = (rng.standard_normal((1000, d)) + mean).astype(np.float32)
    got = fastprob.mvn_logpdf(X, mean, cov)
    assert got.dtype == np.float32
    want = st.multivariate_normal(mean, cov).logpdf(X.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=2 * np.finfo(np.float32).eps)


def test_integer_input_gives_float64():
    got = fastprob.mvn_logpdf(np.array([[0, 1], [2, 3]]), [0, 0], [[2, 0], [0, 2]])
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, st.multivariate_normal([0, 0], 2 * np.eye(2)).logpdf([[0, 1], [2, 3]]))


def test_single_point_and_one_dimensional_semantics(rng):
    mean, cov = np.zeros(3), random_spd(3, rng)
    x = rng.standard_normal(3)
    got = fastprob.mvn_logpdf(x, mean, cov)
    assert np.ndim(got) == 0
    assert got == pytest.approx(st.multivariate_normal(mean, cov).logpdf(x), rel=1e-13)
    assert fastprob.mvn_logpdf(x, np.stack([mean, mean + 1]), cov).shape == (2,)
    # d == 1: a 1-D X is N scalar points, as in scipy.
    pts = np.array([0.5, -1.0, 2.0])
    got1 = fastprob.mvn_logpdf(pts, [0.0], [[2.0]])
    np.testing.assert_allclose(got1, st.norm.logpdf(pts, 0, np.sqrt(2)), rtol=1e-13)


def test_nan_rows_give_nan_and_inf_rows_give_minus_inf(rng):
    d = 3
    X = rng.standard_normal((6, d))
    X[1, 2] = np.nan
    X[3, 0] = np.inf
    X[4, 1] = -np.inf
    X[5, :] = [np.inf, np.nan, 0.0]
    means = np.zeros((2, d))
    got = fastprob.mvn_logpdf(X, means, np.eye(d))
    assert np.isnan(got[1]).all() and np.isnan(got[5]).all()
    assert (got[3] == -np.inf).all() and (got[4] == -np.inf).all()
    clean = [0, 2]
    np.testing.assert_allclose(got[clean], mvn_logpdf_loop(X[clean], means, [np.eye(d)] * 2), rtol=1e-13)


def test_empty_X_gives_empty_result():
    assert fastprob.mvn_logpdf(np.empty((0, 2)), np.zeros(2), np.eye(2)).shape == (0,)
    assert fastprob.mvn_logpdf(np.empty((0, 2)), np.zeros((3, 2)), np.eye(2)).shape == (0, 3)


def test_precomputed_factors_give_identical_results(rng):
    means = rng.standard_normal((3, 4))
    covs = np.stack([random_spd(4, rng) for _ in range(3)])
    X = rng.standard_normal((100, 4))
    factors = fastprob.cholesky(covs)
    np.testing.assert_array_equal(fastprob.mvn_logpdf(X, means, factors),
                                  fastprob.mvn_logpdf(X, means, covs))
    user_built = fastprob.CholeskyFactors(np.linalg.cholesky(covs))
    np.testing.assert_allclose(fastprob.mvn_logpdf(X, means, user_built),
                               fastprob.mvn_logpdf(X, means, covs), rtol=1e-13)


def test_layouts_readonly_and_inputs_unchanged(rng):
    d = 5
    base = rng.standard_normal((40, 2 * d))
    mean, cov = rng.standard_normal(d), random_spd(d, rng)
    want = fastprob.mvn_logpdf(np.ascontiguousarray(base[:, ::2]), mean, cov)
    fortran = np.asfortranarray(base[:, ::2])
    strided = base[:, ::2]
    readonly = np.ascontiguousarray(base[:, ::2])
    readonly.flags.writeable = False
    ro_mean, ro_cov = mean.copy(), cov.copy()
    ro_mean.flags.writeable = ro_cov.flags.writeable = False
    snapshots = [a.copy() for a in (fortran, strided, readonly, base)]
    for X in (fortran, strided, readonly):
        np.testing.assert_array_equal(fastprob.mvn_logpdf(X, ro_mean, ro_cov), want)
    for a, snap in zip((fortran, strided, readonly, base), snapshots):
        np.testing.assert_array_equal(a, snap)


def _scores_kernel(build, X, means, factors, tile, token, out):
    """mvn_logpdf's kernel call: the mixture scores kernel with zero log-weights, writing log-densities."""
    K = means.shape[0]
    build(-(-len(X) // tile), X, np.zeros(K), means, factors._L64, factors._logdet64, np.empty((0, 0)), False,
          token, np.empty(0), tile, out, np.empty(0), np.empty((0, 0)), np.empty(0, np.int64), np.empty((0, 0)),
          np.empty((0, 0)))


def test_serial_and_parallel_runs_agree_bitwise(rng):
    d, K = 7, 3
    X = rng.standard_normal((1000, d))
    means = rng.standard_normal((K, d))
    factors = fastprob.cholesky(np.stack([random_spd(d, rng) for _ in range(K)]))
    outs = []
    for build in (mk.mixture_scores.serial, mk.mixture_scores.parallel):
        for tile in (16, 100, 256):
            out = np.empty((len(X), K))
            _scores_kernel(build, X, means, factors, tile, gk.solver_token(d), out)
            outs.append(out)
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])


@pytest.mark.parametrize("d", range(1, 5))
def test_every_unrolled_width_agrees_with_the_blocked_solver(rng, d):
    # solver_token(d) picks the unrolled solver of width d for d <= 4 (the blocked
    # solver for every other d); it must equal the blocked forward substitution.
    K = 2
    X = rng.standard_normal((300, d)) * 3 + 100.0
    means = rng.standard_normal((K, d)) + 100.0
    factors = fastprob.cholesky(np.stack([random_spd(d, rng, cond=100) for _ in range(K)]))
    outs = []
    for token in (gk.solver_token(d), np.empty(0)):
        out = np.empty((len(X), K))
        _scores_kernel(mk.mixture_scores.serial, X, means, factors, 64, token, out)
        outs.append(out)
    assert gk.solver_token(d).ndim == 2 + gk.UNROLLED_WIDTHS.index(d) and gk.solver_token(d + 4).ndim == 1
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-13)


@settings(max_examples=40, deadline=None)
@given(d=hs.integers(1, 8), K=hs.integers(1, 4), N=hs.integers(0, 40),
       seed=hs.integers(0, 2**32 - 1), scale=hs.floats(1e-3, 1e3))
def test_property_matches_scipy(d, K, N, seed, scale):
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((K, d)) * scale
    covs = np.stack([random_spd(d, rng, cond=50) * scale**2 for _ in range(K)])
    X = means[0] + rng.standard_normal((N, d)) * scale
    got = fastprob.mvn_logpdf(X, means, covs)
    want = np.stack([np.atleast_1d(st.multivariate_normal(m, c).logpdf(X)).reshape(N)
                     for m, c in zip(means, covs)], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)


# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #
def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"X has shape \(4, 3\) but mean has shape \(2,\)"):
        fastprob.mvn_logpdf(np.zeros((4, 3)), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match=r"mean has shape \(3,\) but cov has shape \(2, 2\)"):
        fastprob.mvn_logpdf(np.zeros((4, 3)), np.zeros(3), np.eye(2))
    with pytest.raises(ValueError, match=r"different numbers of components \(2 vs 3\)"):
        fastprob.mvn_logpdf(np.zeros((4, 2)), np.zeros((2, 2)), np.stack([np.eye(2)] * 3))
    with pytest.raises(ValueError, match=r"X must have shape \(N, d\) or \(d,\), got shape \(1, 2, 2\)"):
        fastprob.mvn_logpdf(np.zeros((1, 2, 2)), np.zeros(2), np.eye(2))


@pytest.mark.parametrize("bad, match", [
    (np.array([[1.0, 0.0], [0.0, np.nan]]), r"cov contains 1 non-finite value"),
    (np.array([[1.0, 0.5], [0.0, 1.0]]), r"cov is not symmetric"),
    (np.array([[1.0, 2.0], [2.0, 1.0]]), r"cov is not positive definite .*pivot 1.*1e-6"),
    (np.zeros((2, 3)), r"cov must be square"),
])
def test_bad_covariance(bad, match):
    with pytest.raises(ValueError, match=match):
        fastprob.mvn_logpdf(np.zeros((3, 2)), np.zeros(2), bad)


def test_non_pd_component_is_named():
    covs = np.stack([np.eye(2), np.eye(2), [[1.0, 0.0], [0.0, -1.0]]])
    with pytest.raises(ValueError, match=r"component 2 of cov is not positive definite"):
        fastprob.mvn_logpdf(np.zeros((3, 2)), np.zeros((3, 2)), covs)


def test_nonfinite_mean_and_bad_dtypes():
    with pytest.raises(ValueError, match=r"mean contains 1 non-finite value.*index 1"):
        fastprob.mvn_logpdf(np.zeros((3, 2)), [0.0, np.inf], np.eye(2))
    with pytest.raises(TypeError, match=r"X is complex"):
        fastprob.mvn_logpdf(np.zeros((3, 2), complex), np.zeros(2), np.eye(2))
    with pytest.raises(TypeError, match=r"X must be a real numeric array, got dtype object"):
        fastprob.mvn_logpdf(np.array([[None, 1]]), np.zeros(2), np.eye(2))


# --------------------------------------------------------------------------- #
# allow_singular (scipy's degenerate normal), scalar points, pandas, dtypes
# --------------------------------------------------------------------------- #
def _degenerate_logpdf_mp(x, mean, B, dps=50):
    """log-density of mean + B z, z ~ N(0, I_r), on its support (B of full column rank), in mpmath.

    cov = B Bᵀ has pseudo-determinant det(BᵀB) and pseudo-inverse B (BᵀB)⁻² Bᵀ, so
    the Mahalanobis term is ‖(BᵀB)⁻¹ Bᵀ (x - mean)‖².
    """
    import mpmath

    with mpmath.workdps(dps):
        Bm = mpmath.matrix(B.tolist())
        G = Bm.T * Bm
        dev = mpmath.matrix([mpmath.mpf(float(a)) - mpmath.mpf(float(b)) for a, b in zip(x, mean)])
        z = mpmath.lu_solve(G, Bm.T * dev)
        maha = sum(v**2 for v in z)
        r = B.shape[1]
        return float(-(r * mpmath.log(2 * mpmath.pi) + mpmath.log(mpmath.det(G)) + maha) / 2)


@pytest.mark.parametrize("d, r", [(2, 1), (3, 1), (3, 2), (5, 3), (6, 5)])
def test_allow_singular_matches_scipy_and_mpmath(rng, d, r):
    B = rng.standard_normal((d, r))
    cov = B @ B.T
    mean = rng.standard_normal(d)
    on = mean + rng.standard_normal((20, r)) @ B.T
    normal = np.linalg.svd(B)[0][:, -1]  # orthogonal to the range of cov
    off = on[:5] + 1e-3 * normal
    X = np.vstack([on, off])
    got = fastprob.mvn_logpdf(X, mean, cov, allow_singular=True)
    want = st.multivariate_normal(mean, cov, allow_singular=True).logpdf(X)
    np.testing.assert_allclose(got, want, rtol=1e-11)
    np.testing.assert_array_equal(got[20:], -np.inf)
    exact = [_degenerate_logpdf_mp(x, mean, B) for x in on[:6]]
    np.testing.assert_allclose(got[:6], exact, rtol=1e-11)


def test_allow_singular_keeps_positive_definite_results_and_mixes_components(rng):
    d = 3
    covs = np.stack([random_spd(d, rng), np.diag([2.0, 1.0, 0.0]), random_spd(d, rng)])
    means = rng.standard_normal((3, d))
    X = rng.standard_normal((40, d))
    X[:5, 2] = means[1, 2]  # on the second component's support
    got = fastprob.mvn_logpdf(X, means, covs, allow_singular=True)
    for k in (0, 2):  # positive definite: the very same values as without allow_singular
        np.testing.assert_array_equal(got[:, k], fastprob.mvn_logpdf(X, means[k], covs[k]))
    np.testing.assert_allclose(got[:, 1], st.multivariate_normal(means[1], covs[1], allow_singular=True).logpdf(X),
                               rtol=1e-12)
    assert np.isfinite(got[:5, 1]).all() and (got[5:, 1] == -np.inf).all()
    # float32 points stay float32; NaN rows NaN and infinite rows -inf, as in the definite case.
    X32 = X[:6].astype(np.float32)
    X32[1, 0], X32[2, 1] = np.nan, np.inf
    got32 = fastprob.mvn_logpdf(X32, means[1], covs[1], allow_singular=True)
    assert got32.dtype == np.float32 and np.isnan(got32[1]) and got32[2] == -np.inf
    # One shared singular covariance, a scalar point for d = 1, CholeskyFactors.
    shared = fastprob.mvn_logpdf(X, means, covs[1], allow_singular=True)
    np.testing.assert_array_equal(shared[:, 1], got[:, 1])
    assert fastprob.mvn_logpdf(0.0, [0.0], [[0.0]], allow_singular=True) == 0.0  # a point mass, at its point
    assert fastprob.mvn_logpdf(0.5, [0.0], [[0.0]], allow_singular=True) == -np.inf
    np.testing.assert_array_equal(fastprob.mvn_logpdf(X, means[0], fastprob.cholesky(covs[0]), allow_singular=True),
                                  got[:, 0])


def test_allow_singular_errors():
    with pytest.raises(ValueError, match=r"cov is not positive definite .*1e-6 \* np.eye\(d\)\. For a degenerate "
                                         r"\(singular\) normal pass allow_singular=True\."):
        fastprob.mvn_logpdf(np.zeros(2), np.zeros(2), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"component 1 of cov is not positive semidefinite \(smallest eigenvalue -1,"):
        fastprob.mvn_logpdf(np.zeros(2), np.zeros(2), np.stack([np.eye(2), np.diag([1.0, -1.0])]),
                            allow_singular=True)
    with pytest.raises(ValueError, match=r"cov is not symmetric"):
        fastprob.mvn_logpdf(np.zeros(2), np.zeros(2), [[1.0, 1.0], [0.0, 1.0]], allow_singular=True)
    with pytest.raises(TypeError, match=r"allow_singular must be True or False, got 'yes'"):
        fastprob.mvn_logpdf(np.zeros(2), np.zeros(2), np.eye(2), allow_singular="yes")


def test_scalar_point_with_one_feature():
    # scipy's multivariate_normal.logpdf(1.0, [0.0], [[1.0]]) is a scalar: so is fastprob's.
    got = fastprob.mvn_logpdf(1.0, [0.0], [[1.0]])
    assert np.ndim(got) == 0 and got == st.multivariate_normal.logpdf(1.0, [0.0], [[1.0]])
    np.testing.assert_allclose(fastprob.mvn_logpdf(np.float32(1.0), [[0.0], [1.0]], [[2.0]]),
                               st.norm.logpdf(1.0, [0.0, 1.0], np.sqrt(2.0)), rtol=1e-6)
    assert fastprob.gmm_logpdf(1.0, [1.0], [[0.0]], [[[1.0]]]) == pytest.approx(st.norm.logpdf(1.0))
    with pytest.raises(ValueError, match=r"X is a scalar \(one point with one feature\) but mean has shape \(2,\): "
                                         r"X needs d = 2 features"):
        fastprob.mvn_logpdf(1.0, np.zeros(2), np.eye(2))


def test_pandas_nullable_frames_are_accepted_like_the_estimator():
    pd = pytest.importorskip("pandas")
    X = np.array([[0.5, 1.0], [np.nan, 2.0], [1.5, -1.0]])
    frame = pd.DataFrame(X, columns=["a", "b"]).astype("Float64")  # NaN becomes pd.NA
    assert frame.isna().to_numpy()[1, 0] and np.asarray(frame).dtype == object
    mean, cov = np.zeros(2), np.array([[2.0, 0.5], [0.5, 1.0]])
    np.testing.assert_array_equal(fastprob.mvn_logpdf(frame, mean, cov), fastprob.mvn_logpdf(X, mean, cov))
    weights, means, covs = [0.3, 0.7], np.array([[0.0, 0.0], [1.0, 1.0]]), np.stack([cov, np.eye(2)])
    np.testing.assert_array_equal(fastprob.gmm_logpdf(frame, weights, means, covs),
                                  fastprob.gmm_logpdf(X, weights, means, covs))
    np.testing.assert_array_equal(fastprob.gmm_responsibilities(frame.iloc[[0, 2]], weights, means, covs),
                                  fastprob.gmm_responsibilities(X[[0, 2]], weights, means, covs))
    with pytest.raises(TypeError, match=r"X must be a real numeric array, got dtype object holding str values; "
                                        r"pass a float64 or float32 array"):
        fastprob.mvn_logpdf(pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}), mean, cov)


_I2 = np.eye(2)
_WEIGHTS, _MEANS, _COVS = [0.5, 0.5], np.zeros((2, 2)), np.stack([_I2, _I2])
#: (call taking the bad array, the argument's name) for every function of gaussian.py and mixture.py.
_GAUSSIAN_CALLS = [
    (lambda a: fastprob.mvn_logpdf(a, np.zeros(2), _I2), "X"),
    (lambda a: fastprob.mvn_logpdf(np.zeros(2), a, _I2), "mean"),
    (lambda a: fastprob.mvn_logpdf(np.zeros(2), np.zeros(2), a), "cov"),
    (lambda a: fastprob.mvn_logpdf(np.zeros(2), np.zeros(2), a, allow_singular=True), "cov"),
    (lambda a: fastprob.cholesky(a), "cov"),
    (lambda a: fastprob.CholeskyFactors(a), "L"),
    (lambda a: fastprob.cov_from_factor(a), "B"),
    (lambda a: fastprob.mvn_sample(a, _I2, 3), "mean"),
    (lambda a: fastprob.mvn_fit(a), "X"),
    (lambda a: fastprob.mvn_fit(np.ones((2, 2)), a[0]), "sample_weight"),
    (lambda a: fastprob.normal_fit(a[0]), "x"),
    (lambda a: fastprob.normal_logpdf(a), "x"),
    (lambda a: fastprob.gaussian_nll(a, 0.0, 1.0), "y"),
    (lambda a: fastprob.gmm_logpdf(a, _WEIGHTS, _MEANS, _COVS), "X"),
    (lambda a: fastprob.gmm_logpdf(np.zeros(2), a[0], _MEANS, _COVS), "weights"),
    (lambda a: fastprob.gmm_responsibilities(np.zeros(2), _WEIGHTS, a, _COVS), "means"),
    (lambda a: fastprob.gmm_sample(_WEIGHTS, _MEANS, np.stack([a, a]), 2), "covs"),
]


@pytest.mark.skipif(np.finfo(np.longdouble).eps == np.finfo(np.float64).eps, reason="long double is float64 here")
@pytest.mark.parametrize("call, name", _GAUSSIAN_CALLS)
def test_long_double_is_refused_not_rounded(call, name):
    # Rounding float128 to float64 silently loses its range (logit(1e-4000) was -inf): a TypeError instead.
    bad = np.eye(2, dtype=np.longdouble) + 1
    with pytest.raises(TypeError, match=rf"^{name} has dtype float(96|128) \(long double\), which fastprob cannot "
                                        rf"compute in.*Pass {name}\.astype\(np\.float64\) \(or np\.float32\)"):
        call(bad)


@pytest.mark.parametrize("call, name", _GAUSSIAN_CALLS)
@pytest.mark.parametrize("bad, what", [
    (np.eye(2) + 1j, r"is complex \(complex128\); fastprob works with real numbers \(float64 or float32\)"),
    (np.array([["a", "b"], ["c", "d"]]), r"must be a real numeric array, got dtype <U1; pass a float64 or float32"),
    (np.array([[None, 1.0], [1.0, 1.0]], dtype=object), r"must be a real numeric array, got dtype object holding "
                                                        r"NoneType values; pass a float64 or float32"),
])
def test_complex_and_non_numeric_are_refused(call, name, bad, what):
    with pytest.raises(TypeError, match=rf"^{name} {what}"):
        call(bad)
