"""fastprob.io: reading CSV and .npy data files (what `fastprob fit` reads), and its errors."""
import csv

import numpy as np
import pytest

from fastprob import _sources, io

CSV_CASES = {  # name: (text, columns, numpy's parser takes it)
    "header_comma": ("a,b,c\n" + "".join(f"{x:.17g},{-x:.17g},{x * 1e-300:.17g}\n" for x in np.linspace(-7, 7, 50)),
                     None, True),
    "no_header_semicolon": ("1;2;3\n4;5;6\n7;8;9.5\n", None, True),
    "tab_columns": ("x1\tx2\tx3\n1\t2\t3\n4\t5\t6\n7\t8\t9\n", "x3,1", True),
    "crlf": ("a,b\r\n1.25,2\r\n3,4e-5\r\n5,+6\r\n", None, True),
    "spaces": ("a, b\n1.5, 2.5\n 3 ,4\n5,6\n", None, True),
    "no_final_newline": ("a,b\n1,2\n3,4", None, True),
    "leading_blank_lines": ("\n\na,b\n1,2\n3,4\n", None, True),
    "blank_line_inside": ("a,b\n1,2\n\n3,4\n5,6\n", None, False),
    "trailing_blank_lines": ("a,b\n1,2\n3,4\n\n\n", None, False),
    "nan_value": ("a,b\n1,2\nnan,4\n5,6\n", None, False),
    "quoted": ('"a","b"\n"1","2"\n"3","4"\n', None, False),
    "space_delimited": ("a b\n1 2\n3 4\n5 6\n", None, False),
    "bom_header": ("\ufeffa,b\n1,2\n3,4\n", None, True),  # Excel's "CSV UTF-8"
    "bom_no_header": ("\ufeff1,2\n3,4\n", None, True),
    "bom_missing_value": ("\ufeff1,2\n3,\n", None, False),
    "comments_first": ("# exported 2024\n  # by hand\na,b\n1,2\n3,4\n", None, True),
    "comment_inside": ("a,b\n1,2\n# a pause\n3,4\n", "b", False),
    "typo_look_alike_in_header": ("x,lO\n1,2\n", None, True),  # 'x' is a name: the row is a header
}


@pytest.mark.parametrize("name", sorted(CSV_CASES))
def test_csv_fast_path_equals_the_python_parser(tmp_path, monkeypatch, name):
    # numpy's C parser (a fraction of the memory and time) is used only where it
    # gives exactly what the Python parser gives, row -> line map included.
    text, columns, fast = CSV_CASES[name]
    path = tmp_path / "d.csv"
    path.write_bytes(text.encode())
    got = io.read_csv(path, columns)
    with open(path, newline="") as fh:
        try:
            dialect = csv.Sniffer().sniff(fh.read(), delimiters=",;\t ")
        except csv.Error:
            dialect = csv.excel
    assert (io._read_csv_numpy(path, dialect, columns) is not None) == fast
    monkeypatch.setattr(io, "_read_csv_numpy", lambda *a: None)
    want = io.read_csv(path, columns)
    np.testing.assert_array_equal(got[0], want[0])
    assert got[0].dtype == np.float64 and got[0].flags.c_contiguous
    assert got[1] == want[1]
    np.testing.assert_array_equal(got[2], want[2])


@pytest.mark.parametrize("name, X, names, lines", [
    ("tab_columns", [[3, 1], [6, 4], [9, 7]], ["x3", "x1"], [2, 3, 4]),
    ("no_header_semicolon", [[1, 2, 3], [4, 5, 6], [7, 8, 9.5]], None, [1, 2, 3]),
    ("crlf", [[1.25, 2], [3, 4e-5], [5, 6]], ["a", "b"], [2, 3, 4]),
    ("leading_blank_lines", [[1, 2], [3, 4]], ["a", "b"], [4, 5]),
    ("blank_line_inside", [[1, 2], [3, 4], [5, 6]], ["a", "b"], [2, 4, 5]),
    ("nan_value", [[1, 2], [np.nan, 4], [5, 6]], ["a", "b"], [2, 3, 4]),
    ("quoted", [[1, 2], [3, 4]], ["a", "b"], [2, 3]),
    ("space_delimited", [[1, 2], [3, 4], [5, 6]], ["a", "b"], [2, 3, 4]),
    ("bom_header", [[1, 2], [3, 4]], ["a", "b"], [2, 3]),
    ("bom_no_header", [[1, 2], [3, 4]], None, [1, 2]),
    ("bom_missing_value", [[1, 2], [3, np.nan]], None, [1, 2]),
    ("comments_first", [[1, 2], [3, 4]], ["a", "b"], [4, 5]),
    ("comment_inside", [[2], [4]], ["b"], [2, 4]),
])
def test_read_csv_values_names_and_lines(tmp_path, name, X, names, lines):
    text, columns, _ = CSV_CASES[name]
    path = tmp_path / "d.csv"
    path.write_bytes(text.encode())
    got, got_names, got_lines = io.read_csv(path, columns)
    np.testing.assert_array_equal(got, X)
    assert got_names == names
    assert got_lines.tolist() == lines and got_lines.dtype == np.int64


