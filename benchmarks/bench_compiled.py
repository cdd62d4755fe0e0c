"""Compiled-map benchmark: pairs whose maps have no closed form against a closed-form pair.

Depth-2 NNGP + SG-NTK of N = 4000 points on the unit circle and of N = 1000 Gaussian points in
R^10 (unequal norms), timed in the same run (seconds: best of ``--repeat`` after a warm-up that
also compiles tables or loads them from the cache; the calls of a group's pairs taken in turn,
so that a slow spell of the shared machine does not fall on one pair alone), each with its
ratio to a closed-form reference and each map's status with its measured error bound.  The
Hermite series keep their coefficients per variance and their tables in theta per variance
pair for the next calls, which the repeated calls on the same points reuse; the "new data"
columns time each call with those kept per data forgotten first (what a call on points of new
norms costs):

* sign with surrogates whose mixed map ``sg`` is a tabulated reduced integral
  (snntorch.fast_sigmoid, norse.super, snntorch.sigmoid), against sign + gaussian (all closed);
* smooth activations with snntorch.fast_sigmoid against erf (all closed): tanh, whose maps are
  nested means summed as Hermite series; softplus and SiLU, whose NNGP is one and whose ``sg``
  is E[psi]/2 by parity (tabulated); erf(m=3), whose ``sg`` the Gaussian tilt reduces to a mean
  of one variable (tabulated).

Where neural-tangents' venv exists (``~/.cache/kernelalg-peers/ntenv``, or ``--nt-python``), the
same depth-2 tanh network on the N = 1000 Gaussian points is also timed with its
``ElementwiseNumerical(tanh)`` (a degree-25 Gauss-Hermite product rule, no error estimate), beside
kernelalg's tanh and erf on the same points, and its error is measured against kernelalg's tanh
kernel (bound in its status), relative to the Cauchy-Schwarz scale sqrt(K(x, x) K(x', x')).

The C heap is tuned as the command line does (``kernelalg.tune_allocator()``) unless
``--default-allocator`` is given: without it, each call's fresh temporaries are pages the kernel
must map and zero again (the coefficients of a Hermite series take about three times longer).

    python benchmarks/bench_compiled.py [--n-circle 4000] [--n-gauss 1000] [--repeat 3] [--default-allocator] [--json]
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

from kernelalg import tune_allocator
from kernelalg.numeric.kernels import Kernel, circle

GROUPS = (  # (reference pair, pairs timed against it)
    (("sign", "gaussian"), (("sign", "snntorch.fast_sigmoid"), ("sign", "norse.super"), ("sign", "snntorch.sigmoid"))),
    (("erf", None), (("tanh", "snntorch.fast_sigmoid"), ("log(1 + exp(x))", "snntorch.fast_sigmoid"),
                     ("x/(1 + exp(-x))", "snntorch.fast_sigmoid"), ("erf(m=3)", "snntorch.fast_sigmoid"))),
)


def first_call(fn) -> float:
    """Seconds of one call of ``fn`` (the warm-up)."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(calls, repeat: int, before=None) -> list[float]:
    """Best of ``repeat`` runs of each of ``calls``, taken in turn (one run of each, ``repeat``
    times), so that a slow spell of the machine falls on all of them alike and not on the one
    being timed then; ``before[k]()`` runs, untimed, before each run of call k."""
    best = [float("inf")] * len(calls)
    for _ in range(repeat):
        for k, fn in enumerate(calls):
            if before is not None:
                before[k]()
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def forget_data(kernel: Kernel) -> None:
    """Drop what the kernel's generated module keeps per variance (Hermite coefficients, means on the edge, tables in theta)."""
    for name in ("_H_COEFFICIENTS", "_H_TABLES", "_H_EDGES"):
        getattr(kernel.maps.module, name, {}).clear()


