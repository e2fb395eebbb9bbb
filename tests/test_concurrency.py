"""Parallel kernels called from several Python threads at once, with any threading layer set, and after fork."""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import fastprob

SCRIPT_SETUP = """
import threading, numpy as np, fastprob, numba
rng = np.random.default_rng(0)
X = rng.standard_normal((300_000, 4))
w = np.full(3, 1 / 3); m = rng.standard_normal((3, 4)); c = np.stack([np.eye(4) * (k + 1) for k in range(3)])
ref = fastprob.gmm_logpdf(X, w, m, c)
# Both kinds of parallel kernel: elementwise (sigmoid) and row kernels (gmm_logpdf), each
# one build run on fastprob's worker threads.
Y = rng.standard_normal(2_000_000)
sref = fastprob.sigmoid(Y)
"""


def run_script(body, env=None):
    code = textwrap.dedent(SCRIPT_SETUP) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_concurrent_callers_get_the_sequential_answers():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200_000, 3))
    w, m = np.full(2, 0.5), rng.standard_normal((2, 3))
    c = np.stack([np.eye(3), 2 * np.eye(3)])
    expected = {"gmm": fastprob.gmm_logpdf(X, w, m, c), "mvn": fastprob.mvn_logpdf(X, m[0], c[0]),
                "fit": fastprob.mvn_fit(X)[1],
                "em": fastprob.GaussianMixture(2, random_state=0).fit(X[:20_000]).means_}
    jobs = {"gmm": lambda: fastprob.gmm_logpdf(X, w, m, c), "mvn": lambda: fastprob.mvn_logpdf(X, m[0], c[0]),
            "fit": lambda: fastprob.mvn_fit(X)[1],
            "em": lambda: fastprob.GaussianMixture(2, random_state=0).fit(X[:20_000]).means_}
    results, errors = [], []

    def worker(name):
        try:
            for _ in range(3):
                results.append((name, jobs[name]()))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(name,)) for name in list(jobs) * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 24
    for name, value in results:
        np.testing.assert_array_equal(value, expected[name], err_msg=name)


def test_no_kernel_starts_numbas_threading_layer():
    # Every parallel kernel runs on fastprob's Python threads: Numba's threading layer
    # (with its workqueue and fork hazards) is never started, whatever it is set to.
    out = run_script("""
        from fastprob.kernels import _threads
        res = [None] * 6
        def run(i):
            for _ in range(4):
                res[i] = (fastprob.sigmoid(Y), fastprob.gmm_logpdf(X, w, m, c))
        ts = [threading.Thread(target=run, args=(i,)) for i in range(6)]
        [t.start() for t in ts]; [t.join() for t in ts]
        try:
            layer = numba.threading_layer()
        except ValueError:
            layer = "none"
        print(layer, _threads._state["pool"] is not None,
              all(np.array_equal(s, sref) and np.array_equal(g, ref) for s, g in res))
    """, env={"NUMBA_THREADING_LAYER": "workqueue"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["none", "True", "True"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() exists only on POSIX")
def test_forked_child_computes_in_parallel_with_its_own_threads():
    # A forked child has none of the parent's threads: its first parallel call makes
    # a new pool (and does not wait on the parent's).
    out = run_script("""
        import multiprocessing as mp
        from fastprob.kernels import _threads
        def child(q):
            parent_pool = _threads._state["pool"]
            same = np.array_equal(fastprob.sigmoid(Y), sref) and np.array_equal(fastprob.gmm_logpdf(X, w, m, c), ref)
            q.put((bool(same), _threads._state["pool"] is not parent_pool))
        if __name__ == "__main__":
            ctx = mp.get_context("fork"); q = ctx.Queue()
            p = ctx.Process(target=child, args=(q,)); p.start(); p.join(120)
            same, new_pool = q.get(timeout=5)
            print(p.exitcode, same, new_pool)
    """)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["0", "True", "True"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() exists only on POSIX")
def test_gaussian_mixture_fits_in_a_forked_child_after_the_parent_fitted_one():
    # scikit-learn's KMeans (the 'kmeans' initialisation) hung in a child forked
    # from a process that had run it: GNU OpenMP waits for threads the child
    # does not have.  In forked children it now runs on one OpenMP thread.
    out = run_script("""
        import multiprocessing as mp
        from fastprob.threads import openmp_fork_guard
        Xs = X[:50_000]
        def fit(init):
            gm = fastprob.GaussianMixture(3, init_params=init, random_state=0).fit(Xs)
            return np.concatenate([gm.means_.ravel(), gm.covariances_.ravel(), gm.weights_])
        def child(q):
            q.put((type(openmp_fork_guard()).__name__, [fit(i) for i in ("kmeans", "k-means++")]))
        if __name__ == "__main__":
            expected = [fit(i) for i in ("kmeans", "k-means++")]  # runs KMeans' OpenMP code here first
            ctx = mp.get_context("fork"); q = ctx.Queue()
            p = ctx.Process(target=child, args=(q,)); p.start(); p.join(120)
            if p.exitcode is None:
                p.kill(); print("hung", type(openmp_fork_guard()).__name__); raise SystemExit
            guard, got = q.get(timeout=5)
            same = all(np.allclose(a, b, rtol=1e-10, atol=0) for a, b in zip(got, expected))
            print(p.exitcode, type(openmp_fork_guard()).__name__, guard, same)
    """)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["0", "nullcontext", "threadpool_limits", "True"]
