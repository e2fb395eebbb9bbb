"""The command line: `fastprob demo`, `fastprob fit` (bench: tests/test_bench.py; the file reader: tests/test_io.py)."""
import os
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastprob
from fastprob import _sources
from fastprob.cli import main
from fastprob.io import load_data

WEIGHTS = [0.3, 0.3, 0.4]
MEANS = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
COVS = np.stack([np.eye(2), [[1.0, 0.5], [0.5, 1.0]], [[0.5, 0.0], [0.0, 2.0]]])


@pytest.fixture(scope="module")
def three_clusters():
    return fastprob.gmm_sample(WEIGHTS, MEANS, COVS, 900, random_state=3)


@pytest.fixture
def csv_file(tmp_path, three_clusters):
    X, _ = three_clusters
    path = tmp_path / "data.csv"
    np.savetxt(path, X, delimiter=",", header="x,y", comments="")
    return path


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_python_m_help_subprocess(tmp_path):
    proc = subprocess.run([sys.executable, "-P", "-m", "fastprob", "--help"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0
    for command in ("demo", "fit", "bench"):
        assert command in proc.stdout
    assert "exit status" in proc.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["demo", "fit", "bench"])
def test_every_subcommand_has_help(capsys, command):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "--out DIR" in capsys.readouterr().out


def test_demo_without_matplotlib_still_fits(tmp_path, capsys, monkeypatch):
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    status, out, _ = run(capsys, "demo", "--out", tmp_path)
    assert status == 0
    assert "BIC = 2322.19" in out and "K = 2" in out
    assert "figure: not written; fastprob.plot needs matplotlib: pip install 'fastprob[plot]'" in out
    assert list(tmp_path.iterdir()) == []


def test_fit_recovers_the_components_and_saves_a_loadable_model(tmp_path, capsys, csv_file, three_clusters):
    X, labels = three_clusters
    status, out, err = run(capsys, "fit", csv_file, "--n-components", 3, "--out", tmp_path, "--labels",
                           "--responsibilities", "-q")
    assert status == 0, err
    model_path = tmp_path / "data.gmm.npz"
    gm = fastprob.GaussianMixture.load(model_path)
    order = np.argsort(gm.means_[:, 0] + 2 * gm.means_[:, 1])  # true order: (0,0), (8,0), (0,8)
    np.testing.assert_allclose(gm.means_[order], MEANS, atol=0.25)
    np.testing.assert_allclose(gm.weights_[order], WEIGHTS, atol=0.05)
    np.testing.assert_allclose(gm.covariances_[order], COVS, atol=0.3)
    loglik = gm.score(X) * len(X)
    assert f"total log-likelihood = {loglik:.4f}" in out
    assert f"BIC = {gm.bic(X):.4f}" in out
    assert f"model: {model_path}" in out
    saved = np.loadtxt(tmp_path / "data.labels.csv", delimiter=",", skiprows=1)
    np.testing.assert_array_equal(saved[:, 0], gm.predict(X))
    np.testing.assert_allclose(saved[:, 1:], gm.predict_proba(X), atol=1e-5)
    # the labels agree with the generating components up to a permutation
    assert (order[gm.predict(X)] == labels).mean() > 0.99 or len(set(zip(gm.predict(X), labels))) == 3


def test_fit_picks_k_by_bic(tmp_path, capsys, csv_file):
    status, out, err = run(capsys, "fit", csv_file, "--n-components", "1-4", "--out", tmp_path, "-q")
    assert status == 0, err
    assert "K = 3 (chosen by BIC among K = 1..4)" in out
    table = [line.split() for line in out.splitlines() if line[:3].strip() in {"1", "2", "3", "4"}]
    assert [int(row[0]) for row in table] == [1, 2, 3, 4]
    bics = [float(row[2]) for row in table]
    assert int(np.argmin(bics)) == 2
    assert fastprob.GaussianMixture.load(tmp_path / "data.gmm.npz").n_components == 3


def test_fit_npy_float32_and_progress(tmp_path, capsys, three_clusters):
    path = tmp_path / "x.npy"
    np.save(path, three_clusters[0])
    status, out, err = run(capsys, "fit", path, "-k", 2, "--dtype", "float32", "--max-iter", 3, "--tol", 0,
                           "--verbose", "--threads", 1, "--out", tmp_path / "res", "--model", "m.npz")
    assert status == 0
    assert "float32" in out
    assert "lower bound" in err and "Δ" in err
    progress = [line.split() for line in err.splitlines() if line.strip().startswith("2 ")]
    assert [int(row[2]) for row in progress] == [1, 2, 3]
    assert "did not converge" in err
    assert fastprob.GaussianMixture.load(tmp_path / "res" / "m.npz").means_.dtype == np.float32


def test_progress_lines_are_the_estimators_callback(tmp_path, capsys, csv_file):
    # The CLI's progress comes from GaussianMixture.fit(callback=...): the same
    # iterations and lower bounds a direct fit reports through FitProgress.
    from fastprob.io import load_data

    status, _, err = run(capsys, "fit", csv_file, "-k", 3, "--n-init", 2, "--max-iter", 4, "--tol", 0, "--verbose",
                         "--out", tmp_path)
    assert status == 0, err
    rows = [line.split() for line in err.splitlines() if line.strip().startswith("3 ")]
    seen = []
    X, _ = load_data(csv_file)
    with pytest.warns(ConvergenceWarning):
        fastprob.GaussianMixture(3, n_init=2, max_iter=4, tol=0.0, random_state=0).fit(X, callback=seen.append)
    iterations = [p for p in seen if p.event == "iteration"]
    assert [(int(r[1]), int(r[2])) for r in rows] == [(p.init, p.n_iter) for p in iterations]
    np.testing.assert_allclose([float(r[3]) for r in rows], [p.lower_bound for p in iterations], atol=1e-6)
    np.testing.assert_allclose([float(r[4]) for r in rows], [p.change for p in iterations], rtol=1e-3)
    assert "Initialization" not in err  # scikit-learn's verbose messages stay off


def test_choices_are_the_librarys(capsys):
    from fastprob._validation import FLOAT_DTYPES
    from fastprob.cli import build_parser
    from fastprob.estimator import INIT_PARAMS
    from fastprob.mixture import COVARIANCE_TYPES

    fit = build_parser()._subparsers._group_actions[0].choices["fit"]
    choices = {a.dest: list(a.choices) for a in fit._actions if a.choices is not None}
    dtypes = choices.pop("dtype")
    assert choices == {"covariance_type": list(COVARIANCE_TYPES), "init": list(INIT_PARAMS)}
    assert sorted(dtypes) == sorted(np.dtype(t).name for t in FLOAT_DTYPES) and dtypes[0] == "float64"  # the default
    with pytest.raises(SystemExit) as exc:
        main(["fit", "x.csv", "--init", "banana"])
    assert exc.value.code == 2
    assert "argument --init: invalid choice: 'banana' (choose from 'kmeans', 'k-means++', 'random', " \
           "'random_from_data')" in capsys.readouterr().err


def test_building_the_parser_does_not_import_scikit_learn():
    # `fastprob --help`, `compile` and `bench --list` must not pay for the estimator's import.
    code = ("import sys; from fastprob.cli import build_parser; build_parser(); "
            "print('fastprob.estimator' in sys.modules, 'sklearn' in sys.modules)")
    proc = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]


