"""Gaussian mixtures: log-density, responsibilities and ancestral sampling.

P(x) = Σ_k π_k N(x | μ_k, Σ_k), with Σ in any of scikit-learn's four
parameterisations (``covariance_type``, see :mod:`fastprob._covariance`).

The estimator (:class:`fastprob.GaussianMixture`) builds on the same pieces.
"""
import numpy as np

from . import _covariance
from ._covariance import COVARIANCE_TYPES
from .kernels import mixture as _mixk
from .gaussian import hole_precisions
from .kernels.gaussian import solver_token
from .kernels.tiles import rows_per_tile
from ._validation import (
    as_float_array,
    as_generator,
    as_points,
    check_finite,
    check_ndim,
    check_missing,
    check_positive_int,
    keyword_only,
    read_only,
    result_float_dtype,
)

__all__ = ["gmm_logpdf", "gmm_responsibilities", "gmm_sample", "COVARIANCE_TYPES"]

def covariance_shape(covariance_type, K, d):
    """Shape of the covariances of K components in d dimensions."""
    return _covariance.lookup(covariance_type).shape(K, d)


class Components:
    """A validated mixture in float64, plus what the kernels need to evaluate it.

    Attributes
    ----------
    weights : (K,)   means : (K, d)   covariances : sklearn's shape for the type
    covariance_type : str
    chol : (Kc, d, d) lower Cholesky factors (full: Kc = K, tied: Kc = 1;
        diag/spherical: an empty (0, 0, 0) array)
    var : (K, d) variances for diag/spherical (empty otherwise)
    logdet : (K,) or (1,) log-determinants
    """

    __slots__ = ("weights", "means", "covariances", "covariance_type", "chol", "var", "logdet", "_hole_table")

    def __init__(self, weights, means, covariances, covariance_type, chol, var, logdet):
        self.weights = weights
        self.means = means
        self.covariances = covariances
        self.covariance_type = covariance_type
        self.chol = chol
        self.var = var
        self.logdet = logdet
        self._hole_table = None

    @property
    def n_components(self):
        return self.means.shape[0]

    @property
    def n_features(self):
        return self.means.shape[1]

    @property
    def diagonal(self):
        return _covariance.lookup(self.covariance_type).diagonal

    def fit_dtype(self, dtype):
        """True if ``chol`` and ``var`` keep their values in ``dtype``: finite, and no
        nonzero entry below its smallest normal number (a variance of 1e39 or 1e-46 does
        not fit float32; in the kernels it would become inf or 0)."""
        info = np.finfo(dtype)
        for a in (self.chol, self.var):
            m = np.abs(a[a != 0])
            if m.size and (m.max() > info.max or m.min() < info.tiny):
                return False
        return True

    def arithmetic_dtype(self, dtype):
        """The dtype the kernels compute in for data of ``dtype``: the data's, or float64 where
        the factors do not fit it (see :meth:`fit_dtype`); results are rounded once to ``dtype``."""
        dtype = np.dtype(dtype)
        return dtype if self.fit_dtype(dtype) else np.dtype(np.float64)

    def kernel_args(self, dtype=np.float64):
        """(log_weights, means, chol, logdet, var, diagonal, solver) for the mixture kernels.

        ``chol`` and ``var`` in ``dtype``, the data's: the kernels' per-row
        arithmetic after centring runs in the factors' dtype.  ``means`` stay
        float64 (centring is done in float64).
        """
        with np.errstate(divide="ignore"):  # a zero weight is a valid -inf log-weight
            log_weights = np.log(self.weights)
        chol, var = (np.ascontiguousarray(a, dtype=dtype) for a in (self.chol, self.var))
        solver = solver_token(self.n_features, self.diagonal)
        return (*read_only(log_weights, self.means, chol, self.logdet, var), self.diagonal, solver)

    def hole_precisions(self, marginalize):
        """The kernels' ``prec`` argument (see :mod:`fastprob.kernels.missing`).

        An empty 1-D array where NaN propagates; to marginalise over NaN
        coordinates, per component (one for 'tied') a (d + 2, d) float64
        array: the precision Σ⁻¹ = L⁻ᵀ L⁻¹ (zeros for diagonal types), then
        each coordinate's conditional variance given all the others (1/P_ii,
        or the variance), then its logarithm.
        """
        if not marginalize:
            return np.empty(0)
        if self._hole_table is None:  # once per mixture, not once per chunk of rows
            self._hole_table = (hole_precisions(self.means, var=self.var) if self.diagonal
                                else hole_precisions(self.means, self.chol))
        return self._hole_table


def make_components(weights, means, covariances, covariance_type):
    """Factorise float64 parameters (already shape-checked) into :class:`Components`.

    Returns (components, failed_component_indices).
    """
    chol, var, logdet, failed = _covariance.lookup(covariance_type).factorise(covariances, means.shape[1])
    return Components(weights, means, covariances, covariance_type, chol, var, logdet), failed


