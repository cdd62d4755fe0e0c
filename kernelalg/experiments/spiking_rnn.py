"""Recurrent QIF network: two of ten neurons learn target spike trains (docs/spiking.md section 8.3).

Every neuron i has its own excitatory (+5) and inhibitory (-5) Poisson input train; the
recurrent weights (no self-coupling, initially 0) and the initial states (V, I) (initially 0)
are trained so that neurons 0 and 1 fire at Poisson target times (at least 0.1 apart), with an
extra target at 1.1 T that pushes surplus spikes out of the trial.  Output slots beyond a
neuron's ordinary spikes are pseudospikes driven by the network's pseudo rates.  Loss per
target neuron: sum_m ((t_m - t*_m)/(t*_m + 2))^2 over all but the last slot, plus the
one-sided ((t_last - 1.1 T)/(1.1 T + 2))^2 [t_last < 1.1 T]; summed and divided by the number
of slots.  AdaBelief, lr 1e-2 exp(-step/2000).  Random draws use NumPy (the reference's JAX
streams cannot be reproduced; the target times are the reference's, hard-coded), so expect the
qualitative result, not the exact curve.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kernelalg.optim import AdaBelief
from kernelalg.progress import progress
from kernelalg.spiking.backward import backward
from kernelalg.spiking.models import QIF
from kernelalg.spiking.outputs import output_times, output_vjp, rate_inputs, rate_inputs_vjp
from kernelalg.spiking.simulate import simulate
from kernelalg.spiking.traces import traces

N, T, W_INPUT, RATE_IN = 10, 10.0, 5.0, 1.0
TARGET_RATES = (1.0, 0.5)
MAX_EVENTS = 600
MODEL = QIF()


@dataclass(frozen=True)
class Task:
    times: np.ndarray  # (1, S) input spike times in the trial
    sources: np.ndarray  # (1, S)
    W_in: np.ndarray  # (N, 2N)
    targets: tuple[np.ndarray, ...]  # per target neuron, ending with the extra 1.1 T


REFERENCE_TARGETS = ((1.3301, 2.4417, 4.5711, 5.8209, 9.5693), (1.3703, 4.9058, 6.5913, 9.8150))


def make_task(seed: int = 7, reference_targets: bool = True) -> Task:
    """Input trains drawn with NumPy under ``seed``; the targets are the reference run's
    (docs/spiking.md section 8.3, drawn with JAX) or, with ``reference_targets=False``, NumPy draws of the
    same construction."""
    rng = np.random.default_rng(seed)
    exc = np.cumsum(RATE_IN * rng.exponential(1.0, (N, 100)), axis=1) - 10.0  # shifted by T_init = 10
    inh = np.cumsum(rng.exponential(1.0, (N, 100)) / RATE_IN, axis=1) - 10.0
    trains = np.concatenate([exc, inh])
    sources = np.repeat(np.arange(2 * N), 100)
    keep = (trains.ravel() > 0) & (trains.ravel() < T)
    W_in = np.zeros((N, 2 * N))
    W_in[np.arange(N), np.arange(N)] = W_INPUT
    W_in[np.arange(N), N + np.arange(N)] = -W_INPUT
    if reference_targets:
        targets = [np.array([*t, 1.1 * T]) for t in REFERENCE_TARGETS]
    else:
        targets = []
        for rate in TARGET_RATES:
            isi = rng.exponential(1.0, 25) / rate
            isi[1:] += 1.0
            t = np.cumsum(isi)
            targets.append(np.concatenate([t[t < T], [1.1 * T]]))
    return Task(trains.ravel()[keep][None], sources[keep][None], W_in, tuple(targets))


def _loss_terms(out: np.ndarray, target: np.ndarray):
    """Loss contribution of one neuron's slots and its derivative."""
    scale = target + 2.0
    r = (out - target) / scale
    active = np.ones_like(r, bool)
    active[-1] = out[-1] < target[-1]
    return float(np.sum(np.where(active, r**2, 0.0))), np.where(active, 2 * r / scale, 0.0)


