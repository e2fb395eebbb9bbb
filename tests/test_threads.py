"""fastprob.set_num_threads: setter and context manager."""
import numpy as np
import pytest

import fastprob


def test_context_manager_restores_even_on_error():
    before = fastprob.get_num_threads()
    with fastprob.set_num_threads(1):
        assert fastprob.get_num_threads() == 1
    assert fastprob.get_num_threads() == before
    with pytest.raises(RuntimeError, match="boom"):
        with fastprob.set_num_threads(1):
            raise RuntimeError("boom")
    assert fastprob.get_num_threads() == before


def test_plain_call_sets_the_count():
    before = fastprob.get_num_threads()
    try:
        fastprob.set_num_threads(1)
        assert fastprob.get_num_threads() == 1
        X = np.random.default_rng(0).standard_normal((50_000, 3))
        one = fastprob.mvn_fit(X)
    finally:
        fastprob.set_num_threads(before)
    np.testing.assert_array_equal(fastprob.mvn_fit(X)[1], one[1])


@pytest.mark.parametrize("n, exc, match", [
    (0, ValueError, r"n must be between 1 and \d+ \(NUMBA_NUM_THREADS\), got 0"),
    (10**6, ValueError, r"set the environment variable NUMBA_NUM_THREADS"),
    (1.5, TypeError, r"n must be an integer number of threads, got 1.5"),
    (True, TypeError, r"n must be an integer"),
])
def test_bad_counts(n, exc, match):
    before = fastprob.get_num_threads()
    with pytest.raises(exc, match=match):
        fastprob.set_num_threads(n)
    assert fastprob.get_num_threads() == before
