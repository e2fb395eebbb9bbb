"""The one place that sets Numba's compilation flags for every fastprob kernel.

Kernels never pass ``fastmath=``/``parallel=``/``cache=`` themselves; they use the
decorators below, so the whole library can be switched (for debugging, profiling or
a platform quirk) by editing or overriding this module only.

Environment overrides (read at import):

``FASTPROB_NUMBA_CACHE=0``
    disable Numba's on-disk compile cache (default on).

Threading layer (the library Numba runs parallel kernels on): Numba's own
choice, TBB, else OpenMP, else its built-in workqueue (``NUMBA_THREADING_LAYER``
overrides it), made safe where the layer is not:

* workqueue aborts the process when two Python threads launch parallel
  kernels at once: fastprob lets one thread at a time run a parallel build and
  gives concurrent callers the serial build (same results);
* GNU OpenMP aborts a process forked after it was used (``multiprocessing``
  with 'fork'): in such a child fastprob runs the serial builds.
"""
import hashlib
import os
import pathlib
import threading
import types

import numba
from numba.extending import overload

#: Write compiled machine code to disk so later processes skip compilation.
CACHE = os.environ.get("FASTPROB_NUMBA_CACHE", "1") != "0"

# Fastmath subsets.  Never 'nnan'/'ninf' (they let LLVM delete NaN/inf checks,
# turning NaN input into silent garbage) and never 'afn'/'arcp' (approximate
# functions / reciprocals would break the accuracy guarantees).
#: Elementwise kernels: only fused multiply-add, which can only improve rounding.
FASTMATH_STRICT = {"contract"}
#: Kernels whose inner loop is a sum over rows: reassociation lets LLVM keep
#: several SIMD accumulators.  The order is still fixed by the compiled code, so
#: results stay deterministic from run to run and thread count to thread count.
FASTMATH_REDUCE = {"contract", "reassoc", "nsz"}

_COMMON = dict(nogil=True, cache=CACHE, error_model="numpy")


def sources_digest():
    """SHA-256 of all kernel source files: changes whenever any kernel changes."""
    here = pathlib.Path(__file__).resolve().parent
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(here.glob("*.py")))).hexdigest()


def _drop_stale_cache():
    """Delete cached machine code when any kernel source file has changed.

    Numba's cache only notices changes to the file that defines a function, yet
    kernels call (and inline) kernels from other files: after editing one module
    its callers would load stale code from the cache.  A digest of all kernel
    sources, kept beside the cache, catches that.  (A cache folder named by
    ``NUMBA_CACHE_DIR`` is not checked: key it on :func:`sources_digest`.)
    """
    here = pathlib.Path(__file__).resolve().parent
    try:
        digest = sources_digest()
        cache = here / "__pycache__"
        stamp = cache / "fastprob-kernels.sha256"
        if stamp.is_file() and stamp.read_text() == digest:
            return
        for f in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
            f.unlink(missing_ok=True)
        cache.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:  # read-only install: Numba then caches elsewhere, keyed on these files' stamps
        pass


if CACHE:
    _drop_stale_cache()


def serial(fn=None, *, reduce=False):
    """Compile ``fn`` as a single-threaded kernel (lazy, so any dtype/layout works)."""

    def wrap(f):
        fastmath = FASTMATH_REDUCE if reduce else FASTMATH_STRICT
        return numba.njit(fastmath=set(fastmath), **_COMMON)(f)

    return wrap if fn is None else wrap(fn)


def choose_by_types(stub):
    """Decorator: the decorated function picks ``stub``'s implementation inside kernels.

    It is called at compile time with the Numba types of the arguments and
    returns the implementation to compile for them (``numba.extending.overload``
    with this module's flags), so that a kernel can take a different code path
    per dtype without compiling the others.
    """

    def wrap(typer):
        overload(stub, jit_options=dict(fastmath=set(FASTMATH_STRICT), nogil=True,
                                        error_model="numpy"))(typer)
        return typer

    return wrap


class KernelPair:
    """A kernel compiled twice from one source: ``serial`` and ``parallel``.

    ``prange`` is a plain ``range`` in the serial build, so tiny inputs avoid the
    cost of waking the thread pool while large ones use every core.
    ``for_size(work)`` picks the build from a rough count of floating-point work.
    """

    #: Below this many flops the thread-pool hand-off costs more than it saves.
    PARALLEL_MIN_WORK = 50_000

    def __init__(self, fn, reduce):
        fastmath = FASTMATH_REDUCE if reduce else FASTMATH_STRICT
        # Numba's cache files are named after the function's qualname, and its
        # cache key does not include the `parallel` flag: the two builds must
        # have different qualnames or one would load the other's machine code.
        self.serial = numba.njit(fastmath=set(fastmath), **_COMMON)(_renamed(fn, "serial"))
        self.parallel = numba.njit(fastmath=set(fastmath), parallel=True, **_COMMON)(
            _renamed(fn, "parallel")
        )
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__

    def for_size(self, work):
        """The build to call for about ``work`` floating-point operations (see the module docstring)."""
        if work < self.PARALLEL_MIN_WORK:
            return self.serial
        mode = parallel_mode()
        if mode == "parallel":
            return self.parallel
        return self.serial if mode == "serial" else self._one_thread_at_a_time

    def _one_thread_at_a_time(self, *args):
        if not _PARALLEL_LOCK.acquire(blocking=False):
            return self.serial(*args)
        try:
            return self.parallel(*args)
        finally:
            _PARALLEL_LOCK.release()


#: Held while a parallel build runs, when the threading layer is not thread-safe.
_PARALLEL_LOCK = threading.Lock()
_layer = {"name": None, "forked": False}


def threading_layer():
    """Name of the threading layer Numba runs the parallel kernels on (starts it if needed)."""
    if _layer["name"] is None:
        numba.get_num_threads()  # launches the thread pool, which picks the layer
        _layer["name"] = numba.threading_layer()
    return _layer["name"]


def parallel_mode():
    """'parallel', 'serial' (a fork of a process that used GNU OpenMP) or 'exclusive' (workqueue)."""
    layer = threading_layer()
    if layer == "omp" and _layer["forked"]:
        return "serial"
    return "exclusive" if layer == "workqueue" else "parallel"


def _after_fork_in_child():
    # Only a layer already started in the parent matters: a child that starts
    # its own pool is safe.
    if _layer["name"] is not None:
        _layer["forked"] = True


if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


def serial_and_parallel(fn=None, *, reduce=False):
    """Decorator: compile ``fn`` into a :class:`KernelPair`."""

    def wrap(f):
        return KernelPair(f, reduce)

    return wrap if fn is None else wrap(fn)


def _renamed(fn, suffix):
    clone = types.FunctionType(
        fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__
    )
    clone.__qualname__ = f"{fn.__qualname__}__{suffix}"
    clone.__doc__ = fn.__doc__
    clone.__module__ = fn.__module__
    return clone