def test_read_csv_matches_numpy_on_a_large_table(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((2000, 5)) * 10.0 ** rng.integers(-5, 5, size=(2000, 5))
    path = tmp_path / "big.csv"
    np.savetxt(path, X, delimiter=",", header="a,b,c,d,e", comments="", fmt="%.17g")
    got, names, lines = io.read_csv(path, columns="e,2")
    np.testing.assert_array_equal(got, X[:, [4, 1]])
    assert names == ["e", "b"] and lines.tolist() == list(range(2, 2002))


def test_load_data_memory_maps_npy_and_copies_a_column_selection(tmp_path):
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "x.npy", X)
    loaded, names = io.load_data(tmp_path / "x.npy")
    assert isinstance(loaded, np.memmap) and not loaded.flags.writeable and names is None
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, X)
    picked, _ = io.load_data(tmp_path / "x.npy", columns="3,1")
    assert type(picked) is np.ndarray and picked.dtype == np.float64
    np.testing.assert_array_equal(picked, X[:, [2, 0]])
    np.save(tmp_path / "v.npy", np.arange(5.0))
    assert io.load_data(tmp_path / "v.npy")[0].shape == (5, 1)
    (tmp_path / "x.csv").write_text("p,q\n1,2\n3,4\n")
    got, names = io.load_data(tmp_path / "x.csv")
    np.testing.assert_array_equal(got, [[1, 2], [3, 4]])
    assert names == ["p", "q"] and got.dtype == np.float64


@pytest.mark.parametrize("content, message", [
    ("a,b,c\n1,2,x\n3,4,y\n", "bad.csv: column 3 ('c') is not numeric (line 2: 'x'); only numeric columns can be "
                              "read: drop it, or select the numeric ones with columns="),
    ("1,2\n3,oops\n", "bad.csv: column 2 is not numeric (line 2: 'oops'); only numeric columns can be read: drop "
                     "it, or select the numeric ones with columns="),
    ("a,b\n1,2\n,3\n4,5\n6,nan\n7,8\n", "bad.csv: 2 rows with NaN or missing values (lines 3, 5); remove or impute "
                                        "them first"),
    ("a,b\n1,2\n3,inf\n", "bad.csv: 1 row with infinite values (lines 3); remove or impute them first"),
    ("a,b\n1,2\n3\n", "bad.csv: line 3 has 1 fields, expected 2"),
    ("\n\n", "bad.csv: no data"),
])
def test_bad_csv_raises_value_error(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError) as exc:
        io.load_data(path)
    assert str(exc.value) == f"{tmp_path}/{message}"
    assert type(exc.value) is (io.NonNumericColumnError if "not numeric" in message else ValueError)


def test_many_bad_rows_are_counted_and_the_first_ten_named(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a\n" + "".join("nan\n" if i % 2 else f"{i}\n" for i in range(30)))
    with pytest.raises(ValueError, match=r"15 rows with NaN or missing values \(lines 3, 5, 7, 9, 11, 13, 15, 17, "
                                         r"19, 21, \.\.\. \(5 more\)\)"):
        io.load_data(path)


@pytest.mark.parametrize("content, message", [
    # Latin-1 / Windows-1252 (Excel's plain "CSV"): é is the byte 0xe9
    ("a,b\n1,2\ncaf\u00e9,3\n".encode("latin-1"), "line 3 is not UTF-8 text (byte 0xe9 at byte 4 of the line: "
                                                   "Latin-1 or Windows-1252 text, or a binary file?); save the file "
                                                   "as UTF-8 (in Excel: 'CSV UTF-8'), or use .npy for binary arrays"),
    ("a,b\n1,2\n".encode("utf-16"), "the file is UTF-16 text (it starts with a UTF-16 byte-order mark); CSV files "
                                    "are read as UTF-8: save it as UTF-8 (in Excel: 'CSV UTF-8'), or use .npy for "
                                    "binary arrays"),
    (b"\x93\x00\x81\n" * 10, "line 1 is not UTF-8 text (byte 0x93 at byte 1 of the line: Latin-1 or Windows-1252 "
                             "text, or a binary file?); save the file as UTF-8 (in Excel: 'CSV UTF-8'), or use .npy "
                             "for binary arrays"),
])
def test_text_that_is_not_utf8_is_named(tmp_path, content, message):
    # They all got "not a text CSV file", which neither names the encoding nor the line.
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError) as exc:
        io.load_data(path)
    assert str(exc.value) == f"{path}: {message}"


