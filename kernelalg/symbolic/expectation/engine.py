"""Derivation of E[f(u) g(v)], (u, v) ~ N(0, [[a, c], [c, b]]), for distributions f and g.

Routes, tried in this order (docs/derivation.md section 3):

1. **Delta conditioning.** ``E[delta(u - t) g(v)] = N(t; 0, a) E[g(v) | u = t]`` with
   ``v | u = t ~ N(c t / a, (ab - c^2)/a)``; two deltas give the bivariate density.
2. **Constants** factor out: ``E[k g(v)] = k E[g(v)]``.
3. **Gaussian integral** when both are ``poly * exp(quadratic)`` on the whole line (sin, cos as
   complex exponentials ``exp(+-i k x)``; the result is the real part).
4. **Price's theorem** ``E[f g](c) = E[f] E[g] + int_0^c E[f' g'](tau) dtau`` with the
   distributional derivatives, recursively; for two steps the integral of the bivariate
   density is the orthant probability (Owen's T) unless both thresholds are 0.
5. **Fallback**: the reduced integral ``E[f(u) E[g(v) | u]]`` (one unevaluated
   :class:`GaussianMean`) or, if the inner mean has no closed form either, a nested one.
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

from kernelalg.errors import DerivationError
from kernelalg.symbolic.expectation.algebraic import algebraic_integral
from kernelalg.symbolic.expectation.gaussian2d import gaussian_product
from kernelalg.symbolic.expectation.orthant import orthant_increment
from kernelalg.symbolic.expectation.real import is_complex
from kernelalg.symbolic.expectation.result import REDUCED, Expectation
from kernelalg.symbolic.expectation.univariate import COMPLEX_STEP, gaussian_mean, mean_steps, normal_pdf
from kernelalg.symbolic.functions import x
from kernelalg.symbolic.piecewise import Distribution, decompose, derivative, gauss_terms, parity
from kernelalg.symbolic.special import GaussianMean, OwenT
from kernelalg.symbolic.timelimit import TimeLimitExceeded, limited

tau = sp.Symbol("tau", real=True)
y = sp.Symbol("y", real=True)
MAX_PRICE_DEPTH = 3
INTEGRATE_SECONDS = 8


def _mean_steps(*dists: Distribution, mu: sp.Expr | None = None) -> tuple[str, ...]:
    """The 1-D mean routes (erf terms, complex exponentials) that means of ``dists`` centred at
    ``mu`` (None: not known to be 0) take."""
    return tuple(dict.fromkeys(step for dist in dists for step in mean_steps(dist, mu)))


def _sum(outcomes: list[Expectation]) -> Expectation:
    route: list[str] = []
    for o in outcomes:
        route.extend(step for step in o.route if step not in route)
    return Expectation(sum((o.expr for o in outcomes), sp.S.Zero), tuple(route),
                   any(o.diverges for o in outcomes))


def _integrate(expr: sp.Expr, var: sp.Symbol, lo: sp.Expr, hi: sp.Expr) -> sp.Expr | None:
    """Definite integral: polynomials times half-integer powers of one quadratic by reduction
    formulas (:mod:`algebraic`), anything else by SymPy; None if it stays unevaluated or takes
    longer than INTEGRATE_SECONDS (SymPy runs in a forked child,
    :mod:`kernelalg.symbolic.timelimit`, which records the limit for the caller)."""
    value = algebraic_integral(expr, var, lo, hi)
    if value is not None:
        return value
    try:
        value = limited(_integrate_now, (expr, var, lo, hi), INTEGRATE_SECONDS)
    except (TimeLimitExceeded, NotImplementedError, ValueError, TypeError):
        return None
    return None if value.has(sp.Integral) else value


def _integrate_now(expr: sp.Expr, var: sp.Symbol, lo: sp.Expr, hi: sp.Expr) -> sp.Expr:
    """SymPy's result depends on the form of the integrand (e.g. 1/sqrt(K/4 - t^2/4) stays
    unevaluated where 2/sqrt(K - t^2) gives an arcsine): when the integral comes back
    unevaluated, the factored form is tried once."""
    value = sp.integrate(expr, (var, lo, hi), conds="none")
    if value.has(sp.Integral):
        factored = sp.factor(expr)
        value = sp.integrate(factored, (var, lo, hi), conds="none") if factored != expr else value
    return value


def conditional_mean(dist: Distribution, mu: sp.Expr, var: sp.Expr) -> sp.Expr | None:
    """E[g(X)], X ~ N(mu, var), derived with var replaced by a positive symbol, then substituted.

    The conditional variance (ab - c^2)/a is non-negative, which SymPy cannot infer; a
    positive stand-in keeps square roots and integrals free of sign conditions.
    """
    stand_in = sp.Dummy("V", positive=True)
    value = gaussian_mean(dist, mu, stand_in)
    return None if value is None else value.subs(stand_in, var)


def mean_or_placeholder(dist: Distribution, mu: sp.Expr, var: sp.Expr) -> sp.Expr:
    """E[g(X)], X ~ N(mu, var): the closed form, or an unevaluated GaussianMean."""
    value = conditional_mean(dist, mu, var)
    if value is not None:
        return value
    return GaussianMean(mu, var, sp.Lambda(x, dist.as_expr()))


def _delta_delta(f: Distribution, g: Distribution, a, b, c) -> Expectation:
    det = a * b - c**2
    expr = sum((w * v * sp.exp(-(b * t**2 - 2 * c * t * s + a * s**2) / (2 * det)) / (2 * sp.pi * sp.sqrt(det))
                for t, w in f.deltas for s, v in g.deltas), sp.S.Zero)
    return Expectation(expr, ("delta x delta: bivariate normal density at the two locations",), True)


def _condition(deltas, g: Distribution, a, b, c, on: str) -> Expectation:
    """sum_t w N(t; 0, a) E[g(v) | u = t] with v | u = t ~ N(c t/a, (ab - c^2)/a)."""
    var = (a * b - c**2) / a
    expr = sum((w * normal_pdf(t, 0, a) * mean_or_placeholder(g, c * t / a, var) for t, w in deltas), sp.S.Zero)
    step = (f"delta conditioning on {on}: E[delta({on} - t) g] = N(t; 0, var_{on}) E[g | {on} = t], "
            "a 1-D Gaussian mean")
    return Expectation(expr, (step, *_mean_steps(g)))


def _price(f: Distribution, g: Distribution, a, b, c, depth: int) -> Expectation | None:
    mean_f, mean_g = gaussian_mean(f, 0, a), gaussian_mean(g, 0, b)
    if mean_f is None or mean_g is None:
        return None
    try:
        df, dg = derivative(f), derivative(g)
    except DerivationError:
        return None
    step = "Price's theorem: E[f g](c) = E[f] E[g] + int_0^c E[f' g'](tau) dtau"
    means = _mean_steps(f, g, mu=sp.S.Zero)
    if df.is_zero() or dg.is_zero():
        return Expectation(mean_f * mean_g, (step, *means))
    if f.is_step_function() and g.is_step_function():
        nonzero = [(t, w, s, v) for t, w in df.deltas for s, v in dg.deltas if t != 0 or s != 0]
        at_zero = [(w, v) for t, w in df.deltas for s, v in dg.deltas if t == 0 and s == 0]
        total = mean_f * mean_g
        route = [step]
        if nonzero:
            total += sum((w * v * orthant_increment(t, s, a, b, c) for t, w, s, v in nonzero), sp.S.Zero)
            route.append("orthant probability of two steps via Owen's T")
        if at_zero:
            density = normal_pdf(0, 0, 1) ** 2 / sp.sqrt(a * b - tau**2) * 2 * sp.pi / (2 * sp.pi)
            integral = _integrate(density, tau, 0, c)
            if integral is None:
                return None
            total += sum((w * v for w, v in at_zero), sp.S.Zero) * integral
            route.append("integral of the bivariate density at the origin over c")
        return Expectation(total, tuple(route))
    inner = expect(df, dg, a, b, tau, depth + 1)
    if inner is None or not inner.closed_form or inner.expr.has(OwenT):
        return None  # no elementary antiderivative in c to be had
    integral = _integrate(inner.expr, tau, 0, c)
    if integral is None:
        return None
    return Expectation(mean_f * mean_g + integral, (step, *means, *inner.route, "integrated in c"))


def _combined_exponents(expr: sp.Expr) -> sp.Expr:
    """Each exponential's argument as one fraction: the terms of a conditional mean's exponent
    are each of order 1/(ab - c^2) and cancel (-m^2/2V + m^2/(2V(1 + 2V)) = -m^2/(1 + 2V)), which
    float64 cannot do near c^2 = ab; their exact sum has no such cancellation."""
    return expr.replace(lambda e: isinstance(e, sp.exp) and e.args[0].is_Add,
                        lambda e: sp.exp(sp.factor(sp.cancel(e.args[0]))))


def _centred_gaussian(dist: Distribution) -> tuple[sp.Expr, sp.Expr] | None:
    """(K, k) where ``dist`` is K exp(-k x^2), k > 0, on the whole line; else None."""
    if dist.deltas or len(dist.pieces) != 1:
        return None
    terms = gauss_terms(dist.pieces[0].expr)
    if terms is None or len(terms) != 1:
        return None
    rest, q = terms[0]
    k = -q.coeff_monomial(x**2)
    if rest.has(x) or q.coeff_monomial(x) != 0 or not k.is_extended_positive:
        return None
    return rest * sp.exp(q.coeff_monomial(1)), k


@lru_cache(maxsize=64)  # asked for a closed form before Price's route, and again by the fallback
def _tilt(f: Distribution, g: Distribution, a, b, c) -> Expectation | None:
    """E[K exp(-k u^2) g(v)] = K / sqrt(1 + 2 k a) E[g(w)], w ~ N(0, (b + 2 k (ab - c^2)) / (1 + 2 k a)):
    the Gaussian factor tilts the law of (u, v) to a Gaussian one (u's variance a / (1 + 2 k a))
    under which v has that variance; either side may be the Gaussian one."""
    for gauss, other, (var_g, var_o) in ((f, g, (a, b)), (g, f, (b, a))):
        found = _centred_gaussian(gauss)
        if found is not None:
            scale, k = found
            var = (var_o + 2 * k * (a * b - c**2)) / (1 + 2 * k * var_g)
            steps = ("Gaussian tilt: E[K exp(-k u^2) g(v)] = K / sqrt(1 + 2 k a) E[g(w)], "
                     "w ~ N(0, (b + 2 k (ab - c^2)) / (1 + 2 k a))", *_mean_steps(other, mu=sp.S.Zero))
            return Expectation(scale / sp.sqrt(1 + 2 * k * var_g) * mean_or_placeholder(other, 0, var), steps)
    return None


def _fallback(f: Distribution, g: Distribution, a, b, c) -> Expectation:
    """A centred Gaussian side tilted away (_tilt), else E[f(u) E[g(v) | u]] with the inner
    mean closed if possible, else nested quadrature.

    The outer variable is ``y``; inner means are in the function's own variable ``x``.
    """
    tilted = _tilt(f, g, a, b, c)
    if tilted is not None:
        return tilted
    var_v, var_u = (a * b - c**2) / a, (a * b - c**2) / b
    inner_g = conditional_mean(g, c * y / a, var_v)
    inner_g = None if inner_g is None else _combined_exponents(inner_g)
    if inner_g is not None:
        expr = GaussianMean(0, a, sp.Lambda(y, f.as_expr().subs(x, y) * inner_g))
        return Expectation(expr, ("no closed form: reduced 1-D integral E[f(u) E[g(v) | u]]", *_mean_steps(g)))
    inner_f = conditional_mean(f, c * y / b, var_u)
    if inner_f is not None:
        inner_f = _combined_exponents(inner_f)
        expr = GaussianMean(0, b, sp.Lambda(y, g.as_expr().subs(x, y) * inner_f))
        return Expectation(expr, ("no closed form: reduced 1-D integral E[g(v) E[f(u) | v]]", *_mean_steps(f)))
    inner = GaussianMean(c * y / a, var_v, sp.Lambda(x, g.as_expr()))
    expr = GaussianMean(0, a, sp.Lambda(y, f.as_expr().subs(x, y) * inner))
    return Expectation(expr, ("no closed form: 2-D integral as nested 1-D Gaussian means",))


def _parity_constant(f: Distribution, p: int) -> sp.Expr | None:
    """k where f's part of parity p, (f(x) + p f(-x)) / 2, is the constant k: against a g of
    parity p, E[f(u) g(v)] = k E[g(v)], since (u, v) and (-u, -v) have the same law."""
    expr = f.as_expr()
    return decompose(sp.simplify((expr + p * expr.subs(x, -x)) / 2)).constant()


def _regular(f: Distribution, g: Distribution, a, b, c, depth: int) -> Expectation | None:
    for const, other, var in ((f.constant(), g, b), (g.constant(), f, a)):
        if const is not None:
            steps = ("constant factor: k E[g]", *_mean_steps(other, mu=sp.S.Zero))
            return Expectation(const * mean_or_placeholder(other, 0, var), steps)
    pf, pg = parity(f), parity(g)
    for p, own, side, other, var in ((pg, pf, f, g, b), (pf, pg, g, f, a)):
        const = _parity_constant(side, p) if p and not own else None
        if const is not None:
            steps = ("parity: E[f(u) g(v)] = E[f_p(u) g(v)], f_p = (f(x) + p f(-x))/2 the part of f of "
                     "g's parity p, here a constant k: k E[g]", *_mean_steps(other, mu=sp.S.Zero))
            result = Expectation(const * mean_or_placeholder(other, 0, var), steps)
            if result.closed_form or depth == 0:  # deeper only a closed form serves (Price integrates it)
                return result
    if len(f.pieces) == 1 and len(g.pieces) == 1:
        f_terms, g_terms = gauss_terms(f.pieces[0].expr), gauss_terms(g.pieces[0].expr)
        if f_terms is not None and g_terms is not None:
            step = "Gaussian integral over the plane (polynomial x exp(quadratic))"
            complex_step = (COMPLEX_STEP,) if is_complex(f_terms) or is_complex(g_terms) else ()
            return Expectation(gaussian_product(f_terms, g_terms, a, b, c), (step, *complex_step))
    tilted = _tilt(f, g, a, b, c)
    if tilted is not None and tilted.closed_form:
        return tilted
    if depth < MAX_PRICE_DEPTH:
        return _price(f, g, a, b, c, depth)
    return None


def expect(f: Distribution, g: Distribution, a=None, b=None, c=None, depth: int = 0) -> Expectation | None:
    """E[f(u) g(v)]; at depth 0 always an Expectation (possibly a fallback), deeper None if stuck."""
    from kernelalg.symbolic.expectation.result import a as A
    from kernelalg.symbolic.expectation.result import b as B
    from kernelalg.symbolic.expectation.result import c as C

    a, b, c = (A if a is None else a), (B if b is None else b), (C if c is None else c)
    parts: list[Expectation] = []
    if f.deltas and g.deltas:
        parts.append(_delta_delta(f, g, a, b, c))
    if f.deltas and not g.regular.is_zero():
        parts.append(_condition(f.deltas, g.regular, a, b, c, "u"))
    if g.deltas and not f.regular.is_zero():
        parts.append(_condition(g.deltas, f.regular, b, a, c, "v"))
    if not f.regular.is_zero() and not g.regular.is_zero():
        regular = _regular(f.regular, g.regular, a, b, c, depth)
        if regular is None or not (regular.closed_form or (depth == 0 and regular.status == REDUCED)):
            if depth > 0:
                return None
            regular = _fallback(f.regular, g.regular, a, b, c)
        parts.append(regular)
    if not parts:
        return Expectation(sp.S.Zero, ("zero",))
    return _sum(parts)
