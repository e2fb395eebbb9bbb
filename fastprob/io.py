"""Reading data files: a numeric matrix from a CSV or ``.npy`` file, as ``fastprob fit`` reads it.

:func:`load_data` is the entry point: a ``.npy`` file is memory-mapped (never
read into memory whole), a CSV file is parsed into float64, and rows with NaN,
missing or infinite values are an error that says how many and where.  Every
problem is a ValueError (or an OSError for the file system: a missing file, a
directory) whose message names the file, the problem and where it is.
"""
import codecs
import csv
import pathlib
import re
import unicodedata
import warnings

import numpy as np

from . import _sources

__all__ = ["ColumnSelectionError", "MISSING", "NonNumericColumnError", "load_data", "read_csv", "row_chunks"]

#: CSV fields read as a missing value (NaN), compared in lower case after stripping blanks.
MISSING = frozenset({"", "na", "nan", "n/a", "null", "none", "?"})

#: UTF-8, with or without the byte-order mark Excel writes at the start of a "CSV UTF-8" file.
ENCODING = "utf-8-sig"

#: How a number begins: an optional sign, then a digit, or '.' and a digit.
_NUMBER_START = re.compile(r"[+-]?\.?[0-9]")
#: Letters typed for look-alike digits ('3.O', 'l.5'): such a field is a mistyped number, not a name.
_LOOK_ALIKES = str.maketrans("OoIl", "0011")


class ColumnSelectionError(ValueError):
    """``columns`` does not select columns of the file (``fastprob fit`` reports it as a usage error).

    ``str(error)`` names the library's argument (``columns='...'``);
    :meth:`for_option` words it for a command-line option.

    Attributes
    ----------
    spec : str
        The ``columns`` argument.
    problem : str
        What is wrong with it.
    """

    def __init__(self, spec, problem):
        self.spec, self.problem = spec, problem
        super().__init__(f"columns={spec!r}: {problem}")

    def for_option(self, option):
        """The message for the command-line option ``option`` (e.g. '--columns') that gave ``spec``."""
        return f"{option}: {self.problem}"


class NonNumericColumnError(ValueError):
    """A field of a CSV file is not a number (nor a missing value).

    ``str(error)`` suggests the library's ``columns=`` argument;
    :meth:`for_option` the command-line option.

    Attributes
    ----------
    where : str
        The file, column, line and field.
    """

    def __init__(self, where):
        self.where = where
        super().__init__(f"{where}; only numeric columns can be read: drop it, or select the numeric ones "
                         "with columns=")

    def for_option(self, option):
        """The message for a command line whose option ``option`` (e.g. '--columns') selects columns."""
        return f"{self.where}; fit needs numeric columns only: drop it, or select columns with {option}"


def _where(items, limit=10):
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def _number(field):
    """The value of a CSV number (a stripped field), or None.

    Python's ``float`` also accepts '1_000' and non-ASCII digits; numbers in a
    CSV file have neither (numpy's parser refuses both too).
    """
    if field.isascii() and "_" not in field:
        try:
            return float(field)
        except ValueError:
            pass
    return None


def _is_name(field):
    """True if a stripped field can only be a column name, never a number or a mistyped one.

    A name has a letter (any script); it is not a missing-value marker, not a
    number ('inf' and 'nan' are numbers), does not begin like a number (an
    optional sign, then a digit or '.' and a digit: '3.O' and '1x' are mistyped
    numbers) and does not become a number when look-alike letters are read as
    digits ('l.5').  So '−1.5' (a typographic minus), '$1.5', '--1.5' or
    full-width digits are mistyped numbers, reported where they stand, never a
    header that would drop the line.
    """
    return (any(unicodedata.category(c).startswith("L") for c in field)
            and field.lower() not in MISSING and _number(field) is None
            and not _NUMBER_START.match(field) and _number(field.translate(_LOOK_ALIKES)) is None)


def _is_header(fields):
    """True if a CSV's first row (stripped fields) names columns: at least one field is a name."""
    return any(_is_name(f) for f in fields)


def _without_comments(lines):
    """The lines with every comment line ('#' its first non-blank character) made blank (line numbers kept)."""
    for line in lines:
        yield "\n" if line.lstrip().startswith("#") else line


def _not_utf8(path):
    """The message for a file that is not UTF-8 text: which encoding it seems to have, and where it fails."""
    with open(path, "rb") as fh:
        if fh.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return (f"{path}: the file is UTF-16 text (it starts with a UTF-16 byte-order mark); CSV files are read "
                    "as UTF-8: save it as UTF-8 (in Excel: 'CSV UTF-8'), or use .npy for binary arrays")
        fh.seek(0)
        for n, raw in enumerate(fh, start=1):
            if n == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return (f"{path}: line {n} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} "
                        "of the line: Latin-1 or Windows-1252 text, or a binary file?); save the file as UTF-8 "
                        "(in Excel: 'CSV UTF-8'), or use .npy for binary arrays")
    return f"{path}: not UTF-8 text"


