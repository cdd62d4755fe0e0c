"""Which nested Gaussian means the generated code sums by Mehler's expansion, and their helpers.

A nested mean of the fallback (``E[f(u) E[g(v) | u]]``, both f and g functions of one variable)

    GaussianMean(0, S, Lambda(y, F(y) GaussianMean(c y / S, (ab - c^2) / S, Lambda(x, G(x)))))

is E[F(u) G(v)] with u of variance S (a, or b for the swapped map) and v of the other one; so is
a reduced mean GaussianMean(0, S, Lambda(y, F(y) K(y; a, b, c))) whose closed conditional mean
K = E[G(v) | u = y] gives G back at a = b = c = 1 (checked by quadrature).  It is
summed as sum_n rho^n alpha_n beta_n (:mod:`kernelalg.codegen.hermiteruntime`) when F and G are
resolved by panels graded toward 0 alone: their only feature centre (breakpoint, kink, narrow
bump) is 0 and they do not oscillate (features' ``far`` is infinite), so that one set of
quadrature nodes serves every variance of a call.  Other means keep the graded rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp
from scipy.integrate import quad

from kernelalg.codegen.features import features
from kernelalg.codegen.printer import compile_function, source
from kernelalg.codegen.rewrite import Det2
from kernelalg.symbolic.expectation.result import a, b, c
from kernelalg.symbolic.functions import x
from kernelalg.symbolic.special import GaussianMean


@dataclass(frozen=True)
class Pair:
    """E[F(u) G(v)] of a nested mean: F and G in ``x``; ``swapped``: u has variance b."""

    f: sp.Expr
    g: sp.Expr
    swapped: bool

    def source(self, name: str) -> str:
        """The helpers: F and G as NumPy functions and the tuple ``name`` the runtime reads."""
        parts = [f"def {name}_f(x):\n"
                 f'    """F(x) = {sp.sstr(self.f)}."""\n'
                 f"    return {source(self.f)}\n"]
        if self.g == self.f:  # one function: its coefficients are computed once per variance
            parts.append(f"{name}_g = {name}_f\n")
        else:
            parts.append(f"def {name}_g(x):\n"
                         f'    """G(x) = {sp.sstr(self.g)}."""\n'
                         f"    return {source(self.g)}\n")
        sides = []
        for fn, expr in ((f"{name}_f", self.f), (f"{name}_g", self.g)):
            probe = features(expr, x)
            sides.append(f"({fn}, {min(w for _, w in probe.centers)!r}, {not probe.breakpoints!r}, {_parity(expr)})")
        parts.append(f"{name} = ({sides[0]}, {sides[1]})  # per function: (it, its width, smooth, parity)\n")
        return "\n\n".join(parts)


def _parity(expr: sp.Expr) -> int:
    """1 if expr(-x) = expr(x) for x > 0, -1 if expr(-x) = -expr(x), else 0 (neither proved by
    simplification): the series then computes only the even or the odd coefficients."""
    t = sp.Symbol("t", positive=True)
    right, left = expr.subs(x, t), expr.subs(x, -t)
    for parity in (1, -1):
        if sp.simplify(_plain(left - parity * right)) == 0:
            return parity
    return 0


def _plain(expr: sp.Expr) -> sp.Expr:
    """expr with the float64-careful Det2(a, b, c) written out as ab - c^2."""
    return expr.replace(Det2, lambda p, q, r: p * q - r**2)


def _equal(u: sp.Expr, v: sp.Expr) -> bool:
    return sp.simplify(_plain(u - v)) == 0


def _resolved_at_zero(expr: sp.Expr) -> bool:
    """Whether panels graded toward 0 resolve expr(x) at every scale (see the module docstring)."""
    found = features(expr, x)
    return found.far == float("inf") and all(t == 0 for t, _ in found.centers)


def _recovered(conditional: sp.Expr, y: sp.Symbol, S: sp.Symbol) -> sp.Expr | None:
    """F from a closed conditional mean K(y; a, b, c) = E[F(w) | outer = y] (w the variable
    that is not the outer one): K at a = b = c = 1, where w = y.  Checked against the mean
    itself by 1-D quadrature at a few covariances and points; None if it does not match."""
    plain = _plain(conditional)
    found = sp.simplify(plain.subs({a: 1, b: 1, c: 1}))
    if found.has(a, b, c, sp.zoo, sp.nan, sp.oo, -sp.oo):
        return None
    F = compile_function(found.subs(y, x), (x,))
    K = compile_function(plain, (y, a, b, c))
    for av, bv, cv in ((1.0, 1.0, 0.3), (0.5, 2.0, -0.6), (2.0, 0.7, 1.0)):
        values = {a: av, b: bv, c: cv}
        spread = float(np.sqrt((av * bv - cv**2) / values[S]))
        for yv in (-1.3, 0.2, 2.1):
            centre = cv * yv / values[S]
            with np.errstate(all="ignore"):
                want = quad(lambda t, m=centre, s=spread: float(F(m + s * t)) * np.exp(-t * t / 2), -np.inf,
                            np.inf, epsabs=0, epsrel=1e-13, limit=200)[0] / np.sqrt(2 * np.pi)
                got = float(K(yv, av, bv, cv))
            if not abs(got - want) <= 1e-10 * max(abs(want), 1e-300):
                return None
    return found.subs(y, x)


def mehler_pair(gm: GaussianMean) -> Pair | None:
    """The pair (F, G) of a nested mean of the form above, or of a reduced mean
    GaussianMean(0, S, Lambda(y, F(y) K(y; a, b, c))) whose closed conditional mean K recovers
    the other function (see _recovered), or None."""
    if gm.mu != 0 or gm.var not in (a, b):
        return None
    (y,) = gm.integrand.variables
    inner = [f for f in sp.Mul.make_args(gm.integrand.expr) if isinstance(f, GaussianMean)]
    if not inner and not gm.integrand.expr.has(GaussianMean):
        own = sp.Mul(*[f for f in sp.Mul.make_args(gm.integrand.expr) if not f.has(a, b, c)])
        conditional = gm.integrand.expr / own
        recovered = _recovered(conditional, y, gm.var)
        if recovered is None:
            return None
        f = own.subs(y, x)
        if not (_resolved_at_zero(f) and _resolved_at_zero(recovered)):
            return None
        return Pair(f, recovered, gm.var == b)
    if len(inner) != 1:
        return None
    rest = gm.integrand.expr / inner[0]
    (z,) = inner[0].integrand.variables
    g = inner[0].integrand.expr
    if rest.has(a, b, c, GaussianMean) or g.has(a, b, c, GaussianMean):
        return None
    S = gm.var
    if not (_equal(inner[0].mu, c * y / S) and _equal(inner[0].var, (a * b - c**2) / S)):
        return None
    f, g = rest.subs(y, x), g.subs(z, x)
    if not (_resolved_at_zero(f) and _resolved_at_zero(g)):
        return None
    return Pair(f, g, S == b)
