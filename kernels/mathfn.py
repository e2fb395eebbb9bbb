"""Vectorisable elementary functions (exp, expm1, log1p, log) in plain arithmetic.

``np.exp``/``np.log`` inside a kernel compile to scalar libm calls (about 4 ns
per element here), which also stop LLVM from vectorising the loop around them.
The functions below use only +, -, *, /, comparisons and integer bit
manipulation, so once LLVM inlines them into a kernel's loop it turns them
into vector code for the target (with AVX-512 about 8x fewer instructions per element).

They are serial Numba functions meant to be *called from other kernels*; they
take and return float64 scalars and handle the whole float64 range, ±inf and
NaN like libm does.  Accuracy (checked against mpmath in tests/test_mathfn.py):

- ``exp``: < 0.6 ULP (one rounding of a pair accurate to ~2**-56) for normal
  results; subnormal results are scaled in two steps (each factor a normal
  power of two), so they round only twice: < 0.8 ULP.
- ``expm1``: < 1.2 ULP (the -1 cancels ~1.5 bits of exp's residual error
  near x ~ 0.4).
- ``log1p``, ``log``, ``log1p_unit``: < 0.85 ULP (fdlibm's algorithm).
- ``exp_lowp``: relative error < 6e-11, for results that will be rounded to
  float32 (where it is indistinguishable from an exact exp) at ~60 % of the cost.
- ``exp_nonpositive``: < 1 ULP for log(2**-1022) <= x <= 0 only (the terms of
  a log-sum-exp), at about half the cost of ``exp``.

The sign of zero is not kept by expm1/log1p(-0.0) (+0.0).

Inlining matters: LLVM only inlines a callee whose cost is below 250 (about
50 instructions), and a call it does not inline leaves the caller's loop
scalar.  ``exp``, ``exp_lowp``, ``log``, ``log1p`` and ``log1p_unit`` fit
(tests/test_mathfn.py checks); ``expm1`` does not (cost ~280), so hot loops
compose ``exp_reduce`` + ``expm1_finish`` themselves (see tanh in
``elementwise``).  ``fma`` is an explicit fused multiply-add: the error-free
transformations need it, and 'contract' alone does not guarantee it.

Algorithms: exp reduces x = k ln2 + r with |r| <= ln2/2 (Cody-Waite split of
ln2 so that k ln2_hi is exact, plus the rounding error of r), evaluates
exp(r) = 1 + r + r²/2 + r³ P(r) with a minimax P, and returns 2**k (h + l)
with h = fl(1 + r) and l the exact rounding error of that sum plus the rest:
keeping that unevaluated pair is what makes the final rounding the dominant
error.  log1p/log follow fdlibm
(Sun Microsystems, 1993): 1 + x = 2**k m with m in [sqrt(2)/2, sqrt(2)), a
correction term for the rounding of 1 + x, and log m = 2 atanh(f / (2 + f))
by a minimax polynomial in s**2.
"""
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from ._config import serial


# --------------------------------------------------------------------------- #
# Bit reinterpretation (a plain LLVM bitcast: vectorises, no memory round trip)
# --------------------------------------------------------------------------- #
@intrinsic
def f64_as_i64(typingctx, x):
    """The IEEE-754 bits of a float64, as an int64."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def i64_as_f64(typingctx, i):
    """The float64 whose IEEE-754 bits are the int64 ``i``."""
    if i != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c with one rounding (llvm.fma: a single instruction where the CPU
    has FMA, every x86-64 since 2013).

    The error-free transformations below need it explicitly: with only the
    'contract' flag, LLVM fuses ``a * b - p`` only when it does not first
    share ``a * b`` with ``p = a * b`` (it does), which silently gives 0.
    """
    if not (a == b == c == types.float64):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return types.float64(types.float64, types.float64, types.float64), codegen


