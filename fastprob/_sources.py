"""Where EM reads its rows from: the declared data-source protocol and its in-process implementations.

EM is a map-reduce: every chunk of rows turns the current parameters into
sufficient statistics (:class:`~fastprob._moments.Statistics`), the chunks'
statistics are merged in row order, and the M-step runs on the sums.  A
*source* hides where the rows live.  :class:`RowSource` declares everything
the EM code may ask of one -- it asks nothing else, and never asks what kind
of source it has:

* facts: ``n_rows``, ``n_features``, ``dtype`` (float32/float64, the dtype the
  chunks arrive in), ``weighted``, ``n_positive`` (rows of positive weight),
  ``total_weight`` and ``weight_scale``, ``feature_names`` (or None);
* :meth:`RowSource.map_reduce`: a per-chunk statistics function in, the merged
  statistics of all rows out;
* :meth:`RowSource.take`: a few rows by index (initialisation samples, seeds,
  re-seeding), and :meth:`RowSource.positive_rows`: which rows are the i-th
  rows of positive weight (seeds that must carry weight);
* :meth:`RowSource.map_rows`: a per-chunk function's results for all rows
  (``fit_predict``);
* with missing values allowed (``missing=True`` when built): ``holes`` (some
  value is NaN), ``observed`` (non-NaN values per column) and ``fill`` (each
  column's mean of its observed values), and :class:`FilledSource`, the rows
  with their holes filled, for the initialisations.

Implementations: :class:`ArraySource` (in memory: one chunk, the whole array),
:class:`MemmapSource` (a ``numpy.memmap`` read in fixed chunks),
:class:`ChunkSource` (a callable returning chunks, or a re-iterable of chunks),
and ``DaskSource`` in :mod:`fastprob._dask` (the same per-chunk functions run
on the workers).  A new kind of source subclasses :class:`RowSource` (or
:class:`InProcessSource` if it can yield its chunks in this process), passes
``tests/test_sources.py``'s contract test, and is picked in
``GaussianMixture._source``.
"""
import abc
import functools
import mmap

import numpy as np
from scipy import sparse

from ._moments import merge_statistics, zero_statistics

#: Target size of one chunk read from a memory map.
MEMMAP_CHUNK_BYTES = 32 * 2**20


