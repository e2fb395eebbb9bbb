"""Missing values (NaN) as data missing at random: marginal densities, exact EM, imputation.

References: tests/reference.py (scipy per row, EM by the textbook formulas).
"""
import warnings

import numpy as np
import pytest

import fastprob
from fastprob import GaussianMixture
from sklearn.exceptions import ConvergenceWarning

from reference import (
    em_step_missing,
    full_covariance,
    gmm_logpdf_missing,
    impute_missing,
    random_mixture,
    random_spd,
)

TYPES = ("full", "tied", "diag", "spherical")


def precisions(covs, covariance_type):
    if covariance_type in ("full", "tied"):
        return np.linalg.inv(covs)
    return 1.0 / covs


def holey(rng, X, fraction=0.25):
    """X with a random fraction of entries NaN, plus one empty row and a few rows missing all but one."""
    X = X.copy()
    X[rng.random(X.shape) < fraction] = np.nan
    X[3] = np.nan
    X[5, 1:] = np.nan
    X[7, :-1] = np.nan
    return X


def mixture_data(rng, n, d, K=3, covariance_type="full"):
    weights, means, covs = random_mixture(rng, K, d, covariance_type)
    comps = [full_covariance(covs, covariance_type, k, d) for k in range(K)]
    labels = rng.choice(K, size=n, p=weights)
    X = np.stack([rng.multivariate_normal(means[k], comps[k]) for k in labels])
    return X, (weights, means, covs)


