"""The data-source contract: every RowSource gives the in-memory fit.

Each source kind (array, memmap, list of chunks, function returning chunks,
dask array) is fitted on the same rows, cut into uneven chunks, weighted and
unweighted, with every ``init_params``, both when the rows are few enough to
be gathered for initialisation and when they are not (the initialisation
then samples rows, labels every chunk, or draws seeds through ``take``).
The fitted model must equal the fit of the same rows held in memory.
"""
import numpy as np
import pytest

from fastprob import GaussianMixture, _em, _sources
from fastprob._sources import ArraySource, ChunkSource, MemmapSource, RowSource

# A few fits stop at max_iter before tol=1e-8: the comparison is of the same iterations.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

N, D, K = 600, 2, 3
CUTS = [0, 37, 250, 251, 420, 600]  # uneven chunks, one of a single row
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    centres = np.array([[0.0, 0.0], [5.0, 1.0], [1.0, 6.0]])
    X = centres[rng.integers(0, K, N)] + rng.normal(size=(N, D))
    w = rng.uniform(0.5, 2.0, N)
    w[rng.random(N) < 0.5] = 0.0  # half the rows weigh nothing: seeds must avoid them
    return X, w


def _chunks(X, w):
    return [X[a:b] if w is None else (X[a:b], w[a:b]) for a, b in zip(CUTS[:-1], CUTS[1:])]


def _as_source(kind, X, w, tmp_path, monkeypatch):
    """(X argument, sample_weight argument) of GaussianMixture.fit for one source kind."""
    if kind == "array":
        return X, w
    if kind == "memmap":
        monkeypatch.setattr(_sources, "MEMMAP_CHUNK_BYTES", 8 * D * 97)  # 97-row chunks, a short last one
        mm = np.memmap(tmp_path / "X.f64", dtype=np.float64, mode="w+", shape=X.shape)
        mm[:] = X
        mm.flush()
        return np.memmap(tmp_path / "X.f64", dtype=np.float64, mode="r", shape=X.shape), w
    if kind == "chunk list":
        return _chunks(X, w), None
    if kind == "chunk function":
        return (lambda: iter(_chunks(X, w))), None
    if kind == "dask":
        Xd = da.from_array(X, chunks=(tuple(np.diff(CUTS)), D))
        return Xd, None if w is None else da.from_array(w, chunks=200)
    raise AssertionError(kind)


def _fit(X, w, init, **params):
    gm = GaussianMixture(K, init_params=init, **{"max_iter": 30, "tol": 1e-8, "random_state": 3, **params})
    labels = gm.fit_predict(X, sample_weight=w)
    return gm, np.asarray(labels)


