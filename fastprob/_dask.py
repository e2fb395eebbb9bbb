"""EM and inference on dask arrays (optional: ``pip install fastprob[dask]``).

Every EM iteration is one ``map_blocks`` of the fused statistics kernel (each
row block becomes a small vector of sufficient statistics: Nₖ, means, scatter
matrices, Σ log p) followed by a tree reduction that merges them in block
order; only the mixture parameters go to the workers and only the reduced
statistics come back.  The M-step and the convergence test run on the client
(:mod:`fastprob.estimator`, the same code as for in-memory data).

Threads.  fastprob's parallel kernels run inside dask tasks, several at a time
per worker.  Each task uses ``OMP_NUM_THREADS`` threads when that is set in
the worker's environment (dask's nanny sets it to 1 by default: dask itself
runs one task per worker thread), else the cores divided by the worker's (or
the threaded scheduler's) concurrent tasks.  Concurrent calls are safe (see
:mod:`fastprob.kernels._threads`).
"""
import os
import threading

import numpy as np

from ._moments import Batch, Statistics, merge_statistics, zero_statistics
from ._sources import INFINITE_WITH_MISSING, NAN_IN_DASK, RowSource, check_chunk_values
from .mixture import make_components, score_one
from .threads import set_num_threads

#: Row blocks merged per node of the reduction tree.
SPLIT_EVERY = 8


def is_dask_array(X):
    """True for a ``dask.array.Array`` or a dask DataFrame (without importing dask)."""
    if type(X).__module__.split(".")[0] != "dask":
        return False
    return (hasattr(X, "map_blocks") and hasattr(X, "chunks")) or hasattr(X, "to_dask_array")


def _dask_array():
    try:
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - the dask extra is installed in the tests
        raise ImportError("Fitting a dask array needs dask: pip install 'fastprob[dask]'.") from exc
    return da


def task_threads():
    """How many threads one dask task's kernels may use (see the module docstring)."""
    import numba

    cores = numba.config.NUMBA_NUM_THREADS
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return min(cores, int(env))
    try:
        from distributed import get_worker

        concurrent = get_worker().state.nthreads
    except (ImportError, ValueError, AttributeError):
        # Local schedulers: the synchronous one runs tasks in the calling
        # thread, the threaded one in a pool of about one thread per core.
        concurrent = 1 if threading.current_thread() is threading.main_thread() else os.cpu_count() or 1
    return max(1, cores // max(1, concurrent))


def feature_names(X):
    """Column names of a dask DataFrame as an object array, or None (arrays, non-string columns)."""
    columns = getattr(X, "columns", None)
    if columns is None or not all(isinstance(c, str) for c in columns):
        return None
    return np.asarray(list(columns), dtype=object)


def as_rows(X, n_features=None, sizes=True):
    """A dask array X of shape (n, d) with one column chunk and a float dtype, checked.

    A dask DataFrame becomes its array of values.  With ``sizes``, unknown row
    chunk sizes are computed (on a new array object: the caller's is left as
    it was); without, they stay unknown (lazy inference does not need them).
    """
    if hasattr(X, "to_dask_array"):
        X = X.to_dask_array(lengths=True if sizes else None)
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D dask array of shape (n_samples, n_features), got shape {X.shape}.")
    kind = np.dtype(X.dtype)
    if kind.kind == "c" or (kind.kind == "f" and kind.itemsize > 8):
        raise TypeError(f"The dask array has dtype {X.dtype}, which fastprob cannot compute in: pass "
                        "X.astype(np.float64) (or np.float32).")
    if kind.kind not in "fiub":
        raise ValueError(f"The dask array has dtype {X.dtype}; it must hold real numbers.")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features, but GaussianMixture is expecting {n_features} "
                         "features as input.")
    if sizes and any(np.isnan(c) for c in X.chunks[0]):
        X = _known_sizes(X)
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    if X.dtype == np.float16:
        X = X.astype(np.float32)  # float16 computes as float32, as everywhere in fastprob
    elif X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return X


