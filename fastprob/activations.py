"""Numerically stable activations and their derivatives, elementwise like numpy ufuncs.

Every function takes array_like input (scalars too), keeps float32 as float32
(float16 computes as float32, integers and booleans as float64), accepts
``out=`` and never modifies its input.  Long double, complex and non-numeric
input is a TypeError saying to pass float64 or float32 (never rounded
silently: sigmoid(-800) in long double is 3.7e-348, not 0).  NaN gives NaN and ±inf gives the mathematical limit, with no floating-
point warnings for any input.

Accuracy, float64: ≤ 2 ULP over the whole float64 range for sigmoid,
log_sigmoid, softplus, tanh, sigmoid_grad and tanh_grad (measured worst cases
0.8-1.2 ULP; subnormal results such as sigmoid(-745) = 5e-324 are correctly
rounded, in general up to a double rounding: ≤ 0.8 ULP).  float32: computed
in float64 and rounded once, ≤ 1 ULP; except tanh, which runs in float32
arithmetic (twice the SIMD width) and is ≤ 1.41 ULP, checked over every
float32.  The kernels run on all cores for large arrays and on the calling
thread for small ones.
"""
import numpy as np

from .kernels import elementwise as _ek
from ._validation import as_float_array, broadcast_flat

__all__ = [
    "log_sigmoid",
    "logit",
    "relu",
    "relu_grad",
    "sigmoid",
    "sigmoid_grad",
    "softplus",
    "tanh",
    "tanh_grad",
]

#: Work per element, in BlockKernel.for_size's units (roughly ns of serial time;
#: its parallel threshold is 200 000).  Measured serial cost here: ~1.5
#: ns/element for sigmoid/tanh and their derivatives in float64, ~2.4 for
#: softplus/log_sigmoid, ~0.8 for float32, ~0.2 for relu.  So sigmoid goes
#: parallel from 25 000 elements, relu from 200 000.
WORK = {"exp": 8, "exp+log": 12, "exp32": 5, "exp+log32": 8, "trivial": 1}


