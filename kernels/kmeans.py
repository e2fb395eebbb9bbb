"""scikit-learn's k-means initialisation for many small groups at once.

:func:`kmeans_groups` runs, for every group of rows, what
``sklearn.cluster.KMeans(n_clusters=K, n_init=1).fit(X_g, sample_weight=sw_g)``
(scikit-learn 1.9) or ``sklearn.cluster.kmeans_plusplus`` computes, from
random numbers drawn beforehand in Python with the calls scikit-learn makes:

* k-means++ (``_kmeans_plusplus``): the first centre by ``choice(n, p=w / Σw)``
  (one ``random_sample``; p in the data's dtype, its cumulative sum in float64,
  searched to the right), then ``2 + int(log K)`` candidates per centre from
  ``uniform(size=n_trials) * potential`` searched (to the left) in the
  cumulative sum of ``w · closest distance²``, keeping the candidate that
  minimises the potential (first on ties);
* Lloyd (``_kmeans_single_lloyd``) on the data centred by their (unweighted)
  mean, as ``KMeans.fit`` does: labels by ``‖c‖² - 2 x·c`` (first minimum),
  centres as weighted means, the shift tolerance ``mean(var(X, axis=0)) * 1e-4``,
  strict convergence when no label changes, otherwise a final labelling pass,
  at most ``max_iter`` iterations.

Arithmetic follows scikit-learn's dtype (float32 data: float32 centres and
distances, float64 distances in k-means++ rounded to float32), but BLAS sums
in an order of its own, so a label can differ from scikit-learn's only where
two distances tie to rounding.  What scikit-learn does with rules that cannot
be reproduced cheaply is reported instead (the caller refits the group with
scikit-learn): an empty cluster during Lloyd (its relocation orders the
farthest points with ``argpartition``) and fewer distinct labels than
clusters (scikit-learn warns).
"""
import numpy as np

from ._config import blockwise, serial

#: Status codes of :func:`kmeans_groups` (0: done).
KMEANS_OK = 0
#: A cluster lost all its points during Lloyd (scikit-learn relocates it).
KMEANS_EMPTY_CLUSTER = 11
#: Fewer distinct labels than clusters (duplicate points; scikit-learn warns).
KMEANS_FEW_DISTINCT = 12


@serial
def pairwise_sum(a, i0, n):
    """Σ a[i0 : i0 + n] in a's dtype, summed in numpy's pairwise order (``pairwise_sum`` in numpy's loops)."""
    if n < 8:
        res = a.dtype.type(0.0)
        for i in range(n):
            res += a[i0 + i]
        return res
    if n <= 128:
        r0 = a[i0]
        r1 = a[i0 + 1]
        r2 = a[i0 + 2]
        r3 = a[i0 + 3]
        r4 = a[i0 + 4]
        r5 = a[i0 + 5]
        r6 = a[i0 + 6]
        r7 = a[i0 + 7]
        m = n - n % 8
        for i in range(8, m, 8):
            r0 += a[i0 + i]
            r1 += a[i0 + i + 1]
            r2 += a[i0 + i + 2]
            r3 += a[i0 + i + 3]
            r4 += a[i0 + i + 4]
            r5 += a[i0 + i + 5]
            r6 += a[i0 + i + 6]
            r7 += a[i0 + i + 7]
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        for i in range(m, n):
            res += a[i0 + i]
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return pairwise_sum(a, i0, n2) + pairwise_sum(a, i0 + n2, n - n2)


@serial
def numpy_sum(a, i0, n):
    """``a[i0 : i0 + n].sum()`` as numpy computes it for a contiguous array: the first
    element plus the pairwise sum of the rest (n >= 1)."""
    return a[i0] + pairwise_sum(a, i0 + 1, n - 1)


