"""Gaussian log-densities: univariate (elementwise) and multivariate (via Cholesky)."""
import numpy as np
from numba import prange
from numba.core import types

from ._config import choose_by_types, serial, serial_and_parallel
from . import simd
from .frame import align_stack_frame
from .target import PLAN
from .tiles import ROW_PAD, centred, load_tile, split_mean

LOG_2PI = np.log(2.0 * np.pi)


@serial_and_parallel
def normal_logpdf(x, mean, var, out):
    """log N(x | mean, var) elementwise, computed in float64.

    All arguments are 1-D and C-contiguous; ``x``, ``mean`` and ``var`` have
    either ``out.size`` elements or exactly one (a broadcast scalar).
    """
    n = out.size
    # Stride 0 reads the single element of a broadcast scalar.
    sx = 1 if x.size > 1 else 0
    sm = 1 if mean.size > 1 else 0
    if var.size == 1:
        # One variance: hoist the logarithm (a scalar libm call per element
        # would dominate) so the loop is SIMD arithmetic only.
        v = np.float64(var[0])
        c = LOG_2PI + np.log(v)
        for i in prange(n):
            z = np.float64(x[i * sx]) - np.float64(mean[i * sm])
            # z * (z / v), not z * z / v: z² overflows (|z| > 1e154) or underflows long before
            # the quotient does (normal_logpdf(1e300, 0, 1e300) is -5e299, not -inf)
            out[i] = -0.5 * (c + z * (z / v))
    else:
        for i in prange(n):
            v = np.float64(var[i])
            z = np.float64(x[i * sx]) - np.float64(mean[i * sm])
            out[i] = -0.5 * (LOG_2PI + np.log(v) + z * (z / v))


@serial
def tile_log_prob(C, nt, log_weights, means, chol, logdet, var, diagonal, solver, Z, maha, LP):
    """LP[k, r] = log_weights[k] + log N(x_r | means[k], Σ_k) for the nt rows of a tile.

    x - mu loses no digits to a large mean: it is computed in float64 for a
    float64 tile C, and with a split mean (:func:`centre_tile`) for a float32
    tile; the rest of the arithmetic runs in the dtype of Z, maha, LP and the
    factors, which the caller makes the same: float64 everywhere except the
    mixture kernels on float32 data, which pass float32 tiles and buffers.

    Parameters
    ----------
    C : (d, tile) tile of X (see :mod:`.tiles`), float64 or float32.
    log_weights : (K,) float64 (zeros for plain densities).
    means : (K, d) float64.
    chol : (Kc, d, d) lower Cholesky factors of Σ, Kc in {1, K} (1 = shared,
        'tied'); ignored when ``diagonal``.
    logdet : (K,) or (Kc,) log|Σ_k|.
    var : (K, d) variances of diagonal covariances; used only when ``diagonal``.
    solver : :func:`solver_token` for d: picks the Mahalanobis solver at compile time.
    Z, maha : (d, tile) and (tile,) scratch.
    LP : (K, tile) out.

    Notes
    -----
    The mean is subtracted before anything else: solving L z = x and L m = mu
    separately (X @ U - mu @ U) loses digits when |mu| is large.  The forward
    substitution runs across the rows of the tile, so the innermost loop is a
    contiguous, vectorisable sweep, and the squared norm is accumulated as each
    coordinate is finished; for d <= 16 (except 5) an unrolled solver keeps a row's
    whole z in registers instead (:func:`mahalanobis`).
    """
    d = C.shape[0]
    K = LP.shape[0]
    Kc = chol.shape[0]
    for k in range(K):
        maha[:nt] = 0.0
        if diagonal:
            for i in range(d):
                mh, ml = split_mean(means[k, i], C)  # see centre_tile
                v = var[k, i]
                for r in range(nt):
                    z = Z.dtype.type(centred(C[i, r], mh, ml))
                    maha[r] += z * z / v
            ld = logdet[k]
        else:
            ck = k if Kc > 1 else 0
            mahalanobis(solver, chol[ck], C, means[k], Z, nt, maha)
            ld = logdet[ck]
        # Constants in the buffers' dtype: a float64 literal would turn every
        # float32 element operation into a float64 one (half the SIMD width).
        c = LP.dtype.type(log_weights[k] - 0.5 * (d * LOG_2PI + ld))
        half = LP.dtype.type(0.5)
        for r in range(nt):
            LP[k, r] = c - half * maha[r]


