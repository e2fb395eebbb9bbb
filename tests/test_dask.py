"""EM and inference on dask arrays, on a real dask.distributed LocalCluster (2 worker processes)."""
import dask
import dask.array as da
import dask.dataframe
import numpy as np
import pytest
from distributed import Client, LocalCluster
from test_out_of_core import ATTRS, TYPES, assert_same_model, given_start, mixture_data

import fastprob
from fastprob import GaussianMixture, _dask, _em

UNEVEN = (700, 1300, 1, 400)


def uneven_rows(N, sizes=UNEVEN):
    """Row chunks of the given sizes, cycling, the last one cut to fit N."""
    rows, i = [], 0
    while sum(rows) < N:
        rows.append(min(sizes[i % len(sizes)], N - sum(rows)))
        i += 1
    return tuple(rows)


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster, Client(cluster) as c:
        yield c


def as_dask(X, rows=None):
    return da.from_array(X, chunks=(rows or uneven_rows(len(X)), X.shape[1]))


@pytest.mark.parametrize("covariance_type", TYPES)
def test_dask_fit_equals_in_memory_fit(client, covariance_type):
    X = mixture_data()
    kw = dict(n_components=3, covariance_type=covariance_type, tol=1e-8, max_iter=300, **given_start(covariance_type))
    ref = GaussianMixture(**kw).fit(X)
    ours = GaussianMixture(**kw).fit(as_dask(X))
    assert ref.n_iter_ > 5
    assert_same_model(ours, ref)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random_from_data"])
def test_dask_initialisation_equals_in_memory(client, monkeypatch, init_params):
    # Small data: gathered once and initialised exactly as in memory; large data
    # (here: above a lowered INIT_SAMPLE_MAX): the same random sample of rows.
    X = mixture_data(N=2999)
    kw = dict(n_components=3, init_params=init_params, random_state=3, tol=1e-8, max_iter=300)
    assert_same_model(GaussianMixture(**kw).fit(as_dask(X)), GaussianMixture(**kw).fit(X))
    monkeypatch.setattr(_em, "INIT_SAMPLE_MAX", 500)
    assert_same_model(GaussianMixture(**kw).fit(as_dask(X)), GaussianMixture(**kw).fit(X))


def test_dask_random_init_is_reproducible(client, monkeypatch):
    monkeypatch.setattr(_em, "INIT_SAMPLE_MAX", 500)
    X = as_dask(mixture_data(N=2999))
    a = GaussianMixture(3, init_params="random", random_state=4, max_iter=300).fit(X)
    b = GaussianMixture(3, init_params="random", random_state=4, max_iter=300).fit(X)
    for name in ATTRS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.converged_


def test_dask_sample_weight_float32_and_column_chunks(client):
    X = mixture_data(dtype=np.float32)
    w = np.random.default_rng(2).uniform(0.1, 3.0, len(X))
    # A tolerance above float32's noise in the lower bound (at 1e-8 the stopping
    # iteration depends on how rows are split into blocks).
    kw = dict(n_components=3, random_state=0, tol=1e-4, max_iter=300)
    ref = GaussianMixture(**kw).fit(X, sample_weight=w)
    Xd = da.from_array(X, chunks=(uneven_rows(len(X)), (1, 2)))  # split columns too: rechunked to one
    ours = GaussianMixture(**kw).fit(Xd, sample_weight=da.from_array(w, chunks=500))
    assert ours.means_.dtype == np.float32
    assert_same_model(ours, ref, rtol=1e-5)


def test_dask_inference_is_lazy_and_equal(client):
    X = mixture_data()
    gm = GaussianMixture(3, random_state=0).fit(X)
    Xd = as_dask(X)
    for method in ("score_samples", "predict", "predict_proba"):
        lazy = getattr(gm, method)(Xd)
        assert isinstance(lazy, da.Array), method
        eager = getattr(gm, method)(X)
        assert lazy.shape == eager.shape and lazy.dtype == eager.dtype
        np.testing.assert_allclose(lazy.compute(), eager, rtol=1e-12, atol=1e-300)
    assert gm.score(Xd) == pytest.approx(gm.score(X), rel=1e-12)
    np.testing.assert_array_equal(gm.fit_predict(Xd).compute(), gm.predict(X))
    bad = X.copy()
    bad[1500, 0] = np.nan
    lazy = gm.score_samples(as_dask(bad))  # building the graph reads nothing ...
    with pytest.raises(ValueError, match="Input X contains NaN"):
        lazy.compute()  # ... the block with the NaN raises when computed
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is expecting 3"):
        gm.predict(Xd[:, :2])


