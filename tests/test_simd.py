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
    proc = subprocess.run([sys.executable, "-c", _PAGE_EDGE], capture_output=True, text=True)
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
@pytest.mark.parametrize("d", [6, 8, 9, 12, 13, 16])
def test_simd_solvers_match_the_reference(dtype, centre, d):
    rng = np.random.default_rng(d)
    D = next(w for w in G.UNROLLED_WIDTHS if d <= w)
    assert D in G.SIMD_WIDTHS
    solve = getattr(G, f"simd_{centre}_mahalanobis_{D}")
    A = rng.standard_normal((d, d))
    L = np.linalg.cholesky(A @ A.T + d * np.eye(d)).astype(dtype)
    mu = rng.standard_normal(d) * 1e4  # far from zero: the split mean keeps float32 exact
    for nt in (1, 5, 16, 17, 100, 512):
        C = (mu[:, None] + rng.standard_normal((d, nt + 16))).astype(dtype)
        C[:, nt:] = np.nan  # padding of the tile: must not matter
        maha = np.full(nt + 4, -1.0, dtype)
        S = np.empty((d, nt + 16), dtype)
        assert S.size >= G.simd_scratch_size(D)
        solve(L, C, mu, nt, maha[:nt], S)
        ref = _reference(L, C, mu, nt)
        rtol = 2e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(maha[:nt], ref, rtol=rtol)
        assert np.all(maha[nt:] == -1.0)


def test_simd_solver_is_the_one_the_mixture_kernels_use_and_matches_scipy():
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
    for D in G.SIMD_WIDTHS:
        assert not hasattr(G, f"centred_mahalanobis_{D}") and not hasattr(G, f"split_mahalanobis_{D}")


def _main_loop(asm):
    """The instructions of the solver's main loop: the block with the most vector
    arithmetic that uses no lane mask (the masked pass over the last rows runs
    once per call and may spill)."""
    blocks, label = {}, None
    for line in asm.splitlines():
        if re.match(r"^\.?\w[\w.]*:", line):
            label = line.split(":")[0]
            blocks.setdefault(label, [])
        elif line.startswith("\t") and label:
            blocks[label].append(line.strip())
    unmasked = [ins for ins in blocks.values() if not any("%k" in i or "maskmov" in i for i in ins)]
    return max(unmasked, key=lambda ins: sum(re.match(r"v(f|mul|sub)", i) is not None for i in ins))


@pytest.mark.skipif(PLAN.isa not in ("avx512", "avx2", "avx"),
                    reason=f"needs an x86-64 broadcast load (AVX's vbroadcastss/sd or AVX-512's {{1toN}}); "
                           f"Numba compiles for {PLAN.describe()}")
@pytest.mark.parametrize("dtype, centre", [(np.float64, "centred"), (np.float32, "split")])
def test_factor_entries_are_broadcast_scalar_loads(dtype, centre):
    # The point of kernels.simd: each factor entry is loaded inside the loop as a
    # scalar broadcast to the vector (AVX-512: a {1toW} memory operand of the
    # multiply-add; AVX: one vbroadcastss/sd), not a whole vector reloaded from a
    # stack slot.  W and the register count come from the target Numba compiles for.
    fn = numba.njit(fastmath=set(_config.FASTMATH_STRICT), error_model="numpy")(
        getattr(G, f"simd_{centre}_mahalanobis_16").py_func)
    L = np.eye(16, dtype=dtype)
    fn(L, np.ones((16, 64), dtype), np.zeros(16), 64, np.empty(64, dtype), np.empty((16, 64), dtype))
    main = _main_loop(fn.overloads[fn.signatures[0]].library.get_asm_str())
    lanes = PLAN.lanes(np.dtype(dtype).itemsize)
    register = {64: "zmm", 32: "ymm"}[PLAN.vector_bytes]
    assert not any(r in " ".join(main) for r in ("zmm", "ymm") if r != register), "vectors wider than the plan's"
    if PLAN.isa == "avx512":
        broadcasts = [i for i in main if re.match(rf"vf\w+\s+[-\w]*\(%\w+[,\w]*\)\{{1to{lanes}\}}", i)]
    else:
        broadcasts = [i for i in main if re.match(rf"vbroadcasts[sd]\s+-?\w*\((?!%rsp)%\w+[,\w]*\), %{register}", i)]
    assert len(broadcasts) >= 120  # the 120 off-diagonal entries, each loaded where it is used
    # 16 coordinates, an accumulator, the sum of squares and a loaded entry are live
    # at once: a plan with fewer registers spills the excess (and a few more), never
    # one vector per entry.  Without FMA every product needs a register of its own
    # too (AVX without FMA spilled 9-10): then at most one spill per coordinate.
    spills = [i for i in main if re.match(rf"vmov\w+\s+%{register}\d+, -?\d*\(%rsp\)", i)]
    assert len(spills) <= (max(2, 16 + 3 - PLAN.registers + 2) if PLAN.fma else 16)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nt", [1, 3, 8, 17, 40, 128])
def test_rank_update_is_the_block_product_and_touches_only_nt_columns(dtype, nt):
    rng = np.random.default_rng(nt)
    d = 12
    L = rng.standard_normal((d, d)).astype(dtype)
    Z0 = rng.standard_normal((d, nt + 16)).astype(dtype)
    Z0[:, nt:] = np.nan  # the tile's padding: must be neither read into results nor written
    for i0 in (4, 8):
        Z = Z0.copy()
        G.rank_update(L, Z, i0, nt)
        expected = Z0[i0:i0 + 4, :nt].astype(np.float64) - L[i0:i0 + 4, :i0].astype(np.float64) @ Z0[:i0, :nt]
        scale = np.abs(Z0[i0:i0 + 4, :nt]).max() + (np.abs(L[i0:i0 + 4, :i0]) @ np.abs(Z0[:i0, :nt])).max()
        np.testing.assert_allclose(Z[i0:i0 + 4, :nt], expected, rtol=0, atol=8 * np.finfo(dtype).eps * scale)
        untouched = np.ones(Z.shape, bool)
        untouched[i0:i0 + 4, :nt] = False
        np.testing.assert_array_equal(Z[untouched], Z0[untouched])  # NaN == NaN here