def _count_lines(path):
    """Physical lines of a file (a last line without a newline counts), read in 1 MiB blocks."""
    n, last = 0, b"\n"
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")


def _read_csv_numpy(path, dialect, columns):
    """read_csv's result from numpy's C parser for a plain numeric table, else None.

    The Python parser below holds every field as a str: ~7x the file in memory
    (a 64 MB, 200 000 x 16 file: 437 MB, 3.1 s).  np.loadtxt parses into the
    array directly (54 MB, 1.0 s).  It is used only where it gives the same
    result: a ',', ';' or tab delimiter, no blank, comment or ragged lines
    after the first row (the row -> line map stays exact), every value finite
    (a NaN/missing report needs the lines) and numeric without quotes.
    Anything else returns None, and the Python parser produces the result or
    the precise error.
    """
    if dialect.delimiter not in ",;\t":
        return None
    with open(path, newline="", encoding=ENCODING) as fh:
        for first, line in enumerate(_without_comments(fh), start=1):
            if line.strip():
                fields = [f.strip() for f in next(csv.reader([line], dialect))]
                break
        else:
            return None
    header = _is_header(fields)
    names = fields if header else None
    picks = _select_columns(len(fields), names, columns, path) if columns is not None else None
    skip = first if header else first - 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # loadtxt only warns about an empty table
            X = np.loadtxt(path, delimiter=dialect.delimiter, skiprows=skip, comments=None, ndmin=2,
                           dtype=np.float64, encoding=ENCODING)
    except (ValueError, UserWarning, UnicodeDecodeError):
        return None
    if X.shape[1] != len(fields) or not np.isfinite(X).all() or skip + len(X) != _count_lines(path):
        return None
    if picks is not None:
        X = np.ascontiguousarray(X[:, picks])
        names = [names[j] for j in picks] if names else None
    return X, names, np.arange(skip + 1, skip + 1 + len(X), dtype=np.int64)


