"""fastprob.gmm_logpdf / gmm_responsibilities / gmm_sample against scipy and scikit-learn."""
import numpy as np
import pytest
import scipy.stats as st
from sklearn.mixture import GaussianMixture as SkGM

import fastprob
from fastprob.mixture import score_one, validate_mixture
from reference import gmm_logpdf_loop, random_mixture

TYPES = ["full", "tied", "diag", "spherical"]


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("K, d", [(1, 1), (3, 2), (4, 7)])
def test_logpdf_and_responsibilities_match_reference(rng, covariance_type, K, d):
    weights, means, covs = random_mixture(rng, K, d, covariance_type)
    X = rng.standard_normal((300, d)) * 5
    lse_ref, lp_ref = gmm_logpdf_loop(X, weights, means, covs, covariance_type)
    got = fastprob.gmm_logpdf(X, weights, means, covs, covariance_type=covariance_type)
    np.testing.assert_allclose(got, lse_ref, rtol=1e-12)
    resp = fastprob.gmm_responsibilities(X, weights, means, covs, covariance_type=covariance_type)
    assert resp.shape == (300, K)
    np.testing.assert_allclose(resp, np.exp(lp_ref - lse_ref[:, None]), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-14)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_matches_sklearn_fitted_model(covariance_type):
    X = fastprob.load_faithful()
    sk = SkGM(2, covariance_type=covariance_type, random_state=0).fit(X)
    args = (sk.weights_, sk.means_, sk.covariances_)
    ct = {"covariance_type": covariance_type}
    np.testing.assert_allclose(fastprob.gmm_logpdf(X, *args, **ct), sk.score_samples(X), rtol=1e-12)
    np.testing.assert_allclose(fastprob.gmm_responsibilities(X, *args, **ct), sk.predict_proba(X), rtol=1e-9,
                               atol=1e-15)


def test_far_points_are_stable(rng):
    # A point 1e3 standard deviations away: every component's density underflows,
    # but the log-sum-exp must stay finite and exact.
    weights, means, covs = np.array([0.5, 0.5]), np.array([[0.0], [1.0]]), np.array([[[1.0]], [[1.0]]])
    X = np.array([[1e3], [-1e3], [0.5]])
    got = fastprob.gmm_logpdf(X, weights, means, covs)
    np.testing.assert_allclose(got, gmm_logpdf_loop(X, weights, means, covs, "full")[0], rtol=1e-14)
    resp = fastprob.gmm_responsibilities(X, weights, means, covs)
    np.testing.assert_allclose(resp[0], [0.0, 1.0], atol=1e-300)
    np.testing.assert_allclose(resp[2], [0.5, 0.5], rtol=1e-14)


def test_float32_nan_inf_single_point_and_empty(rng):
    weights, means, covs = random_mixture(rng, 3, 2, "full")
    X = rng.standard_normal((10, 2)).astype(np.float32)
    X[3, 1] = np.nan
    X[5, 0] = np.inf
    got = fastprob.gmm_logpdf(X, weights, means, covs)
    assert got.dtype == np.float32
    assert np.isnan(got[3]) and got[5] == -np.inf
    ok = [0, 1, 2, 4, 6, 7, 8, 9]
    np.testing.assert_allclose(got[ok], gmm_logpdf_loop(X[ok].astype(float), weights, means, covs, "full")[0], rtol=1e-6)
    assert np.ndim(fastprob.gmm_logpdf(X[0], weights, means, covs)) == 0
    assert fastprob.gmm_responsibilities(X[0], weights, means, covs).shape == (3,)
    assert fastprob.gmm_logpdf(np.empty((0, 2)), weights, means, covs).shape == (0,)


def test_zero_weight_component(rng):
    weights, means, covs = np.array([0.0, 1.0]), np.array([[0.0], [3.0]]), np.array([1.0, 2.0])
    X = rng.standard_normal((20, 1))
    np.testing.assert_allclose(fastprob.gmm_logpdf(X, weights, means, covs, covariance_type="spherical"),
                               st.norm.logpdf(X[:, 0], 3.0, np.sqrt(2.0)), rtol=1e-13)
    assert (fastprob.gmm_responsibilities(X, weights, means, covs, covariance_type="spherical")[:, 0] == 0).all()


