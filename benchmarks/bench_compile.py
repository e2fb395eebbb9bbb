"""Cold compile time of the kernels, measured in a fresh process with the disk cache off."""
import json
import os
import subprocess
import sys

import pytest

_SCRIPT = r"""
import json, time
import numpy as np
t0 = time.perf_counter()
import fastprob
t_import = time.perf_counter() - t0
X = np.random.default_rng(0).standard_normal((200_000, 4))
mean, cov = np.zeros(4), np.eye(4)
times = {"import_s": t_import}
for label, call in (
    ("mvn_logpdf_f64_parallel", lambda: fastprob.mvn_logpdf(X, mean, cov)),
    ("mvn_logpdf_f32_parallel", lambda: fastprob.mvn_logpdf(X.astype(np.float32), mean, cov)),
    ("mvn_fit_f64_parallel", lambda: fastprob.mvn_fit(X)),
):
    t0 = time.perf_counter(); call(); first = time.perf_counter() - t0
    t0 = time.perf_counter(); call(); warm = time.perf_counter() - t0
    times[label] = first - warm
print(json.dumps(times))
"""


@pytest.mark.parametrize("cache", ["off"])
def test_cold_compile_time(benchmark, cache, tmp_path):
    """Records seconds spent compiling (first call minus a warm call) per kernel build."""
    env = dict(os.environ, FASTPROB_NUMBA_CACHE="0")
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True,
                          text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    times = json.loads(proc.stdout.strip().splitlines()[-1])
    benchmark.group = "compile"
    benchmark.extra_info.update(times)
    benchmark.pedantic(lambda: None, rounds=1)
    assert set(times) >= {"import_s", "mvn_logpdf_f64_parallel"}