@serial
def centre_tile(C, mu, nt, Z):
    """Z[i, r] = C[i, r] - mu[i] for r < nt, in C's dtype, as accurate as centring in float64.

    The float64 mean is split into mh + ml, mh = mu rounded to C's dtype and
    ml the rest rounded, and Z = (C - mh) - ml (:func:`.tiles.centred`).  For
    float64 C, ml = 0 and this is exactly C - mu (one subtraction).  For
    float32 C (float32 data, exact in the tile) the two float32 subtractions
    each round relative to the *difference*, not to |mu|:
    z = (x - mu)(1 + d) with |d| <= ~2 float32 ulps however large the mean --
    the accuracy of a float64 subtraction rounded to float32, in 16-lane float32
    arithmetic.  (Rounding the mean to float32 alone would be off by up to
    |mu|/2**24: 6e-4 at mu = 1e4.)
    """
    for i in range(C.shape[0]):
        mh, ml = split_mean(mu[i], C)
        for r in range(nt):
            Z[i, r] = centred(C[i, r], mh, ml)


@serial
def forward_substitution(L, Z, nt, maha):
    """Solve L z = Z[:, r] in place for the nt columns of Z; add ‖z‖² to maha.

    The first d - d % 4 rows are solved four at a time
    (:func:`forward_substitution_by_4`), the last d % 4 one at a time.  The
    innermost loops run across the tile's rows, so they vectorise.
    """
    d = Z.shape[0]
    d4 = d - d % 4
    # A view of the first d4 rows, so that the blocked loop's bound is the array's
    # own first dimension: with d4 as the bound LLVM compiled that loop 1.1-1.3x
    # (float64) and 1.3-1.6x (float32) slower at d = 23-66 (measured; same i0
    # values, same arithmetic, bit-identical results).
    forward_substitution_by_4(L, Z[:d4], nt, maha)
    for i in range(d4, d):  # the last d % 4 rows, one at a time
        for j in range(i):
            lij = L[i, j]
            for r in range(nt):
                Z[i, r] -= lij * Z[j, r]
        inv = L.dtype.type(1.0) / L[i, i]
        for r in range(nt):
            zi = Z[i, r] * inv
            Z[i, r] = zi
            maha[r] += zi * zi


@serial
def forward_substitution_by_4(L, Z, nt, maha):
    """:func:`forward_substitution` for Z with a multiple of 4 rows, four rows at a time.

    Each block of four rows first takes the update from all the rows finished
    before it (:func:`rank_update`, a matrix product in explicit vectors), then
    its 4 x 4 diagonal block is solved directly.
    """
    d = Z.shape[0]
    for i0 in range(0, d, 4):
        if i0 > 0:
            rank_update(L, Z, i0, nt)
        # Multiplying by reciprocals: a division per element would cost as much
        # as the rest of a small-d solve; the result differs by at most an ulp.
        one = L.dtype.type(1.0)
        d0, d1, d2, d3 = one / L[i0, i0], one / L[i0 + 1, i0 + 1], one / L[i0 + 2, i0 + 2], one / L[i0 + 3, i0 + 3]
        m10 = L[i0 + 1, i0]
        m20, m21 = L[i0 + 2, i0], L[i0 + 2, i0 + 1]
        m30, m31, m32 = L[i0 + 3, i0], L[i0 + 3, i0 + 1], L[i0 + 3, i0 + 2]
        for r in range(nt):
            z0 = Z[i0, r] * d0
            z1 = (Z[i0 + 1, r] - m10 * z0) * d1
            z2 = (Z[i0 + 2, r] - m20 * z0 - m21 * z1) * d2
            z3 = (Z[i0 + 3, r] - m30 * z0 - m31 * z1 - m32 * z2) * d3
            Z[i0, r] = z0
            Z[i0 + 1, r] = z1
            Z[i0 + 2, r] = z2
            Z[i0 + 3, r] = z3
            maha[r] += z0 * z0 + z1 * z1 + z2 * z2 + z3 * z3


