"""Peak memory of GaussianMixture.fit (fastprob vs scikit-learn), each in a fresh process.

Two starts: the registry's given initial parameters, and the default k-means
initialisation (5 EM iterations each).

The extra resident memory above what the process held just before ``fit`` is
sampled every 2 ms from /proc/self/statm while the fit runs (compile time and
the input array itself excluded).  Recorded in the benchmark's extra_info.
"""
import json
import subprocess
import sys

import pytest

_SCRIPT = r"""
import json, os, sys, threading, time, warnings
import numpy as np
from fastprob._bench.registry import comparisons

impl, name, size, init = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
case = next(c for c in comparisons(name))
args = case.inputs(size)
fn = case.implementations()[impl]
if init == "kmeans":  # the estimator's default start instead of the given one
    import fastprob, sklearn.mixture
    cls = fastprob.GaussianMixture if impl == "fastprob" else sklearn.mixture.GaussianMixture
    fn = lambda X, w, m, c: cls(len(w), random_state=0, max_iter=5, tol=0.0).fit(X)
warnings.simplefilter("ignore")
small = case.inputs("test")
fn(*small)  # compile / import everything first
page = os.sysconf("SC_PAGE_SIZE")
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * page
base = rss(); peak = [base]; done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], rss()); time.sleep(0.002)
t = threading.Thread(target=sample); t.start()
fn(*args)
done.set(); t.join(); peak[0] = max(peak[0], rss())
print(json.dumps({"extra_MB": (peak[0] - base) / 2**20, "X_MB": args[0].nbytes / 2**20}))
"""

CASE = "fit5-W2-float64"


@pytest.mark.parametrize("init", ["given", "kmeans"])
@pytest.mark.parametrize("impl", ["fastprob", "sklearn"])
def test_fit_peak_memory(benchmark, impl, init, tmp_path):
    size = "test" if benchmark.disabled else "bench"
    proc = subprocess.run([sys.executable, "-P", "-c", _SCRIPT, impl, CASE, size, init], capture_output=True,
                          text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    benchmark.group = f"memory-{CASE}"
    benchmark.extra_info.update(result, implementation=f"{impl} ({init} init)")
    benchmark.pedantic(lambda: None, rounds=1)
    assert result["X_MB"] > 0
