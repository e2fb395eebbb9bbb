"""Overflow is never silent: rows beyond float64's range of squared distances, float32 beyond float32's."""
import warnings

import mpmath
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastprob
from reference import random_mixture

TYPES = ["full", "tied", "diag", "spherical"]


def _dense_covs(covs, covariance_type, K, d):
    if covariance_type == "full":
        return covs
    if covariance_type == "tied":
        return np.broadcast_to(covs, (K, d, d))
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in covs])
    return np.stack([c * np.eye(d) for c in covs])


def mp_responsibilities(x, weights, means, covs):
    """Responsibilities with mpmath's unbounded exponent range, at 800 digits: the squared
    distances (~1e600) must keep their differences (~1e300) and a few digits more."""
    mpmath.mp.dps = 800
    lp = []
    for w, m, c in zip(weights, means, covs):
        C = mpmath.matrix(c.tolist())
        diff = mpmath.matrix([mpmath.mpf(float(a)) - mpmath.mpf(float(b)) for a, b in zip(x, m)])
        q = (diff.T * mpmath.inverse(C) * diff)[0]
        lp.append(mpmath.log(w) - mpmath.log(mpmath.det(C)) / 2 - q / 2)
    top = max(lp)
    e = [mpmath.exp(v - top) for v in lp]
    return np.array([float(v / sum(e)) for v in e])


@pytest.mark.parametrize("covariance_type", TYPES)
def test_distant_finite_rows_get_the_limit_responsibilities(covariance_type):
    rng = np.random.default_rng(11)
    K, d = 3, 2
    weights, means, covs = random_mixture(rng, K, d, covariance_type)
    dense = _dense_covs(covs, covariance_type, K, d)
    directions = rng.standard_normal((12, d))
    X = np.concatenate([directions * 10.0 ** rng.uniform(160, 300, (12, 1)),
                        [[1e200, -1e200], [1e155, 1e155], [-1e155, -1e155]]])
    ct = {"covariance_type": covariance_type}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no RuntimeWarning from the fallback
        resp = fastprob.gmm_responsibilities(X, weights, means, covs, **ct)
        lse = fastprob.gmm_logpdf(X, weights, means, covs, **ct)
    assert np.isneginf(lse).all()  # the densities truly are below float64's smallest number
    want = np.array([mp_responsibilities(x, weights, means, dense) for x in X])
    np.testing.assert_allclose(resp, want, atol=1e-12)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0)
    gm = fastprob.GaussianMixture(K, covariance_type=covariance_type)
    gm.weights_, gm.means_, gm.covariances_ = weights, means, covs
    gm.precisions_cholesky_ = gm.precisions_ = np.zeros_like(covs)  # not read by scoring
    gm.n_features_in_ = d
    np.testing.assert_array_equal(gm.predict(X), want.argmax(axis=1))


def test_float32_distant_rows():
    weights, means = [0.5, 0.5], np.array([[0.0, 0.0], [3.0, 3.0]])
    covs = np.stack([np.eye(2), 4 * np.eye(2)]) * 1e-6
    X = np.array([[1e30, -1e30], [1e25, 2e25]], dtype=np.float32)
    resp = fastprob.gmm_responsibilities(X, weights, means, covs)
    assert resp.dtype == np.float32
    want = np.array([mp_responsibilities(x, weights, means, covs) for x in X.astype(np.float64)])
    np.testing.assert_allclose(resp, want, atol=1e-6)


def test_nan_and_infinite_rows_keep_their_documented_results():
    weights, means, covs = [0.5, 0.5], [[0.0], [1.0]], [[[1.0]], [[2.0]]]
    X = np.array([[np.nan], [np.inf], [-np.inf]])
    assert np.isnan(fastprob.gmm_responsibilities(X, weights, means, covs)).all()
    lse = fastprob.gmm_logpdf(X, weights, means, covs)
    assert np.isnan(lse[0]) and np.isneginf(lse[1:]).all()


def test_fit_with_a_row_beyond_float64s_range_says_so():
    rng = np.random.default_rng(0)
    X = np.r_[rng.standard_normal((200, 2)), rng.standard_normal((200, 2)) + 6, [[1e200, 1e200]]]
    means = np.array([[0.0, 0.0], [6.0, 6.0]])
    gm = fastprob.GaussianMixture(2, means_init=means, weights_init=[0.5, 0.5], precisions_init=[np.eye(2)] * 2)
    with pytest.raises(ValueError, match=r"X holds values up to 1e\+200, so EM works on X scaled by .* the data "
                                         r"span a wider range than float64 can square"):
        gm.fit(X)
    # Below the scaling threshold, but with precisions of 1e120 the squared distance overflows:
    # the E-step names the row.
    X[-1] = 1e100
    gm.set_params(precisions_init=[np.eye(2) * 1e120] * 2)
    with pytest.raises(ValueError, match=r"Row 400 of X is so far from every component that its density "
                                         r"underflows.*Scale the data"):
        gm.fit(X)


