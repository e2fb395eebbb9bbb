"""fastprob.mvn_sample: distribution, reproducibility, dtypes and errors."""
import numpy as np
import pytest
import scipy.stats as st

import fastprob
from reference import random_spd


def test_sample_moments_and_distribution(rng):
    d = 3
    mean = np.array([1.0, -2.0, 10.0])
    cov = random_spd(d, rng)
    X = fastprob.mvn_sample(mean, cov, 200_000, random_state=1)
    assert X.shape == (200_000, d) and X.dtype == np.float64
    m, c = fastprob.mvn_fit(X)
    se = np.sqrt(np.diag(cov) / len(X))
    assert np.all(np.abs(m - mean) < 5 * se)
    np.testing.assert_allclose(c, cov, atol=0.03 * np.abs(cov).max())
    # Whitened samples are standard normal in every coordinate (Kolmogorov-Smirnov).
    Z = np.linalg.solve(np.linalg.cholesky(cov), (X - mean).T)
    for z in Z:
        assert st.kstest(z[:20_000], "norm").pvalue > 1e-4


def test_reproducible_and_generator_kinds(rng):
    mean, cov = np.zeros(2), np.eye(2)
    a = fastprob.mvn_sample(mean, cov, 5, random_state=42)
    np.testing.assert_array_equal(a, fastprob.mvn_sample(mean, cov, 5, random_state=42))
    np.testing.assert_array_equal(a, fastprob.mvn_sample(mean, cov, 5, random_state=np.random.default_rng(42)))
    b = fastprob.mvn_sample(mean, cov, 5, random_state=np.random.RandomState(0))
    assert b.shape == (5, 2) and not np.array_equal(a, b)
    assert fastprob.mvn_sample(mean, cov, 0).shape == (0, 2)


def test_factors_and_float32(rng):
    cov = random_spd(2, rng)
    f = fastprob.cholesky(cov)
    np.testing.assert_array_equal(fastprob.mvn_sample([0, 1], f, 10, random_state=3),
                                  fastprob.mvn_sample([0, 1], cov, 10, random_state=3))
    X32 = fastprob.mvn_sample(np.zeros(2, np.float32), cov.astype(np.float32), 10, random_state=3)
    assert X32.dtype == np.float32


@pytest.mark.parametrize("args, exc, match", [
    ((np.zeros(2), np.eye(2), -1), ValueError, r"n must be >= 0, got -1"),
    ((np.zeros(2), np.eye(2), 2.5), TypeError, r"n must be an integer, got 2.5"),
    ((np.zeros(3), np.eye(2), 4), ValueError, r"mean has shape \(3,\) but cov has shape \(2, 2\)"),
    ((np.zeros(2), np.stack([np.eye(2)] * 2), 4), ValueError, r"draws from one Gaussian"),
    ((np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]), 4), ValueError, r"not positive definite"),
])
def test_errors(args, exc, match):
    with pytest.raises(exc, match=match):
        fastprob.mvn_sample(*args)


def test_bad_random_state():
    with pytest.raises(ValueError, match=r"random_state must be None, an int seed"):
        fastprob.mvn_sample(np.zeros(2), np.eye(2), 3, random_state="seed")
