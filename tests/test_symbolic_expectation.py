"""Routes of the expectation engine on their own, each against mpmath quadrature (independent):
reduction formulas of Price integrals, Stein's lemma for erf terms, complex exponentials."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

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


# --- parity and the Gaussian tilt: 2-D means that only reduce to a mean of one variable --------

FS = "snntorch.fast_sigmoid"


def _psi(v):
    """snntorch's fast sigmoid derivative (slope 25), written here by hand."""
    return 1 / (1 + 25 * abs(v)) ** 2


def _sigmoid(v):
    return 0.5 * (1 + math.tanh(v / 2))


#: phi' of activations with phi(x) - phi(-x) = x, by hand: their even part is 1/2
HALF_EVEN = {"x/(1 + exp(-x))": lambda v: _sigmoid(v) * (1 + v * (1 - _sigmoid(v))), "log(1 + exp(x))": _sigmoid,
             "relu": lambda v: 1.0 if v > 0 else 0.0}


def _normal(z):
    return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def _mean_2d(f, g, a, b, c):
    """E[f(u) g(v)], (u, v) ~ N(0, [[a, c], [c, b]]), by SciPy's adaptive quadrature (float64,
    relative 1e-12) in the standardised variables: v = sqrt(b) z (split at g's kink 0), and
    u = c v / b + sqrt(a - c^2 / b) t (split where u = 0, f's kink if any); a witness
    independent of the engine for moderate variances."""
    sb, s = math.sqrt(b), math.sqrt(a - c * c / b)

    def inner(z):
        m = c * sb * z / b
        cut = -m / s
        return quad(lambda t: f(m + s * t) * _normal(t), -12, 12, points=[cut] if -12 < cut < 12 else None,
                    epsabs=0, epsrel=1e-12, limit=200)[0]

    return sum(quad(lambda z: g(sb * z) * inner(z) * _normal(z), lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0]
               for lo, hi in ((-12, 0), (0, 12)))


@pytest.mark.parametrize("phi", HALF_EVEN)
def test_parity_leaves_half_the_mean_of_an_even_surrogate(phi):
    """sg = E[phi'(u) psi(v)] = E[psi(v)] / 2 against the even fast sigmoid (route named, one mean
    of one variable): the generated map against a 2-D mpmath mean at moderate covariances."""
    result = kernelalg.derive(phi, FS).sg
    assert result.route[0].startswith("parity") and result.status == "reduced integral", result.route
    sg = kernelalg.layer_maps(phi, FS).sg
    for a_, b_, rho in ((1.0, 1.0, 0.3), (2.0, 0.5, -0.9)):
        c_ = rho * (a_ * b_) ** 0.5
        want = _mean_2d(HALF_EVEN[phi], _psi, a_, b_, c_)
        got = sg(np.array([a_]), np.array([b_]), np.array([c_]))[0]
        assert abs(got - want) <= 1e-10 * abs(want), (phi, a_, b_, c_, got, want)


@settings(max_examples=12, deadline=None)
@given(st.floats(-4, 4), st.floats(-4, 4), st.sampled_from([0.0, 1.0, -1.0, 0.5]), st.sampled_from([1.0, 3.0]))
def test_gaussian_tilt_factorises_at_zero_and_follows_the_edge(log_a, log_b, rho, m):
    """erf(m x) with the fast sigmoid: sg (the tilt, a mean of one variable) is E[phi'] E[psi] at
    c = 0 and E[phi'(sqrt(a) Z) psi(+-sqrt(b) Z)] at c = +-sqrt(ab), each mean of one variable by
    mpmath from phi' = 2 m exp(-m^2 x^2) / sqrt(pi) written here; variances 1e-4..1e4."""
    a_, b_ = 10.0**log_a, 10.0**log_b
    if rho == 0.5:  # an interior point: the 2-D witness, at moderate variances only
        a_, b_ = min(max(a_, 0.1), 10.0), min(max(b_, 0.1), 10.0)
    c_ = rho * (a_ * b_) ** 0.5
    got = kernelalg.layer_maps(f"erf(m={m:g})", FS).sg(np.array([a_]), np.array([b_]), np.array([c_]))[0]
    with mp.workdps(20):
        dphi = lambda v: 2 * m * mp.exp(-(m * v) ** 2) / mp.sqrt(mp.pi)  # noqa: E731
        sa, sb = mp.sqrt(a_), mp.sqrt(b_)
        if rho == 0.5:
            want = _mean_2d(lambda v: float(dphi(v)), _psi, a_, b_, c_)
        elif rho == 0:
            want = mp.quad(lambda z: dphi(sa * z) * mp.npdf(z), [-14, 0, 14]) * mp.quad(
                lambda z: _psi(sb * z) * mp.npdf(z), [-14, 0, 14])
        else:
            want = mp.quad(lambda z: dphi(sa * z) * _psi(rho * sb * z) * mp.npdf(z), [-14, 0, 14])
    assert abs(got - want) <= 1e-10 * abs(want), (m, a_, b_, c_, got, want)


def test_routes_name_parity_and_tilt():
    assert "Gaussian tilt" in kernelalg.derive("erf(m=3)", FS).sg.route[0]
    assert kernelalg.derive("erf", "atan").sg.closed_form  # the tilt onto atan's closed 1-D mean
    assert not any(step.startswith("parity") for step in kernelalg.derive("tanh", FS).sg.route)  # both even
