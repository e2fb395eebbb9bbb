"""``fastprob.GaussianMixture``: a drop-in for ``sklearn.mixture.GaussianMixture``.

Same constructor parameters, attributes and methods as scikit-learn's estimator,
and the same answers from the same initial parameters; each EM iteration is one
fused parallel pass over X (no N x K array), fits are bit-identical on any
number of threads, and ``fit`` accepts ``sample_weight``.
"""
import copy
import functools
import json
import math
import numbers
import os
import struct
import time
import warnings
import zipfile
import zlib
from typing import NamedTuple

import numpy as np

from . import _dask, _em, _runs
from ._files import atomic_write
from .kernels import _gc_pause

# scikit-learn imports scipy.stats and pandas: ~130 000 long-lived objects whose
# allocation would trigger full collections (see _gc_pause).
with _gc_pause.paused():
    from sklearn.base import BaseEstimator, DensityMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils import check_random_state
    from sklearn.utils.validation import check_is_fitted, validate_data
    try:
        # What scikit-learn raises for a bad constructor parameter: a ValueError and a
        # TypeError at once, so code catching either works as with its estimator.
        from sklearn.utils._param_validation import InvalidParameterError
    except ImportError:  # a private module: keep the same bases if it moves
        class InvalidParameterError(ValueError, TypeError):
            """A constructor parameter of the wrong type or value."""
from ._sources import (
    INFINITE_WITH_MISSING,
    NAN_HINT,
    ArraySource,
    ChunkSource,
    FilledSource,
    MemmapSource,
    check_memmap,
    is_chunk_stream,
)
from ._validation import check_weights
from . import _covariance
from .mixture import make_components, sample_components, score, score_one

__all__ = ["GaussianMixture", "FitProgress"]

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
MISSING = ("error", "marginalize")
_FORMAT = "fastprob.GaussianMixture"
_FORMAT_VERSION = 1
_FITTED_ARRAYS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")
_INIT_ARRAYS = ("weights_init", "means_init", "precisions_init")
_MAX_SEED = 2**32 - 1  # numpy's RandomState takes seeds in [0, 2**32 - 1]