@intrinsic
def pow2_from_shifted_f32(typingctx, t):
    """2**k as float32 from t = y + SHIFT_F32 whose low mantissa bits hold k = round(y).

    All in 32-bit integer arithmetic ((bits(t) << 23) + bits(1.0f), wrapping),
    so that float32 loops vectorise 16 lanes wide: Numba would promote int32
    arithmetic written in Python to int64.  Valid for k in [-126, 127].
    """
    if t != types.float32:
        return None

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        bits = builder.bitcast(args[0], i32)
        bits = builder.add(builder.shl(bits, ir.Constant(i32, 23)), ir.Constant(i32, 0x3F800000))
        return builder.bitcast(bits, ir.FloatType())

    return types.float32(types.float32), codegen


# --------------------------------------------------------------------------- #
# Constants
# --------------------------------------------------------------------------- #
INV_LN2 = 1.4426950408889634
#: ln 2 = LN2_HI + LN2_LO; LN2_HI has 21 trailing zero bits, so k * LN2_HI is
#: exact for |k| < 2**21 and x - k * LN2_HI is exact near x (Sterbenz).
LN2_HI = 6.93147180369123816490e-01  # 0x3fe62e42fee00000
LN2_LO = 1.90821492927058770002e-10  # 0x3dea39ef35793c76
#: 1.5 * 2**52: adding it rounds a float64 of magnitude < 2**51 to an integer,
#: which then sits in the low mantissa bits (no float->int conversion needed,
#: whose result LLVM leaves undefined for NaN).
SHIFT = 6755399441055744.0
#: exp(x) overflows above 709.78 and is 0 (correctly rounded) below -745.14;
#: clamping to slightly wider bounds keeps k in the range two-step scaling covers.
EXP_MAX = 710.0
EXP_MIN = -746.0
#: Subnormal input to log: scale it by 2**54 into the normal range first.
TWO54 = 18014398509481984.0

# exp(r) = 1 + r + r²/2 + r³ P(r) on |r| <= ln2/2: P of degree 8, minimax for
# the relative error of exp (Remez exchange in 60-digit mpmath; the test suite
# re-checks the bound): 5.4e-18, i.e. 0.05 ULP.  The r²/2 term is kept out of
# P so that it can be added exactly: the roundings inside P then only matter
# at |r³| <= 0.042 times their size.
E3 = 0.16666666666666433
E4 = 0.04166666666660395
E5 = 0.008333333333500045
E6 = 0.0013888888926801004
E7 = 0.00019841269466214004
E8 = 2.480150867580265e-05
E9 = 2.7557640857543404e-06
E10 = 2.762518983312924e-07
E11 = 2.4978387334747674e-08
# The same for exp_lowp, degree 5 (relative error 5.2e-11).
F2 = 0.5000000067681989
F3 = 0.16666665868930175
F4 = 0.04166629494759485
F5 = 0.008333497076167937
F6 = 0.001394465960906508
F7 = 0.0001979034078049624

# fdlibm's minimax coefficients for log(1+f) = f - f²/2 + s (f²/2 + R(s²)).
LG1 = 6.666666666666735130e-01
LG2 = 3.999999999940941908e-01
LG3 = 2.857142874366239149e-01
LG4 = 2.222219843214978396e-01
LG5 = 1.818357216161805012e-01
LG6 = 1.531383769920937332e-01
LG7 = 1.479819860511658591e-01

_EXP_BIAS = 1023
_MANT_MASK = 0x000FFFFFFFFFFFFF
#: Bits of sqrt(2)/2: adding (1.0 - this) to a float's bits moves the exponent
#: boundary to sqrt(2), giving m in [sqrt(2)/2, sqrt(2)).
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD
_ONE_BITS = 0x3FF0000000000000


# --------------------------------------------------------------------------- #
# exp family
# --------------------------------------------------------------------------- #
@serial
def pow2(k):
    """2.0**k for an integer k in [-1022, 1023], built from its bits."""
    return i64_as_f64((k + _EXP_BIAS) << 52)


@serial
def scale2(y, k):
    """y * 2**k for k in [-2044, 2046], rounding only once.

    Two steps, so each factor is a normal number: y * 2**k1 is exact (y is
    near 1), and the second product is the only rounding, also when the result
    is subnormal, so subnormal results are correctly rounded.
    """
    k1 = k >> 1
    return y * pow2(k1) * pow2(k - k1)


