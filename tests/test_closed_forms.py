"""Every closed form of the issue list, derived by the engine, against the mpmath witness.

The witness values live in tests/data/witness.json (regenerate with
``python -m tests.witness.make_table``); the cheap cases are recomputed live here, the 2-D
quadratures on one point in CI and in full with ``--runslow``.  Tolerance: relative 1e-10 for
closed forms, 1e-7 for fallbacks; where a map nearly vanishes (e.g. two steps at rho -> -1,
whose closed form is a difference of O(1) terms), absolute 1e-15 times the map's largest value
at the same variances, i.e. float64 rounding of those terms.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

import kernelalg
from kernelalg.symbolic.expectation.result import a as A
from kernelalg.symbolic.expectation.result import b as B
from kernelalg.symbolic.expectation.result import c as C
from tests.witness.cases import CASES, grid, tolerance
from tests.witness.gaussian import DPS, expectation

TABLE = json.loads((Path(__file__).parent / "data" / "witness.json").read_text())
ROWS = defaultdict(list)
for row in TABLE:
    ROWS[row["case"]].append(row)
IDS = [case.name for case in CASES]


def _within(got, want, tol, floor):
    got, want = np.asarray(got, float), np.asarray(want, float)
    return np.abs(got - want) <= tol * np.abs(want) + floor


def _floors(rows, want):
    """1e-15 times the largest |value| among the rows with the same variances (a, b)."""
    scale = defaultdict(float)
    for r, v in zip(rows, want):
        scale[r["a"], r["b"]] = max(scale[r["a"], r["b"]], abs(v))
    return np.array([1e-15 * scale[r["a"], r["b"]] for r in rows]) + 1e-300


def test_table_covers_every_case_on_its_grid():
    for case in CASES:
        assert [(r["a"], r["b"], r["c"]) for r in ROWS[case.name]] == grid(case.smooth), case.name


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_generated_map_matches_the_witness(case):
    maps = kernelalg.layer_maps(case.phi, case.psi)
    result = getattr(maps.derived, case.map)
    if case.closed:
        assert result.closed_form, f"{case.name}: {result.status}"
    rows = ROWS[case.name]
    a, b, c = (np.array([r[k] for r in rows]) for k in "abc")
    want = np.array([float(r["value"]) for r in rows])
    got = getattr(maps, case.map)(a, b, c)
    ok = _within(got, want, tolerance(case), _floors(rows, want))
    assert ok.all(), [(r["a"], r["b"], r["c"], g, r["value"]) for r, g, k in zip(rows, got, ok) if not k]


@pytest.mark.parametrize("case", [c for c in CASES if c.closed], ids=[c.name for c in CASES if c.closed])
def test_symbolic_closed_form_at_30_digits(case):
    """The SymPy expression itself (not the generated code) at 30 digits, away from the edge."""
    expr = getattr(kernelalg.derive(case.phi, case.psi), case.map).expr
    for row in ROWS[case.name][:3]:
        got = sp.N(expr.subs({A: sp.Float(row["a"], 30), B: sp.Float(row["b"], 30), C: sp.Float(row["c"], 30)}), 30)
        want = mp.mpf(row["value"])
        assert abs(mp.mpf(str(got)) - want) <= 1e-12 * abs(want) + mp.mpf(10) ** -300, (case.name, row)


@pytest.mark.parametrize("case", [c for c in CASES if not c.smooth], ids=[c.name for c in CASES if not c.smooth])
def test_table_is_the_witness_live(case):
    """Cheap (1-D) witness values recomputed now: the stored table is the witness's output."""
    for row in ROWS[case.name][::2]:
        value = expectation(*case.refs, row["a"], row["b"], row["c"])
        with mp.workdps(DPS):
            assert abs(value - mp.mpf(row["value"])) <= 1e-15 * abs(value) + mp.mpf(10) ** -300


SMOOTH = [c for c in CASES if c.smooth]


@pytest.mark.parametrize("case", SMOOTH[:2], ids=[c.name for c in SMOOTH[:2]])
def test_smooth_table_entry_live(case):
    row = ROWS[case.name][0]
    value = expectation(*case.refs, row["a"], row["b"], row["c"])
    assert abs(value - mp.mpf(row["value"])) <= 1e-15 * abs(value)


@pytest.mark.slow
@pytest.mark.parametrize("case", SMOOTH, ids=[c.name for c in SMOOTH])
def test_smooth_table_is_the_witness_live(case):
    for row in ROWS[case.name]:
        value = expectation(*case.refs, row["a"], row["b"], row["c"])
        assert abs(value - mp.mpf(row["value"])) <= 1e-15 * abs(value) + mp.mpf(10) ** -300


@pytest.mark.parametrize("m", ["0.25", "0.5", "1.5", "2.5"])
def test_erf_m_nngp_is_the_arcsine_kernel(m):
    """Textbook check (Williams 1997) for non-integer slopes: the engine reaches the closed
    form (2/pi) asin(2 m^2 c / sqrt((1 + 2 m^2 a)(1 + 2 m^2 b)))."""
    result = kernelalg.derive(f"erf(m={m})").nngp
    assert result.closed_form, result.status
    k = 2 * float(m) ** 2
    a, b, c = np.array([1.0, 1e-3, 50.0]), np.array([2.0, 1e-3, 0.5]), np.array([0.7, -0.9e-3, 4.0])
    want = 2 / np.pi * np.arcsin(k * c / np.sqrt((1 + k * a) * (1 + k * b)))
    assert np.allclose(kernelalg.layer_maps(f"erf(m={m})").nngp(a, b, c), want, rtol=1e-12, atol=0)
