"""Many mixtures per pass: n_init restarts and select_mixture against fits run alone."""
import copy
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastprob
from fastprob import _em, _runs
from fastprob.estimator import GaussianMixture

TYPES = ("full", "tied", "diag", "spherical")


def blobs(n=3000, d=3, k=4, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)) * 4
    X = centres[rng.integers(k, size=n)] + rng.standard_normal((n, d)) * rng.uniform(0.5, 1.5, size=d)
    return np.ascontiguousarray(X)


def same_fit(a, b):
    """Two fitted GaussianMixtures with identical parameters and EM history, bit for bit."""
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.n_iter_ == b.n_iter_ and a.converged_ == b.converged_
    assert a.lower_bound_ == b.lower_bound_ and a.lower_bounds_ == b.lower_bounds_


@pytest.fixture
def runs_alone(monkeypatch):
    """Make every fit also advance each of its EM runs alone first, and record both ends."""
    pairs = []
    real = _runs.advance

    def advance(source, runs, on_error=None):
        alone = []
        for run in runs:
            twin = copy.deepcopy(run)
            twin.settings.report = type("Quiet", (), {"iteration": lambda *a: None, "init_end": lambda *a, **k: None})()
            real(source, [twin])
            alone.append(twin)
        real(source, runs, on_error)
        pairs.extend(zip(runs, alone))

    monkeypatch.setattr(_runs, "advance", advance)
    return pairs


def assert_runs_equal_alone(pairs):
    assert pairs
    for together, alone in pairs:
        assert together.n_iter == alone.n_iter and together.converged == alone.converged
        assert together.lower_bounds == alone.lower_bounds
        for name in ("weights", "means", "covariances"):
            np.testing.assert_array_equal(getattr(together.comps, name), getattr(alone.comps, name))


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_restarts_together_equal_each_restart_alone(runs_alone, covariance_type):
    X = blobs()
    gm = GaussianMixture(4, covariance_type=covariance_type, n_init=4, init_params="random_from_data",
                         random_state=0, tol=1e-6).fit(X)
    assert len(runs_alone) == 4 and len({r.n_iter for r, _ in runs_alone}) > 1  # they stop at different passes
    assert_runs_equal_alone(runs_alone)
    best = max((r for r, _ in runs_alone), key=lambda r: r.lower_bound)
    np.testing.assert_array_equal(gm.means_, best.comps.means)


def test_first_restart_is_the_single_initialisation_fit():
    # Restart 0 of n_init=3 draws what n_init=1 draws, and re-seeds from its own copy of the random state.
    X = blobs(seed=3)
    events = []
    GaussianMixture(4, n_init=3, random_state=1, tol=1e-8).fit(X, callback=events.append)
    one = GaussianMixture(4, n_init=1, random_state=1, tol=1e-8).fit(X)
    first = [e.lower_bound for e in events if e.event == "iteration" and e.init == 0]
    assert first == one.lower_bounds_


def test_restarts_on_one_and_two_threads(restore_threads):
    X = blobs(n=20000, d=5, k=5, seed=2)
    fits = []
    for n in (1, 2):
        with fastprob.set_num_threads(n):
            fits.append(GaussianMixture(5, n_init=3, random_state=0).fit(X))
    same_fit(*fits)


def test_restarts_out_of_core_equal_in_memory(tmp_path):
    X = blobs(n=4000, seed=4)
    np.save(tmp_path / "X.npy", X)
    kw = dict(n_components=3, n_init=3, random_state=0, init_params="k-means++")
    mem = GaussianMixture(**kw).fit(X)
    mm = GaussianMixture(**kw).fit(np.load(tmp_path / "X.npy", mmap_mode="r"))
    chunks = GaussianMixture(**kw).fit([X[:1500], X[1500:]])
    for other in (mm, chunks):
        np.testing.assert_allclose(other.means_, mem.means_, rtol=1e-10, atol=1e-12)
        assert other.n_iter_ == mem.n_iter_