@pytest.mark.parametrize("content, field, line", [
    ("1.2,3.O\n4.5,6.7\n", "column 2 is not numeric (line 1: '3.O')", 1),       # a typo: 0 typed as O
    ("l.5,2\n4.5,6.7\n", "column 1 is not numeric (line 1: 'l.5')", 1),         # 1 typed as l
    ("1x,2y\n4.5,6.7\n", "column 1 is not numeric (line 1: '1x')", 1),          # begins like a number
    ("1_000,2\n3,4\n", "column 1 is not numeric (line 1: '1_000')", 1),          # float() reads 1000
    ("a,b\n1_000,2\n", "column 1 ('a') is not numeric (line 2: '1_000')", 2),
    ("a,b\n\u0661\u0662,2\n", "column 1 ('a') is not numeric (line 2: '\u0661\u0662')", 2),  # float() reads 12
])
def test_a_first_line_is_a_header_only_if_a_field_cannot_be_a_number(tmp_path, content, field, line):
    # "1.2,3.O" was taken for a header: the row was dropped, and the labels shifted
    # against the input.  The same typo on a later line was an error, as it is now.
    path = tmp_path / "d.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(io.NonNumericColumnError) as exc:
        io.read_csv(path)
    assert str(exc.value) == (f"{path}: {field}; only numeric columns can be read: drop it, or select the numeric "
                              "ones with columns=")
    assert exc.value.for_option("--columns") == (f"{path}: {field}; fit needs numeric columns only: drop it, or "
                                                 "select columns with --columns")


@pytest.mark.parametrize("first, header", [
    ("x,y", True), ("a,1", True), ("-,2", False), ("e,5", True), ("x1,x2", True), ("Infinity,x", True),
    ("1.2,3.4", False), ("inf,-nan", False), ("NA,2", False), (",", False), ("1e5,.5", False), ("3.O,4", False),
    ("O,l", False), ("+.5x,2", False)])
def test_the_header_rule(first, header):
    fields = [f.strip() for f in first.split(",")]
    assert io._is_header(fields) is header


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("1,2\n3,4\n"), "not a .npy file (it does not start with NumPy's header); write it "
                                           "with numpy.save, or give the data as a CSV file"),
    (lambda p: np.save(p, np.array([[1, "a"]], dtype=object), allow_pickle=True),
     "array of dtype object (Python objects) is not numeric; save a numeric array, e.g. "
     "numpy.save(path, X.astype(float))"),
    (lambda p: np.save(p, np.ones((3, 4), complex)), "array of dtype complex128 is not numeric"),
    (lambda p: np.save(p, np.ones((4, 3, 2))), "expected a 2-D array (samples x features), got shape (4, 3, 2)"),
    (lambda p: np.save(p, np.ones((10, 0))), "the array has no columns (shape (10, 0)); expected samples x features"),
    (lambda p: p.write_bytes(b"\x93NUMPY\x01\x00"), "cannot read as .npy ("),
])
def test_bad_npy_raises_value_error(tmp_path, make, message):
    path = tmp_path / "bad.npy"
    make(path)
    with pytest.raises(ValueError) as exc:
        io.load_data(path)
    assert str(exc.value).startswith(f"{path}: {message}")
    assert "pickle" not in str(exc.value)


def test_file_system_errors_are_os_errors(tmp_path):
    with pytest.raises(FileNotFoundError) as exc:
        io.load_data(tmp_path / "nope.csv")
    assert str(exc.value) == f"{tmp_path / 'nope.csv'}: no such file"
    with pytest.raises(IsADirectoryError) as exc:
        io.load_data(tmp_path)
    assert str(exc.value) == f"{tmp_path}: is a directory, expected a CSV or .npy file"