@pytest.mark.parametrize("covariance_type", TYPES)
def test_sampling_is_ancestral_and_matches_parameters(covariance_type):
    rng = np.random.default_rng(7)
    weights, means, covs = random_mixture(rng, 3, 2, covariance_type, spread=10)
    X, labels = fastprob.gmm_sample(weights, means, covs, 60_000, random_state=1, covariance_type=covariance_type)
    assert X.shape == (60_000, 2) and labels.dtype == np.int64
    assert not np.all(np.diff(labels) >= 0)  # drawn one by one, not grouped by component
    counts = np.bincount(labels, minlength=3)
    assert st.chisquare(counts, weights * len(labels)).pvalue > 1e-4
    full = {"full": lambda k: covs[k], "tied": lambda k: covs, "diag": lambda k: np.diag(covs[k]),
            "spherical": lambda k: covs[k] * np.eye(2)}[covariance_type]
    for k in range(3):
        m, c = fastprob.mvn_fit(X[labels == k])
        np.testing.assert_allclose(m, means[k], atol=0.06)
        np.testing.assert_allclose(c, full(k), atol=0.12)
    X2, l2 = fastprob.gmm_sample(weights, means, covs, 5, random_state=1, covariance_type=covariance_type)
    np.testing.assert_array_equal(X2, fastprob.gmm_sample(weights, means, covs, 5, 1, covariance_type=covariance_type)[0])
    X32, _ = fastprob.gmm_sample(weights.astype(np.float32), means.astype(np.float32),
                                 np.asarray(covs, np.float32), 4, covariance_type=covariance_type)
    assert X32.dtype == np.float32


@pytest.mark.parametrize("kwargs, match", [
    (dict(weights=[0.5, 0.6]), r"weights must sum to 1, got sum\(weights\) = 1.1.*weights / weights.sum"),
    (dict(weights=[1.5, -0.5]), r"weights must be non-negative"),
    (dict(weights=[1.0]), r"weights has shape \(1,\) but means has shape \(2, 2\)"),
    (dict(covs=np.ones((2, 2))), r"covs has shape \(2, 2\), but covariance_type='full' .* needs shape \(2, 2, 2\)"),
    (dict(covs=np.stack([np.eye(2), -np.eye(2)])), r"component\(s\) \[1\] must be positive definite"),
    (dict(covs=np.stack([np.eye(2), [[1.0, 0.5], [0.0, 1.0]]])), r"component 1 of covs is not symmetric"),
    (dict(covariance_type="ful"), r"covariance_type must be one of 'full', 'tied', 'diag', 'spherical'; got 'ful'"),
    (dict(means=[[0.0, np.nan], [1.0, 1.0]]), r"means contains 1 non-finite"),
    (dict(X=np.zeros((3, 3))), r"X has shape \(3, 3\) but means has shape \(2, 2\)"),
])
def test_errors(kwargs, match):
    args = dict(X=np.zeros((3, 2)), weights=[0.5, 0.5], means=[[0.0, 0.0], [1.0, 1.0]],
                covs=np.stack([np.eye(2)] * 2), covariance_type="full")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        fastprob.gmm_logpdf(**{k: args[k] for k in ("X", "weights", "means")}, covs=args["covs"],
                            covariance_type=args["covariance_type"])


def test_diag_and_spherical_positivity_errors():
    with pytest.raises(ValueError, match=r"diagonal variances of component\(s\) \[0\] must be positive"):
        fastprob.gmm_logpdf(np.zeros((1, 2)), [1.0], [[0.0, 0.0]], [[1.0, 0.0]], covariance_type="diag")
    with pytest.raises(ValueError, match=r"variances of component\(s\) \[1\] must be positive"):
        fastprob.gmm_sample([0.5, 0.5], [[0.0], [1.0]], [1.0, -1.0], 3, covariance_type="spherical")