def read_csv(path, columns=None):
    """Numeric matrix from a CSV file with an optional header row.

    The file is UTF-8 text; a byte-order mark at its start (Excel's "CSV
    UTF-8") is ignored.  The delimiter (',', ';', tab or space) is detected
    from the file's start.  Blank lines and comment lines (whose first
    non-blank character is '#') are skipped; line numbers in messages and in
    ``lines`` count them.

    The first remaining row is a header when at least one of its fields is a
    column name: text with a letter that cannot be a number.  A field is *not*
    a name if it has no letter ('−1.5' with a typographic minus, '$1.5',
    '--1.5', full-width digits), is a number (including 'inf' and 'nan'), a
    missing-value marker (see
    :data:`MISSING`), empty, begins like a number (an optional sign, then a
    digit or '.' and a digit: '3.O', '1x') or becomes a number when the
    look-alike letters O, o, I, l are read as digits ('l.5').  So a first
    line with a typo (``1.2,3.O``) is data, and its bad field is an error
    naming line 1, rather than a "header" that silently drops a row.

    Numbers are what :class:`float` reads, in ASCII and without '_' (Python
    reads ``1_000`` as 1000; a CSV number has no separators).  A plain
    numeric table is parsed by numpy's C parser, anything else (quotes,
    missing values, blank or comment lines) by Python's :mod:`csv`, with the
    same result.

    Parameters
    ----------
    path : str or path-like
    columns : str, optional
        Columns to keep, in this order: comma-separated 1-based numbers or
        header names (the text of ``fastprob fit --columns``), e.g. ``"x,3"``;
        none empty or repeated.  Default (None): all.

    Returns
    -------
    X : ndarray of shape (N, d), float64
        Missing fields ('', 'NA', 'nan', 'null', ... see :data:`MISSING`) are NaN.
    names : list of str or None
        The selected columns' names if the first row is a header.
    lines : ndarray of int64, shape (N,)
        The file line (1-based) of each row of X.

    Raises
    ------
    ValueError
        Not UTF-8 text (the line and byte are named), no data, a row with
        another number of fields than the first.
    NonNumericColumnError
        A field that is not a number (a ValueError naming the column, its
        first offending line and the field).
    ColumnSelectionError
        ``columns`` is empty, repeats a column or names one the file does
        not have (a ValueError).
    OSError
        The file cannot be opened.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
    >>> _ = path.write_text("# measured 2024-05-01\\na,b\\n1,2\\n3,NA\\n")
    >>> X, names, lines = read_csv(path, columns="b,a")
    >>> X
    array([[ 2.,  1.],
           [nan,  3.]])
    >>> names, lines.tolist()
    (['b', 'a'], [3, 4])
    >>> _ = path.write_text("1.2,3.O\\n4.5,6.7\\n")
    >>> read_csv(path)
    Traceback (most recent call last):
    ...
    fastprob.io.NonNumericColumnError: ...d.csv: column 2 is not numeric (line 1: '3.O'); ...
    """
    try:
        with open(path, newline="", encoding=ENCODING) as fh:
            sample = "".join(_without_comments(fh.readlines(65536)))
            fh.seek(0)
            try:
                dialect = csv.Sniffer().sniff(sample, delimiters=",;\t ")
            except csv.Error:
                dialect = csv.excel
            fast = _read_csv_numpy(path, dialect, columns)
            if fast is not None:
                return fast
            rows = [(i, [f.strip() for f in row])
                    for i, row in enumerate(csv.reader(_without_comments(fh), dialect), start=1)
                    if row and any(f.strip() for f in row)]
    except UnicodeDecodeError:
        raise ValueError(_not_utf8(path)) from None
    if not rows:
        raise ValueError(f"{path}: no data")
    names = None
    if _is_header(rows[0][1]):
        names = rows[0][1]
        rows = rows[1:]
    width = len(names) if names is not None else len(rows[0][1]) if rows else 0
    for line, row in rows:
        if len(row) != width:
            raise ValueError(f"{path}: line {line} has {len(row)} fields, expected {width}")
    picks = _select_columns(width, names, columns, path) if columns is not None else list(range(width))
    X = np.empty((len(rows), len(picks)))
    for c, j in enumerate(picks):
        for r, (line, row) in enumerate(rows):
            field = row[j]
            value = _number(field)
            if value is not None:
                X[r, c] = value
            elif field.lower() in MISSING:
                X[r, c] = np.nan
            else:
                label = f"column {j + 1}" + (f" ({names[j]!r})" if names else "")
                raise NonNumericColumnError(f"{path}: {label} is not numeric (line {line}: {field!r})")
    names = [names[j] for j in picks] if names else None
    return X, names, np.array([line for line, _ in rows], dtype=np.int64)


def _select_columns(width, names, spec, path):
    """Indices of the columns ``spec`` picks (comma-separated 1-based numbers or header names)."""
    if not isinstance(spec, str):
        raise TypeError(f"columns must be a str such as 'x,3' (comma-separated 1-based numbers or header "
                        f"names), got {type(spec).__name__}.")
    items = [item.strip() for item in spec.split(",")]
    if not any(items):
        raise ColumnSelectionError(spec, "no column given; name the columns to keep (1-based numbers or header "
                                         "names, comma-separated), or leave it out for all columns")
    if not all(items):
        raise ColumnSelectionError(spec, f"an empty item in {spec!r}; separate the columns by single commas")
    picks, given = [], {}
    for item in items:
        if item.isdigit() and item.isascii():
            j = int(item) - 1
            if not 0 <= j < width:
                raise ColumnSelectionError(spec, f"column {item} does not exist ({path} has {width} columns)")
        elif names is not None and item in names:
            j = names.index(item)
        else:
            known = f"; the header has {', '.join(map(repr, names))}" if names else " (the file has no header)"
            raise ColumnSelectionError(spec, f"no column named {item!r}{known}")
        if j in given:
            label = f"column {j + 1}" + (f" ({names[j]!r})" if names else "")
            raise ColumnSelectionError(spec, f"{label} is selected twice ({given[j]!r} and {item!r}); a repeated "
                                             "column makes every covariance singular")
        given[j] = item
        picks.append(j)
    return picks


