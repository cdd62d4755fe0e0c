"""The specification of the four layer maps (kernelalg.symbolic.maps) against the witness's own
definition of them, and the texts generated modules and reports take from it."""

from __future__ import annotations

import dataclasses

import pytest

from kernelalg.symbolic import derive
from kernelalg.symbolic.maps import MAP_NAMES, MAPS
from tests.witness import cases, deep


def test_names_and_layer_maps_fields_follow_the_specification():
    assert MAP_NAMES == ("nngp", "sg", "ntk", "surrogate")
    assert derive.MAP_NAMES is MAP_NAMES
    assert tuple(f.name for f in dataclasses.fields(derive.LayerMaps))[2:] == MAP_NAMES


@pytest.mark.parametrize("spec", MAPS, ids=MAP_NAMES)
def test_sides_agree_with_the_witness(spec, monkeypatch):
    """The witness writes the maps down itself: given the side names in place of functions, its
    choices must be the specification's left and right."""
    assert cases._pair(("phi", "dphi"), "psi", spec.name) == (spec.left, spec.right)
    if spec.name != "surrogate":  # the deep kernels use nngp, sg and ntk only
        monkeypatch.setattr(deep, "expectation", lambda f, g, *cov: (f, g))
        monkeypatch.setattr(deep, "gauss_hermite", lambda f, g, *cov: (f, g))
        for maps in (deep.witness_maps(("phi", "dphi"), "psi"), deep.hermite_maps("phi", "dphi", "psi")):
            assert maps(spec.name, 1, 1, 0) == (spec.left, spec.right)


def test_texts():
    """The titles are part of the cached module text: changing them re-generates every module."""
    assert {m.name: (m.title, m.latex) for m in MAPS} == {
        "nngp": ("E[phi(u) phi(v)]: the NNGP layer map", r"E[\phi(u)\phi(v)]"),
        "sg": ("E[phi'(u) psi(v)]: the mixed derivative map of the SG-NTK", r"E[\phi'(u)\psi(v)]"),
        "ntk": ("E[phi'(u) phi'(v)]: the derivative map of the naive NTK", r"E[\phi'(u)\phi'(v)]"),
        "surrogate": ("E[psi(u) psi(v)]: the surrogate derivative map", r"E[\psi(u)\psi(v)]"),
    }