class RowSource(abc.ABC):
    """What EM needs from the rows, wherever they live.

    Attributes
    ----------
    n_rows, n_features : int
    dtype : numpy.dtype
        float32 or float64: the dtype chunks are delivered in.
    weighted : bool
        Whether the rows carry sample weights.
    n_positive : int
        Rows of positive weight (``n_rows`` when unweighted).
    total_weight : float
        Sum of the (scaled) sample weights; ``n_rows`` when unweighted.
    weight_scale : float
        What the user's sample weights were multiplied by (:meth:`scale_weights`).
    feature_names : ndarray of str or None
        Column names, for sources that carry them (DataFrame chunks).
    max_abs : float
        The largest |x| (for the estimator's choice of :meth:`set_factor`).
    factor : float
        What the rows are delivered multiplied by (1 unless :meth:`set_factor`).
    holes : bool
        Some value is NaN, a missing value (only for sources built with
        ``missing=True``; others refuse NaN).
    observed : (n_features,) int64 or None
        Non-NaN values per column (sources built with ``missing=True``).
    fill : (n_features,) float64 or None
        Each column's mean of its observed values, weighted (sources built
        with ``missing=True``; NaN for a column with none).
    observed_per_row : float or None
        The weighted mean number of observed values per row (sources built
        with ``missing=True``).

    With missing values allowed, ``observed`` counts only rows of positive
    weight: a value in a row of weight 0 is not data.
    """

    n_rows: int
    n_features: int
    dtype: np.dtype
    weighted: bool
    n_positive: int
    total_weight: float
    weight_scale: float = 1.0
    feature_names = None
    max_abs: float
    factor: float = 1.0
    holes = False
    observed = None
    fill = None
    observed_per_row = None
    #: ``take`` reads only the rows asked for (else it streams all rows: a pass).
    random_access = False

    @abc.abstractmethod
    def map_reduce(self, chunk_statistics, n_components, diagonal, *, random_state=None, draws_per_row=0):
        """Merged ``chunk_statistics(X_chunk, weights_chunk, rng)`` over all rows, in row order.

        ``chunk_statistics`` returns the :class:`~fastprob._moments.Statistics`
        (``n_components`` components; diagonal scatter when ``diagonal``) of
        its chunk, with ``worst_row`` counted from the chunk's first row --
        or, for several mixtures in one pass, a :class:`~fastprob._moments.Batch`
        of them, ``n_components`` and ``diagonal`` then being sequences;
        ``weights_chunk`` is None for unweighted sources.  With a
        ``random_state``, ``rng`` is a ``RandomState`` positioned so that
        the chunks together consume the stream as one pass over all rows in
        order would, each row taking ``draws_per_row`` uniform draws (the
        result is then the same however the rows are chunked); else None.
        The function must be picklable where the source runs it elsewhere.
        """

    @abc.abstractmethod
    def take(self, rows):
        """(X[rows], weights[rows] or None) in memory, for sorted int64 row indices."""

    @abc.abstractmethod
    def positive_rows(self, ordinals):
        """Row indices of the rows of positive weight numbered ``ordinals`` (sorted; counted from 0 in row order)."""

    @abc.abstractmethod
    def map_rows(self, fn):
        """``fn(X_chunk)`` (a 1-D array per chunk) for all rows, joined in row order."""

    def scale_weights(self):
        """Scale the sample weights to mean 1 (only their ratios matter to the fit).

        This keeps scikit-learn's 10·eps added to each component's weight
        negligible whatever the weights' magnitude.
        """
        if self.weighted:
            self.weight_scale = self.n_rows / self.total_weight
            self.total_weight = self._apply_weight_scale(self.weight_scale)

    @abc.abstractmethod
    def _apply_weight_scale(self, scale):
        """Multiply the sample weights by ``scale``; return their new sum."""

    def set_factor(self, factor):
        """Deliver the rows multiplied by ``factor`` from now on (chunks, ``take``, ``map_rows``).

        For data near float64's limits, whose squares would overflow or
        underflow: a power of two, so the scaling is exact.
        """
        self.factor = float(factor)

    def _scaled(self, X):
        return X if self.factor == 1.0 else np.multiply(X, self.factor, dtype=self.dtype)

    def in_memory(self):
        """All rows as an :class:`ArraySource` (for initialising small data exactly as in memory)."""
        return ArraySource(*self.take(np.arange(self.n_rows, dtype=np.int64)))


class InProcessSource(RowSource):
    """A source that yields its chunks in this process: map-reduce and map_rows by iteration."""

    @abc.abstractmethod
    def chunks(self):
        """Yield (offset, X_chunk, weights_chunk or None) covering all rows in order."""

    def map_reduce(self, chunk_statistics, n_components, diagonal, *, random_state=None, draws_per_row=0):
        # One random stream consumed chunk after chunk in row order: the same
        # numbers as one draw over all rows.
        total = zero_statistics(n_components, self.n_features, diagonal)
        for offset, Xc, swc in self.chunks():
            if len(Xc):  # an empty chunk has no statistics (and k-means cannot label it)
                total = merge_statistics(total, chunk_statistics(Xc, swc, random_state).shifted(offset))
        return total

    def map_rows(self, fn):
        return np.concatenate([fn(Xc) for _, Xc, _ in self.chunks()])

    def positive_rows(self, ordinals):
        ordinals = np.asarray(ordinals, dtype=np.int64)
        rows, seen = np.empty(ordinals.size, dtype=np.int64), 0
        for offset, _, swc in self.chunks():
            positive = np.arange(len(swc)) if swc is None else np.flatnonzero(swc > 0)
            lo, hi = np.searchsorted(ordinals, [seen, seen + positive.size])
            rows[lo:hi] = offset + positive[ordinals[lo:hi] - seen]
            seen += positive.size
        return rows


