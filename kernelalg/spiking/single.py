"""One neuron, one input spike: the first output spike time and its exact derivatives."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernelalg.errors import InputError
from kernelalg.spiking.models import MODELS
from kernelalg.spiking.outputs import output_times
from kernelalg.spiking.simulate import simulate


@dataclass(frozen=True)
class SpikeTime:
    """First output time ``t`` (None: no spike and no pseudodynamics), whether it is a
    pseudospike, and dt/dw, dt/dt_in."""

    t: float | None
    pseudo: bool
    dt_dw: float
    dt_dtin: float

    def as_dict(self) -> dict:
        return {"t": self.t, "pseudo": self.pseudo, "dt_dw": self.dt_dw, "dt_dtin": self.dt_dtin}


def first_spike(model: str | object, w: float, t_in: float, T: float, V0: float = 0.0,
                backend: str | None = None) -> SpikeTime:
    """Simulate one neuron from V = V0 (and zero current) with one input of weight ``w`` at
    ``t_in``; the theta neuron starts at the phase of V0."""
    if isinstance(model, str):
        if model not in MODELS:
            raise InputError(f"unknown neuron model {model!r}; choose from {', '.join(MODELS)}")
        model = MODELS[model]()
    for name, value in (("w", w), ("t_in", t_in), ("T", T), ("V0", V0)):
        if not np.isfinite(value):
            raise InputError(f"{name} must be finite, got {value!r}")
    if not 0 <= t_in <= T:
        raise InputError(f"the input time must lie in the trial [0, T], got t_in = {t_in}, T = {T}")
    t, parts, pseudo = first_output(model, [w], [t_in], T, V0, backend)
    if not np.isfinite(t):
        return SpikeTime(None, False, 0.0, 0.0)
    return SpikeTime(t, pseudo, float(parts["W_in"][0, 0]), float(parts["t_in"][0]))


def first_output(model, weights, times, T: float, V0: float = 0.0,
                 backend: str | None = None) -> tuple[float, dict, bool]:
    """One neuron from V = V0 with inputs of the given weights at the given times: its first
    output time (+inf if none), the gradient split by parameter (``Layout.split``), and
    whether the output is a pseudospike."""
    trace = simulate(model, [weights], [[0.0]], model.initial(np.array([V0])), [times],
                     [list(range(len(times)))], T=T, max_events=64, backend=backend)
    out, grads, pseudo = output_times(model, trace, 0, 1)
    return float(out[0, 0]), trace.layout.split(grads[0, 0]), bool(pseudo[0, 0])
