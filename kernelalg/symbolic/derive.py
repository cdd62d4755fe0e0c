"""The four layer maps of an activation/surrogate pair (MATH.md section 2), derived and cached.

    nngp      = E[phi(u) phi(v)]      sg        = E[phi'(u) psi(v)]
    ntk       = E[phi'(u) phi'(v)]    surrogate = E[psi(u) psi(v)]
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import sympy as sp

from kernelalg import cache
from kernelalg.symbolic.catalog import resolve
from kernelalg.symbolic.expectation.engine import expect
from kernelalg.symbolic.expectation.result import Expectation, a, b, c
from kernelalg.symbolic.functions import Function
from kernelalg.symbolic.piecewise import Distribution, check_integrable, decompose, derivative
from kernelalg.symbolic.special import NAMESPACE, GaussianMean

MAP_NAMES = ("nngp", "sg", "ntk", "surrogate")
ENGINE_REVISION = "engine-3"
_SIMPLIFY_MAX_OPS = 400


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


def _agree(e1: sp.Expr, e2: sp.Expr) -> bool:
    """Numerical identity check of two expressions at random valid covariances."""
    rng = random.Random(0)
    for _ in range(4):
        av, bv = rng.uniform(0.2, 3), rng.uniform(0.2, 3)
        cv = rng.uniform(-0.95, 0.95) * (av * bv) ** 0.5
        point = {a: sp.Float(av, 30), b: sp.Float(bv, 30), c: sp.Float(cv, 30)}
        v1, v2 = complex(e1.subs(point).evalf(30)), complex(e2.subs(point).evalf(30))
        if abs(v1 - v2) > 1e-20 * (1 + abs(v1)) or abs(v1.imag) > 1e-25:
            return False
    return True


def tidy(expr: sp.Expr) -> sp.Expr:
    """A simpler equal form: roots combined under the (valid) positivity of a, b and ab - c^2,
    then SymPy's simplify; kept only if it agrees numerically with the input."""
    if expr.has(GaussianMean) or sp.count_ops(expr) > _SIMPLIFY_MAX_OPS:
        return expr
    candidate = sp.simplify(sp.powsimp(sp.powdenest(expr, force=True), force=True))
    candidate = sp.factor_terms(candidate.replace(sp.exp, lambda arg: sp.exp(sp.factor(sp.cancel(arg)))))
    return candidate if _agree(candidate, expr) else expr


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