@pytest.mark.parametrize("suffix", [".csv", ".npy"])
def test_column_selection_errors(tmp_path, suffix):
    path = tmp_path / f"d{suffix}"
    if suffix == ".csv":
        path.write_text("a,b\n1,2\n3,4\n")
    else:
        np.save(path, np.ones((3, 2)))
    known = "; the header has 'a', 'b'" if suffix == ".csv" else " (the file has no header)"
    twice = "column 1 ('a')" if suffix == ".csv" else "column 1"
    for spec, problem in [
            ("1,3", f"column 3 does not exist ({path} has 2 columns)"),
            ("zzz", f"no column named 'zzz'{known}"),
            ("", "no column given; name the columns to keep (1-based numbers or header names, comma-separated), "
                 "or leave it out for all columns"),
            (" , ", "no column given; name the columns to keep (1-based numbers or header names, comma-separated), "
                    "or leave it out for all columns"),
            ("1,,2", "an empty item in '1,,2'; separate the columns by single commas"),
            ("1,2,1", f"{twice} is selected twice ('1' and '1'); a repeated column makes every covariance "
                      "singular")]:
        # (a ColumnSelectionError is a ValueError)
        with pytest.raises(ValueError) as exc:
            io.load_data(path, columns=spec)
        assert type(exc.value) is io.ColumnSelectionError
        assert str(exc.value) == f"columns={spec!r}: {problem}"
        assert exc.value.for_option("--columns") == f"--columns: {problem}"
    if suffix == ".csv":
        with pytest.raises(io.ColumnSelectionError) as exc:
            io.load_data(path, columns="a,1")
        assert str(exc.value) == ("columns='a,1': column 1 ('a') is selected twice ('a' and '1'); a repeated column "
                                  "makes every covariance singular")


def test_non_finite_rows_are_found_across_chunks(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 3))
    X[[0, 333, 334, 999], [0, 1, 2, 1]] = np.nan
    X[[5, 334, 700], [2, 0, 1]] = np.inf
    X[701, 0] = -np.inf
    np.save(tmp_path / "x.npy", X)
    for chunk_bytes in (1, 24 * 7, 24 * 1000, 1 << 30):  # 1 row, 7 rows, all rows, more
        monkeypatch.setattr(_sources, "MEMMAP_CHUNK_BYTES", chunk_bytes)
        for data in (X, np.load(tmp_path / "x.npy", mmap_mode="r")):
            nan, inf = io._non_finite_rows(data)
            np.testing.assert_array_equal(nan, [0, 333, 334, 999])
            np.testing.assert_array_equal(inf, [5, 334, 700, 701])
    nan, inf = io._non_finite_rows(np.ones((0, 2)))
    assert nan.size == inf.size == 0


@pytest.mark.parametrize("chunk_bytes", [1, 8 * 3 * 7, 1 << 30])
def test_row_chunks_cover_every_row_once_in_the_requested_dtype(tmp_path, monkeypatch, chunk_bytes):
    monkeypatch.setattr(_sources, "MEMMAP_CHUNK_BYTES", chunk_bytes)
    X = np.arange(300.0).reshape(100, 3)
    np.save(tmp_path / "x.npy", X)
    for data in (X, np.load(tmp_path / "x.npy", mmap_mode="r")):
        chunks = list(io.row_chunks(data, np.float32))
        assert [c0 for c0, _ in chunks] == list(np.cumsum([0] + [len(c) for _, c in chunks[:-1]]))
        assert all(c.dtype == np.float32 for _, c in chunks)
        np.testing.assert_array_equal(np.concatenate([c for _, c in chunks]), X.astype(np.float32))


@pytest.mark.parametrize("first", ["\u22121.5,2.0", "--1.5,2.0", "$1.5,2.0", "\uff11,\uff12", "\u0663,4"])
def test_mistyped_numbers_on_the_first_line_are_errors_not_a_header(tmp_path, first):
    # Typographic minus, doubled sign, currency, full-width or Arabic-Indic digits: not names,
    # so the line is data and the bad field is reported on line 1 (a header would drop the row).
    path = tmp_path / "f.csv"
    path.write_text(first + "\n1,2\n3,4\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 1"):
        io.load_data(path)
