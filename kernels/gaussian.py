"""Gaussian log-densities: univariate (elementwise) and multivariate (via Cholesky)."""
import numpy as np
from numba.core import types
from numba.core.errors import TypingError

from ._config import blockwise, choose_by_types, serial
from . import simd
from .missing import refill_holes
from .target import PLAN
from .tiles import centred, split_mean

#: log(2π), the Gaussian's normalising constant (fastprob's only definition).
LOG_2PI = np.log(2.0 * np.pi)


@blockwise
def normal_logpdf(i0, i1, x, mean, var, out):
    """log N(x | mean, var) elementwise, computed in float64.

    All arguments are 1-D and C-contiguous; ``x``, ``mean`` and ``var`` have
    either ``out.size`` elements or exactly one (a broadcast scalar).  Computes
    elements i0 <= i < i1 (a :class:`._config.BlockKernel`).
    """
    # Stride 0 reads the single element of a broadcast scalar.
    sx = 1 if x.size > 1 else 0
    sm = 1 if mean.size > 1 else 0
    if var.size == 1:
        # One variance: hoist the logarithm (a scalar libm call per element
        # would dominate) so the loop is SIMD arithmetic only.
        v = np.float64(var[0])
        c = LOG_2PI + np.log(v)
        for i in range(i0, i1):
            z = np.float64(x[i * sx]) - np.float64(mean[i * sm])
            # z * (z / v), not z * z / v: z² overflows (|z| > 1e154) or underflows long before
            # the quotient does (normal_logpdf(1e300, 0, 1e300) is -5e299, not -inf)
            out[i] = -0.5 * (c + z * (z / v))
    else:
        for i in range(i0, i1):
            v = np.float64(var[i])
            z = np.float64(x[i * sx]) - np.float64(mean[i * sm])
            out[i] = -0.5 * (LOG_2PI + np.log(v) + z * (z / v))


@serial
def tile_log_prob(C, nt, log_weights, means, chol, logdet, var, diagonal, solver, Z, maha, LP,
                  X, t0, prec, n_inc, holes, F, G, k0, k1):
    """LP[k, r] = log_weights[k] + log N(x_r | means[k], Σ_k) for the nt rows of a tile and k0 <= k < k1.

    The components k0 .. k1 are one mixture of a stack of several (see
    :func:`.mixture.em_step`); every other argument indexes all of them.

    x - mu loses no digits to a large mean: it is computed in float64 for a
    float64 tile C, and with a split mean (:func:`.tiles.split_mean`) for a float32
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
    Z, maha : (:func:`solver_scratch_rows`, tile) and (tile,) scratch.
    LP : (K, tile) out (rows k0 .. k1 written).
    X, t0, prec, n_inc, holes, F, G : the tile's rows t0 .. of X, and its
        incomplete rows (:func:`.missing.find_holes`): where ``prec``
        marginalises, their log-densities are those of their observed
        coordinates (each component's conditional means, computed by
        :func:`.missing.fill_holes` into F, fill the holes of C); a row with
        no observed value gets log_weights[k].

    Notes
    -----
    The mean is subtracted before anything else: solving L z = x and L m = mu
    separately (X @ U - mu @ U) loses digits when |mu| is large.  The forward
    substitution runs across the rows of the tile, vectors of rows at a time,
    and the squared norm is accumulated as each coordinate is finished
    (:func:`mahalanobis`).
    """
    d = C.shape[0]
    Kc = chol.shape[0]
    rows, count, half_logdet = holes[0], holes[1], holes[7]
    no_weights = np.empty(0)
    no_scatter = np.empty((0, 0))
    for k in range(k0, k1):
        if n_inc > 0:
            refill_holes(prec, n_inc, holes, k, C, F, G, diagonal, no_weights, no_scatter)
        maha[:nt] = 0.0
        if diagonal:
            for i in range(d):
                mh, ml = split_mean(means[k, i], C)  # see tiles.split_mean
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
        for j in range(n_inc):
            r = rows[j]
            if count[j] == d:
                LP[k, r] = log_weights[k]
            else:
                # the normalising constant of the observed coordinates (see .missing)
                ck = log_weights[k] - 0.5 * ((d - count[j]) * LOG_2PI + ld) + half_logdet[k, j]
                LP[k, r] = LP.dtype.type(ck) - half * maha[r]


