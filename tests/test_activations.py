"""Activations and derivatives: ULP accuracy against mpmath, limits, properties and the API contract."""
import warnings

import numba
import numpy as np
import pytest
import scipy.special as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import fastprob
from reference import activation_mp, ulp_error

ACCURATE = ["sigmoid", "log_sigmoid", "softplus", "tanh", "sigmoid_grad", "tanh_grad"]
ALL = ACCURATE + ["relu", "relu_grad", "logit"]


def _signed_logspace(rng, lo, hi, n):
    return np.exp(rng.uniform(lo, hi, n)) * rng.choice([-1.0, 1.0], n)


def _points64():
    rng = np.random.default_rng(1)
    return np.concatenate([
        rng.uniform(-800, 800, 700),
        rng.standard_normal(500) * 4,
        rng.uniform(-40, 40, 300),
        rng.uniform(-746, -700, 200),     # subnormal sigmoid / softplus outputs
        rng.uniform(350, 375, 100) * rng.choice([-1, 1], 100),  # tanh_grad underflow
        _signed_logspace(rng, -745, 0, 300),  # near 0, down to subnormal inputs
        [-800, -745, -744.44, -709, -1, -0.0, 0.0, 5e-324, 1e-10, 0.5, 1, 19, 37, 700, 745, 800],
    ])


def _points32():
    rng = np.random.default_rng(2)
    return np.concatenate([
        _signed_logspace(rng, -103, 88.7, 600),  # the whole float32 range incl. subnormals
        rng.uniform(-110, 110, 500),
        rng.standard_normal(400) * 4,
        [-3.4e38, -104, -88, -17, -1, 0, 1e-30, 1, 9, 88, 3.4e38],
    ]).astype(np.float32)


POINTS = {np.float64: _points64(), np.float32: _points32()}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", ACCURATE)
def test_ulp_error_against_mpmath(name, dtype):
    z = POINTS[dtype]
    got = getattr(fastprob, name)(z)
    assert got.dtype == dtype
    errs = np.array([ulp_error(g, activation_mp(name, v), dtype) for g, v in zip(got, z)])
    worst = int(np.argmax(errs))
    # float64: the bound is 2 ULP (measured worst over dense sweeps:
    # 1.2); float32 is computed in float64 and rounded once (1 ULP), except
    # tanh, computed in float32 arithmetic (1.41 ULP, exhaustively).
    bound = 2.0 if dtype == np.float64 else (1.41 if name == "tanh" else 1.0)
    assert errs[worst] <= bound, f"{name}({z[worst]!r}) = {got[worst]!r}: {errs[worst]:.3f} ULP"


def test_float32_tanh_dense_sweep():
    """Every 2048th float32 bit pattern (all binades, ~1M values) against the float64 kernel.

    The float32 tanh runs in float32 arithmetic; the same comparison over all
    2**31 non-negative float32 values (offline, ~1 min) gives a worst case of
    1.405 ULP at z = 0.6541371, just above the switch to the exp branch.
    """
    bits = np.arange(0, 0x7F800000, 2048, dtype=np.uint32)
    z = np.concatenate([bits.view(np.float32), np.float32(0.6541371)[None]])
    got = fastprob.tanh(z)
    ref = fastprob.tanh(z.astype(np.float64))
    _, e = np.frexp(ref)
    ulp = np.ldexp(1.0, np.maximum(e - 24, -149))
    err = np.abs(got - ref) / ulp
    assert err.max() <= 1.41
    np.testing.assert_array_equal(fastprob.tanh(-z), -got)  # odd, exactly


def test_logit_accuracy():
    rng = np.random.default_rng(3)
    p = np.concatenate([rng.uniform(0, 1, 600), np.exp(rng.uniform(-745, 0, 300)),
                        1 - np.exp(rng.uniform(-36, -1, 200))])
    got = fastprob.logit(p)
    errs = [ulp_error(g, activation_mp("logit", v), np.float64) for g, v in zip(got, p)]
    assert max(errs) <= 2.5  # log1p's error, amplified up to 1.8x near p = 0.27
    np.testing.assert_allclose(got, sp.logit(p), rtol=1e-14)


