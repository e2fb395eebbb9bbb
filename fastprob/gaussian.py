"""Gaussian densities, Cholesky factors, maximum-likelihood fits and sampling."""
import numbers

import numpy as np

from .kernels import gaussian as _gk
from .kernels import mixture as _mixk
from ._moments import group_moments
from .kernels.tiles import rows_per_tile
from ._validation import (
    as_contiguous,
    as_float_array,
    as_generator,
    as_points,
    broadcast_flat,
    check_finite,
    check_missing,
    check_ndim,
    check_positive_int,
    check_weights,
    read_only,
    renamed_keyword,
    result_float_dtype,
    weak_float_dtype,
)

__all__ = [
    "CholeskyFactors",
    "cholesky",
    "cov_from_factor",
    "gaussian_nll",
    "mvn_fit",
    "mvn_logpdf",
    "mvn_sample",
    "normal_fit",
    "normal_logpdf",
]


# --------------------------------------------------------------------------- #
# Cholesky factors
# --------------------------------------------------------------------------- #
class CholeskyFactors:
    """Lower Cholesky factors ``L`` (cov = L Lᵀ) and log-determinants of covariances.

    Returned by :func:`cholesky`; pass it as ``cov`` to :func:`mvn_logpdf` or
    :func:`mvn_sample` to reuse a factorisation across calls.  It can also be
    built directly from factors you already have: ``CholeskyFactors(L)``.

    Parameters
    ----------
    L : array_like, shape (d, d) or (K, d, d)
        Lower-triangular factors with a positive diagonal.  The strict upper
        triangle must be zero.

    Attributes
    ----------
    L : ndarray, shape (d, d) or (K, d, d)
        The factors, in the dtype of the covariance they came from.
    logdet : ndarray, shape () or (K,)
        log|cov| = 2 * sum(log(diag(L))), same dtype as ``L``.
    """

    __slots__ = ("L", "logdet", "_L64", "_logdet64")

    def __init__(self, L):
        L = as_float_array(L, "L")
        check_ndim(L, "L", (2, 3), "(d, d) or (K, d, d)")
        _check_square(L, "L")
        check_finite(L, "L")
        if np.triu(L, 1).any():
            raise ValueError("L must be lower triangular: its strict upper triangle has non-zero entries.")
        diag = np.diagonal(L, axis1=-2, axis2=-1)
        if not (diag > 0).all():
            k = np.argwhere(~(diag > 0))[0]
            where = f"component {k[0]}, " if L.ndim == 3 else ""
            raise ValueError(
                f"L must have a positive diagonal ({where}diagonal entry {k[-1]} is "
                f"{diag[tuple(k)].item()!r}); a Cholesky factor of a positive-definite matrix always does."
            )
        L64 = np.ascontiguousarray(L, dtype=np.float64).reshape((-1,) + L.shape[-2:])
        logdet64 = 2.0 * np.log(np.diagonal(L64, axis1=-2, axis2=-1)).sum(axis=-1)
        self._set(L64, logdet64, L.dtype, batched=L.ndim == 3)

    @classmethod
    def _from_float64(cls, L64, logdet64, dtype, batched):
        self = cls.__new__(cls)
        self._set(L64, logdet64, dtype, batched)
        return self

    def _set(self, L64, logdet64, dtype, batched):
        # float64 copies are what the kernels use, so cholesky(cov) and cov give
        # identical log-densities whatever the user-facing dtype.
        self._L64 = L64
        self._logdet64 = logdet64
        L = L64.astype(dtype)
        logdet = logdet64.astype(dtype)
        self.L = L if batched else L[0]
        self.logdet = logdet if batched else logdet[0]
        for a in (self.L, self.logdet):
            if isinstance(a, np.ndarray):
                a.flags.writeable = False

    @property
    def n_features(self):
        """Dimension d of the covariances."""
        return self._L64.shape[-1]

    @property
    def batched(self):
        """True when built from a (K, d, d) stack."""
        return self.L.ndim == 3

    def covariance(self):
        """Reconstruct cov = L Lᵀ (in the factors' dtype)."""
        return (self._L64 @ self._L64.transpose(0, 2, 1)).astype(self.L.dtype).reshape(self.L.shape)

    def __repr__(self):
        shape = self.L.shape
        return f"CholeskyFactors(shape={shape}, dtype={self.L.dtype})"


def _check_square(a, name):
    if a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{name} must be square in its last two axes, got shape {a.shape}.")


def _symmetry_tolerance(dtype):
    # Covariances computed as A.T @ A or with np.cov can differ from exact
    # symmetry in the last bits; anything much larger is a user error that
    # LAPACK-style routines would silently hide by reading one triangle.
    return float(np.sqrt(np.finfo(dtype).eps))


