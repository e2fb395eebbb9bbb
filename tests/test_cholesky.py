"""fastprob.cholesky / CholeskyFactors / cov_from_factor against numpy."""
import numpy as np
import pytest

import fastprob
from reference import random_spd


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (64, 64), (5, 4, 4), (2, 1, 1)])
def test_factors_and_logdet_match_numpy(rng, shape):
    d = shape[-1]
    cov = np.stack([random_spd(d, rng, cond=1e3) for _ in range(int(np.prod(shape[:-2])))]).reshape(shape)
    f = fastprob.cholesky(cov)
    assert f.L.shape == shape and f.logdet.shape == shape[:-2]
    # Entries of a factor of an ill-conditioned matrix are accurate relative to its scale.
    L = np.linalg.cholesky(cov)
    np.testing.assert_allclose(f.L, L, rtol=0, atol=1e-13 * np.abs(L).max())
    np.testing.assert_allclose(f.logdet, np.linalg.slogdet(cov)[1], rtol=1e-12, atol=1e-13)
    assert np.all(np.triu(f.L, 1) == 0)
    np.testing.assert_allclose(f.covariance(), cov, rtol=0, atol=1e-13 * np.abs(cov).max())


def test_float32_kept_and_outputs_read_only(rng):
    cov = random_spd(4, rng).astype(np.float32)
    f = fastprob.cholesky(cov)
    assert f.L.dtype == np.float32 and f.logdet.dtype == np.float32
    np.testing.assert_allclose(f.L, np.linalg.cholesky(cov.astype(np.float64)), rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError):
        f.L[0, 0] = 3.0


def test_input_not_modified_and_upper_triangle_ignored_only_if_symmetric(rng):
    cov = random_spd(3, rng)
    snap = cov.copy()
    fastprob.cholesky(cov)
    np.testing.assert_array_equal(cov, snap)
    tiny_asym = cov.copy()
    tiny_asym[0, 1] += 1e-13  # rounding-level asymmetry is accepted
    fastprob.cholesky(tiny_asym)


@pytest.mark.parametrize("cov, match", [
    (np.ones((2, 3)), r"cov must be square in its last two axes, got shape \(2, 3\)"),
    (np.ones(3), r"cov must have shape \(d, d\) or \(K, d, d\), got shape \(3,\)"),
    (np.array([[1.0, np.inf], [np.inf, 1.0]]), r"cov contains 2 non-finite"),
    (np.array([[2.0, 1.0], [0.9, 2.0]]), r"cov is not symmetric"),
    (np.array([[1.0, 1.0], [1.0, 1.0]]), r"cov is not positive definite \(Cholesky failed at pivot 1"),
    (np.array([[0.0]]), r"cov is not positive definite"),
])
def test_errors(cov, match):
    with pytest.raises(ValueError, match=match):
        fastprob.cholesky(cov)


def test_several_failing_components_are_listed():
    covs = np.stack([np.eye(2), -np.eye(2), np.eye(2), np.zeros((2, 2))])
    with pytest.raises(ValueError, match=r"components \[1, 3\] of cov are not positive definite"):
        fastprob.cholesky(covs)