# --------------------------------------------------------------------------- #
# Functions
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("d", [1, 3, 6])
def test_gmm_functions_match_the_per_row_reference(rng, covariance_type, d):
    X, params = mixture_data(rng, 300, d, covariance_type=covariance_type)
    X = holey(rng, X) if d > 1 else np.where(rng.random(X.shape) < 0.3, np.nan, X)
    lse_ref, lp_ref = gmm_logpdf_missing(X, *params, covariance_type)
    lse = fastprob.gmm_logpdf(X, *params, covariance_type=covariance_type, missing="marginalize")
    resp = fastprob.gmm_responsibilities(X, *params, covariance_type=covariance_type, missing="marginalize")
    np.testing.assert_allclose(lse, lse_ref, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(resp, np.exp(lp_ref - lse_ref[:, None]), rtol=1e-9, atol=1e-12)
    empty = np.isnan(X).all(axis=1)
    assert np.array_equal(lse[empty], np.zeros(empty.sum()))  # no observed value: log-density 0
    np.testing.assert_allclose(resp[empty], np.broadcast_to(params[0], resp[empty].shape), rtol=1e-14)


def test_float32_matches_the_reference_to_float32_accuracy(rng):
    X, params = mixture_data(rng, 400, 6)
    X = holey(rng, X).astype(np.float32)
    lse_ref, _ = gmm_logpdf_missing(X.astype(np.float64), *params, "full")
    lse = fastprob.gmm_logpdf(X, *params, missing="marginalize")
    assert lse.dtype == np.float32
    np.testing.assert_allclose(lse, lse_ref, rtol=2e-5, atol=2e-5)


def test_mvn_logpdf_batched_matches_scipy_per_row(rng):
    from scipy.stats import multivariate_normal

    d, K = 5, 3
    X = holey(rng, rng.standard_normal((120, d)) * 2)
    means = rng.standard_normal((K, d))
    covs = np.stack([random_spd(d, rng, cond=20) for _ in range(K)])
    got = fastprob.mvn_logpdf(X, means, covs, missing="marginalize")
    for n, x in enumerate(X):
        o = ~np.isnan(x)
        for k in range(K):
            ref = multivariate_normal(means[k][o], covs[k][np.ix_(o, o)]).logpdf(x[o]) if o.any() else 0.0
            assert got[n, k] == pytest.approx(ref, rel=1e-11, abs=1e-11)


def test_without_nan_marginalize_is_the_default_bit_for_bit(rng):
    X, params = mixture_data(rng, 2000, 7)
    for ct in TYPES:
        w, m, c = random_mixture(rng, 3, 7, ct)
        for fn in (fastprob.gmm_logpdf, fastprob.gmm_responsibilities):
            a = fn(X, w, m, c, covariance_type=ct)
            b = fn(X, w, m, c, covariance_type=ct, missing="marginalize")
            assert np.array_equal(a, b)
    cov = random_spd(7, rng)
    assert np.array_equal(fastprob.mvn_logpdf(X, params[1][0], cov),
                          fastprob.mvn_logpdf(X, params[1][0], cov, missing="marginalize"))


def test_complete_rows_are_unchanged_by_holes_elsewhere(rng):
    X, params = mixture_data(rng, 500, 5)
    Xh = holey(rng, X)
    complete = ~np.isnan(Xh).any(axis=1)
    a = fastprob.gmm_logpdf(Xh, *params, missing="marginalize")
    b = fastprob.gmm_logpdf(X, *params)
    np.testing.assert_allclose(a[complete], b[complete], rtol=1e-14)


def test_propagate_keeps_nan_and_infinity_gives_minus_inf(rng):
    X, params = mixture_data(rng, 10, 3)
    X[0, 1] = np.nan
    X[1, 0], X[1, 2] = np.inf, np.nan
    assert np.isnan(fastprob.gmm_logpdf(X, *params)[0])
    out = fastprob.gmm_logpdf(X, *params, missing="marginalize")
    assert np.isfinite(out[0]) and out[1] == -np.inf
    assert fastprob.mvn_logpdf(X[1], params[1][0], np.eye(3), missing="marginalize") == -np.inf


@pytest.mark.parametrize("bad", ["Marginalize", "drop", None, 1])
def test_functions_refuse_unknown_missing_options(bad):
    with pytest.raises(ValueError, match="missing must be one of 'propagate', 'marginalize'"):
        fastprob.gmm_logpdf(np.zeros((1, 2)), [1.0], [[0.0, 0.0]], np.eye(2)[None], missing=bad)
    with pytest.raises(ValueError, match="missing must be one of"):
        fastprob.mvn_logpdf(np.zeros((1, 2)), np.zeros(2), np.eye(2), missing=bad)


def test_singular_covariances_are_refused_with_marginalize():
    cov = np.array([[1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="needs positive definite covariances"):
        fastprob.mvn_logpdf([[1.0, np.nan]], np.zeros(2), cov, allow_singular=True, missing="marginalize")


# --------------------------------------------------------------------------- #
# Estimator: exact EM
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_one_em_iteration_matches_the_textbook_formulas(rng, covariance_type, weighted):
    X, params = mixture_data(rng, 250, 4, covariance_type=covariance_type)
    X = holey(rng, X, 0.3)
    sw = rng.uniform(0.2, 3.0, len(X)) if weighted else None
    w, m, c = random_mixture(rng, 3, 4, covariance_type)
    gm = GaussianMixture(3, covariance_type=covariance_type, max_iter=1, tol=0.0, weights_init=w, means_init=m,
                         precisions_init=precisions(c, covariance_type), missing="marginalize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X, sample_weight=sw)
    ref = em_step_missing(X, sw, w, m, c, covariance_type, gm.reg_covar)
    np.testing.assert_allclose(gm.weights_, ref[0], rtol=1e-10)
    np.testing.assert_allclose(gm.means_, ref[1], rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(gm.covariances_, ref[2], rtol=1e-9, atol=1e-11)
    assert gm.lower_bound_ == pytest.approx(ref[3], rel=1e-11)


def fitted(X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(missing="marginalize", **kw).fit(X)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_lower_bound_never_decreases(rng, covariance_type):
    X, _ = mixture_data(rng, 1500, 5, K=3, covariance_type=covariance_type)
    X[rng.random(X.shape) < 0.2] = np.nan
    gm = fitted(X, n_components=3, covariance_type=covariance_type, tol=0.0, max_iter=60, random_state=0)
    bounds = np.array(gm.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:])), np.diff(bounds).min()


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_every_initialisation_works_and_without_nan_is_bit_identical(rng, init_params):
    X, _ = mixture_data(rng, 600, 3)
    a = fitted(X, n_components=3, init_params=init_params, random_state=1)
    b = GaussianMixture(3, init_params=init_params, random_state=1).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert a.lower_bounds_ == b.lower_bounds_
    Xh = X.copy()
    Xh[rng.random(X.shape) < 0.2] = np.nan
    gm = fitted(Xh, n_components=3, init_params=init_params, random_state=1)
    assert np.isfinite(gm.covariances_).all() and np.isfinite(gm.score(Xh))


def _sources(X):
    path_free = [X[:150], X[150:151], X[151:400], X[400:]]
    yield "chunks", path_free
    yield "function", lambda: iter(path_free)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_out_of_core_sources_equal_the_in_memory_fit(rng, tmp_path, covariance_type):
    X, _ = mixture_data(rng, 700, 4)
    X[rng.random(X.shape) < 0.2] = np.nan
    kw = dict(n_components=3, covariance_type=covariance_type, max_iter=20, tol=0.0, random_state=0)
    ref = fitted(X, **kw)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float64, shape=X.shape)
    mm[:] = X
    mm.flush()
    sources = dict(_sources(X))
    sources["memmap"] = np.load(tmp_path / "x.npy", mmap_mode="r")
    try:
        import dask.array as da

        sources["dask"] = da.from_array(X, chunks=(160, 4))
    except ImportError:
        pass
    for name, source in sources.items():
        gm = fitted(source, **kw)
        np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-9, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(gm.covariances_, ref.covariances_, rtol=1e-9, atol=1e-12, err_msg=name)
        assert np.all(np.diff(gm.lower_bounds_) >= -1e-12), name


def test_weighted_fit_equals_repeated_rows(rng):
    X, _ = mixture_data(rng, 200, 3)
    X[rng.random(X.shape) < 0.25] = np.nan
    X[0] = [np.nan, 1.0, 2.0]
    counts = rng.integers(1, 4, len(X))
    w, m, c = random_mixture(rng, 3, 3, "full")
    kw = dict(n_components=3, max_iter=5, tol=0.0, weights_init=w, means_init=m, precisions_init=np.linalg.inv(c))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = GaussianMixture(missing="marginalize", **kw).fit(X, sample_weight=counts.astype(float))
        b = GaussianMixture(missing="marginalize", **kw).fit(np.repeat(X, counts, axis=0))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-9)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-9)


def test_partial_fit_on_all_rows_equals_one_em_iteration(rng):
    X, _ = mixture_data(rng, 300, 4)
    X = holey(rng, X)
    w, m, c = random_mixture(rng, 3, 4, "full")
    kw = dict(n_components=3, weights_init=w, means_init=m, precisions_init=np.linalg.inv(c), missing="marginalize")
    a = GaussianMixture(**kw).partial_fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        b = GaussianMixture(max_iter=1, tol=0.0, **kw).fit(X)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-12)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-12)
    a.partial_fit(X[:50])  # a later chunk with holes
    assert np.isfinite(a.covariances_).all()