def cholesky(cov):
    """Batched lower Cholesky factorisation with log-determinants.

    Parameters
    ----------
    cov : array_like, shape (d, d) or (K, d, d)
        Symmetric positive-definite covariance matrices.

    Returns
    -------
    CholeskyFactors
        ``.L`` (same shape as ``cov``, lower triangular, cov = L Lᵀ) and
        ``.logdet`` (shape () or (K,)).  The factorisation runs in float64;
        ``.L`` and ``.logdet`` keep ``cov``'s dtype (integer input gives float64).

    Raises
    ------
    ValueError
        If ``cov`` is not square, has NaN/inf entries, is not symmetric (relative
        tolerance sqrt(eps) of the largest entry) or is not positive definite;
        the message names the offending component(s).

    Examples
    --------
    >>> import numpy as np, fastprob
    >>> f = fastprob.cholesky(np.array([[4.0, 2.0], [2.0, 3.0]]))
    >>> f.L
    array([[2.        , 0.        ],
           [1.        , 1.41421356]])
    >>> print(f"{float(f.logdet):.12f} {np.log(8.0):.12f}")  # log det = log 8
    2.079441541680 2.079441541680
    """
    cov, cov3, batched = _checked_covariances(cov)
    L, logdet, failed = factor_stack(cov3)
    bad = np.flatnonzero(failed >= 0)
    if bad.size:
        which = (
            f"components {bad.tolist()} of cov are" if batched and len(bad) > 1
            else f"component {bad[0]} of cov is" if batched else "cov is"
        )
        raise ValueError(
            f"{which} not positive definite (Cholesky failed at pivot "
            f"{int(failed[bad[0]])} of component {int(bad[0])}). A covariance must be "
            "symmetric positive definite: check for duplicated or constant features, or "
            "add a small ridge, e.g. cov + 1e-6 * np.eye(d)."
        )
    return CholeskyFactors._from_float64(L, logdet, cov.dtype, batched)


def check_symmetric(cov3, name, batched):
    """Raise ValueError if a (K, d, d) stack is asymmetric beyond √eps of its largest entry."""
    scale = np.abs(cov3).max(axis=(1, 2))
    asym = np.abs(cov3 - cov3.transpose(0, 2, 1)).max(axis=(1, 2))
    bad = np.flatnonzero(asym > _symmetry_tolerance(cov3.dtype) * scale)
    if bad.size:
        k = int(bad[0])
        where = f"component {k} of {name}" if batched else name
        raise ValueError(
            f"{where} is not symmetric (largest |{name} - {name}.T| = {asym[k]:.3g}, relative "
            f"{asym[k] / scale[k]:.3g}). Pass a symmetric matrix, e.g. (c + c.T) / 2."
        )


def factor_stack(cov3):
    """Float64 Cholesky factors of a (K, d, d) stack (lower triangle read).

    Returns (L, logdet, failed_pivot): ``failed_pivot[k]`` is -1 where component
    k is positive definite, else the first pivot whose Schur complement is not
    > 0 (a NaN or infinite entry fails at its row); ``L`` and ``logdet`` of a
    failed component are meaningless.

    numpy's LAPACK Cholesky (as scipy's, which scikit-learn uses): a mixture's
    factors are microseconds of work, and a compiled kernel for them took
    0.25-0.5 s to compile in every fresh environment.
    """
    K, d = cov3.shape[0], cov3.shape[-1]
    lower = np.tril(np.asarray(cov3, dtype=np.float64))
    failed = np.full(K, -1, dtype=np.int64)
    L = np.zeros((K, d, d))
    # LAPACK does not stop at NaN (it returns NaN factors): such rows fail first.
    bad_rows = ~np.isfinite(lower).all(axis=2)
    finite = ~bad_rows.any(axis=1)
    with np.errstate(all="ignore"):
        try:
            L[finite] = np.linalg.cholesky(lower[finite] + np.tril(lower[finite], -1).transpose(0, 2, 1))
            ok = finite.copy()
        except np.linalg.LinAlgError:
            ok = np.zeros(K, dtype=bool)
            for k in np.flatnonzero(finite):
                failed[k] = _failed_pivot(lower[k])
                if failed[k] < 0:
                    L[k] = np.linalg.cholesky(lower[k] + np.tril(lower[k], -1).T)
                    ok[k] = True
        for k in np.flatnonzero(~finite):
            failed[k] = int(np.argmax(bad_rows[k]))
        diagonal = np.diagonal(L, axis1=1, axis2=2)
        logdet = 2.0 * np.log(diagonal).sum(axis=1)
    # Overflow inside the factorisation (entries near 1e308) leaves non-finite factors.
    for k in np.flatnonzero(ok & ~np.isfinite(logdet)):
        failed[k] = int(np.argmax(~np.isfinite(L[k]).all(axis=1) | ~(diagonal[k] > 0)))
    return L, logdet, failed


