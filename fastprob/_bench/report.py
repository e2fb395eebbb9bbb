"""The one writer of benchmark reports: Markdown, JSON and the time-vs-N figures.

A report is a dict: ``machine``, ``gemm_gflops``, ``results`` (one entry per
registry comparison with per-implementation timings), ``scaling`` (time vs N)
and, from pytest-benchmark runs, ``extras`` (start-up, memory, out-of-core,
paired ratios, thread scaling, small data).  Two sources produce it:
:func:`fastprob._bench.runner.run` (``fastprob bench``) and
:func:`from_pytest_benchmark` (a ``pytest benchmarks --benchmark-json=FILE``
file, printed by ``python benchmarks/table.py FILE``).  Both are written by
:func:`markdown` the same way: a header naming the machine, then one table per
operation, each timing marked when its rounds disagree too much to trust.
"""
import json
import pathlib

import numpy as np

from .._files import atomic_write
from .registry import FAMILIES, OURS, REGISTRY

__all__ = ["HEADER", "UNRELIABLE", "figures", "fmt_time", "from_pytest_benchmark", "markdown", "unreliable",
           "write"]

#: Columns of the per-operation tables.
HEADER = ("case", "N", "implementation", "median", "IQR", "fastprob speed-up", "error vs fastprob (rtol)",
          "first call − median", "GFLOP/s (% of GEMM)")
#: Appended to the median of a timing :func:`unreliable` flags.
UNRELIABLE = "⚠"

_BY_NAME = {c.name: c for c in REGISTRY}


def fmt_time(seconds):
    """``seconds`` with a unit chosen for three significant digits ('1.23 ms'); '–' for None or non-finite."""
    if seconds is None or not np.isfinite(seconds):
        return "–"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def unreliable(stats):
    """True when a timing's spread, the interquartile range of its rounds, exceeds its median.

    Then half the rounds lie further apart than the typical call takes: the
    machine was busy, or the call is too short for the rounds to settle, and
    the median (so every ratio made from it) may be off by a factor.

    Parameters
    ----------
    stats : dict
        ``median``, ``q1`` and ``q3`` of the timed rounds (seconds).

    Returns
    -------
    bool
    """
    return "median" in stats and stats["q3"] - stats["q1"] > stats["median"]


# --------------------------------------------------------------------------- #
# pytest-benchmark JSON -> report
# --------------------------------------------------------------------------- #
def from_pytest_benchmark(data):
    """The report of a ``pytest benchmarks --benchmark-enable --benchmark-json=FILE`` run.

    Registry groups (``benchmarks/bench_registry.py``) become ``results``; the
    other benchmark files' groups become ``extras``.  pytest-benchmark neither
    keeps the warm-up time nor compares results, so those columns stay empty.

    Parameters
    ----------
    data : dict
        The parsed JSON file.

    Returns
    -------
    dict
        A report for :func:`markdown`.
    """
    results, extras = {}, {"startup": {}, "memory": {}, "memmap_memory": None, "out_of_core": {}, "paired": [],
                           "threads": {}, "small_data": {}}
    env = {}
    for b in data["benchmarks"]:
        group, info, stats = b["group"] or "", b["extra_info"], b["stats"]
        if group == "paired":
            extras["paired"].append(info)
        elif group.startswith("threads-"):
            extras["threads"].setdefault(group[len("threads-"):], {})[info["threads"]] = stats["median"]
        elif group == "peak":
            env.update(info)
        elif group in ("compile", "startup"):
            extras["startup"].update(info)
        elif group == "small data":
            extras["small_data"].update(info)
        elif group.startswith("memory-memmap"):
            extras["memmap_memory"] = info
        elif group.startswith("memory-"):
            extras["memory"][info["implementation"]] = info
        elif "out-of-core" in group:
            extras["out_of_core"][info["implementation"]] = (stats["median"], info["n"])
        elif "implementation" in info:
            c = _BY_NAME.get(group)
            entry = results.setdefault(group, {
                "name": group, "operation": group.split("-")[0], "case": group.partition("-")[2] or "–",
                "family": c.family if c else "other", "n": info["n"], "rtol": c.rtol if c else None,
                "dtype": np.dtype(c.dtype).name if c else None,
                "flops_per_row": info.get("flops_per_row", 0.0), "implementations": {}})
            entry["implementations"][info["implementation"]] = {
                k: stats[k] for k in ("median", "q1", "q3", "min", "max", "rounds")}
    cpu = data.get("machine_info", {}).get("cpu", {})
    mi = data.get("machine_info", {})
    machine = {"cpu": cpu.get("brand_raw") or mi.get("processor") or "?", "logical_cpus": cpu.get("count", "?"),
               "platform": " ".join(filter(None, (mi.get("system"), mi.get("release"), mi.get("machine")))) or "?",
               "target": env.get("target", "?"), "numba_threads": env.get("threads", "?"),
               "threading_layer": env.get("threading_layer", "?"),
               "versions": env.get("versions") or {"python": mi.get("python_version", "?")}}
    gemm = {dt: env[f"gemm_{dt}_gflops"] for dt in ("float64", "float32") if f"gemm_{dt}_gflops" in env}
    entries = list(results.values())
    size = "bench" if entries and all(e["n"] == _size(e, "bench") for e in entries) else "test"
    return {"source": "pytest-benchmark", "machine": machine, "gemm_gflops": gemm, "size": size, "quick": False,
            "date": data.get("datetime", "?"), "elapsed": None, "results": entries, "scaling": {},
            "extras": {k: v for k, v in extras.items() if v}}


