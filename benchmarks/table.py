"""Turn a ``pytest benchmarks --benchmark-json=FILE`` report into the README's Markdown table.

Usage: ``python benchmarks/table.py FILE``.  One row per registry comparison:
median time of each implementation and fastprob's speed-up over each (ratios of
medians measured in the same run).
"""
import json
import sys
from collections import defaultdict


def table(report):
    groups = defaultdict(dict)
    extra = {}
    for b in report["benchmarks"]:
        if b["group"] == "compile":
            extra.update(b["extra_info"])
            continue
        groups[b["group"]][b["extra_info"]["implementation"]] = (b["stats"]["median"], b["extra_info"]["n"])
    lines = ["| comparison | N | fastprob | numpy | scipy | vs numpy | vs scipy |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, impls in groups.items():
        fp, n = impls["fastprob"]
        cells = []
        for ref in ("numpy", "scipy"):
            cells.append(f"{impls[ref][0] * 1e3:.1f} ms" if ref in impls else "–")
        ratios = [f"{impls[ref][0] / fp:.1f}×" if ref in impls else "–" for ref in ("numpy", "scipy")]
        lines.append(f"| {name} | {n:,} | {fp * 1e3:.2f} ms | {cells[0]} | {cells[1]} | {ratios[0]} | {ratios[1]} |")
    info = report["machine_info"]
    head = (f"Machine: {info.get('cpu', {}).get('brand_raw', info.get('processor'))}, "
            f"{info.get('cpu', {}).get('count', '?')} logical CPUs; Python {info['python_version']}; "
            f"{report['datetime'][:10]}.")
    if extra:
        head += " Cold compile (s): " + ", ".join(f"{k} {v:.2f}" for k, v in extra.items()) + "."
    return head + "\n\n" + "\n".join(lines)


if __name__ == "__main__":
    with open(sys.argv[1]) as fh:
        print(table(json.load(fh)))
