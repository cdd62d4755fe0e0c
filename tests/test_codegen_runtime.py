"""Numerical helpers copied into generated modules (kernelalg/codegen/runtime.py), against mpmath."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernelalg.codegen.runtime import _owens_t_rest, _owens_t_tail


def owen_tail_reference(h: float, x: float, rest: bool = False) -> mp.mpf:
    """T(h, oo) - T(h, x) = (1/2 pi) int_x^oo exp(-h^2 (1 + t^2) / 2) / (1 + t^2) dt at 30 digits,
    in Owen's own variable (not the code's angle), split geometrically from x; with ``rest``,
    acot(x)/(2 pi) minus that: the same integral of (1 - exp(...)) / (1 + t^2)."""
    with mp.workdps(30):
        h, x = mp.mpf(h), mp.mpf(x)
        g = (lambda z: -mp.expm1(-z)) if rest else (lambda z: mp.exp(-z))  # noqa: E731
        f = lambda t: g(h**2 * (1 + t**2) / 2) / (1 + t**2)  # noqa: E731
        step = 1 / (h**2 * max(abs(x), 1 / h, 1) + 1)
        points = sorted({x, *(x + step * mp.mpf(2) ** (k / 2) for k in range(-16, 120)), *([0] if x < 0 else [])})
        return mp.quad(f, [p for p in points if p >= x] + [mp.inf]) / (2 * mp.pi)


#: h and x where the plain differences cancel, and around; the rest of the product grid with --runslow
FAST_H, FAST_X = (1e-12, 0.5, 3.0), (-0.3, 0.2, 44.7, 1e8)
CORNERS = [pytest.param(h, x, marks=() if h in FAST_H and x in FAST_X else pytest.mark.slow)
           for h in (1e-12, 1e-3, 0.05, 0.5, 1.0, 3.0, 10.0) for x in (-0.3, 0.0, 0.2, 1.0, 4.0, 44.7, 1e3, 4.5e4, 1e8)]


@pytest.mark.parametrize("h,x", CORNERS)
def test_owen_rest_at_the_corners(h, x):
    """Relative 1e-14 where acot(x)/(2 pi) - T(h, oo) + T(h, x) cancels (small h): a rectangle
    probability at large variances is a difference of these of about 1/100 of their size."""
    want = owen_tail_reference(h, x, rest=True)
    assert abs(_owens_t_rest(h, x) - want) <= 1e-14 * want, (h, x, mp.nstr(want, 17))


@pytest.mark.parametrize("h,x", CORNERS)
def test_owen_tail_at_the_corners(h, x):
    """Relative 1e-12 where the plain difference erfc(h/sqrt 2)/4 - T(h, x) loses up to all of
    its digits (x large, h large), and 0 exactly only where the value underflows."""
    want = owen_tail_reference(h, x)
    got = _owens_t_tail(h, x)
    if float(want) == 0.0:
        assert got == 0.0
    else:
        assert abs(got - want) <= 1e-12 * want, (h, x, got, mp.nstr(want, 17))


def test_owen_tail_limits_and_shapes():
    """x -> oo: 0; x = 0: T(h, oo) = erfc(h/sqrt 2)/4; arrays keep their broadcast shape."""
    assert _owens_t_tail(0.5, np.inf) == 0.0
    assert _owens_t_tail(0.5, 0.0) == pytest.approx(float(mp.erfc(0.5 / mp.sqrt(2)) / 4), rel=1e-15)
    out = _owens_t_tail(np.full((3, 1), 0.5), np.array([0.1, 10.0, 1e6]))
    assert out.shape == (3, 3) and (np.diff(out[0]) < 0).all()


@settings(max_examples=40, deadline=None)
@given(st.floats(1e-3, 8.0), st.floats(0.0, 1e4))
def test_owen_tail_is_positive_and_decreasing_in_x(h, x):
    """An integral of a positive function from x to oo: positive (or underflowed) and decreasing."""
    lo, hi = _owens_t_tail(h, np.array([x, 2 * x + 1]))
    assert lo >= hi >= 0 and (lo > 0 or float(owen_tail_reference(h, x)) < 1e-300)


def test_rectangle_probability_is_written_without_its_cancellation():
    """sign with the box surrogate: E[psi(u) psi(v)] = P(|u| < 1, |v| < 1) / 4 has Owen's T terms whose
    angles add up to a constant; codegen writes it as erf + erf - OwenRest terms (no O(1) terms
    left), and the shifted step's orthant probability as OwenTail terms."""
    import kernelalg
    from kernelalg.codegen.rewrite import OwenRest, OwenTail, careful
    from kernelalg.symbolic.special import OwenT

    box = careful(kernelalg.derive("sign", "box").surrogate.expr)
    assert box.has(OwenRest) and not box.has(OwenT, OwenTail) and box.as_coeff_Add()[0] == 0
    step = careful(kernelalg.derive("step(t=0.5)").nngp.expr)
    assert step.has(OwenTail) and not step.has(OwenT, OwenRest)


@pytest.mark.parametrize("h,x", [(0.01, -1e8), (0.5, -1e8), (0.01, -44.7), (0.5, -44.7)])
def test_owen_rest_beyond_a_right_angle(h, x):
    """x < 0 (acot x > pi/2, where E grows again toward pi): relative 1e-13, and at x = -oo the
    limit erf(h/sqrt 2)/2."""
    want = owen_tail_reference(h, x, rest=True)
    assert abs(_owens_t_rest(h, x) - want) <= 1e-13 * want, (h, x, mp.nstr(want, 17))
    assert _owens_t_rest(h, -np.inf) == pytest.approx(float(mp.erf(h / mp.sqrt(2)) / 2), rel=1e-13)