def test_dask_bad_input(client):
    X = mixture_data(N=300)
    X[7, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        GaussianMixture(2).fit(as_dask(X, rows=(100, 200)))
    with pytest.raises(ValueError, match="Expected a 2D dask array"):
        GaussianMixture(2).fit(da.ones(10, chunks=5))
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        GaussianMixture(2).fit(da.ones((10, 2), chunks=5), sample_weight=np.ones(9))
    with pytest.raises(ValueError, match="non-negative"):
        GaussianMixture(2).fit(da.ones((10, 2), chunks=5), sample_weight=-np.ones(10))


def test_dask_tasks_use_one_thread_per_worker_thread(client):
    # dask's nanny sets OMP_NUM_THREADS=1 in the workers: one kernel thread per task.
    assert client.submit(_dask.task_threads, pure=False).result() == 1


def test_local_threaded_scheduler_without_a_cluster():
    # The threaded scheduler runs blocks concurrently in Python threads of this process.
    X = mixture_data()
    kw = dict(n_components=3, tol=1e-8, max_iter=300, **given_start("full"))
    with dask.config.set(scheduler="threads"):
        assert_same_model(GaussianMixture(**kw).fit(as_dask(X)), GaussianMixture(**kw).fit(X))


def test_dask_dataframe_like_dask_ml(client):
    import pandas as pd

    X = mixture_data()
    pdf = pd.DataFrame(X, columns=list("abc")).assign(w=np.random.default_rng(0).uniform(0.5, 2, len(X)))
    ddf = dask.dataframe.from_pandas(pdf, npartitions=3)
    kw = dict(n_components=3, tol=1e-8, max_iter=300, **given_start("full"))
    ours = GaussianMixture(**kw).fit(ddf[["a", "b", "c"]])
    assert_same_model(ours, GaussianMixture(**kw).fit(X))
    assert list(ours.feature_names_in_) == ["a", "b", "c"]
    np.testing.assert_array_equal(ours.predict(ddf[["a", "b", "c"]]).compute(), ours.predict(pdf[["a", "b", "c"]]))
    with pytest.raises(ValueError, match="feature names should match"):
        ours.predict(ddf[["c", "b", "a"]])  # the same columns in another order: refused, as sklearn does
    n, ll = len(X), ours.score(pdf[["a", "b", "c"]]) * len(X)
    assert ours.bic(ddf[["a", "b", "c"]]) == pytest.approx(-2 * ll + ours._n_parameters() * np.log(n), rel=1e-12)
    # Weights as a dask Series or a pandas Series, the dask-ml way.
    ref = GaussianMixture(**kw).fit(X, sample_weight=pdf["w"].to_numpy())
    for weights in (ddf["w"], pdf["w"]):
        assert_same_model(GaussianMixture(**kw).fit(ddf[["a", "b", "c"]], sample_weight=weights), ref)


def test_dask_unknown_chunk_sizes_are_left_alone(client):
    X = mixture_data()
    keep = X[:, 0] > -100  # every row, but dask cannot know that
    Xd = as_dask(X)
    masked = Xd[da.from_array(keep, chunks=Xd.chunks[0])]
    assert np.isnan(masked.chunks[0][0])
    kw = dict(n_components=3, tol=1e-8, max_iter=300, **given_start("full"))
    gm = GaussianMixture(**kw).fit(masked)
    assert_same_model(gm, GaussianMixture(**kw).fit(X))
    assert np.isnan(masked.chunks[0][0])  # the caller's array is not modified
    lazy = gm.predict_proba(masked)
    assert isinstance(lazy, da.Array) and np.isnan(lazy.chunks[0][0])  # nothing computed yet
    np.testing.assert_allclose(lazy.compute(), gm.predict_proba(X), rtol=1e-12, atol=1e-300)


def test_workers_warm_their_kernels_with_client_run_and_a_plugin(client):
    # docs/startup.md: fastprob.compile on every worker, directly and as a worker plugin.
    from distributed import WorkerPlugin

    # Two jobs in two new processes, started from dask's daemonic worker processes
    # (which multiprocessing would refuse).
    ran = client.run(fastprob.compile, ["float64"], [3], ["full", "spherical"], processes=2, verbose=False)
    assert len(ran) == 2
    assert all(sorted((j["n_features"], j["covariance_types"]) for j in jobs) == [(3, ("full",)), (5, ("spherical",))]
               for jobs in ran.values())

    class WarmFastprob(WorkerPlugin):
        def setup(self, worker):
            import fastprob

            worker.fastprob_jobs = fastprob.compile(["float64"], [3], ["spherical"], processes=1, verbose=False)

    client.register_plugin(WarmFastprob())
    assert all(client.run(lambda dask_worker: len(dask_worker.fastprob_jobs)).values())