def scaled_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / sqrt(want(x, x) want(x', x'))."""
    d = np.sqrt(np.diag(want))
    return float(np.max(np.abs(got - want) / np.outer(d, d)))


def tanh_against_neural_tangents(python: Path, X: np.ndarray, depth: int, repeat: int) -> dict:
    """neural-tangents' ElementwiseNumerical(tanh) on X (NNGP + NTK, float64) beside kernelalg's
    tanh (psi = phi') and erf on X, and its error against kernelalg's tanh."""
    erf, tanh = Kernel("erf", depth=depth), Kernel("tanh", depth=depth)
    runs = [lambda kernel=kernel: kernel(X, outputs=("nngp", "sgntk")) for kernel in (erf, tanh)]
    for run in runs:
        first_call(run)
    t_erf, t_tanh = interleaved(runs, repeat)
    with tempfile.TemporaryDirectory() as tmp:
        out, points = Path(tmp) / "nt.npz", Path(tmp) / "points.npy"
        np.save(points, X)
        nt = neural_tangents(python, "tanh", len(X), depth, repeat, True, str(out), str(points))
        theirs = np.load(out)
    ours = tanh(X, outputs=("nngp", "sgntk"))
    return {"n": len(X), "erf_seconds": t_erf, "tanh_seconds": t_tanh, "tanh_ratio_to_erf": t_tanh / t_erf,
            "nt_tanh_seconds": nt["seconds"], "nt_tanh_ratio_to_erf": nt["seconds"] / t_erf,
            "tanh_status": tanh.maps.status("nngp"),
            "nt_error_nngp": scaled_error(theirs["nngp"], ours.nngp), "nt_error_ntk": scaled_error(theirs["ntk"], ours.sgntk)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-circle", type=int, default=4000)
    parser.add_argument("--n-gauss", type=int, default=1000)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--nt-python", type=Path, default=NT_PYTHON)
    parser.add_argument("--default-allocator", action="store_true", help="do not tune the C heap")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tuned = not args.default_allocator and tune_allocator()
    inputs = {"circle": circle(args.n_circle), "gauss10": np.random.default_rng(0).standard_normal((args.n_gauss, 10))}
    rows = []
    for reference, pairs in GROUPS:
        kernels = [Kernel(phi, psi, depth=args.depth) for phi, psi in (reference, *pairs)]
        group = [{"pair": f"{k.phi} + {k.psi or k.phi + chr(39)}", "status": {name: k.maps.status(name) for name in ("nngp", "sg")}}
                 for k in kernels]
        for row in group:
            row["reference"] = group[0]["pair"] if row is not group[0] else None
        for label, X in inputs.items():
            runs = [lambda kernel=kernel, X=X: kernel(X, outputs=("nngp", "sgntk")) for kernel in kernels]
            for row, run in zip(group, runs):
                row[f"{label}_first_call"] = first_call(run)
            kept = interleaved(runs, args.repeat)
            new = interleaved(runs, args.repeat, [lambda kernel=kernel: forget_data(kernel) for kernel in kernels])
            for row, seconds, new_seconds in zip(group, kept, new):
                row[label], row[f"{label}_new_data"] = seconds, new_seconds
                row[f"{label}_ratio"], row[f"{label}_new_data_ratio"] = seconds / kept[0], new_seconds / kept[0]
        rows += group
    tanh = None
    if args.nt_python.exists():
        tanh = tanh_against_neural_tangents(args.nt_python, inputs["gauss10"], args.depth, args.repeat)
    load = os.getloadavg()[0]
    if args.json:
        print(json.dumps({"load": load, "depth": args.depth, "allocator_tuned": tuned, "rows": rows,
                          "tanh_neural_tangents": tanh}, indent=2))
        return
    print(f"depth {args.depth}, NNGP + SG-NTK, best of {args.repeat}; load average {load:.2f}; C heap "
          f"{'tuned' if tuned else 'default'}; ratios to the group's first (closed-form) pair measured in this run")
    print(f"{'pair':40s} {'circle ' + str(args.n_circle) + ' s':>14s} {'ratio':>6s} {'new data':>8s} {'ratio':>6s} "
          f"{'gauss10 ' + str(args.n_gauss) + ' s':>15s} {'ratio':>6s} {'new data':>8s} {'ratio':>6s}  status (nngp; sg)")
    for r in rows:
        print(f"{r['pair']:40s} {r['circle']:14.3f} {r['circle_ratio']:6.2f} {r['circle_new_data']:8.3f} "
              f"{r['circle_new_data_ratio']:6.2f} {r['gauss10']:15.3f} {r['gauss10_ratio']:6.2f} "
              f"{r['gauss10_new_data']:8.3f} {r['gauss10_new_data_ratio']:6.2f}  {r['status']['nngp']}; {r['status']['sg']}")
    if tanh is None:
        print(f"neural-tangents venv not found at {args.nt_python}: its tanh column is skipped")
        return
    print(f"\ntanh, Gaussian R^10, N = {tanh['n']}: kernelalg {tanh['tanh_seconds']:.3f} s = "
          f"{tanh['tanh_ratio_to_erf']:.1f}x its erf ({tanh['erf_seconds']:.3f} s); neural-tangents "
          f"ElementwiseNumerical(tanh, deg=25) {tanh['nt_tanh_seconds']:.3f} s = {tanh['nt_tanh_ratio_to_erf']:.1f}x; "
          f"its error: NNGP {tanh['nt_error_nngp']:.1e}, NTK {tanh['nt_error_ntk']:.1e} "
          f"(relative to sqrt(K(x,x) K(x',x')); kernelalg's tanh: {tanh['tanh_status']})")


if __name__ == "__main__":
    main()