@pytest.mark.parametrize("gathered", [True, False], ids=["gathered", "sampled"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("init", INIT_PARAMS)
@pytest.mark.parametrize("kind", ["memmap", "chunk list", "chunk function", "dask"])
def test_every_source_fits_as_in_memory(kind, init, weighted, gathered, data, tmp_path, monkeypatch):
    X, w = data
    w = w if weighted else None
    if not gathered:  # more rows than the initialisation sample: sampling, labelling passes, redraws
        monkeypatch.setattr(_em, "INIT_SAMPLE_MAX", 150)
    assert (_em.init_sample_rows(D) >= N) == gathered
    expected, expected_labels = _fit(X, w, init)
    Xs, ws = _as_source(kind, X, w, tmp_path, monkeypatch)
    with dask.config.set(scheduler="synchronous"):
        got, labels = _fit(Xs, ws, init)
    assert got.n_iter_ == expected.n_iter_
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(got, name), getattr(expected, name), rtol=1e-9, atol=1e-12,
                                   err_msg=name)
    assert got.lower_bound_ == pytest.approx(expected.lower_bound_, rel=1e-12)
    np.testing.assert_array_equal(labels, expected_labels)


@pytest.mark.parametrize("covariance_type", ["tied", "diag", "spherical"])
@pytest.mark.parametrize("kind", ["memmap", "chunk list", "dask"])
def test_other_covariance_types(kind, covariance_type, data, tmp_path, monkeypatch):
    X, w = data
    monkeypatch.setattr(_em, "INIT_SAMPLE_MAX", 150)
    expected, _ = _fit(X, w, "random", covariance_type=covariance_type)
    Xs, ws = _as_source(kind, X, w, tmp_path, monkeypatch)
    with dask.config.set(scheduler="synchronous"):
        got, _ = _fit(Xs, ws, "random", covariance_type=covariance_type)
    np.testing.assert_allclose(got.covariances_, expected.covariances_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.means_, expected.means_, rtol=1e-9, atol=1e-12)


def test_sources_declare_the_protocol(data, tmp_path, monkeypatch):
    """Every source is a RowSource and answers its facts, take and map_reduce alike."""
    X, w = data
    from fastprob._dask import DaskSource

    sources = [ArraySource(X, w), MemmapSource(_as_source("memmap", X, w, tmp_path, monkeypatch)[0], w),
               ChunkSource(_chunks(X, w)), DaskSource(*_as_source("dask", X, w, tmp_path, monkeypatch))]
    rows = np.array([0, 36, 37, 250, 599])
    stats = []
    for source in sources:
        assert isinstance(source, RowSource)
        assert (source.n_rows, source.n_features, source.dtype, source.weighted) == (N, D, np.float64, True)
        source.scale_weights()
        assert source.total_weight == pytest.approx(N)
        Xr, wr = source.take(rows)
        np.testing.assert_array_equal(Xr, X[rows])
        np.testing.assert_allclose(wr, w[rows] * source.weight_scale)
        with dask.config.set(scheduler="synchronous"):
            stats.append(source.map_reduce(_weighted_sum, 1, True))
    for s in stats:
        np.testing.assert_allclose(s.W, [N], rtol=1e-12)
        np.testing.assert_allclose(s.mean, stats[0].mean, rtol=1e-12)
        assert s.worst_row == stats[0].worst_row


def _weighted_sum(X, sw, rng):
    """One 'component' holding every row: its weight, mean and diagonal scatter."""
    return _em.labelled_chunk_statistics(X, sw, np.zeros(len(X), dtype=np.int64), 1, True)


def test_random_stream_continues_across_chunks(data):
    """map_reduce's rng: chunked sources draw the numbers one in-memory pass draws."""
    X, _ = data
    from fastprob._dask import DaskSource

    def first_draws(source):
        seen = np.full((N, 2), np.nan)

        def record(Xc, sw, rng):
            if len(Xc):  # chunks may run in any order: place each by its first row
                offset = int(np.flatnonzero((X == Xc[0]).all(axis=1))[0])
                seen[offset:offset + len(Xc)] = rng.random_sample((len(Xc), 2))
            return _weighted_sum(Xc, sw, rng)

        with dask.config.set(scheduler="synchronous"):
            source.map_reduce(record, 1, True, random_state=np.random.RandomState(5), draws_per_row=2)
        return seen

    expected = np.random.RandomState(5).random_sample((N, 2))
    np.testing.assert_array_equal(first_draws(ArraySource(X)), expected)
    np.testing.assert_array_equal(first_draws(ChunkSource(_chunks(X, None))), expected)
    np.testing.assert_array_equal(first_draws(DaskSource(da.from_array(X, chunks=(tuple(np.diff(CUTS)), D)))),
                                  expected)


@pytest.mark.parametrize("init", ["kmeans", "random"])
@pytest.mark.parametrize("kind", ["chunk list", "dask"])
def test_empty_chunks_and_partitions_count_for_nothing(kind, init, data, monkeypatch):
    """A filtered DataFrame has empty partitions, a chunk stream may yield an empty chunk."""
    X, w = data
    monkeypatch.setattr(_em, "INIT_SAMPLE_MAX", 150)
    expected, labels = _fit(X, w, init)
    cuts = [0, 100, 100, 350, 350, 600]  # two empty chunks
    if kind == "chunk list":
        Xs, ws = [(X[a:b], w[a:b]) for a, b in zip(cuts[:-1], cuts[1:])], None
    else:
        Xs, ws = da.from_array(X, chunks=(tuple(np.diff(cuts)), D)), da.from_array(w, chunks=200)
    with dask.config.set(scheduler="synchronous"):
        got, got_labels = _fit(Xs, ws, init)
    np.testing.assert_allclose(got.means_, expected.means_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.covariances_, expected.covariances_, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(got_labels, labels)


@pytest.mark.parametrize("kind", ["memmap", "chunk list", "chunk function", "dask"])
def test_random_from_data_finds_rare_positive_rows_in_every_source(kind, data, tmp_path, monkeypatch):
    """Seeds are drawn uniformly among the rows of positive weight, however rare, from any source."""
    X, _ = data
    monkeypatch.setattr(_em, "INIT_SAMPLE_MAX", 150)
    w = np.zeros(N)
    w[[3, 250, 251, 400, 599]] = 1.0
    expected, _ = _fit(X, w, "random_from_data", max_iter=0)
    assert all((np.abs(X[w > 0] - m).max(axis=1) < 1e-12).any() for m in expected.means_)  # seeded at those rows
    Xs, ws = _as_source(kind, X, w, tmp_path, monkeypatch)
    with dask.config.set(scheduler="synchronous"):
        got, _ = _fit(Xs, ws, "random_from_data", max_iter=0)
    np.testing.assert_array_equal(got.means_, expected.means_)
    w[[250, 251, 400, 599]] = 0.0
    Xs, ws = _as_source(kind, X, w, tmp_path, monkeypatch)
    with pytest.raises(ValueError, match="only 1 such rows were found"), dask.config.set(scheduler="synchronous"):
        GaussianMixture(K, init_params="random_from_data").fit(Xs, sample_weight=ws)


@pytest.mark.parametrize("kind", ["memmap", "chunk list", "dask"])
def test_dtype_rule_is_the_same_for_every_source(kind, data, tmp_path, monkeypatch):
    """float16 computes as float32; long double and complex are refused (no silent downcast)."""
    X, _ = data
    X16 = X.astype(np.float16)
    expected = GaussianMixture(K, random_state=0).fit(X16)
    assert expected.means_.dtype == np.float32
    if kind == "memmap":
        Xs = np.memmap(tmp_path / "X.f16", dtype=np.float16, mode="w+", shape=X.shape)
        Xs[:] = X16
    elif kind == "chunk list":
        Xs = [X16[:250], X16[250:]]
    else:
        Xs = da.from_array(X16, chunks=(200, D))
    with dask.config.set(scheduler="synchronous"):
        got = GaussianMixture(K, random_state=0).fit(Xs)
    assert got.means_.dtype == np.float32
    np.testing.assert_allclose(got.means_, expected.means_, rtol=1e-5)
    if kind == "chunk list":
        with pytest.raises(TypeError, match="Chunk 0 has dtype complex128, which fastprob cannot compute in"):
            GaussianMixture(K).fit([X.astype(complex)])
        with pytest.raises(TypeError, match="Chunk 1 has dtype float128"):
            GaussianMixture(K).fit([X[:300], X[300:].astype(np.longdouble)])
    if kind == "dask":
        with pytest.raises(TypeError, match="dask array has dtype complex128, which fastprob cannot compute in"):
            GaussianMixture(K).fit(da.from_array(X.astype(complex), chunks=(200, D)))