#: Vectors of rows that :func:`rank_update` carries per step, from the target's
#: register count: 4 rows x R accumulators + R loaded rows + one factor entry must
#: stay in registers.  Measured against the LLVM-vectorised 4 x 4 block update it
#: replaces (d = 64 solve, one thread, paired rounds on a Zen 4): with 32 registers
#: R = 2 was 1.06x (float64) / 1.09x (float32) faster, R = 3 1.05x / 1.06x, R = 4
#: slower; with 16 (the AVX2 plan) R = 2 1.18x / 1.29x, R = 3 1.27x / 1.32x.
RANK_UPDATE_VECTORS = 2 if PLAN.registers >= 32 else 3


def _rank_update_source(R):
    """Source of ``rank_update(L, Z, i0, nt)``: Z[i0:i0 + 4, :nt] -= L[i0:i0 + 4, :i0] @ Z[:i0, :nt].

    The 4 x (R vectors of rows) block of Z stays in registers while the inner
    loop runs over the finished rows j < i0: per j, R vector loads and 4
    broadcast factor entries feed 4R multiply-adds (the LLVM-vectorised update
    loaded and stored Z's rows once per four j, and with 16 registers also
    reloaded its 16 broadcast factor entries from the stack).  Each row's terms
    are subtracted one at a time in order of j.  After the full steps, single
    vectors, then one masked vector for the last rows (nothing beyond nt is read
    or written).
    """

    def step(R, load, store):
        lines = [f"a{i}_{v} = {load.format(i=f'i0 + {i}', v=v)}" for i in range(4) for v in range(R)]
        lines.append("for j in range(i0):")
        lines += [f"    y{v} = {load.format(i='j', v=v)}" for v in range(R)]
        for i in range(4):
            lines.append(f"    lij = simd.splat(L[i0 + {i}, j])")
            lines += [f"    a{i}_{v} = simd.fnmadd(lij, y{v}, a{i}_{v})" for v in range(R)]
        lines += [store.format(i=f"i0 + {i}", v=v, a=f"a{i}_{v}") for i in range(4) for v in range(R)]
        return lines

    lines = ["def rank_update(L, Z, i0, nt):",
             "    W = simd.VECTOR_BYTES // Z.itemsize",
             f"    full = nt - nt % ({R} * W)",
             f"    for r in range(0, full, {R} * W):"]
    lines += ["        " + x for x in step(R, "simd.load(Z, {i}, r + {v} * W)", "simd.store(Z[{i}], r + {v} * W, {a})")]
    lines += ["    r = full",
              "    while r + W <= nt:"]
    lines += ["        " + x for x in step(1, "simd.load(Z, {i}, r)", "simd.store(Z[{i}], r, {a})")]
    lines += ["        r += W",
              "    if r < nt:",
              "        n = nt - r"]
    lines += ["        " + x for x in step(1, "simd.load_first(Z, {i}, r, n)", "simd.store_first(Z[{i}], r, {a}, n)")]
    return "\n".join(lines)


#: Widths of the unrolled Mahalanobis solvers (:func:`mahalanobis`).  A
#: factor with d in UNROLLED_D uses the narrowest width >= d; other d use
#: :func:`forward_substitution`.  Each width costs a few seconds of (cached)
#: compilation per dtype, paid only by kernels whose d uses it; a d padded by up
#: to 3 still measured faster than the blocked solve, except d = 5 padded to 8.
#: The exact small widths 1-4 save the blocked solve's separate centring pass.
UNROLLED_WIDTHS = (1, 2, 3, 4, 8, 12, 16)
UNROLLED_D = frozenset((1, 2, 3, 4, *range(6, 17)))


