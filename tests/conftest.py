import pytest


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(12345)


@pytest.fixture
def restore_threads():
    """Yield fastprob's thread setter and put the thread count back afterwards."""
    import fastprob

    before = fastprob.get_num_threads()
    try:
        yield fastprob.set_num_threads
    finally:
        fastprob.set_num_threads(before)
