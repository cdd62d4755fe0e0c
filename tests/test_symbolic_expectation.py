"""Routes of the expectation engine on their own, each against mpmath quadrature (independent):
reduction formulas of Price integrals, Stein's lemma for erf terms, complex exponentials."""

from __future__ import annotations

import mpmath as mp
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import kernelalg
from kernelalg.errors import DerivationError
from kernelalg.symbolic.expectation.algebraic import algebraic_integral
from kernelalg.symbolic.expectation.real import real_value
from kernelalg.symbolic.expectation.result import a, b, c
from kernelalg.symbolic.expectation.univariate import COMPLEX_STEP, ERF_STEP, gaussian_mean
from kernelalg.symbolic.functions import x
from kernelalg.symbolic.piecewise import decompose
from kernelalg.symbolic.tidy import tidy

t = sp.Symbol("t", real=True)


def _close(got, want, tol=1e-12):
    return abs(mp.mpf(str(sp.N(got, 30))) - want) <= tol * (1 + abs(want))


@settings(max_examples=25)
@given(st.integers(0, 4), st.sampled_from([-5, -3, -1, 1, 3]), st.integers(2, 9), st.integers(1, 3),
       st.integers(-9, 9))
def test_reduction_formulas_integrate_powers_of_a_quadratic(j, n, P, Q, tenths):
    hi = sp.Rational(tenths, 10) * sp.sqrt(sp.Rational(P, Q))  # inside the quadratic's positive range
    got = algebraic_integral(t**j * (P - Q * t**2) ** sp.Rational(n, 2), t, 0, hi)
    with mp.workdps(30):
        want = mp.quad(lambda s: s**j * (P - Q * s * s) ** (mp.mpf(n) / 2), [0, float(hi)])
    assert got is not None and _close(got, want)


@settings(max_examples=15)
@given(st.integers(0, 3), st.integers(1, 9), st.integers(-9, 9))
def test_reduction_formulas_integrate_inverse_sines_by_parts(j, P, tenths):
    hi = sp.Rational(tenths, 10) * sp.sqrt(P)
    got = algebraic_integral(t**j * sp.asin(t / sp.sqrt(P)), t, 0, hi)
    with mp.workdps(30):
        want = mp.quad(lambda s: s**j * mp.asin(s / mp.sqrt(P)), [0, float(hi)])
    assert got is not None and _close(got, want)


def test_reduction_formulas_decline_other_integrands():
    assert algebraic_integral(sp.exp(-t**2) / sp.sqrt(2 - t**2), t, 0, 1) is None
    assert algebraic_integral(1 / (2 - t**2), t, 0, 1) is None  # an integer power: a logarithm


@settings(max_examples=25)
@given(st.integers(0, 3), st.integers(0, 2), st.integers(-3, 3), st.integers(-2, 2), st.integers(-4, 4),
       st.integers(1, 8))
def test_stein_lemma_means_of_polynomials_times_erf(degree, alpha, k, m, mu, var):
    """E[X^n exp(-alpha X^2) erf(k X/2 + m/3)] for X ~ N(mu/2, var/4) against mpmath."""
    expr = x**degree * sp.exp(-alpha * x**2) * sp.erf(sp.Rational(k, 2) * x + sp.Rational(m, 3))
    mean, variance = sp.Rational(mu, 2), sp.Rational(var, 4)
    got = gaussian_mean(decompose(expr), mean, variance)
    f = sp.lambdify(x, expr, "mpmath")
    with mp.workdps(30):
        want = mp.quad(lambda s: f(s) * mp.npdf(s, float(mean), mp.sqrt(float(variance))),
                       [-mp.inf, float(mean), mp.inf])
    assert got is not None and not got.has(sp.I) and _close(got, want)


@settings(max_examples=25)
@given(st.integers(0, 3), st.integers(-3, 3), st.integers(-3, 3), st.integers(-4, 4), st.integers(1, 8),
       st.sampled_from([sp.sin, sp.cos, sp.sinh, sp.cosh]))
def test_means_of_trigonometric_terms_are_real(degree, k, p, mu, var, fn):
    """E[X^n f(k X + p)] through exp(+-i k x) terms: real, and equal to mpmath quadrature."""
    expr = x**degree * fn(k * x + p)
    mean, variance = sp.Rational(mu, 2), sp.Rational(var, 4)
    got = gaussian_mean(decompose(expr), mean, variance)
    f = sp.lambdify(x, expr, "mpmath")
    tilt = abs(k) * float(variance) if fn in (sp.sinh, sp.cosh) else 0  # exp(+-k x) shift the mass by +-k var
    with mp.workdps(30):
        want = mp.quad(lambda s: f(s) * mp.npdf(s, float(mean), mp.sqrt(float(variance))),
                       mp.linspace(float(mean) - tilt - 15, float(mean) + tilt + 15, 61))
    assert got is not None and not got.has(sp.I) and _close(got, want, 1e-12)


def test_complex_exponentials_stay_on_the_whole_line():
    """On a half line, sin would need erf of a complex argument: no closed form claimed."""
    assert gaussian_mean(decompose(sp.Heaviside(x) * sp.sin(x)), 0, 1) is None


def test_a_complex_result_is_an_error():
    with pytest.raises(DerivationError):
        real_value(sp.I * a + b)


def test_exponential_pairs_become_hyperbolic_functions():
    expr = sp.exp(-a / 2 - b / 2 + c) / 2 - sp.exp(-a / 2 - b / 2 - c) / 2
    assert tidy(expr) == sp.exp(-a / 2 - b / 2) * sp.sinh(c)
    assert tidy(expr + sp.exp(-a / 2 - b / 2 - c)) == sp.exp(-a / 2 - b / 2) * sp.cosh(c)


def test_routes_name_the_new_steps():
    assert COMPLEX_STEP in kernelalg.derive("sign", "cos(x)").sg.route  # delta conditioning on a cosine
    assert ERF_STEP in kernelalg.derive("step(t=0.5)", "erf(x)").sg.route  # Stein's lemma at a nonzero mean
    assert ERF_STEP not in kernelalg.derive("erf").nngp.route  # odd: the means vanish by symmetry
