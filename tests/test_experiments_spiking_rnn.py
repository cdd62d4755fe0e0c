"""kernelalg.experiments.spiking_rnn: the recurrent QIF network task (quick runs in CI, the full
run behind the slow marker)."""

from __future__ import annotations

import numpy as np
import pytest

from kernelalg.experiments import spiking_rnn


def test_recurrent_network_task_and_first_trials():
    """The task follows the reference's construction; the loss decreases in the first trials."""
    task = spiking_rnn.make_task()
    assert task.times.shape[1] > 100 and (task.times > 0).all() and (task.times < spiking_rnn.T).all()
    for target in task.targets:
        assert target[-1] == 1.1 * spiking_rnn.T and (np.diff(target[:-1]) >= 1.0).all()
    run = spiking_rnn.run(trials=20, show_progress=False)
    assert run.loss[-1] < run.loss[0]


@pytest.mark.slow
def test_recurrent_network_reaches_all_targets():
    run = spiking_rnn.run(trials=10_000, show_progress=False)
    assert run.targets_reached and run.loss[-1] < 1e-3


def test_recurrent_evaluation_without_nontarget_recurrence():
    W = np.arange(100.0).reshape(10, 10)
    off = spiking_rnn.without_nontarget_recurrence(W, 2)
    assert (off[2:] == 0).all() and (off[:2] == W[:2]).all() and (W[2:] != 0).any()
    run = spiking_rnn.run(trials=2, show_progress=False)
    summary = run.ablation_summary()
    assert set(summary) == {"loss", "targets_reached", "outputs", "counts", "max_deviation_from_target"}
    assert len(run.final["trace_V"]) == 2 and len(run.final["trace_t"]) == len(run.final["trace_V"][0])
    assert run.final["loss"] == pytest.approx(run.loss[-1], rel=1e-12)