# ---------------------------------------------------------------------- #
# select_mixture
# ---------------------------------------------------------------------- #
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_every_candidate_equals_its_standalone_fit():
    X = blobs(n=2500)
    best, table = fastprob.select_mixture(X, n_components=range(1, 6), covariance_type=TYPES, n_init=2,
                                          random_state=0)
    assert len(table) == 5 * 4
    assert [(r["n_components"], r["covariance_type"]) for r in table] == [(k, t) for k in range(1, 6) for t in TYPES]
    for row in table:
        alone = GaussianMixture(int(row["n_components"]), covariance_type=str(row["covariance_type"]), n_init=2,
                                random_state=0).fit(X)
        same_fit(row["model"], alone)
        assert row["n_iter"] == alone.n_iter_ and row["converged"] == alone.converged_
        assert row["n_parameters"] == alone._n_parameters()
        assert row["bic"] == pytest.approx(alone.bic(X), rel=1e-12)
        assert row["aic"] == pytest.approx(alone.aic(X), rel=1e-12)
        assert row["log_likelihood"] == pytest.approx(alone.score(X) * len(X), rel=1e-12)
        assert row["error"] == ""
    assert best is table["model"][np.argmin(table["bic"])]
    assert best.n_components == 4  # the data's four blobs
    aic_best, _ = fastprob.select_mixture(X, n_components=range(1, 6), covariance_type=TYPES, n_init=2,
                                          random_state=0, criterion="aic")
    assert aic_best.aic(X) == pytest.approx(table["aic"].min(), rel=1e-12)


def test_candidates_share_their_passes_over_the_data(monkeypatch):
    # Out of core, initialising on a sample: the passes are about the slowest candidate's
    # iterations plus a constant, where fitting the candidates one by one reads the data for each.
    X = blobs(n=6000, d=2, k=3, seed=5)
    monkeypatch.setattr(_em, "INIT_SAMPLE_MAX", 1000)
    passes = [0]

    def chunks():
        passes[0] += 1
        return (X[r0:r0 + 1000] for r0 in range(0, len(X), 1000))

    best, table = fastprob.select_mixture(chunks, n_components=range(1, 7), covariance_type=("full", "diag"),
                                          n_init=2, random_state=0)
    shared = passes[0]
    # validation + one take per wave of restarts + the nearest-centre pass + iterations + scoring
    assert shared <= table["n_iter"].max() + 1 + 2 + 1 + 1
    passes[0] = 0
    for row in table:
        alone = GaussianMixture(int(row["n_components"]), covariance_type=str(row["covariance_type"]), n_init=2,
                                random_state=0).fit(chunks)
        np.testing.assert_allclose(alone.means_, row["model"].means_, rtol=1e-12, atol=1e-12)
        assert alone.n_iter_ == row["n_iter"]
    assert passes[0] > 3 * shared
    mem_best, mem_table = fastprob.select_mixture(X, n_components=range(1, 7), covariance_type=("full", "diag"),
                                                  n_init=2, random_state=0)
    np.testing.assert_allclose(mem_table["bic"], table["bic"], rtol=1e-10)
    np.testing.assert_array_equal(mem_table["n_iter"], table["n_iter"])


def test_select_from_memmap_and_dask_equals_in_memory(tmp_path):
    X = blobs(n=3000, seed=6)
    np.save(tmp_path / "X.npy", X)
    kw = dict(n_components=[1, 2, 3, 4], covariance_type=("full", "spherical"), random_state=0)
    _, mem = fastprob.select_mixture(X, **kw)
    _, mm = fastprob.select_mixture(np.load(tmp_path / "X.npy", mmap_mode="r"), **kw)
    np.testing.assert_allclose(mm["bic"], mem["bic"], rtol=1e-10)
    da = pytest.importorskip("dask.array")
    _, lazy = fastprob.select_mixture(da.from_array(X, chunks=(700, 3)), **kw)
    np.testing.assert_allclose(lazy["bic"], mem["bic"], rtol=1e-10)
    np.testing.assert_array_equal(lazy["n_iter"], mem["n_iter"])


def test_select_on_one_and_two_threads(restore_threads):
    X = blobs(n=20000, d=4, k=3, seed=7)
    results = []
    for n in (1, 2):
        with fastprob.set_num_threads(n):
            results.append(fastprob.select_mixture(X, n_components=range(1, 5), random_state=0))
    (b1, t1), (b2, t2) = results
    same_fit(b1, b2)
    for name in ("log_likelihood", "bic", "aic", "n_iter", "init"):
        np.testing.assert_array_equal(t1[name], t2[name])


def test_sample_weights_and_float32():
    X = blobs(n=2000, seed=8).astype(np.float32)
    w = np.random.default_rng(0).uniform(0.2, 2.0, len(X))
    best, table = fastprob.select_mixture(X, n_components=[2, 3, 4], covariance_type="diag", sample_weight=w,
                                          random_state=0)
    for row in table:
        alone = GaussianMixture(int(row["n_components"]), covariance_type="diag", random_state=0).fit(
            X, sample_weight=w)
        same_fit(row["model"], alone)
        assert row["model"].means_.dtype == np.float32
        loglik = float(np.dot(w, alone.score_samples(X).astype(np.float64)))
        assert row["log_likelihood"] == pytest.approx(loglik, rel=1e-5)
        p = alone._n_parameters()
        assert row["bic"] == pytest.approx(-2 * loglik + p * np.log(w.sum()), rel=1e-5)


