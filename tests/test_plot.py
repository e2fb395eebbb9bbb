"""fastprob.plot: every figure renders to a non-empty PNG of figsize * dpi pixels."""
import struct
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import fastprob  # noqa: E402
from fastprob import plot  # noqa: E402


def png_size(path):
    """(width, height) from the PNG header (IHDR is the first chunk)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def faithful_fits():
    X = fastprob.load_faithful()
    return X, fastprob.mvn_fit(X), fastprob.GaussianMixture(2, random_state=0).fit(X)


FIGURES = {
    "sigmoid": (plot.sigmoid_figure, {}),
    "mixture_1d": (plot.mixture_1d_figure, {}),
    "mixture_2d": (plot.mixture_2d_figure, {}),
    "responsibilities": (plot.responsibilities_figure, {"n": 200}),
    "missing": (plot.missing_figure, {"n": 300}),
    "selection": (plot.selection_figure, {}),
}


@pytest.mark.parametrize("name", [*FIGURES, "faithful"])
def test_figure_renders_to_png_of_the_expected_size(tmp_path, name, faithful_fits):
    from matplotlib.figure import Figure

    if name == "faithful":
        X, single, gm = faithful_fits
        fn, kw = plot.faithful_figure, {"X": X, "single": single, "mixture": gm}
    else:
        fn, kw = FIGURES[name]
    path = tmp_path / f"{name}.png"
    fig = fn(**kw, path=path, figsize=(5.0, 3.5), dpi=80)
    assert isinstance(fig, Figure)
    assert path.stat().st_size > 2000  # a drawn figure, not an empty canvas
    assert png_size(path) == (400, 280)


def test_default_sizes_and_no_file_without_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fig = plot.mixture_1d_figure()
    assert list(tmp_path.iterdir()) == []
    w, h = fig.get_size_inches() * fig.dpi
    path = tmp_path / "m.png"
    fig.savefig(path, dpi=fig.dpi)
    assert png_size(path) == (round(w), round(h))


def test_faithful_default_fits_the_mixture_itself(tmp_path):
    fig = plot.faithful_figure(path=tmp_path / "f.png")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert any("-1289.8" in t for t in titles) and any("-1130.3" in t for t in titles)


def test_figures_use_fastprob_numbers():
    fig = plot.mixture_1d_figure(weights=[0.5, 0.5], means=[-1.0, 1.0], variances=[1.0, 1.0])
    ax = fig.axes[0]
    total = ax.get_lines()[-1]
    x, y = total.get_data()
    expected = 0.5 * np.exp(fastprob.normal_logpdf(x, -1.0, 1.0)) + 0.5 * np.exp(fastprob.normal_logpdf(x, 1.0, 1.0))
    np.testing.assert_allclose(y, expected, rtol=1e-12)


def test_clear_message_without_matplotlib(monkeypatch):
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'fastprob\[plot\]'"):
        plot.sigmoid_figure()


def test_missing_values_sample_loses_one_coordinate_in_a_third_of_the_points():
    Xh, X, (weights, means, covs) = plot.missing_values_sample(3000, 1 / 3, random_state=1)
    lost = np.isnan(Xh)
    assert not lost.all(axis=1).any() and abs(lost.any(axis=1).mean() - 1 / 3) < 0.03
    assert np.array_equal(Xh[~lost], X[~lost]) and np.array_equal(means, np.asarray(plot.MIXTURE_2D[1]))


def test_selection_figure_draws_each_covariance_type_and_marks_the_choice():
    import fastprob

    X = fastprob.load_faithful()
    _, table = fastprob.select_mixture(X, n_components=[1, 2, 3], covariance_type=("full", "diag"), random_state=0)
    fig = plot.selection_figure(table, criterion="aic")
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    for ctype in ("full", "diag"):
        rows = table[table["covariance_type"] == ctype]
        np.testing.assert_array_equal(lines[ctype].get_xdata(), rows["n_components"])
        np.testing.assert_allclose(lines[ctype].get_ydata(), rows["aic"])
    best = table[np.argmin(table["aic"])]
    assert f"chosen: K = {best['n_components']}, {best['covariance_type']}" in lines
    with pytest.raises(ValueError, match="criterion must be 'bic' or 'aic'"):
        plot.selection_figure(table, criterion="nll")
    pd = pytest.importorskip("pandas")
    frame = plot.selection_figure(pd.DataFrame(table))  # the table as pandas shows it
    assert {line.get_label() for line in frame.axes[0].get_lines()} == set(lines)
