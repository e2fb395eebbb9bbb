"""Turn a ``pytest benchmarks --benchmark-json=FILE`` report into the README's Markdown table.

Usage: ``python benchmarks/table.py FILE``.  One row per registry comparison:
median time of each implementation, and fastprob's speed-up over each reference
(ratios of medians measured side by side in the same run).
"""
import json
import sys
from collections import defaultdict

OURS = ("fastprob", "fastprob-1thread")
#: Operations whose flop count N·K·d(d+1) is the useful work compared with GEMM.
RATE_OPS = ("mvn_logpdf", "gmm_logpdf", "em_iteration", "fit")


def table(report):
    groups = defaultdict(dict)
    extra = {}
    memory = {}
    flops = {}
    out_of_core, memmap_memory = {}, None
    scaling = defaultdict(dict)
    paired = []
    for b in report["benchmarks"]:
        if b["group"] == "paired":
            paired.append(b["extra_info"])
            continue
        if b["group"].startswith("threads-"):
            scaling[b["group"][len("threads-"):]][b["extra_info"]["threads"]] = b["stats"]["median"]
            continue
        if b["group"] in ("compile", "startup", "peak"):
            extra.update(b["extra_info"])
            continue
        if b["group"].startswith("memory-memmap"):
            memmap_memory = b["extra_info"]
            continue
        if b["group"].startswith("memory-"):
            memory[b["extra_info"]["implementation"]] = b["extra_info"]
            continue
        if "out-of-core" in b["group"]:
            out_of_core[b["extra_info"]["implementation"]] = (b["stats"]["median"], b["extra_info"]["n"])
            continue
        groups[b["group"]][b["extra_info"]["implementation"]] = (b["stats"]["median"], b["extra_info"]["n"])
        flops[b["group"]] = b["extra_info"].get("flops_per_row", 0.0)
    refs = sorted({impl for impls in groups.values() for impl in impls} - set(OURS))
    head = ["comparison", "N", *OURS, *refs, *(f"speed-up vs {r}" for r in refs),
            *(f"1-thread vs {r}" for r in refs), "threads speed-up", "GFLOP/s (% of GEMM)"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for name, impls in groups.items():
        fp, n = impls["fastprob"]
        one = impls.get("fastprob-1thread", (float("nan"), n))[0]
        times = [_ms(impls.get(i, (None,))[0]) for i in (*OURS, *refs)]
        ratios = [f"{impls[r][0] / fp:.1f}×" if r in impls else "–" for r in refs]
        ratios1 = [f"{impls[r][0] / one:.1f}×" if r in impls else "–" for r in refs]
        rate = "–"
        if flops.get(name) and name.startswith(RATE_OPS):
            gflops = n * flops[name] / fp / 1e9
            peak = extra.get("gemm_float32_gflops" if "float32" in name else "gemm_float64_gflops")
            rate = f"{gflops:.1f}" + (f" ({100 * gflops / peak:.0f}%)" if peak else "")
        lines.append("| " + " | ".join([name, f"{n:,}", *times, *ratios, *ratios1, f"{one / fp:.2f}×", rate]) + " |")
    info = report["machine_info"]
    cpu = info.get("cpu", {})
    text = (f"Machine: {cpu.get('brand_raw', info.get('processor'))}, {cpu.get('count', '?')} logical CPUs; "
            f"Python {info['python_version']}; {extra.pop('versions', '')}; "
            f"{extra.pop('threads', '?')} threads on {extra.pop('threading_layer', '?')}; "
            f"kernels compiled for {extra.pop('target', '?')}; "
            f"{report['datetime'][:10]}.")
    if extra:
        text += " Start-up and peak rates: " + ", ".join(
            f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in extra.items()) + "."
    if memory:
        x_mb = next(iter(memory.values()))["X_MB"]
        text += (" Peak memory of fit (W2, X = %.0f MB) above X: " % x_mb
                 + ", ".join(f"{impl} {m['extra_MB']:.0f} MB" for impl, m in memory.items()) + ".")
    if len(lines) > 2:
        text += "\n\n" + "\n".join(lines)
    if out_of_core:
        base = out_of_core["in-memory"][0]
        text += ("\n\nOut of core (5-iteration fit, N = %s, time relative to the in-memory fit):\n\n"
                 % f"{out_of_core['in-memory'][1]:,}")
        text += "| source | median | relative |\n|---|---:|---:|\n" + "\n".join(
            f"| {src} | {_ms(t)} | {t / base:.2f}× |" for src, (t, _) in out_of_core.items())
        if memmap_memory:
            text += ("\n\nPeak resident memory of the memmap fit above the process before it: "
                     f"{memmap_memory['extra_MB']:.0f} MB for a {memmap_memory['file_MB']:.0f} MB file.")
    if paired:
        text += ("\n\nPaired ratios (both calls in every round, order alternating; median of the per-round "
                 "ratios, range in brackets):\n\n| pair | N | rounds | ratio |\n|---|---:|---:|---:|\n")
        text += "\n".join(f"| {p['pair']} | {p['n']:,} | {p['rounds']} | {_paired(p)} |" for p in paired)
    if scaling:
        counts = sorted({t for times in scaling.values() for t in times})
        text += "\n\nThread scaling (median time; speed-up over 1 thread in brackets):\n\n"
        text += ("| comparison | " + " | ".join(f"{t} threads" for t in counts) + " |\n|---|"
                 + "---:|" * len(counts) + "\n")
        text += "\n".join(
            f"| {name} | " + " | ".join(f"{_ms(times[t])} ({times[1] / times[t]:.2f}×)" if t in times else "–"
                                         for t in counts) + " |" for name, times in scaling.items())
    return text


def _paired(p):
    if p.get("kind") == "share":
        return f"{100 * p['ratio']:.0f}% ({100 * p['low']:.0f}–{100 * p['high']:.0f}%)"
    return f"{p['ratio']:.2f}× ({p['low']:.2f}–{p['high']:.2f})"


def _ms(seconds):
    return "–" if seconds is None else f"{seconds * 1e3:.2f} ms"


if __name__ == "__main__":
    with open(sys.argv[1]) as fh:
        print(table(json.load(fh)))
