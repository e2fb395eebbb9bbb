"""fastprob.GaussianMixture against sklearn.mixture.GaussianMixture and the known Old Faithful MLE."""
import json
import re
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import GaussianMixture as SkGM
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastprob
from fastprob import GaussianMixture
from reference import random_mixture

TYPES = ["full", "tied", "diag", "spherical"]
ATTRS = ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"]


@pytest.fixture(scope="module")
def faithful():
    return fastprob.load_faithful()


def blobs(seed=0, N=600, K=3, d=3, covariance_type="full"):
    rng = np.random.default_rng(seed)
    weights, means, covs = random_mixture(rng, K, d, covariance_type, spread=3.0)
    return fastprob.gmm_sample(weights, means, covs, N, random_state=seed, covariance_type=covariance_type)[0]


def assert_same_fit(ours, theirs, rtol=1e-8):
    for name in ATTRS:
        a, b = getattr(ours, name), getattr(theirs, name)
        assert a.shape == b.shape and a.dtype == b.dtype, name
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max(), err_msg=name)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    np.testing.assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=rtol)
    np.testing.assert_allclose(ours.lower_bounds_, theirs.lower_bounds_, rtol=rtol)


# --------------------------------------------------------------------------- #
# Old Faithful: the known MLE and sklearn on the same data
# --------------------------------------------------------------------------- #
def test_faithful_known_mle(faithful):
    fits = [GaussianMixture(2, init_params=init, random_state=seed, tol=1e-8, max_iter=1000).fit(faithful)
            for init in ("kmeans", "k-means++", "random_from_data", "random") for seed in range(3)]
    totals = np.array([gm.score(faithful) * len(faithful) for gm in fits])
    best = fits[int(np.argmax(totals))]
    assert totals.max() == pytest.approx(-1130.264, abs=5e-4)
    np.testing.assert_allclose(np.sort(best.weights_), [0.356, 0.644], atol=6e-4)
    order = np.argsort(best.means_[:, 0])
    np.testing.assert_allclose(best.means_[order], [[2.036, 54.479], [4.290, 79.968]], atol=6e-4)
    assert best.bic(faithful) == pytest.approx(2322.19, abs=0.01)
    assert np.sum(totals > -1130.27) >= len(fits) // 2  # most starts find it


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_same_as_sklearn_on_faithful(faithful, covariance_type, init_params):
    kw = dict(n_components=2, covariance_type=covariance_type, init_params=init_params, random_state=1,
              tol=1e-6, max_iter=300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SkGM(**kw).fit(faithful)
        ours = GaussianMixture(**kw).fit(faithful)
    if init_params in ("k-means++", "random_from_data") and covariance_type != "full":
        # These inits give each component one seed point.  sklearn then computes
        # 'diag'/'spherical' initial variances as E[x²] - E[x]² (pure cancellation
        # noise, ~1e-11 here, on top of reg_covar) where fastprob gets reg_covar
        # exactly; only the first lower bound (of the initial parameters) differs.
        # For 'tied', sklearn uses XᵀX of *all* rows minus the seeds' outer
        # products (its formula assumes every row's responsibilities sum to 1),
        # an uncentred covariance N/K times too large; fastprob's tied estimate is
        # the pooled within-component scatter, so the fits differ -- and ours
        # reaches the higher likelihood.
        if covariance_type == "tied":
            assert ours.lower_bound_ >= sk.lower_bound_ - 1e-9
            return
        ours.lower_bounds_, sk.lower_bounds_ = ours.lower_bounds_[1:], sk.lower_bounds_[1:]
    assert_same_fit(ours, sk)
    np.testing.assert_allclose(ours.score_samples(faithful), sk.score_samples(faithful), rtol=1e-8)
    assert ours.bic(faithful) == pytest.approx(sk.bic(faithful), rel=1e-8)
    assert ours.aic(faithful) == pytest.approx(sk.aic(faithful), rel=1e-8)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_same_initial_parameters_same_fit_as_sklearn(covariance_type):
    X = blobs(3, N=2000, K=3, d=4)
    rng = np.random.default_rng(5)
    weights, means, covs = random_mixture(rng, 3, 4, covariance_type, spread=2.0)
    precisions = {"full": lambda: np.linalg.inv(covs), "tied": lambda: np.linalg.inv(covs),
                  "diag": lambda: 1 / covs, "spherical": lambda: 1 / covs}[covariance_type]()
    kw = dict(n_components=3, covariance_type=covariance_type, weights_init=weights, means_init=means,
              precisions_init=precisions, tol=1e-9, max_iter=500)
    sk = SkGM(**kw).fit(X)
    ours = GaussianMixture(**kw).fit(X)
    assert sk.converged_ and sk.n_iter_ > 5
    assert_same_fit(ours, sk)


# --------------------------------------------------------------------------- #
# EM invariants
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("covariance_type", TYPES)
def test_lower_bound_never_decreases(covariance_type):
    X = blobs(1, N=1500, K=4, d=2)
    gm = GaussianMixture(4, covariance_type=covariance_type, max_iter=1, warm_start=True, random_state=0,
                         init_params="random")
    bounds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(40):
            bounds.append(gm.fit(X).lower_bound_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:])), np.diff(bounds).min()
    assert bounds[-1] > bounds[0]


def test_prediction_consistency(faithful):
    gm = GaussianMixture(3, random_state=0)
    labels = gm.fit_predict(faithful)
    np.testing.assert_array_equal(labels, GaussianMixture(3, random_state=0).fit(faithful).predict(faithful))
    np.testing.assert_array_equal(gm.predict(faithful), np.argmax(gm.predict_proba(faithful), axis=1))
    assert gm.score(faithful) == pytest.approx(np.mean(gm.score_samples(faithful)), rel=1e-14)
    np.testing.assert_allclose(gm.predict_proba(faithful).sum(axis=1), 1.0, rtol=1e-14)
    X, y = gm.sample(500)
    assert X.shape == (500, 2) and y.shape == (500,) and set(np.unique(y)) <= {0, 1, 2}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_bit_identical_on_any_thread_count(restore_threads):
    import numba

    X = blobs(2, N=120_000, K=4, d=3)
    fits = []
    for n in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        restore_threads(n)
        fits.append(GaussianMixture(4, random_state=0, max_iter=20, tol=0).fit(X))
    for gm in fits[1:]:
        for name in ATTRS:
            np.testing.assert_array_equal(getattr(gm, name), getattr(fits[0], name))
        assert gm.lower_bounds_ == fits[0].lower_bounds_