def test_scoring_uses_the_observed_data_likelihood(rng):
    X, _ = mixture_data(rng, 400, 4)
    Xh = holey(rng, X)
    gm = fitted(Xh, n_components=3, random_state=0)
    params = (gm.weights_, gm.means_, gm.covariances_)
    lse_ref, lp_ref = gmm_logpdf_missing(Xh, *params, "full")
    np.testing.assert_allclose(gm.score_samples(Xh), lse_ref, rtol=1e-10)
    np.testing.assert_allclose(gm.predict_proba(Xh), np.exp(lp_ref - lse_ref[:, None]), atol=1e-10)
    assert np.array_equal(gm.predict(Xh), gm.predict_proba(Xh).argmax(axis=1))
    assert gm.score(Xh) == pytest.approx(lse_ref.mean(), rel=1e-12)
    n_params = gm._n_parameters()
    assert gm.bic(Xh) == pytest.approx(-2 * lse_ref.sum() + n_params * np.log(len(Xh)), rel=1e-12)
    strict = GaussianMixture(3, random_state=0).fit(X)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        strict.score_samples(Xh)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_impute_matches_the_conditional_means_and_deviations(rng, covariance_type):
    X, _ = mixture_data(rng, 300, 4, covariance_type=covariance_type)
    Xh = holey(rng, X)
    gm = fitted(Xh, n_components=3, covariance_type=covariance_type, random_state=0)
    filled, std = gm.impute(Xh, return_std=True)
    ref_fill, ref_std = impute_missing(Xh, gm.weights_, gm.means_, gm.covariances_, covariance_type)
    np.testing.assert_allclose(filled, ref_fill, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(std, ref_std, rtol=1e-8, atol=1e-10)
    observed = ~np.isnan(Xh)
    assert np.array_equal(filled[observed], Xh[observed]) and not std[observed].any()
    assert np.array_equal(gm.impute(Xh), filled)


def test_impute_keeps_float32_and_leaves_complete_data_alone(rng):
    X, _ = mixture_data(rng, 300, 3)
    gm = GaussianMixture(2, random_state=0).fit(X)  # fitted without missing values: still imputes
    assert np.array_equal(gm.impute(X), X)
    X32 = X.astype(np.float32)
    X32[0, 1] = np.nan
    out, std = gm.impute(X32, return_std=True)
    assert out.dtype == std.dtype == np.float32 and np.isfinite(out).all() and std[0, 1] > 0
    Xin = X32.copy()
    gm.impute(Xin)
    assert np.array_equal(Xin, X32, equal_nan=True)  # input not modified


def test_marginal_em_is_closer_to_the_truth_than_mean_imputation(rng):
    from sklearn.mixture import GaussianMixture as SkGM

    rng = np.random.default_rng(0)
    means = np.array([[0.0, 0.0], [4.0, 3.0]])
    covs = np.array([[[1.0, 0.8], [0.8, 1.0]], [[1.0, -0.6], [-0.6, 1.5]]])
    labels = rng.choice(2, size=4000, p=[0.4, 0.6])
    X = np.stack([rng.multivariate_normal(means[k], covs[k]) for k in labels])
    lose = rng.random(len(X)) < 1 / 3
    X[lose, rng.integers(0, 2, lose.sum())] = np.nan
    ours = fitted(X, n_components=2, random_state=0)
    filled = np.where(np.isnan(X), np.nanmean(X, axis=0), X)
    theirs = SkGM(2, random_state=0).fit(filled)

    def error(gm):
        order = np.argsort(gm.means_[:, 0])
        return (np.abs(gm.means_[order] - means).max(), np.abs(gm.covariances_[order] - covs).max())

    (ours_mean, ours_cov), (theirs_mean, theirs_cov) = error(ours), error(theirs)
    assert ours_mean < theirs_mean and ours_cov < theirs_cov / 2


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #
def test_infinity_is_still_an_error(rng, tmp_path):
    X = rng.standard_normal((50, 3))
    X[0, 0], X[1, 1] = np.nan, np.inf
    gm = GaussianMixture(2, missing="marginalize")
    with pytest.raises(ValueError, match="infinity"):
        gm.fit(X)
    with pytest.raises(ValueError, match="only NaN marks a missing value"):
        gm.fit([X[:25], X[25:]])
    np.save(tmp_path / "x.npy", X)
    with pytest.raises(ValueError, match="only NaN marks a missing value"):
        gm.fit(np.load(tmp_path / "x.npy", mmap_mode="r"))


def test_a_column_without_observed_values_is_named(rng):
    import pandas as pd

    X = rng.standard_normal((40, 3))
    X[:, 1] = np.nan
    with pytest.raises(ValueError, match=r"Column 1 of X has no observed value \(all NaN"):
        GaussianMixture(2, missing="marginalize").fit(X)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"Column 1 \('b'\) of X has no observed value"):
        GaussianMixture(2, missing="marginalize").fit(df)
    X[:2, 1] = 1.0
    with pytest.raises(ValueError, match=r"Column 1 of X has only 2 observed value\(s\) but n_components = 3"):
        GaussianMixture(3, missing="marginalize").fit(X)


