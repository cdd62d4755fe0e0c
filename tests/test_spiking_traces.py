"""kernelalg.spiking.traces: membrane traces between events against mpmath ODE integration."""

from __future__ import annotations

import numpy as np
import pytest

from kernelalg.errors import InputError
from kernelalg.spiking.models import QIF, Theta
from kernelalg.spiking.simulate import simulate
from tests.helpers import close
from tests.witness import spiking as W


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
