"""``fastprob bench``: time the comparison registry and write a report.

Runs the entries of :data:`fastprob.compare.REGISTRY` (the same cases as
``benchmarks/``) and writes ``bench.md`` (a Markdown table per operation),
``bench.json`` (the raw numbers) and ``bench.png`` (time vs N).

Method: every implementation is first called once (the warm-up: it compiles
the kernels, or loads them from Numba's on-disk cache, and touches the input
pages); its time minus the median of the timed rounds is reported as the
compile time.  Then ``rounds`` calls are timed with :func:`time.perf_counter`,
reported as their median and interquartile range.  Accuracy is
``comparison.error(fastprob_result, reference_result)``.
"""
import datetime
import json
import os
import pathlib
import platform
import sys
import time

import numpy as np

from .compare import REGISTRY

__all__ = ["gemm_rate", "machine_info", "markdown", "plot_scaling", "run", "select", "time_call", "write"]

OURS = "fastprob"


def select(prefixes=()):
    """Registry entries whose name starts with any of ``prefixes`` (all of them if none), in registry order.

    Parameters
    ----------
    prefixes : iterable of str

    Returns
    -------
    list of fastprob.compare.Comparison
    """
    prefixes = tuple(prefixes)
    return [c for c in REGISTRY if not prefixes or c.name.startswith(prefixes)]


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
        ``first`` (warm-up seconds), ``median``, ``q1``, ``q3`` (of the timed
        rounds), ``compile`` (first - median, at least 0) and ``rounds``.
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
                    "compile": max(first - float(median), 0.0), "rounds": rounds}


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
    """N values of the time-vs-N runs: up to the measured size, geometric spacing."""
    n = comparison.sizes[size]
    lo = comparison.sizes["test"] / 16 if size == "test" else comparison.sizes["test"]
    return sorted({max(int(round(v)), 16) for v in np.geomspace(lo, n, 4)[:-1]})


def _say(progress, text, end="\n"):
    if progress is not None:
        progress.write(text + end)
        progress.flush()


def _fmt_time(seconds):
    if seconds is None or not np.isfinite(seconds):
        return "–"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def run(comparisons, *, quick=False, plot=True, rounds=None, progress=None):
    """Time every implementation of every comparison.

    Parameters
    ----------
    comparisons : list of Comparison
        E.g. from :func:`select`.
    quick : bool, default False
        Use each comparison's 'test' size (seconds in all) instead of its
        'bench' size (the README's numbers).
    plot : bool, default True
        Also time each comparison at a few smaller N for the time-vs-N plot.
    rounds : int, optional
        Timed rounds per implementation; default the comparison's own
        (at least 7 with ``quick``).
    progress : file-like, optional
        Where to write progress lines (e.g. ``sys.stderr``).

    Returns
    -------
    dict
        ``machine`` (see :func:`machine_info`), ``size``, ``results`` (one
        entry per comparison: name, operation, n, rtol and per-implementation
        timings and errors) and ``scaling`` ({name: {impl: [[n, median], ...]}}).
    """
    size = "test" if quick else "bench"
    results, scaling = [], {}
    t_all = time.perf_counter()
    gemm = {name: gemm_rate(name, n=512 if quick else 2048) for name in ("float64", "float32")}
    _say(progress, "numpy GEMM: " + ", ".join(f"{name} {rate:.1f} GFLOP/s" for name, rate in gemm.items()))
    for i, c in enumerate(comparisons, 1):
        n = c.sizes[size]
        nrounds = rounds or (max(c.rounds, 7) if quick else c.rounds)
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
            _say(progress, f" {label} {_fmt_time(impls[label]['median'])}", end="")
        if OURS in outputs:
            for label, result in outputs.items():
                if label != OURS:
                    impls[label]["error"] = float(c.error(outputs[OURS], result))
        del args, outputs
        entry = {"name": c.name, "operation": c.name.split("-")[0], "case": c.name.partition("-")[2] or "–",
                 "n": n, "rtol": c.rtol, "dtype": np.dtype(c.dtype).name, "flops_per_row": c.flops_per_row,
                 "implementations": impls}
        results.append(entry)
        if plot:
            scaling[c.name] = _scale(c, size, entry, progress)
        _say(progress, f"  ({time.perf_counter() - t0:.1f} s)")
    return {"machine": machine_info(), "gemm_gflops": gemm, "size": size, "quick": quick, "results": results,
            "scaling": scaling,
            "elapsed": time.perf_counter() - t_all,
            "date": datetime.datetime.now().isoformat(timespec="seconds")}


