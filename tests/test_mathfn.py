"""kernels.mathfn: vectorisable exp/expm1/log/log1p against mpmath, and the promise that they inline.

The functions are scalar Numba functions meant to be called from other kernels;
the tests call them through small wrapper kernels.
"""
import re

import mpmath
import numba
import numpy as np
import pytest
from numba import prange

from fastprob.kernels import _config, elementwise, information
from fastprob.kernels import mathfn as M
from reference import ulp_error


def _wrap(fn):
    # Test-only wrappers: numba.njit directly (this is not a kernel module).
    @numba.njit(fastmath=set(_config.FASTMATH_STRICT), error_model="numpy")
    def run(x, out):
        for i in range(x.size):
            out[i] = fn(x[i])

    def call(x):
        x = np.ascontiguousarray(x, dtype=np.float64)
        out = np.empty_like(x)
        run(x, out)
        return out

    return call


@numba.njit(fastmath=set(_config.FASTMATH_STRICT), error_model="numpy")
def _log1p_unit(x, out):
    for i in range(x.size):
        out[i] = M.log1p_unit(x[i], 0.0)


def _ulps(fn, mpfn, x):
    got = fn(x)
    with mpmath.workdps(50):
        return np.array([ulp_error(g, mpfn(mpmath.mpf(float(v))), np.float64) for g, v in zip(got, x)])


RNG = np.random.default_rng(20240531)


def _signed_logspace(lo, hi, n):
    return np.exp(RNG.uniform(lo, hi, n)) * RNG.choice([-1.0, 1.0], n)


EXP_POINTS = np.concatenate([
    RNG.uniform(-745.13, 709.78, 800),
    RNG.uniform(-0.35, 0.35, 300),               # the reduced range itself
    RNG.uniform(-745.13, -708.39, 300),           # subnormal results
    RNG.uniform(700.0, 709.78, 100),              # near overflow
    _signed_logspace(-745, -1, 300),               # tiny arguments
    np.arange(-20, 21) * np.log(2.0),             # k ln2: r near 0
])


def test_exp_accuracy():
    u = _ulps(_wrap(M.exp), mpmath.exp, EXP_POINTS)
    normal = np.exp(EXP_POINTS) >= np.finfo(np.float64).tiny
    # One rounding of a pair accurate to ~2**-56: < 0.6 ULP for normal
    # results; subnormal ones round twice (53 bits, then the subnormal grid).
    assert u[normal].max() <= 0.6
    assert u.max() <= 0.8


def test_expm1_accuracy():
    x = np.concatenate([EXP_POINTS, _signed_logspace(-60, 0, 500), RNG.uniform(-40, 40, 300)])
    u = _ulps(_wrap(M.expm1), mpmath.expm1, x)
    # Near x ~ 0.35..0.7 (k = 1) the -1 cancels ~1.5 bits of exp's residual error.
    assert u.max() <= 1.2


def test_log_and_log1p_accuracy():
    pos = np.concatenate([np.exp(RNG.uniform(-744, 709, 800)), RNG.uniform(0.5, 2.0, 400),
                          [5e-324, 1e-310, 2.2250738585072014e-308, np.finfo(np.float64).max]])
    assert _ulps(_wrap(M.log), mpmath.log, pos).max() <= 0.85
    x = np.concatenate([_signed_logspace(-700, -1, 500) * 0.99, RNG.uniform(-0.999, 3.0, 500),
                        np.exp(RNG.uniform(0, 700, 300))])
    assert _ulps(_wrap(M.log1p), mpmath.log1p, x).max() <= 0.85
    unit = np.concatenate([RNG.uniform(0, 1, 500), np.exp(RNG.uniform(-745, 0, 500)), [0.0, 1.0]])
    out = np.empty_like(unit)
    _log1p_unit(unit, out)
    with mpmath.workdps(50):
        u = [ulp_error(g, mpmath.log1p(mpmath.mpf(float(v))), np.float64) for g, v in zip(out, unit)]
    assert max(u) <= 0.85


def test_exp_lowp_relative_error():
    x = np.concatenate([RNG.uniform(-708, 709, 1000), RNG.uniform(-0.35, 0.35, 200)])
    got = _wrap(M.exp_lowp)(x)
    with mpmath.workdps(40):
        rel = max(abs(float((mpmath.mpf(float(g)) - mpmath.exp(mpmath.mpf(float(v)))) / mpmath.exp(mpmath.mpf(float(v)))))
                  for g, v in zip(got, x))
    assert rel < 6e-11