@pytest.mark.parametrize("covariance_type", TYPES)
def test_float32_storage(covariance_type):
    X = blobs(4, N=3000, K=2, d=3)
    kw = dict(n_components=2, covariance_type=covariance_type, random_state=0, tol=1e-10, max_iter=500)
    g64 = GaussianMixture(**kw).fit(X)
    g32 = GaussianMixture(**kw).fit(X.astype(np.float32))
    for name in ATTRS:
        assert getattr(g32, name).dtype == np.float32
        np.testing.assert_allclose(getattr(g32, name), getattr(g64, name), rtol=1e-4,
                                   atol=1e-5 * np.abs(getattr(g64, name)).max())
    assert g32.predict_proba(X.astype(np.float32)).dtype == np.float32
    assert g32.score_samples(X.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("covariance_type", TYPES)
def test_integer_sample_weight_equals_repetition(covariance_type):
    X = blobs(6, N=400, K=2, d=2)
    counts = np.random.default_rng(0).integers(0, 4, len(X))
    rng = np.random.default_rng(1)
    w0, m0, c0 = random_mixture(rng, 2, 2, covariance_type)
    p0 = np.linalg.inv(c0) if covariance_type in ("full", "tied") else 1 / c0
    kw = dict(n_components=2, covariance_type=covariance_type, weights_init=w0, means_init=m0,
              precisions_init=p0, tol=1e-10, max_iter=300)
    a = GaussianMixture(**kw).fit(X, sample_weight=counts)
    b = GaussianMixture(**kw).fit(np.repeat(X, counts, axis=0))
    for name in ATTRS:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-9,
                                   atol=1e-12 * np.abs(getattr(b, name)).max())
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-10)


# --------------------------------------------------------------------------- #
# Degenerate data
# --------------------------------------------------------------------------- #
def test_duplicates_and_constant_feature_complete_with_reg_covar():
    rng = np.random.default_rng(0)
    X = np.vstack([np.tile([1.0, 2.0, 5.0], (50, 1)), rng.standard_normal((100, 3)) + [4, 4, 5]])
    X[:, 2] = 5.0  # constant feature
    gm = GaussianMixture(2, random_state=0).fit(X)
    assert np.all(np.isfinite(gm.covariances_))
    assert np.min(np.linalg.eigvalsh(gm.covariances_)) >= 1e-6 * 0.999
    with pytest.raises(ValueError, match=r"ill-defined empirical covariance.*increase reg_covar"):
        GaussianMixture(2, random_state=0, reg_covar=0.0).fit(X)


def test_component_that_loses_all_points_is_reseeded():
    X = blobs(7, N=500, K=2, d=2)
    means_init = np.array([X.mean(axis=0), X.mean(axis=0) + 0.1, [1e4, 1e4]])
    with pytest.warns(UserWarning, match=r"lost all its points and was re-seeded"):
        gm = GaussianMixture(3, means_init=means_init, random_state=0, max_iter=200).fit(X)
    assert any(k == 2 for _, _, k in gm.reseeded_)
    assert np.all(gm.weights_ > 1e-3)
    assert np.abs(gm.means_).max() < 100  # the dead component came back to the data


def test_convergence_warning():
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        gm = GaussianMixture(3, max_iter=1, random_state=0).fit(blobs(8))
    assert not gm.converged_ and gm.n_iter_ == 1


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("X, match", [
    (np.array([[1.0, np.nan], [0.0, 1.0], [2.0, 2.0]]), "Input X contains NaN"),
    (np.array([[1.0, np.inf], [0.0, 1.0], [2.0, 2.0]]), "Input X contains infinity"),
    (np.empty((0, 2)), "0 sample"),
    (np.arange(5.0), "Expected 2D array"),
])
def test_bad_X(X, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture().fit(X)


def test_too_few_samples_and_feature_mismatch(faithful):
    with pytest.raises(ValueError, match=r"Expected n_samples >= n_components but got n_components = 5, n_samples = 3"):
        GaussianMixture(5).fit(faithful[:3])
    gm = GaussianMixture(2, random_state=0).fit(faithful)
    with pytest.raises(ValueError, match=r"X has 3 features, but GaussianMixture is expecting 2 features"):
        gm.predict(np.zeros((4, 3)))
    with pytest.raises(NotFittedError):
        GaussianMixture().predict(faithful)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_components=0), r"'n_components' parameter of GaussianMixture must be an int in the range \[1, inf\)"),
    (dict(covariance_type="full_"), r"'covariance_type' parameter"),
    (dict(tol=-1.0), r"'tol' parameter .* \[0.0, inf\)"),
    (dict(reg_covar=np.nan), r"'reg_covar' parameter"),
    (dict(max_iter=2.5), r"'max_iter' parameter"),
    (dict(n_init=0), r"'n_init' parameter"),
    (dict(init_params="kmeans++"), r"'init_params' parameter"),
    (dict(weights_init=[0.3, 0.3]), r"'weights_init' should be normalized, but got sum\(weights_init\) = 0.6"),
    (dict(weights_init=[0.5, 0.5, 0.0]), r"'weights_init' should have the shape of \(2,\)"),
    (dict(means_init=np.zeros((2, 3))), r"'means_init' should have the shape of \(2, 2\)"),
    (dict(precisions_init=np.stack([np.eye(2), -np.eye(2)])), r"'full precision' should be symmetric, positive-definite \(component 1\)"),
])
def test_invalid_parameters(faithful, kwargs, match):
    kwargs = {"n_components": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        GaussianMixture(**kwargs).fit(faithful)


def test_restart_from_a_float32_model_and_other_inputs_sklearn_accepts(faithful):
    # float32 weights_ sum to 1 only to ~1e-7: scikit-learn's float32 tolerance (1e-6) applies.
    X32 = faithful.astype(np.float32)
    for seed in range(6):
        g = GaussianMixture(4, random_state=seed).fit(X32)
        kw = dict(weights_init=g.weights_, means_init=g.means_, precisions_init=g.precisions_, max_iter=2)
        ours, theirs = GaussianMixture(4, **kw).fit(X32), SkGM(4, **kw).fit(X32)
        np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-5)
    with pytest.raises(ValueError, match="should be normalized"):
        GaussianMixture(2, weights_init=np.array([0.5, 0.5 + 2e-6], np.float32)).fit(faithful)
    # Rows as tuples (zip, database rows), also of one feature, are one array, not chunks.
    rows = [tuple(r) for r in faithful]
    for data in (rows, [(v,) for v in faithful[:, 0]]):
        ours, theirs = GaussianMixture(2, random_state=0), SkGM(2, random_state=0)
        np.testing.assert_array_equal(ours.fit_predict(data), theirs.fit_predict(data))
        np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-8)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array instead"):
        GaussianMixture(2).fit(range(10))
    # means_init held as objects (a pandas nullable Float64 frame) is converted, as in scikit-learn.
    pd = pytest.importorskip("pandas")
    start = pd.DataFrame(faithful[[0, 200]]).astype("Float64")
    np.testing.assert_allclose(GaussianMixture(2, means_init=start, random_state=0).fit(faithful).means_,
                               SkGM(2, means_init=start.to_numpy(float), random_state=0).fit(faithful).means_,
                               rtol=1e-8)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("scale, what", [(1e308, "too large"), (1e-320, "too small")])
