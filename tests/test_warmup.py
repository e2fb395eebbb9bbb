"""fastprob.compile / `fastprob compile`: kernels built ahead of use, so that later processes compile nothing."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastprob
from fastprob._warmup import BuildLog, plan_jobs
from fastprob.cli import main


def test_jobs_cover_each_dtype_and_solver_once():
    jobs = plan_jobs(["float64", "float32"], range(1, 65), ["full", "tied", "diag", "spherical"])
    # d = 1..4 have their own solvers ('full'/'tied'); every other d and the diagonal
    # types share one: five jobs per dtype.
    assert len(jobs) == 10
    for dtype in ("float64", "float32"):
        mine = sorted((d, covs) for t, d, covs, missing, grouped in jobs if t == dtype and not missing)
        assert mine == [(1, ("full", "tied")), (2, ("full", "tied")), (3, ("full", "tied")), (4, ("full", "tied")),
                        (5, ("full", "tied", "diag", "spherical"))]
    # The diagonal types and every d > 4 share the blocked solver: one job, run at d = 5
    # (not at a large d the user named: the same kernels, built in a fraction of the time).
    assert plan_jobs(["float32"], [2, 3], ["diag"]) == [("float32", 5, ("diag",), False, False)]
    assert plan_jobs([float], [2, 30], ["full", "diag"]) == [("float64", 2, ("full",), False, False),
                                                           ("float64", 5, ("full", "diag"), False, False)]
    assert plan_jobs("float64", 100_000, "tied") == [("float64", 5, ("tied",), False, False)]  # single values: a list
    assert plan_jobs([np.float32, "f4", np.dtype("float32")], np.array([3, 3]), ("spherical",)) == \
        [("float32", 5, ("spherical",), False, False)]
    assert plan_jobs("float64", [2], "full", missing=True) == [("float64", 2, ("full",), True, False)]
    assert plan_jobs("float64", [2], "full", grouped=True) == [("float64", 2, ("full",), False, True)]


@pytest.mark.parametrize("args, match", [
    ((["float16"], [2], ["full"]), "dtypes must be float32 and/or float64, got 'float16'"),
    ((["float64"], [0], ["full"]), r"n_features must be numbers of features \(integers >= 1\), got 0"),
    ((["float64"], [2.7], ["full"]), r"n_features must be numbers of features \(integers >= 1\), got 2.7"),
    ((["float64"], ["3"], ["full"]), r"got '3'"),
    ((["float64"], [True], ["full"]), r"got True"),
    ((["float64"], [], ["full"]), "n_features is empty: name at least one"),
    (([], [2], ["full"]), "dtypes is empty: name at least one"),
    ((["float64"], [2], []), "covariance_types is empty: name at least one"),
    ((["float64"], [2], ["fll"]), "covariance_types must be among"),
])
def test_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        fastprob.compile(*args, processes=1, verbose=False)


@pytest.mark.parametrize("processes", [0, -1, 1.5, True, "2"])
def test_bad_process_counts(processes):
    with pytest.raises(ValueError, match="processes must be a positive integer"):
        fastprob.compile(["float64"], [2], ["full"], processes=processes, verbose=False)


def test_numpy_integers_are_integers():
    jobs = fastprob.compile("float64", np.int64(2), "spherical", processes=np.int64(3), verbose=False)
    assert [(j["dtype"], j["n_features"], j["covariance_types"]) for j in jobs] == [("float64", 5, ("spherical",))]


def test_a_failing_job_is_one_line_on_the_command_line(monkeypatch, capsys):
    from fastprob import _warmup

    def fail(*job):
        raise RuntimeError("the job float64 d=2 full failed: MemoryError: out of memory\nTraceback ...")

    monkeypatch.setattr(_warmup, "_run_job", fail)
    assert main(["compile", "--dtype", "float64", "--features", "2", "--covariance-type", "full", "-q"]) == 1
    assert capsys.readouterr().err == "fastprob: error: the job float64 d=2 full failed: MemoryError: out of memory\n"


_AFTER = """
import json, numpy as np, fastprob
from fastprob._warmup import BuildLog
rng = np.random.default_rng(1)
with BuildLog() as log:
    for d in (3, 9, 40):
        X = rng.standard_normal((3000, d))
        for cov in ("full", "diag"):
            gm = fastprob.GaussianMixture(3, covariance_type=cov, random_state=0).fit(X)
            gm.predict(X)
            fastprob.gmm_logpdf(X, gm.weights_, gm.means_, gm.covariances_, covariance_type=cov)
    fastprob.mvn_logpdf(X, np.zeros(40), np.eye(40))
