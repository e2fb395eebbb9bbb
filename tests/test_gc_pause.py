"""kernels._gc_pause: the collector pauses while fastprob's kernels compile and while fastprob imports, never after,
and never for other libraries' Numba code."""
import gc
import subprocess
import sys
import threading

import numba
import pytest
from numba.core import event

from fastprob.cli import main
from fastprob.kernels import _config, _gc_pause


@pytest.fixture
def collector_state():
    """Start enabled with no pause open; check nothing was left open; restore the caller's state."""
    was = gc.isenabled()
    gc.enable()
    assert _gc_pause._depth == 0
    yield
    assert _gc_pause._depth == 0
    (gc.enable if was else gc.disable)()


class RecordDuringCompile(event.Listener):
    """Records gc.isenabled() whenever Numba really compiles (inside its compiler lock)."""

    def __init__(self):
        self.seen = []

    def on_start(self, ev):
        self.seen.append(gc.isenabled())

    def on_end(self, ev):
        pass


@pytest.fixture
def recorder():
    rec = RecordDuringCompile()
    event.register("numba:compile", rec)
    yield rec
    event.unregister("numba:compile", rec)


def fresh_function():
    """A new kernel built as fastprob builds its own: compiles on first call."""
    def add_one(x):
        return x + 1

    return _config.serial(add_one)


def foreign_function():
    @numba.njit  # another library's function: the collector is left alone
    def add_one(x):
        return x + 1

    return add_one


def test_import_and_first_use_leave_the_collector_enabled_and_the_exit_alone():
    code = (
        "import atexit, gc; seen = []; register = atexit.register;"
        "atexit.register = lambda f, *a, **k: (seen.append(f), register(f, *a, **k))[1];"
        "import fastprob, numpy as np; from fastprob.kernels import _gc_pause as g;"
        "fastprob.GaussianMixture(2, random_state=0).fit(fastprob.load_faithful());"
        "fastprob.sigmoid(np.ones(3, np.float32));"
        "print(gc.isenabled(), g._depth, gc.freeze in seen)"
    )
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "0", "False"]


def test_paused_nests_and_restores(collector_state):
    with _gc_pause.paused():
        assert not gc.isenabled()
        with _gc_pause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_paused_restores_on_error(collector_state):
    with pytest.raises(KeyError):
        with _gc_pause.paused():
            raise KeyError("x")
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled(collector_state):
    gc.disable()
    with _gc_pause.paused():
        pass
    fresh_function()(1)
    assert not gc.isenabled()


def test_paused_during_a_kernel_compile_and_enabled_after(collector_state, recorder):
    assert fresh_function()(1) == 2
    assert recorder.seen == [False]
    assert gc.isenabled()


def test_other_libraries_compiles_leave_the_collector_alone(collector_state, recorder):
    assert foreign_function()(1) == 2
    assert recorder.seen == [True]


def test_import_leaves_other_compiles_alone():
    code = ("import gc, numba, fastprob; from numba.core import event; seen = [];"
            "L = type('L', (event.Listener,), {'on_start': lambda s, e: seen.append(gc.isenabled()),"
            " 'on_end': lambda s, e: None}); event.register('numba:compile', L());"
            "numba.njit(lambda x: x + 1)(1); print(seen)")
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[True]"


def test_enabled_after_a_compile_that_fails(collector_state):
    def bad(x):
        return x.no_such_attribute

    with pytest.raises(numba.core.errors.TypingError):
        _config.serial(bad)(1)
    assert gc.isenabled()


def test_enabled_after_concurrent_compiles(collector_state, recorder):
    functions = [fresh_function() for _ in range(4)]
    barrier = threading.Barrier(len(functions))
    results = [None] * len(functions)

    def work(i):
        barrier.wait()
        results[i] = functions[i](i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(functions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [1, 2, 3, 4]
    assert recorder.seen == [False] * len(functions)
    assert gc.isenabled()


def test_the_command_freezes_the_heap_at_exit_but_the_library_does_not(monkeypatch, capsys):
    registered = []
    monkeypatch.setattr("atexit.register", registered.append)
    monkeypatch.setattr(sys, "argv", ["fastprob", "bench", "--help"])
    with pytest.raises(SystemExit):
        main()  # as the console script calls it
    assert registered == [gc.freeze]
    registered.clear()
    with pytest.raises(SystemExit):
        main(["bench", "--help"])  # called from Python
    assert registered == []
