"""Hyperparameter derivatives: derived map derivatives against textbook formulas differentiated by
mpmath, and kernel gradients through the recursion against central differences."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

from kernelalg import layers as L
from kernelalg.errors import DerivationError
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


# --- kernel gradients through the recursion ------------------------------------------------

def conv_net(phi, psi, sw, sb):
    return L.serial(L.Conv((3, 3), sigma_w=sw, sigma_b=sb), L.Activation(phi, psi),
                    L.Residual(L.Conv((3, 2), sigma_w=sw, sigma_b=sb), L.Activation(phi, psi),
                               L.Conv((3, 3), sigma_w=sw, sigma_b=sb)),
                    L.AvgPool((2, 2), (1, 1), "SAME"), L.Conv((2, 2), (2, 2), "VALID", sigma_w=sw, sigma_b=sb),
                    L.Activation(phi, psi), L.Flatten(), L.Dense(out=1, sigma_w=sw, sigma_b=sb))


def _images():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(3, 5, 4, 1)), rng.normal(size=(2, 5, 4, 1))
    X[:2, :2] = 0  # zero patches: pixel pairs with a = b = c (degenerate, like the diagonal)
    return X, Y


CASES = [("sign", "gaussian", {"sigma_w": 1.3, "sigma_b": 0.4, "psi.sigma": 0.7}),
         ("erf", None, {"sigma_w": 1.3, "sigma_b": 0.4}),
         ("relu", None, {"sigma_w": 0.9, "sigma_b": 0.2})]


def _net(phi, psi, values):
    psi = None if psi is None else f"{psi}(sigma={values['psi.sigma']})"
    return conv_net(phi, psi, values["sigma_w"], values["sigma_b"])


@pytest.mark.parametrize("phi,psi,values", CASES, ids=[c[0] for c in CASES])
def test_conv_gradients_against_central_differences(phi, psi, values):
    X, Y = _images()
    for other in (None, Y):
        _, grads = _net(phi, psi, values).value_and_gradient(X, other, wrt=tuple(values))
        for name in values:
            h = 1e-5
            up = _net(phi, psi, {**values, name: values[name] + h})(X, other, outputs=("nngp", "sgntk"))
            down = _net(phi, psi, {**values, name: values[name] - h})(X, other, outputs=("nngp", "sgntk"))
            for output in ("nngp", "sgntk"):
                fd = (getattr(up, output) - getattr(down, output)) / (2 * h)
                got = getattr(grads[name], output)
                assert np.abs(got - fd).max() <= 1e-7 * max(np.abs(fd).max(), 1.0), (name, output)


def test_mlp_gradient_with_a_reduced_integral_map():
    X = np.random.default_rng(4).normal(size=(4, 3))
    make = lambda sw, k: L.serial(L.Dense(sigma_w=sw, sigma_b=0.2), L.Activation("sign", f"superspike(k={k})"),
                                  L.Dense(sigma_w=sw, sigma_b=0.2), L.Activation("sign", f"superspike(k={k})"),
                                  L.Dense(sigma_w=sw, sigma_b=0.2))
    _, grads = make(1.1, 5.0).value_and_gradient(X, wrt=("sigma_w", "psi.k"), outputs=("sgntk",))
    h = 1e-5
    for name, (up, down) in {"sigma_w": (make(1.1 + h, 5.0), make(1.1 - h, 5.0)),
                             "psi.k": (make(1.1, 5.0 + h), make(1.1, 5.0 - h))}.items():
        fd = (up(X, outputs=("sgntk",)).sgntk - down(X, outputs=("sgntk",)).sgntk) / (2 * h)
        assert np.abs(grads[name].sgntk - fd).max() <= 1e-7 * np.abs(fd).max()


def test_collinear_inputs_without_bias_have_no_derivative():
    net = L.serial(L.Dense(), L.Activation("sign", "gaussian"), L.Dense())
    with pytest.raises(DerivationError):
        net.value_and_gradient(np.array([[1.0, 2.0], [2.0, 4.0]]), wrt=("sigma_w",))
