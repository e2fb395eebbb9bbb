"""The machine's matrix-multiply rate through numpy, the yardstick for the kernels' useful work rate.

Recorded in extra_info (GFLOP/s, float64 and float32) so the report can express
fastprob's log-density rate (N·K·d(d+1) flop) as a share of it, same run.
"""
import time

import numpy as np
import pytest


def _environment():
    """Versions, thread count and the threading layer Numba picked (after one parallel call)."""
    import numba
    import scipy
    import sklearn

    import fastprob

    fastprob.mvn_fit(np.random.default_rng(0).standard_normal((200_000, 2)))  # starts the thread pool
    return {"versions": f"fastprob {fastprob.__version__}, numba {numba.__version__}, numpy {np.__version__}, "
                        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}",
            "threads": numba.get_num_threads(), "threading_layer": numba.threading_layer()}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_numpy_matmul_rate(benchmark, dtype):
    n = 256 if benchmark.disabled else 2048
    rng = np.random.default_rng(0)
    A, B = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    A @ B
    best = np.inf
    for _ in range(1 if benchmark.disabled else 5):
        t0 = time.perf_counter()
        A @ B
        best = min(best, time.perf_counter() - t0)
    benchmark.group = "peak"
    benchmark.extra_info.update({f"gemm_{dtype}_gflops": 2 * n**3 / best / 1e9}, **_environment())
    benchmark.pedantic(lambda: None, rounds=1)
    assert best > 0
