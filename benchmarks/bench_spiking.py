"""Spiking benchmark: event-based simulation plus exact (reverse-mode) gradients.

1. A 784-100-100-10 theta network (tau = 6/pi, T = 2, Theta = 6) with time-to-first-spike
   input (a pixel of intensity p > 0.5 spikes at T (1 - p) / 2), a batch of trials; loss:
   cross-entropy of softmax(-t) over the output neurons' first spike or pseudospike.
2. The 10-neuron recurrent QIF network of SPIKING.md 4.3 (excitatory and inhibitory Poisson
   inputs of weight +-5, T = 10): its training step (one trial, the experiment's loss) and a
   batch of trials with inputs drawn under different seeds.
3. The single QIF neuron with 22 inputs of SPIKING.md 4.2 (T = 10): its training step.

Prints seconds for simulation and gradient, events per trial, and the projected time of the
reference runs (3000 single-neuron trials, 10^4 recurrent trials) next to the JAX reference's
times quoted in SPIKING.md (about 20 s and 50-190 s on 2 CPU cores).

    python benchmarks/bench_spiking.py [--batch 1000] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from kernelalg.experiments import spiking_rnn, spiking_single
from kernelalg.spiking.backward import backward
from kernelalg.spiking.models import QIF, Theta
from kernelalg.spiking.outputs import output_times, output_vjp, rate_inputs, rate_inputs_vjp
from kernelalg.spiking.simulate import simulate


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def deep_theta(batch: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    model, T = Theta(tau=6 / np.pi), 2.0
    sizes = (784, 100, 100, 10)
    N = sum(sizes[1:])
    W_in = np.zeros((N, 784))
    W_in[:100] = rng.uniform(-1, 1, (100, 784)) * 3.0 / np.sqrt(784) + 0.04
    W_net = np.zeros((N, N))
    W_net[100:200, :100] = rng.uniform(-1, 1, (100, 100)) * 3.0 / np.sqrt(100) + 0.1
    W_net[200:, 100:200] = rng.uniform(-1, 1, (10, 100)) * 3.0 / np.sqrt(100) + 0.1
    x0 = np.full((1, N), model.period / 2)
    pixels = rng.random((batch, 784)) * (rng.random((batch, 784)) < 0.25)
    times = np.where(pixels > 0.5, T * (1 - pixels) / 2, np.inf)
    sources = np.broadcast_to(np.arange(784), times.shape)
    labels = rng.integers(0, 10, batch)

    t_sim, trace = _timed(lambda: simulate(model, W_in, W_net, x0, times, sources, T, max_events=800,
                                           gradients=False))

    def gradient():
        inputs, _ = rate_inputs(model, trace, W_net, passes=2)
        out = np.stack([output_times(model, trace, 200 + i, 1, inputs)[0][:, 0] for i in range(10)], axis=1)
        z = -out - (-out).max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        dL_dout = -(p - np.eye(10)[labels]) / batch  # d/dt of -log softmax(-t)[label]
        dL_dt, dL_dx, dL_din = 0.0, 0.0, 0.0
        for i in range(10):
            a, b, c = output_vjp(model, trace, 200 + i, 1, dL_dout[:, i:i + 1], inputs)
            dL_dt, dL_dx, dL_din = dL_dt + a, dL_dx + b, dL_din + c
        dW, dx = rate_inputs_vjp(model, trace, W_net, dL_din, passes=2)
        return backward(model, trace, W_in, W_net, dL_dt, dL_dx + dx)

    t_grad, _ = _timed(gradient)
    network_spikes = ((trace.index >= 0) & ~trace.is_input).sum(axis=1)
    return {"case": "theta 784-100-100-10", "batch": batch, "simulate_s": t_sim, "gradient_s": t_grad,
            "events_per_trial": float(np.isfinite(trace.t).sum(axis=1).mean()),
            "network_spikes_per_trial": float(network_spikes.mean())}


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
            "reference_1e4_trials_s": "50-190 (JAX, SPIKING.md)"}


def single_neuron() -> dict:
    """The training step of the single-neuron experiment (forward-mode gradients)."""
    w, t = np.zeros(2), np.array([1.0, 9.0])
    seconds, _ = _timed(lambda: [spiking_single.loss_and_grad(w, t) for _ in range(100)])
    return {"case": "single QIF neuron, 22 inputs (forward-mode gradients)", "seconds_per_trial": seconds / 100,
            "projected_3000_trials_s": seconds / 100 * 3000, "reference_3000_trials_s": "about 20 (JAX, SPIKING.md)"}


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