class ArraySource(InProcessSource):
    """Rows held in memory: a C-contiguous float32/float64 array ``X`` and optional float64 weights ``sw``.

    With ``missing``, NaN values are missing values (see :class:`RowSource`).
    """

    random_access = True

    def __init__(self, X, sw=None, missing=False):
        self.X, self.sw = X, sw
        self._unscaled = X
        self.n_rows, self.n_features = X.shape
        self.dtype = X.dtype
        self.weighted = sw is not None
        self.n_positive = self.n_rows if sw is None else int(np.count_nonzero(sw > 0))
        self.total_weight = float(self.n_rows if sw is None else sw.sum())
        if missing:
            scan = ValueScan(self.n_features, missing)
            scan.add(X, sw)
            scan.apply(self)

    def chunks(self):
        yield 0, self.X, self.sw

    def positive_rows(self, ordinals):
        ordinals = np.asarray(ordinals, dtype=np.int64)
        return ordinals if self.sw is None else np.flatnonzero(self.sw > 0)[ordinals]

    def _apply_weight_scale(self, scale):
        self.sw = self.sw * scale
        return float(self.sw.sum())

    def take(self, rows):
        return self.X[rows], None if self.sw is None else self.sw[rows]

    def in_memory(self):
        return self

    @functools.cached_property
    def max_abs(self):
        X = self._unscaled  # (max and -min: no temporary the size of X)
        return float(max(X.max(), -X.min())) if X.size else 0.0

    def set_factor(self, factor):
        super().set_factor(factor)
        self.X = self._scaled(self._unscaled)  # once, not on every pass


