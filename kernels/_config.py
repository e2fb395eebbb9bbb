"""The one place that sets Numba's compilation flags for every fastprob kernel.

Kernels never pass ``fastmath=``/``parallel=``/``cache=`` themselves; they use the
decorators below, so the whole library can be switched (for debugging, profiling or
a platform quirk) by editing or overriding this module only.

Environment overrides (read at import):

``FASTPROB_NUMBA_CACHE=0``
    disable the on-disk compile cache (default on; where it is kept: :mod:`._cache`).

Dtype dispatch -- one idiom.  A kernel is written once and compiled per argument
type (lazily: a float32 build only when float32 data arrive).  Where the code
must differ by dtype, or by a compile-time choice such as the Mahalanobis solver
for d, the kernel calls a stub whose implementation :func:`choose_by_types`
picks from the argument types while compiling; Python never chooses between
per-dtype copies.  A choice that is not a dtype travels as a *type token*: an
empty array whose type carries it (``gaussian.solver_token``: its ``ndim``
names the solver).  The row kernels compute in the dtype of the factors they
are given (``chol.dtype``), so callers pick the arithmetic by what they pass.
For example, from :mod:`.elementwise`::

    def softplus_loop(i0, i1, x, out):
        raise NotImplementedError("compiled use only")

    @choose_by_types(softplus_loop)
    def _softplus_by_type(i0, i1, x, out):      # runs at compile time, on Numba types
        return _softplus32 if out.dtype == types.float32 else _softplus64

    @blockwise
    def softplus(i0, i1, x, out):               # the kernel: one source, one build per dtype
        softplus_loop(i0, i1, x, out)

Parallelism: no kernel is compiled with ``parallel=True``.  Kernels whose work
splits into independent items (elements, rows, blocks of rows) are compiled
once, single-threaded and without the GIL, and run on a pool of Python threads
(:class:`BlockKernel`).  Numba's threading layer is never started by fastprob,
so its hazards do not arise: the workqueue layer aborting on concurrent
launches, GNU OpenMP aborting in a process forked after it was used, OpenMP
threads spinning after a parallel region on cores scikit-learn's OpenMP code
then needs.
"""
import os

import numba
from numba.extending import overload

from . import _cache
from ._gc_pause import pause_while_compiling
from ._threads import get_num_threads, run_in_threads

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
    """numba.njit with this module's flags, cached on disk (see :mod:`._cache`) unless CACHE is off.

    The collector pauses while the kernel compiles (see :mod:`._gc_pause`).
    """
    dispatcher = pause_while_compiling(numba.njit(fastmath=set(fastmath), **_COMMON, **options)(fn))
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


class BlockKernel:
    """A kernel ``fn(b0, b1, *args)`` doing the work of blocks b0 <= b < b1, compiled once.

    The row kernels (mixture scores, EM steps, moments) split their rows into
    blocks whose results are independent.  They are compiled single-threaded
    only, without the GIL, and run in parallel by splitting the blocks into
    contiguous ranges, one per thread of a pool of Python threads
    (:mod:`._threads`).  Compared with a ``parallel=True`` build this
    compiles one kernel instead of two, and Numba's parallel compilation is the
    costly one: em_step's took 4.8-5.4 s to compile where its serial build took
    1.4-1.9 s (Zen 4), and loading a cached parallel build is slow too (numba
    #8085).  Idle pool threads sleep (OpenMP threads spin for a while after a
    parallel region, taking the cores scikit-learn's OpenMP k-means needs).

    ``kernel.serial(n_blocks, *args)`` runs every block on the calling thread;
    ``kernel.parallel(n_blocks, *args)`` splits them across
    :func:`get_num_threads` threads; ``kernel.for_size(work)`` picks one
    from a rough count of floating-point work.  Results do not depend on the
    choice: blocks are computed alike either way.
    """

    #: Below this much work (``for_size``'s units, roughly flops: about 1 ns of
    #: serial time each) a call runs serially.  Handing ranges to pool threads
    #: costs ~55 µs (measured, 2 threads, Zen 4); this threshold (~0.2 ms of
    #: serial work) keeps that below half of what a second thread saves.
    PARALLEL_MIN_WORK = 200_000

    def __init__(self, fn, reduce):
        self.kernel = _jit(fn, FASTMATH_REDUCE if reduce else FASTMATH_STRICT)
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__

    def serial(self, n_blocks, *args):
        """Run blocks 0 .. n_blocks - 1 on the calling thread."""
        self.kernel(0, n_blocks, *args)

    def parallel(self, n_blocks, *args):
        """Run blocks 0 .. n_blocks - 1 split across the threads (see :func:`run_in_threads`)."""
        run_in_threads(self.kernel, n_blocks, args)

    def for_size(self, work):
        """``serial`` or ``parallel`` for about ``work`` floating-point operations."""
        if work < self.PARALLEL_MIN_WORK or get_num_threads() == 1:
            return self.serial
        return self.parallel


def blockwise(fn=None, *, reduce=False):
    """Decorator: compile ``fn(b0, b1, *args)`` into a :class:`BlockKernel`."""

    def wrap(f):
        return BlockKernel(f, reduce)

    return wrap if fn is None else wrap(fn)
