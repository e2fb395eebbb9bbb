"""logsumexp, entropy, cross-entropy, KL (discrete and Gaussian): references, properties, errors."""
import warnings

import numba
import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as st_h
from hypothesis.extra import numpy as hnp

import fastprob
from reference import (
    entropy_mp,
    gaussian_kl_naive,
    logsumexp_mp,
    random_spd,
    softmax_cross_entropy_mp,
)


def _dirichlet(rng, shape, alpha=1.0):
    return rng.dirichlet(np.full(shape[-1], alpha), size=shape[:-1])


# --------------------------------------------------------------------------- #
# logsumexp
# --------------------------------------------------------------------------- #
def test_logsumexp_matches_scipy_and_mpmath():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((200, 37)) * 50
    a[3, :5] = 700.0  # ties at the max
    a[4] = rng.standard_normal(37) * 1e-3 - 800  # all tiny exp
    got = fastprob.logsumexp(a, axis=-1)
    np.testing.assert_allclose(got, sp.logsumexp(a, axis=-1), rtol=4e-16)
    exact = np.array([logsumexp_mp(row) for row in a[:40]])
    np.testing.assert_allclose(got[:40], exact, rtol=3e-16)


def test_logsumexp_special_values():
    inf, nan = np.inf, np.nan
    a = np.array([[-inf, -inf], [inf, 1.0], [inf, -inf], [nan, 1.0], [inf, nan], [0.0, -inf], [inf, inf]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = fastprob.logsumexp(a, axis=-1)
    np.testing.assert_array_equal(got, [-inf, inf, inf, nan, nan, 0.0, inf])
    assert fastprob.logsumexp(np.zeros((3, 0)), axis=-1).tolist() == [-inf] * 3  # empty sum
    assert fastprob.logsumexp(2.5) == 2.5
    # A tiny remainder next to the max keeps its digits (the max term is not added as 1).
    assert fastprob.logsumexp([0.0, -40.0]) == np.log1p(np.exp(-40.0))


def test_logsumexp_axes_keepdims_out_dtype():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 4, 5))
    for axis in (0, 1, 2, -1, -2):
        np.testing.assert_allclose(fastprob.logsumexp(a, axis=axis), sp.logsumexp(a, axis=axis), rtol=1e-15)
        np.testing.assert_allclose(fastprob.logsumexp(a, axis=axis, keepdims=True),
                                   sp.logsumexp(a, axis=axis, keepdims=True), rtol=1e-15)
    assert fastprob.logsumexp(a, axis=None) == pytest.approx(sp.logsumexp(a), rel=1e-15)
    assert fastprob.logsumexp(a, axis=None, keepdims=True).shape == (1, 1, 1)
    r32 = fastprob.logsumexp(a.astype(np.float32), axis=-1)
    assert r32.dtype == np.float32
    np.testing.assert_allclose(r32, sp.logsumexp(a.astype(np.float32).astype(np.float64), axis=-1), rtol=1e-7)
    out = np.empty((3, 4))
    assert fastprob.logsumexp(a, axis=-1, out=out) is out
    with pytest.raises(ValueError, match=r"out must have shape \(3, 4\)"):
        fastprob.logsumexp(a, axis=-1, out=np.empty(3))
    with pytest.raises(np.exceptions.AxisError, match="axis 3 is out of bounds for a with 3 dimension"):
        fastprob.logsumexp(a, axis=3)
    with pytest.raises(TypeError, match="axis must be an integer"):
        fastprob.logsumexp(a, axis=1.5)


def test_logsumexp_default_reduces_all_elements_like_scipy():
    # The default changed from the last axis to all elements (scipy's axis=None).
    rng = np.random.default_rng(21)
    a = rng.standard_normal((4, 5)) * 30
    got = fastprob.logsumexp(a)
    assert np.ndim(got) == 0 and got == pytest.approx(sp.logsumexp(a), rel=1e-15)
    assert got == pytest.approx(logsumexp_mp(a.ravel()), rel=4e-16)
    assert fastprob.logsumexp(a, keepdims=True).shape == (1, 1)
    assert fastprob.logsumexp(2.5, keepdims=True).shape == sp.logsumexp(2.5, keepdims=True).shape == (1,)