def test_missing_must_be_a_known_option():
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="The 'missing' parameter of GaussianMixture must be"):
        GaussianMixture(missing="drop").fit(np.zeros((4, 2)))


def test_default_still_refuses_nan_like_scikit_learn(rng):
    X = rng.standard_normal((20, 2))
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        GaussianMixture(2).fit(X)


def test_save_and_load_keep_missing(rng, tmp_path):
    X = holey(rng, rng.standard_normal((100, 3)))
    gm = fitted(X, n_components=2, random_state=0)
    gm.save(tmp_path / "m.npz")
    back = GaussianMixture.load(tmp_path / "m.npz")
    assert back.missing == "marginalize"
    np.testing.assert_array_equal(back.score_samples(X), gm.score_samples(X))


# --------------------------------------------------------------------------- #
# Found by trying to break it
# --------------------------------------------------------------------------- #
def test_float32_with_large_means_keeps_its_accuracy():
    from scipy.stats import norm

    w, mu, var = [0.5, 0.5], np.array([[1e7 + 0.3, 1e7 + 0.3], [1e7 + 3, 1e7 + 3]]), np.ones((2, 2))
    X = np.array([[1e7 + 1, np.nan]], dtype=np.float32)
    got = fastprob.gmm_logpdf(X, w, mu, var, covariance_type="diag", missing="marginalize")
    exact = np.log(0.5 * norm.pdf(0.7) + 0.5 * norm.pdf(-2.0))
    assert got.dtype == np.float32 and got[0] == pytest.approx(exact, rel=1e-6)


