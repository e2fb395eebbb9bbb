"""Start-up costs, each measured in fresh processes: empty kernel cache vs warm cache.

For each headline call a new Python process runs it twice over: once with an
empty kernel cache (``FASTPROB_CACHE_DIR`` pointing at a new folder: every
kernel is compiled, as on a new machine, in CI or in a new container) and once
with that cache warm.  The cold run also records every Numba compilation (which
kernel, for which argument types, its own seconds), so that a change to the
kernels shows where compile time went.

Run ``python benchmarks/bench_startup.py`` for the report (tables on stdout,
about two minutes); under pytest the same measurements run once each and are
stored in pytest-benchmark's ``extra_info``.
"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

#: Prologue of every measured process: records compilations (fastprob._warmup.BuildLog)
#: and prints them with the wall time as JSON on the last line.
_PROLOGUE = """
import json as _json, time as _time
_t0 = _time.perf_counter()
from fastprob._warmup import BuildLog as _BuildLog
_log = _BuildLog().__enter__()
"""
_EPILOGUE = """
_log.__exit__(None, None, None)
print(_json.dumps({"seconds": _time.perf_counter() - _t0,
                   "builds": [[n, ", ".join(map(str, a)), s] for n, a, s in _log.builds]}))
"""

#: name -> (what it measures, code).  Data is made before the timer would matter
#: little: generating it takes milliseconds.
CASES = {
    "import": ("import fastprob", "import fastprob"),
    "demo": ("`fastprob demo` (prints and writes faithful.png)",
             "import sys; from fastprob.cli import main\nsys.argv = ['fastprob', 'demo']\nmain()"),
    "fit_10k_x4": ("GaussianMixture(3).fit on 10 000 x 4 float64",
                   "import numpy as np, fastprob\n"
                   "X = np.random.default_rng(0).standard_normal((10_000, 4))\n"
                   "fastprob.GaussianMixture(3, random_state=0).fit(X)"),
    "gmm_logpdf_d16": ("first gmm_logpdf, 100 000 x 16, K = 4, float64",
                       "import numpy as np, fastprob\n"
                       "rng = np.random.default_rng(0)\n"
                       "X = rng.standard_normal((100_000, 16))\n"
                       "fastprob.gmm_logpdf(X, np.full(4, 0.25), rng.standard_normal((4, 16)), np.stack([np.eye(16)] * 4))"),
    "mvn_logpdf_d16_f32": ("first mvn_logpdf, 100 000 x 16 float32",
                           "import numpy as np, fastprob\n"
                           "X = np.random.default_rng(0).standard_normal((100_000, 16)).astype(np.float32)\n"
                           "fastprob.mvn_logpdf(X, np.zeros(16), np.eye(16))"),
}

#: After the demo (d = 2) filled the cache: fits at other numbers of features.
NEW_D = (1, 3, 7, 13, 30, 64)
_FIT_AT_D = ("import numpy as np, fastprob\n"
             "X = np.random.default_rng(0).standard_normal((5_000, {d}))\n"
             "fastprob.GaussianMixture(3, random_state=0).fit(X)")


def run_case(code, cache, extra_env=None):
    """Run ``code`` in a fresh interpreter using the kernel cache folder ``cache``; return its JSON record."""
    env = dict(os.environ, FASTPROB_CACHE_DIR=str(cache), MPLBACKEND="Agg", **(extra_env or {}))
    env.pop("NUMBA_CACHE_DIR", None)
    with tempfile.TemporaryDirectory() as cwd:  # the demo writes faithful.png here
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-P", "-W", "ignore", "-c", _PROLOGUE + code + _EPILOGUE],
                              capture_output=True, text=True, cwd=cwd, env=env)
        wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout.splitlines()[-1])
    record["wall"] = wall
    return record


def kernel_table(builds, top=12):
    """Own compile seconds per fastprob kernel (all its argument types together), largest first."""
    per = {}
    for name, _args, seconds in builds:
        key = name.removeprefix("fastprob.kernels.") if name.startswith("fastprob.kernels.") else "numba library code"
        n, s = per.get(key, (0, 0.0))
        per[key] = (n + 1, s + seconds)
    return sorted(per.items(), key=lambda kv: -kv[1][1])[:top]


def measure_cold_and_warm(cases=CASES, warm_rounds=3):
    """{case: {cold_wall, cold_compile, warm_wall, builds}}, each case with its own empty cache."""
    results = {}
    for name, (_what, code) in cases.items():
        with tempfile.TemporaryDirectory() as cache:
            cold = run_case(code, cache)
            warm = min(run_case(code, cache)["wall"] for _ in range(warm_rounds))
        results[name] = {"cold_wall": cold["wall"], "cold_compile": sum(b[2] for b in cold["builds"]),
                         "warm_wall": warm, "builds": cold["builds"]}
    return results


def measure_new_d(ds=NEW_D):
    """After the demo filled a cache: a fit at each other d in a fresh process, its wall time and builds."""
    results = {}
    with tempfile.TemporaryDirectory() as cache:
        run_case(CASES["demo"][1], cache)
        for d in ds:
            rec = run_case(_FIT_AT_D.format(d=d), cache)
            mine = [b for b in rec["builds"] if b[0].startswith("fastprob.kernels.")]
            results[d] = {"wall": rec["wall"], "compile": sum(b[2] for b in rec["builds"]),
                          "kernels": sorted({b[0].removeprefix("fastprob.kernels.") for b in mine})}
    return results


def measure_compile_command(args, processes=None):
    """Wall time of ``fastprob compile ARGS`` into an empty cache, and of the first fit afterwards."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, FASTPROB_CACHE_DIR=cache)
        cmd = [sys.executable, "-P", "-m", "fastprob", "compile", "--quiet", *args]
        if processes:
            cmd += ["--processes", str(processes)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        assert proc.returncode == 0, proc.stderr[-3000:]
        after = run_case(_FIT_AT_D.format(d=13), cache)
    return {"wall": wall, "fit_after_wall": after["wall"], "fit_after_compile": sum(b[2] for b in after["builds"])}


# ----------------------------------------------------------------------------- pytest


def test_cold_and_warm_start(benchmark):
    cases = CASES if not benchmark.disabled else {k: CASES[k] for k in ("import", "fit_10k_x4")}
    results = measure_cold_and_warm(cases, warm_rounds=1 if benchmark.disabled else 3)
    benchmark.group = "startup"
    for name, r in results.items():
        benchmark.extra_info[f"{name}_cold_s"] = r["cold_wall"]
        benchmark.extra_info[f"{name}_cold_compile_s"] = r["cold_compile"]
        benchmark.extra_info[f"{name}_warm_s"] = r["warm_wall"]
    benchmark.pedantic(lambda: None, rounds=1)
    # A warm cache compiles nothing of fastprob's: the second process loads every kernel.
    for name, r in results.items():
        assert r["warm_wall"] < r["cold_wall"] or name == "import", name
    fit = results["fit_10k_x4"]
    assert "fastprob.kernels.mixture.em_step" in {b[0] for b in fit["builds"]}


def test_new_number_of_features_compiles_a_bounded_set(benchmark):
    ds = NEW_D if not benchmark.disabled else (3, 7, 13)
    results = measure_new_d(ds)
    benchmark.group = "startup"
    benchmark.extra_info.update({f"fit_d{d}_after_demo_s": r["wall"] for d, r in results.items()})
    benchmark.pedantic(lambda: None, rounds=1)
    blocked = [d for d in ds if d > 4]
    # The first d > 4 builds the blocked-solver kernels; every later d > 4 builds nothing new.
    for d in blocked[1:]:
        assert results[d]["kernels"] == [], (d, results[d]["kernels"])
    # ... and any new d builds only the two row kernels and what they call for its solver.
    for d in ds:
        assert len(results[d]["kernels"]) <= 16, (d, results[d]["kernels"])


def test_compile_command(benchmark):
    args = ["--dtype", "float64", "--features", "2", "--covariance-type", "full"]
    if not benchmark.disabled:
        args = []  # float32 + float64, d = 1..64, all covariance types
    r = measure_compile_command(args)
    benchmark.group = "startup"
    benchmark.extra_info.update({"compile_command_s": r["wall"], "fit_d13_after_s": r["fit_after_wall"]})
    benchmark.pedantic(lambda: None, rounds=1)
    assert r["wall"] > 0


# ----------------------------------------------------------------------------- report


def main():
    from fastprob._bench.runner import cpu_model
    from fastprob.kernels.target import PLAN

    print(f"# start-up, {cpu_model()}, {os.cpu_count()} CPUs, kernels compiled for {PLAN.describe()}\n")
    results = measure_cold_and_warm()
    print("| call | empty cache (s) | of which compiling (s) | warm cache (s) |\n|---|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {CASES[name][0]} | {r['cold_wall']:.2f} | {r['cold_compile']:.2f} | {r['warm_wall']:.2f} |")
    for name in ("demo", "fit_10k_x4", "gmm_logpdf_d16"):
        print(f"\n## compile time per kernel, {CASES[name][0]}, empty cache\n")
        print("| kernel | builds | own seconds |\n|---|---:|---:|")
        for kernel, (n, s) in kernel_table(results[name]["builds"]):
            print(f"| {kernel} | {n} | {s:.2f} |")
    print("\n## a fit at a new number of features, fresh process, after `fastprob demo` (d = 2) filled the cache\n")
    print("| d | wall (s) | compiling (s) | kernels built |\n|---:|---:|---:|---|")
    for d, r in measure_new_d().items():
        print(f"| {d} | {r['wall']:.2f} | {r['compile']:.2f} | {', '.join(r['kernels']) or '-'} |")
    r = measure_compile_command([])
    print(f"\n`fastprob compile` (float32 + float64, d = 1..64, all covariance types), empty cache: "
          f"{r['wall']:.1f} s; a fit at d = 13 afterwards, fresh process: {r['fit_after_wall']:.2f} s "
          f"({r['fit_after_compile']:.2f} s compiling)")


if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
    main()
