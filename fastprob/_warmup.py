"""Build the kernels ahead of use (:func:`compile`), and record what Numba compiles (:class:`BuildLog`).

A kernel is compiled per dtype and per Mahalanobis solver (one for each of
d = 1, 2, 3, 4 and one for every other d, see
:func:`fastprob.kernels.gaussian.solver_token`), not per number of features,
and kept in the disk cache (:mod:`fastprob.kernels._cache`).  ``compile`` runs
small calls of every mixture and Gaussian function for each (dtype, solver)
needed, in several processes at once, so that later processes -- a notebook,
every Dask worker, a container started from an image -- load machine code
instead of compiling it.
"""
import concurrent.futures
import json
import numbers
import os
import pathlib
import subprocess
import sys
import threading
import time

import numpy as np

from ._covariance import COVARIANCE_TYPES, TYPES


class BuildLog:
    """Context manager recording every Numba compilation in this process while it is open.

    ``builds`` lists ``(name, argument types, seconds)``: seconds are the
    build's own, without the builds nested in it (a kernel compiles the kernels
    it calls first).  Loads from the disk cache are not compilations and are
    not listed.
    """

    def __init__(self):
        self.builds = []
        self._stacks = threading.local()

    def __enter__(self):
        from numba.core import event

        log = self

        class _Listener(event.Listener):
            def on_start(self, ev):
                stack = log._stack()
                stack.append([time.perf_counter(), 0.0])

            def on_end(self, ev):
                stack = log._stack()
                t0, nested = stack.pop()
                seconds = time.perf_counter() - t0
                if stack:
                    stack[-1][1] += seconds
                fn = ev.data["dispatcher"].py_func
                log.builds.append((f"{fn.__module__}.{fn.__qualname__}", tuple(ev.data["args"]),
                                   seconds - nested))

        self._listener = _Listener()
        self._install = event.install_listener("numba:compile", self._listener)
        self._install.__enter__()
        return self

    def __exit__(self, *exc_info):
        self._install.__exit__(*exc_info)
        return False

    def _stack(self):
        if not hasattr(self._stacks, "stack"):
            self._stacks.stack = []
        return self._stacks.stack

    def kernels(self):
        """The builds of fastprob's own kernels (the rest are Numba's library code they use)."""
        return [b for b in self.builds if b[0].startswith("fastprob.kernels.")]

    def seconds(self):
        """Total compilation time."""
        return sum(b[2] for b in self.builds)


def _as_list(values, name):
    """A sequence argument as a list; a single string or number counts as one value."""
    if isinstance(values, (str, bytes, numbers.Number, np.dtype, type)):
        values = [values]
    try:
        values = list(values)
    except TypeError:
        raise TypeError(f"{name} must be a sequence, got {values!r}.") from None
    if not values:
        raise ValueError(f"{name} is empty: name at least one.")
    return values


def plan_jobs(dtypes, n_features, covariance_types, missing=False, grouped=False):
    """The (dtype, d, covariance types, missing, grouped) jobs that together build every kernel those calls use.

    One job per dtype and solver: d = 1..4 each have their own solver for the
    'full' and 'tied' covariances; every other d, and 'diag' and 'spherical'
    at any d, share the blocked solver, built by one job run at d = 5 (the
    same kernels as any larger d, in a fraction of the time).
    """
    from .kernels.gaussian import UNROLLED_WIDTHS

    names = []
    for t in _as_list(dtypes, "dtypes"):
        try:
            name = np.dtype(t).name
        except TypeError:
            name = repr(t)
        if name not in ("float32", "float64"):
            raise ValueError(f"dtypes must be float32 and/or float64, got {t!r}.")
        names.append(name)
    ds = []
    for d in _as_list(n_features, "n_features"):
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, numbers.Integral) or d < 1:
            raise ValueError(f"n_features must be numbers of features (integers >= 1), got {d!r}.")
        ds.append(int(d))
    covariance_types = _as_list(covariance_types, "covariance_types")
    for c in covariance_types:
        if c not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_types must be among {COVARIANCE_TYPES}, got {c!r}.")
    blocked = max(UNROLLED_WIDTHS) + 1
    triangular = {c for c in covariance_types if not TYPES[c].diagonal}
    diagonal = {c for c in covariance_types if TYPES[c].diagonal}
    jobs = {}  # (dtype, d to run at) -> covariance types
    for t in dict.fromkeys(names):
        for d in sorted(set(ds)):
            if triangular:
                jobs.setdefault((t, d if d in UNROLLED_WIDTHS else blocked), set()).update(triangular)
            if diagonal:
                jobs.setdefault((t, blocked), set()).update(diagonal)
    missing, grouped = bool(missing), bool(grouped)
    return [(t, d, tuple(c for c in COVARIANCE_TYPES if c in covs), missing, grouped)
            for (t, d), covs in jobs.items()]