def test_documented_extremes():
    assert fastprob.sigmoid(-745.0) == 5e-324  # correctly rounded subnormal, not 0
    assert fastprob.sigmoid(-746.0) == 0.0
    assert fastprob.log_sigmoid(-1000.0) == -1000.0
    assert fastprob.softplus(1000.0) == 1000.0
    assert fastprob.softplus(-745.0) == 5e-324
    assert fastprob.tanh(1e-10) == 1e-10  # 2σ(2z) - 1 would be off by ~1e-7 relative
    assert fastprob.tanh(5e-324) == 5e-324
    assert fastprob.sigmoid_grad(-745.0) == 5e-324
    assert fastprob.sigmoid(np.float32(-103.0)) == np.float32(1.4e-45)  # float32 subnormal
    assert fastprob.sigmoid(np.float32(-104.0)) == 0


def test_limits_and_nan_without_warnings():
    z = np.array([-np.inf, np.inf, np.nan, -0.0, 0.0, -1e308, 1e308])
    expected = {
        "sigmoid": [0, 1, np.nan, 0.5, 0.5, 0, 1],
        "log_sigmoid": [-np.inf, 0, np.nan, -np.log(2), -np.log(2), -1e308, 0],
        "softplus": [0, np.inf, np.nan, np.log(2), np.log(2), 0, 1e308],
        "tanh": [-1, 1, np.nan, -0.0, 0.0, -1, 1],
        "sigmoid_grad": [0, 0, np.nan, 0.25, 0.25, 0, 0],
        "tanh_grad": [0, 0, np.nan, 1, 1, 0, 0],
        "relu": [0, np.inf, np.nan, 0, 0, 0, 1e308],
        "relu_grad": [0, 1, np.nan, 1, 1, 0, 1],
    }
    with np.errstate(over="ignore"):  # ±1e308 becomes ±inf in float32
        cases = [(z.astype(dt), {k: np.array(v, dtype=dt) for k, v in expected.items()})
                 for dt in (np.float64, np.float32)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for zz, want in cases:
            for name, w in want.items():
                got = getattr(fastprob, name)(zz)
                np.testing.assert_allclose(got, w, rtol=1e-6, err_msg=name)
        assert np.signbit(fastprob.tanh(-0.0))
        np.testing.assert_array_equal(fastprob.logit([0.0, 1.0, 0.5, -0.1, 1.1, np.nan]),
                                      [-np.inf, np.inf, 0.0, np.nan, np.nan, np.nan])


def test_relu_convention():
    z = np.array([-2.0, -0.0, 0.0, 3.0])
    np.testing.assert_array_equal(fastprob.relu(z), [0, 0, 0, 3])
    assert not np.signbit(fastprob.relu(-0.0))
    np.testing.assert_array_equal(fastprob.relu_grad(z), [0, 1, 1, 1])  # 1 at z = 0


def test_against_scipy():
    rng = np.random.default_rng(4)
    z = np.concatenate([rng.standard_normal(5000) * 30, rng.uniform(-745, 709, 1000)])
    # scipy's expit flushes subnormal results to 0 (fastprob keeps them):
    # compare where scipy's result is a normal number.
    ok = sp.expit(z) > np.finfo(np.float64).tiny
    np.testing.assert_allclose(fastprob.sigmoid(z)[ok], sp.expit(z)[ok], rtol=5e-16, atol=0)
    np.testing.assert_allclose(fastprob.log_sigmoid(z), sp.log_expit(z), rtol=5e-16)
    np.testing.assert_allclose(fastprob.softplus(z), sp.softplus(z), rtol=5e-16)
    np.testing.assert_allclose(fastprob.tanh(z), np.tanh(z), rtol=5e-16)


# --------------------------------------------------------------------------- #
# Properties
# --------------------------------------------------------------------------- #
finite = st.floats(-700, 700, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(finite)
def test_tanh_is_2_sigmoid_2z_minus_1(z):
    lhs = fastprob.tanh(z)
    rhs = 2.0 * fastprob.sigmoid(2.0 * z) - 1.0
    # The right-hand side is computed with an absolute error ~1e-16 (the -1
    # cancels); that is the tolerance, relative to 1, wherever z is.
    assert abs(lhs - rhs) <= 4e-16


@settings(max_examples=300, deadline=None)
@given(st.floats(-30, 30, allow_nan=False))
def test_sigmoid_derivative_identity(z):
    s = fastprob.sigmoid(z)
    # σ(z)(1 - σ(z)) as written loses digits once σ rounds near 1; σ(z)σ(-z) does not.
    assert fastprob.sigmoid_grad(z) == pytest.approx(s * fastprob.sigmoid(-z), rel=1e-15)
    assert fastprob.sigmoid_grad(z) == pytest.approx(s * (1 - s), rel=1e-15, abs=2e-16)
    assert fastprob.tanh_grad(z) == pytest.approx(1 - fastprob.tanh(z) ** 2, abs=5e-16)


@settings(max_examples=300, deadline=None)
@given(finite)
def test_softplus_log_sigmoid_relations(z):
    assert fastprob.log_sigmoid(z) == -fastprob.softplus(-z)  # same formula, exactly
    assert fastprob.softplus(z) - fastprob.softplus(-z) == pytest.approx(z, rel=1e-15, abs=1e-15)
    s = fastprob.sigmoid(z)
    if 1e-300 < s < 1:
        # Rounding s to float64 moves logit(s) by up to ulp(s) / (s (1 - s)).
        cond = np.spacing(s) / (s * (1 - s))
        assert fastprob.logit(s) == pytest.approx(z, rel=1e-15, abs=2 * cond)


def test_numerical_derivatives():
    z = np.linspace(-8, 8, 41)
    h = 1e-5
    for f, g in ((fastprob.sigmoid, fastprob.sigmoid_grad), (fastprob.tanh, fastprob.tanh_grad),
                 (fastprob.softplus, fastprob.sigmoid), (fastprob.log_sigmoid, lambda t: fastprob.sigmoid(-t))):
        num = (f(z + h) - f(z - h)) / (2 * h)
        np.testing.assert_allclose(g(z), num, rtol=1e-8, atol=1e-10)


# --------------------------------------------------------------------------- #
# API contract
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", ALL)
def test_dtypes_and_shapes(name):
    f = getattr(fastprob, name)
    x = np.linspace(0.01, 0.99, 12).reshape(3, 4)
    r32 = f(x.astype(np.float32))
    assert r32.dtype == np.float32 and r32.shape == (3, 4)
    assert f(x.astype(np.float16)).dtype == np.float32
    assert f(np.arange(3)).dtype == np.float64
    assert f(np.array([True, False])).dtype == np.float64
    assert isinstance(f(0.5), np.float64) and isinstance(f(np.float32(0.5)), np.float32)
    assert f([0.5, 0.25]).shape == (2,)
    assert f(np.empty((0, 3))).shape == (0, 3)
    np.testing.assert_allclose(r32, f(x.astype(np.float32).astype(np.float64)), rtol=2e-7, atol=1e-30)


@pytest.mark.parametrize("name", ALL)
def test_input_layouts_and_no_mutation(name):
    f = getattr(fastprob, name)
    rng = np.random.default_rng(5)
    base = rng.uniform(0.01, 0.99, (20, 30))
    expected = f(base)
    fortran = np.asfortranarray(base)
    strided = np.zeros((40, 30))
    strided[::2] = base
    readonly = base.copy()
    readonly.flags.writeable = False
    for x in (fortran, strided[::2], readonly, base.T.copy().T):
        before = x.copy()
        np.testing.assert_array_equal(f(x), expected)
        np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("name", ALL)
def test_out_argument(name):
    f = getattr(fastprob, name)
    z = np.linspace(0.05, 0.95, 30).reshape(5, 6)
    expected = f(z)
    out = np.empty_like(z)
    assert f(z, out=out) is out
    np.testing.assert_array_equal(out, expected)
    # In place (the documented aliasing case).
    w = z.copy()
    assert f(w, out=w) is w
    np.testing.assert_array_equal(w, expected)
    # Non-contiguous out.
    big = np.zeros((5, 12))
    f(z, out=big[:, ::2])
    np.testing.assert_array_equal(big[:, ::2], expected)
    # Overlapping but shifted: must behave as if the input were read first.
    v = np.linspace(0.05, 0.95, 31)
    want = f(v[:-1])
    f(v[:-1], out=v[1:])
    np.testing.assert_array_equal(v[1:], want)
    # float32 out for float32 input.
    o32 = np.empty((5, 6), np.float32)
    z32 = z.astype(np.float32)
    f(z32, out=o32)
    np.testing.assert_allclose(o32, f(z32.astype(np.float64)), rtol=2e-7)


def test_out_errors():
    z = np.zeros(4)
    with pytest.raises(ValueError, match=r"out must have shape \(4,\) and dtype float64.*got shape \(3,\)"):
        fastprob.sigmoid(z, out=np.empty(3))
    with pytest.raises(ValueError, match=r"out must have shape \(4,\) and dtype float64.*dtype float32"):
        fastprob.sigmoid(z, out=np.empty(4, np.float32))
    with pytest.raises(ValueError, match=r"out must have shape \(4,\) and dtype float32"):
        fastprob.tanh(z.astype(np.float32), out=np.empty(4))
    ro = np.empty(4)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        fastprob.softplus(z, out=ro)
    with pytest.raises(TypeError, match="out must be a numpy array"):
        fastprob.relu(z, out=[0, 0, 0, 0])


def test_bad_input_types():
    with pytest.raises(TypeError, match=r"z is complex.*pass z.real"):
        fastprob.sigmoid(np.array([1 + 2j]))
    with pytest.raises(TypeError, match="z must be a real numeric array, got dtype <U1; pass a float64 or float32"):
        fastprob.tanh(["a"])
    with pytest.raises(TypeError, match="p must be a real numeric array"):
        fastprob.logit(np.array([None]))
    with pytest.raises(ValueError, match="z could not be converted"):
        fastprob.softplus([[1.0], [1.0, 2.0]])


@pytest.mark.skipif(np.finfo(np.longdouble).eps == np.finfo(np.float64).eps, reason="long double is float64 here")
@pytest.mark.parametrize("name", ALL)
def test_long_double_is_refused_not_rounded(name):
    # Computed in float64 it lost its range silently: sigmoid(-800L) gave 0.0 (exact: 3.7e-348),
    # logit(1e-4000L) -inf.
    arg = "p" if name == "logit" else "z"
    with pytest.raises(TypeError, match=rf"^{arg} has dtype float(96|128) \(long double\), which fastprob cannot "
                                        rf"compute in: the kernels run in float64 or float32\. Pass "
                                        rf"{arg}\.astype\(np\.float64\) \(or np\.float32\) to accept the rounding\."):
        getattr(fastprob, name)(np.longdouble("1e-4000") if name == "logit" else np.longdouble(-800))
    with pytest.raises(TypeError, match=rf"^{arg} has dtype float(96|128)"):
        getattr(fastprob, name)(np.array([0.5], dtype=object).astype(np.longdouble).astype(object))


@pytest.mark.parametrize("name", ALL)
def test_numbers_held_as_objects_are_accepted(name):
    # A pandas nullable Float64 column reaches numpy as objects (pd.NA for missing): as float64.
    pd = pytest.importorskip("pandas")
    f = getattr(fastprob, name)
    held = np.array([0.25, 1, pd.NA, True], dtype=object)
    np.testing.assert_array_equal(f(held), f(np.array([0.25, 1.0, np.nan, 1.0])))
    with pytest.raises(TypeError, match=r"must be a real numeric array, got dtype object holding str values"):
        f(np.array([0.5, "0.5"], dtype=object))


def test_parallel_and_serial_builds_agree(restore_threads):
    rng = np.random.default_rng(6)
    z = rng.standard_normal(300_000) * 20
    for name in ACCURATE:
        f = getattr(fastprob, name)
        full = f(z)
        restore_threads(1)
        one = f(z)
        restore_threads(numba.config.NUMBA_NUM_THREADS)
        small = np.concatenate([f(c) for c in np.split(z, 300)])  # small inputs: calling thread only
        np.testing.assert_array_equal(full, one)
        np.testing.assert_array_equal(full, small)


def test_out_with_non_native_byte_order_is_named():
    with pytest.raises(ValueError, match=r"out has byte order '>f8'; pass a native-order array"):
        fastprob.sigmoid(np.zeros(3), out=np.zeros(3, ">f8"))