def test_logsumexp_tuple_axes_match_scipy():
    rng = np.random.default_rng(22)
    a = rng.standard_normal((3, 4, 5, 2)) * 10
    for axis in [(0,), (1, 3), (-1, 0), (0, 2, 3), (3, 2, 1, 0), -2]:
        for keepdims in (False, True):
            got = fastprob.logsumexp(a, axis=axis, keepdims=keepdims)
            want = sp.logsumexp(a, axis=axis, keepdims=keepdims)
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-15)
    np.testing.assert_allclose(fastprob.logsumexp(a, axis=(1, 2))[:2].ravel(),
                               [logsumexp_mp(a[i, :, :, j].ravel()) for i in range(2) for j in range(2)], rtol=4e-16)
    with pytest.raises(ValueError, match=r"axis \(1, -3\) names an axis twice"):
        fastprob.logsumexp(a, axis=(1, -3))
    with pytest.raises(ValueError, match="axis 4 is out of bounds for a with 4 dimension"):
        fastprob.logsumexp(a, axis=(0, 4))
    with pytest.raises(TypeError, match=r"axis must be an integer, a tuple of integers or None, got \[0, 1\]"):
        fastprob.logsumexp(a, axis=[0, 1])


def _weighted_lse_mp(a, b, dps=50):
    """(log |Σ b exp(a)|, sign) in ``dps`` digits."""
    import mpmath

    with mpmath.workdps(dps):
        total = mpmath.fsum(mpmath.mpf(float(w)) * mpmath.exp(mpmath.mpf(float(v))) for v, w in zip(a, b) if w != 0)
        return (float(mpmath.log(abs(total))) if total else -np.inf), float(mpmath.sign(total))


def test_logsumexp_weights_match_mpmath_and_scipy():
    rng = np.random.default_rng(23)
    a = np.round(rng.standard_normal((300, 6)) * 20, 1)
    a[:50, :3] = a[:50, :1]  # ties at the maximum
    b = rng.choice([0.0, 1.0, -1.0, 0.5, -2.5, 3.0], (300, 6))
    b[50:60] = np.abs(b[50:60])
    b[60:70, 0], a[60:70, 0] = 0.0, np.nan  # a zero weight drops its term, even a NaN one
    res, sgn = fastprob.logsumexp(a, axis=1, b=b, return_sign=True)
    want = np.array([_weighted_lse_mp(x, w) for x, w in zip(a, b)])
    sure = np.abs(res - want[:, 0]) <= 1e-13 * np.maximum(1.0, np.abs(want[:, 0]))
    # Near-cancelling sums are ill-conditioned: there both fastprob and scipy have rounding error.
    cond = np.array([np.sum(np.abs(w) * np.exp(x - np.nanmax(x))) for x, w in zip(np.nan_to_num(a, nan=-np.inf), b)]) \
        / np.exp(np.where(np.isfinite(want[:, 0]), want[:, 0], 0.0) - np.nanmax(np.nan_to_num(a, nan=-np.inf), axis=1))
    np.testing.assert_array_equal(sgn, want[:, 1])
    assert sure[cond < 10].all(), np.flatnonzero(~sure)
    ref_res, ref_sgn = sp.logsumexp(a, axis=1, b=b, return_sign=True)
    np.testing.assert_allclose(res, ref_res, rtol=1e-10)
    np.testing.assert_array_equal(sgn, ref_sgn)
    # Without return_sign a negative sum is NaN (the log of a negative number), as in scipy.
    plain = fastprob.logsumexp(a, axis=1, b=b)
    np.testing.assert_array_equal(plain, np.where(sgn < 0, np.nan, res))
    np.testing.assert_array_equal(np.isnan(plain), np.isnan(sp.logsumexp(a, axis=1, b=b)))


@pytest.mark.filterwarnings("error")
def test_logsumexp_sign_conventions():
    inf = np.inf
    lse = fastprob.logsumexp
    assert lse([1.0, 1.0], b=[1.0, -1.0], return_sign=True) == (-inf, 0.0)  # a zero sum
    assert lse([1.0, 1.0], b=[1.0, -1.0]) == -inf
    assert np.isnan(lse([1.0, 2.0], b=[1.0, -1.0]))
    assert lse([1.0, 2.0], b=[1.0, -1.0], return_sign=True) == pytest.approx((np.log(np.e**2 - np.e), -1.0))
    assert lse([inf], b=[-1.0], return_sign=True) == (inf, -1.0)
    assert lse([inf, 0.0], return_sign=True) == (inf, 1.0)
    assert lse([-inf, -inf], return_sign=True) == (-inf, 0.0)
    assert lse([], return_sign=True) == (-inf, 0.0)  # the sign of an empty sum (scipy 1.17: -1)
    r, s = lse([np.nan, 1.0], return_sign=True)
    assert np.isnan(r) and np.isnan(s)
    r, s = lse([inf, inf], b=[1.0, -1.0], return_sign=True)  # inf - inf
    assert np.isnan(r) and np.isnan(s)
    # Where the maximum's weights cancel the rest still counts: log e**0 = 0 (scipy: NaN, from e**1000).
    assert lse([1000.0, 1000.0, 0.0], b=[1.0, -1.0, 1.0], return_sign=True) == (0.0, 1.0)
    # Weights broadcast against a (the result follows the broadcast shape).
    got = lse(np.zeros((4, 1)), axis=0, b=np.array([1.0, 2.0, -1.0]), return_sign=True)
    want = sp.logsumexp(np.zeros((4, 1)), axis=0, b=np.array([1.0, 2.0, -1.0]), return_sign=True)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-15)
    np.testing.assert_array_equal(got[1], want[1])
    with pytest.raises(ValueError, match=r"a and b do not broadcast together: shapes a \(2,\), b \(3,\)"):
        lse([0.0, 1.0], b=[1.0, 2.0, 3.0])