def _run_job(dtype, d, covariance_types, missing=False, grouped=False):
    """Run every mixture/Gaussian function once on small data in this process; return its build log.

    With ``missing``, also their missing-value forms (``missing='marginalize'``, ``impute``), whose
    kernels are separate builds; with ``grouped``, ``fit_grouped`` (its k-means and EM kernels).
    """
    import warnings

    from .estimator import GaussianMixture
    from .gaussian import mvn_fit, mvn_logpdf
    from .mixture import gmm_logpdf, gmm_responsibilities

    rng = np.random.default_rng(0)
    # Small data: the kernels are the same for any number of rows and threads.
    X = rng.standard_normal((64, d)).astype(dtype)
    started = time.perf_counter()
    with BuildLog() as log, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cov in covariance_types:
            gm = GaussianMixture(2, covariance_type=cov, max_iter=2, random_state=0).fit(X)
            gm.predict_proba(X)
            gm.score_samples(X)
            covs = gm.covariances_
            gmm_logpdf(X, gm.weights_, gm.means_, covs, covariance_type=cov)
            gmm_responsibilities(X, gm.weights_, gm.means_, covs, covariance_type=cov)
        # The Gaussian functions use the solver of d too ('full' covariances).
        mean, sigma = mvn_fit(X)
        mvn_logpdf(X, mean, sigma)
        if missing:
            Xm = X.copy()
            Xm[::3, 0] = np.nan  # rows missing one value, and (d > 2) rows missing two
            Xm[1::3, : min(2, d - 1) or 1] = np.nan
            for cov in covariance_types:
                gm = GaussianMixture(2, covariance_type=cov, max_iter=2, random_state=0, missing="marginalize")
                gm.fit(Xm)
                gm.predict_proba(Xm)
                gm.score_samples(Xm)
                gm.impute(Xm, return_std=True)
                gmm_logpdf(Xm, gm.weights_, gm.means_, gm.covariances_, covariance_type=cov, missing="marginalize")
                gmm_responsibilities(Xm, gm.weights_, gm.means_, gm.covariances_, covariance_type=cov,
                                     missing="marginalize")
            mvn_logpdf(Xm, mean, sigma, missing="marginalize")
        if grouped:
            from .grouped import fit_grouped

            groups = np.arange(len(X)) % 2
            for cov in covariance_types:
                fit_grouped(X, groups, 2, covariance_type=cov, max_iter=2, random_state=0)
    return {"dtype": dtype, "n_features": d, "covariance_types": covariance_types, "missing": missing,
            "grouped": grouped,
            "seconds": time.perf_counter() - started, "kernels_built": len(log.kernels()),
            "compile_seconds": log.seconds()}


_WORKER = """
import json, sys
from fastprob._warmup import _run_job
for line in sys.stdin:
    dtype, d, covs, missing, grouped = json.loads(line)
    try:
        result = _run_job(dtype, d, tuple(covs), missing, grouped)
    except BaseException as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result), flush=True)
"""


