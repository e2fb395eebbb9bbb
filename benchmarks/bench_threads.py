"""Thread scaling of the mixture kernels: the W2 registry comparisons on 1, 2, 4, ... threads.

Thread counts are the powers of two up to the cores Numba sees (and that count
itself), so the same file measures 1 → 2 on a laptop and 1 → 16 on a larger
machine.  ``python benchmarks/table.py FILE`` reports each count's speed-up over
one thread.  Inputs come from the same registry entries the tests check.
"""
import numba
import numpy as np
import pytest

from fastprob import set_num_threads
from fastprob._bench.registry import REGISTRY

NAMES = ("gmm_logpdf-W2-float64", "em_iteration-W2-float64", "gmm_logpdf-W2-float32")
_MAX = numba.config.NUMBA_NUM_THREADS
THREADS = sorted({*(2**i for i in range(_MAX.bit_length()) if 2**i <= _MAX), _MAX})
_BY_NAME = {c.name: c for c in REGISTRY}
_INPUTS = {}


def _inputs(comparison, size):
    """One input set per comparison and size, shared by every thread count (generation is slow)."""
    key = (comparison.name, size)
    if key not in _INPUTS:
        _INPUTS.clear()  # keep one W2 input (122 MB) alive at a time
        _INPUTS[key] = comparison.inputs(size)
    return _INPUTS[key]


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("name", NAMES)
def test_thread_scaling(benchmark, name, threads):
    comparison = _BY_NAME[name]
    size = "test" if benchmark.disabled else "bench"
    args = _inputs(comparison, size)
    benchmark.group = f"threads-{name}"
    benchmark.extra_info.update(n=comparison.sizes[size], threads=threads, implementation=f"{threads} threads")
    with set_num_threads(threads):
        result = comparison.fastprob(*args)  # compile / load from cache, touch pages
        benchmark.pedantic(comparison.fastprob, args=args, rounds=1 if benchmark.disabled else 5, warmup_rounds=0)
    with set_num_threads(1):
        single = comparison.fastprob(*args)
    # Bit-for-bit the same on any thread count (block boundaries depend on the data shape only).
    for a, b in zip(_as_tuple(result), _as_tuple(single), strict=True):
        np.testing.assert_array_equal(a, b)


def _as_tuple(result):
    """The outputs of an implementation: a tuple of arrays, or one array."""
    return result if isinstance(result, tuple) else (result,)