def test_logsumexp_dtypes():
    a32 = np.array([1.0, 2.0], np.float32)
    for a, b, dtype in [(a32, None, np.float32), (a32, 2.0, np.float32), (a32, a32, np.float32),
                        (a32, np.ones(2), np.float64), (a32, [1, 2], np.float64), ([1, 2], None, np.float64),
                        (np.array([1, 2], np.float16), None, np.float32), ([True, False], None, np.float64),
                        (np.array([1, 2], np.int32), np.ones(2, np.int32), np.float64)]:
        res, sgn = fastprob.logsumexp(a, b=b, return_sign=True)
        assert res.dtype == sgn.dtype == dtype, (a, b)
        want = sp.logsumexp(np.asarray(a, np.float64), b=None if b is None else np.asarray(b, np.float64))
        assert res == pytest.approx(want, rel=1e-6 if dtype == np.float32 else 1e-15)
    assert fastprob.logsumexp([True, True]) == pytest.approx(1.0 + np.log(2.0), rel=1e-15)


def test_logsumexp_thread_count_independent(restore_threads):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((20_000, 64)) * 10
    full = fastprob.logsumexp(a, axis=-1)
    restore_threads(1)
    np.testing.assert_array_equal(fastprob.logsumexp(a, axis=-1), full)


# --------------------------------------------------------------------------- #
# Entropy, cross-entropy, KL
# --------------------------------------------------------------------------- #
def test_entropy_matches_scipy_and_mpmath():
    rng = np.random.default_rng(3)
    p = _dirichlet(rng, (50, 20), alpha=0.3)
    p[0, :10] = 0.0
    p[0] /= p[0].sum()
    got = fastprob.entropy(p)
    np.testing.assert_allclose(got, st.entropy(p, axis=-1), rtol=1e-14)
    np.testing.assert_allclose(got[:10], [entropy_mp(r) for r in p[:10]], rtol=1e-15)
    np.testing.assert_allclose(fastprob.entropy(p, base=2), st.entropy(p, axis=-1, base=2), rtol=1e-14)
    np.testing.assert_allclose(fastprob.entropy(p.T, axis=0), got, rtol=0)
    assert fastprob.entropy([1.0, 0.0, 0.0]) == 0.0  # 0 log 0 = 0
    assert fastprob.entropy(np.full(8, 0.125), base=2) == pytest.approx(3.0, rel=1e-15)


def test_normalize_option():
    counts = np.array([[3, 1, 0, 4], [1, 1, 1, 1]])
    np.testing.assert_allclose(fastprob.entropy(counts, normalize=True), st.entropy(counts, axis=-1), rtol=1e-14)
    q = np.array([2.0, 2.0, 1.0, 5.0])
    np.testing.assert_allclose(fastprob.kl_divergence(counts, q, normalize=True),
                               st.entropy(counts, q, axis=-1), rtol=1e-13)
    with pytest.raises(ValueError, match=r"p does not sum to 1 along axis 1 within 1.5e-08.*normalize=True"):
        fastprob.entropy(counts)
    with pytest.raises(ValueError, match="sums to 0 along axis 0.*cannot be normalised"):
        fastprob.entropy(np.zeros(3), normalize=True)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("factor", [2.0**-1074, 1e-310, 2.0**-1000, 1e300, 1.5 * 2.0**1021])  # the last: sums overflow
def test_normalize_counts_at_the_ends_of_the_float64_range(factor):
    # Counts whose sum overflows or whose 1/sum would (subnormal counts) give the
    # same answers as the same counts at unit scale (scipy's overflow to 0 / inf).
    counts = np.array([[1.0, 2.0, 3.0, 0.0], [1.0, 1.0, 1.0, 1.0], [5.0, 0.0, 0.0, 1.0]])
    q = np.array([2.0, 2.0, 1.0, 5.0])
    big = counts * factor
    assert np.array_equal(big / factor, counts)  # exact: the same counts, scaled
    rtol = 1e-15
    for axis, P in ((-1, big), (0, big.T)):
        np.testing.assert_allclose(fastprob.entropy(P, axis=axis, normalize=True),
                                   st.entropy(counts, axis=-1), rtol=rtol)
        np.testing.assert_allclose(fastprob.kl_divergence(P, q, axis=axis, normalize=True) if axis == -1 else
                                   fastprob.kl_divergence(P, q[:, None], axis=axis, normalize=True),
                                   st.entropy(counts, q, axis=-1), rtol=1e-14)
    np.testing.assert_allclose(fastprob.kl_divergence(q, big, normalize=True), st.entropy(q, counts, axis=-1),
                               rtol=1e-14)
    np.testing.assert_allclose(fastprob.cross_entropy(big, q, normalize=True),
                               fastprob.cross_entropy(counts, q, normalize=True), rtol=rtol)
    logits = np.log(q)
    np.testing.assert_allclose(fastprob.cross_entropy_with_logits(big, logits, normalize=True),
                               fastprob.cross_entropy_with_logits(counts, logits, normalize=True), rtol=rtol)
    before = big.copy()
    fastprob.entropy(big, normalize=True)
    np.testing.assert_array_equal(big, before)  # the rescaling works on a copy