class MemmapSource(InProcessSource):
    """A ``numpy.memmap`` read in chunks of about :data:`MEMMAP_CHUNK_BYTES`.

    Float32/float64 C-contiguous maps are read in place (no copy); other dtypes
    and layouts are converted one chunk at a time.  Pages of a read-only map
    are released after each chunk, so the resident memory stays about one
    chunk whatever the file's size (the OS page cache may keep them).
    """

    random_access = True

    def __init__(self, X, sw=None, missing=False):
        self._map = X
        self._missing = missing
        self.sw = sw
        self.n_rows, self.n_features = X.shape
        self.dtype = (np.dtype(X.dtype) if X.dtype in (np.float32, np.float64)
                      else np.dtype(np.float32) if X.dtype == np.float16 else np.dtype(np.float64))
        self.weighted = sw is not None
        self.n_positive = self.n_rows if sw is None else int(np.count_nonzero(sw > 0))
        self.total_weight = float(self.n_rows if sw is None else sw.sum())
        # A view (X[:, :8], X[:, ::2], X[::2]) spans its rows' whole stride of the file:
        # size chunks by the bytes they span, not by the bytes they hold.
        self.chunk_rows = max(1, MEMMAP_CHUNK_BYTES // max(8 * max(1, self.n_features), abs(X.strides[0])))

    def chunks(self):
        for c0 in range(0, self.n_rows, self.chunk_rows):
            c1 = min(self.n_rows, c0 + self.chunk_rows)
            view = self._map[c0:c1]
            Xc = np.ascontiguousarray(view, dtype=self.dtype)
            yield c0, self._scaled(Xc), None if self.sw is None else self.sw[c0:c1]
            _release_pages(view)

    def take(self, rows):
        """(X[rows], weights[rows] or None) for sorted row indices, gathered one chunk of the map at a time.

        A random sample of 100 000 rows touches most pages of the file; gathering
        it chunk by chunk and releasing each chunk's pages keeps them from all
        becoming resident at once (measured: a 256 MB file's k-means sample
        raised the peak resident memory by ~200 MB).
        """
        rows = np.asarray(rows, dtype=np.int64)
        X_out = np.empty((rows.size, self.n_features), dtype=self.dtype)
        bounds = np.searchsorted(rows, np.arange(0, self.n_rows + self.chunk_rows, self.chunk_rows))
        for c, (b0, b1) in enumerate(zip(bounds[:-1], bounds[1:])):
            if b1 > b0:
                view = self._map[c * self.chunk_rows:(c + 1) * self.chunk_rows]
                X_out[b0:b1] = view[rows[b0:b1] - c * self.chunk_rows]
                _release_pages(view)
        return self._scaled(X_out), None if self.sw is None else self.sw[rows]

    _apply_weight_scale = ArraySource._apply_weight_scale
    positive_rows = ArraySource.positive_rows  # the weights are in memory

    def check_finite(self):
        """Raise sklearn's ValueError for NaN (unless missing values are allowed) or infinite values; note
        max_abs (and the missing values' facts).  One pass, chunk by chunk."""
        scan = ValueScan(self.n_features, self._missing)
        for _, Xc, swc in self.chunks():
            scan.add(Xc, swc)
        scan.apply(self)


class ChunkSource(InProcessSource):
    """Rows delivered as chunks by a callable (called once per pass) or a re-iterable.

    Each chunk is a 2-D array-like (n_i, d) or a pair (X_i, sample_weight_i).
    The first pass validates every chunk and fixes the number of rows, the
    number of features and the dtype (float32 only if every chunk is float32);
    later passes must deliver the same rows.
    """

    def __init__(self, chunks, missing=False):
        self._chunks = chunks
        self._missing = missing
        self.n_rows = self.n_features = None
        self.dtype = None
        self.weighted = None
        self.total_weight = 0.0
        self.n_positive = 0
        self._scan()

    def _open(self):
        it = self._chunks() if callable(self._chunks) else iter(self._chunks)
        if it is self._chunks:
            raise TypeError(single_use_message(self._chunks))
        if callable(self._chunks) and (hasattr(it, "__array__") or sparse.issparse(it)):
            raise TypeError(f"The function passed as X returned one array ({type(it).__name__} of shape "
                            f"{getattr(it, 'shape', '?')}); it must return an iterable of 2-D chunks, e.g. "
                            "`lambda: [X]` or a generator of arrays. To fit an array, pass it directly.")
        try:
            return iter(it)
        except TypeError:
            raise TypeError(f"The function passed as X returned {type(it).__name__}, which is not an iterable "
                            "of chunks; it must return e.g. a list or a generator of 2-D arrays.") from None

    def _scan(self):
        n_rows, dtypes, weighted, scan = 0, set(), None, None
        for i, item in enumerate(self._open()):
            names = _column_names(item)
            Xc, swc = _split_chunk(item, i)
            if self.n_features is None:
                self.n_features = Xc.shape[1]
                self.feature_names = names
            elif names is not None and self.feature_names is not None and list(names) != list(self.feature_names):
                raise ValueError(f"Chunk {i} has columns {list(names)}, but the first chunk has "
                                 f"{list(self.feature_names)}: every chunk must have the same columns in the "
                                 "same order.")
            elif Xc.shape[1] != self.n_features:
                raise ValueError(f"Chunk {i} has {Xc.shape[1]} features, but the first chunk has "
                                 f"{self.n_features}: every chunk must have the same columns.")
            if weighted is None:
                weighted = swc is not None
            elif weighted != (swc is not None):
                raise ValueError(f"Chunk {i} {'has' if swc is not None else 'lacks'} sample weights unlike "
                                 "the first chunk: give (X, sample_weight) pairs for all chunks or for none.")
            if scan is None:
                scan = ValueScan(self.n_features, self._missing)
            if swc is not None:
                swc = _check_chunk_weights(swc, Xc.shape[0], i)
                self.total_weight += float(swc.sum())
                self.n_positive += int(np.count_nonzero(swc > 0))
            scan.add(Xc, swc)
            dtypes.add(Xc.dtype)
            n_rows += Xc.shape[0]
        if self.n_features is None:
            raise ValueError("The chunk source gave no chunks: it needs at least one chunk of rows.")
        self.n_rows = n_rows
        scan.apply(self)
        self.weighted = weighted
        self.dtype = np.dtype(np.float32) if dtypes == {np.dtype(np.float32)} else np.dtype(np.float64)
        if not weighted:
            self.total_weight = float(n_rows)
            self.n_positive = n_rows
        elif not self.total_weight > 0:
            raise ValueError("The chunks' sample weights sum to zero; at least one sample needs a positive weight.")

    def chunks(self):
        offset = 0
        for i, item in enumerate(self._open()):
            Xc, swc = _split_chunk(item, i)
            if Xc.shape[1] != self.n_features or (swc is not None) != self.weighted:
                raise ValueError(f"Chunk {i} differs from the first pass over the chunks (features or "
                                 "weights): the source must deliver the same data on every pass.")
            check_chunk_values(Xc, self._missing)
            if swc is not None:
                swc = _check_chunk_weights(swc, Xc.shape[0], i) * self.weight_scale
            yield offset, self._scaled(np.ascontiguousarray(Xc, dtype=self.dtype)), swc
            offset += Xc.shape[0]
        if offset != self.n_rows:
            raise ValueError(f"The chunk source delivered {offset} rows, but {self.n_rows} on the first pass: "
                             "it must deliver the same data on every pass.")

    def _apply_weight_scale(self, scale):
        return float(self.n_rows)  # chunks() applies weight_scale as it reads them

    def take(self, rows):
        rows = np.asarray(rows, dtype=np.int64)
        X_out = np.empty((rows.size, self.n_features), dtype=self.dtype)
        sw_out = np.empty(rows.size) if self.weighted else None
        for offset, Xc, swc in self.chunks():
            lo, hi = np.searchsorted(rows, [offset, offset + Xc.shape[0]])
            X_out[lo:hi] = Xc[rows[lo:hi] - offset]
            if swc is not None:
                sw_out[lo:hi] = swc[rows[lo:hi] - offset]
        return X_out, sw_out


def single_use_message(obj):
    return (f"X is a one-shot iterator ({type(obj).__name__}), but EM reads the data once per "
            "iteration. Pass a function that returns a new iterator of chunks on every call (e.g. "
            "`lambda: pandas.read_csv(path, chunksize=100_000)`), a list of arrays, or a numpy.memmap.")


def is_chunk_stream(X):
    """True if X is meant as chunks of rows rather than one array-like."""
    if hasattr(X, "__array__") or hasattr(X, "__array_interface__") or isinstance(X, (str, bytes, dict)):
        return False
    if sparse.issparse(X):
        return False  # iterable by rows, but one matrix: sklearn's validation rejects it clearly
    if callable(X):
        return True
    if isinstance(X, range):
        return False  # one (1-D) array-like: sklearn's validation says so
    if isinstance(X, (list, tuple)):
        # A list of rows (numbers, also as tuples) is one array; a list of 2-D blocks or
        # (X, w) pairs is chunks.
        if len(X) == 0:
            return False
        first = X[0]
        if isinstance(first, (tuple, list)) and all(np.ndim(v) == 0 for v in first):
            return False
        if isinstance(first, tuple) or _is_pair(first) or sparse.issparse(first):
            return True
        return getattr(first, "ndim", None) == 2
    try:
        iter(X)
    except TypeError:
        return False
    return True


#: What to do about NaN in X (added to scikit-learn's message).
NAN_HINT = ("GaussianMixture(missing='marginalize') fits data with missing values (NaN) by exact EM; "
            "otherwise drop or impute them first.")

#: The error for NaN or infinity in a dask array, checked in one pass.
NAN_IN_DASK = "Input X contains NaN or infinity. " + NAN_HINT


def check_chunk_finite(Xc):
    """sklearn's messages for NaN / infinity in X (with the hint for NaN)."""
    if not np.isfinite(Xc).all():
        if np.isnan(Xc).any():
            raise ValueError("Input X contains NaN. " + NAN_HINT)
        raise ValueError("Input X contains infinity or a value too large for dtype('float64').")


#: The error for an infinite value where NaN marks a missing value.
INFINITE_WITH_MISSING = ("Input X contains infinity or a value too large for dtype('float64'). With "
                         "missing='marginalize' only NaN marks a missing value; an infinite value is still an "
                         "error: replace it by NaN if it stands for a missing value, or drop the row.")


def check_chunk_values(Xc, missing):
    """:func:`check_chunk_finite`, or with missing values allowed, a clear error for infinity only."""
    if not missing:
        check_chunk_finite(Xc)
    elif np.isinf(Xc).any():
        raise ValueError(INFINITE_WITH_MISSING)


class ValueScan:
    """Facts of X's values met chunk by chunk: the largest |x|; with ``missing``, whether any value is NaN
    and, over the rows of positive weight, per column the number of observed (non-NaN) values and their
    weighted mean, and the weighted mean number of observed values per row.  Chunks are checked as they
    come (:func:`check_chunk_values`)."""

    def __init__(self, n_features, missing):
        self.missing = missing
        self.max_abs = 0.0
        self.any_nan = False
        self.observed = np.zeros(n_features, dtype=np.int64)
        self.sums = np.zeros(n_features)
        self.weights = np.zeros(n_features)
        self.row_observed = 0.0
        self.row_weight = 0.0

    def add(self, Xc, swc=None):
        check_chunk_values(Xc, self.missing)
        if not Xc.size:
            return
        if not self.missing:
            self.max_abs = max(self.max_abs, float(Xc.max()), -float(Xc.min()))
            return
        nan = np.isnan(Xc)
        if not nan.all():
            self.max_abs = max(self.max_abs, float(np.nanmax(Xc)), -float(np.nanmin(Xc)))
        self.any_nan |= bool(nan.any())
        seen = ~nan
        w = np.ones(Xc.shape[0]) if swc is None else np.asarray(swc, dtype=np.float64)
        self.observed += np.count_nonzero(seen & (w > 0)[:, None], axis=0)
        self.sums += (np.where(nan, 0.0, Xc) * w[:, None]).sum(axis=0, dtype=np.float64)
        self.weights += (seen * w[:, None]).sum(axis=0)
        self.row_observed += float(w @ seen.sum(axis=1))
        self.row_weight += float(w.sum())

    def apply(self, source):
        """Set the source's facts: max_abs, and with missing values allowed holes, observed, fill,
        observed_per_row."""
        source.max_abs = self.max_abs
        if self.missing:
            source.observed = self.observed
            with np.errstate(invalid="ignore", divide="ignore"):
                source.fill = self.sums / self.weights
                source.observed_per_row = self.row_observed / self.row_weight
            source.holes = self.any_nan


class FilledSource(RowSource):
    """The rows of ``source`` with each NaN replaced by its column's value in ``fill`` (in the data's units).

    What the initialisations and the re-seeding read where the data have
    missing values: they need complete rows.  Everything else is the source's.
    """

    def __init__(self, source, fill):
        self.source = source
        self._fill = np.asarray(fill, dtype=np.float64)
        for name in ("n_rows", "n_features", "dtype", "weighted", "n_positive", "total_weight", "feature_names"):
            setattr(self, name, getattr(source, name))

    @property
    def factor(self):
        return self.source.factor

    @property
    def weight_scale(self):
        return self.source.weight_scale

    @property
    def max_abs(self):
        return self.source.max_abs

    @property
    def random_access(self):
        return self.source.random_access

    def _values(self):
        return (self._fill * self.factor).astype(self.dtype)

    def map_reduce(self, chunk_statistics, n_components, diagonal, *, random_state=None, draws_per_row=0):
        return self.source.map_reduce(functools.partial(_filled_call, self._values(), chunk_statistics),
                                      n_components, diagonal, random_state=random_state,
                                      draws_per_row=draws_per_row)

    def take(self, rows):
        X, sw = self.source.take(rows)
        return fill_holes(X, self._values()), sw

    def positive_rows(self, ordinals):
        return self.source.positive_rows(ordinals)

    def map_rows(self, fn):
        return self.source.map_rows(functools.partial(_filled_call, self._values(), fn))

    def _apply_weight_scale(self, scale):
        raise TypeError("scale the weights of the underlying source")


def fill_holes(X, values):
    """X with its NaN entries replaced by the column's entry of ``values`` (X itself if it has none)."""
    nan = np.isnan(X)
    if not nan.any():
        return X
    return np.ascontiguousarray(np.where(nan, values, X).astype(X.dtype, copy=False))


def _filled_call(values, fn, X, *rest):
    return fn(fill_holes(X, values), *rest)


def _is_pair(item):
    """(X_chunk, weights) given as a tuple, or as a list of a 2-D block and a 1-D vector."""
    if isinstance(item, tuple):
        return True
    return (isinstance(item, list) and len(item) == 2 and getattr(item[0], "ndim", None) == 2
            and np.ndim(item[1]) == 1)


def _column_names(item):
    block = item[0] if _is_pair(item) else item
    columns = getattr(block, "columns", None)
    if columns is None or not all(isinstance(c, str) for c in columns):
        return None
    return np.asarray(list(columns), dtype=object)


def _split_chunk(item, i):
    swc = None
    if _is_pair(item):
        if len(item) != 2:
            raise ValueError(f"Chunk {i} is a tuple of {len(item)} items; a chunk is an array of rows "
                             "or a pair (X_chunk, sample_weight_chunk).")
        item, swc = item
    if sparse.issparse(item):
        raise TypeError(f"Chunk {i} is a sparse matrix; GaussianMixture needs dense rows: convert each chunk "
                        "with .toarray().")
    try:
        Xc = np.asarray(item)
    except ValueError as exc:
        raise ValueError(f"Chunk {i} is not an array of rows ({exc}); a chunk is a 2-D array or a pair "
                         "(X_chunk, sample_weight_chunk).") from None
    if Xc.ndim != 2:
        raise ValueError(f"Chunk {i} has shape {Xc.shape}; every chunk must be 2-D (n_rows, n_features). "
                         "Reshape a single row with x.reshape(1, -1).")
    if Xc.dtype == object:
        try:
            Xc = Xc.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"Chunk {i} holds objects that are not numbers.") from None
    if Xc.dtype.kind == "c" or (Xc.dtype.kind == "f" and Xc.dtype.itemsize > 8):
        raise TypeError(f"Chunk {i} has dtype {Xc.dtype}, which fastprob cannot compute in: pass chunks of "
                        "float64 or float32 (e.g. chunk.astype(np.float64)).")
    if Xc.dtype.kind not in "fiub":
        raise ValueError(f"Chunk {i} has dtype {Xc.dtype}; chunks must hold real numbers.")
    if Xc.dtype == np.float16:
        Xc = Xc.astype(np.float32)  # float16 computes as float32, as everywhere in fastprob
    elif Xc.dtype not in (np.float32, np.float64):
        Xc = Xc.astype(np.float64)
    return Xc, swc