print(json.dumps([name for name, _, _ in log.kernels()]))
"""


def compile_then_run(tmp_path, compile_args, after):
    """``fastprob compile *compile_args`` into an empty cache, then ``after`` in a new process with that
    cache: (the compile command's output lines, the kernels ``after`` built)."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["FASTPROB_CACHE_DIR"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-P", "-m", "fastprob", "compile", *compile_args],
                         capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    run = subprocess.run([sys.executable, "-P", "-c", after], capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    return out.stdout.splitlines(), json.loads(run.stdout.strip().splitlines()[-1])


def test_compile_then_a_new_process_builds_nothing(tmp_path):
    # Two worker processes; the report lines name each job.
    lines, built = compile_then_run(tmp_path, ["--dtype", "float64", "--features", "3,9-40", "--covariance-type",
                                               "full", "diag", "--processes", "2"], _AFTER)
    assert lines[0].startswith("fastprob: building 2 kernel sets in 2 process(es) into ")
    assert sorted(line.split(":")[0][6:] for line in lines[1:3]) == ["float64 d=3 full", "float64 d=5 full/diag"]
    assert lines[-1].startswith("done in ")
    assert built == []


def test_compile_in_this_process_reports_jobs():
    jobs = fastprob.compile(["float64"], [2], ["spherical"], processes=1, verbose=False)
    assert [(j["dtype"], j["n_features"], j["covariance_types"]) for j in jobs] == [("float64", 5, ("spherical",))]
    assert jobs[0]["seconds"] >= jobs[0]["compile_seconds"] >= 0 and jobs[0]["kernels_built"] >= 0


def test_cli_usage_errors(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compile", "--features", "0-3"])
    assert exc.value.code == 2
    assert "expected numbers of features such as 16, 1-64 or 2,5-8, got '0-3'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["compile", "--dtype", "float16"])
    assert exc.value.code == 2


def test_build_log_records_own_seconds_of_nested_builds():
    import numba

    @numba.njit
    def inner(x):
        return x + 1

    @numba.njit
    def outer(x):
        return inner(x) * 2

    with BuildLog() as log:
        assert outer(1) == 4
    names = [name for name, _, _ in log.builds]
    assert any(n.endswith("outer") for n in names) and any(n.endswith("inner") for n in names)
    assert all(seconds >= 0 for _, _, seconds in log.builds)
    assert log.kernels() == []  # neither is a fastprob kernel


def test_star_import_leaves_the_builtin_compile_alone():
    namespace = {}
    exec("from fastprob import *", namespace)
    assert "compile" not in namespace and callable(fastprob.compile) and "compile" in dir(fastprob)


_AFTER_MISSING = """
import json, numpy as np, fastprob
from fastprob._warmup import BuildLog
rng = np.random.default_rng(1)
X = rng.standard_normal((3000, 6))
X[rng.random(X.shape) < 0.2] = np.nan
with BuildLog() as log:
    gm = fastprob.GaussianMixture(3, random_state=0, missing="marginalize").fit(X)
    gm.predict(X)
    gm.impute(X, return_std=True)
    fastprob.gmm_logpdf(X, gm.weights_, gm.means_, gm.covariances_, missing="marginalize")
print(json.dumps([name for name, _, _ in log.kernels()]))
"""

_AFTER_GROUPED = """
import json, numpy as np, fastprob
from fastprob._warmup import BuildLog
X = np.random.default_rng(1).standard_normal((3000, 6))
with BuildLog() as log:
    fastprob.fit_grouped(X, np.arange(3000) % 7, 3, random_state=0)
print(json.dumps([name for name, _, _ in log.kernels()]))
"""


@pytest.mark.parametrize("option, script", [("missing", _AFTER_MISSING), ("grouped", _AFTER_GROUPED)])
def test_compile_with_an_option_builds_its_kernels(tmp_path, option, script):
    # --missing: the missing-value forms; --grouped: fit_grouped's kernels.  A new process then builds nothing.
    lines, built = compile_then_run(tmp_path, ["--dtype", "float64", "--features", "6", "--covariance-type", "full",
                                               f"--{option}", "--processes", "1"], script)
    assert lines[1].startswith(f"[1/1] float64 d=5 full +{option}: ")
    assert built == []
