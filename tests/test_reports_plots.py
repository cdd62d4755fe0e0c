"""Derivation reports and comparison plots."""

from __future__ import annotations

import pytest

from kernelalg.cli import main


@pytest.mark.parametrize("suffix", [".md", ".tex"])
def test_report_has_functions_routes_formulas_and_verification(tmp_path, suffix, capsys):
    path = tmp_path / f"report{suffix}"
    assert main(["derive", "--phi", "step(t=0.5)", "--psi", "gaussian", "--report", str(path)]) == 0
    text = path.read_text()
    assert "Owen" in text and "delta conditioning" in text and "DiracDelta" not in text.split("Derivations")[-1][:0]
    assert ("| nngp |" in text) if suffix == ".md" else (r"\begin{tabular}" in text and r"\end{document}" in text)


def test_report_rejects_unknown_format(tmp_path, capsys):
    assert main(["derive", "--phi", "sign", "--report", str(tmp_path / "r.html")]) == 2


def test_plot_writes_a_figure(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "cmp.png"
    assert main(["plot", "--pair", "sign:gaussian", "--pair", "erf(m=2):atan", "-o", str(path)]) == 0
    assert path.stat().st_size > 10_000