def _check_chunk_weights(swc, n, i):
    w = np.asarray(swc, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"The sample weights of chunk {i} have shape {w.shape}; expected ({n},), one per row.")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"The sample weights of chunk {i} must be finite and non-negative.")
    return np.ascontiguousarray(w)


def _release_pages(view):
    """Drop the process's mapping of a read-only memmap chunk once it has been used.

    Without this the pages stay resident in the process (RSS grows to the file
    size, though the OS could reclaim them).  Only read-only maps: dropping a
    copy-on-write ('c') page would discard the user's changes.
    """
    mm = getattr(view, "_mmap", None)
    if mm is None or getattr(view, "mode", None) != "r" or not hasattr(mm, "madvise") or view.size == 0:
        return
    try:
        base = np.frombuffer(mm, dtype=np.uint8).ctypes.data
        low, high = _byte_bounds(view)  # a strided view's pages lie between, not in its first nbytes
        start, end = low - base, high - base
        start -= start % mmap.PAGESIZE
        mm.madvise(mmap.MADV_DONTNEED, start, min(len(mm), end) - start)
    except (ValueError, OSError, AttributeError):
        pass  # best effort: residency is a matter of memory use, never of results


def _byte_bounds(a):
    """(first, one past the last) memory address an array's elements occupy."""
    try:
        from numpy.lib.array_utils import byte_bounds  # numpy >= 2.0
    except ImportError:  # pragma: no cover - numpy 1.26
        byte_bounds = np.byte_bounds
    return byte_bounds(a)


def check_memmap(X):
    """Shape and dtype checks of a memmap (values are checked chunk by chunk later)."""
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D memmap of shape (n_samples, n_features), got shape {X.shape}. "
                         "Reshape it with X.reshape(-1, 1) for one feature or X.reshape(1, -1) for one sample.")
    if X.dtype.kind not in "fiub":
        raise ValueError(f"The memmap has dtype {X.dtype}; it must hold real numbers.")
    if X.shape[1] == 0:
        raise ValueError(f"0 feature(s) (shape={X.shape}) while a minimum of 1 is required by GaussianMixture.")
    return X