def _known_sizes(A):
    # compute_chunk_sizes() fills in the sizes of the array object it is called
    # on: call it on a fresh object over the same graph, not the user's.
    da = _dask_array()
    return da.Array(A.dask, A.name, A.chunks, meta=A._meta).compute_chunk_sizes()


def as_weights(sample_weight):
    """Sample weights (dask/pandas Series, dask/numpy array, list) as a 1-D float64 dask array."""
    da = _dask_array()
    if hasattr(sample_weight, "to_dask_array"):
        sample_weight = sample_weight.to_dask_array(lengths=True)
    elif hasattr(sample_weight, "to_numpy"):
        sample_weight = sample_weight.to_numpy()
    sw = da.asarray(sample_weight).astype(np.float64)
    if sw.ndim == 1 and any(np.isnan(c) for c in sw.chunks[0]):
        sw = _known_sizes(sw)
    return sw


class DaskSource(RowSource):
    """A dask array or DataFrame (and optional sample weights) as a row source for EM."""

    def __init__(self, X, sample_weight=None, missing=False):
        da = _dask_array()
        import dask

        self.feature_names = feature_names(X)
        self.X = as_rows(X)
        self.n_rows, self.n_features = self.X.shape
        self.dtype = np.dtype(self.X.dtype)
        self.blocks = self.X.chunks[0]
        self.weighted = sample_weight is not None
        # With missing values allowed only infinities are refused; the facts of the holes (as
        # _sources.ValueScan collects them) come in the same pass.
        valid = da.isfinite(self.X).all() if not missing else ~da.isinf(self.X).any()
        if sample_weight is not None:
            sw = as_weights(sample_weight)
            if sw.shape != (self.n_rows,):
                raise ValueError(f"sample_weight must have shape ({self.n_rows},) (one weight per sample), "
                                 f"got shape {sw.shape}.")
            self._sw = sw.rechunk((self.blocks,))
        holes = ()
        if missing:
            seen = ~da.isnan(self.X)
            w = da.ones(self.n_rows, chunks=(self.blocks,)) if sample_weight is None else self._sw
            holes = (da.any(~seen), da.count_nonzero(seen & (w > 0)[:, None], axis=0),
                     (da.where(seen, self.X, 0).astype(np.float64) * w[:, None]).sum(axis=0),
                     (seen * w[:, None]).sum(axis=0), (w * seen.sum(axis=1)).sum(), w.sum())
        if sample_weight is None:
            self._sw = None
            self.n_positive = self.n_rows
            finite, max_abs, *facts = dask.compute(valid, self._max_abs(), *holes)
        else:
            finite, w_finite, w_min, w_sum, n_positive, max_abs, *facts = dask.compute(
                valid, da.isfinite(self._sw).all(), self._sw.min(), self._sw.sum(),
                da.count_nonzero(self._sw > 0), self._max_abs(), *holes)
            if not w_finite or w_min < 0 or not w_sum > 0:
                raise ValueError("sample_weight must be finite and non-negative with a positive sum.")
            self.n_positive = int(n_positive)
        if not finite:
            raise ValueError(INFINITE_WITH_MISSING if missing else NAN_IN_DASK)
        self.max_abs = float(max_abs)
        self._missing = missing
        if missing:
            any_nan, observed, sums, weights, row_observed, row_weight = facts
            self.holes = bool(any_nan)
            self.observed = np.asarray(observed, dtype=np.int64)
            with np.errstate(invalid="ignore", divide="ignore"):
                self.fill = np.asarray(sums, dtype=np.float64) / np.asarray(weights, dtype=np.float64)
                self.observed_per_row = float(row_observed) / float(row_weight)
        self._unscaled = self.X
        self.total_weight = float(self.n_rows if sample_weight is None else w_sum)

    def _max_abs(self):
        # Per block, so that empty partitions (of a filtered DataFrame) take part.
        per_block = self.X.map_blocks(_block_max_abs, chunks=((1,) * len(self.blocks), (1,)), dtype=np.float64)
        return per_block.max()

    def set_factor(self, factor):
        super().set_factor(factor)
        self.X = self._unscaled if self.factor == 1.0 else self._unscaled * self.dtype.type(self.factor)

    def _apply_weight_scale(self, scale):
        self._sw = self._sw * scale
        return float(self.n_rows)  # the scaled sum, without another pass over the weights

    def map_reduce(self, chunk_statistics, n_components, diagonal, *, random_state=None, draws_per_row=0):
        """Statistics merged over all blocks: map_blocks, then a tree reduction in block order."""
        da = _dask_array()
        length = packed_length(n_components, self.n_features, diagonal)  # (sequences: a Batch)
        args = [self.X] if self._sw is None else [self.X, self._sw[:, None]]
        packed = da.map_blocks(_block_task, *args, chunk_statistics=chunk_statistics, weighted=self._sw is not None,
                               shape=(n_components, self.n_features, diagonal),
                               rng_states=None if random_state is None else
                               _stream_states(random_state, self.blocks, draws_per_row),
                               dtype=np.float64, chunks=((1,) * len(self.blocks), (length,)))
        merged = da.reduction(packed, chunk=_keep, combine=_merge_packed, aggregate=_merge_packed, axis=0,
                              keepdims=True, split_every=SPLIT_EVERY, dtype=np.float64, concatenate=True,
                              meta=np.empty((0, 0)))
        return unpack(merged.compute()[0])

    def map_rows(self, fn):
        """Lazy: a 1-D dask array of ``fn`` over the row blocks."""
        return self.X.map_blocks(_rows_task, fn=fn, dtype=np.int64, drop_axis=1)

    def positive_rows(self, ordinals):
        """From the weights only: each block's positive rows, gathered where the ordinals fall."""
        import dask

        ordinals = np.asarray(ordinals, dtype=np.int64)
        if self._sw is None:
            return ordinals
        counts = np.array(dask.compute(*[dask.delayed(np.count_nonzero)(b > 0) for b in self._sw.to_delayed()]))
        starts = np.concatenate([[0], np.cumsum(counts)])
        offsets = np.concatenate([[0], np.cumsum(self.blocks)])
        wanted = np.searchsorted(ordinals, starts)
        blocks = self._sw.to_delayed()
        hit = [b for b in range(len(self.blocks)) if wanted[b + 1] > wanted[b]]
        tasks = [dask.delayed(_positive_in_block)(blocks[b], ordinals[wanted[b]:wanted[b + 1]] - starts[b])
                 for b in hit]
        found = [offsets[b] + rows for b, rows in zip(hit, dask.compute(*tasks))]
        return np.concatenate(found) if found else np.empty(0, dtype=np.int64)

    def take(self, rows):
        import dask

        rows = np.asarray(rows, dtype=np.int64)
        if self._sw is None:
            return np.ascontiguousarray(self.X[rows].compute()), None
        X_rows, sw_rows = dask.compute(self.X[rows], self._sw[rows])
        return np.ascontiguousarray(X_rows), np.ascontiguousarray(sw_rows)


