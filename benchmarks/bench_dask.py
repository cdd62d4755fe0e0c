"""Out-of-core SG-NTK on Dask: N points on the circle, 2 hidden layers, sign with a Gaussian
surrogate, computed in row bands and streamed to a sink, with peak resident memory measured.

    python benchmarks/bench_dask.py [--n 100000] [--rows 40] [--store none|npy|zarr] [--path P] [--force]

``--store none`` reduces every band on the fly (its row sums are kept) so that N =
100,000 (80 GB of float64 output) runs on a machine with less disk than that; ``npy``/``zarr``
write the full matrix to ``--path``.  Prints seconds, elements per second and the peak resident
set size of the process (ru_maxrss), which stays at a few blocks whatever N is.
"""

from __future__ import annotations

import argparse
import json
import resource
import time


from kernelalg import tune_allocator
from kernelalg.adapters.dask import gram, to_disk
from kernelalg.numeric.kernels import Kernel, circle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=40, help="rows per band")
    parser.add_argument("--store", choices=("none", "npy", "zarr"), default="none")
    parser.add_argument("--path", default="sgntk.npy")
    parser.add_argument("--force", action="store_true", help="replace --path if it exists")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tune_allocator()  # as the command line does (kernelalg.numeric.allocator)
    kernel = Kernel("sign", "gaussian", depth=2, sigma_w=1.0, sigma_b=0.1)
    X = circle(args.n)
    kernel(X[:10])  # derive/generate/load outside the timing
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    array = gram(kernel, X, output="sgntk", rows=args.rows)
    start = time.perf_counter()
    if args.store == "none":
        # one band-local reduction: each band is freed as soon as it is summed (computing a second
        # output of the same array, e.g. its diagonal, would keep every band until both are done)
        sums = array.sum(axis=1).compute(scheduler="threads", num_workers=2)
        check = {"row_sum_0": float(sums[0]), "row_sum_mean": float(sums.mean())}
    else:
        to_disk(array, args.path, overwrite=args.force)
        check = {"path": args.path}
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"n": args.n, "rows_per_band": args.rows, "store": args.store, "seconds": seconds,
           "elements_per_second": args.n**2 / seconds, "peak_rss_mib": peak, "rss_before_mib": rss_before,
           "output_gib": args.n**2 * 8 / 2**30, "band_mib": args.rows * args.n * 8 / 2**20, **check}
    print(json.dumps(out) if args.json else "\n".join(f"{k:22s} {v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
