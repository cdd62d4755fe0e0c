"""kernelalg.reports: derivation reports (Markdown, LaTeX)."""

from __future__ import annotations

import pytest

from kernelalg.cli import main


@pytest.mark.parametrize("suffix,verify", [(".md", False), (".tex", False),
                                           pytest.param(".md", True, marks=pytest.mark.slow)])
def test_report_has_functions_routes_formulas_and_verification(tmp_path, suffix, verify, capsys, monkeypatch):
    from kernelalg.numeric import validation
    # the verification itself (mpmath quadrature, about a minute at one covariance) runs with
    # --runslow (`kernelalg run`, tested in CI, runs it too); otherwise its table is stubbed
    monkeypatch.setattr(validation, "MODERATE", validation.MODERATE[:1])
    if not verify:
        from kernelalg import reports
        monkeypatch.setattr(reports, "check_maps", lambda maps: [
            validation.MapCheck(name, "closed form", None, 1e-16, 1e-16, 10) for name in ("nngp", "sg", "ntk", "surrogate")])
    path = tmp_path / f"report{suffix}"
    assert main(["derive", "--phi", "sign", "--psi", "gaussian", "--report", str(path)]) == 0
    text = path.read_text()
    assert "Price" in text and "delta conditioning" in text and r"\operatorname{asin}" in text
    assert ("| nngp |" in text) if suffix == ".md" else (r"\begin{tabular}" in text and r"\end{document}" in text)


def test_report_rejects_unknown_format(tmp_path, capsys):
    assert main(["derive", "--phi", "sign", "--report", str(tmp_path / "r.html")]) == 2