#: Vectors of rows the blocked solver carries per step (see
#: :func:`_blocked_mahalanobis_source`): its inner loop holds 4 coordinates x R
#: accumulators, R loaded vectors and a broadcast factor entry in registers.
#: Measured against the solvers it replaced (one thread, paired rounds, Zen 4; d = 8 / 16 / 64, float64): with
#: 32 registers R = 2: 0.93x / 0.93x / 1.26x, R = 4: 1.21x / 1.09x / 1.31x, R = 5:
#: 1.04x / 1.07x / 1.30x; with 16 (the AVX2 plan) R = 2: - / 1.02x / 1.19x, R = 3:
#: 1.11x / 1.22x / 1.22x.
BLOCK_VECTORS = 4 if PLAN.registers >= 32 else 3


@serial
def solver_scratch_rows(d, width):
    """Rows of the (rows, width) scratch ``Z`` of :func:`mahalanobis` for d features.

    The blocked solver keeps the solved coordinates in the first d rows and the
    reciprocal pivots and split mean (3d numbers) in the rows after them.
    """
    return d + (3 * d + width - 1) // width


def _blocked_mahalanobis_source(R, centre):
    """Source of ``blocked_<centre>_mahalanobis(L, C, mu, nt, maha, S)``: maha[r] = ‖L⁻¹ (C[:, r] - mu)‖².

    The forward substitution z_i = ((x_i - mu_i) - Σ_{j<i} l_ij z_j) / l_ii for any d,
    in explicit vectors of rows (:mod:`.simd`), R vectors at a time, four
    coordinates at a time: the four coordinates' accumulators stay in registers
    while the inner loop subtracts the finished coordinates j (per j: R vector
    loads of z_j and 4 broadcast factor entries for 4R multiply-adds, a
    register-blocked matrix product), then the 4 x 4 diagonal block is solved in
    registers and its z stored for the blocks below; the last d % 4 coordinates
    follow one at a time (one generated block of height 1 in a loop: blocks of
    heights 1, 2 and 3 each made the kernel longer to compile by ~0.5 s).  Each tile element is centred as it is
    loaded: C - mu for a float64 tile ('centred'), (C - mh) - ml with the mean
    split in two parts of C's dtype for a float32 tile ('split', see
    :func:`.tiles.split_mean`).

    The arithmetic is that of the unrolled solvers, operation for operation:
    each coordinate's terms are subtracted one at a time in order of j with a
    fused multiply-add where the target has one (:func:`.simd.fnmadd`), then
    multiplied by the reciprocal pivot, and the squares are summed in order of
    i.  The reciprocal pivots and the mean are first written to the scratch S
    (>= :func:`solver_scratch_rows` rows; O(d) work per call, the factor is read
    in place).  After the full steps come single vectors with masked loads and
    stores (all lanes but in the last): nothing beyond C[:, nt - 1] is read,
    nothing beyond maha[nt - 1] written.
    """

    def block(h, R, load, indent):
        """One block of h coordinates from i0, for R vectors of rows at r."""
        lines = []
        for i in range(h):
            lines.append(f"mh = simd.splat(M[0, i0 + {i}])")
            if centre == "split":
                lines.append(f"ml = simd.splat(M[1, i0 + {i}])")
            for v in range(R):
                x = f"simd.sub({load.format(row=f'i0 + {i}', v=v)}, mh)"
                lines.append(f"a{i}_{v} = " + (f"simd.sub({x}, ml)" if centre == "split" else x))
        lines.append("for j in range(i0):")
        lines += [f"    y{v} = simd.load(Z, j, r + {v} * W)" for v in range(R)]
        for i in range(h):
            lines.append(f"    l = simd.splat(L[i0 + {i}, j])")
            lines += [f"    a{i}_{v} = simd.fnmadd(l, y{v}, a{i}_{v})" for v in range(R)]
        for i in range(h):
            for k in range(i):
                lines.append(f"l = simd.splat(L[i0 + {i}, i0 + {k}])")
                lines += [f"a{i}_{v} = simd.fnmadd(l, a{k}_{v}, a{i}_{v})" for v in range(R)]
            lines.append(f"p = simd.splat(P[i0 + {i}])")
            for v in range(R):
                lines.append(f"a{i}_{v} = simd.mul(a{i}_{v}, p)")
                lines.append(f"s{v} = simd.fmadd(a{i}_{v}, a{i}_{v}, s{v})")
        return [indent + x for x in lines]

    def step(R, load, store_maha):
        lines = [f"s{v} = simd.splat(zero)" for v in range(R)]
        for h, start in ((4, "0, d4, 4"), (1, "d4, d")):  # blocks of 4, then the last d % 4 one by one
            lines.append(f"for i0 in range({start}):")
            lines += block(h, R, load, "    ")
            lines.append(f"    if i0 + {h} < d:")
            lines += [f"        simd.store(Z[i0 + {i}], r + {v} * W, a{i}_{v})" for i in range(h) for v in range(R)]
        lines += [store_maha.format(v=v) for v in range(R)]
        return lines

    mean = "split_mean(mu[i], C)" if centre == "split" else "mu[i], zero"
    lines = [f"def blocked_{centre}_mahalanobis(L, C, mu, nt, maha, S):",
             "    d = C.shape[0]",
             "    d4 = d - d % 4",
             "    zero = S.dtype.type(0.0)",
             "    one = S.dtype.type(1.0)",
             "    Z = S[:d]",
             "    rest = S[d:]",
             "    flat = rest.reshape(rest.size)",
             "    P = flat[:d]",
             "    M = flat[d:3 * d].reshape((2, d))",
             "    for i in range(d):",
             "        P[i] = one / L[i, i]",
             f"        M[0, i], M[1, i] = {mean}",
             "    W = simd.VECTOR_BYTES // S.itemsize",
             f"    full = nt - nt % ({R} * W)",
             f"    for r in range(0, full, {R} * W):"]
    lines += ["        " + x for x in step(R, "simd.load(C, {row}, r + {v} * W)", "simd.store(maha, r + {v} * W, s{v})")]
    lines += ["    for r in range(full, nt, W):",
              "        n = min(W, nt - r)"]
    lines += ["        " + x for x in step(1, "simd.load_first(C, {row}, r, n)", "simd.store_first(maha, r, s{v}, n)")]
    return "\n".join(lines)


