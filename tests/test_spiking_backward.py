"""kernelalg.spiking.backward: reverse-mode gradients equal the forward tangents."""

from __future__ import annotations

import numpy as np
import pytest

from kernelalg.spiking.backward import backward
from kernelalg.spiking.models import LIF, QIF, Theta
from kernelalg.spiking.outputs import output_times, output_vjp, rate_inputs, rate_inputs_vjp
from kernelalg.spiking.simulate import simulate
from tests.helpers import random_network


@pytest.mark.parametrize("model", [QIF(), Theta(tau=6 / np.pi), LIF()], ids=["qif", "theta", "lif"])
def test_reverse_mode_equals_forward_mode(model):
    """Reverse-mode gradients (events, pseudospikes, rate inputs) equal the forward tangents
    for a random loss on a batch of trials with different inputs."""
    p, layout, shape, T = random_network(model, 5)
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
