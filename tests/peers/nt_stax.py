"""Analytic kernels of neural-tangents' stax for an architecture spec (run with the peers' Python).

Reads JSON from stdin: {"jobs": [{"arch": [...], "x1": nested list, "x2": nested list or null}],
"repeat": int}; writes JSON {"results": [{"nngp", "ntk", "seconds", "first_seconds"}], "max_rss_mb", "import_rss_mb"}
to stdout (peak resident memory of the process, and after importing jax and neural-tangents)
("first_seconds": compilation and one evaluation; "seconds": the best of ``repeat`` more).  An architecture is a list
of steps:

    ["conv", filter_shape, strides, padding, sigma_w, sigma_b]   ["dense", sigma_w, sigma_b]
    ["act", "erf" | "relu"]   ["avgpool", window, strides, padding]   ["gap"]   ["flatten"]
    ["residual", [steps...]]  (x + block(x))

Only this script imports jax (float64 enabled); kernelalg's tests and benchmarks call it in a
subprocess, so neural-tangents is never a dependency.
"""

import json
import resource
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np
from neural_tangents import stax


def build(arch):
    layers = []
    for step in arch:
        kind, args = step[0], step[1:]
        if kind == "conv":
            filter_shape, strides, padding, sw, sb = args
            layers.append(stax.Conv(1, tuple(filter_shape), tuple(strides), padding, W_std=sw, b_std=sb))
        elif kind == "dense":
            layers.append(stax.Dense(1, W_std=args[0], b_std=args[1]))
        elif kind == "act":
            layers.append({"erf": stax.Erf(), "relu": stax.Relu()}[args[0]])
        elif kind == "avgpool":
            window, strides, padding = args
            layers.append(stax.AvgPool(tuple(window), tuple(strides), padding))
        elif kind == "gap":
            layers.append(stax.GlobalAvgPool())
        elif kind == "flatten":
            layers.append(stax.Flatten())
        elif kind == "residual":
            layers += [stax.FanOut(2), stax.parallel(stax.Identity(), build(args[0])), stax.FanInSum()]
        else:
            raise ValueError(f"unknown step {kind}")
    return stax.serial(*layers)


def run(job, repeat):
    _, _, kernel_fn = build(job["arch"])
    x1 = np.asarray(job["x1"], dtype=np.float64)
    x2 = None if job.get("x2") is None else np.asarray(job["x2"], dtype=np.float64)
    kernel_fn = jax.jit(kernel_fn, static_argnames="get")
    start = time.perf_counter()
    np.asarray(kernel_fn(x1, x2, get=("nngp", "ntk")).ntk)  # compile and run once
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        k = kernel_fn(x1, x2, get=("nngp", "ntk"))
        nngp, ntk = np.asarray(k.nngp), np.asarray(k.ntk)
        best = min(best, time.perf_counter() - start)
    return {"nngp": nngp.tolist(), "ntk": ntk.tolist(), "seconds": best, "first_seconds": first}


def main():
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    spec = json.load(sys.stdin)
    results = [run(job, spec.get("repeat", 1)) for job in spec["jobs"]]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json.dump({"results": results, "max_rss_mb": rss, "import_rss_mb": baseline}, sys.stdout)


if __name__ == "__main__":
    main()
