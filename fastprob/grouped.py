"""Many small Gaussian-mixture fits at once: one independent mixture per group of rows.

:func:`fit_grouped` validates, sorts the rows by group, draws each group's
random numbers in Python (the calls scikit-learn and the estimator make), runs
the k-means initialisation (:mod:`fastprob.kernels.kmeans`) and EM
(:mod:`fastprob.kernels.grouped`) for all groups in parallel kernels, and
refits with :class:`fastprob.GaussianMixture` the few groups the kernels
report (see ``docs/grouped.md``).
"""
import copy
import numbers
import warnings

import numpy as np

from . import _covariance, _em
from ._moments import Statistics
from ._validation import as_float_array, check_finite
from .kernels import grouped as _gk
from .kernels import kmeans as _kk
from .kernels.gaussian import solver_token
from .kernels.tiles import max_blocks, rows_per_tile

__all__ = ["fit_grouped", "GroupedMixtures"]

SMALL_GROUPS = ("error", "skip")

#: KMeans' own parameters, as fastprob's 'kmeans' initialisation uses them (sklearn's defaults).
_KMEANS_MAX_ITER = 300
_KMEANS_TOL = 1e-4
_COV_CODES = {"full": _gk.FULL, "tied": _gk.TIED, "diag": _gk.DIAG, "spherical": _gk.SPHERICAL}


def _name(label):
    """repr of a group label as the user wrote it (99, 'a'), not numpy's np.int64(99)."""
    return repr(label.item() if isinstance(label, np.generic) else label)


def _names(labels):
    return "[" + ", ".join(_name(v) for v in labels[:10]) + (", ..." if len(labels) > 10 else "") + "]"


