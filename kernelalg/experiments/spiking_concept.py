"""Concept: spike time against input weight and inhibition time, QIF versus LIF (docs/spiking.md section 8.1).

One neuron from rest.  ``vary_w``: one input at t = 0.5 of weight w in [0, 2 w_min];
``vary_t``: an excitatory input (1.5 w_min for QIF, 1.4 w_min for LIF) at 0.5 and an
inhibitory one (-w_min) at t_inh in [0, T].  QIF (T = 4): the spike time moves continuously and
enters or leaves the trial at T, continued by the pseudospike; LIF (T = 3): the spike appears
and vanishes abruptly inside the trial.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernelalg.progress import progress
from kernelalg.spiking.models import LIF, QIF
from kernelalg.spiking.single import first_output

SETUPS = {"qif": (QIF(), 4.0, 1.5), "lif": (LIF(), 3.0, 1.4)}


@dataclass
class Scan:
    values: np.ndarray  # the scanned parameter
    t: np.ndarray  # first output time (ordinary spike, else pseudospike for QIF, else inf)
    dt: np.ndarray  # its derivative with respect to the scanned parameter
    pseudo: np.ndarray


def scan(name: str, kind: str, points: int = 401, show_progress: bool = False, backend: str | None = None) -> Scan:
    model, T, exc = SETUPS[name]
    wmin = model.min_weight_to_spike
    values = np.linspace(0, 2 * wmin, points) if kind == "w" else np.linspace(0, T, points)
    t, dt, pseudo = np.empty(points), np.empty(points), np.zeros(points, bool)
    for i, v in enumerate(progress(values, desc=f"{name} vary {kind}", enabled=show_progress)):
        if kind == "w":
            t[i], parts, pseudo[i] = first_output(model, [v], [0.5], T, backend=backend)
            dt[i] = parts["W_in"][0, 0]
        else:
            t[i], parts, pseudo[i] = first_output(model, [-wmin, exc * wmin], [v, 0.5], T, backend=backend)
            dt[i] = parts["t_in"][0]
    return Scan(values, t, np.where(np.isfinite(t), dt, np.nan), pseudo)


def run(points: int = 401, show_progress: bool = True, backend: str | None = None) -> dict:
    scans = {(name, kind): scan(name, kind, points, show_progress, backend) for name in SETUPS for kind in ("w", "t")}
    metrics = {}
    for name, (model, T, exc) in SETUPS.items():
        s = scans[name, "w"]
        inside = np.isfinite(s.t) & ~s.pseudo
        first = int(np.argmax(inside))
        metrics[name] = {
            "T": T, "w_min": model.min_weight_to_spike,
            "first_in_trial_weight": float(s.values[first]),
            "first_in_trial_time": float(s.t[first]),
            "largest_time_step_in_trial": float(np.max(np.abs(np.diff(np.where(inside, s.t, T))))),
            "t_exc_only": first_output(model, [exc * model.min_weight_to_spike], [0.5], T, backend=backend)[0],
        }
    return {"scans": scans, "metrics": metrics}


def figure(result: dict, path, overwrite: bool = False) -> None:
    from kernelalg.experiments.figures import pyplot, save

    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(9, 5.6), sharex="col", gridspec_kw={"height_ratios": (2, 1)})
    colours = {"qif": "tab:blue", "lif": "tab:purple"}
    for col, kind in enumerate(("w", "t")):
        top, bottom = axes[0, col], axes[1, col]
        for name, (model, T, _) in SETUPS.items():
            s = result["scans"][name, kind]
            x = s.values / (2 * model.min_weight_to_spike) if kind == "w" else s.values / T
            top.plot(x, np.where(s.pseudo | ~np.isfinite(s.t), np.nan, s.t / T), color=colours[name],
                     label=f"{name.upper()} spike")
            if name == "qif":
                top.plot(x, np.where(s.pseudo, s.t / T, np.nan), color=colours[name], ls=":", label="QIF pseudospike")
            bottom.plot(x, s.dt, color=colours[name], lw=1, label=name.upper())
        top.axhline(1.0, color="0.6", lw=0.8)
        top.set(ylabel="spike time / T", title="vary input weight" if kind == "w" else "vary inhibition time")
        top.legend(fontsize=7)
        bottom.set(xlabel="w / (2 w_min)" if kind == "w" else "t_inh / T", ylim=(-20, 1),
                   ylabel="dt/dw" if kind == "w" else "dt/dt_inh")
        bottom.legend(fontsize=7)
    fig.tight_layout()
    save(fig, path, overwrite, dpi=150)
