"""Compiled-map benchmark: pairs whose maps have no closed form against a closed-form pair.

Depth-2 NNGP + SG-NTK of N = 4000 points on the unit circle and of N = 1000 Gaussian points in
R^10 (unequal norms), for sign with surrogates whose mixed map ``sg`` is a tabulated reduced
integral (snntorch.fast_sigmoid, norse.super, snntorch.sigmoid), timed against sign + gaussian
(all closed) in the same run: seconds (best of ``--repeat`` after a warm-up that also compiles
the tables or loads them from the cache), the ratio to the reference, and each map's status with
its measured error bound.

    python benchmarks/bench_compiled.py [--n-circle 4000] [--n-gauss 1000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from kernelalg.numeric.kernels import Kernel, circle

REFERENCE = ("sign", "gaussian")
PAIRS = (("sign", "snntorch.fast_sigmoid"), ("sign", "norse.super"), ("sign", "snntorch.sigmoid"))


def best_time(fn, repeat: int) -> tuple[float, float]:
    """(best of ``repeat`` runs, seconds of the warm-up run)."""
    t0 = time.perf_counter()
    fn()
    warm = time.perf_counter() - t0
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-circle", type=int, default=4000)
    parser.add_argument("--n-gauss", type=int, default=1000)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    inputs = {"circle": circle(args.n_circle), "gauss10": np.random.default_rng(0).standard_normal((args.n_gauss, 10))}
    rows = []
    for phi, psi in (REFERENCE, *PAIRS):
        kernel = Kernel(phi, psi, depth=args.depth)
        row = {"pair": f"{phi} + {psi}",
               "status": {name: kernel.maps.status(name) for name in ("nngp", "sg")}}
        for label, X in inputs.items():
            run = lambda kernel=kernel, X=X: kernel(X, outputs=("nngp", "sgntk"))
            row[label], row[f"{label}_first_call"] = best_time(run, args.repeat)
        rows.append(row)
    for row in rows:
        for label in inputs:
            row[f"{label}_ratio"] = row[label] / rows[0][label]
    load = os.getloadavg()[0]
    if args.json:
        print(json.dumps({"load": load, "depth": args.depth, "rows": rows}, indent=2))
        return
    print(f"depth {args.depth}, NNGP + SG-NTK, best of {args.repeat}; load average {load:.2f}; "
          f"ratios to {REFERENCE[0]} + {REFERENCE[1]} measured in this run")
    print(f"{'pair':28s} {'circle ' + str(args.n_circle) + ' s':>14s} {'ratio':>6s} "
          f"{'gauss10 ' + str(args.n_gauss) + ' s':>15s} {'ratio':>6s}  sg status")
    for r in rows:
        print(f"{r['pair']:28s} {r['circle']:14.3f} {r['circle_ratio']:6.2f} {r['gauss10']:15.3f} "
              f"{r['gauss10_ratio']:6.2f}  {r['status']['sg']}")


if __name__ == "__main__":
    main()
