"""Kernel benchmark: SG-NTK and NNGP of N points on the circle, 2 hidden layers.

Compares kernelalg's generated, blocked, threaded recursion with a straightforward NumPy
evaluation of the same recursion (textbook formulas written out, unfused expressions, full
N x N temporaries, no blocking), measured in the same run.  Prints seconds (best of
``--repeat`` after a warm-up), the ratio to the reference, peak traced memory relative to the
outputs' size, and the largest relative difference between the two (for sign it sits at
antipodal points, where the reference's arcsine of a correlation rounded to -1 + 1e-16 loses
half of the digits over two layers; kernelalg's value there is the exact -1).

The C heap is tuned for the recursion (``kernelalg.tune_allocator()``, as the command line
does) unless ``--default-allocator`` is given: run both to see what the tuning is worth.

    python benchmarks/bench_kernels.py [--n 4000] [--repeat 3] [--default-allocator] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc

import numpy as np

from kernelalg import tune_allocator
from kernelalg.numeric.kernels import Kernel, circle


def reference_erf(X: np.ndarray, depth: int):
    """phi = erf, psi = phi': arcsine kernel and its derivative, full matrices."""
    S = X @ X.T / X.shape[1]
    I = S.copy()
    for _ in range(depth):
        a = np.diag(S).copy()
        A, B = a[:, None], a[None, :]
        S_new = 2 / np.pi * np.arcsin(2 * S / np.sqrt((1 + 2 * A) * (1 + 2 * B)))
        D = 4 / np.pi / np.sqrt((1 + 2 * A) * (1 + 2 * B) - 4 * S**2)
        I = S_new + D * I
        S = S_new
    return S, I


def reference_sign_gaussian(X: np.ndarray, depth: int, sigma: float = 1.0):
    """phi = sign, psi = N(0, sigma^2) density: arcsine NNGP, conditioned-delta SG map."""
    S = X @ X.T / X.shape[1]
    I = S.copy()
    for _ in range(depth):
        a = np.diag(S).copy()
        A, B = a[:, None], a[None, :]
        S_new = 2 / np.pi * np.arcsin(np.clip(S / np.sqrt(A * B), -1, 1))
        D = 1 / (np.pi * np.sqrt(A * B + A * sigma**2 - S**2))
        I = S_new + D * I
        S = S_new
    return S, I


CASES = {"erf": (("erf", None), reference_erf), "sign+gaussian": (("sign", "gaussian"), reference_sign_gaussian)}


def best_time(fn, repeat: int) -> tuple[float, object]:
    fn()  # warm-up: derivation/codegen cached, memory pages touched
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def peak_memory(fn) -> int:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--default-allocator", action="store_true", help="do not tune the C heap")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tuned = not args.default_allocator and tune_allocator()
    X = circle(args.n)
    rows = []
    for name, ((phi, psi), reference) in CASES.items():
        kernel = Kernel(phi, psi, depth=args.depth)
        ours = lambda: kernel(X, outputs=("nngp", "sgntk"))  # noqa: B023 (called in this iteration)
        t_ours, result = best_time(ours, args.repeat)
        t_ref, (S, I) = best_time(lambda: reference(X, args.depth), args.repeat)  # noqa: B023
        out_bytes = 2 * args.n**2 * 8
        rows.append({
            "case": name, "n": args.n, "allocator_tuned": tuned, "seconds": t_ours, "reference_seconds": t_ref,
            "ratio": t_ours / t_ref, "peak_memory_ratio": peak_memory(ours) / out_bytes,
            "reference_peak_memory_ratio": peak_memory(lambda: reference(X, args.depth)) / out_bytes,  # noqa: B023
            "max_rel_diff_nngp": float(np.max(np.abs(result.nngp - S) / np.abs(S).max())),
            "max_rel_diff_sgntk": float(np.max(np.abs(result.sgntk - I) / np.abs(I).max())),
        })
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"N = {args.n} points on the circle, {args.depth} hidden layers, NNGP + SG-NTK (best of {args.repeat}; "
          f"C heap {'tuned' if tuned else 'default'})")
    print(f"{'case':15s} {'kernelalg s':>11s} {'reference s':>11s} {'ratio':>6s} {'peak/out':>8s} {'ref peak/out':>12s} {'max rel diff':>12s}")
    for r in rows:
        print(f"{r['case']:15s} {r['seconds']:11.3f} {r['reference_seconds']:11.3f} {r['ratio']:6.2f} "
              f"{r['peak_memory_ratio']:8.2f} {r['reference_peak_memory_ratio']:12.2f} "
              f"{max(r['max_rel_diff_nngp'], r['max_rel_diff_sgntk']):12.1e}")


if __name__ == "__main__":
    main()
