"""The result type of the expectation engine."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from kernelalg.symbolic.special import GaussianMean, OwenT

#: Symbols of the 2x2 covariance [[a, c], [c, b]] every result is a function of.
a, b = sp.symbols("a b", positive=True)
c = sp.Symbol("c", real=True)

CLOSED = "closed form"
SPECIAL = "closed form (Owen's T)"
REDUCED = "reduced integral"
QUADRATURE = "quadrature"


@dataclass(frozen=True)
class Expectation:
    """E[f(u) g(v)] over N(0, [[a, c], [c, b]]) as a SymPy expression in a, b, c.

    ``route`` lists the derivation steps; ``diverges`` marks an expectation that is
    infinite where c^2 = ab (a product of deltas, e.g. the naive NTK of a jump activation).
    """

    expr: sp.Expr
    route: tuple[str, ...]
    diverges: bool = False

    @property
    def status(self) -> str:
        means = self.expr.atoms(GaussianMean)
        if means:
            nested = any(m.integrand.expr.has(GaussianMean) for m in means)
            return QUADRATURE if nested else REDUCED
        return SPECIAL if self.expr.has(OwenT) else CLOSED

    @property
    def closed_form(self) -> bool:
        return self.status in (CLOSED, SPECIAL)

    def swapped(self) -> Expectation:
        """The same expectation with the variances a and b exchanged: E[f(v) g(u)]."""
        return Expectation(self.expr.xreplace({a: b, b: a}), self.route, self.diverges)

    @property
    def latex(self) -> str:
        return sp.latex(self.expr)

    def describe(self) -> str:
        """Readable one-line formula with its status."""
        suffix = "; infinite where c^2 = ab" if self.diverges else ""
        return f"{sp.sstr(self.expr)}   [{self.status}{suffix}]"