def test_fits_are_bit_identical_on_any_thread_count_and_rows_do_not_depend_on_each_other(rng):
    X = rng.standard_normal((20000, 6))
    X[rng.random(X.shape) < 0.3] = np.nan
    fits = []
    for n in (1, 2):
        with fastprob.set_num_threads(n):
            fits.append(fitted(X, n_components=3, random_state=0, max_iter=5))
    for name in ("means_", "covariances_", "weights_"):
        assert np.array_equal(getattr(fits[0], name), getattr(fits[1], name)), name
    # d = 40, K = 16, three holes a row: more patterns than the kernels' cache holds
    d, K = 40, 16
    w, m, c = random_mixture(rng, K, d, "full")
    Y = rng.standard_normal((3000, d)) * 2
    for row in Y:
        row[rng.choice(d, 3, replace=False)] = np.nan
    a = fastprob.gmm_logpdf(Y, w, m, c, missing="marginalize")
    assert np.array_equal(a, fastprob.gmm_logpdf(Y[::-1], w, m, c, missing="marginalize")[::-1])
    assert np.array_equal(a[7:9], fastprob.gmm_logpdf(Y[7:9], w, m, c, missing="marginalize"))


def test_lower_bound_of_scaled_data_counts_the_observed_values_only(rng):
    X = rng.standard_normal((1000, 3))
    X[rng.random(X.shape) < 0.4] = np.nan
    c = 2.0 ** 450  # EM works on X scaled back by a power of two
    a = fitted(X * c, n_components=1, tol=0.0, max_iter=3)
    b = fitted(X, n_components=1, tol=0.0, max_iter=3)
    observed = (~np.isnan(X)).sum(axis=1).mean()
    assert a.lower_bound_ == pytest.approx(b.lower_bound_ - observed * np.log(c), rel=1e-8)  # was off by 370


def test_partial_fit_after_fit_accepts_small_chunks_with_holes(rng):
    X = holey(rng, rng.standard_normal((300, 3)))
    gm = fitted(X, n_components=3, random_state=0)
    gm.partial_fit([[0.0, np.nan, 2.0]])
    assert np.isfinite(gm.covariances_).all()


def test_far_rows_with_holes_get_the_limit_responsibilities():
    w, mu, cov = [0.5, 0.5], np.array([[0.0, 0.0], [5.0, 5.0]]), np.stack([np.eye(2)] * 2)
    got = fastprob.gmm_responsibilities([[1e200, 0.0], [1e200, np.nan]], w, mu, cov, missing="marginalize")
    assert np.array_equal(got, [[0.0, 1.0], [0.0, 1.0]])


def test_values_in_rows_of_weight_zero_are_not_observed(rng):
    X = rng.standard_normal((200, 3))
    X[100:, 2] = np.nan
    sw = np.ones(200)
    sw[:100] = 0.0
    with pytest.raises(ValueError, match="Column 2 of X has no observed value"):
        GaussianMixture(2, missing="marginalize").fit(X, sample_weight=sw)


def test_nan_without_marginalize_names_the_option(rng, tmp_path):
    X = rng.standard_normal((50, 2))
    X[0, 0] = np.nan
    for source in (X, [X[:20], X[20:]]):
        with pytest.raises(ValueError, match=r"Input X contains NaN\. GaussianMixture\(missing='marginalize'\)"):
            GaussianMixture(2).fit(source)
    with pytest.raises(ValueError, match="only NaN marks a missing value"):
        X[1, 1] = np.inf
        GaussianMixture(2, missing="marginalize").fit(X)
