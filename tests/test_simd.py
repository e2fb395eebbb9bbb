"""kernels.simd and the explicit-vector Mahalanobis solvers built on it (kernels.gaussian)."""
import re
import subprocess
import sys

import numba
import numpy as np
import pytest
from numba.core.errors import TypingError

from fastprob.kernels import _config
from fastprob.kernels import gaussian as G
from fastprob.kernels import simd
from fastprob.kernels.target import PLAN

DTYPES = (np.float32, np.float64)


@numba.njit
def _ops(A, a, b, out, n):
    # out[r] = (A[0, r] * A[0, r] + A[1, r] - a * A[0, r]) - b, vector by vector
    W = simd.VECTOR_BYTES // A.itemsize
    full = n - n % W
    for r in range(0, full, W):
        v = simd.load(A, 0, r)
        w = simd.fmadd(v, v, simd.load(A, 1, r))
        simd.store(out, r, simd.sub(simd.fnmadd(simd.splat(a), v, w), simd.splat(b)))
    if full < n:
        v = simd.load_first(A, 0, full, n - full)
        w = simd.fmadd(v, v, simd.load_first(A, 1, full, n - full))
        simd.store_first(out, full, simd.sub(simd.fnmadd(simd.splat(a), v, w), simd.splat(b)), n - full)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 7, 8, 15, 16, 17, 40])
def test_operations_match_numpy_and_touch_only_n_elements(dtype, n):
    rng = np.random.default_rng(n)
    A = rng.standard_normal((2, n)).astype(dtype)
    a, b = dtype(0.75), dtype(-1.5)
    out = np.full(n + 5, -3.0, dtype)
    _ops(A, a, b, out[:n], n)
    v, c = A[0].astype(np.float64), A[1].astype(np.float64)
    expected = (v * v + c - 0.75 * v) + 1.5
    scale = (np.abs(v * v) + np.abs(c) + np.abs(0.75 * v) + 1.5).max()
    np.testing.assert_allclose(out[:n], expected, rtol=0, atol=4 * np.finfo(dtype).eps * scale)
    assert np.all(out[n:] == -3.0)  # the masked store wrote nothing past n


_PAGE_EDGE = """
import ctypes, mmap, numba, numpy as np
from fastprob.kernels import simd
page = mmap.PAGESIZE
buf = mmap.mmap(-1, 2 * page)
base = np.frombuffer(buf, np.uint8).ctypes.data
libc = ctypes.CDLL(None)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
W = simd.VECTOR_BYTES // 8
n = W - 1
A = np.frombuffer(buf, np.float64)[page // 8 - n:page // 8].reshape(1, n)  # ends at the page boundary
A[0] = np.arange(1, n + 1)
assert libc.mprotect(base + page, page, 0) == 0  # the next page: no access

@numba.njit
def first(A, n):
    out = np.zeros(W)
    simd.store(out, 0, simd.load_first(A, 0, 0, n))
    return out

print(first(A, n).tolist())
"""


