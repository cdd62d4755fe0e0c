"""kernelalg.spiking.simulate: the event budget, bad input, and the spike counts of a trace."""

from __future__ import annotations

import numpy as np
import pytest

from kernelalg.errors import InputError, SimulationError
from kernelalg.spiking.models import QIF, Theta
from kernelalg.spiking.simulate import setup, simulate, simulate_setup
from tests.helpers import agree, network


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
