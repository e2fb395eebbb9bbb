"""Pause Python's cyclic garbage collector across fastprob's bursts of long-lived allocations.

Importing numba, scikit-learn (which imports scipy.stats and pandas) and
compiling or loading the first Numba kernels allocate a few hundred thousand
objects that live as long as the process.  Each burst trips full
(generation-2) collections that re-scan every object already alive (0.03-0.09
s each on Zen 4) and find no garbage worth the scan.  So the collector is
paused

* while fastprob imports numba and scikit-learn (:func:`paused`), and
* while one of fastprob's kernels compiles or loads from the on-disk cache
  (:func:`pause_while_compiling`, applied by :mod:`._config` to every kernel);
  other libraries' compiles are left alone.

Automatic collection resumes when the last pause ends, and only if it was
enabled when the first began: a caller's own ``gc.disable()`` is left alone.
Objects allocated meanwhile are examined by the next ordinary collection.
"""
import contextlib
import functools
import gc
import threading

_lock = threading.Lock()
_depth = 0
_we_disabled = False


def _enter():
    global _depth, _we_disabled
    with _lock:
        _depth += 1
        if _depth == 1 and gc.isenabled():
            gc.disable()
            _we_disabled = True


def _leave():
    global _depth, _we_disabled
    with _lock:
        _depth -= 1
        if _depth == 0 and _we_disabled:
            _we_disabled = False
            gc.enable()


@contextlib.contextmanager
def paused():
    """Context manager: no automatic collection inside (nests, thread-safe)."""
    _enter()
    try:
        yield
    finally:
        _leave()


def pause_while_compiling(dispatcher):
    """Pause collection while ``dispatcher`` compiles or loads a build from the cache.

    Only fastprob's own dispatchers are wrapped (by ``_config``): Numba
    compiles of other libraries in the process keep the collector as it was.
    A kernel's callees are compiled inside its own compile, so the pause
    covers them too.
    """
    compile_unpaused = dispatcher.compile

    @functools.wraps(compile_unpaused)
    def compile(sig):
        with paused():
            return compile_unpaused(sig)

    dispatcher.compile = compile
    return dispatcher