#: Widths of the unrolled Mahalanobis solvers (:func:`mahalanobis`): d in
#: UNROLLED_WIDTHS uses the solver of width d, every other d the blocked solver
#: (:func:`_blocked_mahalanobis_source`).
UNROLLED_WIDTHS = (1, 2, 3, 4)


def _unrolled_mahalanobis_source(D, centre):
    """Source of ``<centre>_mahalanobis_<D>(L, Z, mu, nt, maha)``: maha[r] = ‖L⁻¹ (Z[:, r] - mu)‖² for d <= D.

    Each element of the tile Z is centred as it is loaded: plainly for
    ``centre`` = 'centred' (float64 tiles), with the mean split in two parts of
    Z's dtype for 'split' (float32 tiles, as :func:`.tiles.split_mean` explains).

    With the width D a constant, every coordinate z_i of a row is a local
    variable: LLVM vectorises the loop across rows with the whole z of a
    vector of rows in registers and the entries of L as broadcast scalars.
    That is one pass over Z (d loads per row, one store of maha).  The
    arithmetic is the forward substitution z_i = (Z_i - Σ_{j<i} l_ij z_j) / l_ii
    with a reciprocal pivot, terms subtracted in order of j.  Z is only read.

    For d < D the coordinates i >= d get pivot 0 and coefficients 0 (and read
    row 0 of Z, any valid row), so they are exactly 0 and add nothing: one
    compiled width serves several d, which keeps compile time down.
    """
    lines = [f"def {centre}_mahalanobis_{D}(L, Z, mu, nt, maha):",
              "    d = Z.shape[0]",
              "    one = L.dtype.type(1.0)",
              "    zero = L.dtype.type(0.0)"]
    for i in range(D):
        lines.append(f"    p{i} = one / L[{i}, {i}] if {i} < d else zero")
        lines.append(f"    row{i} = {i} if {i} < d else 0")
        lines += [f"    l{i}_{j} = L[{i}, {j}] if {i} < d else zero" for j in range(i)]
        if centre == "centred":
            lines.append(f"    m{i} = mu[row{i}]")
        else:
            lines.append(f"    m{i}, n{i} = split_mean(mu[row{i}], Z)")
    lines.append("    for r in range(nt):")
    for i in range(D):
        terms = "".join(f" - l{i}_{j} * z{j}" for j in range(i))
        x = {"centred": f"(Z[row{i}, r] - m{i})", "split": f"((Z[row{i}, r] - m{i}) - n{i})"}[centre]
        lines.append(f"        z{i} = ({x}{terms}) * p{i}")
    lines.append("        maha[r] = " + " + ".join(f"z{i} * z{i}" for i in range(D)))
    return "\n".join(lines)


