"""The command line: `fastprob demo`, `fastprob fit` (bench: tests/test_bench.py; the file reader: tests/test_io.py)."""
import subprocess
import sys

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
    from fastprob import estimator

    X = (three_clusters[0] * (100 if file_dtype == "int32" else 1)).astype(file_dtype)
    path = tmp_path / "x.npy"
    np.save(path, X)
    loaded, names = load_data(path)
    assert isinstance(loaded, np.memmap) and loaded.dtype == X.dtype and names is None
    np.testing.assert_array_equal(loaded, X)
    seen, fit = [], estimator.GaussianMixture.fit
    monkeypatch.setattr(estimator.GaussianMixture, "fit", lambda self, data, *a, **k: (
        seen.append("memmap" if isinstance(data, np.memmap) else "chunks" if callable(data) else type(data)),
        fit(self, data, *a, **k))[1])
    status, out, err = run(capsys, "fit", path, "-k", 3, "--dtype", fit_dtype, "-q", "--labels", "--out", tmp_path)
    assert status == 0, err
    assert seen == [how]
    Xf = X.astype(fit_dtype)
    gm = fit(fastprob.GaussianMixture(3, random_state=0), Xf)
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