def test_sample_weights_near_the_ends_of_the_float64_range(faithful, scale, what):
    # 1e308 weights overflowed their sum (k-means said "no non-zero weight"), subnormal ones
    # lost their ratios.  The estimator remembers the weights' scale for partial_fit, so it
    # cannot quietly rescale them: a clear error says how to.
    w = np.random.default_rng(0).integers(1, 4, len(faithful)).astype(float) / 4 * scale
    for method in ("fit", "partial_fit", "fit_predict"):
        with pytest.raises(ValueError, match=f"sample_weight are {what} to compute with .*"
                                             r"pass sample_weight / sample_weight.max\(\)"):
            getattr(GaussianMixture(2, random_state=0), method)(faithful, sample_weight=w)
    assert np.isfinite(GaussianMixture(2, random_state=0).fit(faithful, sample_weight=w / w.max()).means_).all()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", TYPES)
def test_max_iter_0_with_several_inits_keeps_the_last_as_sklearn(faithful, covariance_type):
    kw = dict(n_components=3, init_params="random", random_state=1, max_iter=0, n_init=3,
              covariance_type=covariance_type)
    ours, theirs = GaussianMixture(**kw).fit(faithful), SkGM(**kw).fit(faithful)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-10)


@pytest.mark.parametrize("kwargs", [dict(n_components="2"), dict(n_components=0), dict(covariance_type=None),
                                    dict(tol=-1.0), dict(reg_covar="0"), dict(max_iter=2.5), dict(n_init=0),
                                    dict(init_params="kmeans++"), dict(warm_start=1), dict(verbose=-1),
                                    dict(verbose_interval=0)])
def test_invalid_constructor_parameters_raise_what_sklearn_raises(faithful, kwargs):
    # scikit-learn raises InvalidParameterError, a ValueError and a TypeError at once:
    # code catching TypeError for n_components="2" must catch ours too.
    caught = []
    for cls in (GaussianMixture, SkGM):
        with pytest.raises(TypeError) as exc:
            cls(**kwargs).fit(faithful)
        assert isinstance(exc.value, ValueError)
        caught.append(exc.value)
    ours, theirs = caught
    assert type(ours).__name__ == type(theirs).__name__ == "InvalidParameterError"
    name = next(iter(kwargs))
    assert str(ours).startswith(f"The '{name}' parameter of GaussianMixture must be ")
    assert str(ours).endswith(f"Got {kwargs[name]!r} instead.")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_verbose_true_prints_like_verbose_1(faithful, capsys):
    # scikit-learn accepts a bool for verbose
    printed = []
    for cls in (GaussianMixture, SkGM):
        cls(2, verbose=True, max_iter=2, random_state=0, means_init=faithful[:2]).fit(faithful)
        printed.append(capsys.readouterr().out)
    assert printed[0] == printed[1] and "Initialization 0" in printed[0]


BAD_TYPE = object()


@pytest.mark.parametrize("kwargs", [
    dict(weights_init=BAD_TYPE), dict(weights_init="abc"), dict(weights_init=3), dict(means_init=BAD_TYPE),
    dict(means_init="abc"), dict(precisions_init=BAD_TYPE), dict(precisions_init="abc"),
    dict(random_state="seed"), dict(random_state=1.5), dict(random_state=-1), dict(random_state=2**32),
    dict(random_state=np.random.default_rng(0))])
def test_wrongly_typed_init_and_random_state_raise_sklearns_error(faithful, kwargs):
    # They raised a plain ValueError ("weights_init must be a real numeric array").
    errors = []
    for cls in (GaussianMixture, SkGM):
        with pytest.raises(ValueError) as exc:
            cls(2, **kwargs).fit(faithful)
        errors.append(exc.value)
    ours, theirs = errors
    assert type(ours).__name__ == type(theirs).__name__ == "InvalidParameterError"
    assert isinstance(ours, TypeError)
    assert str(ours) == str(theirs)


@pytest.mark.parametrize("kwargs", [dict(random_state=True), dict(random_state=np.uint32(2**32 - 1)),
                                    dict(weights_init=(0.5, 0.5)), dict(means_init=[[2.0, 50.0], [4.0, 80.0]])])