def loss_and_grad(task: Task, W_net: np.ndarray, x0: np.ndarray, model: QIF = MODEL, backend: str | None = None):
    """Loss, dL/dW_net (diagonal zero), dL/dx0, the target neurons' outputs and spike counts."""
    trace = simulate(model, task.W_in, W_net, x0, task.times, task.sources, T, max_events=MAX_EVENTS,
                     gradients=False, backend=backend)
    inputs, _ = rate_inputs(model, trace, W_net)
    slots = sum(len(t) for t in task.targets)
    loss, dL_dt, dL_dx, dL_din, outs = 0.0, 0.0, 0.0, 0.0, []
    for i, target in enumerate(task.targets):
        out, _, _ = output_times(model, trace, i, len(target), inputs)
        value, d_out = _loss_terms(out[0], target)
        loss += value / slots
        a, b, c = output_vjp(model, trace, i, len(target), d_out[None] / slots, inputs)
        dL_dt, dL_dx, dL_din = dL_dt + a, dL_dx + b, dL_din + c
        outs.append(out[0])
    dW, dx = rate_inputs_vjp(model, trace, W_net, dL_din)
    grads = backward(model, trace, task.W_in, W_net, dL_dt, dL_dx + dx)
    gW = grads.W_net + dW
    np.fill_diagonal(gW, 0.0)
    counts = trace.spike_counts()[0].tolist()
    return loss, gW, grads.x0[0], outs, counts


def deviations(targets, outs) -> list[float]:
    """Per target neuron, the largest |t_m - t*_m| over its in-trial targets."""
    return [float(np.max(np.abs(np.asarray(out)[:len(t) - 1] - t[:-1]), initial=0.0))
            for out, t in zip(outs, targets)]


def reached(task: Task, outs, counts, tol: float = 0.5) -> bool:
    """Every target neuron fires exactly as many ordinary spikes as it has targets in the trial
    (none missing, no surplus) and its m-th spike lies within ``tol`` of its m-th target; the
    default, half the minimum gap between targets (1.0), matches every spike to its own target."""
    return all(counts[i] == len(t) - 1 and dev <= tol
               for i, (t, dev) in enumerate(zip(task.targets, deviations(task.targets, outs))))


def evaluate(task: Task, W_net: np.ndarray, x0: np.ndarray, backend: str | None = None) -> dict:
    """Loss, target neurons' outputs, spike counts, whether all targets are reached, their
    ordinary spike times, and the membrane traces (grid step 0.01) of the target neurons."""
    loss, _, _, outs, counts = loss_and_grad(task, W_net, x0, backend=backend)
    trace = simulate(MODEL, task.W_in, W_net, x0, task.times, task.sources, T, max_events=MAX_EVENTS,
                     gradients=False, backend=backend)
    grid, V = traces(MODEL, trace)
    targets = range(len(task.targets))
    return {"loss": loss, "outputs": [o.tolist() for o in outs], "counts": counts,
            "targets_reached": reached(task, outs, counts),
            "spikes": [trace.t[0][trace.spikes(i)[0]].tolist() for i in targets],
            "trace_t": grid.tolist(), "trace_V": V[:, list(targets)].T.tolist()}


def without_nontarget_recurrence(W_net: np.ndarray, targets: int) -> np.ndarray:
    """The recurrent weights with the rows of the non-target neurons (their recurrent inputs) set to 0."""
    W = np.array(W_net, float)
    W[targets:] = 0.0
    return W


@dataclass
class RNNRun:
    trials: int
    targets: tuple
    loss: list[float] = field(default_factory=list)
    outputs: list = field(default_factory=list)  # target neurons' slots, every 10th trial
    counts: list = field(default_factory=list)
    targets_reached: bool = False
    final: dict = field(default_factory=dict)  # evaluate() of the trained network
    ablated: dict = field(default_factory=dict)  # ... with the non-target neurons' recurrent inputs off
    W_net: list = field(default_factory=list)
    x0: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"loss": self.loss[-1], "targets_reached": self.targets_reached, "trials": self.trials,
                "targets": [t.tolist() for t in self.targets], "final_outputs": self.outputs[-1],
                "final_counts": self.counts[-1], "max_deviation_from_target": self.max_deviation(),
                "without_nontarget_recurrence": self.ablation_summary(), "loss_curve": self.loss,
                "final": self.final, "ablated": self.ablated, "W_net": self.W_net, "x0": self.x0}

    def ablation_summary(self) -> dict:
        """Loss, targets reached, outputs and largest deviation with the non-target neurons'
        recurrent inputs switched off."""
        a = self.ablated
        return {"loss": a["loss"], "targets_reached": a["targets_reached"], "outputs": a["outputs"],
                "counts": a["counts"], "max_deviation_from_target": max(deviations(self.targets, a["outputs"]))}

    def max_deviation(self) -> float:
        """Largest |t_m - t*_m| over the in-trial targets at the last trial."""
        return max(deviations(self.targets, self.outputs[-1]))


