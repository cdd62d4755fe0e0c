"""Kernel benchmark: SG-NTK and NNGP of N points on the circle, 2 hidden layers.

Compares kernelalg's generated, blocked, threaded recursion with (1) a straightforward NumPy
evaluation of the same recursion (textbook formulas written out, unfused expressions, full
N x N temporaries, no blocking) and (2) neural-tangents' analytic kernel of the same network
(stax.serial(Dense, act, Dense, act, Dense), W_std = sigma_w, b_std = sigma_b, NTK
parametrisation, NNGP + NTK, jit-compiled, float64 and float32), both measured in the same run.
neural-tangents runs in its own venv (``~/.cache/kernelalg-peers/ntenv``, or ``--nt-python``)
as a subprocess (benchmarks/nt_reference.py); without it that column is skipped.  For erf and
ReLU (psi = phi') the SG-NTK is the NTK and both outputs are compared with neural-tangents'
float64 values; for sign only the time is compared (its NTK vanishes there).

Prints seconds (best of ``--repeat`` after a warm-up), the ratios, peak traced memory relative
to the outputs' size, the largest relative differences, and the machine's load (``uptime``)
before and after.  For sign the NumPy reference loses half of the digits at antipodal points,
where its arcsine of a correlation rounded to -1 + 1e-16 is taken over two layers; kernelalg's
value there is the exact -1.

The C heap is tuned for the recursion (``kernelalg.tune_allocator()``, as the command line
does) unless ``--default-allocator`` is given: run both to see what the tuning is worth.

    python benchmarks/bench_kernels.py [--n 4000] [--repeat 3] [--default-allocator] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

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


def reference_relu(X: np.ndarray, depth: int):
    """phi = Max(x, 0), psi = phi': arc-cosine kernel of degree 1 and its derivative map."""
    S = X @ X.T / X.shape[1]
    I = S.copy()
    for _ in range(depth):
        a = np.diag(S).copy()
        root = np.sqrt(a[:, None] * a[None, :])
        theta = np.arccos(np.clip(S / root, -1, 1))
        S_new = root * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)
        I = S_new + (np.pi - theta) / (2 * np.pi) * I
        S = S_new
    return S, I


#: case: (kernelalg phi, psi), NumPy reference, neural-tangents activation
CASES = {"erf": (("erf", None), reference_erf, "erf"),
         "relu": (("relu", None), reference_relu, "relu"),
         "sign+gaussian": (("sign", "gaussian"), reference_sign_gaussian, "sign")}
NT_PYTHON = Path.home() / ".cache" / "kernelalg-peers" / "ntenv" / "bin" / "python"


