"""Model selection in shared passes against the same fits one after another (issue 21's speed table).

``fastprob.select_mixture`` over K = 1..8, full covariances, n_init = 2, on
W2-like data (N = 1e6, d = 16: a 16-component mixture), against a loop of
``fastprob.GaussianMixture(...).fit`` for the same candidates -- in memory,
from a memmap, and from a chunk function (which also counts the passes over
the data).  Rounds alternate the two ways; the ratio is the median of the
per-round ratios.  The fitted candidates are checked to be identical.

    python benchmarks/bench_select.py [--n 1000000] [--d 16] [--rounds 3] [--sources memory,memmap,chunks]
                                      [--bandwidth MB/s]

``--bandwidth`` makes the chunk source deliver at most that many MB/s (it
sleeps for each chunk as long as reading it at that rate would take): a
disk or network the data are streamed from, where the page cache of this
machine serves them from memory.
"""
import argparse
import os
import platform
import statistics
import tempfile
import time
import warnings

import numpy as np

import fastprob
from fastprob._bench.registry import mixture_inputs


def sequential(data, ks, n_init):
    models = []
    for k in ks:
        models.append(fastprob.GaussianMixture(k, n_init=n_init, random_state=0).fit(data))
    return models


def shared(data, ks, n_init):
    best, table = fastprob.select_mixture(data, n_components=ks, covariance_type="full", n_init=n_init,
                                          random_state=0)
    return best, table


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kmax", type=int, default=8)
    ap.add_argument("--n-init", type=int, default=2)
    ap.add_argument("--sources", default="memory,memmap,chunks")
    ap.add_argument("--d", type=int, default=16)
    ap.add_argument("--bandwidth", type=float, default=0.0, help="MB/s of the chunk source (0: unlimited)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    X = mixture_inputs(args.d, 16)(args.n, np.float64, np.random.default_rng(0))[0]
    ks = list(range(1, args.kmax + 1))
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
          f"{fastprob.get_num_threads()} threads; N = {args.n}, d = {args.d}, K = 1..{args.kmax}, full, "
          f"n_init = {args.n_init}" + (f"; chunks at {args.bandwidth:g} MB/s" if args.bandwidth else ""))
    fastprob.GaussianMixture(2, max_iter=2).fit(X[:5000])  # compile outside the timings
    fastprob.select_mixture(X[:5000], n_components=[1, 2], covariance_type="full", max_iter=2)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "X.npy")
        np.save(path, X)
        passes = [0]

        def chunks():
            passes[0] += 1
            mm = np.load(path, mmap_mode="r")
            for r0 in range(0, len(mm), 100_000):
                chunk = np.array(mm[r0:r0 + 100_000])
                if args.bandwidth:
                    time.sleep(chunk.nbytes / (args.bandwidth * 1e6))
                yield chunk

        sources = {"memory": lambda: X, "memmap": lambda: np.load(path, mmap_mode="r"), "chunks": lambda: chunks}
        print(f"{'source':<8} {'sequential s':>12} {'shared s':>9} {'ratio':>6} {'passes seq':>10} "
              f"{'passes shared':>13} {'max n_iter':>10}")
        for name in args.sources.split(","):
            ratios, ts, tj = [], [], []
            for _ in range(args.rounds):
                passes[0] = 0
                t = time.perf_counter()
                models = sequential(sources[name](), ks, args.n_init)
                ts.append(time.perf_counter() - t)
                seq_passes = passes[0]
                passes[0] = 0
                t = time.perf_counter()
                best, table = shared(sources[name](), ks, args.n_init)
                tj.append(time.perf_counter() - t)
                ratios.append(tj[-1] / ts[-1])
            same = all(m.n_iter_ == r["n_iter"] for m, r in zip(models, table)) and \
                np.array_equal(models[int(np.argmin(table["bic"]))].means_, best.means_)
            print(f"{name:<8} {statistics.median(ts):12.2f} {statistics.median(tj):9.2f} "
                  f"{statistics.median(ratios):6.2f} {seq_passes if name == 'chunks' else '':>10} "
                  f"{passes[0] if name == 'chunks' else '':>13} {table['n_iter'].max():>10}"
                  f"{'' if same else '  (MISMATCH)'}", flush=True)


if __name__ == "__main__":
    main()