def test_exp_nonpositive_accuracy():
    """The log-sum-exp terms' exp: < 1 ULP on [log(smallest normal), 0]; NaN stays NaN."""
    lo = np.log(np.finfo(np.float64).tiny)
    x = np.concatenate([RNG.uniform(lo, 0.0, 1500), RNG.uniform(-0.35, 0.0, 300),
                        -np.exp(RNG.uniform(-745, 0, 300)), np.arange(-1021, 1, 7) * np.log(2.0), [lo, -0.0, 0.0]])
    u = _ulps(_wrap(M.exp_nonpositive), mpmath.exp, x)
    assert u.max() < 1.0
    assert np.isnan(_wrap(M.exp_nonpositive)(np.array([np.nan]))).all()


def test_exp_polynomial_error_bound():
    """The minimax coefficients, as stored in float64, meet the documented 5.4e-18 bound."""
    E = [M.E3, M.E4, M.E5, M.E6, M.E7, M.E8, M.E9, M.E10, M.E11]
    with mpmath.workdps(50):
        a = mpmath.log(2) / 2
        worst = 0
        for j in range(801):
            r = -a + 2 * a * j / 800
            P = mpmath.fsum(mpmath.mpf(c) * r**i for i, c in enumerate(E))
            approx = 1 + r + r**2 / 2 + r**3 * P
            worst = max(worst, abs(approx / mpmath.exp(r) - 1))
    assert worst < 6e-18


SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, -5e-324, 1e-300, 709.78, 709.79, 710.0,
                    -745.13, -745.14, -746.0, 1e300, -1e300, -1.0, -2.0, 0.5])


@pytest.mark.parametrize("name", ["exp", "expm1", "log", "log1p"])
def test_special_values_match_numpy(name):
    got = _wrap(getattr(M, name))(SPECIAL)
    with np.errstate(all="ignore"):
        want = getattr(np, name)(SPECIAL)
    # NaN == NaN here; -0.0 == 0.0 (expm1/log1p(-0.0) give +0.0: not worth an
    # extra select in the inlined code).
    np.testing.assert_array_equal(got, want)


def test_fma_is_fused():
    @numba.njit
    def residual(a, b):
        p = a * b
        return M.fma(a, b, -p)

    a = 1.0 + 2.0**-30
    assert residual(a, a) == 2.0**-60  # (1 + 2**-30)² = 1 + 2**-29 + 2**-60


# --------------------------------------------------------------------------- #
# Inlining and vectorisation: a call that is not inlined makes the loop scalar
# (~4x slower); LLVM's inliner refuses callees above a cost of 250.
# --------------------------------------------------------------------------- #
def _final_ir(py_func, args, parallel=False):
    fn = numba.njit(fastmath=set(_config.FASTMATH_STRICT), error_model="numpy", parallel=parallel)(py_func)
    fn(*args)
    return str(fn.overloads[fn.signatures[0]].library._final_module)


def _check_vectorised(ir, own_name):
    calls = [c for c in re.findall(r"call [^(]*@(\S+)\(", ir)
             if ("mathfn" in c or "elementwise" in c) and own_name not in c]
    assert not calls, f"not inlined: {calls}"
    assert re.search(r"<\d+ x (double|float)>", ir), "loop was not vectorised"


@pytest.mark.parametrize("name", ["exp", "exp_lowp", "exp_nonpositive", "log", "log1p"])
def test_mathfn_inlines_and_vectorises(name):
    fn = getattr(M, name)

    def loop(x, out):
        for i in prange(x.size):
            out[i] = fn(x[i])

    x = np.linspace(0.1, 3, 64)
    _check_vectorised(_final_ir(loop, (x, np.empty_like(x))), "loop")


@pytest.mark.parametrize("name", ["_sigmoid64", "_log_sigmoid64", "_softplus64", "_tanh64", "_sigmoid_grad64",
                                  "_tanh_grad64", "_tanh32", "_softplus32"])
def test_elementwise_loops_vectorise(name):
    loop = getattr(elementwise, name)  # the dtype's loop, as the kernel's build inlines it
    dtype = np.float32 if name.endswith("32") else np.float64
    x = np.linspace(-3, 3, 64).astype(dtype)
    _check_vectorised(_final_ir(loop, (0, x.size, x, np.empty_like(x))), name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elementwise_kernel_builds_one_loop_per_dtype(dtype):
    """The kernel compiles only its dtype's loop, vectorised, with nothing left to call."""
    x = np.linspace(-3, 3, 64).astype(dtype)
    # A fresh build of the kernel's source: a build loaded from the disk cache carries no IR.
    ir = _final_ir(elementwise.softplus.kernel.py_func, (0, x.size, x, np.empty_like(x)))
    _check_vectorised(ir, "softplus")
    other = "_softplus64" if dtype == np.float32 else "_softplus32"
    assert other not in ir


def test_information_inner_loops_inline_log():
    p = np.full((4, 8), 0.125)
    ir = _final_ir(information.entropy_rows.kernel.py_func, (0, 4, p, np.ones(4), np.empty(4)))
    assert not [c for c in re.findall(r"call [^(]*@(\S+)\(", ir) if "mathfn" in c]
