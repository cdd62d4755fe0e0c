"""Compiled evaluation of the Gaussian means that have no closed form, with measured bounds.

A mean E[g(sqrt(V) z)] of a function of one variable (what delta conditioning leaves of the
mixed map of a jump activation: a closed prefactor times this mean at the conditional variance
V = (ab - c^2)/a) is compiled once into a table over the whole range V >= 0
(:mod:`kernelalg.numeric.compiled.table1`); other means keep the generated graded
Gauss-Legendre rule.  Every map without a closed form gets a measured error bound:

* tabulated maps, when the module is generated (cached with it, in ``ERROR_BOUNDS``): the
  largest relative error of the generated function against the independent mpmath reference
  (:mod:`kernelalg.numeric.compiled.reference`) on a grid of covariances (variances 1e-4..1e4,
  also unequal, |rho| up to 1 - 1e-9), and of the tables against the rule and of the rule
  against a refined rule;
* maps evaluated by the rule (reduced integrals whose mean depends on the covariance, nested
  means) or summed as Hermite series (:mod:`kernelalg.codegen.hermiteruntime`), when first asked
  for (``derive``, ``eval``, reports) and then cached on its own: the largest relative
  difference of the generated function from its rule refined (twice the panels, and no series),
  on the grid's corners (RULE_VARIANCES).  A nested map costs seconds there,
  too much for every module, and its mpmath reference (2-D) minutes per point.

Relative errors are counted against 1e-6 of the largest magnitude at the same variances where a
map nearly vanishes (there float64 quadrature can only be accurate absolutely).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import FunctionType, ModuleType

import numpy as np
import sympy as sp

from kernelalg import cache
from kernelalg.codegen.module import _top_means, module_source, prepared_forms
from kernelalg.numeric.compiled import reference, table1
from kernelalg.symbolic.expectation.result import Expectation, a, b, c
from kernelalg.symbolic.special import GaussianMean

#: Certification grid: variances 1e-4..1e4 (also unequal) and correlations up to 1 - 1e-9.
VARIANCES = ((1.0, 1.0), (1e-4, 1e-4), (1e4, 1e4), (1e-4, 1e4), (1e4, 1e-4), (2.0, 0.5), (0.01, 7.0))
RHOS = (0.0, 0.3, -0.7, 0.95, 1 - 1e-9, -(1 - 1e-9))
#: The corners of that grid where maps left to the rule are refined (a nested map costs about half
#: a second per covariance there): equal variances, and tiny against huge.
RULE_VARIANCES = ((1.0, 1.0), (1e-4, 1e4))
FLOOR = 1e-6
TARGET = 1e-10  # the accuracy every compiled map should reach; a map that misses it says so


@dataclass(frozen=True)
class Bound:
    """A map's measured max. relative error and how it was measured."""

    value: float
    method: str  # "vs mpmath" or "vs refined rule"

    def text(self) -> str:
        missed = f"; above the {TARGET:.0e} target" if self.value > TARGET else ""
        return f"max rel. error {self.value:.0e} ({self.method}{missed})"


def _one_variable(gm: GaussianMean) -> bool:
    """A mean E[g(sqrt(V) z)]: centred at 0, integrand a function of its variable only."""
    return gm.mu == 0 and not gm.integrand.expr.has(a, b, c, GaussianMean)


def build_tables(prepared: dict[str, sp.Expr]) -> tuple[dict, dict]:
    """Tables for the one-variable top-level means of the (careful) expressions, and their
    measured errors (against the rule, and of the rule against a refined rule); means with the
    same integrand (e.g. sg and sg with a and b exchanged) share one table."""
    built: dict[sp.Lambda, table1.Built] = {}
    tables, errors = {}, {}
    for expr in prepared.values():
        for gm in _top_means(expr):
            if gm not in tables and _one_variable(gm):
                if gm.integrand not in built:
                    (var,) = gm.integrand.variables
                    built[gm.integrand] = table1.build(gm.integrand.expr, var)
                tables[gm] = built[gm.integrand].table
                errors[gm] = max(built[gm.integrand].fit, built[gm.integrand].rule)
    return tables, errors


def _exec(text: str) -> dict:
    namespace: dict = {}
    exec(compile(text, "<generated>", "exec"), namespace)  # noqa: S102 (our own generated code)
    return namespace


def _grid(variances=VARIANCES) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The certification covariances at ``variances``, grouped by variances."""
    out = []
    for va, vb in variances:
        rho = np.array(RHOS)
        out.append((np.full(rho.size, va), np.full(rho.size, vb), rho * np.sqrt(va * vb)))
    return out


def _relative(got: np.ndarray, want: np.ndarray, size: np.ndarray | None = None) -> float:
    """Largest |got - want| / max(|want|, FLOOR s): s is ``size`` (the map with absolute
    integrands, which stays positive where the map vanishes by symmetry) or else the largest
    |want| at these variances; inf where either is NaN (and they differ)."""
    scale = np.abs(want).max() if size is None else np.abs(size)
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.abs(got - want) / np.maximum(np.abs(want), FLOOR * scale)
    return float(np.max(np.where(got == want, 0.0, np.where(np.isnan(err), np.inf, err))))


def certify(expr: sp.Expr, function) -> float:
    """Largest relative error of the generated ``function`` against the mpmath reference of
    ``expr`` on the certification grid."""
    exact = reference.formula(expr)
    worst = 0.0
    for av, bv, cv in _grid():
        want = np.array([float(exact(*p)) for p in zip(av, bv, cv)])
        worst = max(worst, _relative(np.asarray(function(av, bv, cv), dtype=float), want))
    return worst


def _private(module: ModuleType) -> dict:
    """A private namespace of the module's functions (the module itself, which other threads may
    be using, is left untouched when the namespace's rule is replaced)."""
    space = dict(module.__dict__)
    for key, value in module.__dict__.items():
        if isinstance(value, FunctionType) and value.__globals__ is module.__dict__:
            space[key] = FunctionType(value.__code__, space, value.__name__, value.__defaults__, value.__closure__)
    return space


