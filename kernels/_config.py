"""The one place that sets Numba's compilation flags for every fastprob kernel.

Kernels never pass ``fastmath=``/``parallel=``/``cache=`` themselves; they use the
decorators below, so the whole library can be switched (for debugging, profiling or
a platform quirk) by editing or overriding this module only.

Environment overrides (read at import):

``FASTPROB_NUMBA_CACHE=0``
    disable the on-disk compile cache (default on; where it is kept: :mod:`._cache`).

Threading layer (the library Numba runs parallel kernels on): Numba's own
choice, TBB, else OpenMP, else its built-in workqueue (``NUMBA_THREADING_LAYER``
overrides it), made safe where the layer is not:

* workqueue aborts the process when two Python threads launch parallel
  kernels at once: fastprob lets one thread at a time run a parallel build and
  gives concurrent callers the serial build (same results);
* GNU OpenMP aborts a process forked after it was used (``multiprocessing``
  with 'fork'): in such a child fastprob runs the serial builds.
"""
import concurrent.futures
import os
import threading
import types

import numba
from numba.extending import overload

from . import _cache

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

_COMMON = dict(nogil=True, error_model="numpy")


def _jit(fn, fastmath, **options):
    """numba.njit with this module's flags, cached on disk (see :mod:`._cache`) unless CACHE is off."""
    dispatcher = numba.njit(fastmath=set(fastmath), **_COMMON, **options)(fn)
    return _cache.enable(dispatcher) if CACHE else dispatcher


def serial(fn=None, *, reduce=False):
    """Compile ``fn`` as a single-threaded kernel (lazy, so any dtype/layout works)."""

    def wrap(f):
        return _jit(f, FASTMATH_REDUCE if reduce else FASTMATH_STRICT)

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
        self.serial = _jit(_renamed(fn, "serial"), fastmath)
        self.parallel = _jit(_renamed(fn, "parallel"), fastmath, parallel=True)
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


class BlockKernel:
    """A kernel ``fn(b0, b1, *args)`` doing the work of blocks b0 <= b < b1, compiled once.

    The row kernels (mixture scores, EM steps, moments) split their rows into
    blocks whose results are independent.  They are compiled single-threaded
    only, without the GIL, and run in parallel by splitting the blocks into
    contiguous ranges, one per thread of a pool of Python threads
    (:func:`run_in_threads`).  Compared with a ``parallel=True`` build this
    compiles one kernel instead of two, and Numba's parallel compilation is the
    costly one: em_step's took 4.8-5.4 s to compile where its serial build took
    1.4-1.9 s (Zen 4), and loading a cached parallel build is slow too (numba
    #8085).  Idle pool threads sleep (OpenMP's spin while waiting, taking cores
    from scikit-learn's OpenMP code that runs between EM steps).

    ``kernel.serial(n_blocks, *args)`` runs every block on the calling thread;
    ``kernel.parallel(n_blocks, *args)`` splits them across
    :func:`numba.get_num_threads` threads; ``kernel.for_size(work)`` picks one
    from a rough count of floating-point work, as :meth:`KernelPair.for_size`.
    Results do not depend on the choice: blocks are computed alike either way.
    """

    def __init__(self, fn, reduce):
        self.kernel = _jit(fn, FASTMATH_REDUCE if reduce else FASTMATH_STRICT)
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__

    def serial(self, n_blocks, *args):
        """Run blocks 0 .. n_blocks - 1 on the calling thread."""
        return self.kernel(0, n_blocks, *args)

    def parallel(self, n_blocks, *args):
        """Run blocks 0 .. n_blocks - 1 split across the threads (see :func:`run_in_threads`)."""
        run_in_threads(self.kernel, n_blocks, args)

    def for_size(self, work):
        """``serial`` or ``parallel`` for about ``work`` floating-point operations."""
        if work < KernelPair.PARALLEL_MIN_WORK or numba.get_num_threads() == 1:
            return self.serial
        return self.parallel


def blockwise(fn=None, *, reduce=False):
    """Decorator: compile ``fn(b0, b1, *args)`` into a :class:`BlockKernel`."""

    def wrap(f):
        return BlockKernel(f, reduce)

    return wrap if fn is None else wrap(fn)


_pool = {"executor": None, "pid": None, "lock": threading.Lock()}


def _executor():
    """The process's pool of worker threads (made on first use, again in a forked child)."""
    with _pool["lock"]:
        if _pool["executor"] is None or _pool["pid"] != os.getpid():
            _pool["executor"] = concurrent.futures.ThreadPoolExecutor(
                max_workers=max(1, numba.config.NUMBA_NUM_THREADS - 1), thread_name_prefix="fastprob")
            _pool["pid"] = os.getpid()
        return _pool["executor"]


def run_in_threads(kernel, n_blocks, args):
    """Run ``kernel(b0, b1, *args)`` over contiguous ranges covering 0 .. n_blocks - 1, one per thread.

    As many ranges as :func:`numba.get_num_threads` (the calling thread's
    setting, see :func:`fastprob.set_num_threads`), of equal numbers of
    blocks; the calling thread runs the first, pool threads the rest.
    """
    n = min(numba.get_num_threads(), n_blocks)
    if n <= 1:
        kernel(0, n_blocks, *args)
        return
    bounds = [n_blocks * i // n for i in range(n + 1)]
    futures = [_executor().submit(kernel, bounds[i], bounds[i + 1], *args) for i in range(1, n)]
    try:
        kernel(bounds[0], bounds[1], *args)
    finally:
        for f in futures:
            f.result()


def _renamed(fn, suffix):
    clone = types.FunctionType(
        fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__
    )
    clone.__qualname__ = f"{fn.__qualname__}__{suffix}"
    clone.__doc__ = fn.__doc__
    clone.__module__ = fn.__module__
    return clone