def test_fit_column_selection(tmp_path, capsys, three_clusters):
    X = three_clusters[0]
    path = tmp_path / "d.csv"
    with open(path, "w") as fh:
        fh.write("name,x,y\n")
        for i, (a, b) in enumerate(X):
            fh.write(f"p{i},{a},{b}\n")
    status, _, err = run(capsys, "fit", path, "--out", tmp_path)
    assert status == 1
    assert "column 1 ('name') is not numeric (line 2: 'p0')" in err
    assert err == (f"fastprob: error: {path}: column 1 ('name') is not numeric (line 2: 'p0'); fit needs numeric "
                   "columns only: drop it, or select columns with --columns\n")
    status, out, err = run(capsys, "fit", path, "--columns", "x,3", "--out", tmp_path, "-k", 3, "-q")
    assert status == 0, err
    assert "(x, y)" in out


@pytest.mark.parametrize("content, message", [
    ("a,b,c\n1,2,x\n3,4,y\n", "bad.csv: column 3 ('c') is not numeric (line 2: 'x')"),
    ("1,2\n3,oops\n", "bad.csv: column 2 is not numeric (line 2: 'oops')"),
    ("a,b\n1,2\n,3\n4,5\n6,nan\n7,8\n", "bad.csv: 2 rows with NaN or missing values (lines 3, 5)"),
    ("a,b\n1,2\n3,inf\n", "bad.csv: 1 row with infinite values (lines 3)"),
    ("a,b\n1,2\n3\n", "bad.csv: line 3 has 1 fields, expected 2"),
    ("a,b\n1,2\n", "bad.csv: too few rows: 1 row, but fitting 1 component needs at least 2"),
    ("a,b\n1,2\n3,4\n5,6\n", "bad.csv: too few rows: 3 rows, but fitting 4 components needs at least 4"),
])
def test_fit_bad_data_is_a_clear_error(tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    k = "4" if "4 components" in message else "1"
    status, out, err = run(capsys, "fit", path, "-k", k, "--out", tmp_path)
    assert status == 1
    assert err.startswith("fastprob: error: ") and message in err
    assert "Traceback" not in err
    assert not (tmp_path / "bad.gmm.npz").exists()


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("1,2\n3,4\n"), "not a .npy file (it does not start with NumPy's header); write it "
                                           "with numpy.save, or give the data as a CSV file"),
    (lambda p: np.save(p, np.array([[1, "a"]], dtype=object), allow_pickle=True),
     "array of dtype object (Python objects) is not numeric; save a numeric array"),
    (lambda p: np.save(p, np.ones((3, 4), complex)), "array of dtype complex128 is not numeric"),
    (lambda p: np.save(p, np.ones((4, 3, 2))), "expected a 2-D array (samples x features), got shape (4, 3, 2)"),
    (lambda p: np.save(p, np.ones((10, 0))), "the array has no columns (shape (10, 0))"),
    (lambda p: p.write_bytes(b"\x93NUMPY\x01\x00"), "cannot read as .npy"),
])
def test_fit_bad_npy_is_a_clear_error(tmp_path, capsys, make, message):
    path = tmp_path / "bad.npy"
    make(path)
    status, out, err = run(capsys, "fit", path, "--out", tmp_path)
    assert status == 1
    assert err.startswith(f"fastprob: error: {path}: ") and message in err, err
    assert "Traceback" not in err and "pickle" not in err
    assert out == ""


