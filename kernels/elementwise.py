"""Elementwise activations and their derivatives: sigmoid, log-sigmoid, softplus, tanh, ...

Every kernel takes a 1-D C-contiguous input ``x`` and writes elements
i0 <= i < i1 of ``out`` (same size, may be the same array; the elements are
split across threads by :class:`._config.BlockKernel`).  Each function is one
kernel (``sigmoid``, ``softplus``, ...) whose loop is chosen at compile time
from the data's dtype, between two formulas:

- ``_*64`` for float64 data: ≤ 2 ULP (typically ≤ 1).  The exponential is
  carried as an unevaluated pair e + el (``mathfn.scale_pair``), denominators
  like 1 + e as exact pairs d + dl, and the one division is followed by a
  Newton correction q + (n - q d) / d whose residual n - q d is exact as one
  fused multiply-add (``mathfn.fma``).
  So the only error left is about one final rounding.
- ``_*32`` for float32 data: computed in float64 with the cheaper
  ``mathfn.exp_lowp`` (relative error < 6e-11) and plain formulas, then
  rounded once to float32, which makes them ≤ 1 ULP in float32.  _tanh32 is
  the exception: float32 arithmetic throughout (see its notes), because
  numpy's float32 tanh is a 16-lane SIMD routine that the float64 route
  could not match.

The loop bodies call only small ``mathfn`` functions that LLVM inlines, so
each loop compiles to vector code; a non-inlined call would make it scalar
(``tests/test_mathfn.py`` checks both).
"""
import math

import numpy as np

from numba.core import types

from . import mathfn as M
from ._config import blockwise, choose_by_types, serial

#: Beyond |z| = 20, tanh(z) rounds to ±1 (and 2|z| stays far from overflow).
TANH_CLAMP = 40.0
#: 4 e**a underflows to 0 for a < -746.5; e**a is computed as 2**k (h + l) with
#: k + 2 in scale2's range.
TANH_GRAD_MIN = -760.0


# --------------------------------------------------------------------------- #
# sigmoid
# --------------------------------------------------------------------------- #
def _sigmoid64(i0, i1, x, out):
    """σ(z) = 1 / (1 + e**-z): e**z / (1 + e**z) for z < 0 (exact down to subnormals)."""
    for i in range(i0, i1):
        z = x[i]
        k, h, l = M.exp_reduce(M.clamp_exp_arg(-abs(z)))
        e, el = M.scale_pair(h, l, k)  # e + el = e**-|z|
        neg = z < 0.0
        n = e if neg else 1.0
        nl = el if neg else 0.0
        d = 1.0 + e
        dl = ((1.0 - d) + e) + el  # d + dl = 1 + e**-|z| (Fast2Sum, 1 >= e)
        inv = 1.0 / d
        q = n * inv
        # (n + nl) / (d + dl) = q + ((n - q d) + nl - q dl) / d, where n - q d
        # is exact as one fused multiply-add.
        out[i] = q + ((M.fma(-q, d, n) + nl) - q * dl) * inv


def _sigmoid32(i0, i1, x, out):
    """σ(z) for float32 data, in float64 with the low-precision exponential."""
    for i in range(i0, i1):
        z = float(x[i])
        e = M.exp_lowp(-abs(z))
        out[i] = (e if z < 0.0 else 1.0) / (1.0 + e)


# --------------------------------------------------------------------------- #
# log-sigmoid and softplus (share log(1 + e**-|z|))
# --------------------------------------------------------------------------- #
def _log_sigmoid64(i0, i1, x, out):
    """log σ(z) = min(z, 0) - log(1 + e**-|z|)."""
    for i in range(i0, i1):
        z = x[i]
        k, h, l = M.exp_reduce(M.clamp_exp_arg(-abs(z)))
        e, el = M.scale_pair(h, l, k)
        L = M.log1p_unit(e, el)
        out[i] = (z - L) if z < 0.0 else -L


def _log_sigmoid32(i0, i1, x, out):
    """log σ(z) for float32 data."""
    for i in range(i0, i1):
        z = float(x[i])
        L = M.log1p_unit(M.exp_lowp(-abs(z)), 0.0)
        out[i] = (z - L) if z < 0.0 else -L


def _softplus64(i0, i1, x, out):
    """softplus(z) = log(1 + e**z) = max(z, 0) + log(1 + e**-|z|)."""
    for i in range(i0, i1):
        z = x[i]
        k, h, l = M.exp_reduce(M.clamp_exp_arg(-abs(z)))
        e, el = M.scale_pair(h, l, k)
        L = M.log1p_unit(e, el)
        # NaN: `z > 0` is False, L is NaN.
        out[i] = (z + L) if z > 0.0 else L