def test_cross_entropy_and_kl_match_references():
    rng = np.random.default_rng(4)
    p = _dirichlet(rng, (30, 12))
    q = _dirichlet(rng, (30, 12))
    kl = fastprob.kl_divergence(p, q)
    np.testing.assert_allclose(kl, st.entropy(p, q, axis=-1), rtol=1e-13)
    np.testing.assert_allclose(kl, sp.rel_entr(p, q).sum(axis=-1), rtol=1e-13)
    h = fastprob.cross_entropy(p, q)
    np.testing.assert_allclose(h[:5], [entropy_mp(a, b) for a, b in zip(p[:5], q[:5])], rtol=1e-15)
    # Broadcasting: one q for every p.
    np.testing.assert_allclose(fastprob.kl_divergence(p, q[0]), st.entropy(p, q[0][None], axis=-1), rtol=1e-13)


def test_zero_probability_conventions():
    p = np.array([0.5, 0.5, 0.0])
    q = np.array([1.0, 0.0, 0.0])
    assert fastprob.kl_divergence(p, q) == np.inf  # q = 0 where p > 0
    assert fastprob.cross_entropy(p, q) == np.inf
    assert fastprob.kl_divergence(q, p) == pytest.approx(np.log(2.0))  # p = 0 terms are 0
    assert fastprob.cross_entropy(q, p) == pytest.approx(np.log(2.0))
    # Tiny probabilities whose ratio would overflow still give the right term.
    a = np.array([1e-300, 1.0 - 1e-300])
    b = np.array([1.0 - 1e-300, 1e-300])
    assert np.isfinite(fastprob.kl_divergence(a, b))
    assert fastprob.kl_divergence(a, b) == pytest.approx(690.7755278982137, rel=1e-14)


