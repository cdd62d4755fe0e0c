"""Membrane traces on a time grid, for figures: between events every neuron follows its
closed-form flow from the state after the last event (nothing is integrated numerically)."""

from __future__ import annotations

import numpy as np

from kernelalg.errors import InputError
from kernelalg.spiking.simulate import Trace


def traces(model, trace: Trace, trial: int = 0, dt: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Times (G,) on [0, T] with step ``dt`` (plus T) and the membrane potentials (G, N) of all
    neurons of one trial: at a grid time s after event k (the last event at or before s) the
    state is flow(x_k, s - t_k), the voltage ``model.voltage`` of it.  Spikes are the
    divergences of V (QIF, theta) or the threshold crossings (LIF) just before the resets."""
    if not (np.isfinite(dt) and dt > 0):
        raise InputError(f"trace step dt must be positive, got {dt!r}")
    if trace.x0 is None or not 0 <= trial < trace.t.shape[0]:
        raise InputError(f"trial {trial} is not in the simulated batch of {trace.t.shape[0]}")
    grid = np.append(np.arange(0.0, trace.T, dt), trace.T)
    used = np.isfinite(trace.t[trial]) & (trace.t[trial] < trace.T)
    times = np.concatenate([[0.0], trace.t[trial][used]])
    states = np.concatenate([trace.x0[trial][None], trace.x[trial][used]])
    last = np.searchsorted(times, grid, side="right") - 1
    x, _, _ = model.flow(states[last], grid - times[last])
    return grid, model.voltage(x)