def _softplus32(i0, i1, x, out):
    """softplus(z) for float32 data."""
    for i in range(i0, i1):
        z = float(x[i])
        L = M.log1p_unit(M.exp_lowp(-abs(z)), 0.0)
        out[i] = (z + L) if z > 0.0 else L


# --------------------------------------------------------------------------- #
# tanh
# --------------------------------------------------------------------------- #
def _tanh64(i0, i1, x, out):
    """tanh(z) = sign(z) y / (y + 2) with y = e**(2|z|) - 1.

    The same as 2σ(2z) - 1 mathematically, but with no cancellation near 0:
    y is computed directly (expm1), as a pair y + yl.
    """
    for i in range(i0, i1):
        z = x[i]
        a = 2.0 * abs(z)
        a = TANH_CLAMP if a > TANH_CLAMP else a  # NaN passes
        k, h, l = M.exp_reduce(a)
        # y + yl = 2**k (h + l) - 1 exactly.  k is in [0, 58] here, so one power
        # of two suffices, and t = 2**k h >= 0.7: s = t - 1 is a Fast2Sum with t
        # first (for k = 0 it is exact anyway).
        p = M.pow2(k)
        t = h * p
        s = t - 1.0
        b = ((t - s) - 1.0) + l * p
        y = s + b
        yl = (s - y) + b  # exact: |s| >= |b| or s == 0
        d = y + 2.0
        big = y if y > 2.0 else 2.0
        dl = ((big - d) + (2.0 if y > 2.0 else y)) + yl  # Fast2Sum, larger operand first
        inv = 1.0 / d
        q = y * inv
        t = q + ((M.fma(-q, d, y) + yl) - q * dl) * inv
        out[i] = math.copysign(t, z)


# float32 tanh in float32 arithmetic (16 lanes): the float64 route costs ~4x
# numpy's SIMD tanh here.  Two pieces, both computed and one selected:
# |z| < 0.625: z + z s P(s), s = z² (P minimax, relative error 4.4e-9 of tanh);
# else 1 - 2e/(1 + e), e = exp(-2|z|) in float32.  Worst case 1.405 float32 ULP
# at z = 0.6541371 (checked over all 2**31 non-negative float32 inputs against
# tanh64; tests/test_activations.py repeats it on every 2048th one).
TANH32_SPLIT = np.float32(0.625)
TANH32_P0 = np.float32(-0.33333281942030446)
TANH32_P1 = np.float32(0.13331442198576446)
TANH32_P2 = np.float32(-0.05373971511953682)
TANH32_P3 = np.float32(0.02063908736087885)
TANH32_P4 = np.float32(-0.005704987129689263)
F32_ONE = np.float32(1.0)
F32_TWO = np.float32(2.0)
F32_MINUS_TWO = np.float32(-2.0)
#: tanh(10) rounds to 1 in float32; clamping |z| keeps e**-2|z| normal.
F32_TANH_MAX_ABS = np.float32(20.0)


def _tanh32(i0, i1, x, out):
    """tanh(z) for float32 data, in float32 arithmetic (see the notes above)."""
    for i in range(i0, i1):
        z = x[i]
        a = abs(z)
        s = z * z
        p = TANH32_P0 + s * (TANH32_P1 + s * (TANH32_P2 + s * (TANH32_P3 + s * TANH32_P4)))
        small = z + (z * s) * p  # NaN stays NaN
        # The large branch may lose a NaN (one vminps clamp): the select below
        # takes `small` for NaN.
        ac = a if a < F32_TANH_MAX_ABS else F32_TANH_MAX_ABS
        e = M.exp_f32_unchecked(F32_MINUS_TWO * ac)
        large = F32_ONE - F32_TWO * (e / (F32_ONE + e))
        # copysign also restores -0.0 (the polynomial turns -0 into +0).
        out[i] = np.copysign(large if a >= TANH32_SPLIT else small, z)


# --------------------------------------------------------------------------- #
# derivatives
# --------------------------------------------------------------------------- #
def _sigmoid_grad64(i0, i1, x, out):
    """σ'(z) = σ(z) σ(-z) = e / (1 + e)**2 with e = e**-|z| (no 1 - σ cancellation)."""
    for i in range(i0, i1):
        z = x[i]
        k, h, l = M.exp_reduce(M.clamp_exp_arg(-abs(z)))
        e, el = M.scale_pair(h, l, k)
        out[i] = _over_square(e, el, e, el)


def _sigmoid_grad32(i0, i1, x, out):
    """σ'(z) for float32 data."""
    for i in range(i0, i1):
        e = M.exp_lowp(-abs(float(x[i])))
        d = 1.0 + e
        out[i] = e / (d * d)


