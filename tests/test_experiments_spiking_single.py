"""kernelalg.experiments.spiking_single: one QIF neuron learns two target times from pseudospikes
(quick run in CI, the full 3000 trials, about 30 s, behind the slow marker)."""

from __future__ import annotations

import numpy as np
import pytest

from kernelalg.experiments import spiking_single


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
