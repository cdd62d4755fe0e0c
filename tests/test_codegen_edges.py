"""Series at the edges |rho| = 1 (kernelalg.codegen.edges): used where the formula cancels and
only when right.  Their accuracy against textbook forms is in tests/test_closed_forms.py."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import kernelalg
from kernelalg.codegen import edges
from kernelalg.codegen.runtime import _near_edge


def _edges_of(spec: str, name: str) -> list[int]:
    form = edges.near_edge(getattr(kernelalg.derive(spec), name).expr)
    return sorted(int(node.args[3]) for node in form.atoms(edges.NearEdge))


@pytest.mark.parametrize("spec,name,want", [
    ("relu", "nngp", [-1]),  # sqrt(ab) t^3 / (6 pi) from O(1) terms
    ("Max(x, 0)**2", "nngp", [-1]),
    ("relu", "ntk", []),  # (pi - theta)/(2 pi) is written as an angle: no cancellation
    ("sign", "nngp", []),
    ("erf", "nngp", []),
    ("Abs(x)", "nngp", []),  # sqrt(ab) at both edges: nothing cancels
])
def test_series_only_where_the_formula_cancels(spec, name, want):
    assert _edges_of(spec, name) == want


def test_a_wrong_series_is_never_used(monkeypatch):
    """A series that disagrees with the formula at every switch angle (a coefficient off by 1e-6)
    is rejected, and so is one truncated too early."""
    expr = kernelalg.derive("Max(x, 0)**2").nngp.expr
    right = edges._series
    monkeypatch.setattr(edges, "_series", lambda e: sp.Lambda(right(e).variables, right(e).expr * (1 + 1e-6)))
    assert not edges.near_edge.__wrapped__(expr).atoms(edges.NearEdge)
    monkeypatch.setattr(edges, "ORDER", 2)
    monkeypatch.setattr(edges, "_series", right)
    assert not edges.near_edge.__wrapped__(expr).atoms(edges.NearEdge)
    assert edges.near_edge.__wrapped__(expr) == edges.careful(expr)


def test_series_replaces_only_entries_below_the_switch():
    a = np.array([[1.0], [2.0]])
    b = np.array([[3.0, 4.0, 5.0]])
    angle = np.array([[0.05, 0.3, 0.01], [0.2, 0.09, 1.0]])
    value = np.zeros((2, 3))
    got = _near_edge(value, angle, 0.1, lambda a, b, t: a * b + t, a, b)
    want = np.where(angle < 0.1, a * b + angle, 0.0)
    assert np.array_equal(got, want)
    assert _near_edge(2.0, 0.5, 0.1, None, 1.0, 1.0) == 2.0  # nothing near: no call, same value
    assert _near_edge(np.float64(2.0), 0.0, 0.1, lambda a, b, t: a + b + t, 1.0, 3.0) == 4.0
