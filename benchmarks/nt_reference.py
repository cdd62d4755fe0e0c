"""neural-tangents' analytic kernel of the benchmark networks, run in neural-tangents' own venv.

Reads a JSON job from stdin: {"activation": "erf" | "relu" | "sign" | "tanh", "n": N, "depth": L,
"sigma_w": .., "sigma_b": .., "repeat": R, "x64": bool, "out": path or null, "points": .npy path
(optional)}, builds stax.serial(Dense, act, Dense, act, ..., Dense) in the NTK parametrisation on
the given points, or else on N points of the unit circle, and prints {"seconds": best of R after a compiling warm-up, "cpu_seconds": the
best CPU time of the process (all threads), "compile_seconds": ..}.
With "out", the NNGP and NTK matrices are saved there (.npz) for comparison.  Started as a
subprocess by bench_kernels.py; it imports nothing from kernelalg.
"""

from __future__ import annotations

import json
import sys
import time

import jax
import numpy as np


def main() -> None:
    job = json.load(sys.stdin)
    jax.config.update("jax_enable_x64", bool(job["x64"]))
    import jax.numpy as jnp
    from neural_tangents import stax

    act = {"erf": stax.Erf, "relu": stax.Relu, "sign": stax.Sign,
           # no closed form: 2-D Gauss-Hermite product rule of degree 25 (its default), no error estimate
           "tanh": lambda: stax.ElementwiseNumerical(jnp.tanh, deg=25)}[job["activation"]]
    dense = lambda: stax.Dense(1, W_std=job["sigma_w"], b_std=job["sigma_b"])  # noqa: E731
    layers = []
    for _ in range(job["depth"]):
        layers += [dense(), act()]
    _, _, kernel_fn = stax.serial(*layers, dense())
    kernel_fn = jax.jit(kernel_fn, static_argnames="get")
    if job.get("points"):
        x = jnp.asarray(np.load(job["points"]))
    else:
        theta = 2 * np.pi * np.arange(job["n"]) / job["n"]
        x = jnp.asarray(np.stack([np.cos(theta), np.sin(theta)], axis=1))

    def run():
        k = kernel_fn(x, None, ("nngp", "ntk"))
        return jax.block_until_ready(k)

    start = time.perf_counter()
    result = run()
    compile_seconds = time.perf_counter() - start
    best, cpu = float("inf"), float("inf")
    for _ in range(job["repeat"]):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = run()
        best, cpu = min(best, time.perf_counter() - start), min(cpu, time.process_time() - start_cpu)
    if job.get("out"):
        np.savez(job["out"], nngp=np.asarray(result[0], dtype=float), ntk=np.asarray(result[1], dtype=float))
    print(json.dumps({"seconds": best, "cpu_seconds": cpu, "compile_seconds": compile_seconds}))


if __name__ == "__main__":
    main()
