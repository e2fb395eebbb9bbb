"""Time the comparison registry: the numbers behind ``fastprob bench``.

Method: every implementation is first called once (the warm-up: it compiles
the kernels, or loads them from Numba's on-disk cache, and touches the input
pages); its time minus the median of the timed rounds is reported as the
compile time.  Then ``rounds`` calls are timed with :func:`time.perf_counter`,
reported as their median, quartiles and range.  Accuracy is
``comparison.error(fastprob_result, reference_result)``.
"""
import datetime
import os
import platform
import time

import numpy as np

from .registry import OURS, REGISTRY
from .report import fmt_time

__all__ = ["QUICK_ROUNDS", "cpu_model", "gemm_rate", "machine_info", "run", "select", "time_call"]

#: Timed rounds per implementation with ``quick`` (unless ``rounds`` says otherwise).
QUICK_ROUNDS = 5


def select(prefixes=(), quick=False):
    """Registry entries to run, in registry order.

    Parameters
    ----------
    prefixes : iterable of str
        Entries whose name starts with any of these; all entries if empty.
    quick : bool, default False
        Without ``prefixes``: only the representative subset
        (``Comparison.quick``, see :data:`fastprob._bench.registry.QUICK`).
        Prefixes select from the whole registry either way.

    Returns
    -------
    list of fastprob._bench.registry.Comparison
    """
    prefixes = tuple(prefixes)
    if prefixes:
        return [c for c in REGISTRY if c.name.startswith(prefixes)]
    return [c for c in REGISTRY if c.quick or not quick]


def time_call(fn, args, rounds):
    """Time ``fn(*args)``: one warm-up call, then ``rounds`` timed calls.

    Parameters
    ----------
    fn : callable
    args : tuple
    rounds : int

    Returns
    -------
    result : object
        The warm-up call's result.
    stats : dict
        ``first`` (warm-up seconds), ``median``, ``q1``, ``q3``, ``min``,
        ``max`` (of the timed rounds), ``compile`` (first - median, at least 0)
        and ``rounds``.
    """
    t0 = time.perf_counter()
    result = fn(*args)
    first = time.perf_counter() - t0
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    q1, median, q3 = np.percentile(times, [25, 50, 75])
    return result, {"first": first, "median": float(median), "q1": float(q1), "q3": float(q3),
                    "min": min(times), "max": max(times), "compile": max(first - float(median), 0.0),
                    "rounds": rounds}


def gemm_rate(dtype, n=2048, rounds=5):
    """numpy's matrix-multiply rate in GFLOP/s, best of ``rounds`` n x n products.

    The yardstick for the kernels' useful work rate: measured in the same run, on
    the same cores, through the BLAS numpy loaded (its kernel for this CPU, or the
    one ``OPENBLAS_CORETYPE`` names).

    Parameters
    ----------
    dtype : numpy dtype
    n : int, default 2048
    rounds : int, default 5

    Returns
    -------
    float
    """
    rng = np.random.default_rng(0)
    A, B = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    A @ B
    best = np.inf
    for _ in range(rounds):
        t0 = time.perf_counter()
        A @ B
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def _inputs(comparison, n, seed=0):
    return comparison.make_inputs(n, np.dtype(comparison.dtype), np.random.default_rng(seed))


def _scaling_sizes(comparison, size):
    """N values of the time-vs-N runs below the measured size, geometric spacing.

    Three at the 'bench' size (from the 'test' size up); two at the 'test' size
    (down to 1/16 of it), which keeps ``--quick`` within seconds.
    """
    n = comparison.sizes[size]
    if size == "test":
        return sorted({max(int(round(v)), 16) for v in np.geomspace(n / 16, n, 3)[:-1]})
    return sorted({max(int(round(v)), 16) for v in np.geomspace(comparison.sizes["test"], n, 4)[:-1]})


def _say(progress, text, end="\n"):
    if progress is not None:
        progress.write(text + end)
        progress.flush()