@serial
def kmeans_plusplus(X, sw, draws, n_trials, out_idx, closest, cand_dist, cumw, xx):
    """sklearn's ``_kmeans_plusplus`` on the rows of X (n, d) with weights ``sw`` (X's dtype).

    ``draws`` are the ``random_sample`` numbers it consumes (1 + (K - 1) ·
    n_trials); ``out_idx`` (K,) receives the chosen rows.  The rest is scratch:
    closest (n,), cand_dist (n_trials, n) in X's dtype, cumw (n,) float64 and
    xx (n,) float64 (squared norms).
    """
    n, d = X.shape
    K = out_idx.shape[0]
    # choice(n, p=sw / sw.sum()): p in X's dtype, converted to float64, cumsum, / last, searched right.
    total = numpy_sum(sw, 0, n)
    acc = 0.0
    for i in range(n):
        acc += np.float64(sw[i] / total)
        cumw[i] = acc
    last = cumw[n - 1]
    u = draws[0]
    first = n - 1
    for i in range(n):
        if cumw[i] / last > u:
            first = i
            break
    out_idx[0] = first
    for i in range(n):
        s = 0.0
        for j in range(d):
            v = np.float64(X[i, j])
            s += v * v
        xx[i] = s
    _distances_to(X, first, xx, closest)
    pot = X.dtype.type(0.0)
    for i in range(n):
        pot += closest[i] * sw[i]
    for c in range(1, K):
        # cumsum(sw * closest) in X's dtype
        run = X.dtype.type(0.0)
        for i in range(n):
            run += sw[i] * closest[i]
            cumw[i] = run
        best_pot = np.inf
        best_id = 0
        for t in range(n_trials):
            target = draws[1 + (c - 1) * n_trials + t] * np.float64(pot)
            # searchsorted side='left': first index with cumw >= target, clipped to n - 1
            cid = n - 1
            lo = 0
            hi = n
            while lo < hi:
                mid = (lo + hi) // 2
                if cumw[mid] < target:
                    lo = mid + 1
                else:
                    hi = mid
            if lo < n:
                cid = lo
            _distances_to(X, cid, xx, cand_dist[t])
            p = X.dtype.type(0.0)
            for i in range(n):
                if closest[i] < cand_dist[t, i]:
                    cand_dist[t, i] = closest[i]
                p += cand_dist[t, i] * sw[i]
            if p < best_pot:
                best_pot = p
                best_id = t
                out_idx[c] = cid
        pot = X.dtype.type(best_pot)
        for i in range(n):
            closest[i] = cand_dist[best_id, i]


@serial
def _distances_to(X, c, xx, out):
    """out[i] = max(0, -2 x_i·x_c + ‖x_c‖² + ‖x_i‖²) in float64, rounded to out's dtype
    (scikit-learn's ``_euclidean_distances``; float32 data go through its float64 upcast)."""
    n, d = X.shape
    cc = 0.0
    for j in range(d):
        v = np.float64(X[c, j])
        cc += v * v
    for i in range(n):
        dot = 0.0
        for j in range(d):
            dot += np.float64(X[i, j]) * np.float64(X[c, j])
        v = -2.0 * dot + cc + xx[i]
        out[i] = out.dtype.type(v if v > 0.0 else 0.0)


@serial
def lloyd(X, sw, centers, labels, tol, max_iter, new, weight, shift, old_labels):
    """sklearn's ``_kmeans_single_lloyd`` (dense, one chunk); returns a status code.

    X (n, d) centred data, centers (K, d) initial centres (both X's dtype),
    labels (n,) int64 out; new (K, d), weight (K,), shift (K,) and
    old_labels (n,) scratch.
    """
    n, d = X.shape
    K = centers.shape[0]
    zero = X.dtype.type(0.0)
    two = X.dtype.type(2.0)
    for i in range(n):
        old_labels[i] = -1
    strict = False
    for it in range(max_iter):
        _assign(X, centers, labels, two)
        new[:] = zero
        weight[:] = zero
        for i in range(n):
            k = labels[i]
            weight[k] += sw[i]
            for j in range(d):
                new[k, j] += X[i, j] * sw[i]
        for k in range(K):
            if weight[k] == 0:
                return KMEANS_EMPTY_CLUSTER
        for k in range(K):
            alpha = X.dtype.type(1.0) / weight[k]
            for j in range(d):
                new[k, j] *= alpha
        for k in range(K):
            r = zero
            q = d // 4
            for b in range(q):
                j = 4 * b
                a0 = new[k, j] - centers[k, j]
                a1 = new[k, j + 1] - centers[k, j + 1]
                a2 = new[k, j + 2] - centers[k, j + 2]
                a3 = new[k, j + 3] - centers[k, j + 3]
                r += a0 * a0 + a1 * a1 + a2 * a2 + a3 * a3
            for j in range(4 * q, d):
                a = new[k, j] - centers[k, j]
                r += a * a
            s = np.sqrt(r)
            shift[k] = s * s
        for k in range(K):
            for j in range(d):
                centers[k, j] = new[k, j]
        same = True
        for i in range(n):
            if labels[i] != old_labels[i]:
                same = False
                break
        if same:
            strict = True
            break
        if numpy_sum(shift, 0, K) <= tol:
            break
        for i in range(n):
            old_labels[i] = labels[i]
    if not strict:
        _assign(X, centers, labels, two)
    return KMEANS_OK