class FitProgress(NamedTuple):
    """What ``GaussianMixture.fit(..., callback=f)`` passes to ``f`` as EM runs.

    ``event`` is 'init_begin' (before an initialisation; ``n_iter`` 0), 'iteration'
    (after each EM iteration) or 'init_end' (after the initialisation's last
    iteration).  ``init`` counts initialisations from 0; ``lower_bound`` is the
    mean log-likelihood after ``n_iter`` iterations (-inf before the first) and
    ``change`` its change in that iteration (nan at 'init_begin' and 'init_end').

    The ``n_init`` initialisations run together (each pass over the data
    advances all that have not converged): every initialisation begins
    before the first iteration, and the iterations of different
    initialisations interleave.
    """

    event: str
    init: int
    n_iter: int
    lower_bound: float
    change: float
    converged: bool
    n_components: int
    covariance_type: str = "full"


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture model fitted by expectation-maximisation.

    Parameters and attributes follow :class:`sklearn.mixture.GaussianMixture`;
    see its documentation for their full meaning.

    Parameters
    ----------
    n_components : int, default=1
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
    tol : float, default=1e-3
        Convergence threshold on the change of the lower bound (mean log-likelihood).
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance at each M-step.
    max_iter : int, default=100
    n_init : int, default=1
        Number of initialisations; the best lower bound is kept.  They run
        together: each pass over the data advances every one that has not
        converged, and each ends exactly where it would alone
        (:func:`fastprob.select_mixture` does the same across models).
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        'kmeans' and 'k-means++' use scikit-learn's own KMeans / kmeans_plusplus,
        on all rows up to 100 000 rows (exactly as scikit-learn), on a random
        sample of 100 000 rows above that (bounded memory; 'kmeans' then labels
        every row by its nearest centre).
    weights_init, means_init, precisions_init : array-like, optional
        User-provided initial parameters (shapes as in scikit-learn).
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
    verbose : int, default=0
    verbose_interval : int, default=10
    missing : {'error', 'marginalize'}, default='error'
        'error' (scikit-learn's behaviour): NaN in X is an error.
        'marginalize': NaN entries are values missing at random.  ``fit`` runs
        exact EM for such data (Ghahramani & Jordan 1994): the E-step scores
        each row's observed coordinates, and the M-step uses the expected
        statistics -- the missing coordinates' conditional means given the
        observed ones under each component, plus their conditional
        covariances.  ``score_samples``, ``score``, ``predict``,
        ``predict_proba``, ``bic`` and ``aic`` use the observed-data
        likelihood, and :meth:`impute` fills the holes.  The
        initialisations ('kmeans' and the others) see each missing value
        replaced by its column's mean of observed values; EM then moves
        away from that.  Infinite values are still errors, and every column
        needs at least ``n_components`` observed values.  Data without NaN
        give exactly (bit for bit) the fit of ``missing='error'``.

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_ : ndarray
        Fitted parameters, in the dtype of the training data.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood (weighted by ``sample_weight``) of the best initialisation.
    lower_bounds_ : list of float
        Lower bound at every iteration of the best initialisation.
    n_features_in_ : int
    reseeded_ : list of (init, iteration, component)
        Components that lost all their points (total responsibility below 1e-8
        of the data) and were moved to a poorly explained sample.  scikit-learn
        keeps such components as dead weight; fastprob re-seeds them and warns.

    n_samples_seen_ : int
        Rows seen by ``partial_fit`` since its statistics were started (only after ``partial_fit``).

    Notes
    -----
    ``fit`` also takes data that do not fit in memory (a ``numpy.memmap``, a
    function returning chunks of rows, a list of chunks, a ``dask.array``) and
    ``partial_fit`` runs incremental EM chunk by chunk; see their docstrings.

    Differences from scikit-learn, all deliberate: ``fit(X, sample_weight=...)``;
    empty components are re-seeded (see ``reseeded_``); ``save``/``load``;
    k-means initialisation on a bounded sample of rows for large data; the
    'random' initialisation draws the same numbers as scikit-learn but in chunks
    of rows; float32 data keeps float32 attributes while the arithmetic is float64;
    float16 data computes as float32 (scikit-learn: float64), and long double or
    complex data raise a TypeError naming the dtype.
    """

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3, reg_covar=1e-6,
                 max_iter=100, n_init=1, init_params="kmeans", weights_init=None, means_init=None,
                 precisions_init=None, random_state=None, warm_start=False, verbose=0,
                 verbose_interval=10, missing="error"):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.missing = missing

    # ------------------------------------------------------------------ #
    # Fitting
    # ------------------------------------------------------------------ #
    def fit(self, X, y=None, sample_weight=None, *, callback=None):
        """Estimate the parameters with EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), numpy.memmap, dask array, or chunks
            The data.  Besides anything scikit-learn accepts:

            * a ``numpy.memmap`` is read in chunks of ~32 MiB on every pass, so
              memory stays about one chunk plus O(K·d²) whatever its size;
            * a function returning an iterable of chunks (called once per pass),
              or a re-iterable of chunks such as a list of arrays: each chunk is
              an (n_i, n_features) array-like or a pair (X_i, sample_weight_i);
            * a ``dask.array`` chunked by rows: each iteration maps the fused
              statistics kernel over the blocks and tree-reduces the statistics;
              only the parameters travel (needs ``fastprob[dask]``).

            Initialisation reads at most 100 000 random rows (plus one pass
            labelling rows for 'kmeans'); from the same initial parameters the
            fitted model equals the in-memory fit to rounding (~1e-12).

            float16 X computes as float32 (as in the functions); long double
            and complex X are refused with a TypeError (not rounded silently).
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights: the fit maximises Σ w_n log p(x_n).  For chunks,
            give (X_i, sample_weight_i) pairs instead.
        callback : callable, optional
            Called as ``callback(progress)`` with a :class:`FitProgress` at the
            start and end of each initialisation and after every EM iteration
            (e.g. to report progress or log the lower bound); ``verbose``'s
            printing is independent of it.

        Returns
        -------
        self

        Examples
        --------
        >>> import fastprob
        >>> X = fastprob.load_faithful()
        >>> bounds = []
        >>> gm = fastprob.GaussianMixture(2, random_state=0).fit(
        ...     X, callback=lambda p: bounds.append(p.lower_bound) if p.event == "iteration" else None)
        >>> print(len(bounds) == gm.n_iter_, f"{gm.score(X) * len(X):.3f}")  # total log-likelihood
        True -1130.264
        """
        self._fit(X, sample_weight, callback)
        return self

    def fit_predict(self, X, y=None, sample_weight=None, *, callback=None):
        """Fit, then return the most probable component of each sample (equal to ``fit(X).predict(X)``).

        A dask array gives a lazy dask array; chunks give one concatenated array.
        ``callback`` is as for :meth:`fit`.
        """
        source = self._fit(X, sample_weight, callback)
        return source.map_rows(functools.partial(score_one, comps=self._components(), what="labels",
                                                 marginalize=source.holes))

    def partial_fit(self, X, y=None, sample_weight=None):
        """One incremental EM step on a chunk of rows (for streams that do not fit in memory).

        The E-step statistics of the chunk, under the current parameters, are
        added to the statistics of all rows seen so far, and the parameters
        become the M-step of the sums (incremental EM, Neal & Hinton 1998): the
        model is usable after every call.  On an unfitted model the first call
        initialises from its chunk as ``fit`` would (``init_params`` or the
        ``*_init`` parameters; a single initialisation).  After ``fit`` the sums
        start from the statistics of fit's last E-step, so new chunks refine
        the fitted model rather than replace it (``save``/``load`` keep them).
        A call on all of X from given initial parameters equals one EM
        iteration of ``fit``.  A later chunk whose weights are all zero changes
        nothing.

        To fit a fixed dataset that does not fit in memory, prefer ``fit`` on a
        memmap or chunks: it runs exact EM passes to convergence, while passes
        of ``partial_fit`` over the same rows approach the optimum slowly (the
        statistics of earlier passes, from older parameters, stay in the sums).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self

        Notes
        -----
        After each call: ``n_iter_`` counts EM steps (fit's iterations, then one
        per call), ``n_samples_seen_`` the rows in the sums, ``lower_bound_`` is the mean
        log-likelihood of this chunk under the parameters before the update
        (``lower_bounds_`` one per call) and ``converged_`` is False (there is
        no convergence test on a stream).
        """
        self._validate_params()
        fitted = hasattr(self, "converged_")
        X = self._check_X(X, reset=not fitted, ensure_min_samples=1)
        X = np.ascontiguousarray(X)
        n_samples, n_features = X.shape
        if fitted:
            self._check_warm_start(n_features, "partial_fit")
        if fitted and sample_weight is not None and _all_zero_weights(sample_weight, n_samples):
            self.n_samples_seen_ = getattr(self, "n_samples_seen_", 0) + n_samples
            return self  # a chunk of zero total weight changes nothing
        sw = None if sample_weight is None else check_weights(sample_weight, n_samples, "sample_weight",
                                                               rescale=False)
        chunk = ArraySource(X, sw, self._marginalize)
        if chunk.holes and not fitted:  # initialising from this chunk needs values in every column
            self._check_observed(chunk, "in this chunk ")
        eps = 10 * np.finfo(X.dtype).eps
        random_state = check_random_state(self.random_state)
        new_sums = not fitted or getattr(self, "_partial_stats", None) is None
        if new_sums:  # an unfitted model, or a fitted one without sums (max_iter=0)
            self._partial_stats = None
            # (check_weights(rescale=False): the scale of later calls' weights must match this one)
            self._weight_scale = 1.0 if sw is None else 1.0 / sw.mean()
            self.n_samples_seen_ = 0
        # Weights in the units the sums started with: only ratios matter, and a
        # scale near 1 keeps sklearn's 10·eps on Nₖ negligible (as in fit).
        if self._weight_scale != 1.0:
            sw = np.full(n_samples, self._weight_scale) if sw is None else sw * self._weight_scale
        if not fitted:
            inits = self._check_initial_parameters(n_features)
            if n_samples < self.n_components and any(p is None for p in inits):
                raise ValueError(
                    "Expected n_samples >= n_components in the first chunk (initialisation) but got "
                    f"n_components = {self.n_components}, n_samples = {n_samples}")
            source = ArraySource(X, sw)
            if chunk.holes:
                source = FilledSource(source, chunk.fill)
            params = _em.run_plan(source, lambda src: self._initial_parameters(src, inits, random_state, eps,
                                                                                self.reg_covar))
            comps = _em.factorise_or_raise(*params, self.covariance_type, X.dtype, "at initialisation")
            self.n_iter_, self.lower_bounds_, self.reseeded_ = 0, [], []
        else:
            comps = self._components()
        stats = _em.e_step_statistics(X, sw, comps, chunk.holes)
        total = _em.merge_statistics(self._partial_stats, stats)
        weights, means, covs = _em.m_step(total, self.covariance_type, self.reg_covar, eps)
        # Components empty in the accumulated statistics are re-seeded in this chunk
        # (at its worst-explained row): earlier chunks are no longer at hand.
        probe = _em.Statistics(total.W, total.mean, total.M2, worst_row=stats.worst_row)
        seeds = ArraySource(X, sw) if not chunk.holes else FilledSource(ArraySource(X, sw), chunk.fill)
        emptied = _em.reseed_empty(weights, means, covs, probe, self.covariance_type, seeds, random_state)
        comps = _em.factorise_or_raise(weights, means, covs, self.covariance_type, X.dtype,
                                       f"after partial_fit step {self.n_iter_ + 1}")
        self._partial_stats = _em.Statistics(total.W, total.mean, total.M2)
        self.n_iter_ += 1
        self.n_samples_seen_ += n_samples
        self.lower_bound_ = stats.loglik / float(n_samples if sw is None else sw.sum())
        self.lower_bounds_ = list(self.lower_bounds_) + [self.lower_bound_]
        self.reseeded_ = list(self.reseeded_) + [(0, self.n_iter_, k) for k in emptied]
        self.converged_ = False
        self._set_fitted(comps, X.dtype)
        return self

    def _fit(self, X, sample_weight, callback=None):
        """Fit; a fit that raises (bad data, a singular component, the callback) leaves the estimator as it was."""
        self._validate_params()
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be a callable taking a FitProgress, got {type(callback).__name__}.")
        before = dict(self.__dict__)  # fitted attributes are replaced, never modified in place
        try:
            return self._fit_em(X, sample_weight, _Reporter(self, callback))
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit_em(self, X, sample_weight, report):
        source = self._source(X, sample_weight)
        fit_together([(self, report)], source)
        return source

    def _source(self, X, sample_weight):
        """Validate X (any supported kind) and wrap it as a :class:`~fastprob._sources.RowSource`; sets
        n_features_in_ (and feature_names_in_)."""
        missing = self._marginalize
        if _dask.is_dask_array(X):
            source = self._adopt(_dask.DaskSource(X, sample_weight, missing))
        elif isinstance(X, np.memmap):
            _compute_dtypes(X)  # refuses complex and long double maps
            X = check_memmap(X)
            sw = None if sample_weight is None else check_weights(sample_weight, X.shape[0], "sample_weight",
                                                                   rescale=False)
            source = MemmapSource(X, sw, missing)
            source.check_finite()
            self._adopt(source)
        elif is_chunk_stream(X):
            if sample_weight is not None:
                raise ValueError("sample_weight cannot be given with chunks of rows: make each chunk a pair "
                                 "(X_chunk, sample_weight_chunk) instead.")
            source = self._adopt(ChunkSource(X, missing))
        else:  # scikit-learn's validation sets n_features_in_ and feature_names_in_
            X = np.ascontiguousarray(self._check_X(X, ensure_min_samples=2))
            sw = None if sample_weight is None else check_weights(sample_weight, X.shape[0], "sample_weight",
                                                                   rescale=False)
            source = ArraySource(X, sw, missing)
        # Only ratios of weights matter; scaling them to mean 1 keeps sklearn's
        # 10·eps added to each Nₖ negligible whatever their magnitude.
        source.scale_weights()
        return source

    @property
    def _marginalize(self):
        return self.missing == "marginalize"

    def _check_observed(self, source, where=""):
        """Every column needs values: at least n_components observed ones (a clear error naming the column)."""
        names = getattr(self, "feature_names_in_", None)
        for j in np.flatnonzero(source.observed < self.n_components):
            column = f"Column {j}" + ("" if names is None else f" ({names[j]!r})")
            n = int(source.observed[j])
            if n == 0:
                raise ValueError(f"{column} of X has no observed value {where}(all NaN, or observed only in rows "
                                 "of sample weight 0): nothing can be learnt about it. Drop the column, or give "
                                 "rows where it is observed.")
            raise ValueError(f"{column} of X has only {n} observed value(s) {where}but n_components = "
                             f"{self.n_components}: each component needs at least one observed value of every "
                             "column. Use fewer components, or drop the column.")

    def _adopt_from(self, other):
        """The facts of X that validating it gave ``other`` (for models fitted to the same X)."""
        self.n_features_in_ = other.n_features_in_
        if hasattr(other, "feature_names_in_"):
            self.feature_names_in_ = other.feature_names_in_
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _adopt(self, source):
        """validate_data's checks and fitted facts for a source it cannot see (memmap, chunks, dask)."""
        if source.n_rows < 2:
            raise ValueError(f"Found {source.n_rows} sample(s) while a minimum of 2 is required by "
                             "GaussianMixture.")
        self.n_features_in_ = source.n_features
        if source.feature_names is not None:
            self.feature_names_in_ = source.feature_names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return source

    def _initial_parameters(self, source, inits, random_state, eps, reg_covar):
        """(weights, means, covariances) in float64 to start EM from (sklearn's _initialize): a generator,
        whose reads several initialisations can share (see :func:`fastprob._em.init_plan`)."""
        weights_init, means_init, covs_init = inits
        if weights_init is None or means_init is None or covs_init is None:
            stats = yield from _em.init_plan(source, self.init_params, self.n_components, random_state,
                                             _covariance.lookup(self.covariance_type).diagonal)
            nk, means, covs = _em.estimate_parameters(stats, self.covariance_type, reg_covar, eps)
            weights = nk / source.total_weight
        else:
            weights = means = covs = None
        return (weights if weights_init is None else weights_init,
                means if means_init is None else means_init,
                covs if covs_init is None else covs_init)

    # ------------------------------------------------------------------ #
    # Validation
    # ------------------------------------------------------------------ #
    def _check_warm_start(self, n_features, caller="warm_start"):
        """warm_start / partial_fit continue from fitted parameters: they must fit X and the settings."""
        K = self.n_components
        expected = _covariance.lookup(self.covariance_type).shape(K, n_features)
        if self.means_.shape != (K, n_features) or self.covariances_.shape != expected:
            how, fix = {"warm_start": ("warm_start=True", "Set warm_start=False to start a new fit."),
                        "partial_fit": ("partial_fit", "Call fit, or partial_fit on a new (cloned) estimator, "
                                                       "to start a new model.")}[caller]
            raise ValueError(
                f"{how} continues from the fitted model (means_ {self.means_.shape}, covariances_ "
                f"{self.covariances_.shape}), which does not match n_components={K}, covariance_type="
                f"{self.covariance_type!r} and X with {n_features} features (covariances of shape {expected}). "
                + fix)

    def _validate_params(self):
        def bad(name, expected):
            value = getattr(self, name)
            return InvalidParameterError(f"The '{name}' parameter of GaussianMixture must be {expected}. "
                                         f"Got {value!r} instead.")

        def is_int(v):
            return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))

        def is_real(v):
            return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v)

        if not is_int(self.n_components) or self.n_components < 1:
            raise bad("n_components", "an int in the range [1, inf)")
        if not isinstance(self.covariance_type, str) or self.covariance_type not in _covariance.TYPES:
            raise bad("covariance_type", f"a str among {set(_covariance.COVARIANCE_TYPES)}")
        for name in ("tol", "reg_covar"):
            if not is_real(getattr(self, name)) or getattr(self, name) < 0:
                raise bad(name, "a float in the range [0.0, inf)")
        if not is_int(self.max_iter) or self.max_iter < 0:
            raise bad("max_iter", "an int in the range [0, inf)")
        if not is_int(self.n_init) or self.n_init < 1:
            raise bad("n_init", "an int in the range [1, inf)")
        if self.init_params not in INIT_PARAMS:
            raise bad("init_params", f"a str among {set(INIT_PARAMS)}")
        if not isinstance(self.missing, str) or self.missing not in MISSING:
            raise bad("missing", f"a str among {set(MISSING)}")
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise bad("warm_start", "an instance of 'bool'")
        # scikit-learn's "verbose" constraint: an int >= 0 or a bool (True prints like 1)
        if not (isinstance(self.verbose, (bool, np.bool_)) or is_int(self.verbose) and self.verbose >= 0):
            raise bad("verbose", "an int in the range [0, inf), an instance of 'bool' or an instance of "
                                 "'numpy.bool'")
        if not is_int(self.verbose_interval) or self.verbose_interval < 1:
            raise bad("verbose_interval", "an int in the range [1, inf)")
        for name in _INIT_ARRAYS:
            if getattr(self, name) is not None and not _is_array_like(getattr(self, name)):
                raise bad(name, "an array-like or None")
        # scikit-learn's "random_state" constraint (a bool is an int there too)
        rs = self.random_state
        if not (rs is None or isinstance(rs, np.random.RandomState)
                or isinstance(rs, numbers.Integral) and 0 <= rs <= _MAX_SEED):
            raise bad("random_state", f"an int in the range [0, {_MAX_SEED}], an instance of "
                                      "'numpy.random.mtrand.RandomState' or None")

    def _check_initial_parameters(self, n_features):
        """Validated float64 (weights, means, covariances) from the *_init parameters (or None)."""
        K, d = self.n_components, n_features
        weights = means = covs = None
        if self.weights_init is not None:
            weights = _as_param(self.weights_init, "weights_init", (K,))
            # scikit-learn's tolerance: float32 weights (a float32 model's weights_) sum to 1 only to ~1e-7
            atol = 1e-6 if np.asarray(self.weights_init).dtype == np.float32 else 1e-8
            if (weights < 0).any() or (weights > 1).any():
                raise ValueError("The parameter 'weights_init' should be in the range [0, 1], but got "
                                 f"max value {weights.max():.5f}, min value {weights.min():.5f}")
            if abs(1.0 - weights.sum()) > atol:
                raise ValueError("The parameter 'weights_init' should be normalized, but got "
                                 f"sum(weights_init) = {weights.sum():.10f}; divide by the sum.")
        if self.means_init is not None:
            means = _as_param(self.means_init, "means_init", (K, d))
        if self.precisions_init is not None:
            ctype = _covariance.lookup(self.covariance_type)
            prec = _as_param(self.precisions_init, "precisions_init", ctype.shape(K, d))
            covs = ctype.covariances_from_precisions(prec)
        return weights, means, covs

    # ------------------------------------------------------------------ #
    # Fitted state
    # ------------------------------------------------------------------ #
    def _set_fitted(self, comps, dtype):
        prec_chol, precisions = _covariance.lookup(self.covariance_type).precisions(comps)
        self.weights_ = comps.weights.astype(dtype)
        self.means_ = comps.means.astype(dtype)
        self.covariances_ = comps.covariances.astype(dtype)
        self.precisions_cholesky_ = prec_chol.astype(dtype)
        self.precisions_ = precisions.astype(dtype)

    def _components(self):
        """Kernel-ready float64 mixture from the fitted attributes."""
        check_is_fitted(self, _FITTED_ARRAYS)
        self._check_fitted_shapes()
        comps, failed = make_components(
            self.weights_.astype(np.float64), self.means_.astype(np.float64),
            np.ascontiguousarray(self.covariances_, dtype=np.float64), self.covariance_type)
        if failed:
            raise ValueError(f"covariances_ of component(s) {failed} are not positive definite; "
                             "was the fitted model modified?")
        return comps

    def _check_fitted_shapes(self):
        """The fitted arrays must fit together, the covariance type and n_features_in_ (else scores are wrong)."""
        ctype = _covariance.lookup(self.covariance_type)
        means = np.shape(self.means_)
        K, d = means if len(means) == 2 else (np.shape(self.weights_)[0] if np.ndim(self.weights_) else 0, -1)
        expected = ctype.shape(K, d)
        if (np.shape(self.weights_) != (K,) or d != getattr(self, "n_features_in_", d)
                or np.shape(self.covariances_) != expected):
            raise ValueError(
                f"The fitted model's arrays do not fit together: weights_ {np.shape(self.weights_)}, means_ "
                f"{means}, covariances_ {np.shape(self.covariances_)} with covariance_type="
                f"{self.covariance_type!r} (which needs covariances of shape {expected}) and n_features_in_="
                f"{getattr(self, 'n_features_in_', None)}. Was the model changed after fitting, e.g. by "
                "set_params(covariance_type=...)? Fit it again.")

    def _validate_X(self, X, marginalize=None):
        check_is_fitted(self, _FITTED_ARRAYS)
        marginalize = self._marginalize if marginalize is None else marginalize
        return np.ascontiguousarray(self._check_X(X, reset=False, marginalize=marginalize))

    def _check_X(self, X, marginalize=None, **kwargs):
        """scikit-learn's ``validate_data`` with fastprob's dtype rule (see :func:`_compute_dtypes`).

        NaN is allowed where ``marginalize`` (default: ``missing='marginalize'``); infinity never is.
        """
        dtypes = _compute_dtypes(X)
        if any(isinstance(dt, np.dtype) and dt.kind == "O" for dt in _declared_dtypes(X)):
            try:  # only to name the problem: validate_data converts X itself (keeping feature names)
                np.asarray(X).astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"X has dtype object and holds a value that is not a number ({exc}); pass "
                                "a float64 or float32 array.") from None
        if marginalize is None:
            marginalize = self._marginalize
        if marginalize:
            kwargs["ensure_all_finite"] = "allow-nan"
        try:
            # Its finiteness check sums X: inf + -inf would warn before it names the problem.
            with np.errstate(invalid="ignore", over="ignore"):
                return validate_data(self, X, dtype=dtypes, **kwargs)
        except ValueError as exc:
            if marginalize and "infinity" in str(exc):
                raise ValueError(INFINITE_WITH_MISSING) from None
            if "contains NaN" in str(exc):
                raise ValueError(f"{str(exc).splitlines()[0]} {NAN_HINT}") from None
            raise

    # ------------------------------------------------------------------ #
    # Inference
    # ------------------------------------------------------------------ #
    def score_samples(self, X):
        """Log-likelihood log p(x) of each sample, shape (n_samples,).

        A dask array gives a lazy dask array (one task per row block).
        """
        return self._scores(X, "lse")

    def score(self, X, y=None):
        """Mean log-likelihood of X (a float, also for a dask array: computed)."""
        values = self.score_samples(X)
        if _dask.is_dask_array(values):
            return float(values.mean(dtype=np.float64).compute())
        return float(np.mean(values, dtype=np.float64))

    def predict(self, X):
        """Most probable component of each sample, shape (n_samples,); lazy for a dask array."""
        return self._scores(X, "labels")

    def predict_proba(self, X):
        """Responsibilities P(component | x), shape (n_samples, n_components); lazy for a dask array."""
        return self._scores(X, "resp")

    def impute(self, X, return_std=False):
        """X with each missing (NaN) entry replaced by its conditional mean under the fitted mixture.

        The fill of row x's missing coordinates m, given its observed ones o, is
        E[x_m | x_o] = Σ_k P(k | x_o) E[x_m | x_o, k], with E[x_m | x_o, k] =
        μ_k,m + Σ_k,mo Σ_k,oo⁻¹ (x_o - μ_k,o) and P(k | x_o) the responsibilities
        of the observed coordinates.  Works for any fitted model (whatever
        ``missing`` was); observed entries are returned unchanged, a row with
        no observed value gets the mixture's mean.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing value; infinity is an error.
        return_std : bool, default=False
            Also return the conditional standard deviation of each entry under
            the mixture, sqrt(Σ_k P(k | x_o) (Var[x_m | x_o, k] + (E[x_m | x_o, k]
            - E[x_m | x_o])²)) (0 where observed).

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
            In X's float dtype (float32 stays float32).
        std : ndarray of shape (n_samples, n_features), only with ``return_std``

        Examples
        --------
        >>> import numpy as np, fastprob
        >>> X = fastprob.load_faithful()
        >>> gm = fastprob.GaussianMixture(2, random_state=0).fit(X)
        >>> filled, std = gm.impute([[np.nan, 80.0], [2.0, np.nan]], return_std=True)
        >>> filled.round(2)
        array([[ 4.29, 80.  ],
               [ 2.  , 54.25]])
        >>> std.round(2)
        array([[0.38, 0.  ],
               [0.  , 5.56]])
        """
        if not isinstance(return_std, (bool, np.bool_)):
            raise TypeError(f"return_std must be True or False, got {return_std!r}.")
        X = self._validate_X(X, marginalize=True)
        _, _, _, filled, var = score(X, self._components(), impute=True, impute_var=return_std, marginalize=True)
        filled = filled.astype(X.dtype, copy=False)
        if return_std:
            return filled, np.sqrt(var).astype(X.dtype, copy=False)
        return filled

    def _scores(self, X, what):
        if _dask.is_dask_array(X):
            check_is_fitted(self, _FITTED_ARRAYS)
            self._check_feature_names(_dask.feature_names(X))
            comps = self._components()
            params = (comps.weights, comps.means, comps.covariances, comps.covariance_type)
            return _dask.lazy_scores(X, params, what, self.n_features_in_, self._marginalize)
        return score_one(self._validate_X(X), self._components(), what, marginalize=self._marginalize)

    def sample(self, n_samples=1):
        """Draw samples by ancestral sampling.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features), float64
        y : ndarray of int64, shape (n_samples,), the component of each sample
        """
        check_is_fitted(self, _FITTED_ARRAYS)
        if isinstance(n_samples, (bool, np.bool_)) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
            raise ValueError(f"Invalid value for 'n_samples': {n_samples!r}. The sampling requires at "
                             "least one sample.")
        return sample_components(self._components(), int(n_samples), check_random_state(self.random_state))

    def _n_parameters(self):
        K, d = self.means_.shape
        return int(_covariance.lookup(self.covariance_type).n_parameters(K, d) + d * K + K - 1)

    def bic(self, X):
        """Bayesian information criterion on X (lower is better)."""
        n = _n_rows(X)
        return -2 * self.score(X) * n + self._n_parameters() * math.log(n)

    def aic(self, X):
        """Akaike information criterion on X (lower is better)."""
        return -2 * self.score(X) * _n_rows(X) + 2 * self._n_parameters()

    def _check_feature_names(self, names):
        """sklearn's feature-name checks, for inputs that bypass its validate_data (dask DataFrames)."""
        fitted = getattr(self, "feature_names_in_", None)
        if names is not None and fitted is not None:
            if len(names) != len(fitted) or (names != fitted).any():
                raise ValueError("The feature names should match those that were passed during fit.\n"
                                 f"Fitted with: {list(fitted)}\nGot: {list(names)}")
        elif names is not None:
            warnings.warn("X has feature names, but GaussianMixture was fitted without feature names",
                          UserWarning, stacklevel=4)
        elif fitted is not None:
            warnings.warn("X does not have valid feature names, but GaussianMixture was fitted with feature "
                          "names", UserWarning, stacklevel=4)

    # ------------------------------------------------------------------ #
    # Persistence
    # ------------------------------------------------------------------ #
    def save(self, path):
        """Write the model to one portable ``.npz`` file (arrays and JSON, no pickled code).

        ``GaussianMixture.load(path)`` restores it exactly (bit-for-bit arrays).
        ``path`` is used as given (no extension is added); a writable binary
        file object works too.  A path is written safely: to a temporary file
        in the same folder, renamed onto ``path`` once complete, so a full
        disk, a crash or ``kill -9`` leaves the previous file (or none), never
        a partial one, and of two processes saving to one path the last to
        finish wins with its complete file.
        A ``random_state`` that is a RandomState instance cannot be stored: it is
        saved as None, with a warning.
        """
        check_is_fitted(self, _FITTED_ARRAYS)
        params = {k: v.item() if isinstance(v, np.generic) else v
                  for k, v in self.get_params().items() if k not in _INIT_ARRAYS}
        if not (params["random_state"] is None or isinstance(params["random_state"], numbers.Integral)):
            warnings.warn("random_state is a RandomState instance, which cannot be saved portably; "
                          "it is saved as None.", UserWarning, stacklevel=2)
            params["random_state"] = None
        elif params["random_state"] is not None:
            params["random_state"] = int(params["random_state"])
        fitted = {"converged_": bool(self.converged_), "n_iter_": int(self.n_iter_),
                  "lower_bound_": float(self.lower_bound_), "n_features_in_": int(self.n_features_in_),
                  "reseeded_": [list(map(int, r)) for r in self.reseeded_]}
        arrays = {name: getattr(self, name) for name in _FITTED_ARRAYS}
        arrays["lower_bounds_"] = np.asarray(self.lower_bounds_, dtype=np.float64)
        stats = getattr(self, "_partial_stats", None)
        if stats is not None:  # the sums partial_fit continues from
            arrays.update(partial_W=stats.W, partial_mean=stats.mean, partial_M2=stats.M2)
            fitted.update(n_samples_seen_=int(self.n_samples_seen_), weight_scale=float(self._weight_scale))
        for name in _INIT_ARRAYS:
            if getattr(self, name) is not None:
                arrays[name] = np.asarray(getattr(self, name))
        if hasattr(self, "feature_names_in_"):
            arrays["feature_names_in_"] = np.asarray(self.feature_names_in_, dtype=str)
        header = {"format": _FORMAT, "version": _FORMAT_VERSION, "params": params, "fitted": fitted}
        if isinstance(path, (str, os.PathLike)):
            # Written to exactly this path (np.savez would append '.npz' to other names).
            with atomic_write(path, "wb") as fh:
                np.savez(fh, header=np.array(json.dumps(header)), **arrays)
        else:
            np.savez(path, header=np.array(json.dumps(header)), **arrays)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`, checking everything in it.

        Nothing in the file is executed (pickles are refused).  The header
        (format, version, constructor parameters, fitted facts) and every
        array are checked before the model is built: dtype (float64 or
        float32, as the training data), shapes consistent with
        ``n_components``, ``n_features_in_`` and ``covariance_type``, finite
        values, weights non-negative and summing to 1 (the tolerance of
        ``weights_init``), covariances positive definite and the precisions
        those of the covariances.

        Parameters
        ----------
        path : str, path-like or readable binary file object

        Returns
        -------
        GaussianMixture

        Raises
        ------
        FileNotFoundError, IsADirectoryError, PermissionError
            As for any file that cannot be opened.
        ValueError
            Not a model file, a damaged one (truncated, a changed byte: the
            archive's checksums catch it) or one whose contents do not fit
            together; the message names the file, the array or header field
            and the problem.
        """
        if isinstance(path, (str, os.PathLike)):
            # Opened here, so that it is closed whatever np.load makes of it (it leaks the file of an
            # archive it cannot read).
            with open(path, "rb") as fh:
                return cls._load(fh, path)
        return cls._load(path, path)

    @classmethod
    def _load(cls, fh, path):
        try:
            data = np.load(fh, allow_pickle=False)
        except _ARCHIVE_ERRORS as exc:
            # numpy says "pickled data ... allow_pickle" for any file that is not .npy/.npz: not the fix
            reason = "not an .npz archive" if "pickle" in str(exc) or isinstance(exc, EOFError) else str(exc)
            raise ValueError(f"{path!s} is not a fastprob GaussianMixture file ({reason}).") from None
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError(f"{path!s} is not a fastprob GaussianMixture file (a plain .npy array).")
        with data:
            saved = _SavedFile(data, path)
            header = saved.header()
            try:
                return cls._from_saved(header, saved)
            except _Damaged as exc:
                raise ValueError(f"{path!s} is damaged or was not written by GaussianMixture.save: {exc}") \
                    from None

    @classmethod
    def _from_saved(cls, header, saved):
        """The model from load's parsed header and open file; raises _Damaged naming what is wrong."""
        params = _field(header, "params", dict, "the header")
        expected = set(cls().get_params()) - set(_INIT_ARRAYS)
        # Parameters added after format version 1 was first written: files without them get the default.
        added = {"missing"}
        if not expected - added <= set(params) <= expected:
            unknown, missing = sorted(set(params) - expected), sorted(expected - added - set(params))
            raise _Damaged("the header's params " + " and ".join(
                ([f"have unknown {unknown}"] if unknown else []) + ([f"lack {missing}"] if missing else [])) + ".")
        inits = {n: saved.array(n) for n in _INIT_ARRAYS if n in saved}
        model = cls(**params, **inits)
        try:
            model._validate_params()
        except InvalidParameterError as exc:
            raise _Damaged(f"in the header's params: {exc}") from None
        fitted = _field(header, "fitted", dict, "the header")
        facts = {name: _field(fitted, name, kind, "the header's fitted facts")
                 for name, kind in _FITTED_FACTS.items()}
        K, d = model.n_components, facts["n_features_in_"]
        ctype = _covariance.lookup(model.covariance_type)
        if d < 1 or facts["n_iter_"] < 0:
            raise _Damaged(f"the header says n_features_in_={d} and n_iter_={facts['n_iter_']}.")
        try:
            lower_bound = float(facts["lower_bound_"])
        except OverflowError:  # a JSON integer beyond float64 (e.g. 10**400)
            raise _Damaged(f"the header's lower_bound_ ({str(facts['lower_bound_'])[:20]}...) is beyond "
                           "float64's range.") from None
        if math.isnan(lower_bound):
            raise _Damaged("the header's lower_bound_ is NaN.")
        reseeded = facts["reseeded_"]
        if not all(isinstance(r, list) and len(r) == 3 and all(_is_json_int(v) and v >= 0 for v in r)
                   and r[2] < K for r in reseeded):
            raise _Damaged("the header's reseeded_ is not a list of [init, iteration, component] "
                           f"with components below n_components={K}.")

        arrays = {name: saved.array(name) for name in _FITTED_ARRAYS}
        dtype = arrays["weights_"].dtype
        shapes = {"weights_": (K,), "means_": (K, d), **{n: ctype.shape(K, d) for n in _FITTED_ARRAYS[2:]}}
        where = f"n_components={K}, n_features_in_={d} and covariance_type={model.covariance_type!r}"
        for name, arr in arrays.items():
            if arr.dtype not in (np.float64, np.float32) or arr.dtype != dtype:
                raise _Damaged(f"its array {name!r} has dtype {arr.dtype}; a model's arrays are all float64 "
                               f"or all float32 (weights_ is {dtype}).")
            if arr.shape != shapes[name]:
                raise _Damaged(f"its array {name!r} has shape {arr.shape}, but {where} need shape "
                               f"{shapes[name]}.")
            if not np.isfinite(arr).all():
                raise _Damaged(f"its array {name!r} contains NaN or infinity.")
        weights = arrays["weights_"].astype(np.float64)
        atol = 1e-6 if dtype == np.float32 else 1e-8  # weights_init's tolerance
        if (weights < 0).any() or abs(weights.sum() - 1.0) > atol:
            raise _Damaged(f"its weights_ must be non-negative and sum to 1, got min {weights.min():.6g} "
                           f"and sum {weights.sum():.10f}.")
        covs = arrays["covariances_"].astype(np.float64)
        try:
            ctype.check_given(covs, "covariances_")
        except ValueError as exc:
            raise _Damaged(str(exc)) from None
        comps, failed = make_components(weights, arrays["means_"].astype(np.float64), np.ascontiguousarray(covs),
                                        model.covariance_type)
        if failed:
            raise _Damaged(f"its covariances_{ctype.failed_where(failed)} are not positive definite.")
        _check_precisions(ctype, comps, arrays, dtype)

        bounds = saved.array("lower_bounds_")
        if bounds.ndim != 1 or bounds.dtype.kind != "f" or np.isnan(bounds).any():
            raise _Damaged(f"its array 'lower_bounds_' must be a 1-D float array without NaN, got "
                           f"{bounds.dtype} of shape {bounds.shape}.")
        partial = [n for n in _PARTIAL_ARRAYS if n in saved]
        has_sums = "n_samples_seen_" in fitted or "weight_scale" in fitted
        if partial and len(partial) != len(_PARTIAL_ARRAYS) or bool(partial) != has_sums:
            raise _Damaged(f"it has the partial_fit sums {partial} and {'' if has_sums else 'not '}the facts "
                           "n_samples_seen_ and weight_scale: a model has all or none of them.")
        if partial:
            sums = {n: saved.array(n) for n in _PARTIAL_ARRAYS}
            m2_shape = (K, d) if ctype.diagonal else (K, d, d)
            for (name, arr), shape in zip(sums.items(), [(K,), (K, d), m2_shape]):
                if arr.dtype != np.float64 or arr.shape != shape or not np.isfinite(arr).all():
                    raise _Damaged(f"its array {name!r} must be finite float64 of shape {shape}, got "
                                   f"{arr.dtype} of shape {arr.shape}.")
            if (sums["partial_W"] < 0).any():
                raise _Damaged("its array 'partial_W' has negative entries.")
            model._partial_stats = _em.Statistics(*sums.values())
            model.n_samples_seen_ = _field(fitted, "n_samples_seen_", int, "the header's fitted facts")
            model._weight_scale = _field(fitted, "weight_scale", float, "the header's fitted facts")
            if model.n_samples_seen_ < 0 or not (0 < model._weight_scale < math.inf):
                raise _Damaged(f"the header says n_samples_seen_={model.n_samples_seen_} and "
                               f"weight_scale={model._weight_scale}.")
        if "feature_names_in_" in saved:
            names = saved.array("feature_names_in_")
            if names.dtype.kind != "U" or names.shape != (d,):
                raise _Damaged(f"its array 'feature_names_in_' must be {d} strings, got {names.dtype} of "
                               f"shape {names.shape}.")
            model.feature_names_in_ = names.astype(object)
        try:
            model._check_initial_parameters(d)
        except ValueError as exc:
            raise _Damaged(f"its initial parameters: {exc}") from None

        for name, arr in arrays.items():
            setattr(model, name, arr)
        model.lower_bounds_ = bounds.tolist()
        model.converged_ = facts["converged_"]
        model.n_iter_ = facts["n_iter_"]
        model.lower_bound_ = float(facts["lower_bound_"])
        model.n_features_in_ = d
        model.reseeded_ = [tuple(r) for r in reseeded]
        return model


#: What zipfile and numpy raise for an archive or member they cannot read: a changed byte can make
#: a zip header claim an unknown version or compression (NotImplementedError), encryption
#: (RuntimeError) or impossible sizes (struct.error, OverflowError).
_ARCHIVE_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError,
                   struct.error, OverflowError)


class _Damaged(Exception):
    """What is wrong inside a model file (load adds the file's name)."""


#: The header's fitted facts and their JSON types.
_FITTED_FACTS = {"converged_": bool, "n_iter_": int, "lower_bound_": float, "n_features_in_": int,
                 "reseeded_": list}
_PARTIAL_ARRAYS = ("partial_W", "partial_mean", "partial_M2")


def _is_json_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _field(mapping, name, kind, where):
    """``mapping[name]``, of JSON type ``kind`` (an int is a float too, a bool is not an int)."""
    if not isinstance(mapping, dict) or name not in mapping:
        raise _Damaged(f"{where} has no {name!r}.")
    value = mapping[name]
    ok = {int: _is_json_int(value), float: _is_json_int(value) or isinstance(value, float)}.get(
        kind, isinstance(value, kind))
    if not ok:
        what = {dict: "object", list: "array", bool: "true/false", int: "integer", float: "number"}[kind]
        raise _Damaged(f"{where}: {name!r} is {value!r}, not a JSON {what}.")
    return value


def _check_precisions(ctype, comps, arrays, dtype):
    """The stored precisions must be those of the stored covariances (as fit computes them).

    They are recomputed from the covariances as read; for a float32 model those
    were rounded after the precisions were computed, which moves the result by
    up to about cond(covariance) x float32's eps: the tolerance allows for it.
    """
    recomputed = dict(zip(("precisions_cholesky_", "precisions_"), ctype.precisions(comps)))
    n_blocks = 1 if ctype.shared else len(comps.weights)
    if ctype.diagonal:
        cond = np.ones(n_blocks)
    else:
        eig = np.linalg.eigvalsh(comps.covariances.reshape(n_blocks, comps.n_features, comps.n_features))
        # (eigvalsh's smallest eigenvalue of a barely positive definite matrix can come out <= 0)
        cond = eig[:, -1] / np.maximum(eig[:, 0], eig[:, -1] * np.finfo(np.float64).eps)
    tol = 100 * comps.n_features * np.finfo(dtype).eps * cond
    for name, want in recomputed.items():
        got = arrays[name].astype(np.float64).reshape(n_blocks, -1)
        want = want.astype(dtype).astype(np.float64).reshape(n_blocks, -1)
        err = np.abs(got - want).max(axis=1)
        bad = np.flatnonzero(~(err <= tol * np.abs(want).max(axis=1)))
        if bad.size:
            which = "" if ctype.shared else f" of component {int(bad[0])}"
            raise _Damaged(f"its {name}{which} are not those of its covariances_ (largest difference "
                           f"{err[bad[0]]:.3g}).")


class _SavedFile:
    """A model file's open archive: its members read with errors that name the file and the member."""

    def __init__(self, data, path):
        self.data, self.path = data, path

    def __contains__(self, name):
        return name in self.data.files

    def array(self, name):
        if name not in self:
            raise _Damaged(f"its array {name!r} is missing.")
        try:
            return self.data[name]
        except _ARCHIVE_ERRORS as exc:
            # (a changed byte fails the archive's CRC check; numpy refuses a pickled member)
            raise ValueError(f"{self.path!s} is damaged: its array {name!r} cannot be read ({exc}).") from None

    def header(self):
        """The parsed JSON header: a dict naming the format and its version."""
        path = self.path
        if "header" not in self:
            raise ValueError(f"{path!s} is not a fastprob GaussianMixture file (no header).")
        raw = self.array("header")
        if raw.dtype.kind != "U" or raw.ndim != 0:
            raise ValueError(f"{path!s} is damaged: its header is {raw.dtype} of shape {raw.shape}, not a text.")
        try:
            header = json.loads(str(raw))
        except RecursionError:
            raise ValueError(f"{path!s} is damaged: its header is not valid JSON (nested too deeply).") from None
        except ValueError as exc:
            raise ValueError(f"{path!s} is damaged: its header is not valid JSON ({exc}).") from None
        if not isinstance(header, dict):
            raise ValueError(f"{path!s} is damaged: its header is a JSON {type(header).__name__}, not an object.")
        if header.get("format") != _FORMAT or header.get("version") != _FORMAT_VERSION:
            raise ValueError(f"{path!s} holds format {header.get('format')!r} version "
                             f"{header.get('version')!r}; expected {_FORMAT!r} version {_FORMAT_VERSION}.")
        return header


def fit_together(jobs, source, on_error=None, name_models=False):
    """Fit GaussianMixture models to one validated source, all their EM runs sharing each pass over it.

    ``jobs`` are (model, report) pairs (a :class:`_Reporter` each).  Every
    model ends as its own ``fit`` would leave it: each of its ``n_init``
    runs starts from the same draws of its random state and iterates with
    the same arithmetic (see :mod:`fastprob._runs`).  The initialisations
    share their reads too: one ``take`` of the sampled rows per wave of
    restarts and one nearest-centre pass for all (:class:`~fastprob._em.InitRunner`).

    With ``on_error`` None the first error raises (a lone fit's behaviour);
    else ``on_error(model, exc)`` is called for a model that fails and the
    others go on.  Models whose data factor (:func:`~fastprob._em.data_factor`,
    from reg_covar) differs are fitted in separate groups.  With
    ``name_models``, the models' warnings say which model they are about.
    """
    by_factor = {}
    for model, report in jobs:
        f = _em.data_factor(source.max_abs, source.dtype, model.reg_covar)
        by_factor.setdefault(f, []).append((model, report))
    for f, group in by_factor.items():
        # Data near the dtype's limits (|x| ~1e300 or ~1e-300) are fitted multiplied by a power
        # of two f, exactly: parameters, reg_covar and the bound convert on the way in and out.
        source.set_factor(f)
        try:
            _fit_group(group, source, f, on_error, name_models)
        finally:
            source.set_factor(1.0)


def _fit_group(jobs, source, f, on_error, name_models):
    """:func:`fit_together` for models with one data factor f (the source delivers its rows times f)."""
    n_features, dtype = source.n_features, source.dtype
    # log p(x) = log p(f x) + d log f, with d the row's observed values where some are missing
    log_jacobian = (source.observed_per_row if source.holes else n_features) * math.log(f)
    # Initialisations and re-seeding need complete rows: they see the holes filled with column means.
    complete = FilledSource(source, source.fill) if source.holes else source
    runner = _em.InitRunner(complete)
    eps = 10 * np.finfo(dtype).eps
    fits = []

    def fail(fit, exc):
        if on_error is None:
            raise exc
        fit.settings.error = exc
        on_error(fit.model, exc)

    for model, report in jobs:
        fit = _ModelFit(model, report, f, name_models)
        fits.append(fit)
        try:
            if source.n_rows < model.n_components:
                raise ValueError("Expected n_samples >= n_components but got "
                                 f"n_components = {model.n_components}, n_samples = {source.n_rows}")
            fit.settings = _runs.Settings(model.covariance_type, model.reg_covar * f * f, eps, model.tol,
                                          model.max_iter, dtype, source.total_weight, log_jacobian, complete,
                                          report)
            fit.inits = _em.scaled(model._check_initial_parameters(n_features), f)
            fit.do_init = not (model.warm_start and hasattr(model, "converged_"))
            if not fit.do_init:
                model._check_warm_start(n_features)
            fit.n_init = model.n_init if fit.do_init else 1
            fit.random_state = check_random_state(model.random_state)
            if source.holes:
                model._check_observed(source)
        except Exception as exc:
            fit.settings = fit.settings or _runs.Settings(*[None] * 9, report)
            fail(fit, exc)
    # Restart r of every model starts once restart r - 1 has made its random draws (each
    # model's random state is consumed in sklearn's order); the nearest-centre passes of
    # all restarts are one pass at the end.  Each run re-seeds empty components from a copy
    # of its model's random state as its initialisation left it.
    for r in range(max([fit.n_init for fit in fits if fit.settings.error is None], default=0)):
        wave = [fit for fit in fits if fit.settings.error is None and r < fit.n_init]
        for fit in wave:
            fit.report.init_begin(r)
        plans = [_warnings_named(fit.model._initial_parameters(runner.source_for(), fit.inits, fit.random_state,
                                                               eps, fit.settings.reg_covar), fit.who)
                 if fit.do_init else None for fit in wave]
        for fit, slot in zip(wave, runner.wave(plans)):
            fit.starts.append((slot, copy.deepcopy(fit.random_state)))
            if runner.failure(slot) is not None:  # as a lone fit: no later restart once one has failed
                fail(fit, runner.failure(slot))
    runner.finish()
    runs = []
    for fit in fits:
        fit.report.many = len(fit.starts) > 1
        if fit.settings.error is not None:
            continue
        model = fit.model
        try:
            for r, (slot, rng) in enumerate(fit.starts):
                if fit.do_init:
                    params = runner.result(slot)
                else:
                    params = _em.scaled((model.weights_.astype(np.float64), model.means_.astype(np.float64),
                                         model.covariances_.astype(np.float64)), f)
                comps = _initial_components(params, model.covariance_type, dtype, f, source.max_abs)
                # As scikit-learn: a warm start's first change is from the fitted bound, but without
                # iterations there is no bound at all (lower_bound_ becomes -inf, also for a warm start).
                lower_bound = model.lower_bound_ if not fit.do_init and model.max_iter > 0 else -np.inf
                fit.runs.append(_runs.Run(comps, r, fit.settings, rng, lower_bound))
        except Exception as exc:
            fail(fit, exc)
            continue
        runs += fit.runs
    del runner  # (with it, the rows small data were gathered into for the initialisations)
    _runs.advance(source, runs, None if on_error is None else lambda settings, exc: on_error(
        next(fit.model for fit in fits if fit.settings is settings), exc))
    for fit in fits:
        if fit.settings.error is None:
            try:
                fit.finish(source)
            except Exception as exc:
                fail(fit, exc)


def _model_name(model):
    """How warnings name a model among several fitted together."""
    return f"n_components={model.n_components}, covariance_type={model.covariance_type!r}: "


def _warnings_named(plan, who):
    """The initialisation generator ``plan``, its warnings (e.g. scikit-learn's k-means') prefixed with ``who``."""
    if not who:
        return (yield from plan)
    answer = None
    while True:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    request = plan.send(answer)
                except StopIteration as stop:
                    result = stop.value
                    request = None
                answer = None  # (the rows sent are the plan's to release)
        finally:  # (also when the plan raised)
            for w in caught:
                warnings.warn(f"{who}{w.message}", w.category, stacklevel=2)
        if request is None:
            return result
        answer = yield request


def _initial_components(params, covariance_type, dtype, f, max_abs):
    try:
        return _em.factorise_or_raise(*params, covariance_type, dtype, "at initialisation")
    except ValueError as exc:
        if f == 1.0:
            raise
        raise ValueError(f"X holds values up to {max_abs:.3g}, so EM works on X scaled by "
                         f"{f:.3g} to keep their squares finite; at that scale the initial covariances "
                         "are not positive definite (they underflow): the data span a wider range than "
                         "float64 can square. Remove or rescale the outlying rows, or fit the data in "
                         f"other units. ({exc})") from None


class _ModelFit:
    """One model's part in :func:`fit_together`: its runs, and how they become its fitted attributes."""

    def __init__(self, model, report, f, name_models=False):
        self.model, self.report, self.f = model, report, f
        self.who = _model_name(model) if name_models else ""
        self.settings = None
        self.starts = []  # (InitRunner slot, random state for re-seeding) per run
        self.runs = []

    def finish(self, source):
        """Set the model's fitted attributes from its best run, as scikit-learn chooses it."""
        model, f, dtype, who = self.model, self.f, source.dtype, self.who
        best = None
        for run in self.runs:
            # As scikit-learn: a later init also replaces one whose bound is -inf (max_iter=0 keeps the last).
            if best is None or run.lower_bound > best.lower_bound or best.lower_bound == -np.inf:
                best = run
        comps, last_stats = best.comps, best.stats if model.max_iter > 0 else None
        if f != 1.0:
            comps = _em.unscaled_components(comps, f, model.covariance_type, dtype)
            if last_stats is not None:
                with np.errstate(over="ignore"):
                    M2 = last_stats.M2 / f / f
                # Sums of squares over all rows can leave float64 where the covariances do not:
                # partial_fit then starts its sums afresh.
                last_stats = _em.Statistics(last_stats.W, last_stats.mean / f, M2) if np.isfinite(M2).all() \
                    else None
        model.n_iter_, model.lower_bounds_, model.converged_ = best.n_iter, best.lower_bounds, best.converged
        model.lower_bound_ = best.lower_bound
        model._best_init = best.init
        reseeded = [event for run in self.runs for event in run.reseeded]
        model.reseeded_ = reseeded
        # partial_fit continues from the sums behind the fitted parameters.
        model._partial_stats = None if last_stats is None else _em.Statistics(last_stats.W, last_stats.mean,
                                                                               last_stats.M2)
        model._weight_scale = source.weight_scale
        model.n_samples_seen_ = source.n_rows
        if reseeded:
            warnings.warn(
                f"{who}{len(reseeded)} time(s) a component lost all its points and was re-seeded at a poorly "
                f"explained sample (init, iteration, component): {reseeded[:10]}. This usually means "
                "n_components is larger than the data supports.", UserWarning, stacklevel=6)
        if not model.converged_ and model.max_iter > 0:
            warnings.warn(f"{who}Best performing initialization did not converge. Try different init "
                          "parameters, or increase max_iter, tol, or check for degenerate data.",
                          ConvergenceWarning, stacklevel=6)
        model._set_fitted(comps, dtype)


class _Reporter:
    """EM progress: scikit-learn's ``verbose`` messages (same format) and the user's callback.

    With several initialisations, which run together, each message after
    'Initialization r' names its initialisation (their lines interleave).
    """

    def __init__(self, model, callback, name=""):
        self.verbose, self.interval = model.verbose, model.verbose_interval
        self.name = name  # printed before each message where several models are fitted together
        self.K, self.covariance_type, self.callback = model.n_components, model.covariance_type, callback
        self.many = False  # several initialisations run (set by fit_together once it knows how many)
        self.init_time, self.iter_time = {}, {}

    def _call(self, *fields):
        if self.callback is not None:
            self.callback(FitProgress(*fields, self.K, self.covariance_type))

    def _which(self, init):
        return f" (initialization {init})" if self.many else ""

    def init_begin(self, init):
        if self.verbose >= 1:
            print(f"{self.name}Initialization {init}")
            self.init_time[init] = self.iter_time[init] = time.time()
        self._call("init_begin", init, 0, -np.inf, np.nan, False)

    def iteration(self, init, n_iter, change, lower_bound):
        if self.verbose >= 1 and n_iter % self.interval == 0:
            if self.verbose == 1:
                print(f"{self.name}  Iteration {n_iter}{self._which(init)}")
            else:
                now = time.time()
                print(f"{self.name}  Iteration {n_iter}\t time lapse {now - self.iter_time[init]:.5f}s\t ll change "
                      f"{change:.5f}{self._which(init)}")
                self.iter_time[init] = now
        self._call("iteration", init, n_iter, lower_bound, change, False)

    def init_end(self, init, n_iter, lower_bound, converged, verbose=True):
        # (scikit-learn prints nothing at the end of an initialisation without iterations)
        msg = "converged" if converged else "did not converge"
        which = f" {init}" if self.many else ""
        if verbose and self.verbose == 1:
            print(f"{self.name}Initialization{which} {msg}.")
        elif verbose and self.verbose >= 2:
            print(f"{self.name}Initialization{which} {msg}. time lapse {time.time() - self.init_time[init]:.5f}s\t "
                  f"lower bound {lower_bound:.5f}.")
        self._call("init_end", init, n_iter, lower_bound, np.nan, converged)


def _n_rows(X):
    """Number of rows of any X the estimator accepts for scoring (a dask one gets its sizes computed)."""
    if _dask.is_dask_array(X):
        return int(_dask.as_rows(X).shape[0])
    return len(X) if hasattr(X, "__len__") else np.asarray(X).shape[0]


def _all_zero_weights(sample_weight, n):
    """True for a valid-looking weight vector of n zeros (other problems are check_weights' to report)."""
    w = np.asarray(sample_weight)
    return w.shape == (n,) and w.dtype.kind in "fiub" and not np.any(w)


class _ComplexDataError(TypeError, ValueError):
    """Complex X: a TypeError like every dtype fastprob cannot compute in, and the ValueError
    ("Complex data not supported") that scikit-learn's estimator checks expect."""


def _declared_dtypes(X):
    """The dtypes X says it has (an array's, a DataFrame's columns', pandas' own among them); [] for lists."""
    dtype = getattr(X, "dtype", None)
    if dtype is not None:
        return [dtype]
    dtypes = getattr(X, "dtypes", None)  # a pandas DataFrame
    if dtypes is not None and hasattr(dtypes, "__iter__"):
        return list(dtypes)
    return []


def _compute_dtypes(X):
    """The dtypes ``validate_data`` may convert X to: float16 computes as float32, as in the functions.

    The kernels compute in float64 or float32.  Complex and long double X are
    refused (a TypeError naming the dtype and what to pass) rather than
    converted, which would drop the imaginary part or round silently.
    """
    declared = _declared_dtypes(X)
    if not all(isinstance(dt, np.dtype) for dt in declared):  # pandas' own dtypes: scikit-learn converts them
        return [np.float64, np.float32]
    for dt in declared:
        if dt.kind == "c":
            raise _ComplexDataError(
                f"Complex data not supported: X has dtype {dt}. fastprob computes with real numbers, in "
                "float64 or float32: pass X.real.astype(np.float64) if the imaginary parts are zero.")
        if dt.kind == "f" and dt.itemsize > 8:
            raise TypeError(
                f"X has dtype {dt} (long double), which fastprob cannot compute in: it computes in float64 "
                "or float32, and will not round the data silently. Pass X.astype(np.float64).")
        if dt.kind in "USMmV":  # text, dates and records are not numbers, even where they parse as ones
            raise TypeError(f"X has dtype {dt}, which is not numeric: pass a float64 or float32 array "
                            "(e.g. parse text with X.astype(np.float64) yourself).")
        if dt.kind == "O":
            values = np.asarray(X, dtype=object).ravel()
            odd = next((v for v in values if isinstance(v, (complex, np.complexfloating, np.longdouble, str, bytes))),
                       None)
            if odd is not None:
                raise TypeError(f"X has dtype object and holds a {type(odd).__name__} ({odd!r}), which fastprob "
                                "cannot compute in without rounding or guessing: pass a float64 or float32 array.")
    floats = [dt for dt in declared if dt.kind == "f"]
    if floats and len(floats) == len(declared) and max(dt.itemsize for dt in floats) <= 4 \
            and min(dt.itemsize for dt in floats) < 4:
        return [np.float32]
    return [np.float64, np.float32]


def _is_array_like(value):
    """scikit-learn's "array-like" constraint: a sequence or array, not a scalar or a string."""
    return (hasattr(value, "__len__") or hasattr(value, "shape") or hasattr(value, "__array__")) \
        and not np.isscalar(value)


def _as_param(value, name, shape):
    arr = np.asarray(value)
    if arr.dtype.kind == "O":  # e.g. a pandas nullable Float64 frame: numbers held as objects
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            pass
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}.")
    arr = arr.astype(np.float64)
    if arr.shape != tuple(shape):
        raise ValueError(f"The parameter '{name}' should have the shape of {tuple(shape)}, but got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity.")
    return arr
