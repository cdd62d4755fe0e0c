"""kernelalg.plots: comparison plots of layer maps."""

from __future__ import annotations

import pytest

from kernelalg.cli import main


def test_plot_writes_a_figure(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "cmp.png"
    assert main(["plot", "--pair", "sign:gaussian", "--pair", "erf(m=2):gaussian", "-o", str(path)]) == 0
    assert path.stat().st_size > 10_000
