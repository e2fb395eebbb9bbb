"""Pause Python's cyclic garbage collector across bursts of long-lived allocations.

Importing numba, scikit-learn (which imports scipy.stats and pandas) and loading
the first Numba kernels allocates a few hundred thousand objects that live as
long as the process.  Each burst trips a full (generation-2) collection that
re-scans every object already alive: 0.03-0.09 s each, five of them before a
fresh process has fitted Old Faithful, none finding garbage worth the scan.
With the pauses there are none; that fresh process went from 2.08 to 2.00 s
(median of 8, alternating with the previous commit; 1.64 to 1.56 s where pandas
is not installed).  So the collector is paused

* while fastprob imports numba and scikit-learn (:func:`paused`), and
* while any thread compiles, loads from the on-disk cache, or waits to compile a
  Numba kernel (:func:`install_compile_pause` listens to Numba's compiler-lock
  events, so the pause covers the kernels of other libraries in the process too).

Automatic collection resumes when the last pause ends, and only if it was
enabled when the first began: a caller's own ``gc.disable()`` is left alone.
Objects allocated meanwhile are examined by the next ordinary collection.
"""
import contextlib
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


_listener = None
#: Thread id -> nesting depth of Numba compiler-lock events on that thread.
_compile_depth = {}


def _compile_start(lock_owned):
    tid = threading.get_ident()
    stale = 0
    with _lock:
        if _compile_depth.get(tid) and not lock_owned:
            # This thread has an open START but does not hold the lock, so that
            # START never got its END: a KeyboardInterrupt arrived between Numba's
            # event and its lock acquisition.  Drop it, or the pause would last
            # for the rest of the process.
            stale = _compile_depth.pop(tid)
        _compile_depth[tid] = _compile_depth.get(tid, 0) + 1
    for _ in range(stale):
        _leave()
    _enter()


def _compile_end():
    tid = threading.get_ident()
    with _lock:
        depth = _compile_depth.get(tid, 0)
        if depth == 0:  # its START was dropped as stale, or came before install
            return
        if depth == 1:
            del _compile_depth[tid]
        else:
            _compile_depth[tid] = depth - 1
    _leave()


def install_compile_pause():
    """Pause collection while Numba holds (or waits for) its compiler lock; idempotent."""
    global _listener
    if _listener is None:
        from numba.core import event
        from numba.core.compiler_lock import global_compiler_lock

        class CompilePause(event.Listener):
            # Numba fires START on the compiling thread before it waits for the
            # (re-entrant) lock and END after it releases it, also when the
            # compilation raised.
            def on_start(self, event):
                _compile_start(global_compiler_lock.is_locked())

            def on_end(self, event):
                _compile_end()

        _listener = CompilePause()
        event.register("numba:compiler_lock", _listener)
    return _listener