def _stream_states(random_state, blocks, draws_per_row):
    """The state of ``random_state`` at each block's first row, for one stream over all rows.

    The client draws (and discards) the numbers the rows before each block
    would draw, so that every block continues the stream where the previous
    one stopped: the same numbers as an in-memory pass.  ``random_state``
    ends where such a pass would leave it.
    """
    states = []
    for n in blocks:
        states.append(random_state.get_state())
        left = n * draws_per_row
        while left:
            step = min(left, 1 << 20)
            random_state.random_sample(step)
            left -= step
    return states


# ---------------------------------------------------------------------- #
# Block tasks (run on the workers)
# ---------------------------------------------------------------------- #
def _block_task(Xb, *rest, chunk_statistics, weighted, shape, rng_states, block_info=None):
    if Xb.shape[0] == 0:  # an empty partition (e.g. of a filtered DataFrame) has no statistics
        return pack(zero_statistics(*shape))[None, :]
    swb = np.ascontiguousarray(rest[0][:, 0]) if weighted else None
    Xb = np.ascontiguousarray(Xb)
    offset = block_info[0]["array-location"][0][0]
    rng = None
    if rng_states is not None:
        rng = np.random.RandomState()
        rng.set_state(rng_states[block_info[0]["chunk-location"][0]])
    with set_num_threads(task_threads()):
        stats = chunk_statistics(Xb, swb, rng)
    return pack(stats.shifted(offset))[None, :]