def test_integer_weights_give_the_criteria_of_repeated_rows():
    X = blobs(n=600, d=2, k=3, seed=15)
    w = np.random.default_rng(2).integers(0, 4, len(X))  # zeros included
    kw = dict(n_components=[1, 2, 3], covariance_type="full", random_state=0, tol=1e-10, max_iter=500)
    _, weighted = fastprob.select_mixture(X, sample_weight=w, **kw)
    _, repeated = fastprob.select_mixture(np.repeat(X, w, axis=0), **kw)
    np.testing.assert_allclose(weighted["bic"], repeated["bic"], rtol=1e-6)
    np.testing.assert_allclose(weighted["aic"], repeated["aic"], rtol=1e-6)


def test_missing_values_marginalize():
    X = blobs(n=2000, seed=9)
    X[np.random.default_rng(1).random(X.shape) < 0.1] = np.nan
    best, table = fastprob.select_mixture(X, n_components=[2, 3, 4], covariance_type="full", random_state=0,
                                          missing="marginalize")
    for row in table:
        alone = GaussianMixture(int(row["n_components"]), random_state=0, missing="marginalize").fit(X)
        same_fit(row["model"], alone)
        assert row["bic"] == pytest.approx(alone.bic(X), rel=1e-12)


def test_a_candidate_that_fails_is_reported_and_the_others_go_on():
    X = np.repeat(blobs(n=30, d=2, k=2, seed=10), 1, axis=0)
    with pytest.warns(UserWarning, match=r"1 candidate\(s\) could not be fitted.*n_components=40"):
        best, table = fastprob.select_mixture(X, n_components=[1, 2, 40], covariance_type="full", random_state=0)
    failed = table[table["n_components"] == 40][0]
    assert "n_samples >= n_components" in failed["error"] and failed["bic"] == np.inf
    assert failed["model"] is None and np.isnan(failed["log_likelihood"])
    assert best.n_components in (1, 2)
    with pytest.raises(ValueError, match=r"No candidate could be fitted: n_components=40.*n_samples >= n_components"):
        fastprob.select_mixture(X, n_components=[40], covariance_type="full")


def test_missing_values_a_candidate_with_too_few_observed_values_fails_alone():
    X = blobs(n=20, d=2, k=2, seed=16)
    X[3:, 0] = np.nan  # column 0 observed in 3 rows only
    with pytest.warns(UserWarning, match=r"n_components=4"):
        best, table = fastprob.select_mixture(X, n_components=[1, 2, 4], covariance_type="diag",
                                              missing="marginalize", random_state=0)
    assert "Column 0 of X has only 3 observed value(s) but n_components = 4" in table[2]["error"]
    assert table[0]["error"] == table[1]["error"] == "" and best.n_components in (1, 2)
    with pytest.raises(ValueError, match="No candidate could be fitted: n_components=4"):
        fastprob.select_mixture(X, n_components=[4], covariance_type="diag", missing="marginalize")


def test_messages_name_the_first_candidates_and_count_the_rest():
    X = blobs(n=20, d=2, k=2, seed=17)
    with pytest.raises(ValueError) as info:
        fastprob.select_mixture(X, n_components=range(30, 60), covariance_type="full")
    assert str(info.value).endswith("; and 20 more") and len(str(info.value)) < 3000