def test_distribution_validation_messages():
    with pytest.raises(ValueError, match=r"p contains 1 non-finite value.*index 1: nan"):
        fastprob.entropy([0.5, np.nan, 0.5])
    with pytest.raises(ValueError, match=r"q must be non-negative \(probabilities\); q\[1\] = -0.5"):
        fastprob.kl_divergence([0.5, 0.5], [1.5, -0.5])
    with pytest.raises(ValueError, match=r"batch index \(1,\) sums to 0.9"):
        fastprob.cross_entropy([[0.5, 0.5], [0.5, 0.4]], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"p and q do not broadcast together: shapes p \(2,\), q \(3,\)"):
        fastprob.kl_divergence([0.5, 0.5], [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="p must have at least one dimension"):
        fastprob.entropy(1.0)
    with pytest.raises(ValueError, match="base must be a finite number > 0 other than 1"):
        fastprob.entropy([0.5, 0.5], base=1)
    with pytest.raises(TypeError, match="p is complex"):
        fastprob.entropy(np.array([0.5 + 0j, 0.5]))
    # float32 distributions get float32's tolerance (their own rounding is ~6e-8).
    p32 = np.full(3, 1 / 3, dtype=np.float32)
    assert fastprob.entropy(p32).dtype == np.float32


def test_inputs_not_modified_and_layouts():
    rng = np.random.default_rng(5)
    p = np.asfortranarray(_dirichlet(rng, (6, 5)))
    q = _dirichlet(rng, (6, 5))
    q.flags.writeable = False
    p0, q0 = p.copy(), q.copy()
    expected = st.entropy(p0, q0, axis=-1)
    np.testing.assert_allclose(fastprob.kl_divergence(p, q), expected, rtol=1e-13)
    np.testing.assert_allclose(fastprob.kl_divergence(p[:, ::1], q[::1]), expected, rtol=1e-13)
    np.testing.assert_array_equal(p, p0)
    np.testing.assert_array_equal(q, q0)
    out = np.empty(6, np.float64)
    assert fastprob.kl_divergence(p, q, out=out) is out


def _kl_mp(p, q, dps=50):
    """Σ [p log(p/q) - p + q] in ``dps`` digits: KL(p ‖ q) for p, q summing to 1 (each term >= 0)."""
    import mpmath

    with mpmath.workdps(dps):
        total = mpmath.mpf(0)
        for a, b in zip(p, q):
            a, b = mpmath.mpf(float(a)), mpmath.mpf(float(b))
            total += (a * mpmath.log(a / b) if a else 0) - a + b
        return float(total)


@pytest.mark.parametrize("delta", [1e-12, 1e-9, 1e-6, 1e-3, 0.1, 0.5])
def test_kl_of_nearly_equal_distributions_against_mpmath(delta):
    # p log(p/q) on the rounded ratio p/q left 1e-4 relative error at differences of 1e-12.
    rng = np.random.default_rng(31)
    P = rng.dirichlet(np.ones(10), size=40)
    Q = P * (1.0 + delta * rng.uniform(-1, 1, P.shape))
    Q /= Q.sum(axis=1, keepdims=True)
    got = fastprob.kl_divergence(P, Q)
    want = np.array([_kl_mp(p, q) for p, q in zip(P, Q)])
    assert (got >= 0).all()
    np.testing.assert_allclose(got, want, rtol=2e-15)
    # Exactly normalised distributions: against the plain Σ p log(p/q), in mpmath.
    import mpmath

    p = np.array([0.5 + 2.0**-40, 0.5 - 2.0**-40])
    with mpmath.workdps(50):
        plain = float(sum(mpmath.mpf(a) * mpmath.log(mpmath.mpf(a) / mpmath.mpf(0.5)) for a in p))
    assert fastprob.kl_divergence(p, [0.5, 0.5]) == pytest.approx(plain, rel=2e-16, abs=0)


dist = hnp.arrays(np.float64, st_h.integers(2, 8), elements=st_h.floats(0, 1, allow_subnormal=False))


def _normalised(x):
    x = np.asarray(x, dtype=np.float64) + 1e-3  # keep every entry positive
    return x / x.sum()


@settings(max_examples=200, deadline=None)
@given(st_h.integers(2, 8).flatmap(lambda n: st_h.tuples(
    hnp.arrays(np.float64, n, elements=st_h.floats(0, 1)), hnp.arrays(np.float64, n, elements=st_h.floats(0, 1)))))
def test_kl_is_cross_entropy_minus_entropy_and_nonnegative(pq):
    p, q = _normalised(pq[0]), _normalised(pq[1])
    kl = fastprob.kl_divergence(p, q)
    h_pq = fastprob.cross_entropy(p, q)
    h_p = fastprob.entropy(p)
    assert kl == pytest.approx(h_pq - h_p, abs=1e-13)
    assert kl >= -1e-15  # Gibbs' inequality (up to rounding)
    assert fastprob.kl_divergence(p, p) == 0.0  # equality iff p == q: exactly 0
    if np.abs(p - q).max() > 1e-6:
        assert kl > 0
    # Minimum cross-entropy at q = p.
    assert h_pq >= fastprob.cross_entropy(p, p) - 1e-13
    assert fastprob.cross_entropy(p, p) == pytest.approx(h_p, rel=1e-15, abs=1e-15)


# --------------------------------------------------------------------------- #
# Cross-entropy from logits
# --------------------------------------------------------------------------- #
def test_softmax_cross_entropy_with_logits():
    rng = np.random.default_rng(6)
    logits = rng.standard_normal((40, 10)) * 5
    labels = _dirichlet(rng, (40, 10))
    got = fastprob.cross_entropy_with_logits(labels, logits)
    np.testing.assert_allclose(got, fastprob.cross_entropy(labels, sp.softmax(logits, axis=-1)), rtol=1e-13)
    np.testing.assert_allclose(got[:8], [softmax_cross_entropy_mp(y, z) for y, z in zip(labels[:8], logits[:8])],
                               rtol=1e-14)
    # One-hot labels: -log softmax of the true class; huge logit gaps stay finite.
    onehot = np.eye(3)[[2, 0]]
    z = np.array([[1000.0, 0.0, -1000.0], [0.0, 1.0, 2.0]])
    np.testing.assert_allclose(fastprob.cross_entropy_with_logits(onehot, z),
                               [2000.0, -sp.log_softmax(z[1])[0]], rtol=1e-15)
    # A confident correct prediction keeps its tiny loss (no 1 + tiny - 1).
    assert fastprob.cross_entropy_with_logits([1.0, 0.0], [1050.0, 1000.0]) == pytest.approx(
        np.log1p(np.exp(-50.0)), rel=1e-15)
    # Class axis first.
    np.testing.assert_allclose(fastprob.cross_entropy_with_logits(labels.T, logits.T, axis=0), got, rtol=0)


def test_logits_special_values():
    y = np.array([[0.0, 1.0, 0.0]] * 3)
    z = np.array([[-np.inf, 0.0, 1.0], [np.nan, 0.0, 1.0], [-np.inf] * 3])
    got = fastprob.cross_entropy_with_logits(y, z)
    assert got[0] == pytest.approx(np.log1p(np.e))  # a masked class with label 0 contributes 0
    assert np.isnan(got[1:]).all()  # NaN or all -inf logits: softmax undefined
    with pytest.raises(ValueError, match="labels does not sum to 1"):
        fastprob.cross_entropy_with_logits([0.5, 0.6], [0.0, 0.0])
    with pytest.raises(ValueError, match="logits must have at least one dimension"):
        fastprob.cross_entropy_with_logits([1.0], 0.0)


def _xent_limit_mp(labels, logits, big):
    """The loss at finite logits with every inf replaced by ±big, in mpmath (the limit as big grows)."""
    z = np.where(np.isinf(logits), np.sign(logits) * big, logits)
    return softmax_cross_entropy_mp(labels, z)


@pytest.mark.filterwarnings("error")
def test_infinite_logits_give_the_limits():
    # softmax([inf, 2]) puts all the mass on class 0: a label on class 1 costs -log 0 = inf (was NaN).
    inf = np.inf
    cases = [  # labels, logits, limit
        ([0.0, 1.0], [inf, 2.0], inf),
        ([1.0, 0.0], [inf, 2.0], 0.0),
        ([0.3, 0.7], [inf, 2.0], inf),
        ([1.0, 0.0, 0.0], [inf, -inf, 5.0], 0.0),
        ([0.0, 1.0, 0.0], [inf, -inf, 5.0], inf),
        ([0.0, 0.0, 1.0], [inf, inf, 0.0], inf),  # two +inf classes, the label elsewhere: still inf
        ([0.0, 1.0], [-inf, 2.0], 0.0),           # -inf: a class of probability 0
        ([1.0, 0.0], [-inf, 2.0], inf),
        ([0.5, 0.5, 0.0], [-inf, 1.0, 1.0], inf),
    ]
    labels = np.array([c[0] + [0.0] * (3 - len(c[0])) for c in cases])
    logits = np.array([c[1] + [-inf] * (3 - len(c[1])) for c in cases])
    want = np.array([c[2] for c in cases])
    got = fastprob.cross_entropy_with_logits(labels, logits)
    np.testing.assert_array_equal(got, want)
    # The limits are what mpmath gives with ±inf replaced by ±1e6 (to within the 1e6 itself).
    for y, z, lim in zip(labels, logits, want):
        approx = _xent_limit_mp(y, z, 1e6)
        assert approx >= 1e5 if lim == inf else approx == pytest.approx(lim, abs=1e-300)
    assert fastprob.cross_entropy_with_logits([0.0, 1.0], [np.inf, 2.0]) == np.inf  # the example
    # No limit: several +inf logits sharing the labels (their split is inf - inf).
    assert np.isnan(fastprob.cross_entropy_with_logits([0.5, 0.5, 0.0], [inf, inf, 0.0]))
    assert np.isnan(fastprob.cross_entropy_with_logits([1.0, 0.0], [inf, inf]))
    assert np.isnan(fastprob.cross_entropy_with_logits([1.0, 0.0], [inf, np.nan]))


def test_binary_cross_entropy_with_logits():
    rng = np.random.default_rng(7)
    y = rng.uniform(0, 1, 2000)
    z = rng.standard_normal(2000) * 30
    want = -(y * sp.log_expit(z) + (1 - y) * sp.log_expit(-z))
    got = fastprob.binary_cross_entropy_with_logits(y, z)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-300)
    # Broadcasting, float32, limits and huge logits.
    assert fastprob.binary_cross_entropy_with_logits(1.0, np.zeros((2, 3))).shape == (2, 3)
    r32 = fastprob.binary_cross_entropy_with_logits(y.astype(np.float32), z.astype(np.float32))
    assert r32.dtype == np.float32
    lim = fastprob.binary_cross_entropy_with_logits([1, 0, 0.5, 0, 1, 1], [np.inf, np.inf, np.inf, -np.inf, -np.inf, 1e4])
    np.testing.assert_array_equal(lim, [0.0, np.inf, np.inf, 0.0, np.inf, 0.0])
    assert fastprob.binary_cross_entropy_with_logits(0.0, 1000.0) == 1000.0
    assert np.isnan(fastprob.binary_cross_entropy_with_logits(0.5, np.nan))
    with pytest.raises(ValueError, match=r"y must be in \[0, 1\].*y\[1\] = 1.5"):
        fastprob.binary_cross_entropy_with_logits([0.0, 1.5], [0.0, 0.0])
    with pytest.raises(ValueError, match="y contains 1 non-finite"):
        fastprob.binary_cross_entropy_with_logits([np.nan], [0.0])
    with pytest.raises(ValueError, match=r"y and z do not broadcast together: shapes \(2,\) and \(3,\)"):
        fastprob.binary_cross_entropy_with_logits([0.0, 1.0], [0.0, 0.0, 0.0])