class GroupedMixtures:
    """Independent Gaussian mixtures fitted by :func:`fit_grouped`, one per group, stacked.

    Attributes
    ----------
    groups_ : ndarray (G,)
        The fitted group labels, sorted.
    weights_ : (G, K), means_ : (G, K, d)
    covariances_ : (G, K, d, d) 'full', (G, d, d) 'tied', (G, K, d) 'diag', (G, K) 'spherical'
        Fitted parameters in the data's dtype; row g belongs to ``groups_[g]``.
    converged_ : (G,) bool,  n_iter_ : (G,) int,  lower_bound_ : (G,) float64
    random_seeds_ : (G,) int64 or None
        For a ``RandomState`` (or None) ``random_state``: the seed drawn for each
        group; group g equals the stand-alone fit with ``random_state=random_seeds_[g]``.
        None for an int ``random_state`` (every group used that int).
    skipped_ : ndarray
        Labels of groups left out by ``small_groups='skip'`` (empty otherwise).
    refitted_ : ndarray
        Labels of groups the kernels handed back to :class:`fastprob.GaussianMixture`
        (re-seeded components, float32 range, k-means' rare cases; see docs/grouped.md).

    ``len(result)`` is the number of fitted groups; iterating gives
    ``(label, GaussianMixture)`` pairs in label order; ``result[label]`` (or
    ``result.mixture(label)``) is that group's fitted :class:`fastprob.GaussianMixture`.
    """

    def __init__(self, params, groups, arrays, fallback, seeds, skipped, refitted, dtype, feature_names=None):
        self._params = params
        self._feature_names = feature_names
        self.groups_ = groups
        self._arrays = arrays
        self._fallback = fallback
        self.random_seeds_ = seeds
        self.skipped_ = skipped
        self.refitted_ = refitted
        self._dtype = dtype
        G = len(groups)
        ctype = _covariance.lookup(params["covariance_type"])
        self.weights_ = arrays["weights"].astype(dtype)
        self.means_ = arrays["means"].astype(dtype)
        self.covariances_ = arrays["covs"].astype(dtype)
        self.converged_ = arrays["converged"].astype(bool)
        self.n_iter_ = arrays["n_iter"].copy()
        self.lower_bound_ = arrays["lower_bound"].copy()
        for g, gm in fallback.items():
            self.weights_[g] = gm.weights_
            self.means_[g] = gm.means_
            self.covariances_[g] = gm.covariances_
            self.converged_[g] = gm.converged_
            self.n_iter_[g] = gm.n_iter_
            self.lower_bound_[g] = gm.lower_bound_
        assert self.covariances_.shape == (G,) + ctype.shape(params["n_components"], self.means_.shape[-1])
        self._index = {label: g for g, label in enumerate(groups.tolist())}

    def __len__(self):
        return len(self.groups_)

    def __iter__(self):
        for label in self.groups_:
            yield label, self.mixture(label)

    def __getitem__(self, label):
        return self.mixture(label)

    def __contains__(self, label):
        return self._key(label) in self._index

    def __repr__(self):
        p = self._params
        return (f"GroupedMixtures({len(self)} groups, n_components={p['n_components']}, "
                f"covariance_type={p['covariance_type']!r})")

    @staticmethod
    def _key(label):
        return label.item() if isinstance(label, np.generic) else label

    def index(self, label):
        """Row of ``label`` in the stacked arrays (KeyError naming it if it was not fitted)."""
        try:
            return self._index[self._key(label)]
        except (KeyError, TypeError):
            skipped = any(self._key(s) == self._key(label) for s in self.skipped_.tolist())
            why = " (skipped: fewer rows than components)" if skipped else ""
            raise KeyError(f"group {_name(label)} was not fitted{why}") from None

    def mixture(self, label):
        """The fitted :class:`fastprob.GaussianMixture` of group ``label`` (a new object each call).

        Equal to ``GaussianMixture(...).fit(X[groups == label], sample_weight=...)``
        with the parameters of :func:`fit_grouped` (and ``random_state`` the
        group's seed, see ``random_seeds_``).
        """
        from .estimator import GaussianMixture
        from .mixture import make_components

        g = self.index(label)
        if g in self._fallback:
            return copy.deepcopy(self._fallback[g])
        p = self._params
        a = self._arrays
        seed = p["random_state"] if self.random_seeds_ is None else int(self.random_seeds_[g])
        gm = GaussianMixture(p["n_components"], covariance_type=p["covariance_type"], tol=p["tol"],
                             reg_covar=p["reg_covar"], max_iter=p["max_iter"], init_params=p["init_params"],
                             random_state=seed)
        comps, failed = make_components(a["weights"][g].copy(), a["means"][g].copy(),
                                        np.ascontiguousarray(a["covs"][g]), p["covariance_type"])
        assert not failed
        gm._set_fitted(comps, self._dtype)
        gm.n_features_in_ = self.means_.shape[-1]
        if self._feature_names is not None:
            gm.feature_names_in_ = self._feature_names.copy()
        n_iter = int(a["n_iter"][g])
        gm.converged_ = bool(a["converged"][g])
        gm.n_iter_ = n_iter
        gm.lower_bound_ = float(a["lower_bound"][g])
        gm.lower_bounds_ = [float(v) for v in a["bounds"][g, :n_iter]]
        gm.reseeded_ = []
        if n_iter > 0:
            M2 = a["M2"][g]
            if M2.shape[-1] == 1:
                M2 = M2[:, :, 0].copy()
            else:
                M2 = np.tril(M2) + np.tril(M2, -1).transpose(0, 2, 1)
            gm._partial_stats = Statistics(a["W"][g].copy(), a["mean"][g].copy(), M2)
        else:
            gm._partial_stats = None
        gm._weight_scale = float(a["weight_scale"][g])
        gm.n_samples_seen_ = int(a["n_rows"][g])
        return gm


#: Warnings of the groups refitted by the estimator shown one by one before a summary.
WARNINGS_SHOWN = 10


def _missing_labels(labels):
    """Which labels are missing values: NaN (any float kind), None, NaT."""
    if labels.dtype.kind == "f":
        return np.isnan(labels)
    if labels.dtype.kind in "mM":
        return np.isnat(labels)
    if labels.dtype.kind == "O":
        return np.array([_is_missing(v) for v in labels.tolist()], dtype=bool)
    return np.zeros(len(labels), dtype=bool)


def _is_missing(v):
    if v is None:
        return True
    try:
        return bool(v != v)  # NaN (and NaT) differ from themselves
    except (TypeError, ValueError):  # pandas.NA: its comparisons are NA, itself undecidable
        return True