class _WorkerProcess:
    """A new interpreter that imports this same fastprob and runs :func:`_run_job` for each job it is sent.

    A plain subprocess, not multiprocessing: it re-imports no ``__main__`` (a
    script calling ``fastprob.compile()`` at top level needs no
    ``if __name__ == "__main__"`` guard), works in notebooks and in daemonic
    processes such as Dask's workers, whatever threads or OpenMP runtime this
    process has started.  One worker runs several jobs: it imports once, and
    the helper kernels it compiled for one job serve the next.
    """

    def __init__(self):
        root = str(pathlib.Path(__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
        self.proc = subprocess.Popen([sys.executable, "-P", "-c", _WORKER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def run(self, dtype, d, covariance_types, missing, grouped):
        self.proc.stdin.write(json.dumps([dtype, d, list(covariance_types), missing, grouped]) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        what = f"the job {dtype} d={d} {'/'.join(covariance_types)} failed"
        if not line:
            err = self.proc.stderr.read()
            last = (err.strip().splitlines() or [f"exit status {self.proc.wait()}"])[-1]
            raise RuntimeError(f"{what}: {last}\n{err[-3000:]}")
        result = json.loads(line)
        if "error" in result:
            raise RuntimeError(f"{what}: {result['error']}")
        result["covariance_types"] = tuple(result["covariance_types"])
        return result

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


def _run_in_workers(jobs, processes, report):
    """Run the jobs on ``processes`` worker interpreters, each taking the next job when it is free."""
    pending = list(jobs)
    lock = threading.Lock()

    def serve():
        worker = _WorkerProcess()
        try:
            while True:
                with lock:
                    if not pending:
                        return
                    job = pending.pop(0)
                result = worker.run(*job)
                with lock:
                    report(result)
        finally:
            worker.close()

    with concurrent.futures.ThreadPoolExecutor(processes) as pool:
        for future in [pool.submit(serve) for _ in range(processes)]:
            future.result()


def compile(dtypes=("float64", "float32"), n_features=range(1, 65),
            covariance_types=COVARIANCE_TYPES, *, processes=None, verbose=True, missing=False, grouped=False):
    """Build the kernels of the mixture and Gaussian functions ahead of use, into the disk cache.

    Later processes on this machine (same CPU, Python, Numba and fastprob)
    load them instead of compiling: their first call takes as long as any
    other.  Calls with data of any size are covered: the kernels do not depend
    on the number of rows or components, only on the dtype and on the number
    of features through one of five Mahalanobis solvers (d = 1, 2, 3, 4, and
    every other d).

    Parameters
    ----------
    dtypes : {'float64', 'float32'} or a sequence of them
    n_features : int or iterable of int
        Numbers of features the data will have (``normal_fit`` and the other
        one-dimensional functions are covered by d = 1).
    covariance_types : {'full', 'tied', 'diag', 'spherical'} or a sequence of them
    processes : int, optional
        Worker processes that compile side by side (new interpreters; default:
        the number of CPUs, at most the number of jobs); 1 compiles in this
        process.
    verbose : bool
        Print one line per finished job.
    missing : bool
        Also build the kernels of the missing-value forms (``missing='marginalize'``
        in the functions and the estimator, ``GaussianMixture.impute``): separate
        builds, about as many again, which data without NaN never use.
    grouped : bool
        Also build :func:`fastprob.fit_grouped`'s kernels (k-means and per-group
        EM; separate builds of 15-25 s each, per dtype and solver).

    Returns
    -------
    list of dict
        One per job: ``dtype``, ``n_features`` (the d it ran at),
        ``covariance_types``, ``missing``, ``grouped``, ``seconds``, ``kernels_built`` (0 when all came
        from the cache) and ``compile_seconds``.

    Examples
    --------
    >>> import fastprob
    >>> jobs = fastprob.compile(["float64"], [2], ["full"], processes=1, verbose=False)
    >>> [(job["dtype"], job["n_features"]) for job in jobs]
    [('float64', 2)]
    """
    jobs = plan_jobs(dtypes, n_features, covariance_types, missing, grouped)
    if processes is None:
        processes = os.cpu_count() or 1
    if isinstance(processes, (bool, np.bool_)) or not isinstance(processes, numbers.Integral) or processes < 1:
        raise ValueError(f"processes must be a positive integer, got {processes!r}.")
    processes = min(int(processes), len(jobs))
    started = time.perf_counter()
    results = []

    def report(result):
        results.append(result)
        if verbose:
            print(f"[{len(results)}/{len(jobs)}] {result['dtype']} d={result['n_features']} "
                  f"{'/'.join(result['covariance_types'])}{' +missing' if result['missing'] else ''}"
                  f"{' +grouped' if result['grouped'] else ''}: "
                  f"{result['kernels_built']} kernels built "
                  f"in {result['seconds']:.1f} s", flush=True)

    if verbose:
        from .kernels._cache import cache_dir

        print(f"fastprob: building {len(jobs)} kernel sets in {processes} process(es) into {cache_dir()}",
              flush=True)
    if processes == 1:
        for job in jobs:
            report(_run_job(*job))
    else:
        _run_in_workers(jobs, processes, report)
    if verbose:
        print(f"done in {time.perf_counter() - started:.1f} s", flush=True)
    return sorted(results, key=lambda r: jobs.index((r["dtype"], r["n_features"], r["covariance_types"],
                                                     r["missing"], r["grouped"])))
