"""kernelalg.spiking.models: the generated closed forms of QIF, LIF and theta neurons against mpmath
ODE integration (1e-10 relative), parameter checks, and the neuron interface: a model written
here runs on both backends."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

from kernelalg.errors import InputError
from kernelalg.spiking.models import LIF, QIF, Neuron, Theta
from kernelalg.spiking.single import first_spike
from tests.helpers import agree, close, run
from tests.witness import spiking as W

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


def test_bad_model_parameters():
    with pytest.raises(InputError):
        Theta(drive=0.2)
    with pytest.raises(InputError):
        QIF(tau=-1)
    with pytest.raises(InputError):
        first_spike("hodgkin", 1.0, 0.5, 4.0)


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