def _scale(c, size, entry, progress):
    """Median time of each implementation at a few N up to the measured one."""
    curves = {label: [] for label in entry["implementations"]}
    for n in _scaling_sizes(c, size):
        args = _inputs(c, n)
        for label, fn in c.implementations().items():
            try:
                _, stats = time_call(fn, args, max(3, min(c.rounds, 5)))
            except Exception:  # e.g. too few rows for a fit at the smallest N: leave the point out
                continue
            curves[label].append([n, stats["median"]])
        _say(progress, ".", end="")
    for label, stats in entry["implementations"].items():
        if "median" in stats:
            curves[label].append([entry["n"], stats["median"]])
    return curves


def _cpu_model():
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

    from . import __version__
    from .kernels import _threads

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
    from .kernels.target import PLAN

    return {"cpu": _cpu_model(), "target": PLAN.describe(), "isa": PLAN.isa,
            "platform": platform.platform(), "logical_cpus": os.cpu_count(),
            "usable_cpus": usable, "numba_threads": _threads.get_num_threads(),
            "numba_max_threads": numba.config.NUMBA_NUM_THREADS, "threading_layer": "Python threads (fastprob.kernels._threads)",
            "blas": blas, "versions": versions}


HEADER = ("case", "N", "implementation", "median", "IQR", "fastprob speed-up", "error vs fastprob (rtol)",
          "first call − median", "GFLOP/s (% of GEMM)")


