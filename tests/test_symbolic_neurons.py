"""kernelalg.symbolic.neurons: the derived flows of QIF and LIF neurons and the theta neuron's phase
solve their ODEs (checked symbolically)."""

from __future__ import annotations

import pytest
import sympy as sp

from kernelalg.symbolic import neurons


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
