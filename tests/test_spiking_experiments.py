"""Spiking learning experiments (SPIKING.md 4.1, 4.2): quick versions in CI, the full
single-neuron run (3000 trials, about 30 s) behind the slow marker."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kernelalg.cli import main
from kernelalg.experiments import spiking_concept, spiking_rnn, spiking_single


def test_concept_qif_enters_at_trial_end_lif_jumps():
    metrics = spiking_concept.run(points=101, show_progress=False)["metrics"]
    qif, lif = metrics["qif"], metrics["lif"]
    assert qif["first_in_trial_time"] > 0.9 * qif["T"]  # enters at the end of the trial
    assert lif["first_in_trial_time"] < 0.5 * lif["T"]  # appears abruptly inside
    assert abs(qif["t_exc_only"] - 2.19552) < 1e-4 and abs(lif["t_exc_only"] - 0.76493) < 1e-4


def test_single_neuron_gradients_pull_pseudospikes_toward_the_targets():
    run = spiking_single.run(trials=100, show_progress=False)
    assert run.pseudo[0] == [True, True]
    assert abs(run.loss[0] - 43.21) < 0.01  # the reference's trial-0 loss
    assert run.loss[-1] < run.loss[0]
    assert all(b < a for a, b in zip(run.t_out[0], run.t_out[-1]))


@pytest.mark.slow
def test_single_neuron_reaches_the_targets():
    run = spiking_single.run(trials=3000, show_progress=False)
    assert run.loss[-1] < 1e-10
    assert np.max(np.abs(np.array(run.t_out[-1]) - spiking_single.TARGETS)) < 1e-5
    assert run.pseudo[-1] == [False, False]


def test_cli_single_quick_json(tmp_path, capsys):
    assert main(["spiking", "single", "--quick", "--json", "--no-figures", "--out-dir", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"loss", "t_out", "trials"} and out["trials"] == 300
    assert (tmp_path / "single.json").exists()


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
