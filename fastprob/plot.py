"""Figures of the notes, drawn from fastprob's own computations.

Every function returns a :class:`matplotlib.figure.Figure` and, given
``path``, also writes it (PNG or any format matplotlib knows from the suffix)
at exactly ``figsize * dpi`` pixels.  Figures are built without ``pyplot``, so
nothing here changes the global matplotlib backend; files are rendered with
the Agg backend.

matplotlib is an optional dependency: ``pip install 'fastprob[plot]'``.
"""
import os

import numpy as np

from ._files import atomic_write

__all__ = [
    "MISSING_MATPLOTLIB",
    "faithful_figure",
    "missing_figure",
    "mixture_1d_figure",
    "mixture_2d_figure",
    "responsibilities_figure",
    "sigmoid_figure",
]

MISSING_MATPLOTLIB = "fastprob.plot needs matplotlib: pip install 'fastprob[plot]'"

#: The default 1-D mixture of three Gaussians: weights, means, variances.
MIXTURE_1D = ((0.3, 0.5, 0.2), (-2.0, 0.5, 3.0), (0.5, 0.8, 0.3))
#: The default 2-D mixture of three Gaussians: weights, means, full covariances.
MIXTURE_2D = (
    (0.5, 0.3, 0.2),
    ((0.3, 0.3), (0.6, 0.6), (0.65, 0.3)),
    (((0.012, 0.008), (0.008, 0.010)),
     ((0.010, -0.007), (-0.007, 0.012)),
     ((0.006, 0.000), (0.000, 0.012))),
)
#: Colours of components 0, 1, 2, ... (RGB in [0, 1]); responsibilities mix them.
COMPONENT_COLOURS = np.array([
    [0.84, 0.15, 0.16], [0.12, 0.47, 0.71], [0.17, 0.63, 0.17],
    [0.58, 0.40, 0.74], [1.00, 0.50, 0.05], [0.55, 0.34, 0.29],
])


