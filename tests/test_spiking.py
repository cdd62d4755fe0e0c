"""Spiking models: derived closed forms against the ODEs (symbolically) and against mpmath
ODE integration (1e-10 relative), exact gradients against central finite differences
(1e-6 relative) and the reference's recorded numbers, continuity across the trial end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from kernelalg.cli import main
from kernelalg.errors import InputError, SimulationError
from kernelalg.spiking.models import LIF, QIF, Theta
from kernelalg.spiking.backward import backward
from kernelalg.spiking.outputs import output_times, output_vjp, rate_inputs, rate_inputs_vjp
from kernelalg.spiking.simulate import Layout, simulate
from kernelalg.spiking.single import first_spike
from kernelalg.symbolic import neurons
from tests.witness import spiking as W

ROOT = Path(__file__).resolve().parent.parent
REL = 1e-10


def close(got, want, rel=REL):
    want = float(want)
    return abs(got - want) <= rel * abs(want) + 1e-300


# --- symbolic: the derived flows solve their ODEs -----------------------------------------

@pytest.fixture(scope="module")
def qif_model():
    return neurons.qif()


@pytest.mark.parametrize("case, current", [("pos", neurons.I), ("zero", 0), ("neg", neurons.I)])
def test_qif_flows_satisfy_the_ode(qif_model, case, current):
    f = qif_model.formula(f"flow_{case}")
    V, dt, tau = f.expr, neurons.dt, neurons.tau
    I_t = current * sp.exp(-2 * dt / tau)
    residual = tau * sp.diff(V, dt) - (V * (V - 1) + I_t)
    assumptions = {"pos": {neurons.I: sp.Symbol("q", positive=True)},
                   "neg": {neurons.I: -sp.Symbol("q", positive=True)}, "zero": {}}[case]
    assert sp.simplify(residual.subs(assumptions)) == 0
    assert sp.simplify(V.subs(dt, 0).subs(assumptions) - neurons.V) == 0


def test_lif_flow_and_theta_phase_satisfy_their_odes():
    lif = neurons.lif().formula("flow").expr
    dt, tau, V, I = neurons.dt, neurons.tau, neurons.V, neurons.I
    assert sp.simplify(tau * sp.diff(lif, dt) - (-lif + I * sp.exp(-2 * dt / tau))) == 0
    theta = neurons.theta()
    phase = theta.formula("phase").expr
    drive = neurons.drive
    # d phase / dt = 1 along the flow: Phi'(V) V' = Phi'(V) (V(V - 1) + drive)/tau = 1
    assert sp.simplify(sp.diff(phase, V) * (V * (V - 1) + drive) / tau - 1) == 0
    inverse = theta.formula("inverse").expr
    assert sp.simplify(phase.subs(V, inverse).subs({drive: sp.Rational(5, 4), tau: 1}).subs(neurons.phi, sp.Rational(1, 3))
                       - sp.Rational(1, 3)) == 0


def test_generated_modules_are_the_derivation_output():
    """The committed NumPy modules are exactly what the derivation script writes now."""
    run = subprocess.run([sys.executable, str(ROOT / "derivations" / "spiking_models.py"), "--check"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


# --- numeric: generated closed forms against mpmath ODE integration ------------------------

QIF_FLOWS = [  # (V0, I0, t): every branch, |V0| <, =, > sqrt|I0|, and close to blow-up
    (0.3, 2.0, 0.4), (-3.0, 7.0, 1.0), (0.5, -1.0, 0.7), (2.0, -1.0, 0.2), (1.0, -1.0, 0.5),
    (-1.0, -1.0, 0.5), (0.8, 0.0, 0.5), (-2.0, 0.0, 3.0), (0.0, 1e-8, 2.0), (0.0, -1e-8, 2.0),
    (0.0, 2.8375, 2.695), (1e3, 0.0, 0.000999), (5.0, -4.0, 0.35), (-1e6, 12.0, 0.76),
]


@pytest.mark.parametrize("V0, I0, t", QIF_FLOWS)
def test_qif_flow_matches_ode_integration(V0, I0, t):
    x, _, _ = QIF().flow(QIF().initial(np.array([V0]), np.array([I0])), t)
    assert close(x[0, 0], W.qif_voltage(V0, I0, t)), (x[0, 0], W.qif_voltage(V0, I0, t))
    assert close(x[1, 0], I0 * np.exp(-2 * t))


QIF_SPIKES = [(0.0, 2.8375), (0.3, 2.0), (-1e6, 12.0), (2.0, -1.0), (5.0, -4.0), (3.0, 0.0), (1.5, 1e-9),
              (0.0, 9.0), (1.2, -0.01)]


@pytest.mark.parametrize("V0, I0", QIF_SPIKES)
def test_qif_spike_time_matches_blow_up(V0, I0):
    dt, _ = QIF().time_to_spike(QIF().initial(np.array([V0]), np.array([I0])))
    assert close(dt[0], W.qif_blowup(V0, I0)), (dt[0], W.qif_blowup(V0, I0))


@pytest.mark.parametrize("V0, I0", [(0.0, 2.0), (0.9, -1.0), (0.5, 0.0), (-1e6, 9.0), (0.99, -1e-3)])
def test_qif_silent_cases_do_not_blow_up(V0, I0):
    dt, grad = QIF().time_to_spike(QIF().initial(np.array([V0]), np.array([I0])))
    assert dt[0] == np.inf and not grad.any()
    assert W.qif_blowup(V0, I0, horizon=30) is None


@pytest.mark.parametrize("V0, I0, t", [(0.0, 4.6, 0.3), (0.7, -2.0, 1.1), (0.2, 0.0, 2.0)])
def test_lif_flow_and_spike_match_ode_integration(V0, I0, t):
    lif = LIF()
    x0 = lif.initial(np.array([V0]), np.array([I0]))
    x, _, _ = lif.flow(x0, t)
    assert close(x[0, 0], W.lif_voltage(V0, I0, t))
    dt, _ = lif.time_to_spike(x0)
    want = W.lif_crossing(V0, I0)
    assert (dt[0] == np.inf) if want is None else close(dt[0], want)


def test_lif_spike_time_at_threshold_current():
    dt, _ = LIF().time_to_spike(LIF().initial(np.zeros(2), np.array([4.6, 4.0 * (1 + 1e-9)])))
    assert close(dt[0], W.lif_crossing(0.0, 4.6))
    assert close(dt[1], W.lif_crossing(0.0, 4.0 * (1 + 1e-9)), 1e-6)


@pytest.mark.parametrize("V, w", [(0.0, 0.3), (-2.0, 1.5), (3.0, -0.7), (0.5, 40.0)])
def test_theta_phase_and_transfer(V, w):
    th = Theta()
    phase = th.initial(np.array([V]))
    assert close(phase[0, 0], W.theta_phase(V))
    H, _, _ = th.receive(phase, np.array([w]))
    assert close(H[0, 0], W.theta_phase(V + w))
    assert close(th.period, mp.pi * 1.0)


@pytest.mark.parametrize("V0, t", [(0.0, 0.5), (-3.0, 1.0), (2.0, 0.3), (0.5, 1.5)])
def test_theta_flow_matches_ode_integration(V0, t):
    """The derived phase advances at rate one: V(t) = Phi^-1(Phi(V0) + t) solves the ODE."""
    from kernelalg.spiking.generated import theta as generated
    th = Theta()
    V = generated.inverse(th.initial(np.array([V0]))[0, 0] + t, th.drive, th.tau)
    assert close(float(V), W.theta_voltage(V0, t))


# --- exact gradients ------------------------------------------------------------------------

def _outputs(model, params, layout, shape, T, n=3, gradients=True):
    W_in, W_net, t_in, x0 = _unflatten(params, layout)
    trace = simulate(model, W_in, W_net, x0, t_in[None], shape["sources"][None], T, max_events=200,
                     gradients=gradients)
    outs = [output_times(model, trace, i, n) for i in range(layout.N)]
    times = np.concatenate([o[0][0] for o in outs])
    grads = np.concatenate([o[1][0] for o in outs]) if gradients else None
    return times, grads, np.concatenate([o[2][0] for o in outs])


def _unflatten(p, layout):
    parts = layout.split(p)
    return parts["W_in"], parts["W_net"], parts["t_in"], parts["x0"]


def _random_network(model, seed, N=4, Nin=3, S=6, T=4.0):
    rng = np.random.default_rng(seed)
    scale = 4.0 if model.D == 2 else 1.0
    W_in = rng.uniform(0.3, 1.2, (N, Nin)) * scale * rng.choice([1, 1, -0.5], (N, Nin))
    W_net = rng.normal(0, 0.5 * scale, (N, N))
    np.fill_diagonal(W_net, 0)
    t_in = np.sort(rng.uniform(0, 0.8 * T, S))
    sources = rng.integers(0, Nin, S)
    if model.D == 2:
        x0 = np.stack([rng.uniform(-0.5, 0.5, N), np.where(rng.random(N) < 0.5, 0.0, rng.normal(0, 1, N))])
    else:
        x0 = rng.uniform(0.2, 0.8, (1, N)) * model.period
    layout = Layout(N, Nin, S, model.D)
    p = np.concatenate([W_in.ravel(), W_net.ravel(), t_in, x0.ravel()])
    return p, layout, {"sources": sources}, T


@pytest.mark.parametrize("model", [QIF(), Theta(tau=6 / np.pi), LIF()], ids=["qif", "theta", "lif"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_gradients_match_central_differences(model, seed):
    p, layout, shape, T = _random_network(model, seed)
    times, grads, _ = _outputs(model, p, layout, shape, T)
    finite = np.isfinite(times)
    assert finite.sum() >= 3
    fd = np.zeros_like(grads)
    for k in range(p.size):
        h = 1e-6 * max(1.0, abs(p[k]))
        up, down = p.copy(), p.copy()
        up[k] += h
        down[k] -= h
        t_up, _, _ = _outputs(model, up, layout, shape, T, gradients=False)
        t_down, _, _ = _outputs(model, down, layout, shape, T, gradients=False)
        with np.errstate(invalid="ignore"):  # inf - inf where LIF has no spike; masked
            fd[:, k] = np.where(finite, (t_up - t_down) / (2 * h), 0.0)
    g = np.where(finite[:, None], grads, 0.0)
    scale = np.maximum(np.abs(g), np.abs(g).max(axis=1, keepdims=True) * 1e-3 + 1e-12)
    assert (np.abs(fd - g) <= 1e-6 * scale + 1e-7 * np.abs(g).max()).all(), np.abs(fd - g).max()


def test_reference_spike_time_and_derivative():
    """docs/spiking.md section 8.1: w = 1.15 w_min at t = 0.5, T = 4: t = 3.1957, dt/dw = -2.4345."""
    r = first_spike("qif", 1.15 * QIF().min_weight_to_spike, 0.5, 4.0)
    assert not r.pseudo and abs(r.t - 3.1957) < 5e-5 and abs(r.dt_dw + 2.4345) < 5e-5
    r = first_spike("qif", 1.5 * QIF().min_weight_to_spike, 0.5, 4.0)
    assert abs(r.t - 2.1955) < 5e-5 and abs(r.dt_dw + 0.6011) < 5e-5


def _crossing_weight(t_in=0.5, T=4.0):
    lo, hi = QIF().min_weight_to_spike, 60.0
    assert not first_spike("qif", hi, t_in, T).pseudo
    for _ in range(80):
        mid = (lo + hi) / 2
        r = first_spike("qif", mid, t_in, T)
        lo, hi = (mid, hi) if r.pseudo else (lo, mid)
    return (lo + hi) / 2


def test_trial_end_crossing_is_smooth():
    """docs/spiking.md section 6.5: the spike crosses T at w_c ~ 2.6235 with dt/dw ~ -6.121 on both sides."""
    wc = _crossing_weight()
    assert abs(wc - 2.6235) < 1e-3
    below, above = first_spike("qif", wc * (1 - 1e-5), 0.5, 4.0), first_spike("qif", wc * (1 + 1e-5), 0.5, 4.0)
    assert below.pseudo and not above.pseudo
    assert abs(below.dt_dw + 6.121) < 2e-3 and abs(above.dt_dw + 6.121) < 2e-3
    assert abs(below.t - above.t) < 7 * wc * 2e-5


@settings(max_examples=15, deadline=None)
@given(st.floats(0.0, 3.0))
def test_spike_continues_as_pseudospike_across_trial_end(t_in):
    """Property: the first output time is continuous in w across the crossing of T, and its
    derivative jumps there by no more than it changes over the same step on one side."""
    T, rel = 4.0, 1e-4
    wc = _crossing_weight(t_in, T)
    a, b = first_spike("qif", wc * (1 - rel), t_in, T), first_spike("qif", wc * (1 + rel), t_in, T)
    c = first_spike("qif", wc * (1 + 3 * rel), t_in, T)
    assert a.pseudo and not b.pseudo
    slope = max(abs(a.dt_dw), abs(b.dt_dw))
    assert abs(a.t - b.t) <= 1.05 * slope * 2 * rel * wc
    assert abs(a.dt_dw - b.dt_dw) <= 2 * abs(c.dt_dw - b.dt_dw) + 1e-3 * slope
    assert abs(a.dt_dtin - b.dt_dtin) <= 2 * abs(c.dt_dtin - b.dt_dtin) + 1e-3 * max(1, abs(b.dt_dtin))


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["qif", "theta"]))
def test_spikes_enter_and_leave_only_at_the_trial_end(seed, name):
    """Property: scanning an input weight, output times (ordinary spikes, then pseudospikes
    with the network's rate input) move continuously: a spike that leaves the trial at T
    continues as a pseudospike, none appears or vanishes inside the trial."""
    model = QIF() if name == "qif" else Theta(tau=6 / np.pi)
    rng = np.random.default_rng(seed)
    N, T = 3, 2.0 if name == "theta" else 4.0
    W_net = rng.normal(0, 1.0, (N, N))
    np.fill_diagonal(W_net, 0)
    x0 = model.initial(rng.uniform(-0.5, 0.5, N)) if name == "qif" else np.full((1, N), 0.3 * model.period)
    gain = rng.uniform(0.5, 1.0, (N, 1))

    def outputs(w):
        trace = simulate(model, w * gain, W_net, x0, [[0.3]], [[0]], T, max_events=100, gradients=False)
        inputs, _ = rate_inputs(model, trace, W_net, passes=N)
        return np.concatenate([output_times(model, trace, i, 4, inputs)[0][0] for i in range(N)])

    ws = np.linspace(0, 8.0 if name == "qif" else 3.0, 201)
    values = [outputs(w) for w in ws]
    for lo, hi, a, b in zip(ws, ws[1:], values, values[1:]):
        if np.abs(a - b).max() < 0.02:
            continue
        for _ in range(30):  # a steep stretch must flatten under refinement; a jump would not
            mid = (lo + hi) / 2
            m = outputs(mid)
            lo, hi, a, b = (lo, mid, a, m) if np.abs(a - m).max() >= np.abs(m - b).max() else (mid, hi, m, b)
        assert np.abs(a - b).max() < 1e-4, (lo, hi, a, b)


def test_lif_spike_appears_inside_the_trial():
    """The contrast: at the threshold weight 4 the LIF spike appears abruptly near 0.3 T."""
    below = first_spike("lif", 4 * (1 - 1e-6), 0.5, 3.0)
    above = first_spike("lif", 4 * (1 + 1e-6), 0.5, 3.0)
    assert below.t is None and above.t is not None and above.t < 0.5 * 3.0
    assert abs(above.dt_dw) > 100


# --- bad input and the command line ---------------------------------------------------------

def test_event_budget_exhaustion_is_an_error():
    with pytest.raises(SimulationError, match="max_events"):
        simulate(QIF(), [[20.0]], [[0.0]], QIF().initial(np.zeros(1)), [[0.1, 0.2, 0.3]], [[0, 0, 0]], 10.0,
                 max_events=3)


@pytest.mark.parametrize("kwargs", [
    {"W_in": [[np.nan]]}, {"W_net": [[0.0, 1.0]]}, {"times": [[np.nan]]}, {"sources": [[3]]}, {"T": -1.0},
    {"x0": np.zeros((2, 2))},
])
def test_bad_simulation_input(kwargs):
    args = {"W_in": [[1.0]], "W_net": [[0.0]], "x0": QIF().initial(np.zeros(1)), "times": [[0.5]],
            "sources": [[0]], "T": 4.0}
    args.update(kwargs)
    with pytest.raises(InputError):
        simulate(QIF(), args["W_in"], args["W_net"], args["x0"], args["times"], args["sources"], args["T"])


def test_bad_model_parameters():
    with pytest.raises(InputError):
        Theta(drive=0.2)
    with pytest.raises(InputError):
        QIF(tau=-1)
    with pytest.raises(InputError):
        first_spike("hodgkin", 1.0, 0.5, 4.0)


def test_cli_spike_time_json(capsys):
    assert main(["spiking", "spike-time", "--model", "qif", "--w", "2.837511", "--t-in", "0.5", "--T", "4",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"t", "pseudo", "dt_dw", "dt_dtin"} and abs(out["t"] - 3.1957) < 1e-4
    assert main(["spiking", "spike-time", "--model", "lif", "--w", "1", "--t-in", "0.5", "--T", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["t"] is None
    assert main(["spiking", "spike-time", "--w", "1", "--t-in", "9", "--T", "4"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("model", [QIF(), Theta(tau=6 / np.pi), LIF()], ids=["qif", "theta", "lif"])
def test_reverse_mode_equals_forward_mode(model):
    """Reverse-mode gradients (events, pseudospikes, rate inputs) equal the forward tangents
    for a random loss on a batch of trials with different inputs."""
    p, layout, shape, T = _random_network(model, 5)
    parts = layout.split(p)
    rng = np.random.default_rng(5)
    B, n = 3, 3
    times = parts["t_in"][None] + rng.uniform(-0.2, 0.2, (B, layout.S))
    trace = simulate(model, parts["W_in"], parts["W_net"], parts["x0"], times,
                     np.broadcast_to(shape["sources"], (B, layout.S)), T, max_events=200)
    inputs, d_inputs = rate_inputs(model, trace, parts["W_net"], passes=3)
    forward, dL_dt, dL_dx, dL_din = 0.0, 0.0, 0.0, 0.0
    for i in range(layout.N):
        t, g, _ = output_times(model, trace, i, n, inputs, d_inputs)
        lam = np.where(np.isfinite(t), rng.normal(size=(B, n)), 0.0)
        forward = forward + np.einsum("bn,bnp->bp", lam, np.nan_to_num(g))
        a, b, c = output_vjp(model, trace, i, n, lam, inputs)
        dL_dt, dL_dx, dL_din = dL_dt + a, dL_dx + b, dL_din + c
    dW, dx = rate_inputs_vjp(model, trace, parts["W_net"], dL_din, passes=3)
    grads = backward(model, trace, parts["W_in"], parts["W_net"], dL_dt, dL_dx + dx)
    want = layout.split(forward)
    for got, ref in ((grads.W_in, want["W_in"].sum(0)), (grads.W_net + dW, want["W_net"].sum(0)),
                     (grads.t_in, want["t_in"]), (grads.x0, want["x0"])):
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * max(1.0, np.abs(ref).max()))


def test_spike_counts_match_the_per_neuron_masks():
    model = Theta(tau=6 / np.pi)
    rng = np.random.default_rng(5)
    N, Nin, B = 5, 3, 4
    W_in, W_net = rng.uniform(0.5, 3.0, (N, Nin)), rng.normal(0, 1.0, (N, N))
    times = rng.uniform(0, 2.0, (B, 6))
    trace = simulate(model, W_in, W_net, np.full((1, N), 2.0), times, rng.integers(0, Nin, (B, 6)), 4.0,
                     max_events=60, gradients=False)
    counts = trace.spike_counts()
    assert counts.shape == (B, N) and counts.sum() > 0
    np.testing.assert_array_equal(counts, np.stack([trace.spikes(i).sum(axis=1) for i in range(N)], axis=1))


def test_membrane_traces_follow_the_ode():
    """traces(): the closed-form flow between events against mpmath integration of the QIF ODE
    (one input at 0.5), and the theta neuron's voltage from its phase."""
    from kernelalg.spiking.traces import traces

    model = QIF()
    trace = simulate(model, [[2.0]], [[0.0]], model.initial(np.array([0.3])), [[0.5]], [[0]], 4.0, max_events=8)
    grid, V = traces(model, trace, dt=0.25)
    assert grid[0] == 0 and grid[-1] == 4.0 and V.shape == (len(grid), 1)
    for t in (0.25, 1.0, 1.75):  # before and after the input at 0.5 (no spike: w < pi^2/4)
        i = int(np.argmin(np.abs(grid - t)))
        want = W.qif_voltage(0.3, 0.0, t) if t < 0.5 else W.qif_voltage(float(W.qif_voltage(0.3, 0.0, 0.5)),
                                                                           2.0, t - 0.5)
        assert close(V[i, 0], want), (t, V[i, 0], want)
    th = Theta()
    trace = simulate(th, [[0.5]], [[0.0]], th.initial(np.array([-1.0])), [[1.0]], [[0]], 2.0, max_events=8)
    grid, V = traces(th, trace, dt=0.5)
    assert close(V[1, 0], W.theta_voltage(-1.0, 0.5))
    with pytest.raises(InputError):
        traces(th, trace, dt=0.0)


@pytest.mark.parametrize("model", ["qif", "theta", "lif"])
def test_cli_spike_time_backends_agree(model, capsys):
    argv = ["spiking", "spike-time", "--model", model, "--w", "6", "--t-in", "0.5", "--T", "4", "--json"]
    results = []
    for backend in ("numpy", "numba"):
        assert main([*argv, "--backend", backend]) == 0
        results.append(json.loads(capsys.readouterr().out))
    assert results[0] == pytest.approx(results[1], rel=1e-13)