def _unrolled_mahalanobis_source(D, centre):
    """Source of ``mahalanobis_<D>(L, Z, nt, maha)``: maha[r] = ‖L⁻¹ Z[:, r]‖² for d <= D.

    (For D in :data:`SIMD_WIDTHS` the centring variants are generated by
    :func:`_simd_mahalanobis_source` instead.)

    With ``centre`` = 'centred', ``centred_mahalanobis_<D>(L, Z, mu, nt, maha)``
    instead takes the uncentred tile and centres each element as it loads it:
    z = L⁻¹ (Z[:, r] - mu) (float64 tiles); with 'split',
    ``split_mahalanobis_<D>`` centres as :func:`centre_tile` does, with the
    mean split in two parts of Z's dtype (float32 tiles).

    With the width D a constant, every coordinate z_i of a row is a local
    variable: LLVM vectorises the loop across rows with the whole z of a
    vector of rows in registers and the entries of L as broadcast scalars.
    That is one pass over Z (d loads per row, one store of maha), where
    :func:`forward_substitution` makes about d/2 passes, each loading and
    storing its rows of Z.  The arithmetic is the same forward substitution:
    z_i = (Z_i - Σ_{j<i} l_ij z_j) / l_ii with a reciprocal pivot, terms
    subtracted in order of j.  Z is only read.  (The centring is in Z's dtype:
    callers pass float64 tiles to the centring variant only.)

    For d < D the coordinates i >= d get pivot 0 and coefficients 0 (and read
    row 0 of Z, any valid row), so they are exactly 0 and add nothing: one
    compiled width serves several d, which keeps compile time down.
    """
    if centre:
        lines = [f"def {centre}_mahalanobis_{D}(L, Z, mu, nt, maha):"]
    else:
        lines = [f"def mahalanobis_{D}(L, Z, nt, maha):"]
    lines += ["    align_stack_frame()  # the broadcast entries of L are spilled: see .frame",
              "    d = Z.shape[0]",
              "    one = L.dtype.type(1.0)",
              "    zero = L.dtype.type(0.0)"]
    for i in range(D):
        lines.append(f"    p{i} = one / L[{i}, {i}] if {i} < d else zero")
        lines.append(f"    row{i} = {i} if {i} < d else 0")
        lines += [f"    l{i}_{j} = L[{i}, {j}] if {i} < d else zero" for j in range(i)]
        if centre == "centred":
            lines.append(f"    m{i} = mu[row{i}]")
        elif centre == "split":
            lines.append(f"    m{i}, n{i} = split_mean(mu[row{i}], Z)")
    lines.append("    for r in range(nt):")
    for i in range(D):
        terms = "".join(f" - l{i}_{j} * z{j}" for j in range(i))
        x = {"centred": f"(Z[row{i}, r] - m{i})", "split": f"((Z[row{i}, r] - m{i}) - n{i})",
             None: f"Z[row{i}, r]"}[centre]
        lines.append(f"        z{i} = ({x}{terms}) * p{i}")
    lines.append("        maha[r] = " + " + ".join(f"z{i} * z{i}" for i in range(D)))
    return "\n".join(lines)


#: Widths whose centring solvers use explicit vectors (:func:`_simd_mahalanobis_source`):
#: from 8 on, the factor entries outnumber the vector registers.
SIMD_WIDTHS = (8, 12, 16)


def simd_scratch_size(D):
    """Elements of scratch the explicit-vector solver of width D needs (factor, pivots, split mean)."""
    return D * (D - 1) // 2 + 3 * D


def _simd_mahalanobis_source(D, centre):
    """Source of ``simd_<centre>_mahalanobis_<D>(L, C, mu, nt, maha, S)``.

    The same forward substitution as ``<centre>_mahalanobis_<D>``
    (:func:`_unrolled_mahalanobis_source`), operation for operation, written with
    the explicit vectors of :mod:`.simd` so that each factor entry is loaded inside
    the loop as a scalar and broadcast as a memory operand (see :mod:`.simd` for the
    measured reason).  The entries, pivots and split mean are first written to the
    scratch S (C-contiguous, >= :func:`simd_scratch_size` elements; zeros for the
    padding coordinates i >= d), where the loop loads them: S is not provably
    distinct from ``maha``, so LLVM keeps those loads in the loop.  The last
    partial vector of rows is loaded and stored under a lane mask: nothing beyond
    C[:, nt - 1] is read, nothing beyond maha[nt - 1] written.
    """
    tri = D * (D - 1) // 2
    P0, M0, N0 = tri, tri + D, tri + 2 * D
    lines = [f"def simd_{centre}_mahalanobis_{D}(L, C, mu, nt, maha, S):",
             "    d = C.shape[0]",
             "    K = S.reshape(S.size)",
             "    one = K.dtype.type(1.0)",
             "    zero = K.dtype.type(0.0)",
             "    t = 0",
             f"    for i in range({D}):",
             "        for j in range(i):",
             "            K[t] = L[i, j] if i < d else zero",
             "            t += 1",
             "        if i < d:",
             f"            K[{P0} + i] = one / L[i, i]"]
    if centre == "centred":
        lines += [f"            K[{M0} + i] = mu[i]"]
    else:
        lines += [f"            K[{M0} + i], K[{N0} + i] = split_mean(mu[i], C)"]
    lines += ["        else:",
              f"            K[{P0} + i] = zero",
              f"            K[{M0} + i] = zero",
              f"            K[{N0} + i] = zero"]
    lines += [f"    row{i} = {i} if {i} < d else 0" for i in range(D)]
    lines += ["    W = simd.VECTOR_BYTES // K.itemsize",
              "    full = nt - nt % W",
              "    for r in range(0, full, W):"]
    lines += _simd_body(D, centre, "simd.load(C, row{i}, r)", "simd.store(maha, r, s)", P0, M0, N0)
    lines += ["    if full < nt:",
              "        r = full",
              "        n = nt - full"]
    lines += _simd_body(D, centre, "simd.load_first(C, row{i}, r, n)", "simd.store_first(maha, r, s, n)", P0, M0, N0)
    return "\n".join(lines)


