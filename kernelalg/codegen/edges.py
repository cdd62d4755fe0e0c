"""Series of a closed form at the edge |rho| = 1, where its float64 evaluation cancels.

Near rho = -1 the arc-cosine maps of the ReLU family are differences of O(1) terms whose value
is O(t^(2n+1)), t = acos(-rho) the angle to the antipode: E[max(u, 0)^2 max(v, 0)^2] loses
about 4 log10(1/t) digits, every digit at 1 + rho = 1e-9.  In the angle t to the edge (c =
sigma sqrt(ab) cos t, sqrt(ab - c^2) = sqrt(ab) sin t, asin(c/sqrt(ab)) = sigma (pi/2 - t),
sigma = +-1) the derived expression is analytic at t = 0, and SymPy's series in t is free of
that cancellation.  The generated code evaluates t itself without cancellation,
``atan2(sqrt(ab - c^2), sigma c)`` with ab - c^2 from exact products, and the series replaces
the formula where t < T0.

An edge gets a series only where it is needed and right, both checked on a few variances: the
float64 formula must disagree near the edge with the derived expression evaluated in mpmath
(cancellation), and agree with the series at t = T0, the smallest angle of SWITCH where the
formula has lost at most a few bits and the series has converged (a wrong or truncated series
is never used; the switch is as close to the edge as accuracy allows, so few entries pay for
the series).
"""

from __future__ import annotations

from functools import lru_cache

import mpmath
import numpy as np
import sympy as sp

from kernelalg.codegen.printer import compile_function
from kernelalg.codegen.rewrite import Angle, Det2, careful
from kernelalg.symbolic.expectation.result import a, b, c
from kernelalg.symbolic.special import GaussianMean, OwenT

SWITCH = (0.1, 0.2, 0.3, 0.5)  # candidate angles T0 below which the series is used: the first that works
ORDER = 24  # terms kept beyond the leading power: t^24 at 0.5 is 6e-8, times coefficients ~ 1/24!
PROBE_T = (1e-3, 1e-5)  # angles where cancellation is looked for
SAME = 1e-13  # relative agreement that counts as "no cancellation" (near the edge)
AGREE = 1e-13  # relative agreement of formula and series at T0
VARIANCES = ((1.0, 1.0), (2.0, 0.5), (1e-4, 1e4), (1e3, 1e3))

t = sp.Symbol("t", positive=True)


class NearEdge(sp.Function):
    """``value`` where the angle t to the edge rho = sigma is at least T0, else the map's series.

    Arguments (value, angle, T0, sigma, series): ``angle`` is the expression of t in a, b, c;
    ``series`` a Lambda of (a, b, t), or a Symbol naming its generated function."""

    nargs = 5


def edge_angle(sigma: int) -> sp.Expr:
    """t = acos(sigma rho) = atan2(sqrt(ab - c^2), sigma c), with ab - c^2 from exact products."""
    return Angle(sp.sqrt(Det2(a, b, c)), sigma * c)


def _at_edge(expr: sp.Expr, sigma: int) -> sp.Expr | None:
    """expr in the angle t to the edge rho = sigma; None if c remains outside those forms."""
    root = sp.sqrt(a) * sp.sqrt(b)

    def is_det_power(e: sp.Expr) -> bool:
        return e.is_Pow and e.base.has(c) and sp.expand(e.base - (a * b - c**2)) == 0

    def is_arcsine(e: sp.Expr) -> bool:
        return isinstance(e, sp.asin) and sp.simplify(e.args[0] * root / c) == 1

    expr = expr.replace(is_det_power, lambda e: (root * sp.sin(t)) ** (2 * e.exp))
    expr = expr.replace(is_arcsine, lambda e: sigma * (sp.pi / 2 - t))
    expr = expr.xreplace({c: sigma * root * sp.cos(t)})
    analytic = not any(p.base.has(t) and not p.exp.is_integer for p in expr.atoms(sp.Pow))
    return expr if analytic and not expr.has(sp.asin, sp.acos, sp.atan, sp.erf, sp.exp) else None


