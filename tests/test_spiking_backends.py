"""The compiled backend against the NumPy specification: every record of the simulation, the
outputs (ordinary spikes, pseudospikes, rate inputs) with their tangents, and the reverse-mode
gradients agree to 1e-13 on random recurrent and layered networks of every model, including
QIF neurons at exactly zero current; backend selection; quick learning runs agree."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernelalg.errors import InputError
from kernelalg.experiments import spiking_deep, spiking_rnn, spiking_single
from kernelalg.spiking.backend import ENVIRONMENT, resolve
from kernelalg.spiking.backward import backward
from kernelalg.spiking.models import LIF, QIF, Neuron, Theta
from kernelalg.spiking.outputs import output_times, output_vjp, rate_inputs, rate_inputs_vjp
from kernelalg.spiking.simulate import setup, simulate, simulate_setup

MODELS = {"qif": QIF(), "theta": Theta(tau=6 / np.pi), "lif": LIF()}
TOL = 1e-13


def agree(a, b, what: str) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, what
    if a.dtype.kind in "bi":
        np.testing.assert_array_equal(a, b, err_msg=what)
        return
    np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b), err_msg=what)
    np.testing.assert_array_equal(a[~np.isfinite(a)], b[~np.isfinite(b)], err_msg=what)
    finite = np.isfinite(a)
    err = np.abs(a[finite] - b[finite]) / np.maximum(1.0, np.abs(a[finite]))
    assert err.max(initial=0.0) <= TOL, f"{what}: {err.max()}"


def network(name: str, seed: int, layered: bool, B: int = 3):
    """A random network of 5 neurons (3 inputs, 7 input spikes per trial, B trials): recurrent,
    or layered 2-2-1 (inputs feed the first layer only).  IF models start with zero current in
    about half of the neurons; QIF neuron 0 receives nothing and starts above the separatrix,
    so it fires from exactly I = 0 (the limits dflow/dI and dt*/dI at I = 0)."""
    model = MODELS[name]
    rng = np.random.default_rng(seed)
    N, Nin, S, T = 5, 3, 7, 4.0
    scale = 1.0 if name == "theta" else 4.0
    W_in = rng.uniform(0.3, 1.2, (N, Nin)) * scale * rng.choice([1, 1, -0.5], (N, Nin))
    W_net = rng.normal(0, 0.5 * scale, (N, N))
    np.fill_diagonal(W_net, 0)
    if layered:
        W_in[2:] = 0.0
        mask = np.zeros((N, N), bool)
        mask[2:4, :2] = mask[4, 2:4] = True
        W_net = np.where(mask, np.abs(W_net) + 0.5 * scale, 0.0)
    if name == "theta":
        x0 = rng.uniform(0.2, 0.8, (1, N)) * model.period
    else:
        x0 = np.stack([rng.uniform(-0.5, 1.5, N), np.where(rng.random(N) < 0.5, 0.0, rng.normal(0, 1, N))])
    if name == "qif":
        x0[:, 0], W_in[0], W_net[0] = (1.3, 0.0), 0.0, 0.0
    times = rng.uniform(0, 0.8 * T, (B, S))
    times[:, -1] = np.inf  # a padded slot
    return model, W_in, W_net, x0, times, rng.integers(0, Nin, (B, S)), T


def run(backend: str, model, W_in, W_net, x0, times, sources, T, gradients: bool, passes: int = 3):
    trace = simulate(model, W_in, W_net, x0, times, sources, T, max_events=200, gradients=gradients,
                     backend=backend)
    inputs, d_inputs = rate_inputs(model, trace, W_net, passes=passes)
    outs = [output_times(model, trace, i, 3, inputs, d_inputs if gradients else None) for i in range(W_net.shape[0])]
    rng = np.random.default_rng(0)
    lam = [np.where(np.isfinite(o[0]), rng.normal(size=o[0].shape), 0.0) for o in outs]
    dL_dt, dL_dx, dL_din = 0.0, 0.0, 0.0
    for i, l in enumerate(lam):
        a, b, c = output_vjp(model, trace, i, 3, l, inputs)
        dL_dt, dL_dx, dL_din = dL_dt + a, dL_dx + b, dL_din + c
    dW, dx = rate_inputs_vjp(model, trace, W_net, dL_din, passes=passes)
    grads = backward(model, trace, W_in, W_net, dL_dt, dL_dx + dx)
    return trace, inputs, d_inputs, outs, (dL_dt, dL_dx, dL_din, dW, dx), grads


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


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_updated_problem_simulates_as_a_new_one(backend):
    """``Setup.with_inputs`` (a training loop's update between trials) gives the trace of a new
    ``simulate`` call with the new input weights and times, tied input times included (taken
    in the caller's order by both backends), and checks the new values."""
    model, W_in, W_net, x0, times, sources, T = network("qif", 5, False)
    problem = setup(model, W_in, W_net, x0, times, sources, T)
    rng = np.random.default_rng(2)
    W_new, t_new = W_in * rng.uniform(0.5, 1.5, W_in.shape), rng.uniform(0, T, times.shape)
    t_new[:, 3] = t_new[:, 1]
    updated = simulate_setup(model, problem.with_inputs(W_new, t_new), 200, backend=backend)
    fresh = simulate(model, W_new, W_net, x0, t_new, sources, T, max_events=200, backend="numpy")
    for field in ("t", "index", "is_input", "x", "x_end", "input_slot", "imminent", "dt", "dx_end"):
        agree(getattr(fresh, field), getattr(updated, field), field)
    assert not np.array_equal(fresh.t, simulate_setup(model, problem, 200, backend=backend).t)  # inputs changed
    for bad in ((W_new[:, :2], t_new), (W_new, t_new[:1]), (W_new * np.nan, t_new), (W_new, t_new - np.inf)):
        with pytest.raises(InputError):
            problem.with_inputs(*bad)


def test_backend_selection(monkeypatch):
    monkeypatch.delenv(ENVIRONMENT, raising=False)
    assert resolve() == "numba" and resolve("numpy") == "numpy"
    monkeypatch.setenv(ENVIRONMENT, "numpy")
    assert resolve() == "numpy" and resolve("numba") == "numba"
    model, *rest = network("theta", 0, True)
    assert simulate(model, *rest, gradients=False).backend == "numpy"
    monkeypatch.setenv(ENVIRONMENT, "fortran")
    with pytest.raises(InputError, match=ENVIRONMENT):
        resolve()
    with pytest.raises(InputError, match="backend"):
        simulate(model, *rest, backend="jax")


def test_event_budget_exhaustion_is_an_error_in_both_backends():
    from kernelalg.errors import SimulationError

    for backend in ("numpy", "numba"):
        with pytest.raises(SimulationError, match="max_events=3"):
            simulate(QIF(), [[20.0]], [[0.0]], QIF().initial(np.zeros(1)), [[0.1, 0.2, 0.3]], [[0, 0, 0]], 10.0,
                     max_events=3, backend=backend)


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


def test_every_generated_formula_compiles_in_numba_unchanged():
    """The generated neuron modules are valid Numba code as they are (scalars), with the values
    of their NumPy evaluation."""
    import inspect

    from numba import njit

    from kernelalg.spiking import generated
    from kernelalg.symbolic.neurons import MODELS as DERIVED

    rng = np.random.default_rng(0)
    checked = 0
    for name in DERIVED:
        module = __import__(f"{generated.__name__}.{name}", fromlist=["_"])
        for fname, fn in inspect.getmembers(module, inspect.isfunction):
            args = rng.uniform(0.3, 2.0, len(inspect.signature(fn).parameters))
            with np.errstate(all="ignore"):  # the I < 0 branches at I > 0: nan in both
                want = np.atleast_1d(np.array(fn(*args), float))
            got = np.atleast_1d(np.array(njit(error_model="numpy")(fn)(*args), float))
            np.testing.assert_allclose(got, want, rtol=1e-13, err_msg=f"{name}.{fname}")
            checked += 1
    assert checked >= 30


class PhaseOscillator(Neuron):
    """A model written for this test only, to show that a new model is one class: the phase
    advances at rate one, fires at ``period``, and an input w moves it smoothly inside
    (0, period): H(phi, w) = phi + w phi (period - phi) / period^2 (|w| < 1)."""

    D = 1

    def __init__(self, period: float = 3.0):
        self.period = period

    @property
    def params(self):
        return (float(self.period),)

    def initial(self, V):
        return np.asarray(V, float)[None]

    def time_to_spike(self, x):
        return self.period - x[..., 0, :], -np.ones_like(x)

    def flow(self, x, dt):
        dt = np.asarray(dt, float)[..., None, None] * np.ones_like(x)
        return x + dt, np.ones(x.shape[:-1] + (1, x.shape[-1])), np.ones_like(x)

    def _transfer(self, phi, w):
        c = phi * (self.period - phi) / self.period**2
        return phi + w * c, 1 + w * (self.period - 2 * phi) / self.period**2, c + 0 * w

    def receive(self, x, w):
        H, H_phi, H_w = self._transfer(x[..., 0, :], w)
        return H[..., None, :], H_phi[..., None, None, :], H_w[..., None, :]

    def reset(self, x):
        return np.zeros_like(x), np.array([0.0])

    def pseudospike(self, x, k, inputs, T):
        H, H_phi, H_w = self._transfer(x[..., 0, :], inputs)
        return T + k * self.period - H, -H_phi[..., None, :], -H_w

    def pseudo_rate(self, x, inputs):
        H, H_phi, H_w = self._transfer(x[..., 0, :], inputs)
        return H / self.period, H_phi[..., None, :] / self.period, H_w / self.period

    @staticmethod
    def k_time_to_spike(p, x, n, g):
        g[0, n] = -1.0
        return p[0] - x[0, n]

    @staticmethod
    def k_flow(p, x, n, dt, y, J, F):
        y[0, n], J[0, 0, n], F[0, n] = x[0, n] + dt, 1.0, 1.0

    k_flow_onto_spike = k_flow

    @staticmethod
    def k_receive(p, y, n, w, partials, z, R, Rw):
        c = y[0, n] * (p[0] - y[0, n]) / p[0] ** 2
        z[0, n], R[0, 0, n], Rw[0, n] = y[0, n] + w * c, 1 + w * (p[0] - 2 * y[0, n]) / p[0] ** 2, c

    @staticmethod
    def k_reset(p, x, n, keep):
        x[0, n] = 0.0
        keep[0] = 0.0

    @staticmethod
    def k_pseudospike(p, x, n, k, inputs, T, g):
        c = x[0, n] * (p[0] - x[0, n]) / p[0] ** 2
        g[0, n] = -(1 + inputs * (p[0] - 2 * x[0, n]) / p[0] ** 2)
        return T + k * p[0] - (x[0, n] + inputs * c), -c

    @staticmethod
    def k_rate(p, x, n, inputs, g):
        c = x[0, n] * (p[0] - x[0, n]) / p[0] ** 2
        g[0, n] = (1 + inputs * (p[0] - 2 * x[0, n]) / p[0] ** 2) / p[0]
        return (x[0, n] + inputs * c) / p[0], c / p[0]


def test_a_new_model_is_one_class():
    """The simulator, outputs and both reverse passes run a model they have never seen, and
    the two backends agree; its reverse-mode gradient equals its forward tangents."""
    model = PhaseOscillator()
    rng = np.random.default_rng(4)
    N, Nin, B = 4, 2, 3
    W_in, W_net = rng.uniform(0.2, 0.9, (N, Nin)), rng.uniform(-0.6, 0.6, (N, N))
    args = (model, W_in, W_net, rng.uniform(0.5, 2.5, (1, N)), rng.uniform(0, 3, (B, 5)), rng.integers(0, Nin, (B, 5)),
            4.0)
    spec, fast = run("numpy", *args, gradients=True), run("numba", *args, gradients=True)
    assert (spec[0].index >= 0).sum() > 10 and any(o[2].any() for o in spec[3])  # spikes and pseudospikes
    for field in ("t", "x", "dt", "dx_end"):
        agree(getattr(spec[0], field), getattr(fast[0], field), field)
    for what in ("W_in", "W_net", "t_in", "x0"):
        agree(getattr(spec[5], what), getattr(fast[5], what), what)
    trace, inputs, d_inputs, outs = spec[:4]
    rng = np.random.default_rng(0)  # the adjoints run() drew
    lam = [np.where(np.isfinite(o[0]), rng.normal(size=o[0].shape), 0.0) for o in outs]
    forward = trace.layout.split(sum(np.einsum("bn,bnp->bp", l, o[1]) for l, o in zip(lam, outs)))
    np.testing.assert_allclose(spec[5].W_net + spec[4][3], forward["W_net"].sum(0), atol=1e-12)
    np.testing.assert_allclose(spec[5].t_in, forward["t_in"], atol=1e-12)
