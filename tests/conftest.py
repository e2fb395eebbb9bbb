import numba
import pytest


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(12345)


@pytest.fixture
def restore_threads():
    """Yield numba's thread setter and put the thread count back afterwards."""
    before = numba.get_num_threads()
    try:
        yield numba.set_num_threads
    finally:
        numba.set_num_threads(before)