def _define_solvers():
    """Define the solvers from their templates.

    ``blocked_centred_mahalanobis`` / ``blocked_split_mahalanobis`` (for the
    target's :data:`BLOCK_VECTORS`) and, per width D in :data:`UNROLLED_WIDTHS`,
    ``mahalanobis_<D>`` and, to centre as they load, ``centred_mahalanobis_<D>`` /
    ``split_mahalanobis_<D>``.  Generated from templates rather than written out
    per width.  They become ordinary kernels of this module, compiled under this
    file's name: Numba's on-disk cache locates them by file and module (and keys
    them on their bytecode and on the target) like the kernels written out here.
    """
    namespace = globals()
    for centre in ("centred", "split"):
        name = f"blocked_{centre}_mahalanobis"
        exec(compile(_blocked_mahalanobis_source(BLOCK_VECTORS, centre), __file__, "exec"), namespace)
        namespace[name] = serial(namespace[name])
    for D in UNROLLED_WIDTHS:
        for centre in ("centred", "split"):
            name = f"{centre}_mahalanobis_{D}"
            exec(compile(_unrolled_mahalanobis_source(D, centre), __file__, "exec"), namespace)
            namespace[name] = serial(namespace[name])


_define_solvers()


def solver_token(d, diagonal=False):
    """The Mahalanobis solver for d features, as an empty array whose ``ndim`` names it.

    ndim 1: the blocked solver (also for diagonal covariances, which use no
    solver); ndim 2 + j: the unrolled solver of width ``UNROLLED_WIDTHS[j]`` = d.
    Numba compiles a kernel once per argument type, so a kernel compiles only
    the solver its data need.
    """
    if diagonal or d not in UNROLLED_WIDTHS:
        return np.empty(0)
    return np.empty((0,) * (2 + UNROLLED_WIDTHS.index(d)))


def mahalanobis(solver, L, C, mu, Z, nt, maha):
    """maha[r] = ‖L⁻¹ (C[:, r] - mu)‖² for the nt columns of the tile C (float64 or float32).

    Chosen at compile time from ``solver.ndim`` (see :func:`solver_token`) and
    the dtypes: the blocked solver (:func:`_blocked_mahalanobis_source`; Z is its
    scratch, >= :func:`solver_scratch_rows` rows, of C's dtype), or an unrolled
    one, which centres each element as it loads it (saving a pass that stores
    and reloads the centred tile): plainly for float64 tiles, with the split
    mean of :func:`.tiles.split_mean` for float32 tiles (all in float32 lanes).  Z
    must have C's dtype: the kernels keep tile and scratch in one dtype.
    """
    raise NotImplementedError("compiled use only")


@choose_by_types(mahalanobis)
def _mahalanobis_by_types(solver, L, C, mu, Z, nt, maha):
    if Z.dtype != C.dtype:
        raise TypingError(f"mahalanobis: the solvers need a scratch of the tile's dtype, got {Z.dtype} "
                          f"for a {C.dtype} tile")
    kind = "centred" if C.dtype == types.float64 else "split"
    if solver.ndim == 1:
        solve_blocked = globals()[f"blocked_{kind}_mahalanobis"]

        def blocked(solver, L, C, mu, Z, nt, maha):
            solve_blocked(L, C, mu, nt, maha, Z)
        return blocked
    solve_centring = globals()[f"{kind}_mahalanobis_{UNROLLED_WIDTHS[solver.ndim - 2]}"]

    def centred_on_the_fly(solver, L, C, mu, Z, nt, maha):
        solve_centring(L, C, mu, nt, maha)
    return centred_on_the_fly


@serial
def nan_row_limit(X, n, marginal):
    """The true value of a log-density that came out NaN for row n of X.

    NaN if the row has a NaN coordinate and NaN propagates; otherwise the NaN
    came from an infinite coordinate (0 * inf inside the substitution), and
    the limit of the log-density there is -inf.
    """
    if marginal:
        return -np.inf
    for i in range(X.shape[1]):
        if np.isnan(X[n, i]):
            return np.nan
    return -np.inf


@serial
def fix_infinite_rows(X, t0, nt, LP, marginal):
    """Rows with an infinite coordinate (and no NaN) get -inf instead of NaN (:func:`nan_row_limit`)."""
    K = LP.shape[0]
    # The row sum over components is NaN iff some component is (no log-density
    # is +inf), and summing vectorises across rows where a per-row search would not.
    total = np.zeros(nt)
    for k in range(K):
        for r in range(nt):
            total[r] += LP[k, r]
    for r in range(nt):
        if np.isnan(total[r]) and nan_row_limit(X, t0 + r, marginal) == -np.inf:
            LP[:, r] = -np.inf