def test_user_factors_validated():
    with pytest.raises(ValueError, match="lower triangular"):
        fastprob.CholeskyFactors(np.array([[1.0, 1.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"positive diagonal \(component 1, diagonal entry 0"):
        fastprob.CholeskyFactors(np.stack([np.eye(2), -np.eye(2)]))
    f = fastprob.CholeskyFactors(np.array([[2.0, 0.0], [1.0, 3.0]]))
    assert float(f.logdet) == pytest.approx(np.log(36.0))


# --------------------------------------------------------------------------- #
# cov_from_factor
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("shape", [(3, 3), (3, 5), (4, 3, 6)])
def test_cov_from_factor(rng, shape):
    B = rng.standard_normal(shape)
    C = fastprob.cov_from_factor(B)
    np.testing.assert_allclose(C, B @ np.swapaxes(B, -1, -2), rtol=1e-13)
    np.testing.assert_array_equal(C, np.swapaxes(C, -1, -2))
    fastprob.cholesky(C)  # a valid covariance


def test_cov_from_factor_jitter_and_dtype(rng):
    B = rng.standard_normal((3, 2)).astype(np.float32)  # rank 2 < 3
    C = fastprob.cov_from_factor(B, jitter=0.5)
    assert C.dtype == np.float32
    np.testing.assert_allclose(C, B.astype(np.float64) @ B.T.astype(np.float64) + 0.5 * np.eye(3), rtol=1e-6)
    fastprob.cholesky(C)


def test_cov_from_factor_rank_deficient_is_an_error(rng):
    B = rng.standard_normal((3, 2))
    with pytest.raises(ValueError, match=r"B has rank 2 < d = 3.*jitter > 0"):
        fastprob.cov_from_factor(B)
    stack = np.stack([rng.standard_normal((2, 2)), np.array([[1.0, 2.0], [2.0, 4.0]])])
    with pytest.raises(ValueError, match=r"B\[1\] has rank 1 < d = 2"):
        fastprob.cov_from_factor(stack)
    with pytest.raises(ValueError, match=r"jitter must be a finite number >= 0, got -1"):
        fastprob.cov_from_factor(B, jitter=-1.0)
    with pytest.raises(ValueError, match=r"B contains 1 non-finite"):
        fastprob.cov_from_factor(np.array([[1.0, np.nan]]))


def test_zero_features_is_a_clear_error():
    with pytest.raises(ValueError, match=r"cov has shape \(0, 0\): at least one component and one feature"):
        fastprob.cholesky(np.empty((0, 0)))
    with pytest.raises(ValueError, match=r"at least one component and one feature"):
        fastprob.mvn_logpdf(np.empty((3, 0)), np.empty(0), np.eye(1))


@pytest.mark.parametrize("B, jitter, message", [
    (np.eye(2) * 1e-200, 0.0, "B Bᵀ underflows to a singular matrix in float64"),
    (np.eye(2) * 1e200, 0.0, "B Bᵀ overflows float64"),
    (np.eye(2, dtype=np.float32) * 1e20, 0.0, "B Bᵀ overflows float32"),
    (np.eye(2, dtype=np.float32) * 1e-25, 0.0, "B Bᵀ underflows to a singular matrix in float32"),
])
def test_cov_from_factor_full_rank_factor_whose_product_does_not_fit(B, jitter, message):
    # B has full rank, but B Bᵀ rounds to 0 or inf: an error, not a singular "covariance".
    with pytest.raises(ValueError, match=message):
        fastprob.cov_from_factor(B, jitter=jitter)
    np.testing.assert_array_equal(fastprob.cov_from_factor(np.eye(2) * 1e-200, jitter=1e-6), np.eye(2) * 1e-6)


def _first_failing_pivot(cov):
    """Slow reference: the first j whose leading (j+1) x (j+1) block has a non-positive determinant."""
    for j in range(cov.shape[0]):
        if not np.all(np.isfinite(cov[j, : j + 1])) or not np.linalg.det(cov[: j + 1, : j + 1]) > 0:
            return j
    return -1


def test_factor_stack_reports_each_components_failing_pivot(rng):
    from fastprob.gaussian import factor_stack

    d = 6
    good = [random_spd(d, rng) for _ in range(3)]
    bad = []
    for j in (0, 2, 5):  # a rank deficiency that first shows at pivot j
        B = random_spd(d, rng)
        B[j, :j] = B[:j, j] = 0.0
        B[j, j] = -1.0
        bad.append(B)
    nan = random_spd(d, rng)
    nan[4, 1] = nan[1, 4] = np.nan
    stack = np.stack(good + bad + [nan])
    L, logdet, failed = factor_stack(stack)
    assert failed.tolist() == [-1, -1, -1, 0, 2, 5, 4]
    assert failed.tolist() == [_first_failing_pivot(c) for c in stack]
    for k in range(3):
        np.testing.assert_allclose(L[k] @ L[k].T, good[k], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(logdet[k], np.linalg.slogdet(good[k])[1], rtol=1e-12)
    # An infinite entry fails at its row as NaN does (LAPACK would return non-finite factors).
    assert factor_stack(np.array([[[1.0, 0.0], [np.inf, 1.0]]]))[2].tolist() == [1]