def _figure(figsize, dpi, ncols=1):
    """A new (pyplot-free) Figure and its axes; ImportError with the fix if matplotlib is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(MISSING_MATPLOTLIB) from None
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _finish(fig, path):
    """Write ``fig`` to ``path`` (if given) with the Agg backend at figsize * dpi pixels.

    A path is written to a temporary file renamed into place when complete, so
    a killed process or a full disk never leaves a truncated image under it.
    """
    if path is not None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
        if isinstance(path, (str, os.PathLike)):
            # matplotlib takes the format from the suffix, its default (PNG) without one
            fmt = os.path.splitext(os.fspath(path))[1][1:].lower() or None
            with atomic_write(path, "wb") as fh:
                fig.savefig(fh, format=fmt, dpi=fig.dpi)
        else:
            fig.savefig(path, dpi=fig.dpi)
    return fig


def _grid(lo, hi, n=200):
    """Points of an n x n grid over the box [lo, hi] and the two coordinate matrices."""
    gx = np.linspace(lo[0], hi[0], n)
    gy = np.linspace(lo[1], hi[1], n)
    XX, YY = np.meshgrid(gx, gy)
    return np.column_stack([XX.ravel(), YY.ravel()]), XX, YY


def _box(X, margin=0.15):
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = margin * (hi - lo)
    return lo - pad, hi + pad


def _colours(K):
    return COMPONENT_COLOURS[np.arange(K) % len(COMPONENT_COLOURS)]


def sigmoid_figure(z=None, *, saturation=0.02, path=None, figsize=(6.4, 4.0), dpi=100):
    """The logistic sigmoid σ(z) and its derivative σ'(z), with the saturated regions shaded.

    Parameters
    ----------
    z : array_like, optional
        Abscissae; default 801 points on [-10, 10].
    saturation : float, default 0.02
        Shade where σ'(z) is below this fraction of its peak value 1/4 (there
        the gradient has all but vanished: the unit is saturated).
    path : str or path-like, optional
        Also write the figure there.
    figsize : (float, float), default (6.4, 4.0)
        Size in inches.
    dpi : float, default 100

    Returns
    -------
    matplotlib.figure.Figure
        Computed with :func:`fastprob.sigmoid` and :func:`fastprob.sigmoid_grad`.
    """
    from .activations import sigmoid, sigmoid_grad

    z = np.linspace(-10.0, 10.0, 801) if z is None else np.sort(np.asarray(z, dtype=np.float64).ravel())
    s, g = sigmoid(z), sigmoid_grad(z)
    fig, (ax,) = _figure(figsize, dpi)
    ax.plot(z, s, color="C0", lw=2, label=r"$\sigma(z) = 1 / (1 + e^{-z})$")
    ax.plot(z, g, color="C3", lw=2, label=r"$\sigma'(z) = \sigma(z)\,(1 - \sigma(z))$")
    saturated = g < saturation * 0.25
    ax.fill_between(z, 0, 1, where=saturated, color="0.85", alpha=0.7, lw=0,
                    label=f"saturated: $\\sigma'(z) < {saturation:g}\\cdot\\max\\sigma'$")
    ax.axhline(0.25, color="C3", lw=0.6, ls=":")
    ax.set(xlabel="z", ylim=(-0.03, 1.03), xlim=(z[0], z[-1]), title="Logistic sigmoid and its derivative")
    ax.legend(loc="center left", fontsize="small", frameon=False)
    return _finish(fig, path)


def _loglik_and_bic(loglik, n_params, n):
    return f"log-likelihood {loglik:.1f}, BIC {-2 * loglik + n_params * np.log(n):.1f}"


def faithful_figure(X=None, *, single=None, mixture=None, levels=8, path=None, figsize=(11.0, 4.6), dpi=100):
    """Old Faithful: contours of one Gaussian (left) vs a 2-component mixture (right).

    Parameters
    ----------
    X : array_like, shape (N, 2), optional
        The data; default :func:`fastprob.load_faithful`.
    single : (mean, cov), optional
        The single Gaussian; default :func:`fastprob.mvn_fit` of X.
    mixture : GaussianMixture or (weights, means, covariances), optional
        A full-covariance mixture; default a 2-component
        :class:`fastprob.GaussianMixture` fitted to X (``random_state=0``).
    levels : int, default 8
        Number of contour lines; both panels share the same log-density levels.
    path, figsize, dpi
        As for :func:`sigmoid_figure`.

    Returns
    -------
    matplotlib.figure.Figure
        Densities from :func:`fastprob.mvn_logpdf` and :func:`fastprob.gmm_logpdf`.
    """
    from .datasets import load_faithful
    from .gaussian import mvn_fit, mvn_logpdf
    from .mixture import gmm_logpdf

    X = load_faithful() if X is None else np.asarray(X, dtype=np.float64)
    mean, cov = mvn_fit(X) if single is None else single
    if mixture is None:
        from .estimator import GaussianMixture

        mixture = GaussianMixture(2, covariance_type="full", random_state=0).fit(X)
    if hasattr(mixture, "weights_"):
        mixture = (mixture.weights_, mixture.means_, mixture.covariances_)
    weights, means, covs = (np.asarray(a, dtype=np.float64) for a in mixture)
    K, d = means.shape

    lo, hi = _box(X)
    # 60 x 60 is smooth enough for these contours and small enough to run on the calling
    # thread alone (below the kernels' parallel threshold).
    G, XX, YY = _grid(lo, hi, 60)
    surfaces = [mvn_logpdf(G, mean, cov), gmm_logpdf(G, weights, means, covs)]
    top = max(s.max() for s in surfaces)
    lv = np.linspace(top - 7.0, top - 0.25, levels)
    n = len(X)
    titles = [f"single Gaussian\n{_loglik_and_bic(mvn_logpdf(X, mean, cov).sum(), d + d * (d + 1) // 2, n)}",
              f"mixture of {K} Gaussians\n"
              f"{_loglik_and_bic(gmm_logpdf(X, weights, means, covs).sum(), K - 1 + K * d + K * d * (d + 1) // 2, n)}"]
    fig, axes = _figure(figsize, dpi, ncols=2)
    for ax, surface, title, centres in zip(axes, surfaces, titles, [mean[None], means]):
        ax.scatter(X[:, 0], X[:, 1], s=9, color="0.35", alpha=0.7, lw=0)
        ax.contour(XX, YY, surface.reshape(XX.shape), levels=lv, cmap="viridis", linewidths=1.1)
        ax.plot(centres[:, 0], centres[:, 1], "x", color="C3", ms=9, mew=2)
        ax.set(xlabel="eruption time (min)", ylabel="waiting time to next eruption (min)", title=title)
    fig.suptitle("Old Faithful: contours of log p(x), one Gaussian vs a Gaussian mixture")
    return _finish(fig, path)


def mixture_1d_figure(weights=None, means=None, variances=None, *, x=None, path=None, figsize=(6.4, 4.0),
                      dpi=100):
    """A 1-D Gaussian mixture: the weighted components π_k N(x | μ_k, σ_k²) and their sum p(x).

    Parameters
    ----------
    weights, means, variances : array_like, shape (K,), optional
        Default: a mixture of three Gaussians (:data:`MIXTURE_1D`).
    x : array_like, optional
        Abscissae; default 600 points covering every component to ±4σ.
    path, figsize, dpi
        As for :func:`sigmoid_figure`.

    Returns
    -------
    matplotlib.figure.Figure
        Components from :func:`fastprob.normal_logpdf`, the sum from
        :func:`fastprob.gmm_logpdf` (spherical covariances in one dimension).
    """
    from .gaussian import normal_logpdf
    from .mixture import gmm_logpdf

    dw, dm, dv = MIXTURE_1D
    weights = np.asarray(dw if weights is None else weights, dtype=np.float64)
    means = np.asarray(dm if means is None else means, dtype=np.float64)
    variances = np.asarray(dv if variances is None else variances, dtype=np.float64)
    if x is None:
        sd = np.sqrt(variances)
        x = np.linspace((means - 4 * sd).min(), (means + 4 * sd).max(), 600)
    x = np.asarray(x, dtype=np.float64)
    parts = weights[:, None] * np.exp(normal_logpdf(x[None, :], means[:, None], variances[:, None]))
    total = np.exp(gmm_logpdf(x[:, None], weights, means[:, None], variances, covariance_type="spherical"))
    fig, (ax,) = _figure(figsize, dpi)
    for k, (part, c) in enumerate(zip(parts, _colours(len(weights)))):
        ax.fill_between(x, part, color=c, alpha=0.25, lw=0)
        ax.plot(x, part, color=c, lw=1.5, ls="--",
                label=f"$\\pi_{k + 1}\\,\\mathcal{{N}}(x\\mid{means[k]:g}, {variances[k]:g})$, "
                      f"$\\pi_{k + 1} = {weights[k]:g}$")
    ax.plot(x, total, color="k", lw=2.2, label=r"$p(x) = \sum_k \pi_k\,\mathcal{N}(x\mid\mu_k, \sigma_k^2)$")
    ax.set(xlabel="x", ylabel="density", xlim=(x[0], x[-1]), ylim=(0, None),
           title=f"A mixture of {len(weights)} Gaussians in one dimension")
    ax.legend(fontsize="small", frameon=False)
    return _finish(fig, path)


def _mixture_2d(weights, means, covs):
    dw, dm, dc = MIXTURE_2D
    return (np.asarray(dw if weights is None else weights, dtype=np.float64),
            np.asarray(dm if means is None else means, dtype=np.float64),
            np.asarray(dc if covs is None else covs, dtype=np.float64))


def mixture_2d_figure(weights=None, means=None, covs=None, *, levels=10, path=None, figsize=(6.0, 5.0), dpi=100):
    """Contours of a 2-D Gaussian mixture, with each weighted component's 1-σ contour dashed.

    Parameters
    ----------
    weights : array_like, shape (K,), optional
    means : array_like, shape (K, 2), optional
    covs : array_like, shape (K, 2, 2), optional
        Full covariances.  Default: a mixture of three Gaussians (:data:`MIXTURE_2D`).
    levels : int, default 10
        Number of contour lines of the mixture density.
    path, figsize, dpi
        As for :func:`sigmoid_figure`.

    Returns
    -------
    matplotlib.figure.Figure
        Mixture density from :func:`fastprob.gmm_logpdf`, components from
        :func:`fastprob.mvn_logpdf` (all K in one batched call).
    """
    from .gaussian import mvn_logpdf
    from .mixture import gmm_logpdf

    weights, means, covs = _mixture_2d(weights, means, covs)
    sd = np.sqrt(np.stack([np.diag(c) for c in covs]))
    G, XX, YY = _grid((means - 3.5 * sd).min(axis=0), (means + 3.5 * sd).max(axis=0))
    density = np.exp(gmm_logpdf(G, weights, means, covs)).reshape(XX.shape)
    comp = mvn_logpdf(G, means, covs)  # (N, K)
    fig, (ax,) = _figure(figsize, dpi)
    cs = ax.contour(XX, YY, density, levels=levels, cmap="viridis", linewidths=1.2)
    fig.colorbar(cs, ax=ax, label="p(x)")
    for k, c in enumerate(_colours(len(weights))):
        # The 1-σ ellipse of component k: log N = log N(μ_k) - 1/2.
        peak = mvn_logpdf(means[k], means[k], covs[k])
        ax.contour(XX, YY, comp[:, k].reshape(XX.shape), levels=[peak - 0.5], colors=[c], linestyles="--",
                   linewidths=1.0)
        ax.plot(*means[k], "x", color=c, ms=8, mew=2, label=f"$\\mu_{k + 1}$, $\\pi_{k + 1} = {weights[k]:g}$")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", aspect="equal",
           title=f"A mixture of {len(weights)} Gaussians in two dimensions")
    ax.legend(fontsize="small", frameon=False, loc="upper left")
    return _finish(fig, path)


def responsibilities_figure(X=None, weights=None, means=None, covs=None, *, labels=None, n=500, random_state=0,
                            path=None, figsize=(11.0, 5.0), dpi=100):
    """Points coloured by the responsibilities P(h = k | x) of a 2-D mixture.

    Each point's colour is the responsibility-weighted mix of the component
    colours, so points between components show mixed colours.  With
    ``labels`` (the component each point was drawn from) a left panel shows
    them for comparison.

    Parameters
    ----------
    X : array_like, shape (N, 2), optional
        Points; default ``n`` draws from the mixture with :func:`fastprob.gmm_sample`
        (whose labels are then shown too).
    weights, means, covs : array_like, optional
        A full-covariance mixture; default :data:`MIXTURE_2D`.
    labels : array_like of int, shape (N,), optional
    n : int, default 500
    random_state : int, default 0
    path, figsize, dpi
        As for :func:`sigmoid_figure`.

    Returns
    -------
    matplotlib.figure.Figure
        Responsibilities from :func:`fastprob.gmm_responsibilities`.
    """
    from .mixture import gmm_responsibilities, gmm_sample

    weights, means, covs = _mixture_2d(weights, means, covs)
    if X is None:
        X, labels = gmm_sample(weights, means, covs, n, random_state=random_state)
    X = np.asarray(X, dtype=np.float64)
    resp = gmm_responsibilities(X, weights, means, covs)
    colours = _colours(len(weights))
    panels = []
    if labels is not None:
        panels.append(("component drawn, h", colours[np.asarray(labels)]))
    panels.append(("responsibilities $P(h = k \\mid x)$", np.clip(resp @ colours, 0.0, 1.0)))
    fig, axes = _figure(figsize, dpi, ncols=len(panels))
    for ax, (title, c) in zip(axes, panels):
        ax.scatter(X[:, 0], X[:, 1], c=c, s=14, lw=0.3, edgecolors="0.2")
        ax.plot(means[:, 0], means[:, 1], "kx", ms=8, mew=2)
        ax.set(xlabel="$x_1$", ylabel="$x_2$", aspect="equal", title=title)
    return _finish(fig, path)


def _ellipse(ax, mean, cov, **kw):
    """The 2-σ ellipse of N(mean, cov) (2-D)."""
    vals, vecs = np.linalg.eigh(cov)
    t = np.linspace(0.0, 2.0 * np.pi, 200)
    pts = np.asarray(mean)[:, None] + (vecs * (2.0 * np.sqrt(vals))) @ np.vstack([np.cos(t), np.sin(t)])
    ax.plot(*pts, **kw)


def missing_values_sample(n=1500, fraction=1 / 3, random_state=0):
    """(X with holes, X complete, truth): a sample of :data:`MIXTURE_2D` where ``fraction`` of the
    points lost one coordinate, chosen at random (missing completely at random)."""
    weights, means, covs = _mixture_2d(None, None, None)
    rng = np.random.default_rng(random_state)
    labels = rng.choice(len(weights), size=n, p=weights)
    X = np.stack([rng.multivariate_normal(means[k], covs[k]) for k in labels])
    Xh = X.copy()
    lost = np.flatnonzero(rng.random(n) < fraction)
    Xh[lost, rng.integers(0, 2, lost.size)] = np.nan
    return Xh, X, (weights, means, covs)


def missing_figure(n=1500, fraction=1 / 3, random_state=0, *, path=None, figsize=(11.0, 5.0), dpi=100):
    """The default 2-D mixture fitted on data where a third of the points lost one coordinate.

    Left: the usual workaround, each hole filled with its column's mean and
    scikit-learn's ``GaussianMixture`` fitted to the result (the filled points
    lie on the two lines of the means, which shrinks and tilts the
    components).  Right: ``fastprob.GaussianMixture(missing='marginalize')``,
    exact EM on the observed values.  Dashed black: the true components;
    ticks on the axes: the points that lost the other coordinate.  Both fits
    use 3 components, ``random_state=0`` and run to convergence (tol=1e-6).

    Parameters
    ----------
    n, fraction, random_state
        The sample (:func:`missing_values_sample`).
    path, figsize, dpi
        As for :func:`sigmoid_figure`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from sklearn.mixture import GaussianMixture as SkGM

    from .estimator import GaussianMixture

    Xh, _, (weights, means, covs) = missing_values_sample(n, fraction, random_state)
    filled = np.where(np.isnan(Xh), np.nanmean(Xh, axis=0), Xh)
    kw = dict(n_components=3, random_state=0, tol=1e-6, max_iter=2000)  # both to convergence
    fits = {
        "mean imputation + scikit-learn": (SkGM(**kw).fit(filled), filled),
        "fastprob, missing='marginalize'": (GaussianMixture(missing="marginalize", **kw).fit(Xh), None),
    }
    fig, axes = _figure(figsize, dpi, ncols=2)
    complete = ~np.isnan(Xh).any(axis=1)
    lo, hi = np.nanmin(Xh, axis=0), np.nanmax(Xh, axis=0)
    for ax, (title, (model, shown)) in zip(axes, fits.items()):
        ax.plot(*Xh[complete].T, ".", ms=2.5, color="0.6", label="complete points")
        if shown is not None:
            ax.plot(*shown[~complete].T, ".", ms=2.5, color=COMPONENT_COLOURS[4], label="mean-imputed points")
        miss_y = np.isnan(Xh[:, 1]) & ~np.isnan(Xh[:, 0])
        miss_x = np.isnan(Xh[:, 0]) & ~np.isnan(Xh[:, 1])
        ax.plot(Xh[miss_y, 0], np.full(miss_y.sum(), lo[1] - 0.05), "|", ms=6, color="0.3", alpha=0.5)
        ax.plot(np.full(miss_x.sum(), lo[0] - 0.05), Xh[miss_x, 1], "_", ms=6, color="0.3", alpha=0.5,
                label="observed coordinate of an incomplete point")
        for k in range(len(weights)):
            _ellipse(ax, means[k], covs[k], color="k", ls="--", lw=1.2, label="truth (2σ)" if k == 0 else None)
        for k, c in enumerate(_colours(model.n_components)):
            _ellipse(ax, model.means_[k], model.covariances_[k], color=c, lw=1.8,
                     label="fitted (2σ)" if k == 0 else None)
        ax.set(xlim=(lo[0] - 0.1, hi[0] + 0.1), ylim=(lo[1] - 0.1, hi[1] + 0.1), xlabel="$x_1$", ylabel="$x_2$",
               title=title, aspect="equal")
        ax.legend(fontsize="x-small", frameon=False, loc="upper left")
    fig.suptitle(f"{n} points of a 3-component mixture, {fraction:.0%} of them missing one coordinate")
    return _finish(fig, path)


