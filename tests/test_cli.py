"""The command line: eval --json format, derive shows routes, catalog, arbitrary expressions."""

from __future__ import annotations

import json

import pytest

from kernelalg.cli import main
from tests.witness import functions as F
from tests.witness.gaussian import Ref, expectation


def run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_eval_json_has_the_four_maps(capsys):
    out = json.loads(run(["eval", "--phi", "sign", "--psi", "gaussian", "--cov", "1,2,0.5", "--json"], capsys))
    assert set(out) == {"nngp", "sg", "ntk", "surrogate", "diverges", "status", "max_rel_error"}
    assert out["diverges"] == [] and all(isinstance(out[k], float) for k in ("nngp", "sg", "ntk", "surrogate"))
    assert out["status"]["sg"] == "closed form" and out["max_rel_error"]["sg"] is None


def test_eval_json_reports_divergence_as_null(capsys):
    out = json.loads(run(["eval", "--phi", "sign", "--psi", "gaussian", "--cov", "1,1,1", "--json"], capsys))
    assert out["ntk"] is None and out["diverges"] == ["ntk"]
    assert out["nngp"] == pytest.approx(1.0) and out["sg"] is not None


def test_eval_default_psi_is_phi_prime(capsys):
    out = json.loads(run(["eval", "--phi", "erf(m=2)", "--cov", "1,1,0.3", "--json"], capsys))
    assert out["sg"] == pytest.approx(out["ntk"], rel=1e-14)


# arbitrary expressions built from supported functions, with hand-written witness functions
EXPRESSIONS = [
    ("Heaviside(x - 1/2)", F.step(0.5), "1/(1 + 2*Abs(x))**2", F.superspike(2.0)),
    ("erf(3*x)", F.erf(3.0), "Max(0, 1 - Abs(x))", F.triangle()),
    ("sign(x)", F.sign(), "exp(-x**2/2)", Ref(lambda x: __import__("mpmath").exp(-x * x / 2), scales=((0, 1),))),
]


@pytest.mark.parametrize("phi,phi_refs,psi,psi_ref", EXPRESSIONS, ids=[e[0] + " / " + e[2] for e in EXPRESSIONS])
def test_eval_json_for_expressions_matches_the_witness(phi, phi_refs, psi, psi_ref, capsys):
    a, b, c = 1.5, 0.7, -0.6
    out = json.loads(run(["eval", "--phi", phi, "--psi", psi, "--cov", f"{a},{b},{c}", "--json"], capsys))
    f, df = phi_refs
    # the maps whose witness is a 1-D integral here (2-D ones: tests/test_closed_forms.py)
    checks = {"sg": (df, psi_ref)} if phi.startswith("erf") else {"nngp": (f, f), "sg": (df, psi_ref)}
    for name, (u, v) in checks.items():
        want = float(expectation(u, v, a, b, c))
        assert out[name] == pytest.approx(want, rel=1e-7), name


def test_derive_shows_formulas_routes_and_status(capsys):
    out = run(["derive", "--phi", "step(t=0.5)", "--psi", "gaussian"], capsys)
    assert "Owen" in out and "delta conditioning" in out and "closed form" in out
    data = json.loads(run(["derive", "--phi", "sign", "--psi", "superspike", "--json"], capsys))
    maps = data["maps"] if "maps" in data else data
    assert {"nngp", "sg", "ntk", "surrogate"} <= set(maps)


def test_catalog_lists_entries_and_presets(capsys):
    out = run(["catalog"], capsys)
    for name in ("sign", "step", "erf", "relu", "gaussian", "superspike", "atan", "multi_gaussian", "snntorch.atan"):
        assert name in out


def test_generate_writes_a_module(tmp_path, capsys):
    path = tmp_path / "maps.py"
    run(["generate", "--phi", "sign", "--psi", "gaussian", "-o", str(path)], capsys)
    text = path.read_text()
    assert "def sg(a, b, c):" in text and "import numpy" in text and "from kernelalg" not in text