def test_binary_cross_entropy_out_overlapping_an_input():
    # As numpy's ufuncs: the result is as if the inputs were read before out is written,
    # also when a broadcast (size-1) input lies inside out.
    bce = fastprob.binary_cross_entropy_with_logits
    z = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    buf = np.array([0.5, 0.0, 0.0, 0.0, 0.0])
    want = bce(0.5, z)
    bce(buf[:1], z, out=buf)
    np.testing.assert_array_equal(buf, want)
    y = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    buf = np.array([0.5, 1.0, 1.0, 1.0, 1.0])
    want = bce(y, 0.5)
    bce(y, buf[:1], out=buf)
    np.testing.assert_array_equal(buf, want)
    out = np.zeros((3, 5))
    out[0] = [0.1, 0.2, 0.3, 0.4, 0.5]
    want = bce(out[:1].copy(), np.ones((3, 5)))
    bce(out[:1], np.ones((3, 5)), out=out)  # a (1, 5) row of out broadcast down the rows
    np.testing.assert_array_equal(out, want)
    y = np.linspace(0.0, 1.0, 9)
    want = bce(y[:-1], y[1:])
    bce(y[:-1], y[1:], out=y[1:])  # shifted overlap with both inputs
    np.testing.assert_array_equal(y[1:], want)