def _size(entry, size):
    c = _BY_NAME.get(entry["name"])
    return c.sizes[size] if c else None


# --------------------------------------------------------------------------- #
# Markdown
# --------------------------------------------------------------------------- #
def markdown(report, figures=()):
    """The report as Markdown: a header (machine, versions, method), then one table per operation.

    A sentence above the tables says how many timings are unreliable (see
    :func:`unreliable`); their medians carry :data:`UNRELIABLE`.

    Parameters
    ----------
    report : dict
        From :func:`fastprob._bench.runner.run` or :func:`from_pytest_benchmark`.
    figures : sequence of str or path-like
        Figure files to name at the end.

    Returns
    -------
    str
    """
    lines = ["# fastprob benchmark report", "", *_header(report), ""]
    timings = [s for e in report["results"] for s in e["implementations"].values() if "median" in s]
    flagged = sum(map(unreliable, timings))
    if flagged:
        lines.append(f"**{flagged} of {len(timings)} timings are unreliable** (marked {UNRELIABLE}): the spread of "
                     "their rounds (IQR) is larger than their median, because the machine was busy or the call is "
                     "too short for the clock; rerun them on a quiet machine (`--filter`, more `--rounds`) before "
                     "comparing them.")
    elif timings:
        lines.append("Every timing's spread (IQR of its rounds) is below its median.")
    by_op = {}
    for entry in sorted(report["results"], key=_family_order):
        by_op.setdefault(entry["operation"], []).append(entry)
    for op, entries in by_op.items():
        lines += ["", f"## {op}", "", "| " + " | ".join(HEADER) + " |", "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
        for e in entries:
            lines += ["| " + " | ".join(cells) + " |" for cells in _rows(e, report.get("gemm_gflops", {}))]
    lines += _extras(report.get("extras", {}))
    if figures:
        lines += ["", "Time vs N for each implementation: " + ", ".join(f"`{pathlib.Path(f).name}`"
                                                                      for f in figures) + "."]
    return "\n".join(lines) + "\n"


def _family_order(entry):
    order = list(FAMILIES)
    return order.index(entry["family"]) if entry.get("family") in order else len(order)


def _header(report):
    m = report["machine"]
    versions = m.get("versions", "?")
    if isinstance(versions, dict):
        versions = ", ".join(f"{k} {v}" for k, v in versions.items())
    usable = f" ({m['usable_cpus']} usable)" if "usable_cpus" in m else ""
    elapsed = f", total run time {report['elapsed']:.1f} s" if report.get("elapsed") is not None else ""
    threads = f"{m.get('numba_threads', '?')}"
    if "numba_max_threads" in m:
        threads += f" of {m['numba_max_threads']} (NUMBA_NUM_THREADS)"
    blas = f"; BLAS (numpy/scipy references): {m['blas']}" if "blas" in m else ""
    gemm = report.get("gemm_gflops", {})
    if report["source"] == "pytest-benchmark":
        size = f"'{report['size']}' sizes, `pytest benchmarks --benchmark-enable` (`benchmarks/`)"
        method = ("- method: pytest-benchmark; one warm-up call per implementation outside the timing (compiles, "
                  "or loads Numba's cache), then the comparison's rounds; median and IQR (25th–75th percentile) of "
                  "the rounds. *fastprob speed-up* = the implementation's median / fastprob's (>1: fastprob is "
                  "faster; for fastprob-1thread: the parallel speed-up). Errors and compile times are not "
                  "recorded by pytest-benchmark (`fastprob bench` reports them).")
    else:
        size = ("'test' sizes (--quick)" if report["quick"] else "'bench' sizes (the README's)")
        size += ", `fastprob._bench.registry` (the cases of `benchmarks/`)"
        method = ("- method: one warm-up call per implementation (compiles, or loads Numba's cache), then timed "
                  "rounds (time.perf_counter); median and IQR (25th–75th percentile) of the rounds. *fastprob "
                  "speed-up* = the implementation's median / fastprob's (>1: fastprob is faster; for "
                  "fastprob-1thread: the parallel speed-up). *error* = `comparison.error(fastprob, "
                  "implementation)`, the max relative error (normwise for parameter sets), ✓ when within the "
                  "comparison's rtol. *first call − median* is the compile time (cache load when the cache is "
                  "warm).")
    return [
        f"- date: {report['date']}{elapsed}",
        f"- CPU: {m.get('cpu', '?')}; {m.get('logical_cpus', '?')} logical CPUs{usable}; {m.get('platform', '?')}",
        f"- kernels compiled for: {m.get('target', '?')}",
        "- numpy GEMM in this run (the yardstick of the rate column): "
        + (", ".join(f"{name} {rate:.1f} GFLOP/s" for name, rate in gemm.items()) or "not measured"),
        f"- threads: {threads}, on {m.get('threading_layer', '?')}{blas}",
        f"- versions: {versions}",
        f"- inputs: {size}",
        method,
    ]


def _rows(entry, gemm):
    ours = entry["implementations"].get(OURS, {}).get("median")
    for label, s in entry["implementations"].items():
        if "failed" in s:
            yield [entry["case"], f"{entry['n']:,}", label, "failed", "–", "–", s["failed"][:60], "–", "–"]
            continue
        speed = f"{s['median'] / ours:.2f}×" if ours else "–"
        if "error" in s:
            ok = "✓" if s["error"] <= entry["rtol"] else "✗"
            err = f"{s['error']:.1e} {ok} ({entry['rtol']:.0e})"
        else:
            err = "–"
        median = fmt_time(s["median"]) + (f" {UNRELIABLE}" if unreliable(s) else "")
        yield [entry["case"], f"{entry['n']:,}", label, median, fmt_time(s["q3"] - s["q1"]), speed, err,
               fmt_time(s.get("compile")), _rate(entry, s["median"], gemm)]


def _rate(entry, seconds, gemm):
    """The useful work rate of one timing, and its share of numpy's GEMM rate of the same dtype."""
    flops = entry.get("flops_per_row", 0.0)
    if not flops or not seconds:
        return "–"
    rate = entry["n"] * flops / seconds / 1e9
    peak = gemm.get(entry.get("dtype"))
    return f"{rate:.1f}" + (f" ({100 * rate / peak:.0f}%)" if peak else "")


def _extras(extras):
    """Sections of the other benchmark files: start-up, memory, out of core, paired ratios, threads, small data."""
    lines = []
    if extras.get("startup"):
        lines += ["", "## start-up", "", "| measure | value |", "|---|---:|"]
        lines += [f"| {k} | {v:.2f} |" if isinstance(v, float) else f"| {k} | {v} |"
                  for k, v in extras["startup"].items()]
    if extras.get("memory"):
        memory = extras["memory"]
        x_mb = next(iter(memory.values()))["X_MB"]
        lines += ["", f"## peak memory of fit above X (X = {x_mb:.0f} MB)", "", "| implementation | extra memory |",
                  "|---|---:|"]
        lines += [f"| {impl} | {m['extra_MB']:.0f} MB |" for impl, m in memory.items()]
    if extras.get("out_of_core"):
        ooc = extras["out_of_core"]
        base = ooc["in-memory"][0] if "in-memory" in ooc else None
        n = next(iter(ooc.values()))[1]
        lines += ["", f"## out of core (5-iteration fit, N = {n:,}, time relative to the in-memory fit)", "",
                  "| source | median | relative |", "|---|---:|---:|"]
        lines += [f"| {src} | {fmt_time(t)} | " + (f"{t / base:.2f}×" if base else "–") + " |"
                  for src, (t, _) in ooc.items()]
        mm = extras.get("memmap_memory")
        if mm:
            lines += ["", "Peak resident memory of the memmap fit above the process before it: "
                      f"{mm['extra_MB']:.0f} MB for a {mm['file_MB']:.0f} MB file."]
    if extras.get("paired"):
        lines += ["", "## paired ratios", "", "Both calls in every round, order alternating; median of the "
                  "per-round ratios, range in brackets.", "", "| pair | N | rounds | ratio |", "|---|---:|---:|---:|"]
        lines += [f"| {p['pair']} | {p['n']:,} | {p['rounds']} | {_paired(p)} |" for p in extras["paired"]]
    if extras.get("threads"):
        scaling = extras["threads"]
        counts = sorted({t for times in scaling.values() for t in times})
        lines += ["", "## thread scaling", "", "Median time; speed-up over 1 thread in brackets.", "",
                  "| comparison | " + " | ".join(f"{t} thread{'s' * (t != 1)}" for t in counts) + " |",
                  "|---|" + "---:|" * len(counts)]
        lines += [f"| {name} | " + " | ".join(
            f"{fmt_time(times[t])} ({times[1] / times[t]:.2f}×)" if t in times and 1 in times
            else fmt_time(times.get(t)) for t in counts) + " |" for name, times in scaling.items()]
    if extras.get("small_data"):
        lines += ["", "## small data (scikit-learn time / fastprob time)", "", "| case | ratio |", "|---|---:|"]
        lines += [f"| {k.removesuffix('_ratio')} | {v:.2f} |" for k, v in extras["small_data"].items()]
    return lines


def _paired(p):
    if p.get("kind") == "share":
        return f"{100 * p['ratio']:.0f}% ({100 * p['low']:.0f}–{100 * p['high']:.0f}%)"
    return f"{p['ratio']:.2f}× ({p['low']:.2f}–{p['high']:.2f})"


# --------------------------------------------------------------------------- #
# Figures
# --------------------------------------------------------------------------- #
#: Panel size (inches) and the most panels side by side: at 100 dpi a panel is 480 x 360 pixels.
PANEL_IN = (4.8, 3.6)
MAX_COLUMNS = 3
#: Height (inches) added to each figure for its legend below the panels.
LEGEND_IN = 0.7
#: One colour per implementation, the same in every figure.
COLOURS = {OURS: "C3", f"{OURS}-1thread": "C1", "numpy": "C0", "scipy": "C2", "sklearn": "C4"}
#: One line style and marker per dtype: float32 rows share the float64 rows' panel.
DTYPE_STYLES = {"float64": ("-", "o"), "float32": ("--", "s")}


def _panels(report):
    """{family: {panel title: [(dtype, comparison name), ...]}} of the comparisons with time-vs-N runs.

    Panels are ordered by operation (in order of first appearance), then case:
    a row of panels is one operation across workloads.
    """
    entries = [e for e in report["results"] if report["scaling"].get(e["name"])]
    operations = list(dict.fromkeys(e["operation"] for e in entries))
    families = {}
    for entry in sorted(entries, key=lambda e: (_family_order(e), operations.index(e["operation"]))):
        dtype = entry.get("dtype") or ""
        title = entry["name"].removesuffix(f"-{dtype}").replace("-", " ", 1)
        family = families.setdefault(entry.get("family") or "other", {})
        family.setdefault(title, []).append((dtype, entry["name"]))
    return families


def figures(report, out, dpi=100):
    """Draw median time vs N (log-log), one PNG per family of workloads: ``bench-<family>.png``.

    One panel per operation and case (float64 solid, float32 dashed in the same
    panel), one colour per implementation, one legend per figure.

    Parameters
    ----------
    report : dict
        From :func:`fastprob._bench.runner.run` with ``plot=True``.
    out : str or path-like
        Directory.
    dpi : float, default 100

    Returns
    -------
    list of pathlib.Path
        The files written, in :data:`~fastprob._bench.registry.FAMILIES` order.

    Raises
    ------
    ImportError
        Without matplotlib (``pip install 'fastprob[plot]'``).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from matplotlib.ticker import NullFormatter
    except ImportError:
        from ..plot import MISSING_MATPLOTLIB

        raise ImportError(MISSING_MATPLOTLIB) from None
    m = report["machine"]
    paths = []
    for family, panels in _panels(report).items():
        ncols = min(MAX_COLUMNS, len(panels))
        nrows = -(-len(panels) // ncols)
        fig = Figure(figsize=(PANEL_IN[0] * ncols, PANEL_IN[1] * nrows + LEGEND_IN), dpi=dpi, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        labels, dtypes = {}, {}
        for ax, (title, names) in zip(axes, panels.items()):
            for dtype, name in names:
                ls, marker = DTYPE_STYLES.get(dtype, (":", "^"))
                dtypes[dtype] = (ls, marker)
                for j, (label, points) in enumerate(sorted(report["scaling"][name].items())):
                    if not points:
                        continue
                    colour = COLOURS.get(label, f"C{5 + j % 5}")
                    labels[label] = colour
                    n, t = np.array(points).T
                    ax.loglog(n, t, ls=ls, marker=marker, color=colour, ms=4)
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_title(title)
            ax.set(xlabel="N (rows)", ylabel="median time (s)")
            ax.grid(True, which="both", alpha=0.3)
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        handles = [Line2D([], [], color=c, lw=2, label=label) for label, c in labels.items()]
        handles += [Line2D([], [], color="0.3", ls=ls, marker=mk, label=dt) for dt, (ls, mk) in dtypes.items()]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 7), frameon=False)
        fig.suptitle(f"{FAMILIES.get(family, family)}: median time vs N\n"
                     f"{m.get('cpu', '?')}, {m.get('isa', '?')}, {m.get('numba_threads', '?')} threads")
        path = pathlib.Path(out) / f"bench-{family}.png"
        with atomic_write(path, "wb") as fh:  # complete or absent
            fig.savefig(fh, format="png", dpi=dpi)
        paths.append(path)
    return paths


def write(report, out="."):
    """Write ``bench.md``, ``bench.json`` and (with time-vs-N runs and matplotlib) ``bench-<family>.png``.

    Parameters
    ----------
    report : dict
        From :func:`fastprob._bench.runner.run`.
    out : str or path-like
        Directory.

    Returns
    -------
    md_path : pathlib.Path
    png_paths : list of pathlib.Path
        Empty when none are drawn; ``report['plot_note']`` then says why.
    """
    out = pathlib.Path(out)
    png_paths = []
    if not report["scaling"]:
        report["plot_note"] = "no time-vs-N runs (--no-plot)"
    else:
        try:
            png_paths = figures(report, out)
        except ImportError as exc:
            report["plot_note"] = str(exc)
    md_path = out / "bench.md"
    # Each file complete or absent: a report cut short by a full disk or a killed run would look finished.
    with atomic_write(md_path, "w", encoding="utf-8") as fh:
        fh.write(markdown(report, png_paths))
    with atomic_write(out / "bench.json", "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=1, default=str)
    return md_path, png_paths