def _series(edge: sp.Expr) -> sp.Lambda | None:
    """The series in t of ``edge`` (a map in the angle t to an edge, :func:`_at_edge`) at t = 0,
    in Horner form, as Lambda((a, b, t), ...)."""
    rough = sp.expand(sp.series(edge, t, 0, 8).removeO())
    if rough == 0 or rough.has(sp.log) or not rough.is_polynomial(t):
        return None
    lead = min(sp.Poly(rough, t).monoms())[0]
    series = sp.expand(sp.series(edge, t, 0, lead + ORDER + 1).removeO())
    if not series.is_polynomial(t):
        return None
    poly = sp.Poly(series, t)
    coeffs = poly.all_coeffs()  # highest power first
    lowest = min(poly.monoms())[0]
    common = sp.factor(coeffs[-1 - lowest]) * t**lowest  # the leading term, e.g. sqrt(ab) t^3 / (6 pi)
    horner = sp.S.Zero
    for coeff in coeffs[:len(coeffs) - lowest]:
        term = sp.factor(coeff * t**lowest / common)
        horner = horner * t + (sp.Float(term, 17) if term.is_number else term)
    return sp.Lambda((a, b, t), common * horner)


def _edge_points(sigma: int, angles: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Covariances (a, b, c) at the given angles to the edge rho = sigma, for each of VARIANCES."""
    av, bv = (np.repeat(v, len(angles)) for v in zip(*VARIANCES))
    return av, bv, sigma * np.sqrt(av * bv) * np.cos(np.tile(angles, len(VARIANCES)))


def _cancels(expr: sp.Expr, formula, sigma: int) -> bool:
    """The float64 formula is off near the edge: compared with the derived expression evaluated
    in mpmath at 40 digits (a detector only; witnesses are independent of the engine)."""
    A, B, C = _edge_points(sigma, PROBE_T)
    with mpmath.workdps(40), np.errstate(all="ignore"):
        try:
            exact = sp.lambdify((a, b, c), expr, modules="mpmath")
            want = np.array([float(exact(*(mpmath.mpf(float(v)) for v in point))) for point in zip(A, B, C)])
        except (TypeError, ValueError, NameError, ZeroDivisionError, OverflowError):
            return False  # not evaluable in mpmath: left as it is
        got = formula(A, B, C)
        err = np.abs(got - want) / np.abs(want)
    return bool((~(err <= SAME)).any())


def _switch(formula, angle, series, sigma: int) -> float | None:
    """The smallest angle T0 of SWITCH where the formula agrees with the series (to AGREE): it
    has lost a few bits at most there and the series has converged; None if there is none."""
    for t0 in SWITCH:
        A, B, C = _edge_points(sigma, (t0 * (1 - 1e-3),))
        with np.errstate(all="ignore"):
            err = np.abs(formula(A, B, C) - series(A, B, angle(A, B, C))) / np.abs(formula(A, B, C))
        if (err < AGREE).all():
            return t0
    return None


@lru_cache(maxsize=256)
def near_edge(expr: sp.Expr) -> sp.Expr:
    """The float64-careful form of a derived expression (:func:`careful`), with the series at
    each edge where the formula cancels (NearEdge)."""
    form = careful(expr)
    if expr.has(GaussianMean, OwenT) or not expr.has(c):
        return form
    formula = None
    for sigma in (-1, 1):
        edge = _at_edge(expr, sigma)
        if edge is None:  # not analytic in the angle to the edge: no series to try (checked first: cheap)
            continue
        formula = formula or compile_function(form, (a, b, c))
        if not _cancels(expr, formula, sigma):
            continue
        series = _series(edge)
        if series is None:
            continue
        angle = edge_angle(sigma)
        t0 = _switch(formula, compile_function(angle, (a, b, c)), compile_function(series.expr, (a, b, t)), sigma)
        if t0 is not None:
            form = NearEdge(form, angle, sp.Float(t0), sp.Integer(sigma), series)
    return form