def run(trials: int = 10_000, seed: int = 7, show_progress: bool = True, backend: str | None = None) -> RNNRun:
    task = make_task(seed)
    W_net, x0 = np.zeros((N, N)), np.zeros((2, N))
    opt = AdaBelief(1e-2, decay=np.exp(-1 / 2000))
    state = opt.init([W_net, x0])
    result = RNNRun(trials, task.targets)
    for k in progress(range(trials + 1), desc="recurrent network", enabled=show_progress):
        loss, gW, gx, outs, counts = loss_and_grad(task, W_net, x0, backend=backend)
        result.loss.append(loss)
        if k % 10 == 0 or k == trials:
            result.outputs.append([o.tolist() for o in outs])
            result.counts.append(counts)
        if k < trials:
            (W_net, x0), state = opt.step([W_net, x0], [gW, gx], state)
            np.fill_diagonal(W_net, 0.0)
    result.targets_reached = reached(task, result.outputs[-1], result.counts[-1])
    result.final = evaluate(task, W_net, x0, backend)
    result.ablated = evaluate(task, without_nontarget_recurrence(W_net, len(task.targets)), x0, backend)
    result.W_net, result.x0 = W_net.tolist(), x0.tolist()
    return result


def figure(result: RNNRun, path, overwrite: bool = False) -> None:
    """Loss over trials; output times of the target neurons over trials; their membrane traces
    after training; their spikes against the targets, also with the non-target neurons'
    recurrent inputs switched off."""
    from kernelalg.experiments.figures import pyplot, save

    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(18, 3.8))
    ax = axes[0]
    ax.loglog(np.arange(1, len(result.loss) + 1), result.loss)
    ax.set(xlabel="trial + 1", ylabel="loss", title="recurrent QIF network")
    ax = axes[1]
    steps = np.arange(len(result.outputs)) * 10
    for i, target in enumerate(result.targets):
        slots = np.array([o[i] for o in result.outputs])
        for m in range(slots.shape[1]):
            ax.plot(steps, slots[:, m], color=f"C{i}", lw=0.8, label=f"neuron {i}" if m == 0 else None)
        for t in target:
            ax.axhline(t, color=f"C{i}", ls="--", lw=0.5)
    ax.axhspan(T, 1.25 * T, color="0.92", label="after T (pseudospikes)")
    ax.set(xlabel="trial", ylabel="output time", ylim=(0, 1.25 * T), title="output spikes (targets dashed)")
    ax.legend(fontsize=7, loc="lower left")
    ax = axes[2]
    grid = np.array(result.final["trace_t"])
    for i, V in enumerate(result.final["trace_V"]):
        ax.plot(grid, np.clip(V, -4, 4) + 10 * i, color=f"C{i}", lw=0.8, label=f"neuron {i}")
        for t in result.targets[i][:-1]:
            ax.plot([t, t], [10 * i + 4.5, 10 * i + 5.5], color=f"C{i}", lw=1.5)
    ax.set(xlabel="time", ylabel="V, clipped at +-4 (+10 per neuron)", xlim=(0, T),
           title="membrane potential after training\n(targets: ticks)")
    ax.legend(fontsize=7, loc="lower right")
    ax = axes[3]
    rows = [("targets", [t[:-1] for t in result.targets], "0.5"), ("learned", result.final["spikes"], "C0"),
            ("non-target recurrence off", result.ablated["spikes"], "C3")]
    for r, (label, spikes, colour) in enumerate(rows):
        for i, times in enumerate(spikes):
            y = 3 * i + r * 0.8
            ax.scatter(times, np.full(len(times), y), marker="|", s=120, color=colour,
                       label=label if i == 0 else None)
    ax.set(xlim=(0, T), ylim=(-0.6, 6.8), yticks=[0.8, 3.8], yticklabels=["neuron 0", "neuron 1"], xlabel="time",
           title=f"spikes; non-target neurons' recurrent inputs off:\nloss {result.ablated['loss']:.2g} "
                 f"(trained: {result.final['loss']:.2g})")
    ax.legend(fontsize=7, loc="upper right", ncol=3)
    fig.tight_layout()
    save(fig, path, overwrite, dpi=150)
