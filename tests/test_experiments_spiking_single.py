"""kernelalg.experiments.spiking_single: one QIF neuron learns two target times from pseudospikes
(a quick run, and the full 3000 trials, about a second on the compiled path, against the
committed record)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kernelalg.experiments import spiking_single


def test_single_neuron_gradients_pull_pseudospikes_toward_the_targets():
    run = spiking_single.run(trials=100, show_progress=False)
    assert run.pseudo[0] == [True, True]
    assert abs(run.loss[0] - 43.21) < 0.01  # the reference's trial-0 loss
    assert run.loss[-1] < run.loss[0]
    assert all(b < a for a, b in zip(run.t_out[0], run.t_out[-1]))


COMMITTED_SINGLE = Path(__file__).resolve().parent.parent / "derivations" / "figures" / "single.json"


def test_single_neuron_reaches_the_targets_as_in_the_committed_run():
    """The full run (about a second compiled) reaches the targets and reproduces the committed
    record; each trial of the run (its problem checked once, then updated per trial) equals
    the public ``loss_and_grad`` at that trial's weights and times."""
    run = spiking_single.run(trials=3000, show_progress=False)
    assert run.loss[-1] < 1e-10
    assert np.max(np.abs(np.array(run.t_out[-1]) - spiking_single.TARGETS)) < 1e-5
    assert run.pseudo[-1] == [False, False]
    committed = json.loads(COMMITTED_SINGLE.read_text())
    for key in ("t_out", "initial_t_out", "final_weights", "final_times", "loss_curve"):
        np.testing.assert_allclose(run.as_dict()[key], committed[key], rtol=1e-12, atol=1e-14, err_msg=key)
    for k in (0, 1234, 3000):
        loss, _, _, out, pseudo = spiking_single.loss_and_grad(np.array(run.weights[k]), np.array(run.times[k]))
        assert (loss, out.tolist(), pseudo.tolist()) == (run.loss[k], run.t_out[k], run.pseudo[k])
