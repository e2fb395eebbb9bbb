"""EM on data that need not fit in memory: numpy.memmap, chunk streams and partial_fit."""
import os
import tracemalloc
import warnings

import numpy as np
import pytest
from reference import incremental_em_full, random_mixture
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGM

import fastprob
from fastprob import GaussianMixture, _em, _sources

TYPES = ["full", "tied", "diag", "spherical"]
INITS = ["kmeans", "k-means++", "random", "random_from_data"]
ATTRS = ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"]


def mixture_data(N=3000, d=3, K=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    weights, means, covs = random_mixture(rng, K, d, "full", spread=3.0)
    X = fastprob.gmm_sample(weights, means, covs, N, random_state=seed)[0]
    return X.astype(dtype)


def given_start(covariance_type, K=3, d=3, seed=5):
    rng = np.random.default_rng(seed)
    weights, means, covs = random_mixture(rng, K, d, covariance_type, spread=2.0)
    precisions = np.linalg.inv(covs) if covariance_type in ("full", "tied") else 1 / covs
    return dict(weights_init=weights, means_init=means, precisions_init=precisions)


def assert_same_model(a, b, rtol=1e-10):
    for name in ATTRS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * np.abs(y).max(), err_msg=name)
    assert a.n_iter_ == b.n_iter_ and a.converged_ == b.converged_
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)


