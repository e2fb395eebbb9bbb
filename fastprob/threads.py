"""Control how many threads fastprob's parallel kernels use."""
import numbers

import numba

__all__ = ["get_num_threads", "set_num_threads"]


def get_num_threads():
    """Number of threads the parallel kernels use in the calling Python thread."""
    return numba.get_num_threads()


class set_num_threads:
    """Set the number of threads of the parallel kernels; as a context manager, restore it afterwards.

    ``fastprob.set_num_threads(2)`` sets the count for the calling Python thread
    (Numba keeps the setting per thread) until changed again;
    ``with fastprob.set_num_threads(1): ...`` restores the previous count on
    leaving the block, also when it raises.

    Parameters
    ----------
    n : int
        Between 1 and ``numba.config.NUMBA_NUM_THREADS`` (the number of cores,
        fixed when Numba is first imported; set the environment variable
        NUMBA_NUM_THREADS before starting Python to allow more).
    """

    def __init__(self, n):
        limit = numba.config.NUMBA_NUM_THREADS
        if isinstance(n, (bool, type(None))) or not isinstance(n, numbers.Integral):
            raise TypeError(f"n must be an integer number of threads, got {n!r}.")
        if not 1 <= n <= limit:
            raise ValueError(
                f"n must be between 1 and {limit} (NUMBA_NUM_THREADS), got {n}. "
                "To allow more threads, set the environment variable NUMBA_NUM_THREADS before starting Python."
            )
        self.previous = numba.get_num_threads()
        self.n = int(n)
        numba.set_num_threads(self.n)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        numba.set_num_threads(self.previous)
        return False

    def __repr__(self):
        return f"set_num_threads({self.n})"
