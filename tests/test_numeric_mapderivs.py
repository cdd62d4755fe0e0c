"""kernelalg.numeric.mapderivs: derived map derivatives against textbook formulas differentiated by
mpmath, and against the conditioning witness where the map is a reduced integral."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

from kernelalg.numeric.mapderivs import map_derivatives
from tests.witness import functions as F
from tests.witness.gaussian import expectation

mp.mp.dps = 30


def _sign_gaussian(sigma):
    """Textbook maps of sign with a Gaussian surrogate: arcsine law, and
    E[2 delta(u) psi(v)] = 2 N(0; 0, a) N(0; 0, sigma^2 + b - c^2/a)."""
    def maps(name, a, b, c):
        if name == "nngp":
            return 2 / mp.pi * mp.asin(c / mp.sqrt(a * b))
        return 2 / mp.sqrt(2 * mp.pi * a) / mp.sqrt(2 * mp.pi * (sigma**2 + b - c * c / a))
    return maps


def _erf(a, b, c, name):
    """Williams (1997): erf maps (arcsine formula) and the derivative kernel."""
    if name == "nngp":
        return 2 / mp.pi * mp.asin(2 * c / mp.sqrt((1 + 2 * a) * (1 + 2 * b)))
    return 4 / mp.pi / mp.sqrt((1 + 2 * a) * (1 + 2 * b) - 4 * c * c)


def _relu(a, b, c, name):
    """Cho & Saul: arc-cosine kernels of ReLU and of its derivative."""
    theta = mp.acos(c / mp.sqrt(a * b))
    if name == "nngp":
        return mp.sqrt(a * b) * (mp.sin(theta) + (mp.pi - theta) * mp.cos(theta)) / (2 * mp.pi)
    return (mp.pi - theta) / (2 * mp.pi)


TEXTBOOK = {
    ("sign", "gaussian(sigma=0.5)"): lambda name, a, b, c: _sign_gaussian(mp.mpf("0.5"))(name, a, b, c),
    ("erf", None): lambda name, a, b, c: _erf(a, b, c, name),
    ("relu", None): lambda name, a, b, c: _relu(a, b, c, name),
}


POINTS = [(1.3, 0.7, -0.4), (0.2, 3.0, 0.7), (2.0, 0.5, 0.99)]


@pytest.mark.parametrize("pair", TEXTBOOK, ids=lambda p: f"{p[0]}-{p[1]}")
def test_partials_against_textbook_formulas(pair):
    derivatives, reference = map_derivatives(*pair), TEXTBOOK[pair]
    for name in ("nngp", "sg"):
        for point in POINTS:
            got = derivatives.partials(name, *(np.array([v]) for v in point))
            want = [mp.diff(lambda t, i=i, name=name, point=point: reference(
                        name, *[mp.mpf(v) + (t if j == i else 0) for j, v in enumerate(point)]), 0)
                    for i in range(3)]
            for g, w in zip((got.da, got.db, got.dc), want):
                assert abs(g[0] - float(w)) <= 1e-10 * max(abs(float(w)), 1e-3)
        for sign in (1, -1):  # the diagonal forms, where the partials of sign's maps are infinite
            v = 0.8
            def edge(t, name=name, sign=sign):
                return reference(name, t, t, sign * t * (1 - mp.mpf("1e-25")))

            got = derivatives.partials(name, *(np.array([x]) for x in (v, v, sign * v)))
            assert got.on_diagonal.all()
            assert abs(got.diagonal[0] - float(mp.diff(edge, v))) <= 1e-9 * max(abs(float(mp.diff(edge, v))), 1e-3)


def _richardson(f, x):
    """Central differences with one Richardson step (error ~h^4 = 1e-16 at 20 digits)."""
    h = mp.mpf("1e-4")
    d = lambda s: (f(x + s) - f(x - s)) / (2 * s)
    return (4 * d(h / 2) - d(h)) / 3


def test_reduced_integral_sg_partial_against_the_conditioning_witness():
    """sign with SuperSpike: sg is a 1-D Gaussian mean without closed form (Stein's lemma route)."""
    derivatives = map_derivatives("sign", "superspike")
    a, b, c = 1.3, 0.7, -0.4
    got = derivatives.partials("sg", np.array([a]), np.array([b]), np.array([c]))
    f, g = F.sign()[1], F.superspike()
    want_c = _richardson(lambda t: expectation(f, g, a, b, t), mp.mpf(c))
    want_b = _richardson(lambda t: expectation(f, g, a, t, c), mp.mpf(b))
    assert abs(got.dc[0] - float(want_c)) <= 1e-8 * abs(float(want_c))
    assert abs(got.db[0] - float(want_b)) <= 1e-8 * abs(float(want_b))


def test_surrogate_width_derivative_of_sg():
    derivatives = map_derivatives("sign", "gaussian(sigma=0.5)")
    a, b, c = 1.3, 0.7, -0.4
    got = derivatives.sg_parameter("sigma")(a, b, c)
    want = mp.diff(lambda s: _sign_gaussian(s)("sg", mp.mpf(a), mp.mpf(b), mp.mpf(c)), mp.mpf("0.5"))
    assert abs(float(got) - float(want)) <= 1e-12 * abs(float(want))
