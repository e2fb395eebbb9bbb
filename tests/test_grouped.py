"""fit_grouped: every group equals its stand-alone fastprob.GaussianMixture fit."""
import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning

import fastprob
from fastprob.kernels import kmeans as _kk

COVS = ("full", "tied", "diag", "spherical")
INITS = ("kmeans", "k-means++", "random_from_data", "random")


def _data(rng, n_groups=5, rows=(40, 90), d=2, dtype=np.float64):
    """Groups of varying size, each two blobs at a random offset, rows of the groups interleaved."""
    sizes = rng.integers(rows[0], rows[1], size=n_groups)
    parts = []
    for n in sizes:
        centre = rng.normal(0, 5, size=d)
        second = rng.random((n, 1)) < 0.4
        parts.append(centre + 3.0 * second + rng.normal(size=(n, d)))
    X = np.concatenate(parts).astype(dtype)
    groups = np.repeat(np.arange(n_groups) * 10 + 7, sizes)
    perm = rng.permutation(len(X))
    return X[perm], groups[perm]


def _alone(X, groups, label, K, sw=None, **kw):
    mask = groups == label
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fastprob.GaussianMixture(K, **kw).fit(X[mask], sample_weight=None if sw is None else sw[mask])


def _check_equal(result, X, groups, K, sw=None, rtol=1e-10, seeds=None, **kw):
    for g, label in enumerate(result.groups_):
        if seeds is not None:
            kw["random_state"] = int(seeds[g])
        alone = _alone(X, groups, label, K, sw, **kw)
        assert result.n_iter_[g] == alone.n_iter_, label
        assert result.converged_[g] == alone.converged_, label
        for name in ("weights_", "means_", "covariances_"):
            got = getattr(result, name)[g]
            want = getattr(alone, name)
            assert got.dtype == want.dtype == X.dtype
            scale = np.abs(want).max()
            np.testing.assert_allclose(got, want, rtol=0, atol=rtol * scale, err_msg=f"{name} of {label}")
        np.testing.assert_allclose(result.lower_bound_[g], alone.lower_bound_, rtol=rtol)


