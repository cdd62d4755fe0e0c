"""Spiking benchmark: event-based simulation plus exact (reverse-mode) gradients.

1. The deep experiment's training step (``kernelalg.experiments.spiking_deep``) on a
   784-100-100-10 theta network (tau = 6/pi, T = 2, Theta = 6) with time-to-first-spike input
   (a pixel of intensity p > 0.5 spikes at 1 - p), a batch of trials; loss: cross-entropy of
   softmax(-t) over the output neurons' first spike or pseudospike plus the gamma term.
2. The 10-neuron recurrent QIF network of docs/spiking.md section 8.3 (excitatory and inhibitory Poisson
   inputs of weight +-5, T = 10): its training step (one trial, the experiment's loss) and a
   batch of trials with inputs drawn under different seeds.
3. The single QIF neuron with 22 inputs of docs/spiking.md section 8.2 (T = 10): its training step.

Prints seconds for simulation and gradient, events per trial, and the projected time of the
reference runs (3000 single-neuron trials, 10^4 recurrent trials) next to the JAX reference's
times quoted in docs/spiking.md section 9 (about 20 s and 50-190 s on 2 CPU cores).

    python benchmarks/bench_spiking.py [--batch 1000] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from kernelalg.experiments import spiking_deep, spiking_rnn, spiking_single
from kernelalg.spiking.backward import backward
from kernelalg.spiking.models import QIF
from kernelalg.spiking.outputs import output_times, output_vjp
from kernelalg.spiking.simulate import simulate


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def deep_theta(batch: int, seed: int = 0) -> dict:
    """The deep experiment's training step on a 784-100-100-10 network with weights biased
    positive so that most neurons fire (random sparse images)."""
    rng = np.random.default_rng(seed)
    net = spiking_deep.Network((784, 100, 100, 10), t_max=1.0)
    params = net.init(rng, 3.0)
    params[0] += 0.04
    params[1] += 0.1
    params[2] += 0.1
    pixels = rng.random((batch, 784)) * (rng.random((batch, 784)) < 0.25)
    X, labels = np.where(pixels > 0.5, pixels, 0.0), rng.integers(0, 10, batch)

    t_sim, run = _timed(lambda: spiking_deep.run_batch(net, params, X))
    t_step, _ = _timed(lambda: spiking_deep.loss_and_grad(net, params, X, labels, 0.05))
    return {"case": "theta 784-100-100-10", "batch": batch, "simulate_s": t_sim,
            "gradient_s": t_step - t_sim, "events_per_trial": float(np.isfinite(run.trace.t).sum(axis=1).mean()),
            "network_spikes_per_trial": float(run.hidden_spikes.sum(axis=1).mean() + run.output_spikes.sum(axis=1).mean())}


def recurrent_qif(batch: int) -> dict:
    """The training step of the recurrent experiment (one trial), and a batch of trials with
    the experiment's input construction under different seeds."""
    model, task = QIF(), spiking_rnn.make_task(7)
    rng = np.random.default_rng(0)
    W_net = rng.normal(0, 1.0, (spiking_rnn.N, spiking_rnn.N))
    np.fill_diagonal(W_net, 0.0)
    x0 = np.zeros((2, spiking_rnn.N))
    t_one, _ = _timed(lambda: [spiking_rnn.loss_and_grad(task, W_net, x0) for _ in range(20)])

    tasks = [spiking_rnn.make_task(seed) for seed in range(batch)]
    S = max(t.times.shape[1] for t in tasks)
    times = np.stack([np.pad(t.times[0], (0, S - t.times.shape[1]), constant_values=np.inf) for t in tasks])
    sources = np.stack([np.pad(t.sources[0], (0, S - t.sources.shape[1])) for t in tasks])

    def one_batch():
        trace = simulate(model, task.W_in, W_net, x0, times, sources, spiking_rnn.T,
                         max_events=spiking_rnn.MAX_EVENTS, gradients=False)
        out, _, _ = output_times(model, trace, 0, 6)
        dL_dt, dL_dx, _ = output_vjp(model, trace, 0, 6, 2 * (out - np.arange(1, 7)))
        backward(model, trace, task.W_in, W_net, dL_dt, dL_dx)
        return trace

    t_batch, trace = _timed(one_batch)
    per_trial = t_one / 20
    return {"case": "recurrent QIF, N = 10", "batch": batch, "seconds_per_trial": per_trial,
            "projected_1e4_trials_s": per_trial * 1e4, "batch_s": t_batch,
            "events_per_trial": float(np.isfinite(trace.t).sum(axis=1).mean()),
            "reference_1e4_trials_s": "50-190 (JAX, docs/spiking.md section 9)"}


def single_neuron() -> dict:
    """The training step of the single-neuron experiment (forward-mode gradients)."""
    w, t = np.zeros(2), np.array([1.0, 9.0])
    seconds, _ = _timed(lambda: [spiking_single.loss_and_grad(w, t) for _ in range(100)])
    return {"case": "single QIF neuron, 22 inputs (forward-mode gradients)", "seconds_per_trial": seconds / 100,
            "projected_3000_trials_s": seconds / 100 * 3000,
            "reference_3000_trials_s": "about 20 (JAX, docs/spiking.md section 9)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [deep_theta(args.batch), recurrent_qif(args.batch), single_neuron()]
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    for row in rows:
        print(row.pop("case"))
        for key, value in row.items():
            print(f"  {key:28s} {value:.4g}" if isinstance(value, float) else f"  {key:28s} {value}")


if __name__ == "__main__":
    main()