def test_what_sklearn_accepts_for_those_parameters_is_accepted(faithful, kwargs):
    kwargs = {"random_state": 0, **kwargs}
    ours, theirs = GaussianMixture(2, **kwargs).fit(faithful), SkGM(2, **kwargs).fit(faithful)
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-8)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_warm_start_with_max_iter_0_as_sklearn(faithful):
    # The warm start kept the previous lower_bound_ (scikit-learn: -inf), so a
    # following max_iter=1 fit measured its change from it and "converged".
    fits = []
    for cls in (GaussianMixture, SkGM):
        gm = cls(2, warm_start=True, random_state=0).fit(faithful)
        means = gm.means_.copy()
        gm.set_params(max_iter=0).fit(faithful)
        after_0 = (gm.lower_bound_, gm.n_iter_, gm.converged_, list(gm.lower_bounds_))
        np.testing.assert_array_equal(gm.means_, means)
        gm.set_params(max_iter=1).fit(faithful)
        fits.append((after_0, (gm.n_iter_, gm.converged_), gm.lower_bounds_))
    (ours_0, ours_1, ours_bounds), (theirs_0, theirs_1, theirs_bounds) = fits
    assert ours_0 == theirs_0 == (-np.inf, 0, False, [])
    assert ours_1 == theirs_1 == (1, False)
    np.testing.assert_allclose(ours_bounds, theirs_bounds, rtol=1e-10)


# --------------------------------------------------------------------------- #
# Dtypes: float16 computes as float32; long double, complex and non-numbers are refused
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("covariance_type", TYPES)
def test_float16_computes_as_float32(faithful, covariance_type):
    # It became float64 in the estimator while the functions compute float16 as float32.
    X16 = faithful.astype(np.float16)
    gm = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X16)
    ref = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X16.astype(np.float32))
    for name in ATTRS:
        assert getattr(gm, name).dtype == np.float32, name
        np.testing.assert_array_equal(getattr(gm, name), getattr(ref, name))
    np.testing.assert_array_equal(gm.score_samples(X16), ref.score_samples(X16.astype(np.float32)))
    np.testing.assert_array_equal(gm.predict(X16), ref.predict(X16.astype(np.float32)))
    part = GaussianMixture(2, covariance_type=covariance_type, random_state=0).partial_fit(X16)
    assert part.means_.dtype == np.float32
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X16, columns=["a", "b"])
    assert GaussianMixture(2, random_state=0).fit(frame).means_.dtype == np.float32
    mixed = frame.assign(b=frame["b"].astype(np.float64))  # float16 with float64: float64
    assert GaussianMixture(2, random_state=0).fit(mixed).means_.dtype == np.float64


@pytest.mark.parametrize("X, error, message", [
    (np.ones((10, 2), np.longdouble), TypeError,
     "X has dtype float128 (long double), which fastprob cannot compute in: it computes in float64 or float32, "
     "and will not round the data silently. Pass X.astype(np.float64)."),
    (np.ones((10, 2), np.complex128), (TypeError, ValueError),
     "Complex data not supported: X has dtype complex128. fastprob computes with real numbers, in float64 or "
     "float32: pass X.real.astype(np.float64) if the imaginary parts are zero."),
    (np.ones((10, 2), np.clongdouble), (TypeError, ValueError),
     "Complex data not supported: X has dtype complex256. fastprob computes with real numbers, in float64 or "
     "float32: pass X.real.astype(np.float64) if the imaginary parts are zero."),
    (np.array([[1.0, "abc"]] * 10, dtype=object), TypeError,
     "X has dtype object and holds a str ('abc'), which fastprob cannot compute in without rounding or guessing: "
     "pass a float64 or float32 array."),
    (np.array([[1.0, {}]] * 10, dtype=object), TypeError,
     "X has dtype object and holds a value that is not a number (float() argument must be a string or a real "
     "number, not 'dict'); pass a float64 or float32 array."),
])
def test_dtypes_fastprob_cannot_compute_in_are_refused(faithful, X, error, message):
    if np.dtype(np.longdouble).itemsize <= 8 and X.dtype.kind in "fc" and X.dtype.itemsize > 8:
        pytest.skip("long double is double on this platform")
    fitted = GaussianMixture(2, random_state=0).fit(faithful)
    for call in (lambda: GaussianMixture(2).fit(X), lambda: GaussianMixture(2).partial_fit(X),
                 lambda: fitted.predict(X), lambda: fitted.score_samples(X)):
        with pytest.raises(error) as exc:
            call()
        assert str(exc.value) == message
        if X.dtype.kind == "c":
            assert isinstance(exc.value, TypeError) and isinstance(exc.value, ValueError)


def test_a_long_double_memmap_is_refused(tmp_path):
    X = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.longdouble, shape=(10, 2))
    X[:] = 1
    X.flush()
    X = np.load(tmp_path / "x.npy", mmap_mode="r")
    with pytest.raises(TypeError, match=r"^X has dtype float128 \(long double\)"):
        GaussianMixture(2).fit(X)


def test_diag_precisions_init_must_be_positive(faithful):
    with pytest.raises(ValueError, match=r"'diag precision' should be positive"):
        GaussianMixture(2, covariance_type="diag", precisions_init=np.array([[1.0, 1.0], [0.0, 1.0]])).fit(faithful)


# --------------------------------------------------------------------------- #
# Persistence
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_save_load_round_trip(tmp_path, faithful, covariance_type, dtype):
    X = faithful.astype(dtype)
    gm = GaussianMixture(2, covariance_type=covariance_type, random_state=3, means_init=X[:2]).fit(X)
    path = tmp_path / "model.npz"
    gm.save(path)
    back = GaussianMixture.load(path)
    assert back.get_params().keys() == gm.get_params().keys()
    for key, value in gm.get_params().items():
        np.testing.assert_array_equal(back.get_params()[key], value)
    for name in ATTRS:
        np.testing.assert_array_equal(getattr(back, name), getattr(gm, name))
        assert getattr(back, name).dtype == dtype
    assert (back.converged_, back.n_iter_, back.lower_bound_, back.lower_bounds_, back.n_features_in_) == \
        (gm.converged_, gm.n_iter_, gm.lower_bound_, gm.lower_bounds_, gm.n_features_in_)
    np.testing.assert_array_equal(back.predict_proba(X), gm.predict_proba(X))
    # No pickled objects inside: it loads with allow_pickle=False.
    with np.load(path, allow_pickle=False) as data:
        assert "header" in data