def check_out(out, shape, dtype, name="out"):
    """Validate a user-supplied ``out`` array: ndarray, exact shape and dtype, writeable."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy array (or None), got {type(out).__name__}.")
    if out.shape == tuple(shape) and out.dtype != dtype and out.dtype.name == np.dtype(dtype).name:
        raise ValueError(f"{name} has byte order {out.dtype.str!r}; pass a native-order array "
                         f"(np.empty({tuple(shape)}, dtype=np.{np.dtype(dtype).name})) or out=None.")
    if out.shape != tuple(shape) or out.dtype != dtype:
        raise ValueError(
            f"{name} must have shape {tuple(shape)} and dtype {np.dtype(dtype).name} (the result's), "
            f"got shape {out.shape} and dtype {out.dtype.name}. Allocate it with "
            f"np.empty({tuple(shape)}, dtype=np.{np.dtype(dtype).name}) or pass out=None."
        )
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only; pass a writeable array or out=None.")
    return out


def run_elementwise(kernel, inputs, shape, dtype, out, work=WORK["exp"]):
    """Run an elementwise kernel on 1-D views of ``inputs`` (broadcast to ``shape``).

    Handles the plumbing every elementwise function shares: a C-contiguous
    result buffer, ``out`` that aliases an input (safe when it is the same
    memory in the same layout; otherwise the input is copied first), ``out``
    that is not C-contiguous (computed into a temporary, then copied in), and
    0-d results (returned as numpy scalars).
    """
    size = int(np.prod(shape, dtype=np.int64))
    flat_inputs = [broadcast_flat(a, shape) for a in inputs]
    if out is None:
        result = np.empty(shape, dtype=dtype)
        target = result.reshape(-1)
    else:
        result = out
        target = out.reshape(-1) if out.flags.c_contiguous else np.empty(size, dtype=dtype)
        # An input sharing memory with the output is only safe element-for-
        # element in the same position: same start and same layout.  A size-1
        # (broadcast) input inside ``out`` is copied too: the kernel rereads it
        # for every element, after the first one has overwritten it.
        for j, (a, f) in enumerate(zip(inputs, flat_inputs)):
            if np.may_share_memory(f, target):
                same = (f.size == target.size and f.ctypes.data == target.ctypes.data
                        and f.strides == target.strides and f.dtype == target.dtype)
                if not same:
                    flat_inputs[j] = f.copy()
    if size:
        kernel.for_size(size * work)(size, *flat_inputs, target)
    if out is not None and not out.flags.c_contiguous:
        out[...] = target.reshape(shape)
    if out is None and result.ndim == 0:
        return result[()]
    return result


def _unary(kernel, z, out, cost="exp", name="z"):
    """Shared body of the one-argument functions: coerce, check ``out``, run the kernel."""
    z = as_float_array(z, name)
    if out is not None:
        check_out(out, z.shape, z.dtype)
    f32 = z.dtype == np.float32
    work = WORK[cost + ("32" if f32 and cost != "trivial" else "")]
    return run_elementwise(kernel, [z], z.shape, z.dtype, out, work)


def sigmoid(z, out=None):
    """Logistic sigmoid σ(z) = 1 / (1 + e⁻ᶻ), elementwise (scipy's ``expit``).

    Parameters
    ----------
    z : array_like
        Input; float32 stays float32, integers become float64.
    out : ndarray, optional
        Array of the result's shape and dtype to write into (may be ``z`` itself).

    Returns
    -------
    ndarray or scalar
        σ(z) in [0, 1].  For z < 0 it is computed as eᶻ / (1 + eᶻ), so tiny
        values keep full relative accuracy down to the subnormal range
        (σ(-745) = 5e-324, not 0); σ(±inf) = 1 / 0, NaN gives NaN.

    Notes
    -----
    float64: ≤ 2 ULP (measured ≤ 0.8); float32: ≤ 1 ULP.

    Examples
    --------
    >>> import fastprob
    >>> float(fastprob.sigmoid(0.0))
    0.5
    >>> float(fastprob.sigmoid(-745.0))
    5e-324
    """
    return _unary(_ek.sigmoid, z, out)


def log_sigmoid(z, out=None):
    """log σ(z) = -softplus(-z), elementwise (scipy's ``log_expit``).

    Parameters
    ----------
    z : array_like
    out : ndarray, optional

    Returns
    -------
    ndarray or scalar
        min(z, 0) - log(1 + e^-|z|): exact for large |z| (log_sigmoid(-1000) =
        -1000, log_sigmoid(40) = -4.2e-18), never log(0).  ±inf gives -inf / 0.

    Examples
    --------
    >>> import fastprob
    >>> float(fastprob.log_sigmoid(-1000.0))
    -1000.0
    """
    return _unary(_ek.log_sigmoid, z, out, "exp+log")


def softplus(z, out=None):
    """softplus(z) = log(1 + eᶻ), elementwise (``np.logaddexp(0, z)``).

    Parameters
    ----------
    z : array_like
    out : ndarray, optional

    Returns
    -------
    ndarray or scalar
        max(z, 0) + log(1 + e^-|z|) > 0: softplus(1000) = 1000 (no overflow),
        softplus(-745) = 5e-324 (no underflow to 0 before it has to).

    Examples
    --------
    >>> import fastprob
    >>> float(fastprob.softplus(1000.0))
    1000.0
    """
    return _unary(_ek.softplus, z, out, "exp+log")


def tanh(z, out=None):
    """Hyperbolic tangent, elementwise.

    Parameters
    ----------
    z : array_like
    out : ndarray, optional

    Returns
    -------
    ndarray or scalar
        tanh(z) = 2σ(2z) - 1, computed as sign(z) y / (y + 2) with
        y = e^{2|z|} - 1 (expm1) so that it stays accurate near 0 (the literal
        identity loses all relative accuracy there: 1e-7 error at z = 1e-10).
        tanh(-0.0) = -0.0, tanh(±inf) = ±1.  float32 input is computed in
        float32 arithmetic (an odd polynomial below |z| = 0.625, 1 - 2e/(1 + e)
        with e = e^{-2|z|} above): ≤ 1.41 float32 ULP.

    Examples
    --------
    >>> import fastprob
    >>> float(fastprob.tanh(1e-10))
    1e-10
    """
    return _unary(_ek.tanh, z, out)


def sigmoid_grad(z, out=None):
    """Derivative of the sigmoid, σ'(z) = σ(z)(1 - σ(z)), elementwise.

    Parameters
    ----------
    z : array_like
    out : ndarray, optional

    Returns
    -------
    ndarray or scalar
        e^-|z| / (1 + e^-|z|)², which (unlike σ(z)(1 - σ(z)) evaluated as
        written) keeps full relative accuracy for large |z|.  0 at ±inf.
    """
    return _unary(_ek.sigmoid_grad, z, out)


def tanh_grad(z, out=None):
    """Derivative of tanh, 1 - tanh(z)², elementwise.

    Parameters
    ----------
    z : array_like
    out : ndarray, optional

    Returns
    -------
    ndarray or scalar
        4e^-2|z| / (1 + e^-2|z|)² = sech²(z), accurate also where 1 - tanh²
        would cancel to 0 (|z| > 19).  0 at ±inf.
    """
    return _unary(_ek.tanh_grad, z, out)


def relu(z, out=None):
    """Rectified linear unit max(z, 0), elementwise.

    Parameters
    ----------
    z : array_like
    out : ndarray, optional

    Returns
    -------
    ndarray or scalar
        z where z > 0, else 0 (also for -0.0, which gives +0.0); NaN stays NaN
        (as with ``np.maximum(z, 0)``).
    """
    return _unary(_ek.relu, z, out, "trivial")


def relu_grad(z, out=None):
    """Derivative of ReLU: 1 for z >= 0, 0 for z < 0, elementwise.

    Parameters
    ----------
    z : array_like
    out : ndarray, optional

    Returns
    -------
    ndarray or scalar
        The subgradient at the kink z = 0 is taken as 1 (so -0.0 gives 1 too),
        the convention of the project notes; NaN gives NaN.
    """
    return _unary(_ek.relu_grad, z, out, "trivial")


def logit(p, out=None):
    """Inverse of the sigmoid, log(p / (1 - p)), elementwise (scipy's ``logit``).

    Parameters
    ----------
    p : array_like
        Probabilities.
    out : ndarray, optional

    Returns
    -------
    ndarray or scalar
        logit(0) = -inf, logit(1) = inf; p outside [0, 1] (and NaN) gives NaN,
        as in scipy (elementwise, no error).  Near p = ½ it is computed as
        log1p((2p - 1) / (1 - p)), elsewhere log p - log1p(-p): ≤ 2.1 ULP in
        float64 (measured).

    Examples
    --------
    >>> import fastprob
    >>> fastprob.logit([0.0, 0.5, 1.0])
    array([-inf,   0.,  inf])
    """
    return _unary(_ek.logit, p, out, "exp+log", name="p")