def _block_max_abs(Xb):
    if Xb.size and np.isnan(Xb).any():  # missing values (where allowed: X is checked too)
        Xb = Xb[~np.isnan(Xb)]
    return np.array([[float(np.abs(Xb).max()) if Xb.size else 0.0]])


def _positive_in_block(wb, ordinals):
    return np.flatnonzero(wb > 0)[ordinals]


def _rows_task(Xb, *, fn):
    with set_num_threads(task_threads()):
        return fn(np.ascontiguousarray(Xb))


def _keep(x, axis=None, keepdims=None):
    return x


def _merge_packed(x, axis=None, keepdims=None):
    """Merge the packed statistics of consecutive blocks (rows of x), in order."""
    total = None
    for row in x:
        total = merge_statistics(total, unpack(row))
    return pack(total)[None, :]


# Packed layout: [K, d, diagonal, W (K), mean (K d), M2 (K d dd), loglik, worst_row, worst_ll]; a Batch of
# M statistics: [-M, then each one packed].
def packed_length(K, d, diagonal):
    if np.ndim(K):
        return 1 + sum(packed_length(k, d, diag) for k, diag in zip(K, diagonal))
    return 3 + K + K * d + K * d * (1 if diagonal else d) + 3


def pack(stats):
    if isinstance(stats, Batch):
        assert len(stats) > 0, "a Batch of no statistics has no packed form"
        return np.concatenate([[-len(stats)], *(pack(s) for s in stats)])
    K, d = stats.mean.shape
    return np.concatenate([[K, d, float(stats.M2.ndim == 2)], stats.W, stats.mean.ravel(), stats.M2.ravel(),
                           [stats.loglik, stats.worst_row, stats.worst_ll]])


def unpack(vec):
    if vec[0] < 0:
        parts, i = [], 1
        for _ in range(int(-vec[0])):
            K, d, diagonal = int(vec[i]), int(vec[i + 1]), bool(vec[i + 2])
            n = packed_length(K, d, diagonal)
            parts.append(unpack(vec[i:i + n]))
            i += n
        return Batch(parts)
    K, d, diagonal = int(vec[0]), int(vec[1]), bool(vec[2])
    dd = 1 if diagonal else d
    i = 3
    W = vec[i:i + K].copy()
    i += K
    mean = vec[i:i + K * d].reshape(K, d).copy()
    i += K * d
    M2 = vec[i:i + K * d * dd].reshape((K, d) if diagonal else (K, d, d)).copy()
    i += K * d * dd
    return Statistics(W, mean, M2, float(vec[i]), int(vec[i + 1]), float(vec[i + 2]))


# ---------------------------------------------------------------------- #
# Lazy inference
# ---------------------------------------------------------------------- #
def lazy_scores(X, params, what, n_features, marginalize=False):
    """score_samples / predict_proba / predict of a fitted mixture as a lazy dask array.

    With ``marginalize``, NaN entries are missing values (infinities are still errors).
    """
    X = as_rows(X, n_features, sizes=False)
    K = params[1].shape[0]
    kw = dict(params=params, what=what, marginalize=marginalize)
    if what == "resp":
        return X.map_blocks(_score_block, **kw, dtype=X.dtype, chunks=(X.chunks[0], (K,)))
    dtype = np.int64 if what == "labels" else X.dtype
    return X.map_blocks(_score_block, **kw, dtype=dtype, drop_axis=1)


def _score_block(Xb, *, params, what, marginalize):
    Xb = np.ascontiguousarray(Xb)
    check_chunk_values(Xb, marginalize)
    comps, _ = make_components(*params)
    with set_num_threads(task_threads()):
        return score_one(Xb, comps, what, marginalize=marginalize)
