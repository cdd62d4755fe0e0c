"""The four layer maps of an activation/surrogate pair (MATH.md section 2), derived and cached.

    nngp      = E[phi(u) phi(v)]      sg        = E[phi'(u) psi(v)]
    ntk       = E[phi'(u) phi'(v)]    surrogate = E[psi(u) psi(v)]
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sympy as sp

from kernelalg import cache
from kernelalg.symbolic.catalog import resolve
from kernelalg.symbolic.expectation.engine import expect
from kernelalg.symbolic.expectation.result import Expectation
from kernelalg.symbolic.functions import Function
from kernelalg.symbolic.piecewise import Distribution, check_integrable, decompose, derivative
from kernelalg.symbolic.special import NAMESPACE
from kernelalg.symbolic.tidy import tidy

MAP_NAMES = ("nngp", "sg", "ntk", "surrogate")
ENGINE_REVISION = "engine-3"


@dataclass(frozen=True)
class LayerMaps:
    """Derived layer maps of (phi, psi); ``psi`` is phi' when the user gave no surrogate."""

    phi: Function
    psi: Function
    nngp: Expectation
    sg: Expectation
    ntk: Expectation
    surrogate: Expectation

    def items(self) -> tuple[tuple[str, Expectation], ...]:
        return tuple((name, getattr(self, name)) for name in MAP_NAMES)


def _dump(e: Expectation) -> str:
    return json.dumps({"expr": sp.srepr(e.expr), "route": list(e.route), "diverges": e.diverges})


def _load(text: str) -> Expectation | None:
    try:
        d = json.loads(text)
        # Our own cache file, written by _dump: srepr text read back with SymPy's constructors.
        return Expectation(sp.sympify(d["expr"], locals=NAMESPACE), tuple(d["route"]), d["diverges"])
    except (ValueError, KeyError, TypeError, sp.SympifyError):
        return None


def _checked(fn: Function) -> Distribution:
    dist = decompose(fn.expr)
    check_integrable(dist, fn.name)
    return dist


def expectation(f: str | Function, g: str | Function, use_cache: bool = True) -> Expectation:
    """E[f(u) g(v)] over N(0, [[a, c], [c, b]]), derived (and cached on disk)."""
    f, g = resolve(f), resolve(g)
    path = cache.path_for("derivations", cache.key(ENGINE_REVISION, f.key, g.key), ".json")
    if use_cache:
        text = cache.read_text(path)
        loaded = _load(text) if text else None
        if loaded is not None:
            return loaded
    outcome = expect(_checked(f), _checked(g))
    result = Expectation(tidy(outcome.expr), outcome.route, outcome.diverges)
    if use_cache:
        cache.write_atomic(path, _dump(result))
    return result


def derivative_function(fn: Function) -> Function:
    """phi' as a Function: the distributional derivative (jumps give DiracDelta terms)."""
    return Function(f"{fn.name}'", derivative(_checked(fn)).as_expr())


def derive(phi: str | Function, psi: str | Function | None = None, use_cache: bool = True) -> LayerMaps:
    """Derive the four layer maps of ``phi`` with surrogate ``psi`` (default: psi = phi')."""
    phi = resolve(phi)
    dphi = derivative_function(phi)
    psi = dphi if psi is None else resolve(psi)
    pairs = {"nngp": (phi, phi), "sg": (dphi, psi), "ntk": (dphi, dphi), "surrogate": (psi, psi)}
    return LayerMaps(phi, psi, **{name: expectation(f, g, use_cache) for name, (f, g) in pairs.items()})
