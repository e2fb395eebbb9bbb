"""Fit a Gaussian mixture on a dask array larger than any one worker's memory limit.

The data (two well-separated clusters in 8 dimensions) are generated lazily, block
by block, on the workers: each EM iteration re-reads every block, turns it into
sufficient statistics on the worker and sends back only those (a few KB), so no
worker ever holds more than a couple of blocks.  Run:

    python examples/dask_fit.py             # 12 million rows, 768 MB, workers limited to 600 MiB
    python examples/dask_fit.py 200000      # a quick run
"""
import sys
import time

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

from fastprob import GaussianMixture


def make_data(n_rows, n_features=8, block_rows=250_000, seed=0):
    rs = da.random.RandomState(seed)
    noise = rs.standard_normal((n_rows, n_features), chunks=(block_rows, n_features))
    second = rs.random_sample((n_rows, 1), chunks=(block_rows, 1)) < 0.3  # 30 % in the second cluster
    return noise + 6.0 * second


def main(n_rows=12_000_000):
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="600MiB", dashboard_address=None) as cluster, \
            Client(cluster):
        X = make_data(n_rows)
        print(f"X: {X.shape}, {X.nbytes / 2**20:.0f} MiB in {X.numblocks[0]} blocks; "
              "2 workers limited to 600 MiB each")
        t = time.perf_counter()
        gm = GaussianMixture(n_components=2, random_state=0, tol=1e-6).fit(X)
        print(f"fit: {gm.n_iter_} EM iterations in {time.perf_counter() - t:.1f} s, converged={gm.converged_}")
        order = np.argsort(gm.weights_)
        print("weights:", np.round(gm.weights_[order], 4))
        print("means (first 3 features):", np.round(gm.means_[order, :3], 3).tolist())
        labels = gm.predict(X)  # lazy, like X
        print("rows in the smaller component:", int((labels == order[0]).sum().compute()))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 12_000_000)