@serial
def nearest_multiple_of_ln2(x):
    """(k, kf): the integer nearest x / ln 2 as an int64 and as a float64, for |x| < 2**50.

    Adding SHIFT rounds to an integer that then sits in the low mantissa bits:
    no float -> int conversion (whose result LLVM leaves undefined for NaN).
    """
    t = x * INV_LN2 + SHIFT
    return f64_as_i64(t) - f64_as_i64(SHIFT), t - SHIFT


@serial
def exp_poly(r, r2, r4):
    """P(r) in exp(r) = 1 + r + r²/2 + r³ P(r) (|r| <= ln2/2), given r² and r⁴.

    Estrin's scheme: a dependency chain ~4 operations deep instead of Horner's
    8, so the out-of-order core overlaps more elements.
    """
    return ((E3 + r * E4) + r2 * (E5 + r * E6)) + r4 * (((E7 + r * E8) + r2 * (E9 + r * E10)) + r4 * E11)


@serial
def exp_reduce(x):
    """Split exp(x) = 2**k * (h + l) for finite x in [EXP_MIN, EXP_MAX].

    Returns (k, h, l): k an int64, h = fl(1 + r) in [0.70, 1.42] and l a small
    correction (|l| < 0.07) carrying the polynomial and the rounding error of
    h, so that h + l is exp(r) to ~2**-56 relative (measured worst 0.1 ULP).
    """
    k, kf = nearest_multiple_of_ln2(x)
    a = x - kf * LN2_HI  # exact
    c = kf * LN2_LO
    r = a - c
    dr = (a - r) - c  # rounding error of r (r + dr = x - k ln2 to ~2**-100)
    r2 = r * r
    r2l = fma(r, r, -r2)  # exact rounding error of r²
    p = exp_poly(r, r2, r2 * r2)
    h = 1.0 + r
    # exp(r) - h = (1 - h) + r (exact, |r| < 1) + r²/2 (0.5 r2 exact) + small
    # terms; only the final addition rounds noticeably (~2**-58 relative).
    l = 0.5 * r2 + ((((1.0 - h) + r) + dr) + (0.5 * r2l + (r * r2) * p))
    return k, h, l


@serial
def clamp_exp_arg(x):
    """x limited to [EXP_MIN, EXP_MAX]; NaN stays NaN (compiles to vminpd/vmaxpd)."""
    x = EXP_MAX if x > EXP_MAX else x
    return EXP_MIN if x < EXP_MIN else x


@serial
def exp(x):
    """e**x in float64, < 0.6 ULP, for every float64 (±inf, NaN, subnormal results).

    NaN needs no special case: it propagates through r into the result (the
    integer exponent computed from NaN bits is garbage, but finite arithmetic).
    """
    k, h, l = exp_reduce(clamp_exp_arg(x))
    return scale2(h + l, k)


@serial
def exp_nonpositive(x):
    """e**x in float64 for log(2**-1022) <= x <= 0 (normal results), < 1 ULP; NaN stays NaN.

    For log-sum-exp terms, already shifted by their row maximum and flushed to
    0 below the smallest normal number: :func:`exp`'s reduction and polynomial
    without its error bookkeeping (the rounding of r and of 1 + r adds ~0.3
    ULP) and without the two-step scaling that subnormal results need -- about
    half of :func:`exp`'s operations.
    """
    k, kf = nearest_multiple_of_ln2(x)
    r = (x - kf * LN2_HI) - kf * LN2_LO
    r2 = r * r
    return (1.0 + (r + r2 * (0.5 + r * exp_poly(r, r2, r2 * r2)))) * pow2(k)


@serial
def scale_pair(h, l, k):
    """(y, yl) with y = fl(2**k (h + l)) and y + yl = 2**k (h + l) (|l| <= |h|).

    The unevaluated pair carries exp(x) to ~2**-100 relative (for normal
    results), for formulas that would otherwise add a rounding of their own.
    """
    y = h + l
    yl = (h - y) + l  # exact (Fast2Sum)
    return scale2(y, k), scale2(yl, k)