def test_fit_missing_file_and_nan_rows_in_npy(tmp_path, capsys):
    status, _, err = run(capsys, "fit", tmp_path / "nope.csv", "--out", tmp_path)
    assert status == 1 and err == f"fastprob: error: {tmp_path / 'nope.csv'}: no such file\n"
    status, _, err = run(capsys, "fit", tmp_path, "--out", tmp_path)
    assert status == 1 and err == f"fastprob: error: {tmp_path}: is a directory, expected a CSV or .npy file\n"
    X = np.ones((20, 2))
    X[[4, 11], 1] = np.nan
    np.save(tmp_path / "n.npy", X)
    status, _, err = run(capsys, "fit", tmp_path / "n.npy", "--out", tmp_path)
    assert status == 1 and "2 rows with NaN or missing values (rows (0-based) 4, 11)" in err


@pytest.mark.parametrize("file_dtype, fit_dtype, how", [
    ("float64", "float64", "memmap"), ("float32", "float32", "memmap"),
    ("float32", "float64", "chunks"), ("float64", "float32", "chunks"), ("int32", "float64", "chunks")])
def test_npy_is_memory_mapped_and_fits_out_of_core(tmp_path, capsys, monkeypatch, three_clusters,
                                                   file_dtype, fit_dtype, how):
    # A .npy is never read into memory whole: the fit gets the read-only memmap
    # when the file has the fit's dtype, else chunks converted one at a time;
    # the fit equals the in-memory one.
    from fastprob import selection

    X = (three_clusters[0] * (100 if file_dtype == "int32" else 1)).astype(file_dtype)
    path = tmp_path / "x.npy"
    np.save(path, X)
    loaded, names = load_data(path)
    assert isinstance(loaded, np.memmap) and loaded.dtype == X.dtype and names is None
    np.testing.assert_array_equal(loaded, X)
    seen, select = [], selection.select_mixture
    monkeypatch.setattr(selection, "select_mixture", lambda data, *a, **k: (
        seen.append("memmap" if isinstance(data, np.memmap) else "chunks" if callable(data) else type(data)),
        select(data, *a, **k))[1])
    status, out, err = run(capsys, "fit", path, "-k", 3, "--dtype", fit_dtype, "-q", "--labels", "--out", tmp_path)
    assert status == 0, err
    assert seen == [how]
    Xf = X.astype(fit_dtype)
    gm = fastprob.GaussianMixture(3, random_state=0).fit(Xf)
    rtol = 1e-4 if fit_dtype == "float32" else 1e-7
    line = next(line for line in out.splitlines() if "BIC =" in line).split()
    np.testing.assert_allclose([float(line[2]), float(line[5])], [gm.bic(Xf), gm.aic(Xf)], rtol=rtol)
    saved = fastprob.GaussianMixture.load(tmp_path / "x.gmm.npz")
    assert saved.means_.dtype == fit_dtype
    np.testing.assert_allclose(saved.means_, gm.means_, rtol=rtol)
    labels = np.loadtxt(tmp_path / "x.labels.csv", delimiter=",", skiprows=1)
    np.testing.assert_array_equal(labels, gm.predict(Xf))