def _tanh_grad64(i0, i1, x, out):
    """tanh'(z) = 1 - tanh(z)**2 = 4 e / (1 + e)**2 with e = e**-2|z|."""
    for i in range(i0, i1):
        a = -2.0 * abs(x[i])
        # Clamped lower than exp's own EXP_MIN: 4 e**-746 is still a subnormal.
        a = TANH_GRAD_MIN if a < TANH_GRAD_MIN else a
        k, h, l = M.exp_reduce(a)
        # The numerator 4e is scaled through the exponent (k + 2), so it is
        # rounded once, also when it is subnormal.
        n, nl = M.scale_pair(h, l, k + 2)
        out[i] = _over_square(n, nl, 0.25 * n, 0.25 * nl)


def _tanh_grad32(i0, i1, x, out):
    """tanh'(z) for float32 data."""
    for i in range(i0, i1):
        e = M.exp_lowp(-2.0 * abs(float(x[i])))
        d = 1.0 + e
        out[i] = 4.0 * e / (d * d)


@serial
def _over_square(n, nl, e, el):
    """(n + nl) / (1 + e + el)**2 for 0 <= e <= 1, with about one rounding error."""
    d = 1.0 + e
    dl = ((1.0 - d) + e) + el
    D = d * d
    Dl = M.fma(d, d, -D) + 2.0 * d * dl  # d*d - D: exact
    inv = 1.0 / D
    q = n * inv
    return q + ((M.fma(-q, D, n) + nl) - q * Dl) * inv


@blockwise
def relu(i0, i1, x, out):
    """max(z, 0); NaN stays NaN; -0.0 gives 0.0."""
    for i in range(i0, i1):
        z = x[i]
        out[i] = 0.0 if z <= 0.0 else z


@blockwise
def relu_grad(i0, i1, x, out):
    """1 for z >= 0 (the subgradient at 0 is taken as 1), 0 for z < 0, NaN for NaN."""
    for i in range(i0, i1):
        z = x[i]
        g = 1.0 if z >= 0.0 else 0.0
        out[i] = g if z == z else z


# --------------------------------------------------------------------------- #
# logit
# --------------------------------------------------------------------------- #
@blockwise
def logit(i0, i1, x, out):
    """log(p / (1 - p)), float32 or float64 (computed in float64).

    Near p = 1/2, log1p((2p - 1) / (1 - p)) (2p - 1 exact) avoids the
    cancellation of log p - log(1 - p); elsewhere log p - log1p(-p).
    p = 0 gives -inf, p = 1 gives inf, p outside [0, 1] gives NaN.
    """
    for i in range(i0, i1):
        p = float(x[i])
        mid = (p >= 0.25) & (p <= 0.75)
        # (2p - 1) / (1 - p) with 1 - p = u + ul exactly and a Newton
        # correction of the quotient: the argument of log1p is then accurate to
        # ~0.5 ULP (log1p amplifies its error by up to 1.8 here).
        n = 2.0 * p - 1.0
        u = 1.0 - p
        ul = (1.0 - u) - p
        q = n / u
        q = q + (M.fma(-q, u, n) - q * ul) / u
        a = 1.0 if mid else p
        b = q if mid else -p
        lb = M.log1p(b)
        out[i] = M.log(a) + (lb if mid else -lb)


# --------------------------------------------------------------------------- #
# binary cross-entropy from logits
# --------------------------------------------------------------------------- #
def _bce_with_logits64(i0, i1, y, z, out):
    """max(z, 0) - z y + log(1 + e**-|z|), written as w |z| + log1p(e**-|z|).

    w = 1 - y for z >= 0 and y for z < 0, so both terms are >= 0 (no
    cancellation) and z = ±inf gives the limit (0 when w == 0, else inf).
    ``y`` and ``z`` have ``out.size`` elements or one (broadcast).
    """
    sy = 1 if y.size > 1 else 0
    sz = 1 if z.size > 1 else 0
    for i in range(i0, i1):
        yi = float(y[i * sy])
        zi = float(z[i * sz])
        k, h, l = M.exp_reduce(M.clamp_exp_arg(-abs(zi)))
        e, el = M.scale_pair(h, l, k)
        L = M.log1p_unit(e, el)
        w = (1.0 - yi) if zi >= 0.0 else yi
        t = 0.0 if w == 0.0 else w * abs(zi)
        out[i] = t + L


def _bce_with_logits32(i0, i1, y, z, out):
    """Binary cross-entropy from logits for float32 data."""
    sy = 1 if y.size > 1 else 0
    sz = 1 if z.size > 1 else 0
    for i in range(i0, i1):
        yi = float(y[i * sy])
        zi = float(z[i * sz])
        L = M.log1p_unit(M.exp_lowp(-abs(zi)), 0.0)
        w = (1.0 - yi) if zi >= 0.0 else yi
        t = 0.0 if w == 0.0 else w * abs(zi)
        out[i] = t + L


