"""One-dimensional Gaussian means E[g(X)], X ~ N(mu, var), of piecewise functions.

Route per piece:
* ``p(x) exp(q(x))`` on an interval (p polynomial, deg q <= 2): complete the square and
  integrate the moments ``int y^k exp(-A y^2) dy`` by the recurrence
  ``I_k = (k - 1)/(2A) I_(k-2) + [y^(k-1) exp(-A y^2)]_U^L / (2A)``; sin, cos, sinh and cosh
  are written as exponentials first, complex ones (from sin and cos) only on the whole line,
  where the result is the real part of the same integrals;
* ``p(x) exp(q(x)) erf(k x + m)`` on the whole line: the exponential tilts the density into
  another Gaussian Y ~ N(m', v'); Stein's lemma ``E[(Y - m') h(Y)] = v' E[h'(Y)]`` lowers the
  degree of p (h' of an erf is a Gaussian term), down to ``E[erf(k Y + m)]``: with
  ``erf(z) = 2 P(Z < sqrt(2) z) - 1`` for a standard normal Z independent of Y, it is given by
  the probability that the Gaussian ``Z - sqrt(2) k Y`` stays below ``sqrt(2) m``;
* a point mass ``w delta(x - t)``: ``w N(t; mu, var)``;
* odd functions at mu = 0: zero;
* rational functions over the whole line at mu = 0: SymPy's definite integration.
Anything else has no closed form here and the caller receives None.
"""

from __future__ import annotations

import sympy as sp

from kernelalg.symbolic.expectation.real import is_complex, real_value
from kernelalg.symbolic.functions import x
from kernelalg.symbolic.piecewise import EXPONENTIAL, Distribution, Piece, gauss_terms, parity

#: Route steps of the means beyond polynomial x exp(quadratic) (see mean_steps).
COMPLEX_STEP = "sin/cos written as complex exponentials exp(+-i k x): real part of the Gaussian integrals"
ERF_STEP = ("Gaussian mean of polynomial x erf(linear) terms: Stein's lemma E[(Y - m) h(Y)] = var E[h'(Y)], "
            "then E[erf(k Y + m)] as the probability of a Gaussian combination")


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
    whole_line = piece.lo == -sp.oo and piece.hi == sp.oo
    terms = gauss_terms(piece.expr)
    if terms is None:
        return _erf_mean(piece.expr, mu, var) if whole_line else None
    if is_complex(terms) and not whole_line:
        return None  # erf of a complex argument: no real closed form here
    density = sp.Poly(-(x - mu) ** 2 / (2 * var), x)
    total = sp.S.Zero
    for p, q in terms:
        total += gauss_poly_integral(p, q + density, piece.lo, piece.hi)
    return real_value(total / sp.sqrt(2 * sp.pi * var))


def _stein_erf(p: sp.Expr, mean: sp.Expr, var: sp.Expr, z: sp.Expr) -> sp.Expr:
    """E[p(Y) erf(z(Y))] for Y ~ N(mean, var), z linear: M_n = E[Y^n erf(z(Y))] from
    M_n = mean M_(n-1) + var ((n - 1) M_(n-2) + E[Y^(n-1) d/dY erf(z(Y))])."""
    k, m = sp.Poly(z, x).all_coeffs()
    # Z - sqrt(2) k Y ~ N(-sqrt(2) k mean, 1 + 2 k^2 var): P(. < sqrt(2) m) = (1 + erf(...))/2
    moments = [sp.erf((k * mean + m) / sp.sqrt(1 + 2 * k**2 * var))]
    (slope, exponent), = gauss_terms(sp.diff(sp.erf(z), x))  # d/dY erf(z(Y)): a Gaussian term
    density = sp.Poly(-(x - mean) ** 2 / (2 * var), x)
    poly = sp.Poly(p, x)
    for n in range(1, poly.degree() + 1):
        integral = gauss_poly_integral(slope * x ** (n - 1), exponent + density, -sp.oo, sp.oo)
        derivative_term = integral / sp.sqrt(2 * sp.pi * var)
        lower = moments[n - 2] * (n - 1) if n >= 2 else sp.S.Zero
        moments.append(mean * moments[n - 1] + var * (lower + derivative_term))
    return sum((coef * moments[n] for (n,), coef in poly.terms()), sp.S.Zero)


def _erf_mean(expr: sp.Expr, mu: sp.Expr, var: sp.Expr) -> sp.Expr | None:
    """E[expr(X)], X ~ N(mu, var), over the whole line for sums of p(x) exp(q(x)) erf(linear)."""
    expr = sp.expand(expr.replace(lambda e: isinstance(e, sp.erfc), lambda e: 1 - sp.erf(e.args[0])))
    if not expr.has(sp.erf) or expr.has(sp.I, *EXPONENTIAL):
        return None
    density = sp.Poly(-(x - mu) ** 2 / (2 * var), x)
    total = sp.S.Zero
    for term in sp.Add.make_args(expr):
        erfs = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.erf) and f.has(x)]
        if len(erfs) > 1 or (erfs and not (erfs[0].args[0].is_polynomial(x)
                                          and sp.degree(erfs[0].args[0], x) == 1)):
            return None
        rest = gauss_terms(term / erfs[0] if erfs else term)
        if rest is None:
            return None
        for p, q in rest:
            if not erfs:
                total += gauss_poly_integral(p, q + density, -sp.oo, sp.oo)
                continue
            # exp(Q(x)) = W N(x; m', v') with Q = q + density, Q(x) = -A x^2 + B x + C
            Q = q + density
            A, B, C = -Q.coeff_monomial(x**2), Q.coeff_monomial(x), Q.coeff_monomial(1)
            weight = sp.exp(C + B**2 / (4 * A)) * sp.sqrt(sp.pi / A)
            total += weight * _stein_erf(p, B / (2 * A), 1 / (2 * A), erfs[0].args[0])
    return total / sp.sqrt(2 * sp.pi * var)


def mean_steps(dist: Distribution, mu: sp.Expr | None) -> tuple[str, ...]:
    """Route steps that the Gaussian mean of ``dist`` centred at mu takes beyond polynomial x
    exp(quadratic) (none for an odd function at mu = 0)."""
    expr = dist.as_expr()
    if mu == 0 and parity(dist) == -1:
        return ()
    return ((COMPLEX_STEP,) if expr.has(sp.sin, sp.cos) else ()) + ((ERF_STEP,) if expr.has(sp.erf, sp.erfc) else ())


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