@serial
def expm1(x):
    """e**x - 1 in float64, < 1.2 ULP, accurate for tiny |x| (no cancellation)."""
    # Below -40, e**x - 1 rounds to -1 (and 2**k stays normal); above
    # EXP_MAX it overflows.  Clamping keeps k in [-58, 1024].
    xc = EXP_MAX if x > EXP_MAX else x
    xc = -40.0 if xc < -40.0 else xc
    k, h, l = exp_reduce(xc)
    s, b = expm1_finish(h, l, k)
    # Beyond the overflow threshold t = inf and the TwoSum gives inf - inf.
    return np.inf if x > 709.782712893384 else s + b


@serial
def expm1_finish(h, l, k):
    """(s, b): s + b = 2**k (h + l) - 1 with s = fl(2**k h - 1) and b small.

    For k in [-58, 1024] (see :func:`expm1`); the sum s + b rounds once.
    """
    # 2**k in two factors (k reaches 1024 just below the overflow threshold).
    k1 = k >> 1
    p1 = pow2(k1)
    p2 = pow2(k - k1)
    t = (h * p1) * p2  # exact (inf beyond the overflow threshold)
    # s + e = t - 1 exactly (Knuth's TwoSum: no condition on which operand is
    # larger, no branch, so loops around it vectorise).
    s = t - 1.0
    bb = s - t
    e = (t - (s - bb)) + (-1.0 - bb)
    return s, e + (l * p1) * p2


@serial
def exp_lowp(x):
    """e**x with relative error < 6e-11 (for results rounded to float32).

    Same reduction as :func:`exp`, a degree-7 polynomial and no error
    bookkeeping.  Handles ±inf, NaN and subnormal float64 results.
    """
    xc = clamp_exp_arg(x)
    k, kf = nearest_multiple_of_ln2(xc)
    r = (xc - kf * LN2_HI) - kf * LN2_LO
    r2 = r * r
    p = (F2 + r * F3) + r2 * (F4 + r * F5) + (r2 * r2) * (F6 + r * F7)
    return scale2(1.0 + (r + r2 * p), k)


# --------------------------------------------------------------------------- #
# float32 arithmetic (twice the lanes per vector of float64)
# --------------------------------------------------------------------------- #
F32 = np.float32
#: 1.5 * 2**23: adding it rounds a float32 of magnitude < 2**22 to an integer.
SHIFT_F32 = F32(12582912.0)
INV_LN2_F32 = F32(1.4426950408889634)
#: ln 2 split for float32: LN2_HI_F32 has 12 trailing zero bits (k LN2_HI exact).
LN2_HI_F32 = F32(0.693145751953125)
LN2_LO_F32 = F32(1.428606765330187e-06)
#: exp(r) on |r| <= ln2/2, degree-6 minimax for the relative error (1.9e-9,
#: 0.03 float32 ULP; the evaluation's own roundings dominate).
G0 = F32(1.000000000558594)
G1 = F32(1.0000000365390542)
G2 = F32(0.4999999203229375)
G3 = F32(0.1666641919056733)
G4 = F32(0.04166823181291635)
G5 = F32(0.008374898350074333)
G6 = F32(0.0013836741261485288)
EXP_F32_MIN = F32(-87.0)
EXP_F32_MAX = F32(88.0)


@serial
def exp_f32(x):
    """e**x in float32 arithmetic for float32 x, ~1 float32 ULP (no subnormal results).

    Arguments are clamped to [-87, 88], so results below ~1.6e-38 come out as
    ~1.6e-38 rather than subnormal or 0 and results above ~1.7e38 are not
    inf: for callers that only need e**x in sums with 1 (as tanh does).  NaN
    propagates.
    """
    x = EXP_F32_MAX if x > EXP_F32_MAX else x
    x = EXP_F32_MIN if x < EXP_F32_MIN else x
    return exp_f32_unchecked(x)