def test_convergence_warnings_name_the_candidate():
    X = blobs(n=1000)
    with pytest.warns(ConvergenceWarning, match=r"n_components=3, covariance_type='diag': Best performing"):
        fastprob.select_mixture(X, n_components=[3], covariance_type="diag", max_iter=1, random_state=0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_components=[]), "n_components must be a positive integer or an iterable of them"),
    (dict(n_components=[0, 1]), "n_components must be a positive integer"),
    (dict(n_components=2.5), "n_components must be a positive integer"),
    (dict(covariance_type="ful"), "covariance_type must be one of"),
    (dict(covariance_type=["full", "banana"]), "covariance_type must be one of"),
    (dict(criterion="loglik"), r"criterion must be one of \('bic', 'aic'\), got 'loglik'"),
    (dict(warm_start=True), "warm_start=True continues one fitted model"),
    (dict(tol=-1.0), "The 'tol' parameter of GaussianMixture must be"),
    (dict(callback=3), "callback must be a callable"),
    (dict(n_components=[2, 3, 2]), r"n_components lists \[2\] more than once"),
    (dict(covariance_type=("full", "full")), r"covariance_type lists \['full'\] more than once"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        fastprob.select_mixture(blobs(n=100), **kwargs)


def test_random_state_instance_gives_each_candidate_a_seed():
    X = blobs(n=1500, seed=11)
    rs = np.random.RandomState(5)
    seeds = np.random.RandomState(5).randint(np.iinfo(np.int32).max, size=3)
    _, table = fastprob.select_mixture(X, n_components=[2, 3, 4], covariance_type="full", random_state=rs)
    for row, seed in zip(table, seeds):
        same_fit(row["model"], GaussianMixture(int(row["n_components"]), random_state=int(seed)).fit(X))


def test_inputs_are_not_modified_and_the_callback_hears_every_candidate():
    X = blobs(n=1000, seed=12)
    before = X.copy()
    seen = set()
    fastprob.select_mixture(X, n_components=[1, 2], covariance_type=("full", "diag"), random_state=0,
                            callback=lambda p: seen.add((p.n_components, p.covariance_type)))
    np.testing.assert_array_equal(X, before)
    assert seen == {(1, "full"), (1, "diag"), (2, "full"), (2, "diag")}


def test_warnings_from_candidates_are_not_swallowed_twice():
    X = blobs(n=500, seed=13)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fastprob.select_mixture(X, n_components=[2, 3], covariance_type="full", max_iter=1, random_state=0)
    names = [str(w.message).split(":")[0] for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert sorted(names) == ["n_components=2, covariance_type='full'", "n_components=3, covariance_type='full'"]


@pytest.mark.parametrize("diagonal", [False, True])
def test_nearest_centre_pass_labels_every_row_by_its_nearest_centre(diagonal):
    # k-means' labelling of data above the initialisation sample: several sets of centres in one pass.
    X = blobs(n=5000, d=4, k=5, seed=14)
    rng = np.random.default_rng(0)
    centre_sets = [X[rng.choice(len(X), k, replace=False)] for k in (1, 3, 5)]
    batch = _em.centre_chunk_statistics(centre_sets, [diagonal] * 3, X, None)
    for centres, stats in zip(centre_sets, batch):
        labels = np.argmin(((X[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
        for k in range(len(centres)):
            rows = X[labels == k]
            assert stats.W[k] == len(rows)
            np.testing.assert_allclose(stats.mean[k], rows.mean(axis=0), rtol=1e-12, atol=1e-12)
            scatter = (rows - rows.mean(axis=0)).T @ (rows - rows.mean(axis=0))
            np.testing.assert_allclose(stats.M2[k], np.diag(scatter) if diagonal else scatter, rtol=1e-10, atol=1e-9)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_memory_does_not_grow_with_the_rows_of_a_chunk_source(monkeypatch):
    # O(chunk + candidates·K·d²): the peak of a shared fit of a chunk stream does not depend on its length.
    import tracemalloc

    monkeypatch.setattr(_em, "INIT_SAMPLE_MAX", 5000)
    centres = np.random.default_rng(0).normal(size=(3, 4)) * 5

    def stream(n_chunks):
        def chunks():
            for i in range(n_chunks):
                rng = np.random.default_rng(i)
                yield centres[rng.integers(3, size=20000)] + rng.standard_normal((20000, 4))
        return chunks

    peaks = []
    for n_chunks in (5, 20):
        tracemalloc.start()
        fastprob.select_mixture(stream(n_chunks), n_components=range(1, 5), covariance_type=("full", "diag"),
                                n_init=2, random_state=0, max_iter=3)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    chunk_bytes = 20000 * 4 * 8
    assert peaks[1] < 1.25 * peaks[0] + chunk_bytes, peaks  # 4x the rows: about the same peak


def test_a_raising_callback_stops_the_search_instead_of_failing_a_candidate():
    X = blobs(n=500, seed=18)

    def callback(progress):
        if progress.event == "iteration":
            raise KeyboardInterrupt("stop")

    with pytest.raises(KeyboardInterrupt, match="stop"):
        fastprob.select_mixture(X, n_components=[1, 2], random_state=0, callback=callback)

    def failing(progress):
        if progress.event == "iteration":
            raise RuntimeError("the user's callback")

    with pytest.raises(RuntimeError, match="the user's callback"):
        fastprob.select_mixture(X, n_components=[1, 2], random_state=0, callback=failing)


def test_a_failing_initialisation_stops_the_restarts_that_follow(monkeypatch):
    calls = []
    real = _em.init_plan

    def init_plan(*args, **kwargs):
        calls.append(1)
        raise ValueError("no start")
        yield  # (a generator, as the real one)

    monkeypatch.setattr(_em, "init_plan", init_plan)
    with pytest.raises(ValueError, match="no start"):
        GaussianMixture(2, n_init=5, random_state=0).fit(blobs(n=300, seed=19))
    assert len(calls) == 1
    assert real is not init_plan