def rule_bound(module: ModuleType, name: str) -> Bound:
    """The measured bound of a map the ``module`` evaluates by its rule (cached on its own, keyed
    by the module and the map)."""
    digest = cache.key("rule bound", module.__name__, name)
    text = cache.load("bounds", digest, ".txt")
    if text is not None:
        return Bound(float(text.strip()), "vs refined rule")
    space = _private(module)
    value = refinement(space, space[name])
    cache.store("bounds", digest, ".txt", repr(value))  # float() reads it back, also inf and nan
    return Bound(value, "vs refined rule")


def _rule_only(pair, a, b, c, rule, swapped=False):
    """The generated _hermite_mean with every entry left to the rule."""
    shape = np.broadcast_shapes(np.shape(a), np.shape(b), np.shape(c))
    flat = [np.broadcast_to(np.asarray(v, dtype=float), shape).reshape(-1) for v in (a, b, c)]
    return np.asarray(rule(*flat), dtype=float).reshape(shape)


def refinement(namespace: dict, function) -> float:
    """Largest relative difference of ``function`` (of a generated module's private ``namespace``)
    on the rule's corners of the certification grid (RULE_VARIANCES x RHOS) from its quadrature
    rule with every panel split in two (means summed as Hermite series are then left to that rule
    everywhere), counted against FLOOR of the function with absolute integrands where it nearly
    vanishes (below 1e-3 of its largest value at those variances)."""
    rule = namespace["_gaussian_mean"]
    series = namespace.get("_hermite_mean")

    def with_rule(variant, av, bv, cv) -> np.ndarray:
        namespace["_gaussian_mean"] = variant
        if series is not None:
            namespace["_hermite_mean"] = _rule_only
        try:
            return np.asarray(function(av, bv, cv), dtype=float)
        finally:
            namespace["_gaussian_mean"] = rule
            if series is not None:
                namespace["_hermite_mean"] = series

    worst = 0.0
    for av, bv, cv in _grid(RULE_VARIANCES):
        coarse = np.asarray(function(av, bv, cv), dtype=float)
        fine = with_rule(lambda *args: rule(*args, refine=2), av, bv, cv)
        size = None
        if np.any(np.abs(fine) < 1e-3 * np.abs(fine).max()):
            size = with_rule(lambda integrand, *args: rule(lambda *x: np.abs(integrand(*x)), *args), av, bv, cv)
        worst = max(worst, _relative(coarse, fine, size))
    return worst


def module_text(maps: dict[str, Expectation], titles: dict[str, str], header: str,
                joint: tuple[tuple[str, ...], ...] = ()) -> str:
    """The generated module with tables for the one-variable means and measured bounds."""
    prepared = prepared_forms(maps, joint)
    tables, errors = build_tables(prepared)
    draft = _exec(module_source(maps, titles, header, joint, tables))
    bounds = {}
    for name, e in maps.items():
        if e.closed_form:
            continue
        means = _top_means(prepared[name])
        if means and all(gm in tables for gm in means):
            own = [errors[gm] for gm in means]
            bounds[name] = Bound(max([certify(e.expr, draft[name]), *own]), "vs mpmath")
    return module_source(maps, titles, header, joint, tables, bounds)


def accelerate(module: ModuleType) -> ModuleType:
    """Replace the elementwise helpers of a generated ``module`` that closed forms spend their time
    in, and its table and Hermite-series helpers, by compiled loops of the same formulas
    (:mod:`kernelalg.numeric.compiled.loops`, Numba; imported only when a module is loaded, here
    and in :func:`kernelalg.numeric.nearedge.flag`, so that importing kernelalg does not load Numba),
    and its closed-form formulas by one compiled pass each where they allow it
    (:mod:`kernelalg.numeric.compiled.fused`)."""
    from functools import partial

    from kernelalg.numeric.compiled import fused, loops

    module._arctan, module._angle = loops.arctan, loops.angle
    module._det2, module._det_product = loops.det2, loops.det_product
    if hasattr(module, "_table1"):
        module._table1 = loops.table1
    if hasattr(module, "_hermite_sum"):
        module._hermite_sum = partial(loops.hermite_sum, tol=module.HERMITE_TOL, floor=module.HERMITE_FLOOR)
        module._hermite_theta = partial(loops.hermite_theta, cells=module._H_CELLS)
        module._hermite_tails = loops.hermite_tails
    for name, formula in fused.fused_formulas(module).items():
        setattr(module, name, formula)
    return module