def test_masked_load_reads_nothing_past_n():
    # An unmasked W-lane load of the last W - 1 doubles before an inaccessible
    # page would fault; in a subprocess, so that a fault fails this test only
    # (it inherits this process's NUMBA_CPU_NAME/FEATURES, hence its plan).
    proc = subprocess.run([sys.executable, "-P", "-c", _PAGE_EDGE], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    W = simd.VECTOR_BYTES // 8
    assert proc.stdout.strip() == str([float(i) for i in range(1, W)] + [0.0])


def test_typing_errors_name_the_problem():
    @numba.njit
    def strided(A):
        return simd.load(A[:, ::2], 0, 0)

    with pytest.raises(TypingError, match="C-contiguous 2-d array"):
        strided(np.ones((2, 32)))

    @numba.njit
    def mixed(x, y):
        return simd.sub(simd.splat(x), simd.splat(y))

    with pytest.raises(TypingError, match="two Vectors of one dtype"):
        mixed(np.float32(1), 1.0)


def _reference(L, C, mu, nt):
    z = np.linalg.solve(L.astype(np.float64), C[:, :nt].astype(np.float64) - mu[:, None])
    return np.sum(z * z, axis=0)


@pytest.mark.parametrize("dtype, centre", [(np.float64, "centred"), (np.float32, "split")])
@pytest.mark.parametrize("d", [1, 5, 6, 8, 9, 13, 16, 17, 23, 64])
def test_blocked_solver_matches_the_reference(dtype, centre, d):
    rng = np.random.default_rng(d)
    solve = getattr(G, f"blocked_{centre}_mahalanobis")
    A = rng.standard_normal((d, d))
    L = np.linalg.cholesky(A @ A.T + d * np.eye(d)).astype(dtype)
    mu = rng.standard_normal(d) * 1e4  # far from zero: the split mean keeps float32 exact
    for nt in (1, 5, 16, 17, 100, 512):
        C = (mu[:, None] + rng.standard_normal((d, nt + 16))).astype(dtype)
        C[:, nt:] = np.nan  # padding of the tile: must not matter
        maha = np.full(nt + 4, -1.0, dtype)
        S = np.full((G.solver_scratch_rows(d, nt + 16), nt + 16), np.nan, dtype)
        solve(L, C, mu, nt, maha[:nt], S)
        ref = _reference(L, C, mu, nt)
        rtol = 2e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(maha[:nt], ref, rtol=rtol)
        assert np.all(maha[nt:] == -1.0)


def test_blocked_solver_is_the_one_the_mixture_kernels_use_and_matches_scipy():
    from scipy.stats import multivariate_normal

    import fastprob

    rng = np.random.default_rng(3)
    d, K = 16, 3
    means = rng.standard_normal((K, d)) * 3
    A = rng.standard_normal((K, d, d))
    covs = A @ A.transpose(0, 2, 1) + d * np.eye(d)
    w = np.array([0.2, 0.3, 0.5])
    X = rng.standard_normal((1001, d)) * 3  # not a multiple of the vector width
    ref = np.log(sum(w[k] * multivariate_normal(means[k], covs[k]).pdf(X) for k in range(K)))
    np.testing.assert_allclose(fastprob.gmm_logpdf(X, w, means, covs), ref, rtol=1e-12)
    np.testing.assert_allclose(fastprob.gmm_logpdf(X.astype(np.float32), w, means, covs), ref, rtol=2e-6)
    assert G.solver_token(d).ndim == 1  # the blocked solver


def _blocks(asm):
    blocks, label = {}, None
    for line in asm.splitlines():
        if re.match(r"^\.?\w[\w.]*:", line):
            label = line.split(":")[0]
            blocks.setdefault(label, [])
        elif line.startswith("\t") and label and not line.strip().startswith("."):
            blocks[label].append(line.strip())
    return blocks


@pytest.mark.skipif(PLAN.isa not in ("avx512", "avx2"),
                    reason=f"checks x86-64 code with FMA (AVX2 or AVX-512); Numba compiles for {PLAN.describe()}")
@pytest.mark.parametrize("dtype, centre", [(np.float64, "centred"), (np.float32, "split")])
def test_blocked_solver_inner_loop_is_register_blocked(dtype, centre):
    # The point of the blocked solver: its inner loop over the finished coordinates
    # keeps the 4 x R block of accumulators in registers; per coordinate j it loads
    # R vectors of z_j and broadcasts 4 factor entries for 4R multiply-adds, and
    # moves no vector to or from the stack.  R and the vector width come from the target's plan.
    fn = numba.njit(fastmath=set(_config.FASTMATH_STRICT), error_model="numpy")(
        getattr(G, f"blocked_{centre}_mahalanobis").py_func)
    d, width = 16, 80
    S = np.empty((G.solver_scratch_rows(d, width), width), dtype)
    fn(np.eye(d, dtype=dtype), np.ones((d, width), dtype), np.zeros(d), 64, np.empty(64, dtype), S)
    asm = fn.overloads[fn.signatures[0]].library.get_asm_str()
    register = {64: "zmm", 32: "ymm"}[PLAN.vector_bytes]
    assert register == "zmm" or "zmm" not in asm, "vectors wider than the plan's"
    R = G.BLOCK_VECTORS

    def shape(ins):
        """(multiply-adds, broadcast factor entries, vector loads) of a loop block."""
        fmas = [i for i in ins if i.startswith("vfnmadd")]
        broadcasts = [i for i in ins if re.match(r"vbroadcasts[sd]\s", i)]
        folded = {re.search(r"\S+\{1to\d+\}", i).group() for i in fmas if "{1to" in i}
        loads = [i for i in ins if re.match(rf"vmov\w+\s+-?\w*\([^)]*\), %{register}", i)]
        return len(fmas), len(broadcasts) + len(folded), len(loads)

    def loop_body(ins):  # up to the first jump: what follows it runs once per loop
        jumps = [k for k, i in enumerate(ins) if i.startswith("j")]
        return ins[:jumps[0] + 1] if jumps else ins

    # Inner loops: blocks whose only vector arithmetic is the multiply-adds (one per
    # block height, 4 and the d % 4 remainder, times the R-vector and 1-vector steps).
    inner = [body for body in map(loop_body, _blocks(asm).values())
             if any(i.startswith("vfnmadd") for i in body) and not any(i.startswith(("vmul", "vsub", "vfmadd"))
                                                                       for i in body)]
    assert inner
    for ins in inner:
        assert not any("(%rsp)" in i and "mm" in i for i in ins), f"an inner loop spills vectors: {ins}"
    # The full-height one of the R-vector step, unrolled u times by LLVM.
    full = [ins for ins in inner if (lambda f, b, l: f > 0 and f % (4 * R) == 0
                                     and (b, l) == (f // R, R * f // (4 * R)))(*shape(ins))]
    assert full, [shape(ins) for ins in inner]