def selection_figure(table=None, *, criterion="bic", path=None, figsize=(6.4, 4.2), dpi=100):
    """The criterion of every candidate of :func:`fastprob.select_mixture` against K, one line per covariance type.

    The chosen candidate (the lowest) is circled; candidates that could not
    be fitted are left out.

    Parameters
    ----------
    table : structured array, optional
        ``select_mixture``'s table; by default that of Old Faithful over K = 1..6
        and the four covariance types (random_state=0).
    criterion : {"bic", "aic"}
    path, figsize, dpi
        As for :func:`sigmoid_figure`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if criterion not in ("bic", "aic"):
        raise ValueError(f"criterion must be 'bic' or 'aic', got {criterion!r}.")
    if hasattr(table, "to_records"):  # the table as a pandas DataFrame
        table = table.to_records(index=False)
    if table is None:
        from .datasets import load_faithful
        from .selection import select_mixture

        _, table = select_mixture(load_faithful(), n_components=range(1, 7),
                                  covariance_type=("full", "tied", "diag", "spherical"), random_state=0)
    fitted = table[np.isfinite(table[criterion])]
    if len(fitted) == 0:
        raise ValueError("The table has no fitted candidate to plot.")
    fig, (ax,) = _figure(figsize, dpi)
    types = list(dict.fromkeys(str(t) for t in fitted["covariance_type"]))
    for colour, ctype in zip(_colours(len(types)), types):
        rows = fitted[fitted["covariance_type"] == ctype]
        rows = rows[np.argsort(rows["n_components"], kind="stable")]
        ax.plot(rows["n_components"], rows[criterion], "o-", color=colour, lw=1.6, ms=4, label=ctype)
    best = fitted[np.argmin(fitted[criterion])]
    ax.plot([best["n_components"]], [best[criterion]], "o", ms=14, mfc="none", mec="k", mew=1.5,
            label=f"chosen: K = {best['n_components']}, {best['covariance_type']}")
    ax.set(xlabel="number of components K", ylabel=f"{criterion.upper()} (lower is better)",
           title=f"{criterion.upper()} of every candidate")
    ax.set_xticks(np.unique(fitted["n_components"]))
    ax.legend(fontsize="small", frameon=False)
    return _finish(fig, path)
