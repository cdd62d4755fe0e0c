"""The four layer maps of an activation/surrogate pair (docs/maths.md section 2), derived and cached.

The maps (which functions enter each expectation) are specified in :mod:`kernelalg.symbolic.maps`.
Each expectation and derivative is read from the cache (:mod:`kernelalg.cache`) or derived in the
worker process within the pair's time budget (:mod:`kernelalg.symbolic.worker`).  Results whose
SymPy integration was cut short by its time limit have a route step starting with
:data:`LIMIT_NOTE`; they are cached like the others (the limit is on CPU time, so the next run
would stop at the same place: clear the cache, or derive with ``use_cache=False``, to try again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sympy as sp

from kernelalg import cache
from kernelalg.symbolic import timelimit, worker
from kernelalg.symbolic.catalog import resolve
from kernelalg.symbolic.expectation.engine import expect
from kernelalg.symbolic.expectation.result import Expectation, a, b, c
from kernelalg.symbolic.functions import Function, x
from kernelalg.symbolic.maps import MAP_NAMES, MAPS
from kernelalg.symbolic.piecewise import Distribution, check_integrable, decompose, derivative
from kernelalg.symbolic.special import NAMESPACE
from kernelalg.symbolic.tidy import tidy

LIMIT_NOTE = "time limit"  # the first words of the route step of a result cut short


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


# --- data exchanged with the derivation worker and stored in the cache (srepr text, JSON) ---

def _expr(text: object, symbols: set[sp.Symbol]) -> sp.Expr:
    """An expression from its srepr text, checked to be one in ``symbols``."""
    if not isinstance(text, str):
        raise TypeError("not an expression text")
    expr = sp.sympify(text, locals=NAMESPACE)
    if not isinstance(expr, sp.Expr) or not expr.free_symbols <= symbols:
        raise TypeError(f"not an expression in {sorted(map(str, symbols))}")
    return expr


def expectation_data(e: Expectation) -> dict:
    return {"expr": sp.srepr(e.expr), "route": list(e.route), "diverges": e.diverges}


def expectation_from(d: dict) -> Expectation:
    route, diverges = d["route"], d["diverges"]
    if not (isinstance(route, list) and all(isinstance(step, str) for step in route) and isinstance(diverges, bool)):
        raise TypeError("malformed expectation")
    return Expectation(_expr(d["expr"], {a, b, c}), tuple(route), diverges)


def _function_data(fn: Function) -> dict:
    return {"name": fn.name, "expr": fn.key, "params": [list(p) for p in fn.params]}


def _function_from(d: dict) -> Function:
    return Function(d["name"], _expr(d["expr"], {x}), tuple((str(k), float(v)) for k, v in d["params"]))


def cached(kind: str, digest: str, parse):
    """A cache entry read back with ``parse`` (JSON data -> object), or None; entries that pass the
    cache's integrity check but do not parse are discarded too."""
    text = cache.load(kind, digest, ".json")
    if text is None:
        return None
    try:
        return parse(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError, sp.SympifyError):
        cache.discard(cache.path_for(kind, digest, ".json"))
        return None


def _checked(fn: Function) -> Distribution:
    dist = decompose(fn.expr)
    check_integrable(dist, fn.name)
    return dist


# --- tasks run by the derivation worker ---

def expectation_task(data: dict) -> dict:
    """E[f g] of two functions."""
    f, g = (_function_from(d) for d in data["functions"])
    with timelimit.recording() as hits:
        outcome = expect(_checked(f), _checked(g))
        expr = tidy(outcome.expr)
    note = (f"{LIMIT_NOTE}: a SymPy integration was stopped after {max(hits, default=0):g} s, so a closed form "
            "may have been missed")
    route = outcome.route + ((note,) if hits else ())
    return expectation_data(Expectation(expr, route, outcome.diverges))


def derivative_task(data: dict) -> dict:
    """The distributional derivative of a function (jumps give DiracDelta terms)."""
    fn = _function_from(data)
    return _function_data(Function(f"{fn.name}'", derivative(_checked(fn)).as_expr()))


# --- the library's entry points: cache, else the worker within the budget ---

def expectation(f: str | Function, g: str | Function, use_cache: bool = True,
                budget: float | worker.Budget | None = None) -> Expectation:
    """E[f(u) g(v)] over N(0, [[a, c], [c, b]]), derived within the time budget (seconds; default
    $KERNELALG_DERIVE_SECONDS or 600) and cached on disk."""
    return _expectation(resolve(f), resolve(g), use_cache,
                        budget if isinstance(budget, worker.Budget) else worker.Budget.of(budget))


def _expectation(f: Function, g: Function, use_cache: bool, budget: worker.Budget) -> Expectation:
    """E[f g] of checked functions (the user's, or derivatives made here)."""
    digest = cache.key("expectation", f.key, g.key)
    found = cached("derivations", digest, expectation_from) if use_cache else None
    if found is not None:
        return found
    reply = worker.run("kernelalg.symbolic.derive:expectation_task",
                       {"functions": [_function_data(f), _function_data(g)]}, budget,
                       f"the derivation of E[f(u) g(v)] for f = {f}, g = {g}")
    result = expectation_from(reply)
    if use_cache:
        cache.store("derivations", digest, ".json", json.dumps(expectation_data(result)))
    return result


def derivative_function(fn: Function, use_cache: bool = True, budget: float | worker.Budget | None = None) -> Function:
    """phi' as a Function: the distributional derivative (jumps give DiracDelta terms), cached."""
    budget = budget if isinstance(budget, worker.Budget) else worker.Budget.of(budget)
    digest = cache.key("derivative", fn.key, fn.name)
    found = cached("derivations", digest, _function_from) if use_cache else None
    if found is None:
        found = _function_from(worker.run("kernelalg.symbolic.derive:derivative_task", _function_data(fn), budget,
                                          f"the derivative of {fn}"))
        if use_cache:
            cache.store("derivations", digest, ".json", json.dumps(_function_data(found)))
    return found


def derive(phi: str | Function, psi: str | Function | None = None, use_cache: bool = True,
           budget: float | None = None) -> LayerMaps:
    """Derive the four layer maps of ``phi`` with surrogate ``psi`` (default: psi = phi'), all of
    them within one time budget (seconds; default $KERNELALG_DERIVE_SECONDS or 600)."""
    spent = worker.Budget.of(budget)
    phi = resolve(phi)
    dphi = derivative_function(phi, use_cache, spent)
    psi = dphi if psi is None else resolve(psi)
    sides = {"phi": phi, "dphi": dphi, "psi": psi}
    return LayerMaps(phi, psi, **{m.name: _expectation(*m.functions(sides), use_cache, spent) for m in MAPS})