def _failed_pivot(lower):
    """First j whose leading (j+1) x (j+1) block is not positive definite (-1 if none) of a finite lower triangle.

    Leading blocks of a positive definite block are positive definite, so the
    first failing size is found by bisection: log2(d) factorisations.
    """
    full = lower + np.tril(lower, -1).T

    def definite(size):
        try:
            np.linalg.cholesky(full[:size, :size])
            return True
        except np.linalg.LinAlgError:
            return False

    if definite(full.shape[0]):
        return -1
    good, bad = 0, full.shape[0]  # leading block of size `good` is definite, of size `bad` is not
    while bad - good > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if definite(mid) else (good, mid)
    return bad - 1


def _as_factors(cov, name="cov"):
    if isinstance(cov, CholeskyFactors):
        return cov
    return cholesky(cov)


# --------------------------------------------------------------------------- #
# Log-densities
# --------------------------------------------------------------------------- #
def normal_logpdf(x, mean=0.0, var=1.0):
    """Log-density of the univariate normal N(mean, var), elementwise.

    Parameterised by the variance (not the standard deviation).  Broadcasts like
    a numpy ufunc.

    Parameters
    ----------
    x, mean, var : array_like
        Points, means and variances (var > 0).  Broadcast together.

    Returns
    -------
    ndarray or scalar
        -½ (log 2π + log var + (x - mean)² / var), with numpy's dtype rules:
        float32 input gives float32 (computed in float64), integers give float64.
        NaN in ``x`` gives NaN there; ``x = ±inf`` gives -inf.

    Raises
    ------
    ValueError
        If ``mean``/``var`` hold NaN/inf, ``var <= 0``, or the shapes do not broadcast.

    Examples
    --------
    >>> import fastprob
    >>> float(fastprob.normal_logpdf(0.0))  # -½ log 2π
    -0.9189385332046727
    """
    return _normal_logpdf(x, mean, var, "x")


def _normal_logpdf(x, mean, var, x_name):
    """normal_logpdf with the points' argument called ``x_name`` in errors (gaussian_nll's is ``y``)."""
    dtype = weak_float_dtype(x, mean, var)
    x = as_float_array(x, x_name)
    mean = as_float_array(mean, "mean")
    var = as_float_array(var, "var")
    check_finite(mean, "mean")
    check_finite(var, "var")
    if (var <= 0).any():
        i = np.argwhere(var <= 0)[0]
        raise ValueError(
            f"var must be > 0; got {var[tuple(i)].item()!r}" + (f" at index {tuple(int(j) for j in i)}" if var.ndim else "")
            + ". The variance of a normal distribution is positive."
        )
    try:
        shape = np.broadcast_shapes(x.shape, mean.shape, var.shape)
    except ValueError:
        raise ValueError(
            f"{x_name}, mean and var do not broadcast together: shapes {x.shape}, {mean.shape}, {var.shape}."
        ) from None
    out = np.empty(shape, dtype=dtype)
    flat = out.reshape(-1)
    if flat.size:
        ops = [broadcast_flat(a, shape) for a in (x, mean, var)]
        _gk.normal_logpdf.for_size(flat.size * 20)(flat.size, *ops, flat)
    return out if out.ndim else out[()]


def precision_factors(chol):
    """(U, P) for a (Kc, d, d) stack of lower Cholesky factors L of covariances Σ: U = L⁻ᵀ (upper
    triangular; scikit-learn's ``precisions_cholesky_``) and the precisions P = Σ⁻¹ = U Uᵀ."""
    from scipy.linalg import solve_triangular

    d = chol.shape[-1]
    U = np.stack([solve_triangular(L, np.eye(d), lower=True).T for L in chol])
    return U, U @ U.transpose(0, 2, 1)


def hole_precisions(means, chol=None, var=None):
    """The kernels' ``prec`` argument for marginalising over NaN (see :mod:`fastprob.kernels.missing`).

    For K components with means (K, d) and lower Cholesky factors ``chol``
    (Kc, d, d), Kc in {1, K}, or variances ``var`` (K, d) of diagonal
    covariances: a (2d + 3, d, K) float64 table, components last -- the
    precision P = Σ⁻¹ = L⁻ᵀ L⁻¹ (zeros for variances), the regression of each
    coordinate on the others P_il / P_ii (0 at l = i), each coordinate's
    variance given all the others (1/P_ii, or the variance), its logarithm,
    and the means.
    """
    K, d = means.shape
    table = np.zeros((2 * d + 3, d, K))
    if chol is None:
        table[2 * d] = var.T
    else:
        # one factor per component, or one shared ('tied'): broadcast over the components, last
        table[:d] = np.moveaxis(precision_factors(chol)[1], 0, -1)
        P = table[:d]
        diag = np.diagonal(P, axis1=0, axis2=1).T  # (d, K): P_ii per component
        table[d:2 * d] = P / diag[:, None, :]
        table[d + np.arange(d), np.arange(d)] = 0.0
        table[2 * d] = 1.0 / diag
    table[2 * d + 1] = np.log(table[2 * d])
    table[2 * d + 2] = means.T
    return read_only(table)


