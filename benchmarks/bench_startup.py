"""Start-up costs, each measured in fresh processes.

- ``import fastprob`` time;
- cold compile time (disk cache off) of the main kernel builds: first call minus a warm call;
- end to end, a fresh process that fits the bundled Old Faithful data with the
  on-disk compile cache warm (interpreter start, imports and exit included): as a
  script in this environment; the same with pandas hidden, as in the README's
  demo install (``.[plot]``), where scikit-learn does not import pandas (0.3 s);
  and the ``fastprob demo`` command, which also prints and plots.
"""
import json
import os
import subprocess
import sys
import time

import pytest

_COMPILE = r"""
import json, time
import numpy as np
t0 = time.perf_counter()
import fastprob
t_import = time.perf_counter() - t0
X = np.random.default_rng(0).standard_normal((200_000, 4))
mean, cov = np.zeros(4), np.eye(4)
w, means, covs = np.full(3, 1 / 3), np.random.default_rng(1).standard_normal((3, 4)), np.stack([np.eye(4)] * 3)
times = {"import_s": t_import}
from fastprob.estimator import GaussianMixture  # imports scikit-learn outside the timings
for label, call in (
    ("mvn_logpdf_f64", lambda: fastprob.mvn_logpdf(X, mean, cov)),
    ("mvn_fit_f64", lambda: fastprob.mvn_fit(X)),
    ("gmm_logpdf_f64", lambda: fastprob.gmm_logpdf(X, w, means, covs)),
    ("gmm_logpdf_f32", lambda: fastprob.gmm_logpdf(X.astype(np.float32), w, means, covs)),
    ("em_fit_f64", lambda: GaussianMixture(3, weights_init=w, means_init=means, precisions_init=covs,
                                           max_iter=2, tol=0).fit(X)),
):
    t0 = time.perf_counter(); call(); first = time.perf_counter() - t0
    t0 = time.perf_counter(); call(); warm = time.perf_counter() - t0
    times["compile_" + label + "_s"] = first - warm
print(json.dumps(times))
"""

_FAITHFUL = "import fastprob; fastprob.GaussianMixture(2, random_state=0).fit(fastprob.load_faithful())"
# scikit-learn imports pandas when it can (sklearn.utils.fixes); this finder makes
# that import fail as if pandas were not installed.
_WITHOUT_PANDAS = """
import sys
class _NoPandas:
    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _NoPandas())
"""
_DEMO = "import sys; from fastprob.cli import main; sys.argv = ['fastprob', 'demo']; sys.exit(main())"


def _run(args, tmp_path, **env):
    proc = subprocess.run([sys.executable, *args], env=dict(os.environ, **env), capture_output=True,
                          text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_cold_compile_time(benchmark, tmp_path):
    """Seconds spent compiling (first call minus a warm call) per kernel build, disk cache off."""
    times = json.loads(_run(["-W", "ignore", "-c", _COMPILE], tmp_path, FASTPROB_NUMBA_CACHE="0").splitlines()[-1])
    benchmark.group = "startup"
    benchmark.extra_info.update(times)
    benchmark.pedantic(lambda: None, rounds=1)
    assert times["import_s"] > 0


def test_fresh_process_fit_faithful_warm_cache(benchmark, tmp_path):
    """Wall time of a new Python process importing fastprob and fitting Old Faithful (cache warm)."""
    _run(["-c", _FAITHFUL], tmp_path)  # fills the on-disk cache if needed
    cases = {
        "faithful_fit_fresh_process_s": _FAITHFUL,
        "faithful_fit_fresh_process_no_pandas_s": _WITHOUT_PANDAS + _FAITHFUL,
        "demo_command_s": _DEMO,
    }
    walls = {name: [] for name in cases}
    for _ in range(1 if benchmark.disabled else 3):
        for name, code in cases.items():  # interleaved: a noisy neighbour hits all three alike
            t0 = time.perf_counter()
            out = _run(["-c", code], tmp_path)
            walls[name].append(time.perf_counter() - t0)
            if name == "demo_command_s":
                assert "BIC" in out
    benchmark.group = "startup"
    benchmark.extra_info.update({name: min(w) for name, w in walls.items()})
    benchmark.pedantic(lambda: None, rounds=1)
    assert all(min(w) > 0 for w in walls.values())
