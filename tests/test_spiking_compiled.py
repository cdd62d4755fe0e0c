"""kernelalg.spiking.compiled (and loops): the compiled backend against the NumPy specification.

Every record of the simulation, the outputs (ordinary spikes, pseudospikes, rate inputs) with
their tangents, and the reverse-mode gradients agree to 1e-13 on random recurrent and layered
networks of every model, including QIF neurons at exactly zero current; traces are
interchangeable between the backends; quick learning runs agree."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernelalg.experiments import spiking_deep, spiking_rnn, spiking_single
from kernelalg.spiking.backward import backward
from kernelalg.spiking.outputs import output_times
from kernelalg.spiking.simulate import simulate
from tests.helpers import MODELS, agree, network, run


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 2**31 - 1))
@pytest.mark.parametrize("layered", [False, True], ids=["recurrent", "layered"])
@pytest.mark.parametrize("gradients", [True, False], ids=["tangents", "values"])
@pytest.mark.parametrize("name", MODELS)
def test_compiled_backend_equals_numpy_specification(name, gradients, layered, seed):
    args = network(name, seed, layered)
    spec, fast = run("numpy", *args, gradients), run("numba", *args, gradients)
    assert spec[0].backend == "numpy" and fast[0].backend == "numba"
    for field in ("t", "index", "is_input", "x", "x_end", "x0", "input_slot", "imminent", "dt", "dx_end"):
        a, b = getattr(spec[0], field), getattr(fast[0], field)
        absent = (field in ("dt", "dx_end") and not gradients) or (field == "imminent" and name != "qif")
        assert (a is None) == (b is None) == absent, field
        if a is not None:
            agree(a, b, field)
    agree(spec[1], fast[1], "rate inputs")
    agree(spec[2], fast[2], "rate input tangents")
    for i, (a, b) in enumerate(zip(spec[3], fast[3])):
        agree(a[0], b[0], f"output times of neuron {i}")
        agree(a[2], b[2], f"pseudo mask of neuron {i}")
        assert (a[1] is None) == (b[1] is None) == (not gradients)
        if gradients:
            agree(a[1], b[1], f"output tangents of neuron {i}")
    for what, a, b in zip(("dL/dt", "dL/dx_end", "dL/dinputs", "rate dW", "rate dx"), spec[4], fast[4]):
        agree(a, b, what)
    for what in ("W_in", "W_net", "t_in", "x0"):
        agree(getattr(spec[5], what), getattr(fast[5], what), f"gradient {what}")


def test_pseudospikes_and_zero_current_limits_are_exercised():
    """The random networks above reach every branch the agreement is meant to cover."""
    model, *rest = network("qif", 3, False)
    trace = simulate(model, *rest, max_events=200, backend="numpy")
    assert (trace.x[trace.spikes(0)][:, 1, 0] == 0).all() and trace.spikes(0).sum(axis=1).min() == 1  # fired at I = 0
    assert trace.imminent.any() and (trace.index >= 0).sum() > 10
    out = [output_times(model, trace, i, 3) for i in range(5)]
    assert any(o[2].any() for o in out) and any((~o[2]).any() for o in out)


@pytest.mark.parametrize("name", MODELS)
def test_traces_are_interchangeable_between_backends(name):
    """A trace of one backend fed to the other's outputs and reverse pass gives the same numbers."""
    model, W_in, W_net, x0, times, sources, T = network(name, 11, False)
    trace = simulate(model, W_in, W_net, x0, times, sources, T, max_events=200, backend="numpy")
    dL_dt = np.where(np.isfinite(trace.t), 1.0, 0.0)
    a, b = (backward(model, trace, W_in, W_net, dL_dt, backend=be) for be in ("numpy", "numba"))
    for what in ("W_in", "W_net", "t_in", "x0"):
        agree(getattr(a, what), getattr(b, what), what)


def _close(a, b, rel=1e-9):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.all(np.abs(a - b) <= rel * np.maximum(1.0, np.abs(a)))


def test_quick_learning_runs_agree_between_backends():
    """The learning experiments give the same numbers on both paths (to rounding)."""
    single = [spiking_single.run(trials=40, show_progress=False, backend=be) for be in ("numpy", "numba")]
    assert _close(single[0].loss, single[1].loss) and _close(single[0].t_out, single[1].t_out)
    rnn = [spiking_rnn.run(trials=8, show_progress=False, backend=be) for be in ("numpy", "numba")]
    assert _close(rnn[0].loss, rnn[1].loss)
    config = spiking_deep.config_for("yinyang", quick=True)
    config = spiking_deep.DeepConfig(**{**config.__dict__, "epochs": 1, "train_size": 100, "test_size": 50})
    deep = [spiking_deep.train(spiking_deep.DeepConfig(**{**config.__dict__, "backend": be}), show_progress=False)
            for be in ("numpy", "numba")]
    assert _close(deep[0]["train_loss"], deep[1]["train_loss"])
    assert deep[0]["final"]["acc"] == deep[1]["final"]["acc"]