# --------------------------------------------------------------------------- #
# The kernels: one per function, whose float64 or float32 code is chosen at
# compile time from the data's dtype (see kernels/_config.py).
# --------------------------------------------------------------------------- #

def sigmoid_loop(i0, i1, x, out):
    """σ(z) for elements i0 <= i < i1: ``_sigmoid64`` or ``_sigmoid32`` by ``out``'s dtype."""
    raise NotImplementedError("compiled use only")


@choose_by_types(sigmoid_loop)
def _sigmoid_by_type(i0, i1, x, out):
    return _sigmoid32 if out.dtype == types.float32 else _sigmoid64


@blockwise
def sigmoid(i0, i1, x, out):
    """Σ(z) of float64 or float32 data (one build per dtype)."""
    sigmoid_loop(i0, i1, x, out)


def log_sigmoid_loop(i0, i1, x, out):
    """log σ(z) for elements i0 <= i < i1: ``_log_sigmoid64`` or ``_log_sigmoid32`` by ``out``'s dtype."""
    raise NotImplementedError("compiled use only")


@choose_by_types(log_sigmoid_loop)
def _log_sigmoid_by_type(i0, i1, x, out):
    return _log_sigmoid32 if out.dtype == types.float32 else _log_sigmoid64


@blockwise
def log_sigmoid(i0, i1, x, out):
    """Log σ(z) of float64 or float32 data (one build per dtype)."""
    log_sigmoid_loop(i0, i1, x, out)


def softplus_loop(i0, i1, x, out):
    """softplus(z) for elements i0 <= i < i1: ``_softplus64`` or ``_softplus32`` by ``out``'s dtype."""
    raise NotImplementedError("compiled use only")


@choose_by_types(softplus_loop)
def _softplus_by_type(i0, i1, x, out):
    return _softplus32 if out.dtype == types.float32 else _softplus64


@blockwise
def softplus(i0, i1, x, out):
    """Softplus(z) of float64 or float32 data (one build per dtype)."""
    softplus_loop(i0, i1, x, out)


def tanh_loop(i0, i1, x, out):
    """tanh(z) for elements i0 <= i < i1: ``_tanh64`` or ``_tanh32`` by ``out``'s dtype."""
    raise NotImplementedError("compiled use only")


@choose_by_types(tanh_loop)
def _tanh_by_type(i0, i1, x, out):
    return _tanh32 if out.dtype == types.float32 else _tanh64


@blockwise
def tanh(i0, i1, x, out):
    """Tanh(z) of float64 or float32 data (one build per dtype)."""
    tanh_loop(i0, i1, x, out)


def sigmoid_grad_loop(i0, i1, x, out):
    """σ'(z) for elements i0 <= i < i1: ``_sigmoid_grad64`` or ``_sigmoid_grad32`` by ``out``'s dtype."""
    raise NotImplementedError("compiled use only")


@choose_by_types(sigmoid_grad_loop)
def _sigmoid_grad_by_type(i0, i1, x, out):
    return _sigmoid_grad32 if out.dtype == types.float32 else _sigmoid_grad64


@blockwise
def sigmoid_grad(i0, i1, x, out):
    """Σ'(z) of float64 or float32 data (one build per dtype)."""
    sigmoid_grad_loop(i0, i1, x, out)


def tanh_grad_loop(i0, i1, x, out):
    """tanh'(z) for elements i0 <= i < i1: ``_tanh_grad64`` or ``_tanh_grad32`` by ``out``'s dtype."""
    raise NotImplementedError("compiled use only")


@choose_by_types(tanh_grad_loop)
def _tanh_grad_by_type(i0, i1, x, out):
    return _tanh_grad32 if out.dtype == types.float32 else _tanh_grad64


@blockwise
def tanh_grad(i0, i1, x, out):
    """Tanh'(z) of float64 or float32 data (one build per dtype)."""
    tanh_grad_loop(i0, i1, x, out)


def bce_with_logits_loop(i0, i1, y, z, out):
    """binary cross-entropy from logits for elements i0 <= i < i1: ``_bce_with_logits64`` or ``_bce_with_logits32`` by ``out``'s dtype."""
    raise NotImplementedError("compiled use only")


@choose_by_types(bce_with_logits_loop)
def _bce_with_logits_by_type(i0, i1, y, z, out):
    return _bce_with_logits32 if out.dtype == types.float32 else _bce_with_logits64


@blockwise
def bce_with_logits(i0, i1, y, z, out):
    """Binary cross-entropy from logits of float64 or float32 data (one build per dtype)."""
    bce_with_logits_loop(i0, i1, y, z, out)