@pytest.mark.parametrize("suffix, dtype", [(".npy", "float64"), (".npy", "float32"), (".csv", "float64")])
@pytest.mark.parametrize("chunk_bytes", [16 * 7, 1 << 30])  # 7 rows of 2 float64 columns; all rows
def test_labels_and_responsibilities_are_written_chunk_by_chunk(tmp_path, capsys, monkeypatch, three_clusters,
                                                                 suffix, dtype, chunk_bytes):
    # The scores kernel sees one chunk at a time (no N x K array for a large
    # file), and the file is the same text as whole-array predictions give.
    from fastprob import mixture

    X = three_clusters[0]
    path = tmp_path / f"x{suffix}"
    if suffix == ".npy":
        np.save(path, X)
    else:
        np.savetxt(path, X, delimiter=",", header="a,b", comments="", fmt="%.17g")
    monkeypatch.setattr(_sources, "MEMMAP_CHUNK_BYTES", chunk_bytes)
    rows, score = [], mixture.score
    monkeypatch.setattr(mixture, "score", lambda X, *a, **k: (  # the prediction calls (not the log-likelihood's)
        (k.get("resp") or k.get("labels")) and rows.append(len(X)), score(X, *a, **k))[1])
    for flags in (["--labels"], ["--responsibilities"], ["--labels", "--responsibilities"]):
        rows.clear()
        status, out, err = run(capsys, "fit", path, "-k", 3, "--dtype", dtype, "-q", "--out", tmp_path, *flags)
        assert status == 0, err
        assert max(rows) == (7 if chunk_bytes < len(X) else len(X)) and sum(rows) == len(X)
        gm = fastprob.GaussianMixture.load(tmp_path / "x.gmm.npz")
        Xf = X.astype(dtype)
        cols, header, fmt = [], [], []
        if "--labels" in flags:
            cols.append(gm.predict(Xf)[:, None].astype(np.float64))
            header.append("label")
            fmt.append("%d")
        if "--responsibilities" in flags:
            cols.append(gm.predict_proba(Xf))
            header += ["p0", "p1", "p2"]
            fmt += ["%.6g"] * 3
        expected = tmp_path / "expected.csv"
        np.savetxt(expected, np.hstack(cols), delimiter=",", header=",".join(header), comments="", fmt=fmt)
        assert (tmp_path / "x.labels.csv").read_text() == expected.read_text()