@pytest.mark.parametrize("covariance_type", COVS)
@pytest.mark.parametrize("init_params", INITS)
def test_every_group_equals_its_standalone_fit(rng, covariance_type, init_params):
    X, groups = _data(rng)
    kw = dict(covariance_type=covariance_type, init_params=init_params, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = fastprob.fit_grouped(X, groups, 2, **kw)
    assert list(result.groups_) == sorted(set(groups.tolist()))
    assert len(result.refitted_) == 0
    _check_equal(result, X, groups, 2, **kw)


@pytest.mark.parametrize("covariance_type", COVS)
@pytest.mark.parametrize("init_params", INITS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weighted_and_float32_groups_equal_their_standalone_fits(rng, covariance_type, init_params, dtype):
    X, groups = _data(rng, n_groups=3, d=3, dtype=dtype)
    sw = rng.uniform(0.2, 3.0, size=len(X))
    sw[rng.random(len(X)) < 0.1] = 0.0  # some rows carry no weight
    kw = dict(covariance_type=covariance_type, init_params=init_params, random_state=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = fastprob.fit_grouped(X, groups, 3, sample_weight=sw, **kw)
    assert result.means_.dtype == dtype
    _check_equal(result, X, groups, 3, sw=sw, rtol=1e-10 if dtype == np.float64 else 1e-5, **kw)


def test_random_state_instance_draws_one_seed_per_group(rng):
    X, groups = _data(rng, n_groups=4)
    result = fastprob.fit_grouped(X, groups, 2, random_state=np.random.RandomState(5))
    expected = np.random.RandomState(5).randint(np.iinfo(np.int32).max, size=4)
    np.testing.assert_array_equal(result.random_seeds_, expected)
    _check_equal(result, X, groups, 2, seeds=result.random_seeds_)
    assert fastprob.fit_grouped(X, groups, 2, random_state=0).random_seeds_ is None


def _sklearn_kmeans_labels(Xg, K, seed, swg=None):
    return KMeans(n_clusters=K, n_init=1, random_state=np.random.RandomState(seed)).fit(
        Xg, sample_weight=swg).labels_


def _kernel_kmeans(Xs, starts, K, seeds, sw=None, lloyd_iter=300):
    G = len(starts) - 1
    n_trials = 2 + int(np.log(K))
    draws = np.stack([np.random.RandomState(s).random_sample(1 + (K - 1) * n_trials) for s in seeds])
    labels = np.zeros(len(Xs) if lloyd_iter else 0, np.int64)
    seed_rows = np.zeros((G, K), np.int64)
    status = np.zeros(G, np.int64)
    sw = np.ones(len(Xs), Xs.dtype) if sw is None else sw.astype(Xs.dtype)
    _kk.kmeans_groups.serial(G, Xs, sw, starts, draws, n_trials, lloyd_iter, 1e-4, labels, seed_rows, status)
    return labels, seed_rows, status


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kmeans_labels_equal_sklearns(rng, dtype):
    """Many random groups, some near-degenerate (few distinct values, one dominant cluster, tiny spread)."""
    sizes, parts = [], []
    for g in range(150):
        n = int(rng.integers(12, 120))
        d = int(rng.integers(1, 5))
        kind = g % 3
        if kind == 0:
            x = rng.normal(size=(n, d)) + 4 * (rng.random((n, 1)) < 0.3)
        elif kind == 1:
            x = rng.integers(0, 6, size=(n, d)) + 1e-3 * rng.normal(size=(n, d))
        else:
            x = 1e3 + 1e-2 * rng.standard_t(3, size=(n, d))
        parts.append(np.pad(x, ((0, 0), (0, 4 - d))).astype(dtype))
        sizes.append(n)
    K = 4
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    Xs = np.ascontiguousarray(np.concatenate(parts))
    seeds = np.arange(len(sizes)) + 100
    labels, seed_rows, status = _kernel_kmeans(Xs, starts, K, seeds)
    compared = 0
    for g, part in enumerate(parts):
        if status[g] != _kk.KMEANS_OK:
            continue  # handed back to scikit-learn (empty cluster / too few distinct points)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            want = _sklearn_kmeans_labels(part, K, int(seeds[g]))
        np.testing.assert_array_equal(labels[starts[g]:starts[g + 1]], want, err_msg=f"group {g}")
        compared += 1
    assert compared > 120
    # the seeds alone: sklearn's kmeans_plusplus on the raw rows, with weights
    sw = rng.uniform(0.1, 2.0, size=len(Xs))
    _, seed_rows, _ = _kernel_kmeans(Xs, starts, K, seeds, sw=sw, lloyd_iter=0)
    for g, part in enumerate(parts):
        _, want = kmeans_plusplus(part, K, random_state=np.random.RandomState(int(seeds[g])),
                                  sample_weight=sw[starts[g]:starts[g + 1]].astype(dtype))
        np.testing.assert_array_equal(seed_rows[g], want, err_msg=f"group {g}")


def test_same_result_on_one_and_two_threads(rng, restore_threads):
    X, groups = _data(rng, n_groups=40, rows=(30, 60))
    with fastprob.set_num_threads(1):
        one = fastprob.fit_grouped(X, groups, 2, random_state=0)
    with fastprob.set_num_threads(min(2, fastprob.threads.numba.config.NUMBA_NUM_THREADS)):
        two = fastprob.fit_grouped(X, groups, 2, random_state=0)
    for name in ("weights_", "means_", "covariances_", "lower_bound_", "n_iter_"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name))


def test_small_groups_error_or_skip(rng):
    X, groups = _data(rng, n_groups=3)
    X = np.concatenate([X, [[0.0, 0.0], [1.0, 1.0]]])
    groups = np.concatenate([groups, ["x", "x"]]) if groups.dtype.kind == "U" else np.concatenate([groups, [99, 99]])
    with pytest.raises(ValueError, match=r"Group 99 has 2 rows but n_components = 3"):
        fastprob.fit_grouped(X, groups, 3)
    with pytest.warns(UserWarning, match="skipped"):
        result = fastprob.fit_grouped(X, groups, 3, small_groups="skip", random_state=0)
    assert result.skipped_.tolist() == [99]
    assert 99 not in result and len(result) == 3
    with pytest.raises(KeyError, match="skipped"):
        result[99]
    # rows of zero weight do not count
    sw = np.ones(len(X))
    sw[groups == 7] = 0.0
    sw[np.flatnonzero(groups == 7)[:2]] = 1.0
    with pytest.raises(ValueError, match=r"Group 7 has 2 rows of positive sample weight"):
        fastprob.fit_grouped(X[groups != 99], groups[groups != 99], 3, sample_weight=sw[groups != 99])


def test_string_labels_and_per_group_estimator(rng):
    X, groups = _data(rng, n_groups=3)
    names = np.array(["beta", "alpha", "gamma"])[(groups - 7) // 10]
    result = fastprob.fit_grouped(X, names, 2, random_state=0)
    assert result.groups_.tolist() == ["alpha", "beta", "gamma"]
    labels = [label for label, _ in result]
    assert labels == ["alpha", "beta", "gamma"]
    for label in labels:
        gm = result[label]
        alone = _alone(X, names, label, 2, random_state=0)
        Xg = X[names == label]
        np.testing.assert_array_equal(gm.predict(Xg), alone.predict(Xg))
        np.testing.assert_allclose(gm.score_samples(Xg), alone.score_samples(Xg), rtol=1e-12)
        np.testing.assert_allclose(gm.precisions_cholesky_, alone.precisions_cholesky_, rtol=1e-9)
        assert gm.lower_bounds_ == pytest.approx(alone.lower_bounds_, rel=1e-12)
        assert gm.n_features_in_ == alone.n_features_in_
        # the fitted statistics let partial_fit continue as from the stand-alone fit
        np.testing.assert_allclose(gm.partial_fit(Xg).means_, alone.partial_fit(Xg).means_, rtol=1e-10)
    assert result.mixture("beta") is not result.mixture("beta")


@pytest.mark.filterwarnings("ignore:.*re-seeded:UserWarning")
def test_fallback_groups_equal_the_estimator(rng):
    X, groups = _data(rng, n_groups=3)
    # group 17: two distinct points for three components (k-means cannot find three clusters)
    X[groups == 17] = np.where(rng.random((np.count_nonzero(groups == 17), 1)) < 0.5, 0.0, 1.0) + [0.0, 2.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fastprob.fit_grouped(X, groups, 3, random_state=1)
    assert 17 in result.refitted_.tolist()
    _check_equal(result, X, groups, 3, random_state=1)
    # float32 values beyond 2e15 are fitted rescaled by the estimator
    X32 = X.astype(np.float32)
    X32[groups == 27] *= np.float32(1e17)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fastprob.fit_grouped(X32, groups, 2, random_state=1)
    assert 27 in result.refitted_.tolist()
    _check_equal(result, X32, groups, 2, rtol=1e-5, random_state=1)


def test_ill_defined_group_is_named(rng):
    X, groups = _data(rng, n_groups=3)
    X[groups == 27] = 1.5  # one point repeated: no covariance without reg_covar
    with pytest.raises(ValueError, match=r"Fitting group 27 .*ill-defined empirical covariance"):
        fastprob.fit_grouped(X, groups, 2, reg_covar=0.0, random_state=0)


def test_bad_input(rng):
    X, groups = _data(rng, n_groups=2)
    with pytest.raises(ValueError, match="groups must be a 1-D array"):
        fastprob.fit_grouped(X, groups[:-1], 2)
    with pytest.raises(ValueError, match="groups must be a 1-D array"):
        fastprob.fit_grouped(X, groups[:, None], 2)
    with pytest.raises(ValueError, match="NaN"):
        fastprob.fit_grouped(X, np.where(groups == 7, np.nan, 1.0), 2)
    with pytest.raises(ValueError, match="2D array"):
        fastprob.fit_grouped(X[:, 0], groups, 2)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fastprob.fit_grouped(bad, groups, 2)
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        fastprob.fit_grouped(X, groups, 2, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        fastprob.fit_grouped(X, groups, 2, sample_weight=-np.ones(len(X)))
    with pytest.raises(ValueError, match="n_components' parameter of fit_grouped"):
        fastprob.fit_grouped(X, groups, 0)
    with pytest.raises(ValueError, match="covariance_type"):
        fastprob.fit_grouped(X, groups, 2, covariance_type="banana")
    with pytest.raises(ValueError, match="small_groups"):
        fastprob.fit_grouped(X, groups, 2, small_groups="drop")
    Xc, gc, sc = X.copy(), groups.copy(), np.ones(len(X))
    fastprob.fit_grouped(X, groups, 2, sample_weight=sc, random_state=0)
    np.testing.assert_array_equal(X, Xc)
    np.testing.assert_array_equal(groups, gc)
    np.testing.assert_array_equal(sc, 1.0)


@pytest.mark.parametrize("missing", [np.nan, None, float("nan")])
def test_missing_labels_in_object_arrays_are_an_error(missing):
    X = np.random.default_rng(0).normal(size=(60, 2))
    labels = np.array([1.0] * 20 + [missing] * 20 + [2.0] * 20, dtype=object)
    with pytest.raises(ValueError, match=r"groups contains missing labels \(NaN, None or NaT\)"):
        fastprob.fit_grouped(X, labels, 1, random_state=0, small_groups="skip")


def test_dataframe_columns_become_each_group_models_feature_names():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(np.random.default_rng(1).normal(size=(60, 2)), columns=["a", "b"])
    groups = np.repeat([0, 1, 2], 20)
    result = fastprob.fit_grouped(X, groups, 2, random_state=0)
    alone = fastprob.GaussianMixture(2, random_state=0).fit(X[groups == 1])
    np.testing.assert_array_equal(result[1].feature_names_in_, alone.feature_names_in_)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X has feature names, but ... was fitted without"
        np.testing.assert_array_equal(result[1].predict(X), alone.predict(X))