def write_memmap(tmp_path, X, name="X.dat"):
    path = tmp_path / name
    mm = np.memmap(path, dtype=X.dtype, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    del mm
    return np.memmap(path, dtype=X.dtype, mode="r", shape=X.shape)


@pytest.fixture
def small_chunks(monkeypatch):
    """Memmaps read in ~24 KiB chunks: many chunks, the last one short."""
    monkeypatch.setattr(_sources, "MEMMAP_CHUNK_BYTES", 24 * 1024)


# --------------------------------------------------------------------------- #
# memmap
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("covariance_type", TYPES)
def test_memmap_fit_equals_in_memory_fit(tmp_path, small_chunks, covariance_type):
    X = mixture_data()
    mm = write_memmap(tmp_path, X)
    kw = dict(n_components=3, covariance_type=covariance_type, tol=1e-8, max_iter=300, **given_start(covariance_type))
    ours = GaussianMixture(**kw).fit(mm)
    ref = GaussianMixture(**kw).fit(X)
    assert ref.n_iter_ > 5
    assert_same_model(ours, ref)
    assert ours.n_features_in_ == 3
    np.testing.assert_array_equal(np.asarray(mm), X)  # input untouched


@pytest.mark.parametrize("init_params", INITS)
def test_memmap_bounded_sample_init_equals_in_memory(tmp_path, small_chunks, monkeypatch, init_params):
    # Above INIT_SAMPLE_MAX rows the initialisation reads only a random sample:
    # the same sample (and random stream) as the in-memory fit.
    monkeypatch.setattr(_em, "INIT_SAMPLE_MAX", 500)
    X = mixture_data(N=2600)
    mm = write_memmap(tmp_path, X)
    kw = dict(n_components=3, init_params=init_params, random_state=7, tol=1e-8, max_iter=300)
    assert_same_model(GaussianMixture(**kw).fit(mm), GaussianMixture(**kw).fit(X))


def test_memmap_float32_sample_weight_and_fit_predict(tmp_path, small_chunks):
    X = mixture_data(dtype=np.float32)
    w = np.random.default_rng(1).uniform(0.1, 3.0, len(X))
    mm = write_memmap(tmp_path, X)
    kw = dict(n_components=3, random_state=0, tol=1e-4, max_iter=300)  # above float32 noise
    ours, ref = GaussianMixture(**kw), GaussianMixture(**kw)
    labels = ours.fit_predict(mm, sample_weight=w)
    ref.fit(X, sample_weight=w)
    assert ours.means_.dtype == np.float32
    assert_same_model(ours, ref, rtol=1e-5)
    np.testing.assert_array_equal(labels, ref.predict(X))


def test_memmap_memory_does_not_grow_with_rows(tmp_path, small_chunks):
    # Peak of Python-tracked allocations (numpy buffers included) during fit:
    # about one chunk plus the per-block statistics, whatever the file's size.
    peaks = []
    for N in (40_000, 160_000):
        X = mixture_data(N=N, d=4)
        mm = write_memmap(tmp_path, X, f"X{N}.dat")
        gm = GaussianMixture(3, max_iter=3, tol=0, **given_start("full", d=4))
        tracemalloc.start()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm.fit(mm)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    size = 160_000 * 4 * 8
    assert peaks[1] < 0.1 * size, peaks
    assert peaks[1] < peaks[0] + 256 * 1024, peaks


def _rss_file_bytes():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("RssFile:"))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux's /proc/self/status")
@pytest.mark.parametrize("view", ["whole", "first columns", "every other column", "every other row"])
def test_memmap_pages_are_released_after_each_chunk(tmp_path, monkeypatch, view):
    # Without releasing them, every page of the file read during the fit would
    # stay mapped into the process (RssFile would grow by the file's size).  A
    # strided view (still a numpy.memmap) touches its rows' whole stride.
    monkeypatch.setattr(_sources, "MEMMAP_CHUNK_BYTES", 2 * 2**20)
    X = mixture_data(N=1_000_000, d=8)  # 61 MiB
    mm = write_memmap(tmp_path, X)
    mm = {"whole": mm, "first columns": mm[:, :4], "every other column": mm[:, ::2],
          "every other row": mm[::2]}[view]
    assert isinstance(mm, np.memmap)
    d = mm.shape[1]
    start = given_start("full", d=8)
    start = {"weights_init": start["weights_init"], "means_init": start["means_init"][:, :d],
             "precisions_init": np.stack([np.eye(d)] * 3)}
    gm = GaussianMixture(3, max_iter=1, **start)
    before = _rss_file_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(mm)
    assert _rss_file_bytes() - before < 0.25 * X.nbytes
    expected = GaussianMixture(3, max_iter=1, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        expected.fit(np.array(mm))
    np.testing.assert_allclose(gm.means_, expected.means_, rtol=1e-10)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux's /proc/self/status")
def test_memmap_sample_is_gathered_without_keeping_the_file_resident(tmp_path, monkeypatch):
    # The k-means sample (100 000 random rows) touches nearly every page of the
    # file; they are gathered chunk by chunk and each chunk's pages released.
    monkeypatch.setattr(_sources, "MEMMAP_CHUNK_BYTES", 2 * 2**20)
    X = mixture_data(N=1_000_000, d=8)  # 61 MiB, 64 rows per 4 KiB page
    mm = write_memmap(tmp_path, X)
    rows = _em.sample_rows(np.random.RandomState(0), len(X), 100_000)
    before = _rss_file_bytes()
    taken, weights = _sources.MemmapSource(mm).take(rows)
    assert _rss_file_bytes() - before < 0.25 * X.nbytes
    np.testing.assert_array_equal(taken, X[rows])
    assert weights is None and taken.flags.c_contiguous


def test_memmap_bad_input(tmp_path):
    X = mixture_data(N=100)
    X[17, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        GaussianMixture(2).fit(write_memmap(tmp_path, X))
    flat = write_memmap(tmp_path, np.ones(10), "flat.dat")
    with pytest.raises(ValueError, match="Expected a 2D memmap"):
        GaussianMixture(2).fit(flat)
    one = write_memmap(tmp_path, np.ones((1, 3)), "one.dat")
    with pytest.raises(ValueError, match="minimum of 2"):
        GaussianMixture(1).fit(one)


# --------------------------------------------------------------------------- #
# Chunk streams
# --------------------------------------------------------------------------- #
def uneven_chunks(X, w=None, sizes=(700, 1300, 1, 400)):
    """Split rows into chunks of the given sizes, cycling, as (X, w) pairs when w is given."""
    out, i, j = [], 0, 0
    while i < len(X):
        n = sizes[j % len(sizes)]
        out.append(X[i:i + n] if w is None else (X[i:i + n], w[i:i + n]))
        i, j = i + n, j + 1
    return out


@pytest.mark.parametrize("covariance_type", TYPES)
def test_chunk_stream_equals_in_memory_fit(covariance_type):
    X = mixture_data()
    kw = dict(n_components=3, covariance_type=covariance_type, tol=1e-8, max_iter=300, **given_start(covariance_type))
    ref = GaussianMixture(**kw).fit(X)
    chunks = uneven_chunks(X)
    assert_same_model(GaussianMixture(**kw).fit(chunks), ref)           # a list of arrays
    assert_same_model(GaussianMixture(**kw).fit(lambda: iter(chunks)), ref)  # a callable


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("init_params", INITS)
def test_chunk_stream_weights_and_sampled_init_equal_in_memory(monkeypatch, init_params):
    monkeypatch.setattr(_em, "INIT_SAMPLE_MAX", 500)
    X = mixture_data(N=2600)
    w = np.random.default_rng(3).uniform(0.1, 3.0, len(X))
    kw = dict(n_components=3, init_params=init_params, random_state=7, tol=1e-8, max_iter=300)
    ref = GaussianMixture(**kw).fit(X, sample_weight=w)
    calls = []

    def read():
        calls.append(1)
        return iter(uneven_chunks(X, w))

    ours = GaussianMixture(**kw).fit(read)
    assert_same_model(ours, ref)
    assert len(calls) >= ours.n_iter_ + 1  # one pass per iteration, plus validation and init


def test_chunk_stream_small_data_is_initialised_in_memory_exactly():
    X = mixture_data(N=900)
    kw = dict(n_components=3, random_state=0, tol=1e-8)
    ours, ref = GaussianMixture(**kw), GaussianMixture(**kw)
    labels = ours.fit_predict(uneven_chunks(X))
    assert_same_model(ours, ref.fit(X))
    np.testing.assert_array_equal(labels, ref.predict(X))


def test_chunk_stream_pairs_as_lists_dataframes_and_feature_names():
    import pandas as pd

    X = mixture_data(N=1200)
    w = np.random.default_rng(4).uniform(0.5, 2.0, len(X))
    kw = dict(n_components=3, random_state=0, tol=1e-8, max_iter=500)
    ref = GaussianMixture(**kw).fit(X, sample_weight=w)
    as_lists = [[c, cw] for c, cw in uneven_chunks(X, w)]
    assert_same_model(GaussianMixture(**kw).fit(as_lists), ref)
    frames = [pd.DataFrame(c, columns=list("xyz")) for c in uneven_chunks(X)]
    gm = GaussianMixture(**kw).fit(frames)
    assert list(gm.feature_names_in_) == ["x", "y", "z"]
    plain = GaussianMixture(**kw).fit(X)
    assert_same_model(gm, plain)
    np.testing.assert_array_equal(gm.predict(pd.DataFrame(X, columns=list("xyz"))), plain.predict(X))


def test_sample_rows_is_bounded_and_uniform():
    rs = np.random.RandomState(0)
    tracemalloc.start()
    rows = _em.sample_rows(rs, 10**12, 100_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 2**20  # a permutation of 10**12 rows would need 8 TB
    assert rows.size == 100_000 and np.all(np.diff(rows) > 0) and rows[0] >= 0 and rows[-1] < 10**12
    counts = np.bincount(_em.sample_rows(rs, 10**6, 100_000) // 100_000, minlength=10)
    assert np.all(np.abs(counts - 10_000) < 500), counts  # 5 sigma
    # Small N: numpy's choice, the draw sklearn makes.
    np.testing.assert_array_equal(_em.sample_rows(np.random.RandomState(1), 50, 5, ordered=False),
                                  np.random.RandomState(1).choice(50, size=5, replace=False))


def test_chunk_stream_int_and_float32_chunks():
    X = np.round(mixture_data(N=1200) * 10)
    chunks = uneven_chunks(X, sizes=(300,))
    ints = [c.astype(np.int64) for c in chunks]
    kw = dict(n_components=2, random_state=0)
    assert GaussianMixture(**kw).fit(ints).means_.dtype == np.float64
    f32 = [c.astype(np.float32) for c in chunks]
    assert GaussianMixture(**kw).fit(f32).means_.dtype == np.float32
    mixed = f32[:2] + chunks[2:]
    assert GaussianMixture(**kw).fit(mixed).means_.dtype == np.float64  # float32 only if every chunk is


def test_chunk_stream_errors():
    X = mixture_data(N=400)
    chunks = uneven_chunks(X, sizes=(100,))
    with pytest.raises(TypeError, match="one-shot iterator.*function that returns a new iterator"):
        GaussianMixture(2).fit(c for c in chunks)
    with pytest.raises(ValueError, match="Chunk 2 has 2 features, but the first chunk has 3"):
        GaussianMixture(2).fit(chunks[:2] + [chunks[2][:, :2]])
    bad = [c.copy() for c in chunks]
    bad[3][5, 0] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        GaussianMixture(2).fit(bad)
    with pytest.raises(ValueError, match="must be 2-D"):
        GaussianMixture(2).fit([chunks[0], chunks[1][0]])
    with pytest.raises(ValueError, match="sample_weight cannot be given with chunks"):
        GaussianMixture(2).fit(chunks, sample_weight=np.ones(400))
    with pytest.raises(ValueError, match="gave no chunks"):
        GaussianMixture(2).fit(lambda: iter([]))
    with pytest.raises(ValueError, match="sample weights of chunk 1 have shape"):
        GaussianMixture(2).fit([(chunks[0], np.ones(100)), (chunks[1], np.ones(3))])
    with pytest.raises(ValueError, match="give \\(X, sample_weight\\) pairs for all chunks or for none"):
        GaussianMixture(2).fit([(chunks[0], np.ones(100)), chunks[1]])
    with pytest.raises(TypeError, match="returned one array .* must return an iterable of 2-D chunks"):
        GaussianMixture(2).fit(lambda: X)
    with pytest.raises(TypeError, match="Chunk 0 is a sparse matrix"):
        from scipy import sparse
        GaussianMixture(2).fit([sparse.csr_matrix(c) for c in chunks])
    with pytest.raises(ValueError, match="Chunk 1 has columns \\['b', 'a', 'c'\\], but the first chunk has"):
        import pandas as pd
        GaussianMixture(2).fit([pd.DataFrame(chunks[0], columns=list("abc")),
                                pd.DataFrame(chunks[1], columns=list("bac"))])
    passes = []

    def shrinking():  # a source that loses rows after its first pass
        passes.append(1)
        return iter(chunks if len(passes) == 1 else chunks[:-1])

    with pytest.raises(ValueError, match="same data on every pass"):
        GaussianMixture(2, random_state=0).fit(shrinking)


# --------------------------------------------------------------------------- #
# partial_fit
# --------------------------------------------------------------------------- #
def test_partial_fit_on_all_rows_is_one_em_iteration_like_sklearn():
    X = mixture_data()
    start = given_start("full")
    sk = SkGM(3, max_iter=1, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X)
    ours = GaussianMixture(3, **start).partial_fit(X)
    for name in ATTRS:
        np.testing.assert_allclose(getattr(ours, name), getattr(sk, name), rtol=1e-9, err_msg=name)
    np.testing.assert_allclose(ours.lower_bound_, sk.lower_bound_, rtol=1e-12)
    assert ours.n_iter_ == 1 and ours.n_samples_seen_ == len(X) and ours.converged_ is False


def test_partial_fit_chunks_equal_reference_incremental_em():
    X = mixture_data()
    start = given_start("full")
    weights, means = start["weights_init"], start["means_init"]
    covs = np.linalg.inv(start["precisions_init"])
    gm = GaussianMixture(3, reg_covar=1e-6, **start)
    chunks = uneven_chunks(X, sizes=(500, 1100, 900))
    for i, chunk in enumerate(chunks, 1):
        gm.partial_fit(chunk)
        w_ref, m_ref, c_ref = incremental_em_full(chunks[:i], weights, means, covs, 1e-6)
        np.testing.assert_allclose(gm.weights_, w_ref, rtol=1e-9)
        np.testing.assert_allclose(gm.means_, m_ref, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(gm.covariances_, c_ref, rtol=1e-8, atol=1e-12)
        assert gm.n_iter_ == i and gm.n_samples_seen_ == sum(len(c) for c in chunks[:i])
        assert len(gm.lower_bounds_) == i
        gm.predict(chunk)  # usable after every call


def test_partial_fit_epochs_approach_the_batch_fit():
    # One pass of incremental EM already lands near the maximum likelihood;
    # further passes keep closing the gap (slowly: the statistics of earlier
    # passes, computed with older parameters, stay in the sums).
    X = mixture_data(N=4000)
    batch = GaussianMixture(3, random_state=0, tol=1e-8, max_iter=500).fit(X)
    gm = GaussianMixture(3, random_state=0)
    gaps = []
    for _ in range(5):
        for chunk in uneven_chunks(X, sizes=(800,)):
            gm.partial_fit(chunk)
        gaps.append(batch.score(X) - gm.score(X))
    assert 0 <= gaps[-1] < gaps[0] < 0.02, gaps
    assert all(b < a for a, b in zip(gaps, gaps[1:])), gaps


def test_partial_fit_after_fit_continues_from_fits_statistics(tmp_path):
    # fit (one EM iteration from a given start) then partial_fit(chunk) is
    # incremental EM over [X, chunk]: the chunk refines the fitted model.
    X = mixture_data()
    start = given_start("full")
    covs = np.linalg.inv(start["precisions_init"])
    gm = GaussianMixture(3, max_iter=1, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X)
    assert gm.n_samples_seen_ == len(X)
    gm.save(tmp_path / "m.npz")
    chunk = X[:500] + 0.1
    gm.partial_fit(chunk)
    w_ref, m_ref, c_ref = incremental_em_full([X, chunk], start["weights_init"], start["means_init"], covs, 1e-6)
    np.testing.assert_allclose(gm.weights_, w_ref, rtol=1e-9)
    np.testing.assert_allclose(gm.means_, m_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gm.covariances_, c_ref, rtol=1e-8, atol=1e-12)
    assert gm.n_iter_ == 2 and gm.n_samples_seen_ == len(X) + 500
    # save/load keeps the sums: the loaded model continues identically.
    loaded = GaussianMixture.load(tmp_path / "m.npz").partial_fit(chunk)
    for name in ATTRS:
        np.testing.assert_array_equal(getattr(loaded, name), getattr(gm, name))
    # A new fit starts new sums.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X[:1000])
    assert gm.n_samples_seen_ == 1000


def test_partial_fit_weights_scale_and_zero_weight_chunks():
    X = mixture_data(N=1000)
    plain = GaussianMixture(3, random_state=0).partial_fit(X[:600]).partial_fit(X[600:])
    # Only ratios of weights matter, also when they are tiny (sklearn's 10·eps on Nₖ).
    tiny = GaussianMixture(3, random_state=0).partial_fit(X[:600], sample_weight=np.full(600, 1e-15))
    tiny.partial_fit(X[600:], sample_weight=np.full(400, 1e-15))
    for name in ATTRS:
        np.testing.assert_allclose(getattr(tiny, name), getattr(plain, name), rtol=1e-9, atol=1e-12)
    # Unweighted rows after weighted ones count as weight 1 in the user's units.
    mixed = GaussianMixture(3, random_state=0).partial_fit(X[:600], sample_weight=np.full(600, 1e-15))
    mixed.partial_fit(X[600:])
    heavy = GaussianMixture(3, random_state=0).partial_fit(X[:600]).partial_fit(
        X[600:], sample_weight=np.full(400, 1e15))
    np.testing.assert_allclose(mixed.means_, heavy.means_, rtol=1e-9)
    before = plain.means_.copy()
    plain.partial_fit(X[:10], sample_weight=np.zeros(10))  # nothing to learn from
    np.testing.assert_array_equal(plain.means_, before)
    assert plain.n_samples_seen_ == 1010 and plain.n_iter_ == 2


def test_partial_fit_errors():
    X = mixture_data(N=200)
    with pytest.raises(ValueError, match="Expected n_samples >= n_components in the first chunk"):
        GaussianMixture(3).partial_fit(X[:2])
    gm = GaussianMixture(2, random_state=0).partial_fit(X)
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is expecting 3 features"):
        gm.partial_fit(X[:, :2])
    with pytest.raises(ValueError, match="contains NaN"):
        gm.partial_fit(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="partial_fit continues from the fitted model .* Call fit"):
        gm.set_params(n_components=3).partial_fit(X)
    gm.set_params(n_components=2)
    gm.partial_fit(X[:1])  # later chunks may be a single row
    assert gm.n_samples_seen_ == 201


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("how", ["array", "memmap", "chunks"])
def test_random_from_data_seeds_only_rows_of_positive_weight(tmp_path, monkeypatch, how):
    # A zero-weight row is not data: a component seeded there started with no mass at
    # the origin, and when every seed fell on such rows EM silently returned two
    # identical components.  Array, memmap and chunk sources (the last two larger
    # than the init sample, where the weights are only known chunk by chunk).
    monkeypatch.setattr(_em, "INIT_SAMPLE_MAX", 50)
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(20, 2), rng.randn(20, 2) + 5, rng.randn(160, 2) * 0.1 + [50, -50]])
    w = np.r_[np.ones(40), np.zeros(160)]
    if how == "memmap":
        np.save(tmp_path / "x.npy", X)
        data = np.load(tmp_path / "x.npy", mmap_mode="r")
    elif how == "chunks":
        data = lambda: ((X[i:i + 30], w[i:i + 30]) for i in range(0, 200, 30))  # noqa: E731
    else:
        data = X
    fit = (lambda gm: gm.fit(data)) if how == "chunks" else (lambda gm: gm.fit(data, sample_weight=w))
    ref = GaussianMixture(2, init_params="random_from_data", random_state=1).fit(X[:40])
    for seed in range(8):
        start = fit(GaussianMixture(2, init_params="random_from_data", random_state=seed, max_iter=0))
        # one-point starts: each initial mean is one of the 40 weighted rows
        assert all((np.abs(X[:40] - m).max(axis=1) < 1e-12).any() for m in start.means_)
        gm = fit(GaussianMixture(2, init_params="random_from_data", random_state=seed))
        assert gm.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-6)
    with pytest.raises(ValueError, match="only 1 such rows were found"):
        GaussianMixture(2, init_params="random_from_data").fit(X, sample_weight=np.r_[1.0, np.zeros(199)])
