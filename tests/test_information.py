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
    got = fastprob.logsumexp(a)
    np.testing.assert_allclose(got, sp.logsumexp(a, axis=-1), rtol=4e-16)
    exact = np.array([logsumexp_mp(row) for row in a[:40]])
    np.testing.assert_allclose(got[:40], exact, rtol=3e-16)


def test_logsumexp_special_values():
    inf, nan = np.inf, np.nan
    a = np.array([[-inf, -inf], [inf, 1.0], [inf, -inf], [nan, 1.0], [inf, nan], [0.0, -inf], [inf, inf]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = fastprob.logsumexp(a)
    np.testing.assert_array_equal(got, [-inf, inf, inf, nan, nan, 0.0, inf])
    assert fastprob.logsumexp(np.zeros((3, 0))).tolist() == [-inf] * 3  # empty sum
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
    r32 = fastprob.logsumexp(a.astype(np.float32))
    assert r32.dtype == np.float32
    np.testing.assert_allclose(r32, sp.logsumexp(a.astype(np.float32).astype(np.float64), axis=-1), rtol=1e-7)
    out = np.empty((3, 4))
    assert fastprob.logsumexp(a, out=out) is out
    with pytest.raises(ValueError, match=r"out must have shape \(3, 4\)"):
        fastprob.logsumexp(a, out=np.empty(3))
    with pytest.raises(ValueError, match="axis 3 is out of bounds for a with 3 dimension"):
        fastprob.logsumexp(a, axis=3)
    with pytest.raises(TypeError, match="axis must be an integer"):
        fastprob.logsumexp(a, axis=1.5)


def test_logsumexp_thread_count_independent(restore_threads):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((20_000, 64)) * 10
    full = fastprob.logsumexp(a)
    restore_threads(1)
    np.testing.assert_array_equal(fastprob.logsumexp(a), full)


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
    y = np.array([[0.0, 1.0, 0.0]] * 4)
    z = np.array([[-np.inf, 0.0, 1.0], [np.nan, 0.0, 1.0], [np.inf, 0.0, 1.0], [-np.inf] * 3])
    got = fastprob.cross_entropy_with_logits(y, z)
    assert got[0] == pytest.approx(np.log1p(np.e))  # a masked class with label 0 contributes 0
    assert np.isnan(got[1:]).all()  # NaN, +inf or all -inf logits: softmax undefined
    with pytest.raises(ValueError, match="labels does not sum to 1"):
        fastprob.cross_entropy_with_logits([0.5, 0.6], [0.0, 0.0])
    with pytest.raises(ValueError, match="logits must have at least one dimension"):
        fastprob.cross_entropy_with_logits([1.0], 0.0)


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


def test_small_conventions_match_scipy():
    # a float32 base is used at float64 precision; 0 log 0 sums are +0.0 as in scipy; KL >= 0
    assert fastprob.entropy([0.5, 0.5], base=np.float32(2)) == st.entropy([0.5, 0.5], base=2) == 1.0
    for value in (fastprob.entropy([1.0, 0.0]), fastprob.cross_entropy([1.0, 0.0], [1.0, 0.0])):
        assert value == 0.0 and not np.signbit(value)
    assert fastprob.gaussian_kl(np.zeros(1), [[1.0]], np.zeros(1), [[1 + 1e-8]]) >= 0.0
