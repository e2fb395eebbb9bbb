"""Timings of every registry comparison: fastprob vs its references.

Run with ``pytest benchmarks --benchmark-enable`` (add ``--benchmark-json=FILE``
for a report; ``python benchmarks/table.py FILE`` turns it into Markdown with the same writer
as ``fastprob bench``, ``fastprob._bench.report``).
In the normal test run benchmarks are disabled: each case then runs once at its
small 'test' size as a smoke test.
"""
import numpy as np
import pytest

from fastprob._bench.registry import REGISTRY

CASES = [(c, impl) for c in REGISTRY for impl in c.implementations()]


@pytest.mark.parametrize(
    "comparison, impl", CASES, ids=[f"{c.name}-{impl}" for c, impl in CASES]
)
def test_registry(benchmark, comparison, impl):
    size = "test" if benchmark.disabled else "bench"
    args = comparison.inputs(size)
    fn = comparison.implementations()[impl]
    benchmark.group = comparison.name
    benchmark.extra_info.update(n=comparison.sizes[size], implementation=impl,
                                flops_per_row=comparison.flops_per_row)
    # Warm-up outside the timing: compiles (or loads from the cache) every
    # kernel build this input size uses, and touches the input pages.
    fn(*args)
    result = benchmark.pedantic(fn, args=args, rounds=1 if benchmark.disabled else comparison.rounds,
                                warmup_rounds=0)
    assert np.all(np.isfinite(np.asarray(result[0] if isinstance(result, tuple) else result)))