def validate_mixture(weights, means, covariances, covariance_type, *, weights_tol=None):
    """Check user-given mixture parameters; return :class:`Components` in float64."""
    ctype = _covariance.lookup(covariance_type)
    means = as_float_array(means, "means", dtype=np.float64)
    check_ndim(means, "means", (2,), "(n_components, n_features)")
    check_finite(means, "means")
    K, d = means.shape
    if K == 0 or d == 0:
        raise ValueError(f"means must have at least one component and one feature, got shape {means.shape}.")
    weights_in = as_float_array(weights, "weights")
    weights = weights_in.astype(np.float64)
    if weights.shape != (K,):
        raise ValueError(f"weights has shape {weights.shape} but means has shape {means.shape}: "
                         f"expected one weight per component, shape ({K},).")
    check_finite(weights, "weights")
    if (weights < 0).any():
        raise ValueError(f"weights must be non-negative, got min(weights) = {weights.min():.6g}.")
    tol = weights_tol or (1e-6 if weights_in.dtype == np.float32 else 1e-8)
    if abs(weights.sum() - 1.0) > tol:
        raise ValueError(f"weights must sum to 1, got sum(weights) = {weights.sum():.10g}; "
                         "normalise them first, e.g. weights / weights.sum().")
    covs = as_float_array(covariances, "covs", dtype=np.float64)
    expected = ctype.shape(K, d)
    if covs.shape != expected:
        raise ValueError(f"covs has shape {covs.shape}, but covariance_type={covariance_type!r} with "
                         f"means of shape {means.shape} needs shape {expected}.")
    check_finite(covs, "covs")
    ctype.check_given(covs, "covs")
    comps, failed = make_components(weights, means, np.ascontiguousarray(covs), covariance_type)
    if failed:
        raise ValueError(f"The {ctype.noun}{ctype.failed_where(failed)} must be positive definite; add a small ridge "
                         "(e.g. 1e-6) to the diagonal or check for constant/duplicated features.")
    return comps