@serial
def exp_f32_unchecked(x):
    """:func:`exp_f32` for x already in [-87, 88] (callers that clamp more cheaply)."""
    t = x * INV_LN2_F32 + SHIFT_F32
    kf = t - SHIFT_F32
    r = (x - kf * LN2_HI_F32) - kf * LN2_LO_F32  # x - kf LN2_HI is exact
    r2 = r * r
    p = (G0 + r * G1) + r2 * ((G2 + r * G3) + r2 * ((G4 + r * G5) + r2 * G6))
    return p * pow2_from_shifted_f32(t)


# --------------------------------------------------------------------------- #
# log family
# --------------------------------------------------------------------------- #
@serial
def log_kernel(f, k, c):
    """k ln2 + log(1 + f) + c for f in [sqrt(2)/2 - 1, sqrt(2) - 1] (fdlibm)."""
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (LG2 + w * (LG4 + w * LG6))
    t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)))
    R = t2 + t1
    dk = np.float64(k)
    return s * (hfsq + R) + (dk * LN2_LO + c) - hfsq + f + dk * LN2_HI


@serial
def log1p_unit(x, dx):
    """log(1 + x + dx) for x in [0, 1] (or NaN) and |dx| <= ulp(x), < 0.85 ULP.

    A cheaper log1p for the arguments of softplus and log-sigmoid (x = e**-|z|,
    dx its rounding error from :func:`scale_pair`): 1 + x lies in [1, 2], so
    no bit manipulation is needed, and dx is folded into the correction term.
    """
    u = 1.0 + x
    small = x < 0.41421356237309503  # 1 + x < sqrt(2): log1p(x) directly
    # Otherwise log(1 + x) = ln2 + log(u / 2): u/2 - 1 is exact (Sterbenz) and
    # c the exact rounding error of u.
    f = x if small else 0.5 * u - 1.0
    c = (dx if small else (x - (u - 1.0)) + dx) / u
    return log_kernel(f, 0 if small else 1, c)


@serial
def log1p(x):
    """log(1 + x) in float64, < 0.85 ULP; -inf at x = -1, NaN below, inf at inf."""
    u = 1.0 + x
    # u's exponent k with the mantissa boundary moved to sqrt(2).
    hu = f64_as_i64(u) + (_ONE_BITS - _SQRT_HALF_BITS)
    k = (hu >> 52) - _EXP_BIAS
    m = i64_as_f64((hu & _MANT_MASK) + _SQRT_HALF_BITS)
    # c: the rounding error of u = fl(1 + x), relative to u.
    c = (1.0 - (u - x)) if k >= 2 else (x - (u - 1.0))
    c = c / u if k < 54 else 0.0
    f = m - 1.0
    # Near 0 (1 + x within [sqrt(2)/2, sqrt(2))) use x itself: exact, no correction.
    small = (x < 0.41421356237309503) & (x > -0.2928932188134524)
    f = x if small else f
    c = 0.0 if small else c
    k = 0 if small else k
    y = log_kernel(f, k, c)
    y = x if x == np.inf else y
    y = -np.inf if x == -1.0 else y
    return y if x >= -1.0 else np.nan * x  # NaN for x < -1 and for NaN


@serial
def log(x):
    """Natural logarithm in float64, < 0.85 ULP; log(0) = -inf, log(x < 0) = NaN."""
    # Subnormals: scale into the normal range, remember the exponent offset.
    sub = x < 2.2250738585072014e-308
    xs = x * TWO54 if sub else x
    hx = f64_as_i64(xs) + (_ONE_BITS - _SQRT_HALF_BITS)
    k = (hx >> 52) - _EXP_BIAS
    k = k - 54 if sub else k
    m = i64_as_f64((hx & _MANT_MASK) + _SQRT_HALF_BITS)
    y = log_kernel(m - 1.0, k, 0.0)
    y = x if x == np.inf else y
    y = -np.inf if x == 0.0 else y
    return y if x >= 0.0 else np.nan * x
