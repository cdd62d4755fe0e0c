"""Simpler equal forms of derived expectations, each kept only if it agrees numerically.

* SymPy's simplify after combining roots under the (valid) positivity of a, b and ab - c^2;

and, where shorter (SymPy's operation count):

* a rational normal form in the transcendental parts: square roots of factorable positive
  polynomials split into their factors' roots, then one fraction whose numerator is collected
  in the roots and inverse sines with factored coefficients (results of nested Price integrals
  are long sums of such terms);
* sums of exponentials paired into hyperbolic functions,
  ``k e^X + k e^Y = 2k e^((X+Y)/2) cosh((X-Y)/2)`` (and sinh for opposite signs), for
  coefficients k rational in a, b, c.
"""

from __future__ import annotations

import random

import sympy as sp

from kernelalg.symbolic.expectation.result import a, b, c
from kernelalg.symbolic.special import GaussianMean

_SIMPLIFY_MAX_OPS = 400
_COLLECT_MAX_OPS = 1500
_SIMPLIFY_COLLECTED_OPS = 150  # SymPy's simplify only below this when _collected applies


def agree(e1: sp.Expr, e2: sp.Expr) -> bool:
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


def _simplified(expr: sp.Expr) -> sp.Expr:
    candidate = sp.simplify(sp.powsimp(sp.powdenest(expr, force=True), force=True))
    return sp.factor_terms(candidate.replace(sp.exp, lambda arg: sp.exp(sp.factor(sp.cancel(arg)))))


def _split_root(power: sp.Pow) -> sp.Expr:
    """sqrt(P Q) -> sqrt(P) sqrt(Q) when the factors are positive for every valid covariance."""
    factors = sp.Mul.make_args(sp.factor(power.base))
    if len(factors) < 2 or not all(f.is_positive for f in factors):
        return power
    return sp.Mul(*(f**power.exp for f in factors))


def _collected(expr: sp.Expr) -> sp.Expr:
    expr = expr.replace(lambda e: e.is_Pow and e.exp.is_Rational and not e.exp.is_Integer and e.base.is_Add,
                        _split_root)
    num, den = sp.fraction(sp.cancel(sp.together(expr)))
    parts = {p for p in num.atoms(sp.Pow) if not p.exp.is_Integer} | num.atoms(sp.asin, sp.atan)
    num = sp.collect(sp.expand(num), sorted(parts, key=sp.default_sort_key), sp.factor)
    return sp.factor_terms(num / sp.factor(den))


def _hyperbolic(expr: sp.Expr) -> sp.Expr:
    """Pairs k exp(X) +- k exp(Y) of a sum of exponentials as 2k exp((X+Y)/2) cosh/sinh((X-Y)/2)."""
    terms = [t.as_independent(sp.exp, as_Add=False) for t in sp.Add.make_args(sp.powsimp(sp.expand(expr)))]
    out, used = [], set()
    for i, (k1, e1) in enumerate(terms):
        if i in used or not isinstance(e1, sp.exp) or not k1.is_rational_function(a, b, c):
            continue
        for j in range(i + 1, len(terms)):
            k2, e2 = terms[j]
            if j in used or not isinstance(e2, sp.exp) or sp.simplify(k1**2 - k2**2) != 0:
                continue
            mean = sp.factor(sp.cancel((e1.args[0] + e2.args[0]) / 2))
            half = sp.factor(sp.cancel((e1.args[0] - e2.args[0]) / 2))
            kind = sp.cosh if sp.simplify(k1 - k2) == 0 else sp.sinh
            out.append(2 * k1 * sp.exp(mean) * kind(half))
            used.update((i, j))
            break
    if not used:
        return expr
    return sp.Add(*out, *(k * e for n, (k, e) in enumerate(terms) if n not in used))


def tidy(expr: sp.Expr) -> sp.Expr:
    """A simpler equal form: SymPy's simplified one (kept if it agrees numerically with ``expr``),
    replaced by a shorter candidate of the other kinds if one agrees.  Long sums of roots and
    inverse sines (nested Price integrals) skip SymPy's simplify, which is slow on them."""
    if expr.has(GaussianMean):
        return expr
    ops = sp.count_ops(expr)
    collect = ops <= _COLLECT_MAX_OPS and expr.has(sp.asin) and any(not p.exp.is_Integer
                                                                     for p in expr.atoms(sp.Pow))
    best = expr
    if ops <= (_SIMPLIFY_MAX_OPS if not collect else _SIMPLIFY_COLLECTED_OPS):
        candidate = _simplified(expr)
        best = candidate if agree(candidate, expr) else expr
    others = ([_collected] if collect else []) + ([_hyperbolic] if expr.has(sp.exp) else [])
    for make in others:
        candidate = make(expr)
        if sp.count_ops(candidate) < sp.count_ops(best) and agree(candidate, expr):
            best = candidate
    return best
