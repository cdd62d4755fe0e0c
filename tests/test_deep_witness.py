"""Deep kernels of smooth activations with a kinked surrogate (fallback maps: Hermite series and
reduced integrals) against the layer-by-layer mpmath recursion: sampled entries of the depth-2
and depth-3 NNGP and SG-NTK, inputs of unequal norm, relative 1e-10.

The reference values are stored in tests/data/deep_witness.json (``python -m
tests.witness.make_deep``: each map is a 2-D witness quadrature, about a minute); the slow test
recomputes them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kernelalg.numeric.kernels import Kernel
from tests.witness import make_deep

TABLE = json.loads((Path(__file__).parent / "data" / "deep_witness.json").read_text())
NAMES = list(TABLE["pairs"])


def _engine(phi, psi, rows):
    """The engine's (nngp, sgntk) at each row's pair and depth."""
    got = []
    for row in rows:
        kernel = Kernel(phi, psi, depth=row["depth"], sigma_w=TABLE["sigma_w"], sigma_b=TABLE["sigma_b"])
        result = kernel(np.array([row["x"]]), np.array([row["y"]]), outputs=("nngp", "sgntk"))
        got.append((result.nngp[0, 0], result.sgntk[0, 0]))
    return np.array(got)


def _rel(got, want):
    return np.abs(got - want) / np.abs(want)


def test_table_matches_the_generator():
    assert (TABLE["sigma_w"], TABLE["sigma_b"]) == (make_deep.SW, make_deep.SB)
    assert NAMES == list(make_deep.PAIRS)
    for name, entry in TABLE["pairs"].items():
        assert (entry["phi"], entry["psi"]) == make_deep.PAIRS[name][:2]
        assert sorted({r["depth"] for r in entry["rows"]}) == [2, 3]
        assert [(r["x"], r["y"]) for r in entry["rows"] if r["depth"] == 2] == \
            [(list(x), list(y)) for x, y in zip(make_deep.X, make_deep.Y)]


@pytest.mark.parametrize("name", NAMES)
def test_deep_kernels_against_the_stored_mpmath_recursion(name):
    entry = TABLE["pairs"][name]
    rows = entry["rows"]
    want = np.array([(float(r["nngp"]), float(r["sgntk"])) for r in rows])
    got = _engine(entry["phi"], entry["psi"], rows)
    bad = _rel(got, want) > 1e-10
    assert not bad.any(), [(r["depth"], r["x"], r["y"], list(g), list(w))
                           for r, g, w, b in zip(rows, got, want, bad) if b.any()]


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_stored_deep_values_are_the_recursion_live(name):
    """The stored values are the recursion's output (15-25 minutes a pair on one core)."""
    rows = make_deep.reference(name)
    stored = TABLE["pairs"][name]["rows"]
    assert [(r["x"], r["y"], r["depth"]) for r in rows] == [(r["x"], r["y"], r["depth"]) for r in stored]
    for new, old in zip(rows, stored):
        for key in ("nngp", "sgntk"):
            assert float(new[key]) == pytest.approx(float(old[key]), rel=1e-14)