def fit_grouped(X, groups, n_components, *, covariance_type="full", tol=1e-3, reg_covar=1e-6, max_iter=100,
                init_params="kmeans", random_state=None, sample_weight=None, small_groups="error"):
    """Fit an independent Gaussian mixture to the rows of each group, all groups in one parallel kernel.

    Each group's result equals ``fastprob.GaussianMixture(n_components, covariance_type=...,
    tol=..., reg_covar=..., max_iter=..., init_params=..., random_state=...)`` fitted to
    ``X[groups == label]`` (with ``sample_weight[groups == label]``): the same
    initialisation (scikit-learn's KMeans labels, k-means++ seeds or random
    draws, reproduced from the same random numbers), the same EM iterations,
    ``n_iter_`` and ``converged_``, and parameters equal to rounding (see
    docs/grouped.md for what is exact and what falls back to the estimator).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        float32 data stay float32 (fitted arrays in float32, as the estimator's).
    groups : array-like of shape (n_samples,)
        The group of each row: any sortable labels (ints, strings, ...).
    n_components : int
    covariance_type, tol, reg_covar, max_iter, init_params :
        As for :class:`fastprob.GaussianMixture` (one initialisation per group).
    random_state : int, RandomState instance or None, default=None
        An int: every group is fitted as with ``random_state=that int`` (each
        starts from a fresh ``RandomState(int)``).  A ``RandomState`` (or None:
        numpy's global one): one seed is drawn per fitted group, in label order
        (``random_seeds_``), and group g is fitted as with
        ``random_state=random_seeds_[g]``.
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights (each group's are used as the estimator uses them).
    small_groups : {'error', 'skip'}, default='error'
        A group with fewer rows of positive weight than ``n_components`` (or
        fewer than 2 rows) cannot be fitted: 'error' raises a ValueError naming
        it, 'skip' leaves it out, lists it in ``skipped_`` and warns.

    Returns
    -------
    GroupedMixtures
        Stacked ``weights_``, ``means_``, ``covariances_``, ``converged_``,
        ``n_iter_``, ``lower_bound_`` in the order of ``groups_``;
        ``result[label]`` is that group's fitted GaussianMixture.

    Examples
    --------
    >>> import numpy as np, fastprob
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(c, 1.0, size=(100, 2)) for c in (0, 0, 5, 5, 10, 10)])
    >>> groups = np.repeat(["a", "b", "c"], 200)
    >>> result = fastprob.fit_grouped(X, groups, 2, random_state=0)
    >>> result.means_.shape, result.groups_.tolist()
    ((3, 2, 2), ['a', 'b', 'c'])
    >>> gm = result["b"]  # a fitted fastprob.GaussianMixture
    >>> alone = fastprob.GaussianMixture(2, random_state=0).fit(X[groups == "b"])
    >>> bool(np.allclose(gm.means_, alone.means_, rtol=1e-10)) and gm.n_iter_ == alone.n_iter_
    True
    """
    from .estimator import GaussianMixture, InvalidParameterError, _compute_dtypes
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils import check_array, check_random_state

    params = dict(n_components=n_components, covariance_type=covariance_type, tol=tol, reg_covar=reg_covar,
                  max_iter=max_iter, init_params=init_params, random_state=random_state)
    try:
        GaussianMixture(**params)._validate_params()
    except InvalidParameterError as exc:
        raise InvalidParameterError(str(exc).replace("parameter of GaussianMixture", "parameter of fit_grouped")) \
            from None
    if not isinstance(small_groups, str) or small_groups not in SMALL_GROUPS:
        raise ValueError(f"small_groups must be 'error' or 'skip', got {small_groups!r}.")
    K = int(n_components)

    # ---- data ----
    columns = getattr(X, "columns", None)  # a DataFrame's column names, kept as scikit-learn keeps them
    feature_names = np.asarray(list(columns), dtype=object) if columns is not None and len(columns) and \
        all(isinstance(c, str) for c in columns) else None
    X = check_array(X, dtype=_compute_dtypes(X), ensure_min_samples=1, input_name="X")
    dtype = X.dtype
    N, d = X.shape
    labels_in = np.asarray(groups)
    if labels_in.ndim != 1 or labels_in.shape[0] != N:
        raise ValueError(f"groups must be a 1-D array with one label per row of X (shape ({N},)), got shape "
                         f"{labels_in.shape}.")
    if _missing_labels(labels_in).any():
        raise ValueError("groups contains missing labels (NaN, None or NaT), which name no group; give every row "
                         "a label, or leave those rows out of X and groups.")
    try:
        labels, inverse, counts = np.unique(labels_in, return_inverse=True, return_counts=True)
    except TypeError as exc:
        raise TypeError(f"groups must hold sortable labels of one kind (e.g. all ints or all strings): {exc}") \
            from None
    sw_all = None
    if sample_weight is not None:
        sw_all = as_float_array(sample_weight, "sample_weight", dtype=np.float64)
        if sw_all.shape != (N,):
            raise ValueError(f"sample_weight must have shape ({N},) (one weight per row of X), got shape "
                             f"{sw_all.shape}.")
        check_finite(sw_all, "sample_weight")
        if (sw_all < 0).any():
            i = int(np.argmax(sw_all < 0))
            raise ValueError(f"sample_weight must be non-negative; sample_weight[{i}] = {sw_all[i].item()!r}.")
    positive = counts if sw_all is None else np.bincount(inverse, weights=sw_all > 0, minlength=len(labels))
    small = (positive < K) | (counts < 2)
    skipped = labels[small]
    if small.any():
        if small_groups == "error":
            g = int(np.argmax(small))
            what = "rows" if sw_all is None else "rows of positive sample weight"
            n_what = int(positive[g])
            raise ValueError(f"Group {_name(labels[g])} has {n_what} {what} but n_components = {K} (and each group "
                             "needs at least 2 rows): a mixture cannot be fitted to it. Drop such groups, use "
                             "fewer components, or pass small_groups='skip'.")
        warnings.warn(f"{int(small.sum())} group(s) with fewer rows than n_components = {K} (or fewer than 2) "
                      f"were skipped: {_names(skipped)} (see skipped_).",
                      UserWarning, stacklevel=2)
    keep = ~small
    fitted = labels[keep]
    G = len(fitted)
    if G == 0:
        raise ValueError("No group has enough rows to fit a mixture of "
                         f"{K} components (all {len(labels)} were skipped).")
    # rows sorted by group (stable: each group's rows keep their order), fitted groups only
    remap = np.full(len(labels), -1, dtype=np.int64)
    remap[keep] = np.arange(G)
    gid = remap[inverse]
    order = np.argsort(gid, kind="stable")
    order = order[gid[order] >= 0]
    n_g = counts[keep].astype(np.int64)
    starts = np.zeros(G + 1, dtype=np.int64)
    np.cumsum(n_g, out=starts[1:])
    if len(order) == N and (N < 2 or bool((np.diff(order) == 1).all())):
        Xs, sw_orig = np.ascontiguousarray(X), sw_all  # rows already sorted by group: no copy
    else:
        Xs = np.ascontiguousarray(np.take(X, order, axis=0))
        sw_orig = None if sw_all is None else np.ascontiguousarray(sw_all[order])

    # ---- the estimator's per-group facts: scaled weights, data factor, fallbacks ----
    refit = np.zeros(G, dtype=bool)
    if sw_orig is None:
        sws = np.empty(0)
        total = n_g.astype(np.float64)
        weight_scale = np.ones(G)
    else:
        raw = np.empty(G)
        _gk.group_sums(sw_orig, starts, raw)
        top = np.maximum.reduceat(sw_orig, starts[:-1])
        # check_weights(rescale=False) refuses these: the estimator raises, naming the group
        refit |= ~((2.0 ** -900 <= top) & (raw <= 2.0 ** 900))
        with np.errstate(all="ignore"):
            weight_scale = n_g / raw
        sws = sw_orig * np.repeat(weight_scale, n_g)
        total = np.empty(G)
        _gk.group_sums(sws, starts, total)
    if d:
        max_abs = np.maximum(np.maximum.reduceat(Xs, starts[:-1], axis=0).max(axis=1),
                             -np.minimum.reduceat(Xs, starts[:-1], axis=0).min(axis=1)).astype(np.float64)
    else:
        max_abs = np.zeros(G)
    # _em.data_factor is 1 inside this range; outside it, ask it (rare)
    limit = 2.0 ** (np.finfo(dtype).maxexp * 2 // 5)
    for g in np.flatnonzero(~((max_abs == 0) | ((1 / limit <= max_abs) & (max_abs <= limit)))):
        refit[g] |= _em.data_factor(float(max_abs[g]), dtype, reg_covar) != 1.0
    sample_limit = _em.RANDOM_INIT_CHUNK if init_params == "random" else _em.init_sample_rows(d)
    refit |= n_g > sample_limit

    # ---- random numbers, as the stand-alone fits draw them ----
    if isinstance(random_state, numbers.Integral):
        seeds = None
    else:
        seeds = check_random_state(random_state).randint(np.iinfo(np.int32).max, size=G).astype(np.int64)

    shared = np.random.RandomState()

    def stream(g):
        # re-seeding one generator gives the stream of RandomState(seed) at a fiftieth of the cost
        shared.seed(int(random_state) if seeds is None else int(seeds[g]))
        return shared

    init_labels = np.empty(0, np.int64)
    init_resp = np.empty((0, 0))
    seed_rows = np.empty((0, K), np.int64)
    ctype = _covariance.lookup(covariance_type)
    if init_params in ("kmeans", "k-means++"):
        n_trials = 2 + int(np.log(K))
        n_draws = 1 + (K - 1) * n_trials
        if seeds is None:
            draws = np.broadcast_to(stream(0).random_sample(n_draws), (G, n_draws))
        else:
            draws = np.stack([stream(g).random_sample(n_draws) for g in range(G)]) if G else np.empty((0, n_draws))
        draws = np.ascontiguousarray(draws)
        sw_k = np.ones(len(Xs), dtype) if sw_orig is None else sws.astype(dtype)
        lloyd_iter = _KMEANS_MAX_ITER if init_params == "kmeans" else 0
        init_labels = np.zeros(len(Xs) if lloyd_iter else 0, np.int64)
        seed_rows = np.zeros((G, K), np.int64)
        kstatus = np.zeros(G, np.int64)
        work = int(N) * K * (d + 2) * (20 if lloyd_iter else 3)
        _kk.kmeans_groups.for_size(work)(G, Xs, sw_k, starts, draws, n_trials, lloyd_iter, _KMEANS_TOL,
                                         init_labels, seed_rows, kstatus)
        refit |= kstatus != _kk.KMEANS_OK
        init_code = _gk.INIT_LABELS if lloyd_iter else _gk.INIT_SEEDS
        if lloyd_iter:
            seed_rows = np.empty((0, K), np.int64)
    elif init_params == "random_from_data":
        seed_rows = np.zeros((G, K), np.int64)
        cache = {}
        for g in range(G):
            if refit[g]:
                continue
            s, e = starts[g], starts[g + 1]
            n_pos = int(n_g[g] if sw_orig is None else np.count_nonzero(sws[s:e] > 0))
            if seeds is None and n_pos in cache:
                ordinals = cache[n_pos]
            else:
                ordinals = _em.sample_rows(stream(g), n_pos, K, ordered=False)
                if seeds is None:
                    cache[n_pos] = ordinals
            seed_rows[g] = ordinals if n_pos == n_g[g] else np.flatnonzero(sws[s:e] > 0)[ordinals]
        init_code = _gk.INIT_SEEDS
    else:  # random: uniform responsibilities, normalised per row
        pos = np.arange(len(Xs)) - np.repeat(starts[:-1], n_g)
        if seeds is None:
            U = stream(0).uniform(size=(int(n_g.max()), K))[pos]
        else:
            U = np.concatenate([stream(g).uniform(size=(int(n_g[g]), K)) for g in range(G)])
        U /= U.sum(axis=1)[:, None]
        init_resp = np.ascontiguousarray(U)
        init_code = _gk.INIT_RESP

    # ---- EM, all groups ----
    diagonal = ctype.diagonal
    dd = 1 if diagonal else d
    Kc = 0 if diagonal else (1 if ctype.shared else K)
    Kv = K if diagonal else 0
    tile = rows_per_tile(d)
    blocks = max_blocks(K, d, dd)
    f32 = np.finfo(np.float32)
    fpar = np.array([tol, reg_covar, 10 * np.finfo(dtype).eps, f32.tiny, f32.max], dtype=np.float64)
    ipar = np.array([K, max_iter, tile, blocks, _COV_CODES[covariance_type], init_code,
                     int(dtype == np.float32)], dtype=np.int64)
    out = dict(weights=np.zeros((G, K)), means=np.zeros((G, K, d)), covs_tri=np.zeros((G, Kc, d, d)),
               var=np.zeros((G, Kv, d)), W=np.zeros((G, K)), mean=np.zeros((G, K, d)), M2=np.zeros((G, K, d, dd)),
               lower_bound=np.full(G, -np.inf), bounds=np.zeros((G, max_iter)), n_iter=np.zeros(G, np.int64),
               converged=np.zeros(G, np.int64), status=np.zeros(G, np.int64))
    kernel = _gk.grouped_em.for_size(int(N) * K * d * (dd + 6 + (0 if diagonal else d)) * 10)
    kernel(G, Xs, sws, starts, init_labels, init_resp, seed_rows, total, fpar, ipar, diagonal,
           solver_token(d, diagonal), out["weights"], out["means"], out["covs_tri"], out["var"], out["W"],
           out["mean"], out["M2"], out["lower_bound"], out["bounds"], out["n_iter"], out["converged"],
           out["status"])
    refit |= out["status"] != _gk.EM_OK
    if covariance_type == "full":
        covs = out["covs_tri"]
    elif covariance_type == "tied":
        covs = out["covs_tri"][:, 0]
    elif covariance_type == "diag":
        covs = out["var"]
    else:
        covs = out["var"][:, :, 0]
    arrays = dict(weights=out["weights"], means=out["means"], covs=covs, W=out["W"], mean=out["mean"],
                  M2=out["M2"], lower_bound=out["lower_bound"], bounds=out["bounds"], n_iter=out["n_iter"],
                  converged=out["converged"], weight_scale=weight_scale, n_rows=n_g)

    # ---- the groups the kernels handed back: the estimator itself ----
    fallback = {}
    caught = []
    for g in np.flatnonzero(refit).tolist():
        s, e = starts[g], starts[g + 1]
        seed = random_state if seeds is None else int(seeds[g])
        gm = GaussianMixture(**{**params, "random_state": seed})
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            try:
                gm.fit(Xs[s:e], sample_weight=None if sw_orig is None else sw_orig[s:e])
            except ValueError as exc:
                raise ValueError(f"Fitting group {_name(fitted[g])} ({e - s} rows) failed: {exc}") from exc
        caught += [(fitted[g], w) for w in record if not issubclass(w.category, ConvergenceWarning)]
        if feature_names is not None:
            gm.feature_names_in_ = feature_names.copy()
        fallback[g] = gm
    for label, w in caught[:WARNINGS_SHOWN]:
        warnings.warn(f"group {_name(label)}: {w.message}", w.category, stacklevel=2)
    if len(caught) > WARNINGS_SHOWN:
        warnings.warn(f"... and {len(caught) - WARNINGS_SHOWN} more such warnings from other groups (of "
                      f"{len(np.flatnonzero(refit))} groups refitted by the estimator, see refitted_).", UserWarning,
                      stacklevel=2)
    result = GroupedMixtures(params, fitted, arrays, fallback, seeds, skipped, fitted[refit], dtype, feature_names)
    if max_iter > 0 and not result.converged_.all():
        bad = fitted[~result.converged_]
        warnings.warn(f"{len(bad)} of {G} group(s) did not converge: {_names(bad)}. Try different init parameters, or increase max_iter, "
                      "tol, or check for degenerate data.", ConvergenceWarning, stacklevel=2)
    return result
