"""Single QIF neuron learns two target spike times (docs/spiking.md section 8.2).

22 inputs fire once in a trial of length T = 10; 20 have fixed times and weights (the
reference's values, drawn there with JAX's legacy PRNG; docs/spiking.md section 9), 2 have a
trainable weight and time, starting at weights (0, 0) and times (1, 9).  The loss is the
mean squared distance of the first two output times (ordinary spikes, else pseudospikes)
to the targets (2.5, 7.5).  Both outputs start as pseudospikes after T; exact gradients move
them into the trial.  Optimiser: SGD, lr 0.1, each gradient component clipped to 0.02; input
times clipped to [0, T] after each step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kernelalg.optim import SGD
from kernelalg.progress import progress
from kernelalg.spiking.backend import resolve
from kernelalg.spiking.models import QIF
from kernelalg.spiking.outputs import output_times
from kernelalg.spiking.simulate import Setup, setup, simulate_setup

FIXED_TIMES = (0.3262, 2.7064, 6.8992, 6.7276, 1.7837, 2.1110, 6.9700, 0.9150, 7.3435, 7.3123, 3.2551, 3.0177,
               4.3184, 9.0850, 5.6802, 8.8570, 6.6102, 1.0279, 2.4085, 3.4553)
FIXED_WEIGHTS = (0.5604, -0.1910, -0.0992, 0.3842, 0.0870, -0.6519, 0.8882, 0.0263, 0.3874, 0.0093, -0.5010,
                 1.2066, 0.5734, -1.2732, -0.5942, 0.0215, -0.2986, 0.7118, -1.0709, 2.1248)
TARGETS = (2.5, 7.5)
T = 10.0
MODEL = QIF()


@dataclass
class SingleRun:
    trials: int
    loss: list[float] = field(default_factory=list)
    t_out: list[list[float]] = field(default_factory=list)  # per trial
    pseudo: list[list[bool]] = field(default_factory=list)
    weights: list[list[float]] = field(default_factory=list)
    times: list[list[float]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"loss": self.loss[-1], "t_out": self.t_out[-1], "trials": self.trials,
                "initial_t_out": self.t_out[0], "initial_pseudo": self.pseudo[0], "final_pseudo": self.pseudo[-1],
                "final_weights": self.weights[-1], "final_times": self.times[-1], "loss_curve": self.loss}


def make_problem(w: np.ndarray, t: np.ndarray, model: QIF = MODEL) -> Setup:
    """The checked simulation problem with trainable weights ``w`` and times ``t``."""
    return setup(model, _weights(w), [[0.0]], np.zeros((2, 1)), _times(t), np.arange(22)[None], T)


def _weights(w: np.ndarray) -> np.ndarray:
    return np.concatenate([FIXED_WEIGHTS, w])[None]


def _times(t: np.ndarray) -> np.ndarray:
    return np.concatenate([FIXED_TIMES, t])[None]


def loss_and_grad(w: np.ndarray, t: np.ndarray, model: QIF = MODEL, backend: str | None = None):
    """Loss, dL/dw, dL/dt_in of the two trainable inputs, output times and pseudo flags."""
    return _loss_and_grad(make_problem(w, t, model), model, resolve(backend))


def _loss_and_grad(problem: Setup, model: QIF, backend: str):
    """:func:`loss_and_grad` of a checked problem."""
    trace = simulate_setup(model, problem, max_events=60, backend=backend)
    out, grads, pseudo = output_times(model, trace, 0, 2)
    residual = out[0] - TARGETS
    loss = float(np.add.reduce(residual**2)) / residual.size  # the mean
    dL = (2 / residual.size) * residual @ grads[0]
    layout = trace.layout
    return loss, layout.part(dL, "W_in")[0, 20:], layout.part(dL, "t_in")[20:], out[0], pseudo[0]


def run(trials: int = 3000, lr: float = 0.1, clip: float = 0.02, show_progress: bool = True,
        backend: str | None = None) -> SingleRun:
    """SGD on the trainable inputs; the problem is checked once, then updated per trial."""
    opt = SGD(lr, clip_value=clip)
    w, t = np.zeros(2), np.array([1.0, 9.0])
    state = opt.init([w, t])
    checked, backend = make_problem(w, t), resolve(backend)
    result = SingleRun(trials)
    for _ in progress(range(trials + 1), desc="single neuron", enabled=show_progress):
        loss, gw, gt, out, pseudo = _loss_and_grad(checked.with_inputs(_weights(w), _times(t)), MODEL, backend)
        result.loss.append(loss)
        result.t_out.append(out.tolist())
        result.pseudo.append(pseudo.tolist())
        result.weights.append(w.tolist())
        result.times.append(t.tolist())
        (w, t), state = opt.step([w, t], [gw, gt], state)
        t = t.clip(0.0, T)
    result.trials = trials
    return result


def figure(result: SingleRun, path, overwrite: bool = False) -> None:
    from kernelalg.experiments.figures import pyplot, save

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    t_out = np.array(result.t_out)
    trials = np.arange(len(t_out))
    ax = axes[0]
    ax.axhspan(T, max(T + 0.5, t_out.max() + 0.3), color="0.92", label="pseudospike (after T)")
    for m, target in enumerate(TARGETS):
        ax.plot(trials, t_out[:, m], label=f"output {m + 1}")
        ax.axhline(target, color="0.5", ls="--", lw=0.8)
    for k, times in enumerate(np.array(result.times).T):
        ax.plot(trials, times, color="tab:green", lw=0.8, alpha=0.8, label="trainable input times" if k == 0 else None)
    ax.set(xlabel="trial", ylabel="time", title="output spike times (targets dashed)")
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.semilogy(trials, np.maximum(result.loss, 1e-30))
    ax.set(xlabel="trial", ylabel="loss", title="squared error")
    fig.tight_layout()
    save(fig, path, overwrite, dpi=150)