@pytest.mark.parametrize("argv, message", [
    (["-k", "0"], "expected 1 <= A <= B"),
    (["-k", "3-2"], "expected 1 <= A <= B"),
    (["-k", "two"], "expected K or a range A-B"),
    (["--covariance-type", "banana"], "invalid choice"),
    (["--tol", "-1"], "expected a finite number >= 0"),
    (["--random-state", "-1"], "argument --random-state: expected an integer from 0 to 4294967295, got '-1'"),
    (["--random-state", str(2**32)], "argument --random-state: expected an integer from 0 to 4294967295, got "
                                     "'4294967296'"),
])
def test_fit_usage_errors_exit_2(tmp_path, capsys, csv_file, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(["fit", str(csv_file), *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_runtime_usage_errors_exit_2(tmp_path, capsys, csv_file):
    status, _, err = run(capsys, "fit", csv_file, "--threads", 10_000, "--out", tmp_path)
    assert status == 2 and "--threads must be between 1 and" in err
    status, _, err = run(capsys, "fit", csv_file, "--columns", "zzz", "--out", tmp_path)
    assert status == 2 and "no column named 'zzz'" in err
    (tmp_path / "file").write_text("")
    status, _, err = run(capsys, "fit", csv_file, "--out", tmp_path / "file")
    assert status == 2 and "is not a directory" in err


@pytest.fixture
def no_fit(monkeypatch):
    """Make any attempt to read the data or fit fail the test: errors must come before the work."""
    from fastprob import estimator, io

    def forbidden(*args, **kwargs):
        raise AssertionError("the data were read or fitted before the error")

    monkeypatch.setattr(io, "load_data", forbidden)
    monkeypatch.setattr(estimator.GaussianMixture, "fit", forbidden)


@pytest.mark.parametrize("columns, problem", [
    ("", "no column given; name the columns to keep (1-based numbers or header names, comma-separated), or leave "
         "it out for all columns"),
    ("x,x", "column 1 ('x') is selected twice ('x' and 'x'); a repeated column makes every covariance singular"),
    ("y,1,2", "column 2 ('y') is selected twice ('y' and '2'); a repeated column makes every covariance singular"),
])
def test_empty_or_repeated_columns_are_usage_errors(tmp_path, capsys, csv_file, columns, problem):
    # --columns "" meant all columns; --columns a,a fitted a singular covariance silently.
    status, out, err = run(capsys, "fit", csv_file, "--columns", columns, "--out", tmp_path)
    assert status == 2
    assert err == f"fastprob: error: --columns: {problem}\n"
    assert out == "" and not (tmp_path / "data.gmm.npz").exists()


def test_a_model_folder_that_does_not_exist_is_refused_before_the_fit(tmp_path, capsys, csv_file, no_fit):
    # It failed after the fit ("cannot write the output").
    status, out, err = run(capsys, "fit", csv_file, "--model", "sub/m.npz", "--out", tmp_path)
    assert status == 2
    assert err == f"fastprob: error: --model sub/m.npz: the folder {tmp_path / 'sub'} does not exist; create it first\n"
    (tmp_path / "m.npz").mkdir()
    status, out, err = run(capsys, "fit", csv_file, "--model", "m.npz", "--out", tmp_path)
    assert status == 2
    assert err == f"fastprob: error: --model m.npz: {tmp_path / 'm.npz'} is a folder; give a file name\n"
    assert out == ""


def test_an_out_folder_that_cannot_be_created_is_a_usage_error(tmp_path, capsys, csv_file, no_fit):
    (tmp_path / "file").write_text("")
    status, out, err = run(capsys, "fit", csv_file, "--out", tmp_path / "file" / "sub")
    assert status == 2
    assert err == f"fastprob: error: --out {tmp_path / 'file' / 'sub'}: cannot write files there (Not a directory)\n"


def _without_root_override(argv):
    """argv run so that permission bits apply to it: as it is for a user, without root's override for root."""
    if os.geteuid() != 0:
        return argv
    command = [shutil.which("setpriv") or "setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    try:
        probe = subprocess.run([*command, "true"], capture_output=True, timeout=30)
    except OSError:
        probe = None
    if probe is None or probe.returncode != 0:
        pytest.skip("running as root, and setpriv cannot drop root's permission override here")
    return [*command, *argv]


def test_a_read_only_out_folder_is_refused_before_the_fit(tmp_path, csv_file):
    # It failed only after every K had been fitted.
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        argv = _without_root_override([sys.executable, "-P", "-m", "fastprob", "fit", str(csv_file), "-k", "1-3",
                                       "--out", str(ro)])
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    finally:
        ro.chmod(0o755)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == f"fastprob: error: --out {ro}: cannot write files there (Permission denied)\n"
    assert proc.stdout == "" and list(ro.iterdir()) == []


def test_a_csv_with_a_byte_order_mark_keeps_every_row(tmp_path, capsys, three_clusters):
    # Excel's "CSV UTF-8" starts with a BOM: the first data row was taken for a header.
    X = three_clusters[0][:100]
    for header in ("", "x,y\n"):
        path = tmp_path / "bom.csv"
        path.write_text("\ufeff" + header + "".join(f"{a:.17g},{b:.17g}\n" for a, b in X), encoding="utf-8")
        status, out, err = run(capsys, "fit", path, "-k", 2, "--labels", "-q", "--out", tmp_path)
        assert status == 0, err
        assert f"data: {path}: 100 rows x 2 columns" + (" (x, y)" if header else "") + ", float64" in out
        gm = fastprob.GaussianMixture.load(tmp_path / "bom.gmm.npz")
        labels = np.loadtxt(tmp_path / "bom.labels.csv", delimiter=",", skiprows=1)
        np.testing.assert_array_equal(labels, gm.predict(X))


def test_the_progress_table_has_every_k_once_it_has_started(monkeypatch, capsys):
    # The table listed only the K values that happened to be slow: here K=1 and
    # K=3 are fast and K=2 is slow.  Once the table starts (K=2 after 1 s), it
    # shows the last iteration of every initialisation, K=1's included.
    from fastprob import cli
    from fastprob.estimator import FitProgress

    clock = types.SimpleNamespace(now=0.0)
    monkeypatch.setattr(cli, "time", types.SimpleNamespace(perf_counter=lambda: clock.now))
    progress = cli._Progress(verbose=False, quiet=False)
    for K, times in [(1, [0.1, 0.2]), (2, [0.5, 1.2, 1.3, 1.8, 1.9]), (3, [0.1, 0.2])]:
        clock.now = 100.0 * K
        progress(FitProgress("init_begin", 0, 0, -np.inf, np.nan, False, K))
        for n, t in enumerate(times, start=1):
            clock.now = 100.0 * K + t
            progress(FitProgress("iteration", 0, n, -K - 1.0 / n, 1.0 / n, False, K))
        progress(FitProgress("init_end", 0, len(times), -K - 1.0 / len(times), np.nan, False, K))
    rows = [line.split() for line in capsys.readouterr().err.splitlines()]
    assert rows[0] == ["K", "init", "iter", "lower", "bound", "Δ", "time"]
    # K, iteration and time of each line: K=1's last iteration comes when the table starts
    assert [(int(r[0]), int(r[2]), r[5]) for r in rows[1:]] == [
        (1, 2, "0.20s"), (2, 2, "1.20s"), (2, 4, "1.80s"), (2, 5, "1.90s"), (3, 2, "0.20s")]


def test_model_or_labels_never_overwrite_the_data(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,2\n3,4\n5,7\n2,1\n")
    before = data.read_bytes()
    for args in (["--model", str(data)], ["--model", "d.csv", "--out", str(tmp_path)]):
        status, out, err = run(capsys, "fit", data, "-q", *args)
        assert status == 2 and "is the data file being fitted" in err
        assert data.read_bytes() == before
    status, out, err = run(capsys, "fit", data, "-q", "--model", "")
    assert status == 2 and "--model: empty file name" in err
    (tmp_path / "d.labels.csv").mkdir()
    status, out, err = run(capsys, "fit", data, "-q", "--labels", "--out", tmp_path)
    assert status == 2 and "d.labels.csv is a folder" in err and not (tmp_path / "d.gmm.npz").exists()


def test_a_range_beyond_the_rows_lists_the_ks_that_cannot_be_fitted(tmp_path, capsys):
    path = tmp_path / "small.csv"
    np.savetxt(path, np.random.default_rng(0).normal(size=(6, 2)), delimiter=",")
    status, out, err = run(capsys, "fit", path, "-k", "1-8", "--out", tmp_path, "-q")
    assert status == 0, err
    rows = {int(line.split()[0]): line for line in out.splitlines() if line[:3].strip().isdigit()}
    assert sorted(rows) == list(range(1, 9))
    for K in (7, 8):
        assert "failed: Expected n_samples >= n_components" in rows[K]
    assert "2 candidate(s) could not be fitted" in err