def _simd_body(D, centre, load, store, P0, M0, N0):
    lines = []
    idx = 0
    for i in range(D):
        x = f"simd.sub({load.format(i=i)}, simd.splat(K[{M0 + i}]))"
        if centre == "split":
            x = f"simd.sub({x}, simd.splat(K[{N0 + i}]))"
        lines.append(f"        a = {x}")
        for j in range(i):
            lines.append(f"        a = simd.fnmadd(simd.splat(K[{idx}]), z{j}, a)")
            idx += 1
        lines.append(f"        z{i} = simd.mul(a, simd.splat(K[{P0 + i}]))")
        lines.append(f"        s = simd.mul(z{i}, z{i})" if i == 0 else f"        s = simd.fmadd(z{i}, z{i}, s)")
    lines.append(f"        {store}")
    return lines


def _define_unrolled_solvers():
    """Define every width's solvers from their templates.

    ``mahalanobis_<D>`` and, to centre as they load, ``centred_mahalanobis_<D>`` /
    ``split_mahalanobis_<D>``, or ``simd_centred_mahalanobis_<D>`` /
    ``simd_split_mahalanobis_<D>`` for D in :data:`SIMD_WIDTHS`.  Generated from one template rather than written out per width.  They become
    ordinary kernels of this module, compiled under this file's name: Numba's
    on-disk cache locates them by file and module (and keys them on their
    bytecode) like the kernels written out here.
    """
    namespace = globals()
    exec(compile(_rank_update_source(RANK_UPDATE_VECTORS), __file__, "exec"), namespace)
    namespace["rank_update"] = serial(namespace["rank_update"])
    for D in UNROLLED_WIDTHS:
        for centre in (None, "centred", "split"):
            if centre and D in SIMD_WIDTHS:
                name, source = f"simd_{centre}_mahalanobis_{D}", _simd_mahalanobis_source(D, centre)
            else:
                name = f"{centre + '_' if centre else ''}mahalanobis_{D}"
                source = _unrolled_mahalanobis_source(D, centre)
            exec(compile(source, __file__, "exec"), namespace)
            namespace[name] = serial(namespace[name])


_define_unrolled_solvers()


def solver_token(d, diagonal=False):
    """The Mahalanobis solver for d features, as an empty array whose ``ndim`` names it.

    ndim 1: :func:`forward_substitution` (also for diagonal covariances, which
    use no solver); ndim 2 + j: the unrolled solver of width
    ``UNROLLED_WIDTHS[j]``, the narrowest >= d.  Numba compiles a kernel once
    per argument type, so a kernel compiles only the solver its data need:
    diagonal fits and small d do not pay the wide solvers' compile time.
    """
    if diagonal or d not in UNROLLED_D:
        return np.empty(0)
    j = next(j for j, D in enumerate(UNROLLED_WIDTHS) if d <= D)
    return np.empty((0,) * (2 + j))


def mahalanobis(solver, L, C, mu, Z, nt, maha):
    """maha[r] = ‖L⁻¹ (C[:, r] - mu)‖² for the nt columns of the tile C (float64 or float32).

    Chosen at compile time from ``solver.ndim`` (see :func:`solver_token`) and
    the dtypes: the blocked :func:`forward_substitution` on the centred tile, or
    an unrolled solver, which centres each element as it loads it (saving a
    pass that stores and reloads the centred tile): plainly for float64 tiles,
    with the split mean of :func:`centre_tile` for float32 tiles (all in
    float32 lanes); from width 8 on, written in explicit vectors
    (:func:`_simd_mahalanobis_source`; Z then holds their factor entries, so it
    must have >= :func:`simd_scratch_size` elements).  A float64 tile with
    float32 factors is centred into Z first: centring in float64 inside the
    solver's loop would make LLVM pick the float64 vector width for the whole
    loop, half the float32 lanes.
    """
    raise NotImplementedError("compiled use only")