@serial
def _assign(X, centers, labels, two):
    n, d = X.shape
    K = centers.shape[0]
    norms = np.empty(K, X.dtype)
    for k in range(K):
        s = X.dtype.type(0.0)
        for j in range(d):
            s += centers[k, j] * centers[k, j]
        norms[k] = s
    for i in range(n):
        best = 0
        best_d = X.dtype.type(0.0)
        for k in range(K):
            dot = X.dtype.type(0.0)
            for j in range(d):
                dot += X[i, j] * centers[k, j]
            dist = norms[k] - two * dot
            if k == 0 or dist < best_d:
                best_d = dist
                best = k
        labels[i] = best


@blockwise
def kmeans_groups(b0, b1, X, sw, starts, draws, n_trials, lloyd_iter, rel_tol, labels_out, seeds_out,
                  status_out):
    """k-means++ seeds, or KMeans labels, of each group of rows; groups b0 <= g < b1.

    Parameters
    ----------
    X : (N, d) float32/float64, rows sorted by group; group g is rows
        starts[g] .. starts[g + 1].
    sw : (N,) sample weights in X's dtype.
    starts : (G + 1,) int64.
    draws : (G, 1 + (K - 1) * n_trials) float64 ``random_sample`` draws per group.
    lloyd_iter : 0: k-means++ on the raw rows only (sklearn's ``kmeans_plusplus``);
        > 0: ``KMeans.fit`` with that ``max_iter`` (seeding on the centred rows).
    rel_tol : KMeans' ``tol`` (scaled by the mean column variance per group).
    labels_out : (N,) int64 out (KMeans labels), or empty.
    seeds_out : (G, K) int64 out: seed rows within each group.
    status_out : (G,) int64 out: KMEANS_* codes.
    """
    d = X.shape[1]
    K = seeds_out.shape[1]
    for g in range(b0, b1):
        s = starts[g]
        n = starts[g + 1] - s
        Xg = X[s:s + n]
        swg = sw[s:s + n]
        closest = np.empty(n, X.dtype)
        cand = np.empty((n_trials, n), X.dtype)
        cumw = np.empty(n)
        xx = np.empty(n)
        if lloyd_iter == 0:
            kmeans_plusplus(Xg, swg, draws[g], n_trials, seeds_out[g], closest, cand, cumw, xx)
            status_out[g] = KMEANS_OK
            continue
        # KMeans.fit: tolerance from the column variances, then X -= X.mean(axis=0) (in X's dtype)
        mean = np.zeros(d, X.dtype)
        for i in range(n):
            for j in range(d):
                mean[j] += Xg[i, j]
        for j in range(d):
            mean[j] = mean[j] / X.dtype.type(n)
        var = np.zeros(d, X.dtype)
        for i in range(n):
            for j in range(d):
                v = Xg[i, j] - mean[j]
                var[j] += v * v
        for j in range(d):
            var[j] = var[j] / X.dtype.type(n)
        # np.mean(variances) * tol: in X's dtype (a Python float is weak, NEP 50)
        tol = numpy_sum(var, 0, d) / X.dtype.type(d) * X.dtype.type(rel_tol)
        Xc = np.empty((n, d), X.dtype)
        for i in range(n):
            for j in range(d):
                Xc[i, j] = Xg[i, j] - mean[j]
        kmeans_plusplus(Xc, swg, draws[g], n_trials, seeds_out[g], closest, cand, cumw, xx)
        centers = np.empty((K, d), X.dtype)
        for k in range(K):
            for j in range(d):
                centers[k, j] = Xc[seeds_out[g, k], j]
        lab = labels_out[s:s + n]
        status = lloyd(Xc, swg, centers, lab, tol, lloyd_iter, np.empty((K, d), X.dtype), np.empty(K, X.dtype),
                       np.empty(K, X.dtype), np.empty(n, np.int64))
        if status == KMEANS_OK:
            seen = np.zeros(K, np.bool_)
            distinct = 0
            for i in range(n):
                if not seen[lab[i]]:
                    seen[lab[i]] = True
                    distinct += 1
            if distinct < K:
                status = KMEANS_FEW_DISTINCT
        status_out[g] = status