@pytest.mark.parametrize("scale, start_precision", [(1e20, 1e-40), (1e-21, 1e42)])
def test_float32_fit_whose_covariances_leave_float32_is_refused(scale, start_precision):
    # Covariances of 1e40, or of 1e-42 (precisions of 1e42): float32 attributes would be inf.
    X = (np.random.default_rng(2).standard_normal((300, 2)) * scale).astype(np.float32)
    start = dict(means_init=np.zeros((1, 2)), weights_init=[1.0], precisions_init=[np.eye(2) * start_precision],
                 reg_covar=0.0)
    with pytest.raises(ValueError, match=r"covariances or precisions reached .* beyond float32's range.*"
                                         r"pass the data as float64"):
        fastprob.GaussianMixture(1, **start).fit(X)
    fastprob.GaussianMixture(1, **start).fit(X.astype(np.float64))  # fine in float64


@pytest.mark.parametrize("scale", [2.0 ** 500, 2.0 ** -500, 1e150, 1e-150])
@pytest.mark.parametrize("kind", ["array", "chunks"])
def test_fits_of_data_near_float64s_limits_scale_internally(scale, kind):
    # Squared distances of such data leave float64; EM works on X times a power of two and
    # reports the model in X's units: the same model as the fit of X / scale, rescaled.
    rng = np.random.default_rng(3)
    X = np.r_[rng.standard_normal((300, 2)), rng.standard_normal((300, 2)) + 6]
    params = dict(random_state=0, reg_covar=0.0)
    ref = fastprob.GaussianMixture(2, **params).fit(X)
    data = X * scale if kind == "array" else [X[:250] * scale, X[250:] * scale]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm = fastprob.GaussianMixture(2, **params)
        labels = gm.fit_predict(data)
    np.testing.assert_allclose(gm.means_ / scale, ref.means_, rtol=1e-10)
    np.testing.assert_allclose(gm.covariances_ / scale**2, ref.covariances_, rtol=1e-9)
    np.testing.assert_allclose(gm.precisions_ * scale**2, ref.precisions_, rtol=1e-9)
    assert gm.lower_bound_ == pytest.approx(ref.lower_bound_ - 2 * np.log(scale), rel=1e-12)
    np.testing.assert_array_equal(labels, ref.predict(X))
    np.testing.assert_array_equal(gm.predict(X * scale), labels)
    assert gm.score(X * scale) == pytest.approx(ref.score(X) - 2 * np.log(scale), rel=1e-12)


def test_fits_whose_covariances_leave_float64_say_so():
    X = np.random.default_rng(4).standard_normal((200, 2)) * 1e300
    with pytest.raises(ValueError, match=r"covariances fitted to X are of the order of 1e(59\d|60\d), "
                                         r"beyond the range of float64"):
        fastprob.GaussianMixture(1, reg_covar=0.0).fit(X)


def test_rows_at_float64s_largest_numbers_get_limit_responsibilities():
    X = np.random.default_rng(5).standard_normal((500, 2)) * 2
    gm = fastprob.GaussianMixture(2, random_state=0).fit(X)
    far = np.array([[1e308, 0.0], [1.7e308, 1.7e308], [-1.7e308, 1e308]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resp = gm.predict_proba(far)
        labels = gm.predict(far)
    want = np.array([mp_responsibilities(x, gm.weights_, gm.means_, gm.covariances_) for x in far])
    np.testing.assert_allclose(resp, want, atol=1e-12)
    np.testing.assert_array_equal(labels, want.argmax(axis=1))


def test_covariances_just_inside_float64_are_fitted():
    X = np.random.default_rng(0).standard_normal((500, 2)) * 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm = fastprob.GaussianMixture(1, reg_covar=0.0).fit(X * 1e153)  # covariances ~4e306
    ref = fastprob.GaussianMixture(1, reg_covar=0.0).fit(X)
    np.testing.assert_allclose(gm.covariances_ / 1e153 / 1e153, ref.covariances_, rtol=1e-12)
