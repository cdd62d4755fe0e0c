"""Derivatives of derived layer maps m(a, b, c) = E[f(u) g(v)] in the covariance entries.

The hyperparameter derivatives of deep kernels (chain rule through the layer recursion) need
dm/da, dm/db, dm/dc off the degenerate set c^2 = ab, and on the diagonal a = b = +-c (the
two units are the same, or opposite, random variable and stay so when hyperparameters
change) the derivative of the diagonal map D(v) = m(v, v, +-v).  All are obtained from the
derived expression, never by differencing:

* closed forms (including Owen's T) are differentiated by SymPy;
* an unevaluated mean G = E[g(X)], X ~ N(mu, s), is differentiated by Gaussian integration by
  parts (Stein's lemma, equivalent to the heat equation d/ds E[g] = E[g'']/2):

      dG/dt = E[ g'(X) (mu_t + (X - mu) s_t / (2 s)) + dg/dt (X) ]

  which needs g' only: kinks of g are fine, a jump (a delta in g') is refused;
* D(v) is the expression at b = a, c = +-a (a mean of zero variance is its integrand at the
  mean), or SymPy's one-sided limit c -> +-a where that substitution is 0/0.
"""

from __future__ import annotations

import sympy as sp

from kernelalg.errors import DerivationError
from kernelalg.symbolic.derive import expectation_data, expectation_from
from kernelalg.symbolic.expectation.result import Expectation, a, b, c
from kernelalg.symbolic.functions import x
from kernelalg.symbolic.piecewise import NONSMOOTH, decompose, derivative
from kernelalg.symbolic.special import GaussianMean

PARTIALS = {"da": a, "db": b, "dc": c}
DIAGONALS = {"diag": 1, "anti": -1}  # D(v) = m(v, v, v) and m(v, v, -v)
TITLES = {"da": "d/da", "db": "d/db", "dc": "d/dc", "diag": "d/da of m(a, a, a)", "anti": "d/da of m(a, a, -a)"}


def _top_means(expr: sp.Expr) -> list[GaussianMean]:
    found: list[GaussianMean] = []

    def visit(node: sp.Basic) -> None:
        if isinstance(node, GaussianMean):
            if node not in found:
                found.append(node)
            return
        for arg in node.args:
            visit(arg)

    visit(expr)
    return found


def _check_continuous(g: sp.Expr, var: sp.Symbol) -> None:
    """Refuse an integrand with a jump in ``var``: its derivative would carry a delta."""
    if not g.has(*NONSMOOTH) or g.has(GaussianMean):
        return
    if derivative(decompose(g.xreplace({var: x}))).deltas:
        raise DerivationError(f"the integrand {g} jumps: its derivative has a delta term (not supported)")


def partial(expr: sp.Expr, symbol: sp.Symbol) -> sp.Expr:
    """d expr / d symbol, with every GaussianMean differentiated by Gaussian integration by parts."""
    means = _top_means(expr)
    stand_ins = {gm: sp.Dummy(f"G{i}") for i, gm in enumerate(means)}
    body = expr.xreplace(stand_ins)
    result = sp.diff(body, symbol)
    for gm, s in stand_ins.items():
        outer = sp.diff(body, s)
        if outer != 0:
            result += outer * _mean_partial(gm, symbol)
    result = result.xreplace({s: gm for gm, s in stand_ins.items()})
    if result.has(sp.DiracDelta, sp.Derivative):
        raise DerivationError(f"d/d{symbol} of {expr} is not a plain expression (delta or unevaluated derivative)")
    return result


def _mean_partial(gm: GaussianMean, symbol: sp.Symbol) -> sp.Expr:
    """d/d symbol of E[g(X)], X ~ N(mu, s) (Stein's lemma), as means whose integrands depend on
    X and a, b, c only (an outer integration variable may enter mu, never an integrand):

        mu_t E[g'(X)] + s_t / (2 s) (E[X g'(X)] - mu E[g'(X)]) + E[dg/dt (X)]."""
    (var,) = gm.integrand.variables
    g, mu, s = gm.integrand.expr, gm.mu, gm.var
    mu_t, s_t = sp.diff(mu, symbol), sp.diff(s, symbol)
    mean = lambda body: GaussianMean(mu, s, sp.Lambda(var, body))
    result = mean(partial(g, symbol)) if g.has(symbol) else sp.S.Zero
    if mu_t != 0 or s_t != 0:
        _check_continuous(g, var)
        slope = partial(g, var)
        result += (mu_t - mu * s_t / (2 * s)) * mean(slope) + s_t / (2 * s) * mean(var * slope)
    return result


def _point_masses(expr: sp.Expr) -> sp.Expr:
    """Means of zero variance replaced by their integrand at the mean."""
    return expr.replace(lambda e: isinstance(e, GaussianMean) and e.var == 0,
                        lambda e: e.integrand(e.mu))


def _undefined(expr: sp.Expr) -> bool:
    return expr.has(sp.nan, sp.zoo, sp.oo, -sp.oo, sp.Limit)


def diagonal(expr: sp.Expr, sign: int) -> sp.Expr:
    """D(a) = expr at b = a, c = sign * a.  Where that substitution is 0/0, the one-sided limit
    c -> sign * a is taken, first of the offending function arguments alone (e.g. Owen's T of
    (a - c)/sqrt(a^2 - c^2) -> T(h, 0)), then of the whole expression."""
    on_line = expr.xreplace({b: a})
    end, side = sign * a, "-" if sign > 0 else "+"
    value = _point_masses(on_line.subs(c, end))
    if not _undefined(value):
        return value
    if on_line.has(GaussianMean):
        raise DerivationError(f"no diagonal value of {expr}: 0/0 with an unevaluated mean")

    def argument_limits(fn: sp.Function) -> sp.Expr:
        args = [arg if not _undefined(arg.subs(c, end)) else sp.limit(arg, c, end, side) for arg in fn.args]
        return fn.func(*args)

    value = on_line.replace(lambda e: isinstance(e, sp.Function) and e.has(c) and _undefined(e.subs(c, end)),
                            argument_limits).subs(c, end)
    if _undefined(value):
        value = sp.limit(on_line, c, end, side)
    if _undefined(value):
        raise DerivationError(f"no finite diagonal limit of {expr}")
    return value


def derivatives(expr: sp.Expr) -> dict[str, sp.Expr | None]:
    """{"da", "db", "dc": partial derivatives; "diag", "anti": dD/da on c = +a and c = -a, None
    where that diagonal form has no derivation (e.g. an infinite Owen's T argument)}."""
    out: dict[str, sp.Expr | None] = {name: partial(expr, symbol) for name, symbol in PARTIALS.items()}
    for name, sign in DIAGONALS.items():
        try:
            out[name] = partial(diagonal(expr, sign), a)
        except DerivationError:
            out[name] = None
    return out


def derivatives_task(data: dict) -> dict:
    """Worker task: :func:`derivatives` of the derived map ``data["map"]`` (expectation data) named
    ``data["name"]``, as expectation data whose route starts with the derivative taken."""
    result = expectation_from(data["map"])
    return {k: None if e is None else
            expectation_data(Expectation(e, (f"SymPy {TITLES[k]} of the derived {data['name']} map", *result.route)))
            for k, e in derivatives(result.expr).items()}
