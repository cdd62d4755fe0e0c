"""kernelalg.spiking.simulate: the event budget, bad input, and the spike counts of a trace."""

from __future__ import annotations

import numpy as np
import pytest

from kernelalg.errors import InputError, SimulationError
from kernelalg.spiking.models import QIF, Theta
from kernelalg.spiking.simulate import simulate


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


def test_event_budget_exhaustion_is_an_error_in_both_backends():
    from kernelalg.errors import SimulationError

    for backend in ("numpy", "numba"):
        with pytest.raises(SimulationError, match="max_events=3"):
            simulate(QIF(), [[20.0]], [[0.0]], QIF().initial(np.zeros(1)), [[0.1, 0.2, 0.3]], [[0, 0, 0]], 10.0,
                     max_events=3, backend=backend)
