"""Where EM reads its rows from: an array in memory, a memory map, or a stream of chunks.

EM is a map-reduce: every chunk of rows turns the current parameters into
sufficient statistics, the chunks' statistics are merged, and the M-step runs on
the sums.  A *source* hides where the rows live; the EM loop only asks it for
passes over ``(offset, X_chunk, weights_chunk)`` and for a few rows by index.

* :class:`ArraySource` — an in-memory array: one chunk, the whole array (the
  fast path, unchanged by the existence of the others).
* :class:`MemmapSource` — a ``numpy.memmap``: fixed chunks of rows read from the
  mapping, so the process never holds more than one chunk of it.
* :class:`ChunkSource` — a callable returning an iterable of chunks, or a
  re-iterable of chunks (e.g. a list of arrays); every pass reads it again.

The dask source lives in :mod:`fastprob._dask` (it runs the same per-chunk
functions on the workers).
"""
import mmap

import numpy as np
from scipy import sparse

#: Target size of one chunk read from a memory map.
MEMMAP_CHUNK_BYTES = 32 * 2**20


class ArraySource:
    """Rows held in memory: a C-contiguous float32/float64 array and optional float64 weights."""

    def __init__(self, X, sw=None):
        self.X, self.sw = X, sw
        self.n_rows, self.n_features = X.shape
        self.dtype = X.dtype
        self.total_weight = float(self.n_rows if sw is None else sw.sum())
        self.weight_scale = 1.0  # what the user's weights were multiplied by (scale_weights)

    def chunks(self):
        """Yield (offset, X_chunk, weights_chunk or None) covering all rows in order."""
        yield 0, self.X, self.sw

    def scale_weights(self):
        """Scale the sample weights to mean 1 (only their ratios matter to the fit)."""
        if self.sw is not None:
            self.weight_scale = 1.0 / self.sw.mean()
            self.sw = self.sw / self.sw.mean()
            self.total_weight = float(self.sw.sum())

    def take(self, rows):
        """(X[rows], weights[rows] or None) for sorted row indices."""
        return self.X[rows], None if self.sw is None else self.sw[rows]


class MemmapSource:
    """A ``numpy.memmap`` read in chunks of about :data:`MEMMAP_CHUNK_BYTES`.

    Float32/float64 C-contiguous maps are read in place (no copy); other dtypes
    and layouts are converted one chunk at a time.  Pages of a read-only map
    are released after each chunk, so the resident memory stays about one
    chunk whatever the file's size (the OS page cache may keep them).
    """

    def __init__(self, X, sw=None):
        self._map = X
        self.sw = sw
        self.n_rows, self.n_features = X.shape
        self.dtype = np.dtype(X.dtype) if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        self.total_weight = float(self.n_rows if sw is None else sw.sum())
        self.weight_scale = 1.0
        self.chunk_rows = max(1, MEMMAP_CHUNK_BYTES // (8 * max(1, self.n_features)))

    def chunks(self):
        for c0 in range(0, self.n_rows, self.chunk_rows):
            c1 = min(self.n_rows, c0 + self.chunk_rows)
            view = self._map[c0:c1]
            yield c0, np.ascontiguousarray(view, dtype=self.dtype), None if self.sw is None else self.sw[c0:c1]
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
        return X_out, None if self.sw is None else self.sw[rows]

    scale_weights = ArraySource.scale_weights

    def check_finite(self):
        """Raise sklearn's ValueError if any value is NaN or infinite (one pass, chunk by chunk)."""
        for _, Xc, _ in self.chunks():
            check_chunk_finite(Xc)


class ChunkSource:
    """Rows delivered as chunks by a callable (called once per pass) or a re-iterable.

    Each chunk is a 2-D array-like (n_i, d) or a pair (X_i, sample_weight_i).
    The first pass validates every chunk and fixes the number of rows, the
    number of features and the dtype (float32 only if every chunk is float32);
    later passes must deliver the same rows.
    """

    def __init__(self, chunks):
        self._chunks = chunks
        self.n_rows = self.n_features = None
        self.feature_names = None
        self.dtype = None
        self._weighted = None
        self.total_weight = 0.0
        self.weight_scale = 1.0
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
        n_rows, dtypes, weighted = 0, set(), None
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
            check_chunk_finite(Xc)
            if swc is not None:
                swc = _check_chunk_weights(swc, Xc.shape[0], i)
                self.total_weight += float(swc.sum())
            dtypes.add(Xc.dtype)
            n_rows += Xc.shape[0]
        if self.n_features is None:
            raise ValueError("The chunk source gave no chunks: it needs at least one chunk of rows.")
        self.n_rows = n_rows
        self._weighted = weighted
        self.dtype = np.dtype(np.float32) if dtypes == {np.dtype(np.float32)} else np.dtype(np.float64)
        if not weighted:
            self.total_weight = float(n_rows)
        elif not self.total_weight > 0:
            raise ValueError("The chunks' sample weights sum to zero; at least one sample needs a positive weight.")

    def chunks(self):
        offset = 0
        for i, item in enumerate(self._open()):
            Xc, swc = _split_chunk(item, i)
            if Xc.shape[1] != self.n_features or (swc is not None) != self._weighted:
                raise ValueError(f"Chunk {i} differs from the first pass over the chunks (features or "
                                 "weights): the source must deliver the same data on every pass.")
            check_chunk_finite(Xc)
            if swc is not None:
                swc = _check_chunk_weights(swc, Xc.shape[0], i) * self.weight_scale
            yield offset, np.ascontiguousarray(Xc, dtype=self.dtype), swc
            offset += Xc.shape[0]
        if offset != self.n_rows:
            raise ValueError(f"The chunk source delivered {offset} rows, but {self.n_rows} on the first pass: "
                             "it must deliver the same data on every pass.")

    def scale_weights(self):
        """Scale the sample weights to mean 1 (only their ratios matter to the fit)."""
        if self._weighted:
            self.weight_scale = self.n_rows / self.total_weight
            self.total_weight = float(self.n_rows)

    def take(self, rows):
        rows = np.asarray(rows, dtype=np.int64)
        X_out = np.empty((rows.size, self.n_features), dtype=self.dtype)
        sw_out = np.empty(rows.size) if self._weighted else None
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


def check_chunk_finite(Xc):
    """sklearn's messages for NaN / infinity in X."""
    if not np.isfinite(Xc).all():
        if np.isnan(Xc).any():
            raise ValueError("Input X contains NaN.")
        raise ValueError("Input X contains infinity or a value too large for dtype('float64').")


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
    if Xc.dtype.kind not in "fiub":
        raise ValueError(f"Chunk {i} has dtype {Xc.dtype}; chunks must hold real numbers.")
    if Xc.dtype not in (np.float32, np.float64):
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
        start = view.ctypes.data - base
        end = start + view.nbytes
        start -= start % mmap.PAGESIZE
        mm.madvise(mmap.MADV_DONTNEED, start, min(len(mm), end) - start)
    except (ValueError, OSError, AttributeError):
        pass  # best effort: residency is a matter of memory use, never of results


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
