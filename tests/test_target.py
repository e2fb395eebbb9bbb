"""kernels.target: the vector plan follows the target Numba compiles for, and each plan's code is its own.

On an x86-64 host the kernel correctness tests also run with code generated for
lower targets the host can execute (AVX2 as 'haswell', SSE2 as 'x86-64'), each in
a child process with its own Numba cache folder, so every vector plan is checked
numerically wherever the suite runs.
"""
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys

import llvmlite.binding as ll
import numba
import numpy as np
import pytest

from fastprob.kernels import _cache, _config
from fastprob.kernels import gaussian as G
from fastprob.kernels.target import PLAN, plan_for

X86 = platform.machine().lower() in ("x86_64", "amd64")
ROOT = pathlib.Path(__file__).resolve().parent.parent
TRIPLE = "x86_64-unknown-linux-gnu"

#: Lower targets and the host features their code needs (LLVM's names).
LOWER_TARGETS = {
    "haswell": {"avx", "avx2", "fma", "bmi", "bmi2", "lzcnt", "movbe", "f16c", "popcnt"},
    "x86-64": {"sse2"},
}
#: The tests of the kernels' numbers (the registry covers every public kernel at
#: its test size against scipy/scikit-learn/numpy references).
KERNEL_TESTS = ["test_simd.py", "test_mathfn.py", "test_mvn_logpdf.py", "test_mixture.py",
                "test_normal.py", "test_cholesky.py", "test_activations.py", "test_information.py",
                "test_fit.py", "test_registry.py", "test_missing.py", "test_selection.py", "test_grouped.py"]


def _child_env(cpu, cache_dir):
    """The environment of a child that compiles for ``cpu`` into ``cache_dir``.

    NUMBA_CPU_FEATURES must be set (empty: the CPU's own features): with the name
    alone Numba keeps the host's feature list.
    """
    env = dict(os.environ, NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES="", FASTPROB_CACHE_DIR=str(cache_dir))
    env.pop("PYTHONPATH", None)
    return env


@pytest.mark.skipif(not X86, reason="these target names are x86-64's")
@pytest.mark.parametrize("cpu, isa, width, registers, fma", [
    ("skylake-avx512", "avx512", 64, 32, True),
    ("znver4", "avx512", 64, 32, True),
    ("haswell", "avx2", 32, 16, True),
    ("znver3", "avx2", 32, 16, True),
    ("sandybridge", "avx", 32, 16, False),
    ("x86-64", "sse2", 16, 16, False),
])
def test_plan_of_named_targets(cpu, isa, width, registers, fma):
    plan = plan_for(TRIPLE, cpu, "")
    assert (plan.isa, plan.vector_bytes, plan.registers, plan.fma) == (isa, width, registers, fma)
    assert plan.lanes(8) == width // 8 and plan.lanes(4) == width // 4


@pytest.mark.parametrize("triple, cpu", [("aarch64-unknown-linux-gnu", "generic"),
                                         ("aarch64-unknown-linux-gnu", "neoverse-n1"),
                                         ("arm64-apple-darwin", "apple-m1")])
def test_plan_of_arm64_targets(triple, cpu):
    # Cross-probed: LLVM generates arm64 code here once all its targets are registered.
    ll.initialize_all_targets()
    ll.initialize_all_asmprinters()
    try:
        ll.Target.from_triple(triple)
    except RuntimeError:
        pytest.skip(f"this LLVM has no {triple} target")
    plan = plan_for(triple, cpu, "")
    assert (plan.isa, plan.vector_bytes, plan.registers, plan.fma) == ("neon", 16, 32, True)


@pytest.mark.skipif(not X86, reason="these feature names are x86-64's")
def test_features_override_the_cpu_name():
    assert plan_for(TRIPLE, "haswell", "+avx512f,+avx512vl,+avx512bw,+avx512dq").isa == "avx512"
    assert plan_for(TRIPLE, "znver4", "-avx512f").isa == "avx2"
    assert plan_for(TRIPLE, "haswell", "-fma").isa == "avx"


def test_plan_is_the_code_numba_generates():
    # The explicit-vector solver compiles to registers of the plan's width, no wider.
    fn = numba.njit(fastmath=set(_config.FASTMATH_STRICT), error_model="numpy")(
        G.blocked_centred_mahalanobis.py_func)
    fn(np.eye(8), np.ones((8, 80)), np.zeros(8), 64, np.empty(64), np.empty((G.solver_scratch_rows(8, 80), 80)))
    asm = fn.overloads[fn.signatures[0]].library.get_asm_str()
    if not X86:
        pytest.skip(f"register names checked on x86-64 only; Numba compiles for {PLAN.describe()}")
    widest = "zmm" if "zmm" in asm else "ymm" if "ymm" in asm else "xmm"  # (LLVM may use narrower ones too)
    assert widest == {64: "zmm", 32: "ymm", 16: "xmm"}[PLAN.vector_bytes], PLAN.describe()


