"""Every comparison of fastprob._bench.registry (the registry the benchmarks time) agrees with its references."""
import numpy as np
import pytest

from fastprob._bench.registry import FAMILIES, QUICK, REGISTRY

CASES = [(c, ref) for c in REGISTRY for ref in c.references]


@pytest.mark.parametrize("comparison, ref", CASES, ids=[f"{c.name}-vs-{r}" for c, r in CASES])
def test_agrees_with_reference(comparison, ref):
    args = comparison.inputs("test")
    result = comparison.fastprob(*args)
    expected = comparison.references[ref](*args)
    err = comparison.error(result, expected)
    assert err <= comparison.rtol, f"{comparison.name}: max relative error {err:.3g} vs {ref}"
    first = result[0] if isinstance(result, tuple) else result
    assert np.asarray(first).dtype == comparison.dtype


def test_names_unique():
    names = [c.name for c in REGISTRY]
    assert len(names) == len(set(names))


def test_every_comparison_has_a_family_and_the_quick_subset_exists():
    assert {c.family for c in REGISTRY} == set(FAMILIES)
    names = {c.name for c in REGISTRY}
    assert QUICK <= names, sorted(QUICK - names)
    assert {c.name for c in REGISTRY if c.quick} == QUICK
