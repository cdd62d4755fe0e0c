"""Compiled-map benchmark: pairs whose maps have no closed form against a closed-form pair.

Depth-2 NNGP + SG-NTK of N = 4000 points on the unit circle and of N = 1000 Gaussian points in
R^10 (unequal norms), for sign with surrogates whose mixed map ``sg`` is a tabulated reduced
integral (snntorch.fast_sigmoid, norse.super, snntorch.sigmoid), timed against sign + gaussian
(all closed) in the same run: seconds (best of ``--repeat`` after a warm-up that also compiles
the tables or loads them from the cache), the ratio to the reference, and each map's status with
its measured error bound.

Where neural-tangents' venv exists (``~/.cache/kernelalg-peers/ntenv``, or ``--nt-python``), the
same depth-2 tanh network on the N = 1000 Gaussian points is also timed with its
``ElementwiseNumerical(tanh)`` (a degree-25 Gauss-Hermite product rule, no error estimate), beside
kernelalg's erf on the same points, and its error is measured against kernelalg's tanh kernel
(graded rule, bound in its status) on the first ``--sample`` points, relative to the Cauchy-Schwarz
scale sqrt(K(x, x) K(x', x')).  kernelalg's tanh itself is timed on those points only.

    python benchmarks/bench_compiled.py [--n-circle 4000] [--n-gauss 1000] [--repeat 3] [--sample 8] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_kernels import NT_PYTHON, neural_tangents

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


def scaled_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / sqrt(want(x, x) want(x', x'))."""
    d = np.sqrt(np.diag(want))
    return float(np.max(np.abs(got - want) / np.outer(d, d)))


def tanh_against_neural_tangents(python: Path, X: np.ndarray, depth: int, repeat: int, sample: int) -> dict:
    """neural-tangents' ElementwiseNumerical(tanh) on X (NNGP + NTK, float64) beside kernelalg's
    erf on X, and both tanh kernels on the first ``sample`` points."""
    erf = Kernel("erf", depth=depth)
    t_erf, _ = best_time(lambda: erf(X, outputs=("nngp", "sgntk")), repeat)
    with tempfile.TemporaryDirectory() as folder:
        points, out = os.path.join(folder, "x.npy"), os.path.join(folder, "nt.npz")
        np.save(points, X)
        nt = neural_tangents(python, "tanh", len(X), depth, repeat, True, out, points)
        nt_kernels = np.load(out)
    tanh = Kernel("tanh", depth=depth)
    t0 = time.perf_counter()
    ours = tanh(X[:sample], outputs=("nngp", "sgntk"))
    t_tanh = time.perf_counter() - t0
    return {"n": len(X), "erf_seconds": t_erf, "nt_tanh_seconds": nt["seconds"], "nt_tanh_ratio_to_erf": nt["seconds"] / t_erf,
            "sample": sample, "tanh_sample_seconds": t_tanh, "tanh_status": tanh.maps.status("nngp"),
            "nt_error_nngp": scaled_error(nt_kernels["nngp"][:sample, :sample], ours.nngp),
            "nt_error_ntk": scaled_error(nt_kernels["ntk"][:sample, :sample], ours.sgntk)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-circle", type=int, default=4000)
    parser.add_argument("--n-gauss", type=int, default=1000)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=8, help="points for the tanh error (graded rule: slow)")
    parser.add_argument("--nt-python", type=Path, default=NT_PYTHON)
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
    tanh = None
    if args.nt_python.exists():
        tanh = tanh_against_neural_tangents(args.nt_python, inputs["gauss10"], args.depth, args.repeat, args.sample)
    load = os.getloadavg()[0]
    if args.json:
        print(json.dumps({"load": load, "depth": args.depth, "rows": rows, "tanh_neural_tangents": tanh}, indent=2))
        return
    print(f"depth {args.depth}, NNGP + SG-NTK, best of {args.repeat}; load average {load:.2f}; "
          f"ratios to {REFERENCE[0]} + {REFERENCE[1]} measured in this run")
    print(f"{'pair':28s} {'circle ' + str(args.n_circle) + ' s':>14s} {'ratio':>6s} "
          f"{'gauss10 ' + str(args.n_gauss) + ' s':>15s} {'ratio':>6s}  sg status")
    for r in rows:
        print(f"{r['pair']:28s} {r['circle']:14.3f} {r['circle_ratio']:6.2f} {r['gauss10']:15.3f} "
              f"{r['gauss10_ratio']:6.2f}  {r['status']['sg']}")
    if tanh is None:
        print(f"neural-tangents venv not found at {args.nt_python}: its tanh column is skipped")
        return
    print(f"\ntanh, Gaussian R^10, N = {tanh['n']}: neural-tangents ElementwiseNumerical(tanh, deg=25) "
          f"{tanh['nt_tanh_seconds']:.3f} s = {tanh['nt_tanh_ratio_to_erf']:.1f}x kernelalg's erf "
          f"({tanh['erf_seconds']:.3f} s); its error on the first {tanh['sample']} points: "
          f"NNGP {tanh['nt_error_nngp']:.1e}, NTK {tanh['nt_error_ntk']:.1e} (relative to sqrt(K(x,x) K(x',x')))")
    print(f"kernelalg tanh on those {tanh['sample']} points: {tanh['tanh_sample_seconds']:.1f} s ({tanh['tanh_status']})")


if __name__ == "__main__":
    main()
