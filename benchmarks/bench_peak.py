"""The machine's matrix-multiply rate through numpy, the yardstick for the kernels' useful work rate.

Recorded in extra_info (GFLOP/s, float64 and float32) so the report can express
fastprob's log-density rate (N·K·d(d+1) flop) as a share of it, same run.
"""
import numpy as np
import pytest

from fastprob._bench.runner import gemm_rate
from fastprob.kernels.target import PLAN


def _environment():
    """Versions, thread count and the threads the kernels run on (after one parallel call)."""
    import numba
    import scipy
    import sklearn

    import fastprob

    fastprob.mvn_fit(np.random.default_rng(0).standard_normal((200_000, 2)))  # starts the thread pool
    return {"versions": f"fastprob {fastprob.__version__}, numba {numba.__version__}, numpy {np.__version__}, "
                        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}",
            "threads": fastprob.get_num_threads(), "threading_layer": "Python threads",
            "target": PLAN.describe()}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_numpy_matmul_rate(benchmark, dtype):
    rate = gemm_rate(dtype, n=256, rounds=1) if benchmark.disabled else gemm_rate(dtype)
    benchmark.group = "peak"
    benchmark.extra_info.update({f"gemm_{dtype}_gflops": rate}, **_environment())
    benchmark.pedantic(lambda: None, rounds=1)
    assert rate > 0
