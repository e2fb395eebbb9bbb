"""Choosing a Gaussian mixture: many candidates fitted in shared passes over the data.

:func:`select_mixture` fits one :class:`~fastprob.GaussianMixture` per number
of components and covariance type.  Their EM runs (``n_init`` each) advance
together: every pass over the data -- in memory, a memmap, chunks or a dask
array -- serves every candidate still iterating, so a search over ten values
of K reads the data about as often as its slowest candidate's fit alone.
"""
import numbers
import warnings

import numpy as np

from . import _em
from ._covariance import COVARIANCE_TYPES

__all__ = ["select_mixture"]

CRITERIA = ("bic", "aic")

#: The table's columns (a structured array): one row per candidate, in the order fitted.
TABLE_DTYPE = np.dtype([("n_components", np.int64), ("covariance_type", "U9"), ("init", np.int64),
                        ("log_likelihood", np.float64), ("n_iter", np.int64), ("converged", np.bool_),
                        ("n_parameters", np.int64), ("bic", np.float64), ("aic", np.float64),
                        ("error", object), ("model", object)])

#: Candidates named in a warning or error message before "and N more".
NAMED_IN_MESSAGES = 10


def select_mixture(X, n_components=range(1, 11), covariance_type=("full", "diag"), criterion="bic", n_init=1,
                   sample_weight=None, *, callback=None, **params):
    """Fit a Gaussian mixture for every number of components and covariance type; return the best.

    Every candidate is the :class:`~fastprob.GaussianMixture` that
    ``GaussianMixture(n_components=k, covariance_type=t, n_init=n_init,
    **params).fit(X, sample_weight=sample_weight)`` would give -- the same
    parameters, bit for bit -- but all candidates are fitted together: each
    pass over X computes the E-step of every EM run still iterating (tiles of
    rows are loaded once for all of them), initialisations share their reads
    of X, and a run that has converged stops costing.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), numpy.memmap, chunks or dask array
        Anything :meth:`GaussianMixture.fit` accepts.  For a memmap, chunks
        or a dask array, the passes over the data number about the largest
        candidate's iterations plus a few (validation, initialisation,
        scoring), not their sum.
    n_components : int or iterable of int, default range(1, 11)
        The numbers of components to try.
    covariance_type : str or iterable of str, default ("full", "diag")
        The covariance types to try ('full', 'tied', 'diag', 'spherical').
    criterion : {"bic", "aic"}, default "bic"
        What the best candidate minimises (the first in the table on ties).
    n_init : int, default 1
        Initialisations per candidate (as GaussianMixture's; they run together too).
    sample_weight : array-like of shape (n_samples,), optional
        As for :meth:`GaussianMixture.fit`.  The table then treats the weights
        as frequencies: its log-likelihood is Σ w log p(x) and the criteria
        use n = Σ w, those of the data with each row repeated w times.
    callback : callable, optional
        Called with a :class:`~fastprob.estimator.FitProgress` as the runs
        advance (its ``n_components`` and ``covariance_type`` say whose).
    **params
        Any other :class:`GaussianMixture` parameter (tol, reg_covar,
        max_iter, init_params, random_state, missing, ...), the same for
        every candidate.  An int ``random_state`` is every candidate's (as
        separate fits with that seed); a ``RandomState`` instance gives each
        candidate, in table order, a seed drawn from it.

    Returns
    -------
    best : GaussianMixture
        The fitted candidate with the lowest criterion.
    table : numpy structured array, one row per candidate
        n_components, covariance_type, init (the initialisation kept),
        log_likelihood (total, Σ log p(x) under the fitted parameters),
        n_iter, converged, n_parameters, bic, aic, error (why a candidate
        could not be fitted -- e.g. more components than the data support --
        with its criteria inf; empty otherwise) and model (the fitted
        GaussianMixture, None where it failed).  Sort or filter it with numpy,
        or pass it to ``pandas.DataFrame``.

    Raises
    ------
    ValueError
        Bad X or parameters (as GaussianMixture), or no candidate could be
        fitted (the message gives each candidate's error).

    Notes
    -----
    bic = -2 log_likelihood + n_parameters log(n_samples) and aic =
    -2 log_likelihood + 2 n_parameters, as ``best.bic(X)`` and ``best.aic(X)``
    (to rounding) for unweighted data.  A candidate that fails (an ill-defined covariance, fewer
    rows than components) is reported in the table with a warning; the others
    are unaffected.

    Examples
    --------
    >>> import fastprob
    >>> X = fastprob.load_faithful()
    >>> best, table = fastprob.select_mixture(X, n_components=range(1, 5), random_state=0)
    >>> best.n_components, best.covariance_type
    (2, 'full')
    >>> [(int(r["n_components"]), str(r["covariance_type"])) for r in table[:3]]
    [(1, 'full'), (1, 'diag'), (2, 'full')]
    >>> bool(abs(table["bic"].min() - best.bic(X)) < 1e-6 * abs(best.bic(X)))
    True
    """
    from .estimator import GaussianMixture, _Reporter, fit_together
    from sklearn.utils import check_random_state

    ks = _check_components(n_components)
    types = _check_types(covariance_type)
    for name, values in (("n_components", ks), ("covariance_type", types)):
        if len(set(values)) < len(values):
            raise ValueError(f"{name} lists {sorted({v for v in values if values.count(v) > 1})} more than once; "
                             "give each candidate once.")
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}.")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a callable taking a FitProgress, got {type(callback).__name__}.")
    if "warm_start" in params and params["warm_start"]:
        raise ValueError("warm_start=True continues one fitted model; select_mixture fits new ones. "
                         "Leave warm_start out.")
    random_state = params.pop("random_state", None)
    seeds = None
    if random_state is not None and not isinstance(random_state, numbers.Integral):
        rs = check_random_state(random_state)
        seeds = rs.randint(np.iinfo(np.int32).max, size=len(ks) * len(types))
    models = []
    for i, (k, t) in enumerate((k, t) for k in ks for t in types):
        model = GaussianMixture(n_components=k, covariance_type=t, n_init=n_init,
                                random_state=random_state if seeds is None else int(seeds[i]), **params)
        model._validate_params()
        models.append(model)
    # One validation of X for all: the first model's (they share every setting it depends on).
    source = models[0]._source(X, sample_weight)
    for model in models[1:]:
        model._adopt_from(models[0])
    errors = {}
    jobs = [(m, _Reporter(m, callback, name=f"[n_components={m.n_components}, {m.covariance_type}] "))
            for m in models]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_together(jobs, source, on_error=lambda model, exc: errors.__setitem__(id(model), exc),
                     name_models=True)
    components = {}
    for m in models:
        if id(m) not in errors:
            try:
                components[id(m)] = m._components()
            except ValueError as exc:  # (e.g. a fitted covariance singular once rounded to float32)
                errors[id(m)] = exc
    fitted = [m for m in models if id(m) not in errors]
    logliks = _em.log_likelihoods(source, [components[id(m)] for m in fitted]) if fitted else []
    table = np.zeros(len(models), dtype=TABLE_DTYPE)
    # Weights as frequencies: the source's are scaled to mean 1 (the user's times weight_scale).
    n = source.total_weight / source.weight_scale
    at = 0
    for row, model in zip(table, models):
        row["n_components"], row["covariance_type"] = model.n_components, model.covariance_type
        row["model"], row["error"] = None, ""
        if id(model) in errors:
            row["init"], row["n_iter"], row["n_parameters"] = -1, 0, 0
            row["log_likelihood"] = np.nan
            row["bic"] = row["aic"] = np.inf
            row["error"] = str(errors[id(model)])
            continue
        loglik = logliks[at] / source.weight_scale
        at += 1
        p = model._n_parameters()
        row["init"] = model._best_init
        row["log_likelihood"], row["n_iter"], row["converged"] = loglik, model.n_iter_, model.converged_
        row["n_parameters"], row["model"] = p, model
        row["bic"] = -2 * loglik + p * np.log(n)
        row["aic"] = -2 * loglik + 2 * p
    for w in caught:  # the candidates' warnings (each names its candidate), from the caller's line
        warnings.warn(w.message, w.category, stacklevel=2)
    failed = [(m, errors[id(m)]) for m in models if id(m) in errors]
    if not fitted:
        raise ValueError("No candidate could be fitted: " + _listed(
            [f"n_components={m.n_components}, covariance_type={m.covariance_type!r}: {e}" for m, e in failed], "; "))
    if failed:
        warnings.warn(f"{len(failed)} candidate(s) could not be fitted and are left out of the choice (see the "
                      "table's 'error' column): " + _listed(
                          [f"(n_components={m.n_components}, {m.covariance_type!r})" for m, _ in failed], ", "),
                      UserWarning, stacklevel=2)
    best = int(np.argmin(table[criterion]))
    return models[best], table


def _listed(items, sep):
    """The first :data:`NAMED_IN_MESSAGES` items joined, and how many more."""
    more = len(items) - NAMED_IN_MESSAGES
    return sep.join(items[:NAMED_IN_MESSAGES]) + (f"{sep}and {more} more" if more > 0 else "")


def _check_components(n_components):
    try:
        ks = [n_components] if isinstance(n_components, numbers.Integral) else list(n_components)
    except TypeError:
        ks = []
    if not ks or not all(isinstance(k, numbers.Integral) and not isinstance(k, bool) and k >= 1 for k in ks):
        raise ValueError(f"n_components must be a positive integer or an iterable of them, got {n_components!r}.")
    return [int(k) for k in ks]


def _check_types(covariance_type):
    try:
        types = [covariance_type] if isinstance(covariance_type, str) else list(covariance_type)
    except TypeError:
        types = []
    bad = [t for t in types if not isinstance(t, str) or t not in COVARIANCE_TYPES]
    if not types or bad:
        raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES} or an iterable of them, got "
                         f"{covariance_type!r}.")
    return types
