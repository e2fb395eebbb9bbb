"""The four covariance types of a Gaussian mixture, in one table.

This is the only module that names 'full', 'tied', 'diag' and 'spherical'.
Everything that depends on the type -- parameter shapes, the number of free
parameters, how covariances become kernel factors, the M-step, precisions and
covariances, the messages -- is a method of its entry in :data:`TYPES`; the
rest of fastprob looks the entry up with :func:`lookup` and asks it.

The kernels know two kinds of covariance: triangular (Cholesky factors, one
per component or one shared) and diagonal (per-component variances).  Each
type says which it is (``diagonal``) and produces those factors
(:meth:`CovarianceType.factorise`).

A new covariance type is a subclass of :class:`CovarianceType` added to
:data:`TYPES`; the estimator, the ``gmm_*`` functions, the CLI's choices and
``fastprob compile`` pick it up from there.
"""
import numpy as np

from .gaussian import check_symmetric, factor_stack, precision_factors


class CovarianceType:
    """How one parameterisation of the covariances is stored, factorised and estimated.

    Attributes
    ----------
    name : str
    diagonal : bool
        Kernels take variances (K, d) rather than Cholesky factors.
    shared : bool
        One covariance for all components ('tied').
    noun : str
        What the covariances are called in messages.
    """

    name = noun = None
    diagonal = shared = False

    def __repr__(self):
        return repr(self.name)

    def shape(self, K, d):
        """scikit-learn's shape of the covariances (and precisions) of K components in d dimensions."""
        raise NotImplementedError

    def n_parameters(self, K, d):
        """Free parameters of the covariances."""
        raise NotImplementedError

    def check_given(self, covs, name):
        """Checks of user-given float64 covariances beyond shape and finiteness (symmetry)."""

    def factorise(self, covs, d):
        """Kernel factors (chol (Kc, d, d), var (K, d), logdet, failed component indices) of float64 covs.

        Triangular types give ``chol`` and an empty ``var``; diagonal types the
        reverse.  Factors of a failed (not positive definite) component are
        meaningless.
        """
        raise NotImplementedError

    def estimate(self, M2, nk, reg_covar):
        """Covariances from the per-component centred scatter M2 and weights nk (sklearn's M-step)."""
        raise NotImplementedError

    def average(self, covs, share, live):
        """The ``share``-weighted average covariance of the ``live`` components (to re-seed an empty one)."""
        return np.tensordot(share, covs[live], axes=1)

    def set_component(self, covs, k, cov):
        """Give component k the covariance ``cov`` (shared types have none of their own)."""
        covs[k] = cov

    def precisions(self, comps):
        """scikit-learn's (precisions_cholesky_, precisions_) of a factorised mixture (float64)."""
        raise NotImplementedError

    def covariances_from_precisions(self, prec):
        """Covariances from user-given precisions, checking that they are valid."""
        raise NotImplementedError

    def failed_where(self, failed):
        """Which covariance a message blames: '' for shared types, else the component list."""
        return f" of component(s) {failed}"


class _Triangular(CovarianceType):
    def check_given(self, covs, name):
        d = covs.shape[-1]
        check_symmetric(covs.reshape((-1, d, d)), name, not self.shared)

    def factorise(self, covs, d):
        chol, logdet, pivots = factor_stack(np.ascontiguousarray(covs.reshape((-1, d, d))))
        return chol, np.empty((0, 0)), logdet, np.flatnonzero(pivots >= 0).tolist()

    def precisions(self, comps):
        # precisions_cholesky_: the upper-triangular inverse-transpose of the covariance's factor.
        prec_chol, precisions = precision_factors(comps.chol)
        return (prec_chol[0], precisions[0]) if self.shared else (prec_chol, precisions)

    def covariances_from_precisions(self, prec):
        stack = prec.reshape((-1,) + prec.shape[-2:])
        for k, P in enumerate(stack):
            if not (np.allclose(P, P.T) and (np.linalg.eigvalsh(P) > 0).all()):
                where = "" if self.shared else f" (component {k})"
                raise ValueError(f"'{self.name} precision' should be symmetric, positive-definite{where}")
        covs = np.linalg.inv(stack)
        covs = 0.5 * (covs + covs.transpose(0, 2, 1))
        return covs.reshape(prec.shape)


class _Diagonal(CovarianceType):
    diagonal = True

    def _variances(self, covs, d):
        """(K, d) variances."""
        raise NotImplementedError

    def factorise(self, covs, d):
        var = np.ascontiguousarray(self._variances(covs, d))
        positive = var > 0
        failed = np.flatnonzero(~positive.all(axis=1)).tolist()
        logdet = np.log(np.where(positive, var, 1.0)).sum(axis=1)
        return np.zeros((0, 0, 0)), var, logdet, failed

    def precisions(self, comps):
        prec_chol = 1.0 / np.sqrt(comps.covariances)
        return prec_chol, prec_chol**2

    def covariances_from_precisions(self, prec):
        if (prec <= 0).any():
            raise ValueError(f"'{self.name} precision' should be positive")
        return 1.0 / prec


class Full(_Triangular):
    name, noun = "full", "covariance matrices"

    def shape(self, K, d):
        return (K, d, d)

    def n_parameters(self, K, d):
        return K * d * (d + 1) / 2.0

    def estimate(self, M2, nk, reg_covar):
        d = M2.shape[-1]
        covs = M2 / nk[:, None, None]
        covs[:, np.arange(d), np.arange(d)] += reg_covar
        return covs


class Tied(_Triangular):
    name, noun = "tied", "tied covariance matrix"
    shared = True

    def shape(self, K, d):
        return (d, d)

    def n_parameters(self, K, d):
        return d * (d + 1) / 2.0

    def estimate(self, M2, nk, reg_covar):
        d = M2.shape[-1]
        covs = M2.sum(axis=0) / nk.sum()
        covs[np.arange(d), np.arange(d)] += reg_covar
        return covs

    def average(self, covs, share, live):
        return covs

    def set_component(self, covs, k, cov):
        pass

    def failed_where(self, failed):
        return ""


class Diag(_Diagonal):
    name, noun = "diag", "diagonal variances"

    def shape(self, K, d):
        return (K, d)

    def n_parameters(self, K, d):
        return K * d

    def _variances(self, covs, d):
        return covs

    def estimate(self, M2, nk, reg_covar):
        return M2 / nk[:, None] + reg_covar


class Spherical(_Diagonal):
    name, noun = "spherical", "variances"

    def shape(self, K, d):
        return (K,)

    def n_parameters(self, K, d):
        return K

    def _variances(self, covs, d):
        return np.repeat(covs[:, None], d, axis=1)  # σ² repeated over the d features

    def estimate(self, M2, nk, reg_covar):
        return (M2 / nk[:, None] + reg_covar).mean(axis=1)


#: Name -> covariance type, in scikit-learn's order.
TYPES = {t.name: t for t in (Full(), Tied(), Diag(), Spherical())}

#: The names, for choices lists and messages.
COVARIANCE_TYPES = tuple(TYPES)


def lookup(covariance_type):
    """The :class:`CovarianceType` called ``covariance_type``; ValueError naming the choices otherwise."""
    try:
        return TYPES[covariance_type]
    except (KeyError, TypeError):
        raise ValueError(f"covariance_type must be one of {', '.join(map(repr, COVARIANCE_TYPES))}; "
                         f"got {covariance_type!r}.") from None
