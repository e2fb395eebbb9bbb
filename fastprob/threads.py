"""Control how many threads fastprob's parallel kernels use."""
import contextlib
import numbers
import os

import numba

from .kernels import _threads

__all__ = ["get_num_threads", "set_num_threads"]


def get_num_threads():
    """Number of threads the parallel kernels use in the calling Python thread."""
    return _threads.get_num_threads()


class set_num_threads:
    """Set the number of threads of the parallel kernels; as a context manager, restore it afterwards.

    ``fastprob.set_num_threads(2)`` sets the count for the calling Python thread
    (the setting is per thread, as Numba's) until changed again;
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
        self.previous = _threads.get_num_threads()
        self.n = int(n)
        _threads.set_num_threads(self.n)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        _threads.set_num_threads(self.previous)
        return False

    def __repr__(self):
        return f"set_num_threads({self.n})"


_forked = {"child": False}


def _after_fork_in_child():
    _forked["child"] = True


if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


def openmp_fork_guard():
    """Context for calls into scikit-learn's OpenMP code (KMeans): one thread in a forked child.

    GNU OpenMP cannot start a parallel region in a process forked after the
    parent ran one (``multiprocessing`` with 'fork', the default start method
    on Linux before Python 3.14): scikit-learn's KMeans then waits forever on
    threads that do not exist in the child.  A GaussianMixture fitted in a
    parent and then in a fork pool's workers hung that way (reproduced); with
    OpenMP limited to one thread no parallel team is started.  Elsewhere this
    changes nothing.  (fastprob's own kernels run on Python threads, which a
    forked child makes anew: see ``kernels._threads``.)
    """
    if not _forked["child"]:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    return threadpool_limits(limits=1, user_api="openmp")
