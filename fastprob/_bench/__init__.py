"""Benchmark tooling, not part of fastprob's API: the comparison registry, the runner and the report writer.

- :mod:`.registry`: every comparison between fastprob and a reference
  implementation (numpy, scipy, scikit-learn), with inputs, sizes and
  tolerances; ``tests/test_registry.py`` checks them, ``benchmarks/`` and
  ``fastprob bench`` time them.
- :mod:`.runner`: times registry entries (``fastprob bench``).
- :mod:`.report`: the one report writer (Markdown, JSON, time-vs-N figures)
  for ``fastprob bench`` and for pytest-benchmark runs of ``benchmarks/``.
"""