# --------------------------------------------------------------------------- #
# Gaussians
# --------------------------------------------------------------------------- #
def test_gaussian_kl_matches_closed_form_with_inverses():
    rng = np.random.default_rng(8)
    d, K = 4, 5
    mp_, mq = rng.standard_normal((K, d)), rng.standard_normal((K, d))
    Sp = np.stack([random_spd(d, rng, cond=20) for _ in range(K)])
    Sq = np.stack([random_spd(d, rng, cond=20) for _ in range(K)])
    got = fastprob.gaussian_kl(mp_, Sp, mq, Sq)
    want = [gaussian_kl_naive(a, b, c, e) for a, b, c, e in zip(mp_, Sp, mq, Sq)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # Broadcasting an unbatched argument and passing CholeskyFactors.
    got_b = fastprob.gaussian_kl(mp_, fastprob.cholesky(Sp), mq[0], Sq[0])
    np.testing.assert_allclose(got_b, [gaussian_kl_naive(a, b, mq[0], Sq[0]) for a, b in zip(mp_, Sp)], rtol=1e-12)
    assert np.ndim(fastprob.gaussian_kl(mp_[0], Sp[0], mq[0], Sq[0])) == 0
    r32 = fastprob.gaussian_kl(mp_.astype(np.float32), Sp.astype(np.float32), mq.astype(np.float32),
                               Sq.astype(np.float32))
    assert r32.dtype == np.float32


@settings(max_examples=50, deadline=None)
@given(st_h.integers(1, 6), st_h.integers(0, 2**32 - 1))
def test_gaussian_kl_zero_iff_identical(d, seed):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal(d) * 10
    S = random_spd(d, rng, cond=1e3)
    assert fastprob.gaussian_kl(m, S, m, S) == 0.0
    assert fastprob.gaussian_kl(m, S, m.copy(), S.copy()) == 0.0
    other = fastprob.gaussian_kl(m, S, m + 0.1, S)
    assert other > 0
    assert fastprob.gaussian_kl(m, S, m, 1.1 * S) > 0


def test_gaussian_kl_matches_monte_carlo():
    rng = np.random.default_rng(9)
    d = 3
    mp_, mq = rng.standard_normal(d), rng.standard_normal(d)
    Sp, Sq = random_spd(d, rng, cond=4), random_spd(d, rng, cond=4)
    X = fastprob.mvn_sample(mp_, Sp, 400_000, random_state=1)
    terms = fastprob.mvn_logpdf(X, mp_, Sp) - fastprob.mvn_logpdf(X, mq, Sq)
    est, se = terms.mean(), terms.std() / np.sqrt(len(terms))
    assert abs(fastprob.gaussian_kl(mp_, Sp, mq, Sq) - est) < 5 * se


def test_gaussian_entropy():
    rng = np.random.default_rng(10)
    S = np.stack([random_spd(3, rng) for _ in range(4)])
    want = [st.multivariate_normal(np.zeros(3), s).entropy() for s in S]
    np.testing.assert_allclose(fastprob.gaussian_entropy(S), want, rtol=1e-13)
    np.testing.assert_allclose(fastprob.gaussian_entropy(fastprob.cholesky(S)), want, rtol=1e-13)
    assert fastprob.gaussian_entropy(S[0]) == pytest.approx(want[0], rel=1e-13)
    assert fastprob.gaussian_entropy(S[0].astype(np.float32)).dtype == np.float32


def test_gaussian_validation_messages():
    I2 = np.eye(2)
    with pytest.raises(ValueError, match="cov_q: cov is not positive definite"):
        fastprob.gaussian_kl(np.zeros(2), I2, np.zeros(2), -I2)
    with pytest.raises(ValueError, match=r"cov_p has shape \(2, 2\) but cov_q has shape \(3, 3\)"):
        fastprob.gaussian_kl(np.zeros(2), I2, np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match=r"mean_q has shape \(3,\) but cov_q has shape \(2, 2\)"):
        fastprob.gaussian_kl(np.zeros(2), I2, np.zeros(3), I2)
    with pytest.raises(ValueError, match=r"different numbers of components.*mean_p: 2.*cov_q: 3"):
        fastprob.gaussian_kl(np.zeros((2, 2)), I2, np.zeros(2), np.stack([I2] * 3))
    with pytest.raises(ValueError, match="mean_p contains 1 non-finite"):
        fastprob.gaussian_kl([np.nan, 0.0], I2, np.zeros(2), I2)
    with pytest.raises(ValueError, match="cov: cov is not symmetric"):
        fastprob.gaussian_entropy(np.array([[1.0, 0.5], [0.0, 1.0]]))


def test_reductions_thread_count_independent(restore_threads):
    rng = np.random.default_rng(11)
    p = _dirichlet(rng, (30_000, 16))
    q = _dirichlet(rng, (30_000, 16))
    res = [fastprob.entropy(p), fastprob.kl_divergence(p, q), fastprob.cross_entropy(p, q),
           fastprob.cross_entropy_with_logits(p, np.log(q))]
    restore_threads(1)
    res1 = [fastprob.entropy(p), fastprob.kl_divergence(p, q), fastprob.cross_entropy(p, q),
            fastprob.cross_entropy_with_logits(p, np.log(q))]
    restore_threads(numba.config.NUMBA_NUM_THREADS)
    for a, b in zip(res, res1):
        np.testing.assert_array_equal(a, b)


#: (call taking the bad array, the argument's name) for every function of information.py.
_INFO_CALLS = [
    (lambda a: fastprob.logsumexp(a), "a"),
    (lambda a: fastprob.logsumexp(np.zeros(2), b=a), "b"),
    (lambda a: fastprob.entropy(a), "p"),
    (lambda a: fastprob.cross_entropy(a, [0.5, 0.5]), "p"),
    (lambda a: fastprob.kl_divergence([0.5, 0.5], a), "q"),
    (lambda a: fastprob.cross_entropy_with_logits([0.5, 0.5], a), "logits"),
    (lambda a: fastprob.binary_cross_entropy_with_logits(a, 0.0), "y"),
    (lambda a: fastprob.gaussian_kl(a, np.eye(2), np.zeros(2), np.eye(2)), "mean_p"),
    (lambda a: fastprob.gaussian_kl(np.zeros(2), np.eye(2), np.zeros(2), a), "cov_q: cov"),
    (lambda a: fastprob.gaussian_entropy(a), "cov: cov"),
]


@pytest.mark.skipif(np.finfo(np.longdouble).eps == np.finfo(np.float64).eps, reason="long double is float64 here")
@pytest.mark.parametrize("call, name", _INFO_CALLS)
def test_long_double_is_refused_not_rounded(call, name):
    bad = np.full((2, 2), 0.5, dtype=np.longdouble) + np.eye(2, dtype=np.longdouble)
    arg = name.split(": ")[-1]
    with pytest.raises(TypeError, match=rf"^{name} has dtype float(96|128) \(long double\).*Pass {arg}\.astype"):
        call(bad)


@pytest.mark.parametrize("call, name", _INFO_CALLS)
def test_complex_and_objects_are_refused(call, name):
    with pytest.raises(TypeError, match=rf"^{name} is complex \(complex128\)"):
        call(np.full((2, 2), 0.5 + 0j))
    with pytest.raises(TypeError, match=rf"^{name} must be a real numeric array, got dtype object holding dict"):
        call(np.array([[{}, 1.0], [1.0, 1.0]], dtype=object))


def test_small_conventions_match_scipy():
    # a float32 base is used at float64 precision; 0 log 0 sums are +0.0 as in scipy; KL >= 0
    assert fastprob.entropy([0.5, 0.5], base=np.float32(2)) == st.entropy([0.5, 0.5], base=2) == 1.0
    for value in (fastprob.entropy([1.0, 0.0]), fastprob.cross_entropy([1.0, 0.0], [1.0, 0.0])):
        assert value == 0.0 and not np.signbit(value)
    assert fastprob.gaussian_kl(np.zeros(1), [[1.0]], np.zeros(1), [[1 + 1e-8]]) >= 0.0