def test_save_errors(tmp_path):
    with pytest.raises(NotFittedError):
        GaussianMixture().save(tmp_path / "x.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="is not a fastprob GaussianMixture file"):
        GaussianMixture.load(tmp_path / "other.npz")
    gm = GaussianMixture(random_state=np.random.RandomState(0)).fit(fastprob.load_faithful())
    with pytest.warns(UserWarning, match="random_state is a RandomState instance"):
        gm.save(tmp_path / "rs.npz")
    assert GaussianMixture.load(tmp_path / "rs.npz").random_state is None


def test_load_errors_name_the_file_and_the_problem(tmp_path):
    gm = GaussianMixture(2, random_state=0).fit(fastprob.load_faithful())
    good = tmp_path / "good.npz"
    gm.save(good)
    with pytest.raises(FileNotFoundError):  # an OSError, as for any missing file, not "not a model file"
        GaussianMixture.load(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("hello")
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "truncated.npz").write_bytes(good.read_bytes()[:200])
    with np.load(good) as data:
        arrays = dict(data)
    header = json.loads(str(arrays["header"]))
    np.savez(tmp_path / "no_means.npz", **{k: v for k, v in arrays.items() if k != "means_"})
    np.savez(tmp_path / "bad_json.npz", **{**arrays, "header": np.array("{not json")})
    np.savez(tmp_path / "list_json.npz", **{**arrays, "header": np.array("[1, 2]")})
    np.savez(tmp_path / "bad_params.npz", **{**arrays, "header": np.array(json.dumps(
        {**header, "params": {**header["params"], "n_clusters": 2}}))})
    for name, message in [("text", "is not a fastprob GaussianMixture file (not an .npz archive)."),
                          ("empty", "is not a fastprob GaussianMixture file (not an .npz archive)."),
                          ("truncated", "is not a fastprob GaussianMixture file (File is not a zip file)."),
                          ("no_means", "is damaged or was not written by GaussianMixture.save: its array 'means_' "
                                       "is missing."),
                          ("bad_json", "is damaged: its header is not valid JSON (Expecting property name enclosed "
                                       "in double quotes: line 1 column 2 (char 1))."),
                          ("list_json", "is damaged: its header is a JSON list, not an object."),
                          ("bad_params", "is damaged or was not written by GaussianMixture.save: the header's "
                                         "params have unknown ['n_clusters'].")]:
        path = tmp_path / f"{name}.npz"
        with pytest.raises(ValueError) as exc:
            GaussianMixture.load(path)
        assert str(exc.value) == f"{path} {message}"


def _saved(tmp_path, gm=None):
    """(arrays, header) of a saved 3-component model with partial_fit sums and feature names."""
    if gm is None:
        pd = pytest.importorskip("pandas")
        X = pd.DataFrame(fastprob.load_faithful(), columns=["eruptions", "waiting"])
        gm = GaussianMixture(3, random_state=0).fit(X)
    gm.save(tmp_path / "good.npz")
    with np.load(tmp_path / "good.npz") as data:
        arrays = dict(data)
    return arrays, json.loads(str(arrays.pop("header")))


def _with(header, part, **changes):
    return {**header, part: {**header[part], **changes}}


def _deep(depth):
    return "[" * depth + "]" * depth


DAMAGE = {  # name: (change of (arrays, header) -> (arrays, header), message after "<path> ")
    "weights_x3": (lambda a, h: ({**a, "weights_": a["weights_"] * 3}, h),
                   "its weights_ must be non-negative and sum to 1, got min {wmin3} and sum 3.0000000000."),
    "negative_weight": (lambda a, h: ({**a, "weights_": a["weights_"] * [-1, 1, 1] + [0, 2 * a["weights_"][0], 0]},
                                      h), "its weights_ must be non-negative and sum to 1, got min {wneg} and sum "
                                          "1.0000000000."),
    "nan_weight": (lambda a, h: ({**a, "weights_": a["weights_"] * [np.nan, 1, 1]}, h),
                   "its array 'weights_' contains NaN or infinity."),
    "nan_mean": (lambda a, h: ({**a, "means_": a["means_"] * [[1, 1], [1, np.nan], [1, 1]]}, h),
                 "its array 'means_' contains NaN or infinity."),
    "two_weights_for_3": (lambda a, h: ({**a, "weights_": np.array([0.5, 0.5])}, h),
                          "its array 'weights_' has shape (2,), but n_components=3, n_features_in_=2 and "
                          "covariance_type='full' need shape (3,)."),
    "means_of_d_3": (lambda a, h: ({**a, "means_": np.zeros((3, 3))}, h),
                     "its array 'means_' has shape (3, 3), but n_components=3, n_features_in_=2 and "
                     "covariance_type='full' need shape (3, 2)."),
    "diag_covariances": (lambda a, h: (a, _with(h, "params", covariance_type="diag")),
                         "its array 'covariances_' has shape (3, 2, 2), but n_components=3, n_features_in_=2 and "
                         "covariance_type='diag' need shape (3, 2)."),
    "n_components_abc": (lambda a, h: (a, _with(h, "params", n_components="abc")),
                         "in the header's params: The 'n_components' parameter of GaussianMixture must be an int "
                         "in the range [1, inf). Got 'abc' instead."),
    "covariance_type_banana": (lambda a, h: (a, _with(h, "params", covariance_type="banana")),
                               "in the header's params: The 'covariance_type' parameter of GaussianMixture must be "
                               "a str among {types}. Got 'banana' instead."),
    "negative_seed": (lambda a, h: (a, _with(h, "params", random_state=-3)),
                      "in the header's params: The 'random_state' parameter of GaussianMixture must be an int in "
                      "the range [0, 4294967295], an instance of 'numpy.random.mtrand.RandomState' or None. Got -3 "
                      "instead."),
    "missing_param": (lambda a, h: (a, {**h, "params": {k: v for k, v in h["params"].items() if k != "tol"}}),
                      "the header's params lack ['tol']."),
    "int_means": (lambda a, h: ({**a, "means_": a["means_"].astype(np.int64)}, h),
                  "its array 'means_' has dtype int64; a model's arrays are all float64 or all float32 (weights_ "
                  "is float64)."),
    "mixed_dtypes": (lambda a, h: ({**a, "means_": a["means_"].astype(np.float32)}, h),
                     "its array 'means_' has dtype float32; a model's arrays are all float64 or all float32 "
                     "(weights_ is float64)."),
    "not_positive_definite": (lambda a, h: ({**a, "covariances_": a["covariances_"] * [[[1]], [[-1]], [[1]]]}, h),
                              "its covariances_ of component(s) [1] are not positive definite."),
    "asymmetric": (lambda a, h: ({**a, "covariances_": a["covariances_"] + [[0, 1], [0, 0]]}, h),
                   "component 0 of covariances_ is not symmetric (largest |covariances_ - covariances_.T| = 1, "
                   "relative {asym}). Pass a symmetric matrix, e.g. (c + c.T) / 2."),
    "precisions_x2": (lambda a, h: ({**a, "precisions_": a["precisions_"] * [[[1]], [[1]], [[2]]]}, h),
                      "its precisions_ of component 2 are not those of its covariances_ (largest difference {pd})."),
    "precisions_cholesky_changed": (
        lambda a, h: ({**a, "precisions_cholesky_": a["precisions_cholesky_"] * [[[1]], [[1.001]], [[1]]]}, h),
        "its precisions_cholesky_ of component 1 are not those of its covariances_ (largest difference {pcd})."),
    "nan_lower_bounds": (lambda a, h: ({**a, "lower_bounds_": a["lower_bounds_"] * np.nan}, h),
                         "its array 'lower_bounds_' must be a 1-D float array without NaN, got float64 of shape "
                         "({n_iter},)."),
    "feature_names_short": (lambda a, h: ({**a, "feature_names_in_": np.array(["x"])}, h),
                            "its array 'feature_names_in_' must be 2 strings, got <U1 of shape (1,)."),
    "partial_sums_incomplete": (lambda a, h: ({k: v for k, v in a.items() if k != "partial_M2"}, h),
                                "it has the partial_fit sums ['partial_W', 'partial_mean'] and the facts "
                                "n_samples_seen_ and weight_scale: a model has all or none of them."),
    "negative_partial_W": (lambda a, h: ({**a, "partial_W": -a["partial_W"]}, h),
                           "its array 'partial_W' has negative entries."),
    "n_features_mismatch": (lambda a, h: (a, _with(h, "fitted", n_features_in_=3)),
                            "its array 'means_' has shape (3, 2), but n_components=3, n_features_in_=3 and "
                            "covariance_type='full' need shape (3, 3)."),
    "converged_yes": (lambda a, h: (a, _with(h, "fitted", converged_="yes")),
                      "the header's fitted facts: 'converged_' is 'yes', not a JSON true/false."),
    "no_fitted": (lambda a, h: (a, {k: v for k, v in h.items() if k != "fitted"}), "the header has no 'fitted'."),
    "nan_lower_bound": (lambda a, h: (a, _with(h, "fitted", lower_bound_=float("nan"))),
                        "the header's lower_bound_ is NaN."),
    "reseeded_component_5": (lambda a, h: (a, _with(h, "fitted", reseeded_=[[0, 1, 5]])),
                             "the header's reseeded_ is not a list of [init, iteration, component] with components "
                             "below n_components=3."),
    "lower_bound_beyond_float64": (lambda a, h: (a, {**h, "fitted": {**h["fitted"], "lower_bound_": 10**400}}),
                                   "the header's lower_bound_ (" + "1" + "0" * 19 + "...) is beyond float64's "
                                   "range."),
    "weights_init_unnormalised": (lambda a, h: ({**a, "weights_init": np.array([0.2, 0.2, 0.2])}, h),
                                  "its initial parameters: The parameter 'weights_init' should be normalized, but "
                                  "got sum(weights_init) = 0.6000000000; divide by the sum."),
}


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_load_checks_every_array_and_the_header(tmp_path, name):
    # A model file whose contents do not fit together loaded before and failed later
    # (or scored wrongly: weights_ x 3 shifted every score by log 3).
    arrays, header = _saved(tmp_path)
    change, message = DAMAGE[name]
    w = arrays["weights_"]
    cov = arrays["covariances_"]
    new_arrays, new_header = change(arrays, header)
    path = tmp_path / f"{name}.npz"
    np.savez(path, header=np.array(json.dumps(new_header)), **new_arrays)
    with pytest.raises(ValueError) as exc:
        GaussianMixture.load(path)
    got = str(exc.value)
    prefix = f"{path} is damaged or was not written by GaussianMixture.save: "
    assert got.startswith(prefix), got
    expected = message.format(
        wmin3=f"{3 * w.min():.6g}", wneg=f"{-w[0]:.6g}", types=set(fastprob.mixture.COVARIANCE_TYPES),
        asym="{asym}", pd="{pd}", pcd="{pcd}", n_iter=len(arrays["lower_bounds_"]))
    numbers = dict(asym=1 / np.abs(cov[0] + [[0, 1], [0, 0]]).max(),
                   pd=np.abs(arrays["precisions_"][2]).max(),
                   pcd=0.001 * np.abs(arrays["precisions_cholesky_"][1]).max())
    for key, value in numbers.items():
        expected = expected.replace("{" + key + "}", f"{value:.3g}")
    assert got == prefix + expected


def test_a_header_nested_too_deeply_or_not_text_is_a_value_error(tmp_path):
    arrays, _ = _saved(tmp_path, GaussianMixture(2, random_state=0).fit(fastprob.load_faithful()))
    for name, header, message in [
            ("deep", np.array(_deep(100_000)), "is damaged: its header is not valid JSON (nested too deeply)."),
            ("numbers", np.arange(3.0), "is damaged: its header is float64 of shape (3,), not a text."),
            ("format", np.array(json.dumps({"format": "other", "version": 1})),
             "holds format 'other' version 1; expected 'fastprob.GaussianMixture' version 1.")]:
        path = tmp_path / f"{name}.npz"
        np.savez(path, header=header, **arrays)
        with pytest.raises(ValueError) as exc:
            GaussianMixture.load(path)
        assert str(exc.value) == f"{path} {message}"


def test_every_changed_byte_is_refused_or_harmless(tmp_path):
    # A flipped byte raised a raw zipfile.BadZipFile.  Every byte of a small
    # model file is changed in turn: load either raises a ValueError naming the
    # file, or (a byte the archive does not use, e.g. a timestamp) gives the model.
    gm = GaussianMixture(2, covariance_type="diag", random_state=0).fit(fastprob.load_faithful())
    good = tmp_path / "good.npz"
    gm.save(good)
    raw = good.read_bytes()
    path = tmp_path / "flipped.npz"
    refused = 0
    for i in range(len(raw)):
        path.write_bytes(raw[:i] + bytes([raw[i] ^ 0x5A]) + raw[i + 1:])
        try:
            back = GaussianMixture.load(path)
        except ValueError as exc:
            assert str(exc).startswith(f"{path} "), (i, str(exc))
            refused += 1
            continue
        for name in ATTRS:
            np.testing.assert_array_equal(getattr(back, name), getattr(gm, name))
    assert refused > 0.8 * len(raw)
    for n in range(0, len(raw), 97):  # truncated anywhere
        path.write_bytes(raw[:n])
        with pytest.raises(ValueError, match=f"^{re.escape(str(path))} (is not a fastprob GaussianMixture file|"
                                             "is damaged)"):
            GaussianMixture.load(path)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", TYPES)
def test_float32_models_load_whatever_their_conditioning(tmp_path, covariance_type):
    # A float32 model's precisions were computed before its covariances were
    # rounded: the consistency check must allow for that, also for ill-conditioned ones.
    rng = np.random.default_rng(4)
    X = (rng.standard_normal((4000, 6)) @ np.diag([1e3, 1, 1, 1, 1, 1e-2])).astype(np.float32)
    X[:, 1] += 0.999 * X[:, 2]
    gm = GaussianMixture(8, covariance_type=covariance_type, random_state=0, max_iter=20).fit(X)
    gm.save(tmp_path / "m.npz")
    back = GaussianMixture.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.predict_proba(X), gm.predict_proba(X))