def run(comparisons, *, quick=False, plot=True, rounds=None, progress=None):
    """Time every implementation of every comparison.

    Parameters
    ----------
    comparisons : list of Comparison
        E.g. from :func:`select`.
    quick : bool, default False
        Use each comparison's 'test' size instead of its 'bench' size (the
        README's numbers), :data:`QUICK_ROUNDS` rounds and two smaller N for
        the time-vs-N figures instead of three.
    plot : bool, default True
        Also time each comparison at a few smaller N for the time-vs-N figures.
    rounds : int, optional
        Timed rounds per implementation; default the comparison's own
        (:data:`QUICK_ROUNDS` with ``quick``).
    progress : file-like, optional
        Where to write progress lines (e.g. ``sys.stderr``).

    Returns
    -------
    dict
        The report :mod:`fastprob._bench.report` writes: ``machine`` (see
        :func:`machine_info`), ``gemm_gflops``, ``size``, ``quick``,
        ``results`` (one entry per comparison: name, operation, family, case,
        n, rtol, dtype, flops_per_row and per-implementation timings and
        errors), ``scaling`` ({name: {impl: [[n, median], ...]}}), ``elapsed``
        and ``date``.
    """
    size = "test" if quick else "bench"
    results, scaling = [], {}
    t_all = time.perf_counter()
    gemm = {name: gemm_rate(name, n=512 if quick else 2048) for name in ("float64", "float32")}
    _say(progress, "numpy GEMM: " + ", ".join(f"{name} {rate:.1f} GFLOP/s" for name, rate in gemm.items()))
    for i, c in enumerate(comparisons, 1):
        n = c.sizes[size]
        nrounds = rounds or (QUICK_ROUNDS if quick else c.rounds)
        _say(progress, f"[{i}/{len(comparisons)}] {c.name} (N={n:,}):", end="")
        t0 = time.perf_counter()
        args = _inputs(c, n)
        impls, outputs = {}, {}
        for label, fn in c.implementations().items():
            try:
                outputs[label], impls[label] = time_call(fn, args, nrounds)
            except Exception as exc:  # a failing reference must not stop the report
                impls[label] = {"failed": f"{type(exc).__name__}: {exc}"}
                _say(progress, f" {label} FAILED", end="")
                continue
            _say(progress, f" {label} {fmt_time(impls[label]['median'])}", end="")
        if OURS in outputs:
            for label, result in outputs.items():
                if label != OURS and label not in c.baselines:  # baselines compute something else
                    impls[label]["error"] = float(c.error(outputs[OURS], result))
        del args, outputs
        entry = {"name": c.name, "operation": c.name.split("-")[0], "family": c.family,
                 "case": c.name.partition("-")[2] or "–",
                 "n": n, "rtol": c.rtol, "dtype": np.dtype(c.dtype).name, "flops_per_row": c.flops_per_row,
                 "implementations": impls}
        results.append(entry)
        if plot:
            scaling[c.name] = _scale(c, size, entry, 3 if quick else max(3, min(c.rounds, 5)), progress)
        _say(progress, f"  ({time.perf_counter() - t0:.1f} s)")
    return {"source": "fastprob bench", "machine": machine_info(), "gemm_gflops": gemm, "size": size,
            "quick": quick, "results": results, "scaling": scaling, "elapsed": time.perf_counter() - t_all,
            "date": datetime.datetime.now().isoformat(timespec="seconds")}


def _scale(c, size, entry, rounds, progress):
    """Median time of each implementation at a few N up to the measured one."""
    curves = {label: [] for label in entry["implementations"]}
    for n in _scaling_sizes(c, size):
        args = _inputs(c, n)
        for label, fn in c.implementations().items():
            try:
                _, stats = time_call(fn, args, rounds)
            except Exception:  # e.g. too few rows for a fit at the smallest N: leave the point out
                continue
            curves[label].append([n, stats["median"]])
        _say(progress, ".", end="")
    for label, stats in entry["implementations"].items():
        if "median" in stats:
            curves[label].append([entry["n"], stats["median"]])
    return curves


def cpu_model():
    """The CPU's model name (/proc/cpuinfo), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info():
    """CPU model, the target the kernels are compiled for, core and thread counts, what the threads are, BLAS, versions.

    Returns
    -------
    dict of str to str or int
    """
    import importlib.metadata

    import numba

    from .. import __version__
    from ..kernels import _threads

    versions = {"python": platform.python_version(), "fastprob": __version__}
    for dist in ("numba", "llvmlite", "numpy", "scipy", "scikit-learn", "matplotlib"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    blas = "unknown"
    try:
        from threadpoolctl import threadpool_info

        infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if infos:
            blas = ", ".join(f"{i['internal_api']} {i.get('version') or ''} {i.get('architecture') or ''} "
                             f"({i['num_threads']} threads)".replace("  ", " ") for i in infos)
    except Exception:
        pass
    from ..kernels.target import PLAN

    return {"cpu": cpu_model(), "target": PLAN.describe(), "isa": PLAN.isa,
            "platform": platform.platform(), "logical_cpus": os.cpu_count(),
            "usable_cpus": usable, "numba_threads": _threads.get_num_threads(),
            "numba_max_threads": numba.config.NUMBA_NUM_THREADS,
            "threading_layer": "Python threads (fastprob.kernels._threads)",
            "blas": blas, "versions": versions}