def score(X, comps, *, lse=False, resp=False, labels=False, marginalize=False, impute=False, impute_var=False):
    """Run the scores kernel on C-contiguous float X; returns the requested arrays.

    With ``marginalize``, NaN entries of X are missing values: each row is
    scored on its observed coordinates (see :mod:`fastprob.kernels.missing`);
    X without NaN runs exactly the default code.  ``impute`` (and
    ``impute_var``) add X's holes filled with their conditional means (and
    the conditional variances) as float64 (N, d) arrays to the result.

    The kernel computes in the dtype of the factors it is given: X's, unless the
    covariances do not fit float32 (their factors would become inf or 0); such
    float32 data are scored in float64 and the results rounded once.

    A finite row so far from every component that all its densities underflow
    (log p = -inf, e.g. x = 1e200) gets the limit of its responsibilities and
    label instead of NaN (see :func:`_limit_responsibilities`).
    """
    N = X.shape[0]
    K = comps.n_components
    lse_out = np.empty(N if lse or resp or labels else 0, dtype=X.dtype)
    resp_out = np.empty((N, K) if resp else (0, 0), dtype=X.dtype)
    label_out = np.empty(N if labels else 0, dtype=np.int64)
    d = comps.n_features
    impute_out = np.empty((N, d) if impute else (0, 0))
    impute_var_out = np.empty((N, d) if impute and impute_var else (0, 0))
    marginalize = marginalize and bool(np.isnan(X).any())
    if N:
        kernel = _mixk.mixture_scores.for_size(N * K * d * (d + 1))
        tile = rows_per_tile(d)
        # Holes are filled with conditional means in the tile's dtype: in float32 a fill near a large
        # mean would lose the digits that matter (|μ| 1e6: 1e-3 of a unit), so rows with holes are
        # computed in float64 whatever X's dtype (results are rounded once to it).
        dtype = np.dtype(np.float64) if marginalize else comps.arithmetic_dtype(X.dtype)
        kernel(-(-N // tile), read_only(X), *comps.kernel_args(dtype),
               comps.hole_precisions(marginalize), tile, np.empty((0, 0), X.dtype), lse_out, resp_out, label_out,
               impute_out, impute_var_out)
        if resp or labels:
            far = np.flatnonzero(np.isneginf(lse_out))
            # finite rows (with holes: finite observed values) whose densities all underflow
            far = far[(np.isfinite(X[far]) | (marginalize & np.isnan(X[far]))).all(axis=1)]
            if far.size:
                limit = _limit_responsibilities(X[far], comps) if not marginalize else np.stack(
                    [_limit_responsibilities(x[None, ~np.isnan(x)], _observed_components(comps, ~np.isnan(x)))[0]
                     for x in X[far]])
                if resp:
                    resp_out[far] = limit
                if labels:
                    label_out[far] = limit.argmax(axis=1)
    if impute:
        if not marginalize:  # the kernel filled nothing
            impute_out[:] = X
            impute_var_out[:] = 0.0
        return (lse_out if lse else lse_out[:0]), resp_out, label_out, impute_out, impute_var_out
    return (lse_out if lse else lse_out[:0]), resp_out, label_out


def _limit_responsibilities(X, comps):
    """Responsibilities of finite rows whose densities all underflow, from differences of log-densities.

    log p_k(x) - log p_j(x) = c_k - c_j - (q_k - q_j) / 2, with c the
    log-weights and normalising terms and q_k = ‖z_k‖², z_k = L_k⁻¹(x - μ_k).
    Each log-density is below the smallest float64 here, but the differences
    are not: q_k - q_j = (z_k - z_j)·(z_k + z_j), computed on x and μ divided by
    a power of two s (exact; the product is then scaled by s², overflowing to
    ±inf only where the difference truly exceeds float64), and with
    z_k - z_j = L⁻¹(μ_j - μ_k) directly when the two components share their
    factor (no cancellation of two huge numbers).  Typically one component
    takes responsibility 1; exact ties share it.
    """
    from scipy.linalg import solve_triangular

    X = np.asarray(X, dtype=np.float64)
    K, d = comps.means.shape
    with np.errstate(divide="ignore"):
        c = np.log(comps.weights) - 0.5 * np.broadcast_to(comps.logdet, (K,))

    def whiten(k, v):  # L_k⁻¹ v
        if comps.diagonal:
            return v / np.sqrt(comps.var[k])
        return solve_triangular(comps.chol[k if comps.chol.shape[0] > 1 else 0], v, lower=True)

    def same_factor(k, j):
        if comps.diagonal:
            return np.array_equal(comps.var[k], comps.var[j])
        return comps.chol.shape[0] == 1 or np.array_equal(comps.chol[k], comps.chol[j])

    out = np.zeros((X.shape[0], K))
    for i, x in enumerate(X):
        # (2^(e-1) with e frexp's exponent: finite even for |x| near float64's largest)
        scale = np.ldexp(1.0, np.frexp(max(np.abs(x).max(), np.abs(comps.means).max(), 1.0))[1] - 1)
        z = [whiten(k, x / scale - comps.means[k] / scale) for k in range(K)]

        def gap(k, j):  # log p_k(x) - log p_j(x)
            dz = whiten(k, (comps.means[j] - comps.means[k]) / scale) if same_factor(k, j) else z[k] - z[j]
            with np.errstate(over="ignore", invalid="ignore"):
                return c[k] - c[j] - 0.5 * float(dz @ (z[k] + z[j])) * scale * scale

        best = 0
        for k in range(1, K):
            if gap(k, best) > 0:
                best = k
        with np.errstate(over="ignore", under="ignore"):
            share = np.array([1.0 if k == best else np.exp(gap(k, best)) for k in range(K)])
        out[i] = share / share.sum()
    return out


def _observed_components(comps, observed):
    """The mixture's marginal over the coordinates ``observed`` (a boolean mask), as :class:`Components`."""
    covs = comps.covariances
    sub = {"full": lambda: covs[:, observed][:, :, observed], "tied": lambda: covs[observed][:, observed],
           "diag": lambda: covs[:, observed], "spherical": lambda: covs}[comps.covariance_type]()
    return make_components(comps.weights, comps.means[:, observed], np.ascontiguousarray(sub),
                           comps.covariance_type)[0]


def score_one(X, comps, what, marginalize=False):
    """One output of :func:`score` by name: 'lse' (N,), 'resp' (N, K) or 'labels' (N,)."""
    lse, resp, labels = score(X, comps, lse=what == "lse", resp=what == "resp", labels=what == "labels",
                              marginalize=marginalize)
    return {"lse": lse, "resp": resp, "labels": labels}[what]


@keyword_only("covariance_type")
def gmm_logpdf(X, weights, means, covs, *, covariance_type="full", missing="propagate"):
    """Log-density of a Gaussian mixture, log Σ_k π_k N(x | μ_k, Σ_k).

    Parameters
    ----------
    X : array_like, shape (N, d) or (d,)
    weights : array_like, shape (K,)
        Mixing proportions π_k (the mixture's weights, as ``GaussianMixture.weights_``;
        not sample weights): non-negative, summing to 1.
    means : array_like, shape (K, d)
    covs : array_like
        Covariances in scikit-learn's shape for ``covariance_type``: 'full'
        (K, d, d), 'tied' (d, d), 'diag' (K, d), 'spherical' (K,).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, keyword-only
        (Given by position it still works, with a DeprecationWarning.)
    missing : {'propagate', 'marginalize'}, keyword-only
        'propagate' (default): a row with NaN gives NaN.  'marginalize': NaN
        entries are missing at random and a row's result is the log-density
        of its observed coordinates, log Σ_k π_k N(x_o | μ_k,o, Σ_k,oo) (exact,
        per row); a row with no observed value gets 0.0.  X without NaN gives
        the same numbers either way, bit for bit.

    Returns
    -------
    ndarray, shape (N,) (a scalar for a single 1-D point)
        In X's float dtype.  For float64 X everything runs in float64.  For
        float32 X, rows are centred (x - μ) as accurately as in float64 (the
        mean split into two float32 parts), and the triangular solves and the
        terms of the logsumexp run in float32 arithmetic (about twice the SIMD
        width; ~1e-7 relative error).  The logsumexp over components is
        computed stably per row, summed in float64, without an N x K array.
        Rows with NaN give NaN, rows with ±inf -inf.

    Raises
    ------
    ValueError
        Invalid parameters (shapes, weights not summing to 1, covariances not
        symmetric positive definite), or X not matching d.
    """
    marginalize = check_missing(missing)
    comps = validate_mixture(weights, means, covs, covariance_type)
    X2, single = as_points(X, comps.n_features, f"means has shape {comps.means.shape}")
    out = score(X2, comps, lse=True, marginalize=marginalize)[0]
    return out[0] if single else out


@keyword_only("covariance_type")
def gmm_responsibilities(X, weights, means, covs, *, covariance_type="full", missing="propagate"):
    """Posterior probabilities P(h = k | x) of the components (the E-step).

    Parameters are as for :func:`gmm_logpdf`.  With ``missing='marginalize'``
    they are P(h = k | x_o), given a row's observed coordinates; a row with no
    observed value gets the mixing proportions ``weights``.

    Returns
    -------
    ndarray, shape (N, K) (or (K,) for a single 1-D point)
        Rows sum to 1; X's float dtype.  Responsibilities below the smallest
        normal number of that dtype are 0 (never subnormal).

    Examples
    --------
    >>> import numpy as np, fastprob
    >>> X = np.array([[0.0, np.nan], [np.nan, np.nan]])
    >>> w, mu, cov = np.array([0.3, 0.7]), np.array([[0.0, 0.0], [3.0, 3.0]]), np.eye(2)
    >>> fastprob.gmm_responsibilities(X, w, mu, np.stack([cov, cov]), missing="marginalize").round(4)
    array([[0.9747, 0.0253],
           [0.3   , 0.7   ]])
    """
    marginalize = check_missing(missing)
    comps = validate_mixture(weights, means, covs, covariance_type)
    X2, single = as_points(X, comps.n_features, f"means has shape {comps.means.shape}")
    out = score(X2, comps, resp=True, marginalize=marginalize)[1]
    return out[0] if single else out


def sample_components(comps, n, rng):
    """Ancestral sampling: h ~ Cat(π), then x ~ N(μ_h, Σ_h); float64 (n, d) and labels."""
    K, d = comps.means.shape
    labels = rng.choice(K, size=n, p=comps.weights / comps.weights.sum()).astype(np.int64)
    Z = rng.standard_normal((n, d))
    X = np.empty((n, d))
    for k in range(K):
        idx = np.flatnonzero(labels == k)
        if comps.diagonal:
            X[idx] = comps.means[k] + Z[idx] * np.sqrt(comps.var[k])
        else:
            L = comps.chol[k if comps.chol.shape[0] > 1 else 0]
            X[idx] = comps.means[k] + Z[idx] @ L.T
    return X, labels


@keyword_only("covariance_type")
def gmm_sample(weights, means, covs, n, random_state=None, *, covariance_type="full"):
    """Draw ``n`` samples from a Gaussian mixture by ancestral sampling.

    Each sample first draws its component h ~ Categorical(weights), then
    x ~ N(means[h], Σ_h).

    Parameters
    ----------
    weights, means, covs, covariance_type : as for :func:`gmm_logpdf`.
    n : int >= 0
    random_state : None, int, numpy Generator/RandomState/BitGenerator/SeedSequence

    Returns
    -------
    X : ndarray, shape (n, d)
        float32 if all parameters are float32, else float64.
    labels : ndarray of int64, shape (n,)
        The component each sample was drawn from (in draw order, not grouped).
    """
    n = check_positive_int(n, "n", minimum=0)
    dtype = result_float_dtype(*(np.asarray(a) for a in (weights, means, covs)))
    comps = validate_mixture(weights, means, covs, covariance_type)
    X, labels = sample_components(comps, n, as_generator(random_state))
    return X.astype(dtype), labels