def markdown(report):
    """The report as Markdown: a header (machine, versions, method) and one table per operation.

    Parameters
    ----------
    report : dict
        From :func:`run`.

    Returns
    -------
    str
    """
    m = report["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    size = "'test' sizes (--quick)" if report["quick"] else "'bench' sizes (the README's)"
    lines = [
        "# fastprob benchmark report", "",
        f"- date: {report['date']}, total run time {report['elapsed']:.1f} s",
        f"- CPU: {m['cpu']}; {m['logical_cpus']} logical CPUs ({m['usable_cpus']} usable); {m['platform']}",
        f"- kernels compiled for: {m['target']}",
        "- numpy GEMM in this run (the yardstick of the rate column): " + ", ".join(
            f"{name} {rate:.1f} GFLOP/s" for name, rate in report.get("gemm_gflops", {}).items()),
        f"- threads: {m['numba_threads']} of {m['numba_max_threads']} (NUMBA_NUM_THREADS), on "
        f"{m['threading_layer']}; BLAS (numpy/scipy references): {m['blas']}",
        f"- versions: {versions}",
        f"- inputs: {size}, `fastprob.compare` registry (the cases of `benchmarks/`)",
        "- method: one warm-up call per implementation (compiles, or loads Numba's cache), then timed rounds "
        "(time.perf_counter); median and IQR (25th–75th percentile) of the rounds. *fastprob speed-up* = the "
        "implementation's median / fastprob's (>1: fastprob is faster; for fastprob-1thread: the parallel "
        "speed-up). *error* = `comparison.error(fastprob, implementation)`, the max relative error "
        "(normwise for parameter sets), ✓ when within the comparison's rtol. *first call − median* is the "
        "compile time (cache load when the cache is warm).",
    ]
    by_op = {}
    for entry in report["results"]:
        by_op.setdefault(entry["operation"], []).append(entry)
    for op, entries in by_op.items():
        lines += ["", f"## {op}", "", "| " + " | ".join(HEADER) + " |", "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
        for e in entries:
            ours = e["implementations"].get(OURS, {}).get("median")
            for label, s in e["implementations"].items():
                if "failed" in s:
                    cells = [e["case"], f"{e['n']:,}", label, "failed", "–", "–", s["failed"][:60], "–", "–"]
                else:
                    speed = f"{s['median'] / ours:.2f}×" if ours else "–"
                    if "error" in s:
                        ok = "✓" if s["error"] <= e["rtol"] else "✗"
                        err = f"{s['error']:.1e} {ok} ({e['rtol']:.0e})"
                    else:
                        err = "–"
                    cells = [e["case"], f"{e['n']:,}", label, _fmt_time(s["median"]),
                             _fmt_time(s["q3"] - s["q1"]), speed, err, _fmt_time(s["compile"]),
                             _rate(e, s["median"], report.get("gemm_gflops", {}))]
                lines.append("| " + " | ".join(cells) + " |")
    if report["scaling"]:
        lines += ["", "Time vs N for each implementation: `bench.png`."]
    return "\n".join(lines) + "\n"


def _rate(entry, seconds, gemm):
    """The useful work rate of one timing, and its share of numpy's GEMM rate of the same dtype."""
    flops = entry.get("flops_per_row", 0.0)
    if not flops or not seconds:
        return "–"
    rate = entry["n"] * flops / seconds / 1e9
    peak = gemm.get(entry.get("dtype"))
    return f"{rate:.1f}" + (f" ({100 * rate / peak:.0f}%)" if peak else "")


def plot_scaling(report, path, dpi=100):
    """Log-log plot of median time vs N, one panel per comparison, one line per implementation.

    Parameters
    ----------
    report : dict
        From :func:`run` (with ``plot=True``).
    path : str or path-like
    dpi : float, default 100

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ImportError
        Without matplotlib (``pip install 'fastprob[plot]'``).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import NullFormatter
    except ImportError:
        from .plot import MISSING_MATPLOTLIB

        raise ImportError(MISSING_MATPLOTLIB) from None
    names = list(report["scaling"])
    ncols = min(4, len(names))
    nrows = -(-len(names) // ncols)
    fig = Figure(figsize=(4.0 * ncols, 3.2 * nrows), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    styles = {"fastprob": ("C3", "o", "-"), "fastprob-1thread": ("C3", "o", "--")}
    for ax, name in zip(axes, names):
        for j, (label, points) in enumerate(sorted(report["scaling"][name].items())):
            if not points:
                continue
            n, t = np.array(points).T
            colour, marker, ls = styles.get(label, (f"C{j % 3}", "s", "-"))
            ax.loglog(n, t, marker=marker, ls=ls, color=colour, label=label, ms=4)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set(title=name, xlabel="N", ylabel="median time (s)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="x-small", frameon=False)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    fig.suptitle(f"fastprob bench: time vs N ({report['machine']['cpu']}, {report['machine']['isa']}, "
                 f"{report['machine']['numba_threads']} threads)")
    fig.savefig(path, dpi=dpi)
    return fig


def write(report, out="."):
    """Write ``bench.md``, ``bench.json`` and (if there are scaling runs and matplotlib) ``bench.png``.

    Parameters
    ----------
    report : dict
        From :func:`run`.
    out : str or path-like
        Directory.

    Returns
    -------
    md_path : pathlib.Path
    png_path : pathlib.Path or None
        None when not drawn; ``report['plot_note']`` says why.
    """
    out = pathlib.Path(out)
    md_path = out / "bench.md"
    png_path = None
    if not report["scaling"]:
        report["plot_note"] = "no time-vs-N runs (--no-plot)"
    else:
        try:
            plot_scaling(report, out / "bench.png")
            png_path = out / "bench.png"
        except ImportError as exc:
            report["plot_note"] = str(exc)
    md_path.write_text(markdown(report), encoding="utf-8")
    with open(out / "bench.json", "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=1, default=str)
    return md_path, png_path


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `fastprob bench`")
