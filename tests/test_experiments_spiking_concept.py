"""kernelalg.experiments.spiking_concept: a QIF spike enters at the trial end, a LIF spike jumps."""

from __future__ import annotations

from kernelalg.experiments import spiking_concept


def test_concept_qif_enters_at_trial_end_lif_jumps():
    metrics = spiking_concept.run(points=101, show_progress=False)["metrics"]
    qif, lif = metrics["qif"], metrics["lif"]
    assert qif["first_in_trial_time"] > 0.9 * qif["T"]  # enters at the end of the trial
    assert lif["first_in_trial_time"] < 0.5 * lif["T"]  # appears abruptly inside
    assert abs(qif["t_exc_only"] - 2.19552) < 1e-4 and abs(lif["t_exc_only"] - 0.76493) < 1e-4