@choose_by_types(mahalanobis)
def _mahalanobis_by_types(solver, L, C, mu, Z, nt, maha):
    if solver.ndim == 1:
        def blocked(solver, L, C, mu, Z, nt, maha):
            centre_tile(C, mu, nt, Z)
            forward_substitution(L, Z, nt, maha)
        return blocked
    D = UNROLLED_WIDTHS[solver.ndim - 2]
    if Z.dtype == C.dtype:
        kind = "centred" if C.dtype == types.float64 else "split"
        if D in SIMD_WIDTHS:
            solve_vectors = globals()[f"simd_{kind}_mahalanobis_{D}"]

            def centred_on_the_fly_in_vectors(solver, L, C, mu, Z, nt, maha):
                solve_vectors(L, C, mu, nt, maha, Z)  # Z: scratch for the factor entries
            return centred_on_the_fly_in_vectors
        solve_centring = globals()[f"{kind}_mahalanobis_{D}"]

        def centred_on_the_fly(solver, L, C, mu, Z, nt, maha):
            solve_centring(L, C, mu, nt, maha)
        return centred_on_the_fly
    solve = globals()[f"mahalanobis_{D}"]

    def centred_first(solver, L, C, mu, Z, nt, maha):
        centre_tile(C, mu, nt, Z)
        solve(L, Z, nt, maha)
    return centred_first


@serial
def nan_row_limit(X, n):
    """The true value of a log-density that came out NaN for row n of X.

    NaN if the row has a NaN coordinate; otherwise the NaN came from an
    infinite coordinate (0 * inf inside the substitution), and the limit of
    the log-density there is -inf.
    """
    for i in range(X.shape[1]):
        if np.isnan(X[n, i]):
            return np.nan
    return -np.inf


@serial
def fix_infinite_rows(X, t0, nt, LP):
    """Rows with an infinite coordinate (and no NaN) get -inf instead of NaN (:func:`nan_row_limit`)."""
    K = LP.shape[0]
    # The row sum over components is NaN iff some component is (no log-density
    # is +inf), and summing vectorises across rows where a per-row search would not.
    total = np.zeros(nt)
    for k in range(K):
        for r in range(nt):
            total[r] += LP[k, r]
    for r in range(nt):
        if np.isnan(total[r]) and nan_row_limit(X, t0 + r) == -np.inf:
            LP[:, r] = -np.inf


@serial_and_parallel
def mvn_logpdf(X, means, chol, logdet, tile, solver, out):
    """log N(x_n | mean_k, L_k L_kᵀ) for every row n and component k.

    Parameters
    ----------
    X : (N, d) float32/float64, C-contiguous.  NaN rows give NaN; rows with
        an infinite coordinate (and no NaN) give -inf.
    means : (K, d) float64.
    chol : (Kc, d, d) float64 lower Cholesky factors, Kc in {1, K}.
    logdet : (Kc,) float64 log-determinants of the covariances.
    tile : rows per work item; results do not depend on it.
    solver : :func:`solver_token` for d.
    out : (N, K) out, X's dtype.
    """
    N, d = X.shape
    K = out.shape[1]
    zeros = np.zeros(K)
    no_var = np.empty((0, 0))
    for b in prange((N + tile - 1) // tile):
        t0 = b * tile
        nt = min(N, t0 + tile) - t0
        C = np.empty((d, nt))
        Z = np.empty((d, nt + ROW_PAD))  # >= simd_scratch_size(D) elements even for nt = 1
        maha = np.empty(nt)
        LP = np.empty((K, nt))
        load_tile(X, t0, nt, C)
        tile_log_prob(C, nt, zeros, means, chol, logdet, no_var, False, solver, Z, maha, LP)
        fix_infinite_rows(X, t0, nt, LP)
        for r in range(nt):
            for k in range(K):
                out[t0 + r, k] = LP[k, r]
