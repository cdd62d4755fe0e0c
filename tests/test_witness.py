"""The witness itself against textbook closed forms (independent checks of tests/witness)."""

from __future__ import annotations

import mpmath as mp
import pytest
from scipy.special import owens_t

from tests.witness import functions as F
from tests.witness.gaussian import expectation

COVS = [(1.0, 1.0, 0.3), (2.0, 0.5, -0.9), (1e-4, 1e4, 0.999999), (3.0, 3.0, -2.9999999)]


def rel(x, y):
    return float(abs(x - y) / abs(y))


@pytest.mark.parametrize("a,b,c", COVS)
def test_sign_sign_is_the_arcsine_kernel(a, b, c):
    sign, _ = F.sign()
    assert rel(expectation(sign, sign, a, b, c), 2 / mp.pi * mp.asin(mp.mpf(c) / mp.sqrt(mp.mpf(a) * b))) < 1e-12


@pytest.mark.parametrize("a,b,c", [COVS[2], *(pytest.param(*cov, marks=pytest.mark.slow) for cov in COVS[:2])])
def test_erf_erf_is_the_arcsine_formula(a, b, c):
    """A 2-D witness quadrature (about 30 s each): the hard corner in CI, the rest with --runslow."""
    f, _ = F.erf(1.0)
    want = 2 / mp.pi * mp.asin(2 * mp.mpf(c) / mp.sqrt((1 + 2 * mp.mpf(a)) * (1 + 2 * mp.mpf(b))))
    assert rel(expectation(f, f, a, b, c), want) < 1e-12


@pytest.mark.parametrize("a,b,c", COVS[:2])
def test_relu_is_the_arc_cosine_kernel(a, b, c):
    f, _ = F.relu()
    a, b, c = mp.mpf(a), mp.mpf(b), mp.mpf(c)
    theta = mp.acos(c / mp.sqrt(a * b))
    want = mp.sqrt(a * b) / (2 * mp.pi) * (mp.sin(theta) + (mp.pi - theta) * mp.cos(theta))
    assert rel(expectation(f, f, a, b, c), want) < 1e-12


def test_orthant_probability_and_owens_t():
    step0, _ = F.step(0.0)
    a, b, c = 1.0, 2.0, 0.7
    rho = c / (a * b) ** 0.5
    assert rel(expectation(step0, step0, a, b, c), 0.25 + mp.asin(rho) / (2 * mp.pi)) < 1e-12
    # P(u > t, v > t) for t > 0 through Owen's T (Owen 1956), with h = k = -t/sqrt(var)
    t = 0.5
    step, _ = F.step(t)
    h, k = -t / a**0.5, -t / b**0.5
    r = (1 - rho**2) ** 0.5
    Phi = lambda z: float(mp.ncdf(z))  # noqa: E731
    want = (Phi(h) + Phi(k)) / 2 - owens_t(h, (k - rho * h) / (h * r)) - owens_t(k, (h - rho * k) / (k * r))
    assert rel(expectation(step, step, a, b, c), want) < 1e-12


def test_delta_conditioning_matches_a_gaussian_convolution():
    """E[2 delta(u) N(v; 0, 1)] = 2 N(0; 0, a) N(0; 0, 1 + (ab - c^2)/a)."""
    _, dsign = F.sign()
    g = F.gaussian(1.0)
    a, b, c = 2.0, 3.0, 1.5
    want = 2 * mp.npdf(0, 0, mp.sqrt(a)) * mp.npdf(0, 0, mp.sqrt(1 + (a * b - c * c) / a))
    assert rel(expectation(dsign, g, a, b, c), want) < 1e-15
    assert expectation(dsign, dsign, 1.0, 1.0, 1.0) == mp.inf
