"""E[p(u) exp(q1(u)) r(v) exp(q2(v))] over the whole plane in closed form.

With Lambda = [[a, c], [c, b]], q_i(z) = alpha_i z^2 + beta_i z + gamma_i and
D = diag(-2 alpha_1, -2 alpha_2), K = I + Lambda D, the tilted Gaussian has covariance
C = K^-1 Lambda and mean m = C (beta_1, beta_2), and

    E[...] = exp(gamma_1 + gamma_2 + h^T C h / 2) / sqrt(det K) * E_N(m, C)[p(u) r(v)].

No inverse of Lambda appears, so the result stays finite on the diagonal c^2 = ab.
Polynomial moments come from derivatives of the moment generating function.  The linear
coefficients beta_i and the p, r may be complex (sin and cos as exp(+-i k z)): the formula
holds by analytic continuation, and the result is its real part.
"""

from __future__ import annotations

import sympy as sp

from kernelalg.symbolic.expectation.real import real_value
from kernelalg.symbolic.functions import x


def _poly_moment(p: sp.Expr, r: sp.Expr, m: sp.Matrix, C: sp.Matrix) -> sp.Expr:
    """E[p(u) r(v)] for (u, v) ~ N(m, C), from the moment generating function."""
    if not p.has(x) and not r.has(x):
        return p * r
    s1, s2 = sp.Dummy("s1"), sp.Dummy("s2")
    s = sp.Matrix([s1, s2])
    mgf = sp.exp((s.T * m)[0] + (s.T * C * s)[0] / 2)
    total = sp.S.Zero
    for (i,), ci in sp.Poly(p, x).terms():
        for (j,), cj in sp.Poly(r, x).terms():
            total += ci * cj * sp.diff(mgf, s1, i, s2, j).subs({s1: 0, s2: 0})
    return total


def gaussian_product(f_terms, g_terms, a: sp.Expr, b: sp.Expr, c: sp.Expr) -> sp.Expr:
    """Sum over term pairs (p, q1) of f and (r, q2) of g of the closed-form plane integral."""
    Lam = sp.Matrix([[a, c], [c, b]])
    total = sp.S.Zero
    for p, q1 in f_terms:
        for r, q2 in g_terms:
            al1, be1, ga1 = (q1.coeff_monomial(x**k) for k in (2, 1, 0))
            al2, be2, ga2 = (q2.coeff_monomial(x**k) for k in (2, 1, 0))
            K = sp.eye(2) + Lam * sp.diag(-2 * al1, -2 * al2)
            detK = sp.expand(K.det())
            C = (K.adjugate() * Lam / detK).applyfunc(sp.cancel)
            h = sp.Matrix([be1, be2])
            m = C * h
            quad = sp.cancel((h.T * C * h)[0] / 2)
            total += sp.exp(ga1 + ga2 + quad) / sp.sqrt(detK) * _poly_moment(p, r, m, C)
    return real_value(total)