def test_inf_row_is_minus_inf_whatever_the_component_order():
    X = np.array([[np.inf, 0.0], [0.0, -np.inf]])
    covs = np.stack([[[1.0, 0.5], [0.5, 1.0]], np.eye(2)])
    for c in (covs, covs[::-1]):
        assert (fastprob.mvn_logpdf(X, np.zeros((2, 2)), c) == -np.inf).all()
        assert (fastprob.gmm_logpdf(X, [0.5, 0.5], np.zeros((2, 2)), c) == -np.inf).all()
        # Responsibilities of such a row are undefined (NaN); its label is the first component.
        assert np.isnan(fastprob.gmm_responsibilities(X, [0.5, 0.5], np.zeros((2, 2)), c)).all()
        comps = validate_mixture([0.5, 0.5], np.zeros((2, 2)), c, "full")
        np.testing.assert_array_equal(score_one(X, comps, "labels"), [0, 0])


@pytest.mark.parametrize("d", [2, 5, 8, 16, 20])  # unrolled widths 2, 8, 16; blocked solver at 5 and 20
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_float32_data_far_from_zero_is_centred_as_in_float64(rng, d, covariance_type):
    # float32 tiles are centred with the mean split into two float32 parts: as
    # accurate as centring in float64 (rounding the mean to float32 alone would
    # shift every point by up to 1e4 / 2**24 = 6e-4 standard deviations here).
    m = rng.uniform(0.01, 0.03, d) + 1e4
    C = np.eye(d) + 0.3 * (np.ones((d, d)) - np.eye(d)) / d
    X = (rng.standard_normal((50, d)) + 1e4).astype(np.float32)
    covs = C[None] if covariance_type == "full" else np.diag(C)[None]
    got = fastprob.gmm_logpdf(X, [1.0], m[None], covs, covariance_type=covariance_type)
    want = fastprob.gmm_logpdf(X.astype(np.float64), [1.0], m[None], covs, covariance_type=covariance_type)
    np.testing.assert_allclose(got, want, rtol=8 * d * np.finfo(np.float32).eps)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_float32_em_far_from_zero_matches_float64(rng):
    # The EM statistics of float32 data centre tiles with the split mean too.
    X = np.concatenate([rng.standard_normal((3000, 3)) * [1.0, 2.0, 0.5],
                        rng.standard_normal((2000, 3)) + 4.0]) + 1e4
    kw = dict(n_components=2, means_init=[[1e4] * 3, [1e4 + 4] * 3], max_iter=3, tol=0.0)
    g64 = fastprob.GaussianMixture(**kw).fit(X)
    g32 = fastprob.GaussianMixture(**kw).fit(X.astype(np.float32))
    # float32 input itself is X rounded to 2**-10 near 1e4: compare with the
    # float64 fit of that same rounded data.
    g64r = fastprob.GaussianMixture(**kw).fit(X.astype(np.float32).astype(np.float64))
    # Tolerance: float32 partial Gram sums over a tile (~1e-5 of the variances).
    scale = np.abs(g64r.covariances_).max()
    np.testing.assert_allclose(g32.covariances_, g64r.covariances_, rtol=1e-4, atol=2e-5 * scale)
    np.testing.assert_allclose(g32.means_, g64r.means_, rtol=1e-7)  # stored as float32
    np.testing.assert_allclose(g32.weights_, g64r.weights_, rtol=1e-5)
    np.testing.assert_allclose(g64r.covariances_, g64.covariances_, rtol=1e-3, atol=1e-3 * scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_responsibilities_below_smallest_normal_are_zero(dtype):
    # Weighted log-probabilities that differ from the row's largest by more than
    # log(tiny) give responsibility 0, never a subnormal (arithmetic on those
    # costs ~100 cycles on many Intel CPUs); NaN rows stay NaN.
    tiny = np.finfo(dtype).tiny
    gap = -np.log(tiny)  # 87.3 (float32), 708.4 (float64)
    covs = np.array([1.0, 1.0])
    for delta, expect_zero in ((-0.5, False), (0.5, True)):
        # At x = 0, log-probability of component 1 minus component 0 = -(gap + delta):
        if dtype == np.float32:  # from the weights
            w, means_ = np.array([1.0, np.exp(-(gap + delta))]), np.zeros((2, 1))
        else:  # exp(-709) underflows a float64 weight: from separated means instead
            w, means_ = np.array([1.0, 1.0]), np.array([[0.0], [np.sqrt(2 * (gap + delta))]])
        w = w / w.sum()
        X = np.array([[0.0], [np.nan]], dtype=dtype)
        resp = fastprob.gmm_responsibilities(X, w, means_, covs, covariance_type="spherical")
        assert resp.dtype == dtype
        assert (resp[0, 1] == 0.0) == expect_zero
        assert resp[0, 1] == 0.0 or resp[0, 1] >= tiny
        assert resp[0, 0] == 1.0
        assert np.isnan(resp[1]).all()
        assert np.isnan(fastprob.gmm_logpdf(X, w, means_, covs, covariance_type="spherical")[1])


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("X, covs, covariance_type", [
    ([[1e19, 1e19]], [[1e39, 1e39], [1.0, 1.0]], "diag"),       # variance above float32's max
    ([[0.0, 0.0]], [[1e-46, 1e-46], [1.0, 1.0]], "diag"),       # variance below its smallest normal
    ([[1e5, 2e5]], [[[1e80, 5e79], [5e79, 1e80]], np.eye(2)], "full"),  # Cholesky entries of 1e40
    ([[1e5, 2e5]], [1e-50, 1.0], "spherical"),
])
def test_float32_data_with_covariances_beyond_float32_range(X, covs, covariance_type):
    # The float32 kernels would see inf or 0 factors (-inf, NaN responsibilities, or a
    # quietly wrong density): such mixtures are computed in float64 and rounded once.
    weights, means = [0.3, 0.7], [[0.0, 0.0], [3.0, 3.0]]
    X32 = np.array(X, dtype=np.float32)
    X64 = X32.astype(np.float64)  # the same data
    ct = {"covariance_type": covariance_type}
    want = fastprob.gmm_logpdf(X64, weights, means, np.array(covs), **ct)
    got = fastprob.gmm_logpdf(X32, weights, means, np.array(covs), **ct)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-7)
    resp = fastprob.gmm_responsibilities(X32, weights, means, np.array(covs), **ct)
    np.testing.assert_array_equal(
        resp, fastprob.gmm_responsibilities(X64, weights, means, np.array(covs), **ct).astype(np.float32))


def test_positional_covariance_type_still_works_with_a_deprecation_warning():
    X = np.array([[0.0, 1.0], [2.0, -1.0]])
    args = ([0.5, 0.5], [[0.0, 0.0], [1.0, 1.0]], [1.0, 2.0])
    expected = fastprob.gmm_logpdf(X, *args, covariance_type="spherical")
    with pytest.warns(DeprecationWarning, match=r"covariance_type to gmm_logpdf\(\) by position.*"
                                                r"covariance_type='spherical'"):
        np.testing.assert_array_equal(fastprob.gmm_logpdf(X, *args, "spherical"), expected)
    with pytest.warns(DeprecationWarning, match="gmm_sample"):
        old = fastprob.gmm_sample(*args, 5, 0, "spherical")
    np.testing.assert_array_equal(old[0], fastprob.gmm_sample(*args, 5, 0, covariance_type="spherical")[0])
    with pytest.raises(TypeError, match="multiple values for argument 'covariance_type'"):
        fastprob.gmm_responsibilities(X, *args, "diag", covariance_type="spherical")
    with pytest.raises(TypeError, match="by position"):
        fastprob.gmm_logpdf(X, *args, "spherical", "extra")
