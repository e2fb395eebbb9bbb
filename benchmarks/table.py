"""Print the Markdown report of a ``pytest benchmarks --benchmark-enable --benchmark-json=FILE`` run.

Usage: ``python benchmarks/table.py FILE``.  The report is written by
``fastprob._bench.report``, the writer ``fastprob bench`` uses too: a header
naming the machine, one table per operation (median, IQR, speed-up, rate as a
share of numpy's GEMM; timings whose IQR exceeds their median marked
unreliable), then the start-up, memory, out-of-core, paired-ratio,
thread-scaling and small-data sections of the other benchmark files.
"""
import json
import sys

from fastprob._bench.report import from_pytest_benchmark, markdown


def main(argv):
    if len(argv) != 1:
        print("usage: python benchmarks/table.py FILE  (FILE from pytest benchmarks --benchmark-json=FILE)",
              file=sys.stderr)
        return 2
    try:
        with open(argv[0], encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        print(f"table.py: error: {argv[0]}: {exc}", file=sys.stderr)
        return 1
    print(markdown(from_pytest_benchmark(data)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
