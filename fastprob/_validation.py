"""Input coercion and checks shared by the public functions.

Every public function runs its arguments through these helpers before calling a
kernel, so that kernels can assume valid, contiguous, float input.  Errors name
the argument, what is wrong with it and, where there is one, the usual fix.
"""
import functools
import inspect
import numbers
import sys
import warnings

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def read_only(*arrays):
    """The arrays as read-only views (no copy): how every kernel input is passed.

    Numba compiles a kernel once per combination of argument types, and an
    array's writeability is part of its type: a memmap opened with mode 'r', a
    broadcast view and an ordinary array would each compile (and cache) a build
    of their own.  Kernels never write to their inputs, so all of them are
    passed read-only: one build serves every kind of input.
    """
    views = []
    for a in arrays:
        view = a.view()
        view.flags.writeable = False
        views.append(view)
    return views[0] if len(views) == 1 else views


def as_float_array(a, name, dtype=None):
    """Coerce ``a`` to a float32/float64 ndarray without modifying the caller's data.

    Integers and booleans become float64, float16 becomes float32 (the narrowest
    dtype the kernels run in), and an object array of real numbers (a pandas
    nullable ``Float64`` frame, whose ``pd.NA`` becomes NaN) becomes float64.
    A dtype the kernels cannot compute in is a TypeError saying what to pass
    instead: long double (rounding it to float64 would lose its extra range and
    precision without a word), complex, strings, other objects.  ``dtype``, if
    given, forces that float dtype.
    """
    if isinstance(a, np.ndarray):
        arr = a
    else:
        try:
            arr = np.asarray(a)
        except (ValueError, TypeError) as exc:  # ragged nested sequences
            raise ValueError(f"{name} could not be converted to a numeric array: {exc}") from None
    kind = arr.dtype.kind
    if kind == "O":
        arr = _objects_as_float(arr, name)
    elif kind == "c":
        raise TypeError(
            f"{name} is complex ({arr.dtype}); fastprob works with real numbers (float64 or float32): "
            f"pass {name}.real if the imaginary part is zero."
        )
    elif kind == "f" and arr.dtype.itemsize > 8:
        raise TypeError(_long_double_message(name, arr.dtype))
    elif kind not in "fiub":
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}; pass a float64 or "
                        f"float32 array.")
    if dtype is None:
        dtype = result_float_dtype(arr)
    with np.errstate(over="ignore"):  # a Python number beyond float32 becomes ±inf, as in numpy (NEP 50)
        return arr.astype(dtype, copy=False)


def _long_double_message(name, dtype):
    return (f"{name} has dtype {np.dtype(dtype).name} (long double), which fastprob cannot compute in: "
            f"the kernels run in float64 or float32. Pass {name}.astype(np.float64) (or np.float32) to "
            f"accept the rounding.")


def _objects_as_float(arr, name):
    """float64 copy of an object array holding real numbers only; ``pd.NA`` (missing) becomes NaN.

    This is what ``np.asarray`` gives for a pandas DataFrame of nullable
    ``Float64`` columns.  Anything else held (None, strings, complex or long
    double numbers, arbitrary objects) is a TypeError: numpy's own
    ``astype(float)`` would parse strings and turn None into NaN silently.
    """
    pandas = sys.modules.get("pandas")  # pd.NA can only be in the array if pandas is loaded
    na = getattr(pandas, "NA", None)
    for t in {type(v) for v in arr.flat}:
        if na is not None and t is type(na):
            continue
        if issubclass(t, np.floating) and np.dtype(t).itemsize > 8:
            raise TypeError(_long_double_message(name, t))
        if not (issubclass(t, numbers.Real) or issubclass(t, np.bool_)):
            what = "complex numbers" if issubclass(t, numbers.Complex) else f"{t.__name__} values"
            raise TypeError(f"{name} must be a real numeric array, got dtype object holding {what}; pass a "
                            f"float64 or float32 array.")
    try:
        values = np.fromiter((np.nan if v is na else v for v in arr.flat), dtype=np.float64, count=arr.size)
    except OverflowError:
        raise ValueError(f"{name} holds an integer too large for float64 (beyond 1.8e308).") from None
    return values.reshape(arr.shape)


def result_float_dtype(*arrays):
    """float32 if every floating input is at most float32 and none is integer, else float64."""
    dt = np.result_type(*arrays)
    if dt.kind == "f" and dt.itemsize <= 4:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def as_contiguous(a):
    """C-contiguous version of ``a`` (a copy only when needed; read-only input stays untouched)."""
    return np.ascontiguousarray(a)


def check_finite(a, name, hint=""):
    """Raise ValueError naming the first non-finite entry of ``a``."""
    bad = ~np.isfinite(a)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        where = idx[0] if len(idx) == 1 else idx
        raise ValueError(
            f"{name} contains {int(bad.sum())} non-finite value(s) (NaN or inf), "
            f"the first at index {where}: {a[idx].item()!r}.{(' ' + hint) if hint else ''}"
        )


def check_ndim(a, name, allowed, meaning):
    """Raise ValueError unless ``a.ndim`` is one of ``allowed``; ``meaning`` describes the shapes."""
    if a.ndim not in allowed:
        raise ValueError(f"{name} must have shape {meaning}, got shape {a.shape}.")