def mvn_logpdf(X, mean, cov, allow_singular=False, *, missing="propagate"):
    """Log-density of multivariate normals, batched over points and components.

    Parameters
    ----------
    X : array_like, shape (N, d), (d,) or ()
        Points.  A 1-D ``X`` is one point, except when d == 1, where it is read
        as N scalar points (as scipy does); a scalar is one point when d == 1.
    mean : array_like, shape (d,) or (K, d)
    cov : array_like, shape (d, d) or (K, d, d), or CholeskyFactors
        Covariances (symmetric positive definite), or factors from
        :func:`cholesky` to skip refactorising.  A single mean with K covariances,
        or K means with one shared covariance, are broadcast.
    allow_singular : bool, default False
        Accept singular (positive semidefinite) covariances, with the meaning
        of ``scipy.stats.multivariate_normal(..., allow_singular=True)``: the
        density of the degenerate normal on its support, the affine subspace
        mean + range(cov) (pseudo-determinant and pseudo-inverse), and -inf off
        it.  As in scipy, eigenvalues at most 1e6·eps·(largest eigenvalue)
        count as zero (1e3·eps for float32 covariances) and a point is on the
        support when its distance from it is at most 1e3 times that cutoff.
        Covariances that are positive definite by that test give the same
        values as with ``allow_singular=False``.
    missing : {'propagate', 'marginalize'}, keyword-only
        'propagate' (default, as scipy): a row with NaN gives NaN.
        'marginalize': NaN entries are missing at random and each row gets
        the log-density of its observed coordinates, log N(x_o | μ_o, Σ_oo)
        (exact, per row; a row with no observed value gets 0.0).  X without
        NaN gives the same numbers either way, bit for bit.  Not with
        singular covariances.

    Returns
    -------
    ndarray or scalar
        (N,) for one component, (N, K) for K components; the N axis is dropped
        for a single point.  X's dtype (float32 stays float32; integers give
        float64); parameters are used in float64.  Rows of X with NaN give NaN,
        rows with ±inf (and no NaN) give -inf.

    Raises
    ------
    ValueError
        Shape mismatches (naming both shapes), NaN/inf in mean or cov, and
        covariances that are not square, symmetric or positive definite
        (positive semidefinite with ``allow_singular``).
    TypeError
        Input of a dtype the kernels cannot compute in (complex, long double,
        non-numeric objects).

    Notes
    -----
    The Mahalanobis term is computed by forward substitution on (x - mean) with
    L from cov = L Lᵀ, and log|cov| = 2 Σ log Lᵢᵢ.  Singular components (with
    ``allow_singular``) use the eigendecomposition of cov instead.

    Examples
    --------
    >>> import numpy as np, fastprob
    >>> X = np.array([[0.0, 0.0], [1.0, 2.0]])
    >>> fastprob.mvn_logpdf(X, np.zeros(2), np.eye(2)).round(4)
    array([-1.8379, -4.3379])

    A degenerate normal lives on a line here: x₂ = x₁.

    >>> cov = np.array([[1.0, 1.0], [1.0, 1.0]])
    >>> fastprob.mvn_logpdf([[1.0, 1.0], [1.0, 0.0]], np.zeros(2), cov, allow_singular=True).round(4)
    array([-1.7655,    -inf])

    With ``missing='marginalize'`` a NaN is a missing value: the second row is
    scored on its first coordinate, N(1 | 0, 1).

    >>> fastprob.mvn_logpdf([[1.0, 2.0], [1.0, np.nan]], np.zeros(2), np.eye(2), missing="marginalize").round(4)
    array([-4.3379, -1.4189])
    """
    marginalize = check_missing(missing)
    if not isinstance(allow_singular, (bool, np.bool_)):
        raise TypeError(f"allow_singular must be True or False, got {allow_singular!r}.")
    singular = None
    if allow_singular and not isinstance(cov, CholeskyFactors):
        factors, singular = _factors_or_pseudo(cov)
    else:
        try:
            factors = _as_factors(cov)
        except ValueError as exc:
            if "not positive definite" not in str(exc):
                raise
            raise ValueError(f"{exc} For a degenerate (singular) normal pass allow_singular=True.") from None
    mean = as_float_array(mean, "mean", dtype=np.float64)
    check_ndim(mean, "mean", (1, 2), "(d,) or (K, d)")
    check_finite(mean, "mean")
    d = mean.shape[-1]
    if d == 0 or mean.size == 0:
        raise ValueError(f"mean has shape {mean.shape}: at least one component and one feature are needed.")
    if factors.n_features != d:
        raise ValueError(
            f"mean has shape {mean.shape} but cov has shape {factors.L.shape}: "
            f"they must agree on the number of features."
        )
    Km = mean.shape[0] if mean.ndim == 2 else 1
    Kc = factors._L64.shape[0]
    if Km > 1 and Kc > 1 and Km != Kc:
        raise ValueError(
            f"mean has shape {mean.shape} but cov has shape {factors.L.shape}: "
            f"they describe different numbers of components ({Km} vs {Kc})."
        )
    K = max(Km, Kc)
    batched = mean.ndim == 2 or factors.batched

    X2, single_point = as_points(X, d, f"mean has shape {mean.shape}")
    N = X2.shape[0]
    out = np.empty((N, K), dtype=X2.dtype)
    means = np.ascontiguousarray(np.broadcast_to(mean.reshape(-1, d), (K, d)))
    marginalize = marginalize and bool(np.isnan(X2).any())
    if marginalize and singular:
        raise ValueError("missing='marginalize' needs positive definite covariances: the marginal of a "
                         f"singular (degenerate) normal, here component(s) {sorted(singular)}, is not computed. "
                         "Add a small ridge to the covariance, or drop the rows with NaN.")
    if N:
        kernel = _mixk.mixture_scores.for_size(N * K * d * (d + 1))
        # The mixture kernel with zero log-weights, in float64 (the factors' dtype).
        tile = rows_per_tile(d)
        kernel(-(-N // tile), *read_only(X2, np.zeros(K), means, factors._L64, factors._logdet64, np.empty((0, 0))),
               False, _gk.solver_token(d), hole_precisions(means, factors._L64) if marginalize else np.empty(0),
               tile, out, np.empty(0, X2.dtype),
               np.empty((0, 0), X2.dtype), np.empty(0, np.int64), np.empty((0, 0)), np.empty((0, 0)))
        if singular:
            for k in range(K):
                pseudo = singular.get(k if Kc > 1 else 0)
                if pseudo is not None:
                    out[:, k] = _degenerate_logpdf(X2, means[k], *pseudo)
    if not batched:
        out = out[:, 0]
    return out[0] if single_point else out


def _checked_covariances(cov):
    """(cov, its (K, d, d) C-contiguous stack, whether it was batched), checked: shape, finite, symmetric."""
    cov = as_float_array(cov, "cov")
    check_ndim(cov, "cov", (2, 3), "(d, d) or (K, d, d)")
    _check_square(cov, "cov")
    if cov.shape[-1] == 0 or cov.size == 0 and cov.ndim == 3:
        raise ValueError(f"cov has shape {cov.shape}: at least one component and one feature are needed.")
    batched = cov.ndim == 3
    cov3 = as_contiguous(cov.reshape((-1,) + cov.shape[-2:]))
    check_finite(cov, "cov", "Covariance matrices must be finite.")
    check_symmetric(cov3, "cov", batched)
    return cov, cov3, batched


def _factors_or_pseudo(cov):
    """CholeskyFactors for mvn_logpdf(allow_singular=True), and the singular components' eigen-data.

    Returns (factors, singular): ``singular`` maps a component index to
    (U, V, rank, log_pdet, tol) of :func:`_degenerate_logpdf`; the factors of
    those components are identity placeholders whose column is overwritten.
    """
    cov, cov3, batched = _checked_covariances(cov)
    c64 = cov3.astype(np.float64)
    s, u = np.linalg.eigh(0.5 * (c64 + c64.transpose(0, 2, 1)))
    # scipy's cutoff (stats._multivariate._eigvalsh_to_eps), in the covariance's own precision.
    rel = (1e3 if cov.dtype == np.float32 else 1e6) * float(np.finfo(cov.dtype).eps)
    cutoff = rel * np.abs(s).max(axis=1)
    negative = np.flatnonzero(s.min(axis=1) < -cutoff)
    if negative.size:
        k = int(negative[0])
        where = f"component {k} of cov" if batched else "cov"
        raise ValueError(
            f"{where} is not positive semidefinite (smallest eigenvalue {s[k].min():.3g}, beyond the "
            f"rounding tolerance {cutoff[k]:.3g}); a covariance matrix has no negative eigenvalues.")
    K, d = c64.shape[0], c64.shape[-1]
    singular = {}
    L = np.empty_like(c64)
    logdet = np.empty(K)
    for k in range(K):
        keep = s[k] > cutoff[k]
        if keep.all():
            # The same factors as cholesky(cov) (lower triangle read): positive definite
            # components give exactly the values of allow_singular=False.
            L[k], logdet[k], failed = (a[0] for a in factor_stack(c64[k:k + 1]))
            if failed < 0:
                continue
        pos = s[k][keep]
        singular[k] = (u[k][:, keep] / np.sqrt(pos), u[k][:, ~keep], int(keep.sum()), float(np.log(pos).sum()),
                       1e3 * cutoff[k])
        L[k], logdet[k] = np.eye(d), 0.0
    return CholeskyFactors._from_float64(L, logdet, cov.dtype, batched), singular


def _degenerate_logpdf(X, mean, U, V, rank, log_pdet, tol):
    """log-density of N(mean, cov) on its support mean + range(cov), -inf off it (scipy's allow_singular).

    ``U`` (d, rank) whitens the range (cov⁺ = U Uᵀ), ``V`` (d, d - rank) spans
    the null space; a point is on the support when ‖(x - mean) V‖ <= tol.
    NaN rows give NaN, infinite rows -inf, as in the positive definite case.
    """
    dev = np.asarray(X, dtype=np.float64) - mean
    with np.errstate(invalid="ignore", over="ignore"):
        maha = np.square(dev @ U).sum(axis=1)
        residual = np.sqrt(np.square(dev @ V).sum(axis=1))
    res = -0.5 * (rank * _gk.LOG_2PI + log_pdet + maha) + 0.0  # a rank-0 point mass: +0.0 at the mean
    res[~(residual <= tol)] = -np.inf
    res[np.isinf(dev).any(axis=1)] = -np.inf
    res[np.isnan(dev).any(axis=1)] = np.nan
    return res


# --------------------------------------------------------------------------- #
# Maximum-likelihood fits
# --------------------------------------------------------------------------- #
#: Data whose largest magnitude lies outside [2**-SCALE_EXP, 2**SCALE_EXP) are fitted
#: scaled by a power of two: their sums (up to N·max|x|) and squared deviations
#: (up to 4·max|x|²) would overflow float64, or the squares of tiny values lose
#: digits to subnormal arithmetic.
SCALE_EXP = 255


def _weighted_moments(X, sample_weight, name):
    """Weighted mean (d,) and covariance (d, d), ddof=0, in float64 (X is (N, d), N >= 1, finite).

    float64 columns near the ends of the range are moved to magnitudes below 1
    by an exact power-of-two scaling 2**-e (and shifted by one sample), and the
    moments scaled back: the mean by 2**e (exact), covariances by 2**(e_i + e_j).  A covariance whose true entries
    exceed float64 (data spread over more than ~1e154) is a ValueError, never a
    silent inf; entries below float64's range round to 0 or subnormals.
    """
    w = None if sample_weight is None else check_weights(sample_weight, X.shape[0], "sample_weight")
    W, mean, M2 = group_moments(as_contiguous(X), w)
    mean, cov = mean[0], M2[0] / W[0]
    # Ordinary data take this path only: one pass, no scan for extreme columns.  An overflow
    # shows as inf/NaN, a column whose squares underflow as a variance below 2**-(2 SCALE_EXP).
    if X.dtype != np.float64 or (np.isfinite(mean).all() and np.isfinite(cov).all()
                                 and (np.diagonal(cov) >= 2.0 ** (-2 * SCALE_EXP)).all()):
        return mean, cov
    e = np.zeros(X.shape[1], dtype=int)
    if X.size:
        top = np.abs(X).max(axis=0)
        extreme = (top > 0) & ~((top >= 2.0**-SCALE_EXP) & (top < 2.0**SCALE_EXP))
        # Column by column: one column near 1e300 must not push another near 1e-300 into underflow.
        e = np.where(extreme, np.frexp(top)[1], 0)
        if extreme.any():
            # Scaled, and shifted by one sample c (a row with positive weight): identical
            # values become exact zeros, so the covariance's rounding noise (~eps² x², 1e584
            # at 1e308) cannot overflow on its own; the differences are taken after the
            # scaling, where they cannot overflow either.
            first = 0 if w is None else int(np.argmax(w > 0))
            shift = np.where(extreme, np.ldexp(X[first], -e), 0.0)
            X = np.ldexp(X, -e) - shift
    W, mean, M2 = group_moments(as_contiguous(X), w)
    mean, cov = mean[0], M2[0] / W[0]
    if e.any():
        mean = np.ldexp(mean + shift, e)
        with np.errstate(over="ignore"):
            cov = np.ldexp(cov, e[:, None] + e[None, :])
        if not np.isfinite(cov).all():
            i, j = np.argwhere(~np.isfinite(cov))[0]
            log10 = (np.log2(abs(M2[0][i, j] / W[0])) + e[i] + e[j]) * np.log10(2.0)
            what = "variance" if X.shape[1] == 1 else f"covariance entry ({i}, {j})"
            raise ValueError(
                f"The {what} of {name} is about 1e{int(log10)}, beyond the float64 range (1.8e308): the data "
                f"are spread too widely to fit. Divide {name} by a constant c (e.g. c = 1e{int(log10) // 2 - 150}) "
                f"and multiply the fitted mean by c and the {'variance' if X.shape[1] == 1 else 'covariance'} "
                f"by c².")
    return mean, cov


def _as_fit_dtype(cov, dtype, name):
    """The fitted covariance in the data's dtype; a ValueError where it does not fit (float32 beyond 3.4e38)."""
    with np.errstate(over="ignore"):
        out = cov.astype(dtype)
    if not np.isfinite(out).all():
        raise ValueError(
            f"The fitted {'variance' if cov.size == 1 else 'covariance'} of {name} reaches "
            f"{float(np.abs(cov).max()):.3g}, beyond the {np.dtype(dtype).name} range: pass "
            f"{name}.astype(np.float64) to fit it in float64.")
    return out


def _fit_input(X, name, ndim, meaning):
    X = as_float_array(X, name)
    check_ndim(X, name, (ndim,), meaning)
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one sample is needed to fit a Gaussian.")
    check_finite(X, name, "Drop or impute missing values before fitting.")
    return X


@renamed_keyword("weights", "sample_weight")
def normal_fit(x, sample_weight=None):
    """Maximum-likelihood mean and variance of univariate normal data.

    Parameters
    ----------
    x : array_like, shape (N,)
        Samples (finite).
    sample_weight : array_like, shape (N,), optional
        Non-negative sample weights (frequency or importance weights; only their
        ratios matter).  Formerly ``weights=``, which still works with a
        DeprecationWarning.

    Returns
    -------
    mean, var : scalars of x's float dtype
        The weighted mean and the MLE variance Σ w (x - mean)² / Σ w (ddof=0).
        Accumulated in float64 with a blockwise two-pass/merge scheme, so
        float32 data far from zero (e.g. N(1e4, 1)) still gives var ≈ 1.
        Data near the ends of the float64 range are fitted scaled by a power
        of two: ``normal_fit([1.7e308, 1.7e308])`` is (1.7e308, 0.0).

    Raises
    ------
    ValueError
        Empty or non-finite ``x``, bad weights, or a variance beyond the range
        of x's dtype (data spread over more than ~1e154: the message says how
        to rescale), rather than a silent inf.
    TypeError
        A dtype the kernels cannot compute in (long double, complex, objects).

    Examples
    --------
    >>> import fastprob
    >>> m, v = fastprob.normal_fit([1.0, 2.0, 3.0, 4.0])
    >>> float(m), float(v)
    (2.5, 1.25)
    """
    x = _fit_input(x, "x", 1, "(N,) (use mvn_fit for multivariate data)")
    mean, cov = _weighted_moments(x.reshape(-1, 1), sample_weight, "x")
    return x.dtype.type(mean[0]), _as_fit_dtype(cov, x.dtype, "x")[0, 0]


@renamed_keyword("weights", "sample_weight")
def mvn_fit(X, sample_weight=None):
    """Maximum-likelihood mean and covariance of multivariate normal data.

    Parameters
    ----------
    X : array_like, shape (N, d)
        Samples in rows (finite).
    sample_weight : array_like, shape (N,), optional
        Non-negative sample weights (formerly ``weights=``, which still works
        with a DeprecationWarning).

    Returns
    -------
    mean : ndarray, shape (d,)
    cov : ndarray, shape (d, d)
        Weighted mean and covariance Σ w (x - mean)(x - mean)ᵀ / Σ w (ddof=0, the
        MLE; ``np.cov(X.T, aweights=sample_weight, bias=True)``).  X's float dtype,
        accumulated in float64.  The result is identical on any number of threads.
        Columns near the ends of the float64 range are fitted scaled by a
        power of two each, and scaled back.

    Raises
    ------
    ValueError
        Empty or non-finite X, bad weights, or a covariance entry beyond the
        range of X's dtype (the message names it and says how to rescale),
        rather than a silent inf.
    TypeError
        A dtype the kernels cannot compute in (long double, complex, objects).

    Examples
    --------
    >>> import numpy as np, fastprob
    >>> mean, cov = fastprob.mvn_fit(np.array([[0.0, 0.0], [2.0, 2.0]]))
    >>> mean, cov
    (array([1., 1.]), array([[1., 1.],
           [1., 1.]]))
    """
    X = _fit_input(X, "X", 2, "(N, d)")
    if X.shape[1] == 0:
        raise ValueError("X has no features (shape (N, 0)).")
    mean, cov = _weighted_moments(X, sample_weight, "X")
    return mean.astype(X.dtype), _as_fit_dtype(cov, X.dtype, "X")


def gaussian_nll(y, mean, var, reduction="mean"):
    """Negative log-likelihood of observations under N(mean, var) with known variance.

    With ``reduction='mean'`` this is MSE / (2 var) + ½ log(2π var) for a scalar
    ``var``: minimising the mean squared error is maximum likelihood for a
    Gaussian mean.

    Parameters
    ----------
    y : array_like
        Observations.
    mean, var : array_like
        Predicted means and (fixed, > 0) variances, broadcast against ``y``.
    reduction : {'mean', 'sum', 'none'}
        Average over all elements, total, or the elementwise values.

    Returns
    -------
    scalar or ndarray
        In the float dtype of the inputs (accumulated in float64).
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")
    logp = _normal_logpdf(y, mean, var, "y")
    if reduction == "none":
        return -logp
    logp = np.asarray(logp)
    if reduction == "mean" and logp.size == 0:
        raise ValueError("y is empty: the mean negative log-likelihood of no observations is undefined.")
    total = -np.sum(logp, dtype=np.float64)
    value = total / logp.size if reduction == "mean" else total
    return logp.dtype.type(value)


# --------------------------------------------------------------------------- #
# Building and sampling
# --------------------------------------------------------------------------- #
def cov_from_factor(B, jitter=0.0):
    """Covariance B Bᵀ + jitter·I from an unconstrained factor.

    Parameters
    ----------
    B : array_like, shape (d, r) or (K, d, r)
        Any real factor (e.g. a parameter being optimised).
    jitter : float, default 0.0
        Non-negative ridge added to the diagonal.

    Returns
    -------
    ndarray, shape (d, d) or (K, d, d)
        Exactly symmetric, in B's float dtype (computed in float64).

    Raises
    ------
    ValueError
        If B has NaN/inf, jitter is negative or not finite, or jitter == 0 and
        B has rank < d (B Bᵀ would be singular, not a valid covariance).
    """
    B = as_float_array(B, "B")
    check_ndim(B, "B", (2, 3), "(d, r) or (K, d, r)")
    check_finite(B, "B")
    if isinstance(jitter, (bool, np.bool_)) or not isinstance(jitter, numbers.Real) or not np.isfinite(jitter) or jitter < 0:
        raise ValueError(f"jitter must be a finite number >= 0, got {jitter!r}.")
    d = B.shape[-2]
    B64 = B.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # checked below, with a message
        C = B64 @ np.swapaxes(B64, -1, -2)
        C = 0.5 * (C + np.swapaxes(C, -1, -2))
    if jitter == 0:
        if B.shape[-1] == 0:  # no columns: B Bᵀ = 0
            rank = np.zeros(B.shape[:-2] or (1,), dtype=int)
        else:
            rank = np.atleast_1d(np.linalg.matrix_rank(B64))
        bad = np.flatnonzero(rank < d)
        if bad.size:
            k = int(bad[0])
            where = f"B[{k}]" if B.ndim == 3 else "B"
            raise ValueError(
                f"{where} has rank {int(rank[k])} < d = {d}, so B Bᵀ is singular and not a valid "
                "covariance. Pass jitter > 0 (e.g. jitter=1e-6) or a factor with d independent columns."
            )
    else:
        C += jitter * np.eye(d)
    with np.errstate(over="ignore"):
        C = C.astype(B.dtype)
    # Full rank is not enough: B Bᵀ itself must fit the dtype (entries of 1e-200 square to 0,
    # of 1e200 to inf).
    if not np.isfinite(C).all():
        raise ValueError(f"B Bᵀ overflows {C.dtype.name} (largest |B| = {float(np.abs(B64).max()):.3g}); "
                         "rescale B.")
    if jitter == 0 and d and not (np.diagonal(C, axis1=-2, axis2=-1) > 0).all():
        raise ValueError(f"B Bᵀ underflows to a singular matrix in {C.dtype.name} (largest |B| = "
                         f"{float(np.abs(B64).max()):.3g}); rescale B or pass jitter > 0.")
    return C


def mvn_sample(mean, cov, n, random_state=None):
    """Draw ``n`` samples from N(mean, cov).

    Parameters
    ----------
    mean : array_like, shape (d,)
    cov : array_like, shape (d, d), or CholeskyFactors
    n : int >= 0
    random_state : None, int, numpy Generator/RandomState/BitGenerator/SeedSequence
        Seed or generator; the same seed gives the same samples.

    Returns
    -------
    ndarray, shape (n, d)
        mean + Z Lᵀ with Z standard normal and cov = L Lᵀ; float32 if mean and
        cov are float32, else float64.
    """
    n = check_positive_int(n, "n", minimum=0)
    factors = _as_factors(cov)
    if factors.batched:
        raise ValueError(
            f"mvn_sample draws from one Gaussian; cov has shape {factors.L.shape}. "
            "Pass one (d, d) covariance."
        )
    dtype = result_float_dtype(np.asarray(mean), factors.L)
    mean = as_float_array(mean, "mean", dtype=np.float64)
    check_ndim(mean, "mean", (1,), "(d,)")
    check_finite(mean, "mean")
    if mean.shape[0] != factors.n_features:
        raise ValueError(
            f"mean has shape {mean.shape} but cov has shape {factors.L.shape}: "
            f"they must agree on the number of features."
        )
    Z = as_generator(random_state).standard_normal((n, mean.shape[0]))
    return (mean + Z @ factors._L64[0].T).astype(dtype)