# --------------------------------------------------------------------------- #
# scikit-learn's own estimator checks, every one of them, no expected failures
# --------------------------------------------------------------------------- #
@parametrize_with_checks([GaussianMixture()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_large_data_initialises_on_a_bounded_sample(monkeypatch, init_params):
    from fastprob import _em

    monkeypatch.setattr(_em, "INIT_SAMPLE_MAX", 500)
    rng = np.random.default_rng(9)
    X = rng.standard_normal((3000, 2)) + np.array([[0, 0], [20, 0], [0, 20]])[rng.integers(0, 3, 3000)]
    seen = []
    import sklearn.cluster

    real_kmeans, real_pp = sklearn.cluster.KMeans.fit, sklearn.cluster.kmeans_plusplus

    def spy_fit(self, X, *a, **k):
        seen.append(len(X))
        return real_kmeans(self, X, *a, **k)

    def spy_pp(X, *a, **k):
        seen.append(len(X))
        return real_pp(X, *a, **k)

    monkeypatch.setattr(sklearn.cluster.KMeans, "fit", spy_fit)
    monkeypatch.setattr(sklearn.cluster, "kmeans_plusplus", spy_pp)
    gm = GaussianMixture(3, init_params=init_params, random_state=0).fit(X)
    assert seen and max(seen) == 500
    full = GaussianMixture(3, init_params=init_params, random_state=0)
    monkeypatch.setattr(_em, "INIT_SAMPLE_MAX", 10**9)
    full.fit(X)
    # Same clusters found either way on well-separated data.
    order = np.lexsort(gm.means_.T), np.lexsort(full.means_.T)
    np.testing.assert_allclose(gm.means_[order[0]], full.means_[order[1]], rtol=1e-6, atol=1e-6)


def test_verbose_output_like_sklearn(capsys, faithful):
    GaussianMixture(2, random_state=0, verbose=2, verbose_interval=1).fit(faithful)
    out = capsys.readouterr().out
    assert "Initialization 0" in out
    assert "  Iteration 1\t time lapse" in out and "ll change" in out
    assert "Initialization converged. time lapse" in out and "lower bound" in out


def test_verbose_output_names_the_initialisation_when_restarts_interleave(capsys, faithful):
    GaussianMixture(2, n_init=2, random_state=0, verbose=2, verbose_interval=1).fit(faithful)
    out = capsys.readouterr().out
    assert "Initialization 0\nInitialization 1\n" in out
    for init in (0, 1):
        assert f"  Iteration 1\t time lapse" in out and f"(initialization {init})" in out
        assert f"Initialization {init} converged. time lapse" in out


def test_failed_fit_leaves_no_half_fitted_state():
    X = np.vstack([np.zeros((10, 2)), np.ones((10, 2))])  # two collapsed clusters
    gm = GaussianMixture(2, reg_covar=0.0, random_state=0, warm_start=True)
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        gm.fit(X)
    with pytest.raises(NotFittedError):
        gm.predict(X)
    gm.set_params(reg_covar=1e-6)
    assert gm.fit(X).converged_  # warm_start on a failed model starts afresh


def test_warm_start_must_match_the_data_and_settings():
    rng = np.random.default_rng(0)
    gm = GaussianMixture(2, warm_start=True, random_state=0).fit(rng.standard_normal((40, 2)))
    with pytest.raises(ValueError, match=r"warm_start=True continues from the fitted model.*3 features"):
        gm.fit(rng.standard_normal((40, 3)))
    gm = GaussianMixture(2, warm_start=True, random_state=0).fit(rng.standard_normal((40, 2)))
    gm.set_params(covariance_type="diag")
    with pytest.raises(ValueError, match=r"covariance_type='diag'.*Set warm_start=False"):
        gm.fit(rng.standard_normal((40, 2)))


def test_sample_weight_scale_does_not_matter(faithful):
    kw = dict(n_components=2, random_state=0, tol=1e-10, max_iter=500)
    base = GaussianMixture(**kw).fit(faithful, sample_weight=np.ones(len(faithful)))
    for scale in (1e-16, 1e16):
        gm = GaussianMixture(**kw).fit(faithful, sample_weight=np.full(len(faithful), scale))
        np.testing.assert_allclose(gm.means_, base.means_, rtol=1e-12)
        assert gm.lower_bound_ == pytest.approx(base.lower_bound_, rel=1e-12)


def test_save_exact_path_numpy_scalars_and_bad_files(tmp_path, faithful):
    gm = GaussianMixture(np.int64(2), tol=np.float32(1e-3), random_state=np.int64(0)).fit(faithful)
    gm.save(tmp_path / "model")  # no extension added
    assert (tmp_path / "model").is_file() and not (tmp_path / "model.npz").exists()
    back = GaussianMixture.load(tmp_path / "model")
    assert back.n_components == 2 and back.random_state == 0
    np.save(tmp_path / "arr.npy", np.zeros(3))
    (tmp_path / "junk.bin").write_bytes(b"not a model")
    for bad in ("arr.npy", "junk.bin"):
        with pytest.raises(ValueError, match="is not a fastprob GaussianMixture file"):
            GaussianMixture.load(tmp_path / bad)


def test_fit_callback_reports_every_iteration(faithful):
    events = []
    gm = GaussianMixture(2, n_init=2, random_state=0).fit(faithful, callback=events.append)
    kinds = [e.event for e in events]
    assert kinds.count("init_begin") == kinds.count("init_end") == 2
    per_init = [[e for e in events if e.init == i and e.event == "iteration"] for i in range(2)]
    assert all(e.n_components == 2 for e in events)
    best = max(per_init, key=lambda its: its[-1].lower_bound)
    assert [e.n_iter for e in best] == list(range(1, gm.n_iter_ + 1))
    assert [e.lower_bound for e in best] == gm.lower_bounds_
    ends = [e for e in events if e.event == "init_end"]
    assert any(e.converged and e.lower_bound == gm.lower_bound_ for e in ends)


def test_fit_callback_must_be_callable(faithful):
    with pytest.raises(TypeError, match="callback must be a callable"):
        GaussianMixture(2).fit(faithful, callback=3)


@pytest.mark.parametrize("fails", ["callback", "singular"])
def test_a_failed_refit_leaves_the_model_as_it_was(faithful, fails):
    gm = GaussianMixture(2, random_state=0).fit(faithful)
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(gm).items()}
    X3 = np.column_stack([faithful, faithful[:, 0]])  # 3 features, the third a copy: singular
    with pytest.raises((RuntimeError, ValueError)):
        if fails == "callback":
            gm.fit(X3, callback=lambda p: (_ for _ in ()).throw(RuntimeError("stop")))
        else:
            gm.set_params(reg_covar=0.0).fit(X3)
    gm.set_params(reg_covar=before["reg_covar"])
    assert gm.n_features_in_ == 2
    for k, v in before.items():
        got = getattr(gm, k)
        assert np.array_equal(got, v) if isinstance(v, np.ndarray) else got == v, k
    np.testing.assert_array_equal(gm.predict(faithful), GaussianMixture(2, random_state=0).fit(faithful).predict(faithful))


def test_a_failed_first_fit_leaves_the_model_unfitted(faithful):
    gm = GaussianMixture(2, random_state=0)
    with pytest.raises(RuntimeError):
        gm.fit(faithful, callback=lambda p: (_ for _ in ()).throw(RuntimeError("stop")))
    assert not hasattr(gm, "n_features_in_") and not hasattr(gm, "means_")
    with pytest.raises(NotFittedError):
        gm.predict(faithful)


@pytest.mark.parametrize("new_type", ["tied", "diag", "spherical"])
def test_scoring_refuses_arrays_that_do_not_fit_the_covariance_type(faithful, new_type):
    gm = GaussianMixture(2, random_state=0).fit(faithful)
    gm.set_params(covariance_type=new_type)
    with pytest.raises(ValueError, match=rf"covariance_type='{new_type}' \(which needs covariances of shape.*"
                                         r"Fit it again"):
        gm.score_samples(faithful)


def test_callback_sees_the_end_of_an_initialisation_without_iterations(faithful):
    events = []
    GaussianMixture(2, max_iter=0, n_init=2, random_state=0).fit(faithful, callback=events.append)
    # The restarts run together: both begin (initialise), then both end.
    assert [(e.event, e.init, e.n_iter) for e in events] == [
        ("init_begin", 0, 0), ("init_begin", 1, 0), ("init_end", 0, 0), ("init_end", 1, 0)]


@pytest.mark.parametrize("X, what", [
    (np.arange(20.0).reshape(10, 2).astype("U8"), "dtype <U8, which is not numeric"),
    (np.zeros((10, 2), "M8[s]"), "dtype datetime64\\[s\\], which is not numeric"),
    (np.array([[np.longdouble(1), 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=object), "holds a longdouble"),
    (np.array([["1.5", 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=object), "holds a str"),
])
def test_estimator_refuses_what_the_functions_refuse(X, what):
    with pytest.raises(TypeError, match=what):
        GaussianMixture(1).fit(X)
    np.testing.assert_allclose(GaussianMixture(1).fit(np.array([[1.0, 2.0], [3.0, 4.0], [5, 7]], dtype=object)).means_,
                               [[3.0, 13 / 3]])
