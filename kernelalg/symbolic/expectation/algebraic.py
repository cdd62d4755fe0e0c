"""Definite integrals of polynomials times half-integer powers of a quadratic, and times asin.

Price's theorem integrates Gaussian-product results over the covariance; for activations
whose derivatives end in Gaussian terms without linear parts (erf, GELU, ...) these are sums
of ``k t^j (P - Q t^2)^(n/2)`` (n odd) and, one level up, ``k t^j asin(q t)``, whose SymPy
integration is slow and returns case distinctions.  Term by term, with K = Q (r - t^2),
r = P/Q > 0 and s = r - t^2:

* odd j: the substitution s = r - t^2 turns t^j s^(n/2) into a polynomial in s times s^(n/2);
* even j: t^j = (r - s)^(j/2) is expanded, leaving L_n = int s^(n/2) dt, from
  d/dt [t s^(n/2)] = (1 + n) s^(n/2) - n r s^(n/2 - 1), i.e.
  (1 + n) L_n = t s^(n/2) + n r L_(n-2), starting at L_(-1) = asin(t / sqrt(r));
* asin by parts: int t^j asin(q t) = t^(j+1) asin(q t)/(j + 1) - q/(j + 1) int t^(j+1) / sqrt(1 - q^2 t^2).
"""

from __future__ import annotations

import sympy as sp


def _quadratic(base: sp.Expr, var: sp.Symbol) -> tuple[sp.Expr, sp.Expr] | None:
    """(P, Q) if base = P - Q var^2 with Q > 0 (P, Q free of var), else None."""
    poly = sp.Poly(base, var) if base.is_polynomial(var) else None
    if poly is None or poly.degree() != 2 or poly.coeff_monomial(var) != 0:
        return None
    P, Q = poly.coeff_monomial(1), -poly.coeff_monomial(var**2)
    return (P, Q) if Q.is_positive else None


def _term_integral(term: sp.Expr, var: sp.Symbol, lo: sp.Expr, hi: sp.Expr,
                   bases: dict[sp.Symbol, tuple[sp.Expr, sp.Expr]]) -> sp.Expr | None:
    """int_lo^hi of one term k var^j, k var^j s^(n/2) (n odd; s a stand-in for P - Q var^2,
    ``bases`` maps s to (P, Q)) or k var^j asin(q var)."""
    parts = sp.separatevars(term, symbols=[var, *bases], dict=True)
    if parts is None:
        return None
    roots = [(s, parts[s]) for s in bases if parts[s] != 1]
    j, rest = 0, []
    for factor in sp.Mul.make_args(parts[var]):
        base, e = factor.as_base_exp()
        if base == var and e.is_Integer and e >= 0:
            j += int(e)
        elif factor != 1:
            rest.append(factor)
    coeff = parts["coeff"]
    if len(rest) + len(roots) > 1:
        return None
    if rest:
        (factor,) = rest
        q = sp.cancel(factor.args[0] / var) if isinstance(factor, sp.asin) else var
        if q.has(var):
            return None
        # by parts: t^(j+1)/(j+1) asin(q t) - q/(j+1) int t^(j+1) (1 - q^2 t^2)^(-1/2)
        boundary = (hi ** (j + 1) * sp.asin(q * hi) - lo ** (j + 1) * sp.asin(q * lo)) / (j + 1)
        s = sp.Dummy("s", positive=True)
        inner = _term_integral(var ** (j + 1) / sp.sqrt(s), var, lo, hi, {s: (sp.S.One, q**2)})
        return None if inner is None else coeff * (boundary - q * inner / (j + 1))
    if not roots:
        return coeff * (hi ** (j + 1) - lo ** (j + 1)) / (j + 1)
    ((s, power),) = roots
    base, e = power.as_base_exp()
    if base != s or not (e.is_Rational and e.q == 2):
        return None
    P, Q = bases[s]
    n = int(2 * e)
    r, t = sp.Dummy("r", positive=True), sp.Dummy("t", real=True)
    F = _antiderivative(j, n, t, r)  # (P - Q t^2)^(n/2) = Q^(n/2) (r - t^2)^(n/2), r = P/Q
    return (coeff * Q ** sp.Rational(n, 2) * (F.subs(t, hi) - F.subs(t, lo))).subs(r, P / Q)


def _antiderivative(j: int, n: int, t: sp.Symbol, r: sp.Expr) -> sp.Expr:
    """An antiderivative of t^j (r - t^2)^(n/2) in t (n odd)."""
    s = r - t**2
    if j % 2:  # ds = -2 t dt, t^(j-1) = (r - s)^((j-1)/2)
        sigma = sp.Dummy("sigma")
        body = sp.Poly(sp.expand((r - sigma) ** ((j - 1) // 2)), sigma)
        total = sum((k * sigma ** (i + sp.Rational(n, 2) + 1) / (i + sp.Rational(n, 2) + 1)
                     for (i,), k in body.terms()), sp.S.Zero)
        return -total.subs(sigma, s) / 2
    total = sp.S.Zero
    for i in range(j // 2 + 1):  # t^j = (r - s)^(j/2) = sum_i binom(j/2, i) r^(j/2 - i) (-s)^i
        total += sp.binomial(j // 2, i) * r ** (j // 2 - i) * (-1) ** i * _power_integral(n + 2 * i, t, r)
    return total


def _power_integral(n: int, t: sp.Symbol, r: sp.Expr) -> sp.Expr:
    """L_n = int (r - t^2)^(n/2) dt for odd n, by the recurrence (1 + n) L_n = t s^(n/2) + n r L_(n-2)."""
    s = r - t**2
    if n == -1:
        return sp.asin(t / sp.sqrt(r))
    if n > 0:
        return (t * s ** sp.Rational(n, 2) + n * r * _power_integral(n - 2, t, r)) / (1 + n)
    # n <= -3: (n + 3) L_(n+2) = t s^((n+2)/2) + (n + 2) r L_n
    return ((n + 3) * _power_integral(n + 2, t, r) - t * s ** sp.Rational(n + 2, 2)) / ((n + 2) * r)


def algebraic_integral(expr: sp.Expr, var: sp.Symbol, lo: sp.Expr, hi: sp.Expr) -> sp.Expr | None:
    """int_lo^hi expr dvar, term by term, for sums of k var^j, k var^j (P - Q var^2)^(n/2) with
    n odd, Q > 0 (the quadratic positive on [lo, hi]) and k var^j asin(q var); None otherwise."""
    roots = {p.base for p in expr.atoms(sp.Pow) if p.base.has(var) and p.exp.is_Rational and p.exp.q == 2}
    if not roots and not expr.has(sp.asin):
        return None
    bases, stand_ins = {}, {}
    for base in roots:
        quadratic = _quadratic(base, var)
        if quadratic is None:
            return None
        stand_ins[base] = sp.Dummy("s", positive=True)
        bases[stand_ins[base]] = quadratic
    total = sp.S.Zero
    for term in sp.Add.make_args(sp.expand_mul(expr.xreplace(stand_ins))):
        value = _term_integral(term, var, lo, hi, bases)
        if value is None:
            return None
        total += value
    return total
