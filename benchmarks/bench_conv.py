"""Conv kernel benchmark: kernelalg.layers against neural-tangents' analytic kernels, same inputs.

Network: Conv 3x3 SAME -> phi -> Conv 3x3 SAME -> phi -> global average pooling -> Dense, on
the first N 8x8 digits; NNGP and NTK (kernelalg: SG-NTK with psi = phi', equal to the NTK).
Each library runs in its own fresh process (neural-tangents with the peers' Python, float64,
jit), measured in the same run: seconds for the first call (kernelalg: generated maps loaded
from the cache; neural-tangents: jit compilation) and the best of ``--repeat`` further calls,
peak resident memory of the process and after its imports, and the largest relative
difference of the two kernels.  kernelalg's SG-NTK of sign with a Gaussian surrogate (which
neural-tangents does not offer: its Sign NTK is zero) is timed on the same inputs.  Machine
load (``uptime``) is printed before and after.

    python benchmarks/bench_conv.py [--n 32] [--phi relu|erf] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
NT_PYTHON = Path(os.environ.get("KERNELALG_NT_PYTHON", Path.home() / ".cache/kernelalg-peers/ntenv/bin/python"))
NT_SCRIPT = ROOT / "tests" / "peers" / "nt_stax.py"


def arch(phi: str) -> list:
    conv = ["conv", [3, 3], [1, 1], "SAME", 1.0, 0.1]
    return [conv, ["act", phi], conv, ["act", phi], ["gap"], ["dense", 1.0, 0.1]]


def inputs(n: int) -> np.ndarray:
    from kernelalg.datasets import digits
    return digits().X[:n].reshape(n, 8, 8, 1)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(n: int, phi: str, repeat: int) -> dict:
    """kernelalg's side, in this (fresh) process."""
    from kernelalg import layers as L
    baseline = rss_mb()
    X = inputs(n)

    def net(phi, psi=None):
        return L.serial(L.Conv((3, 3), sigma_b=0.1), L.Activation(phi, psi), L.Conv((3, 3), sigma_b=0.1),
                        L.Activation(phi, psi), L.GlobalAvgPool(), L.Dense(sigma_b=0.1))

    def timed(network):
        start = time.perf_counter()
        out = network(X, outputs=("nngp", "sgntk"))
        first = time.perf_counter() - start
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            out = network(X, outputs=("nngp", "sgntk"))
            best = min(best, time.perf_counter() - start)
        return out, first, best

    out, first, best = timed(net(phi))
    peak = rss_mb()
    _, sign_first, sign_best = timed(net("sign", "gaussian"))
    return {"nngp": out.nngp.tolist(), "ntk": out.sgntk.tolist(), "first_seconds": first, "seconds": best,
            "max_rss_mb": peak, "import_rss_mb": baseline, "sign_seconds": sign_best, "sign_first_seconds": sign_first}


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "uptime unavailable"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--phi", default="relu", choices=("relu", "erf"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        json.dump(worker(args.n, args.phi, args.repeat), sys.stdout)
        return
    load_before = uptime()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    ours = json.loads(subprocess.run([sys.executable, __file__, "--worker", "--n", str(args.n), "--phi", args.phi,
                                      "--repeat", str(args.repeat)], capture_output=True, text=True, check=True,
                                     env=env).stdout)
    theirs = None
    if NT_PYTHON.exists():
        job = {"arch": arch(args.phi), "x1": inputs(args.n).tolist(), "x2": None}
        run = subprocess.run([str(NT_PYTHON), str(NT_SCRIPT)], input=json.dumps({"jobs": [job], "repeat": args.repeat}),
                             capture_output=True, text=True, check=True)
        report = json.loads(run.stdout)
        theirs = {**report["results"][0], "max_rss_mb": report["max_rss_mb"], "import_rss_mb": report["import_rss_mb"]}
    load_after = uptime()
    result = {"n": args.n, "phi": args.phi, "pixels": 64, "uptime_before": load_before, "uptime_after": load_after,
              "kernelalg": {k: v for k, v in ours.items() if k not in ("nngp", "ntk")}}
    if theirs is not None:
        diff = {name: float(np.max(np.abs(np.array(ours[name]) - np.array(theirs[name])) / np.abs(theirs[name]).max()))
                for name in ("nngp", "ntk")}
        result["neural_tangents"] = {k: v for k, v in theirs.items() if k not in ("nngp", "ntk")}
        result["max_rel_difference"] = diff
        result["time_ratio"] = ours["seconds"] / theirs["seconds"]
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"load before: {load_before}\nload after:  {load_after}")
    print(f"Conv 3x3 - {args.phi} - Conv 3x3 - {args.phi} - GAP - Dense on {args.n} 8x8 digits, NNGP + NTK")
    print(f"{'':18s} {'first call':>11s} {'best':>9s} {'peak RSS':>10s} {'after imports':>14s}")
    k = result["kernelalg"]
    print(f"{'kernelalg':18s} {k['first_seconds']:10.2f}s {k['seconds']:8.2f}s {k['max_rss_mb']:8.0f}MB "
          f"{k['import_rss_mb']:12.0f}MB")
    if theirs is not None:
        t = result["neural_tangents"]
        print(f"{'neural-tangents':18s} {t['first_seconds']:10.2f}s {t['seconds']:8.2f}s {t['max_rss_mb']:8.0f}MB "
              f"{t['import_rss_mb']:12.0f}MB")
        print(f"time ratio kernelalg / neural-tangents (best): {result['time_ratio']:.2f}; "
              f"max relative difference nngp {diff['nngp']:.1e}, ntk {diff['ntk']:.1e}")
    else:
        print(f"neural-tangents not found at {NT_PYTHON}: skipped")
    print(f"kernelalg SG-NTK of sign with a Gaussian surrogate: {k['sign_seconds']:.2f}s "
          f"(first call {k['sign_first_seconds']:.2f}s)")


if __name__ == "__main__":
    main()
