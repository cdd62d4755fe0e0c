"""Bivariate normal orthant probabilities through Owen's T function.

For (u, v) ~ N(0, [[a, c], [c, b]]), P(u > t, v > s) = Phi2(h, k; rho) with h = -t/sqrt(a),
k = -s/sqrt(b), rho = c/sqrt(ab), and Owen (1956):

    Phi2(h, k; rho) = Phi(h)/2 + Phi(k)/2 - T(h, a_h) - T(k, a_k) - beta,
    a_h = (k - rho h)/(h sqrt(1 - rho^2)),  a_k = (h - rho k)/(k sqrt(1 - rho^2)),
    beta = 0 if h k > 0 else 1/2,
and, for h = 0 (the limit h -> 0 of the same formula), Phi2(0, k; rho) = Phi(k)/2 - T(k, -rho/sqrt(1 - rho^2)).
Used as the terminal form of Price's theorem for steps: int_0^c N2(t, s; tau) dtau
= P(u > t, v > s; c) - P(u > t) P(v > s).
"""

from __future__ import annotations

import sympy as sp

from kernelalg.symbolic.special import OwenT


def std_normal_cdf(z: sp.Expr) -> sp.Expr:
    return sp.erfc(-z / sp.sqrt(2)) / 2


def orthant(t: sp.Expr, s: sp.Expr, a: sp.Expr, b: sp.Expr, c: sp.Expr) -> sp.Expr:
    """P(u > t, v > s) for numeric thresholds t, s (not both zero)."""
    h, k = -t / sp.sqrt(a), -s / sp.sqrt(b)
    root = sp.sqrt(a * b - c**2)  # sqrt(1 - rho^2) * sqrt(ab)
    if t == 0:
        return std_normal_cdf(k) / 2 - OwenT(k, -c / root)
    if s == 0:
        return std_normal_cdf(h) / 2 - OwenT(h, -c / root)
    beta = sp.S.Zero if (t * s) > 0 else sp.S.Half
    a_h = (a * s - c * t) / (t * root)
    a_k = (b * t - c * s) / (s * root)
    return (std_normal_cdf(h) + std_normal_cdf(k)) / 2 - OwenT(h, a_h) - OwenT(k, a_k) - beta


def orthant_increment(t: sp.Expr, s: sp.Expr, a: sp.Expr, b: sp.Expr, c: sp.Expr) -> sp.Expr:
    """int_0^c N2(t, s; a, b, tau) dtau = P(u > t, v > s; c) - P(u > t) P(v > s)."""
    return orthant(t, s, a, b, c) - std_normal_cdf(-t / sp.sqrt(a)) * std_normal_cdf(-s / sp.sqrt(b))