def load_data(path, columns=None):
    """A data matrix, one sample per row, from a CSV or ``.npy`` file, every value finite.

    A ``.npy`` file (by its suffix) is memory-mapped, not read: X is the
    read-only :class:`numpy.memmap` in the file's dtype (so a fit can run out
    of core), a 1-D array one column; selecting ``columns`` gives a float64
    copy of them instead.  Any other file is read as CSV by :func:`read_csv`
    (float64).  NaN, missing and infinite values are looked for chunk by chunk
    (a memmap's pages are released as it goes).

    Parameters
    ----------
    path : str or path-like
    columns : str, optional
        Columns to keep, in this order: comma-separated 1-based numbers or
        header names (a ``.npy`` file has no names), e.g. ``"x,3"``; none
        empty or repeated.  Default (None): all.

    Returns
    -------
    X : ndarray or numpy.memmap of shape (N, d)
    names : list of str or None
        Column names, from a CSV header row.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        No file at ``path``, or a directory.
    ValueError
        Unreadable or non-numeric contents (:class:`NonNumericColumnError`
        for a CSV field), or rows with NaN / missing or infinite values (how
        many, and which lines of a CSV or 0-based rows of a ``.npy`` file).
        The message names the file, the problem and the fix.
    ColumnSelectionError
        ``columns`` is empty, repeats a column or names one the file does not
        have (a ValueError).
    OSError
        The file cannot be read.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.npy"
    >>> np.save(path, np.arange(6.0).reshape(3, 2))
    >>> X, names = load_data(path)
    >>> type(X).__name__, X.shape, names
    ('memmap', (3, 2), None)
    >>> _ = path.with_suffix(".csv").write_text("a,b\\n1,2\\n3,\\n")
    >>> load_data(path.with_suffix(".csv"))
    Traceback (most recent call last):
    ...
    ValueError: ...x.csv: 1 row with NaN or missing values (lines 3); remove or impute them first
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory, expected a CSV or .npy file")
    if path.suffix.lower() == ".npy":
        # numpy's own errors for these two point at pickles and allow_pickle, which is not the fix
        with open(path, "rb") as fh:
            if fh.read(6) != b"\x93NUMPY":
                raise ValueError(f"{path}: not a .npy file (it does not start with NumPy's header); "
                                 "write it with numpy.save, or give the data as a CSV file")
        try:
            X = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            if "Python objects" in str(exc):
                raise ValueError(f"{path}: array of dtype object (Python objects) is not numeric; "
                                 "save a numeric array, e.g. numpy.save(path, X.astype(float))") from None
            raise ValueError(f"{path}: cannot read as .npy ({exc})") from None
        if X.dtype.names or X.dtype.kind not in "biuf":
            raise ValueError(f"{path}: array of dtype {X.dtype} is not numeric")
        if X.ndim == 1:
            X = X.reshape(-1, 1)
        if X.ndim != 2:
            raise ValueError(f"{path}: expected a 2-D array (samples x features), got shape {X.shape}")
        if X.shape[1] == 0:
            raise ValueError(f"{path}: the array has no columns (shape {X.shape}); expected samples x features")
        names, where, unit = None, None, "rows (0-based)"
        if columns is not None:
            # a plain array (astype would keep the memmap subclass of a map it no longer is)
            X = np.array(X[:, _select_columns(X.shape[1], None, columns, path)], dtype=np.float64)
    else:
        X, names, where = read_csv(path, columns)
        unit = "lines"
    for rows, what in zip(_non_finite_rows(X), ("NaN or missing values", "infinite values")):
        if rows.size:
            idx = (rows if where is None else where[rows]).tolist()
            raise ValueError(f"{path}: {len(idx)} row{'s' * (len(idx) != 1)} with {what} ({unit} {_where(idx)}); "
                             "remove or impute them first")
    return X, names


def row_chunks(X, dtype=None):
    """Iterate over the rows of X in chunks of bounded size.

    A :class:`numpy.memmap` goes through :class:`fastprob._sources.MemmapSource`,
    which releases the file's pages after each chunk, so a file larger than
    memory can be checked, scored or written out.

    Parameters
    ----------
    X : ndarray or numpy.memmap of shape (N, d)
    dtype : numpy dtype, optional
        Dtype of the chunks (default X's); each chunk is converted on its own.

    Yields
    ------
    first : int
        Index of the chunk's first row in X.
    chunk : ndarray of shape (n, d)
    """
    if isinstance(X, np.memmap):
        for c0, chunk, _ in _sources.MemmapSource(X).chunks():
            yield c0, chunk.astype(dtype or chunk.dtype, copy=False)
        return
    rows = max(1, _sources.MEMMAP_CHUNK_BYTES // max(1, 8 * X.shape[1]))
    for c0 in range(0, X.shape[0], rows):
        yield c0, X[c0:c0 + rows].astype(dtype or X.dtype, copy=False)


def _non_finite_rows(X):
    """(rows with a NaN, rows with an infinite value): sorted row indices, X read in chunks.

    Chunks keep the check's temporary arrays small, and a memory-mapped file's
    pages are not left resident.
    """
    nan, inf = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for c0, block in row_chunks(X):
        nan.append(c0 + np.flatnonzero(np.isnan(block).any(axis=1)))
        inf.append(c0 + np.flatnonzero(np.isinf(block).any(axis=1)))
    return np.concatenate(nan), np.concatenate(inf)