_REPORT = """
import json, sys
from fastprob.kernels import gaussian as G
from fastprob.kernels.target import PLAN
import numpy as np
rng = np.random.default_rng(7)
A = rng.standard_normal((16, 16))
L = np.linalg.cholesky(A @ A.T + 16 * np.eye(16))
mu = rng.standard_normal(16) * 100
C = mu[:, None] + rng.standard_normal((16, 53))
fn = G.blocked_centred_mahalanobis
maha = np.empty(37)  # full steps, single vectors and a masked remainder on every plan
fn(L, C, mu, 37, maha, np.empty((G.solver_scratch_rows(16, 53), 53)))
asm = fn.inspect_asm(fn.signatures[0])
print(json.dumps(dict(isa=PLAN.isa, fma=PLAN.fma, hits=sum(fn.stats.cache_hits.values()),
                      misses=sum(fn.stats.cache_misses.values()), zmm="zmm" in asm, ymm="ymm" in asm,
                      maha=maha.tolist())))
"""


def _report(folder, **env):
    """Run _REPORT in a child with the cache on in ``folder``; the host target unless ``env`` names one."""
    base = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES")}
    out = subprocess.run([sys.executable, "-P", "-c", _REPORT], capture_output=True, text=True, cwd=folder,
                         env=dict(base, FASTPROB_CACHE_DIR=str(folder / "cache"), FASTPROB_NUMBA_CACHE="1", **env))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not X86, reason="the lower target 'x86-64' is x86-64's")
def test_forced_target_neither_reuses_nor_poisons_the_cache(tmp_path):
    # One cache folder shared by a host run, a forced SSE2 run and a second host run:
    # the forced run compiles its own code (no 256/512-bit registers), and the host
    # run after it loads the host's code again (cache-loaded code has no assembly to inspect).
    host = _report(tmp_path)
    forced = _report(tmp_path, NUMBA_CPU_NAME="x86-64", NUMBA_CPU_FEATURES="")
    again = _report(tmp_path)
    assert host["misses"] == 1 and host["hits"] == 0
    assert forced["isa"] == "sse2" and forced["misses"] == 1 and forced["hits"] == 0
    assert not forced["zmm"] and not forced["ymm"]
    assert again["hits"] == 1 and again["misses"] == 0 and again["isa"] == host["isa"]
    assert again["maha"] == host["maha"]
    # Without FMA each multiply-add rounds twice: a few ulps, not more.
    np.testing.assert_allclose(forced["maha"], host["maha"], rtol=1e-13)


@pytest.mark.skipif(not X86, reason="the lower target 'haswell' is x86-64's")
def test_plans_with_fma_give_identical_numbers(tmp_path):
    # Lanes are independent and every lane does the same operations whatever the
    # vector width: the AVX2 plan's numbers are the host plan's, bit for bit.
    reason = _lower_target_skip("haswell")
    if reason and "own plan" not in reason:
        pytest.skip(reason)
    host = _report(tmp_path)
    avx2 = _report(tmp_path, NUMBA_CPU_NAME="haswell", NUMBA_CPU_FEATURES="")
    assert avx2["isa"] == "avx2" and avx2["ymm"] and not avx2["zmm"]
    if not host["fma"]:
        pytest.skip(f"the host plan ({host['isa']}) has no FMA")
    assert avx2["maha"] == host["maha"]


def _host_features():
    try:
        return {k for k, on in ll.get_host_cpu_features().items() if on}
    except RuntimeError:
        return set()


def _lower_target_skip(cpu):
    """Why the kernel tests cannot or need not run for ``cpu`` here (None: run them)."""
    if not X86:
        return f"{cpu} is an x86-64 target; this host is {platform.machine()}"
    missing = LOWER_TARGETS[cpu] - _host_features()
    if missing:
        return f"this CPU cannot run {cpu} code: it lacks {', '.join(sorted(missing))}"
    plan = plan_for(ll.get_process_triple(), cpu, "")
    if (plan.isa, plan.vector_bytes) == (PLAN.isa, PLAN.vector_bytes) and not PLAN.forced:
        return f"{cpu} ({plan.isa}) is the host's own plan, tested by the main run"
    return None


@pytest.mark.parametrize("cpu", list(LOWER_TARGETS))
def test_kernels_under_a_lower_target(cpu, request, tmp_path_factory):
    reason = _lower_target_skip(cpu)
    if reason:
        pytest.skip(reason)
    # A cache folder of its own per target, never the kernels' normal cache: kept
    # between local runs in pytest's cache folder (else a temporary one).  Inside
    # it the kernels pick a sub-folder by their sources' digest, so an edited
    # kernel never loads stale code; older sub-folders are removed here.
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        folder = cache.mkdir(f"numba-{cpu}")
        current = f"{numba.__version__}-{_cache.sources_digest()[:16]}"
        for stale in folder.glob("*-*"):
            if stale.name != current:
                shutil.rmtree(stale, ignore_errors=True)
    else:
        folder = tmp_path_factory.mktemp(f"numba-{cpu}")
    tests = [str(ROOT / "tests" / name) for name in KERNEL_TESTS]
    # -P: import fastprob as this process does (installed), not from the working directory.
    proc = subprocess.run([sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
                          capture_output=True, text=True, cwd=ROOT, env=_child_env(cpu, folder))
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0, f"kernel tests compiled for {cpu} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
    assert " passed" in summary and "failed" not in summary, summary
