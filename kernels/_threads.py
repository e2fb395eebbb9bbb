"""The threads the parallel kernels run on: a small pool of Python threads, one range of work each.

Kernels are compiled single-threaded and without the GIL (:class:`._config.BlockKernel`);
a parallel call splits its items (elements, rows, blocks of rows) into one
contiguous range per thread.  The calling thread computes the first range and
pool worker i the range i + 1, so results never depend on timing.

Two things make a call on a shared machine cost what its work costs:

* A range no worker has started by the time the calling thread is done with
  its own is taken back and computed by the calling thread: when other
  processes keep the cores busy, a call never waits for a thread that cannot
  get a core (with OpenMP it waited a scheduler time slice, ~12 ms, for work
  of 0.05 ms).
* On Linux, each worker is kept on a CPU other than the one the calling
  thread runs on (``sched_setaffinity``, re-set only when the calling thread
  moves).  A woken thread is otherwise often queued on its waker's CPU, and
  the two halves of a call ran one after the other for 3-5 ms until the
  scheduler moved one (measured: 10 ms instead of 5 ms for a W1 log-density
  after an idle pause, one call in two, Zen 4 VM).  The process's own CPU
  set is respected.
"""
import ctypes
import os
import queue
import threading

import numba

_PENDING, _RUNNING = 0, 1


class _Job:
    """One range of one call: run by its worker, or taken back by the caller if still pending."""

    __slots__ = ("fn", "args", "state", "lock", "done", "error")

    def __init__(self, fn, args):
        self.fn, self.args = fn, args
        self.state = _PENDING
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.error = None

    def claim(self):
        with self.lock:
            if self.state != _PENDING:
                return False
            self.state = _RUNNING
            return True

    def run(self):
        try:
            self.fn(*self.args)
        except BaseException as exc:  # handed to the calling thread
            self.error = exc
        finally:
            self.done.set()


class _Worker:
    def __init__(self, index):
        self.jobs = queue.SimpleQueue()
        self.cpu = None
        started = threading.Event()
        self.thread = threading.Thread(target=self._loop, args=(started,), name=f"fastprob-{index}", daemon=True)
        self.thread.start()
        started.wait()

    def _loop(self, started):
        self.tid = threading.get_native_id()
        started.set()
        while True:
            job = self.jobs.get()
            if job.claim():
                job.run()


class _Pool:
    def __init__(self, n_workers):
        self.pid = os.getpid()
        self.workers = [_Worker(i) for i in range(n_workers)]
        try:
            self.allowed = sorted(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # not Linux
            self.allowed = []
        self.caller_cpu = None

    def keep_off(self, cpu):
        """Pin the workers to CPUs other than ``cpu`` (where the caller runs), if it moved."""
        if cpu is None or cpu == self.caller_cpu or len(self.allowed) < 2:
            return
        others = [c for c in self.allowed if c != cpu]
        for i, worker in enumerate(self.workers):
            target = others[i % len(others)]
            if worker.cpu != target:
                try:
                    os.sched_setaffinity(worker.tid, {target})
                    worker.cpu = target
                except OSError:  # the process's CPU set changed: leave the worker where it is
                    pass
        self.caller_cpu = cpu


def _current_cpu_function():
    try:
        fn = ctypes.CDLL(None, use_errno=True).sched_getcpu
    except (AttributeError, OSError):  # not glibc/Linux
        return lambda: None
    fn.restype = ctypes.c_int
    return lambda: (lambda c: c if c >= 0 else None)(fn())


_current_cpu = _current_cpu_function()
_state = {"pool": None, "lock": threading.Lock()}
_setting = threading.local()


def get_num_threads():
    """Threads a parallel kernel call of the calling Python thread uses (default: NUMBA_NUM_THREADS)."""
    return getattr(_setting, "n", numba.config.NUMBA_NUM_THREADS)


def set_num_threads(n):
    """Set :func:`get_num_threads` for the calling Python thread (1 <= n <= NUMBA_NUM_THREADS, unchecked)."""
    _setting.n = n


def _pool():
    """The process's workers (made on first use, and again in a forked child, which has none)."""
    with _state["lock"]:
        pool = _state["pool"]
        if pool is None or pool.pid != os.getpid():
            pool = _state["pool"] = _Pool(max(1, numba.config.NUMBA_NUM_THREADS - 1))
        return pool


def run_in_threads(kernel, n_items, args):
    """Run ``kernel(i0, i1, *args)`` over contiguous ranges covering 0 .. n_items - 1, one per thread.

    As many ranges as :func:`get_num_threads`, of equal numbers of items; see
    the module docstring.
    """
    n = min(get_num_threads(), n_items)
    if n <= 1:
        kernel(0, n_items, *args)
        return
    bounds = [n_items * i // n for i in range(n + 1)]
    pool = _pool()
    with _state["lock"]:
        pool.keep_off(_current_cpu())
    jobs = []
    for i in range(1, n):
        job = _Job(kernel, (bounds[i], bounds[i + 1], *args))
        pool.workers[(i - 1) % len(pool.workers)].jobs.put(job)
        jobs.append(job)
    try:
        kernel(bounds[0], bounds[1], *args)
    finally:
        for job in jobs:
            if job.claim():  # no worker has started it: compute it here
                job.run()
            else:
                job.done.wait()
    for job in jobs:
        if job.error is not None:
            raise job.error