def neural_tangents(python: Path, activation: str, n: int, depth: int, repeat: int, x64: bool,
                    out: str | None = None, points: str | None = None) -> dict:
    """Time neural-tangents' kernel in its own venv (benchmarks/nt_reference.py), on the points
    saved at ``points`` (.npy) or else on ``n`` points of the unit circle."""
    job = {"activation": activation, "n": n, "depth": depth, "sigma_w": 1.0, "sigma_b": 0.0,
           "repeat": repeat, "x64": x64, "out": out, "points": points}
    script = Path(__file__).with_name("nt_reference.py")
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([str(python), str(script)], input=json.dumps(job), capture_output=True, text=True,
                          check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def best_time(fn, repeat: int) -> tuple[float, float, object]:
    """Best wall-clock and best CPU time (all threads of the process) of ``repeat`` calls."""
    fn()  # warm-up: derivation/codegen cached, memory pages touched
    best, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best, cpu = min(best, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return best, cpu, out


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
    parser.add_argument("--case", action="append", choices=tuple(CASES), help="default: all")
    parser.add_argument("--nt-python", type=Path, default=NT_PYTHON)
    parser.add_argument("--default-allocator", action="store_true", help="do not tune the C heap")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tuned = not args.default_allocator and tune_allocator()
    with_nt = args.nt_python.exists()
    if not with_nt:
        print(f"neural-tangents venv not found at {args.nt_python}: its column is skipped", file=sys.stderr)
    X = circle(args.n)
    rows = []
    load_before = load()
    for name in args.case or CASES:
        (phi, psi), reference, nt_activation = CASES[name]
        kernel = Kernel(phi, psi, depth=args.depth)
        ours = lambda: kernel(X, outputs=("nngp", "sgntk"))  # noqa: B023 (called in this iteration)
        t_ours, cpu_ours, result = best_time(ours, args.repeat)
        t_ref, _, (S, I) = best_time(lambda: reference(X, args.depth), args.repeat)  # noqa: B023
        out_bytes = 2 * args.n**2 * 8
        row = {
            "case": name, "n": args.n, "allocator_tuned": tuned, "seconds": t_ours, "cpu_seconds": cpu_ours,
            "reference_seconds": t_ref,
            "ratio": t_ours / t_ref, "peak_memory_ratio": peak_memory(ours) / out_bytes,
            "reference_peak_memory_ratio": peak_memory(lambda: reference(X, args.depth)) / out_bytes,  # noqa: B023
            "max_rel_diff_nngp": float(np.max(np.abs(result.nngp - S) / np.abs(S).max())),
            "max_rel_diff_sgntk": float(np.max(np.abs(result.sgntk - I) / np.abs(I).max())),
        }
        if with_nt:
            with tempfile.TemporaryDirectory() as folder:
                path = os.path.join(folder, "nt.npz")
                nt64 = neural_tangents(args.nt_python, nt_activation, args.n, args.depth, args.repeat, True, path)
                nt = np.load(path)
                nt32 = neural_tangents(args.nt_python, nt_activation, args.n, args.depth, args.repeat, False)
            row.update({"nt_seconds": nt64["seconds"], "nt_float32_seconds": nt32["seconds"],
                        "ratio_nt": t_ours / nt64["seconds"], "ratio_nt_float32": t_ours / nt32["seconds"],
                        "nt_cpu_seconds": nt64["cpu_seconds"], "cpu_ratio_nt": cpu_ours / nt64["cpu_seconds"],
                        "nt_max_rel_diff_nngp": float(np.max(np.abs(result.nngp - nt["nngp"]) / np.abs(nt["nngp"]).max()))})
            if psi is None:  # psi = phi': the SG-NTK is the NTK
                row["nt_max_rel_diff_ntk"] = float(np.max(np.abs(result.sgntk - nt["ntk"]) / np.abs(nt["ntk"]).max()))
        rows.append(row)
    report = {"load_before": load_before, "load_after": load(), "rows": rows}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"N = {args.n} points on the circle, {args.depth} hidden layers, NNGP + SG-NTK (best of {args.repeat}; "
          f"C heap {'tuned' if tuned else 'default'})")
    print(f"load before: {report['load_before']}")
    print(f"{'case':15s} {'kernelalg s':>11s} {'reference s':>11s} {'ratio':>6s} {'peak/out':>8s} {'ref peak/out':>12s} {'max rel diff':>12s}")
    for r in rows:
        print(f"{r['case']:15s} {r['seconds']:11.3f} {r['reference_seconds']:11.3f} {r['ratio']:6.2f} "
              f"{r['peak_memory_ratio']:8.2f} {r['reference_peak_memory_ratio']:12.2f} "
              f"{max(r['max_rel_diff_nngp'], r['max_rel_diff_sgntk']):12.1e}")
    if with_nt:
        print("\nneural-tangents' analytic kernel of the same network (NNGP + NTK), same run "
              "(wall-clock; CPU: all threads):")
        print(f"{'case':15s} {'kernelalg s':>11s} {'nt f64 s':>9s} {'ratio':>6s} {'nt f32 s':>9s} {'ratio':>6s} "
              f"{'CPU s':>6s} {'nt CPU s':>8s} {'ratio':>6s} {'diff nngp':>10s} {'diff ntk':>9s}")
        for r in rows:
            ntk = f"{r['nt_max_rel_diff_ntk']:9.1e}" if "nt_max_rel_diff_ntk" in r else f"{'-':>9s}"
            print(f"{r['case']:15s} {r['seconds']:11.3f} {r['nt_seconds']:9.3f} {r['ratio_nt']:6.2f} "
                  f"{r['nt_float32_seconds']:9.3f} {r['ratio_nt_float32']:6.2f} {r['cpu_seconds']:6.2f} "
                  f"{r['nt_cpu_seconds']:8.2f} {r['cpu_ratio_nt']:6.2f} {r['nt_max_rel_diff_nngp']:10.1e} {ntk}")
    print(f"load after:  {report['load_after']}")


if __name__ == "__main__":
    main()
