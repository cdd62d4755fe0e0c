"""One-dimensional Gaussian means E[g(X)], X ~ N(mu, var), of piecewise functions.

Route per piece:
* ``p(x) exp(q(x))`` on an interval (p polynomial, deg q <= 2): complete the square and
  integrate the moments ``int y^k exp(-A y^2) dy`` by the recurrence
  ``I_k = (k - 1)/(2A) I_(k-2) + [y^(k-1) exp(-A y^2)]_U^L / (2A)``;
* a point mass ``w delta(x - t)``: ``w N(t; mu, var)``;
* odd functions at mu = 0: zero;
* rational functions over the whole line at mu = 0: SymPy's definite integration.
Anything else has no closed form here and the caller receives None.
"""

from __future__ import annotations

import sympy as sp

from kernelalg.symbolic.functions import x
from kernelalg.symbolic.piecewise import Distribution, Piece, gauss_terms, parity


def normal_pdf(t: sp.Expr, mu: sp.Expr, var: sp.Expr) -> sp.Expr:
    """N(t; mu, var)."""
    return sp.exp(-(t - mu) ** 2 / (2 * var)) / sp.sqrt(2 * sp.pi * var)


def _moments(A: sp.Expr, lo: sp.Expr, hi: sp.Expr, kmax: int) -> list[sp.Expr]:
    """I_k = int_lo^hi y^k exp(-A y^2) dy for k = 0..kmax (A > 0)."""
    def erf_at(y):
        return sp.S.One if y == sp.oo else sp.S.NegativeOne if y == -sp.oo else sp.erf(sp.sqrt(A) * y)

    def boundary(y, k):
        return sp.S.Zero if y in (sp.oo, -sp.oo) else y ** (k - 1) * sp.exp(-A * y**2)

    out = [sp.sqrt(sp.pi) / (2 * sp.sqrt(A)) * (erf_at(hi) - erf_at(lo))]
    if kmax >= 1:
        out.append((boundary(lo, 1) - boundary(hi, 1)) / (2 * A))
    for k in range(2, kmax + 1):
        out.append((k - 1) / (2 * A) * out[k - 2] + (boundary(lo, k) - boundary(hi, k)) / (2 * A))
    return out


def gauss_poly_integral(p: sp.Expr, q: sp.Poly, lo: sp.Expr, hi: sp.Expr) -> sp.Expr:
    """int_lo^hi p(x) exp(q(x)) dx for a polynomial p and a quadratic q with negative x^2 coefficient."""
    q2, q1, q0 = (q.coeff_monomial(x**k) for k in (2, 1, 0))
    A = -q2
    m = q1 / (2 * A)  # q(x) = -A (x - m)^2 + q0 + A m^2
    y = sp.Dummy("y")
    shifted = sp.Poly(sp.expand(p.subs(x, y + m)), y)
    shift = lambda e: e if e in (sp.oo, -sp.oo) else e - m  # noqa: E731
    moments = _moments(A, shift(lo), shift(hi), shifted.degree())
    body = sum((coef * moments[k] for (k,), coef in shifted.terms()), sp.S.Zero)
    return sp.exp(q0 + A * m**2) * body


def _piece_mean(piece: Piece, mu: sp.Expr, var: sp.Expr) -> sp.Expr | None:
    if piece.expr == 0:
        return sp.S.Zero
    terms = gauss_terms(piece.expr)
    if terms is None:
        return None
    density = sp.Poly(-(x - mu) ** 2 / (2 * var), x)
    total = sp.S.Zero
    for p, q in terms:
        total += gauss_poly_integral(p, q + density, piece.lo, piece.hi)
    return total / sp.sqrt(2 * sp.pi * var)


def gaussian_mean(dist: Distribution, mu: sp.Expr, var: sp.Expr) -> sp.Expr | None:
    """E[g(X)] for X ~ N(mu, var) in closed form, or None when no route applies."""
    if mu == 0 and parity(dist) == -1:
        return sp.S.Zero
    total = sum((w * normal_pdf(t, mu, var) for t, w in dist.deltas), sp.S.Zero)
    for piece in dist.pieces:
        value = _piece_mean(piece, mu, var)
        if value is None and len(dist.pieces) == 1 and mu == 0 and piece.expr.is_rational_function(x):
            value = sp.integrate(piece.expr * normal_pdf(x, 0, var), (x, -sp.oo, sp.oo), conds="none")
            value = None if value.has(sp.Integral) else value
        if value is None:
            return None
        total += value
    return total