def check_positive_int(n, name, minimum=0):
    """Return ``n`` as int if it is an integer >= minimum, else raise."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {n!r}.")
    if n < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {n}.")
    return int(n)


def check_weights(weights, n, name="weights", rescale=True):
    """Validate sample weights: shape (n,), finite, >= 0, positive sum. Returns float64 array.

    With ``rescale``, weights whose sum overflows or that are tiny are multiplied by a
    power of two (exact; for a single computation, where only their ratios matter).
    Without it (weights whose scale is remembered, as GaussianMixture's for
    partial_fit), such weights are an error saying how to rescale them.
    """
    w = as_float_array(weights, name, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) (one weight per sample), got shape {w.shape}.")
    check_finite(w, name)
    if (w < 0).any():
        i = int(np.argmax(w < 0))
        raise ValueError(f"{name} must be non-negative; {name}[{i}] = {w[i].item()!r}.")
    with np.errstate(over="ignore"):
        total = w.sum()
    if not total > 0:
        raise ValueError(f"The values of {name} sum to zero; at least one sample needs a positive weight.")
    top = w.max()
    if not (2.0**-900 <= top and total <= 2.0**900):
        if not rescale:
            raise ValueError(
                f"{name} are {'too large' if top > 1 else 'too small'} to compute with (largest "
                f"{float(top):.3g}, sum {float(total):.3g}); only their ratios matter: pass {name} / {name}.max().")
        # Only the ratios of the weights matter: an exact power-of-two rescaling keeps them,
        # and keeps sums finite (weights near 1e308) and products normal (subnormal weights).
        w = np.ldexp(w, -np.frexp(top)[1])
    return np.ascontiguousarray(w)


def weak_float_dtype(*args):
    """Result float dtype with numpy's rules, Python scalars weak (NEP 50)."""
    operands = [a if isinstance(a, (np.ndarray, numbers.Number, np.generic)) else np.asarray(a) for a in args]
    try:
        return result_float_dtype(*operands)
    except TypeError:
        return np.dtype(np.float64)  # the per-argument checks give the real message


def broadcast_flat(a, shape):
    """1-D C-ordered view/copy of ``a`` broadcast to ``shape``; size-1 stays size 1."""
    if a.size == 1:
        return a.reshape(1)
    if a.shape == tuple(shape):
        return np.ravel(a)
    return np.broadcast_to(a, shape).ravel()


def as_points(X, d, what_fixes_d):
    """Coerce X to a C-contiguous (N, d) float array; return (X2, single_point).

    A 1-D X is one point, except when d == 1, where it is N scalar points (as in
    scipy); a scalar X is one point when d == 1.  ``what_fixes_d`` names the
    argument that determines d, for the error message (e.g. "mean has shape (3,)").
    """
    X = as_float_array(X, "X")
    check_ndim(X, "X", (0, 1, 2), "(N, d) or (d,)")
    single_point = X.ndim == 0 or (X.ndim == 1 and d != 1)
    X2 = X.reshape(1, -1) if single_point else (X.reshape(-1, 1) if X.ndim == 1 else X)
    if X2.shape[1] != d:
        got = "is a scalar (one point with one feature)" if X.ndim == 0 else f"has shape {X.shape}"
        raise ValueError(f"X {got} but {what_fixes_d}: X needs d = {d} features (columns).")
    return as_contiguous(X2), single_point


def as_generator(random_state):
    """A numpy Generator (or the given legacy RandomState) from a seed-like argument."""
    if isinstance(random_state, np.random.RandomState):
        return random_state
    try:
        return np.random.default_rng(random_state)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            "random_state must be None, an int seed, a numpy Generator, RandomState, "
            f"BitGenerator or SeedSequence; got {random_state!r} ({exc})."
        ) from None


def renamed_keyword(old, new):
    """Decorator: the keyword ``old`` still works as ``new``, with a DeprecationWarning."""

    def wrap(fn):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(f"{fn.__name__}() got both {old}= (deprecated) and {new}=; pass {new}= only.")
                warnings.warn(f"{fn.__name__}({old}=...) is deprecated and will be removed; use {new}=... "
                              f"(the same values).", DeprecationWarning, stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return call

    return wrap


def keyword_only(*names):
    """Decorator: arguments ``names`` became keyword-only; given by position they still work, with a warning.

    The wrapped function declares them after ``*``; extra positional arguments
    are matched to them in order.
    """

    def wrap(fn):
        n_positional = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                           for p in inspect.signature(fn).parameters.values())

        @functools.wraps(fn)
        def call(*args, **kwargs):
            extra = args[n_positional:]
            if extra:
                if len(extra) > len(names):
                    raise TypeError(f"{fn.__name__}() takes {n_positional} positional arguments and the "
                                    f"keywords {', '.join(names)}, but {len(args)} were given by position.")
                for name, value in zip(names, extra):
                    if name in kwargs:
                        raise TypeError(f"{fn.__name__}() got multiple values for argument {name!r}")
                    kwargs[name] = value
                given = names[:len(extra)]
                warnings.warn(f"Passing {', '.join(given)} to {fn.__name__}() by position is deprecated and "
                              f"will stop working; pass it by keyword, e.g. {given[0]}={extra[0]!r}.",
                              DeprecationWarning, stacklevel=2)
            return fn(*args[:n_positional], **kwargs)

        return call

    return wrap


#: What the ``missing=`` argument of the scoring functions accepts.
MISSING_OPTIONS = ("propagate", "marginalize")


def check_missing(missing, options=MISSING_OPTIONS):
    """True if ``missing`` asks to marginalise over NaN entries; a clear error for anything unknown."""
    if not isinstance(missing, str) or missing not in options:
        raise ValueError(f"missing must be one of {', '.join(map(repr, options))}, got {missing!r}. "
                         "'marginalize' treats NaN entries as missing at random; "
                         f"{options[0]!r} is the default.")
    return missing == "marginalize"
