"""Generated code: deterministic, documented, cached atomically, and float64-accurate at the
hard corners (checked against 50-digit evaluation of the derived formula, an independent path)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import sympy as sp

import kernelalg
from kernelalg.codegen.module import module_source
from kernelalg.numeric.layermaps import TITLES, generate_source
from kernelalg.symbolic.expectation.result import a, b, c

PAIRS = [("sign", "gaussian"), ("sign", "laplace"), ("sign", "triangle"), ("sign", "box"),
         ("sign", "atan"), ("step(t=0.5)", "gaussian"), ("erf(m=3)", "gaussian"), ("relu", None),
         ("sin", None), ("rbf", None), ("gelu", None), ("cos(2*x + 1)", "gaussian(sigma=0.5)")]
VARIANCES = (1e-4, 1.0, 1e4)
RHOS = (-(1 - 1e-9), -0.5, 0.0, 0.7, 1 - 1e-9)


def exact(expr: sp.Expr, va: float, vb: float, vc: float) -> float:
    point = {a: sp.Float(va, 60), b: sp.Float(vb, 60), c: sp.Float(vc, 60)}
    return float(complex(expr.subs(point).evalf(50)).real)


@pytest.mark.parametrize("phi,psi", PAIRS)
def test_generated_code_matches_high_precision_formula(phi, psi):
    maps = kernelalg.layer_maps(phi, psi)
    checked = {}
    for name in ("nngp", "sg", "ntk", "surrogate"):
        compiled = getattr(maps, name)
        if not compiled.result.closed_form:
            continue
        checked[name] = 0
        for va, vb, rho in itertools.product(VARIANCES, VARIANCES, RHOS):
            vc = rho * np.sqrt(va * vb)
            want = exact(compiled.result.expr, va, vb, vc)
            if not np.isfinite(want) or abs(want) < 1e-280:
                continue
            got = float(compiled(va, vb, vc))
            assert got == pytest.approx(want, rel=1e-10), (phi, psi, name, va, vb, vc)
            checked[name] += 1
    # guard against a vacuous pass: every pair here has a closed nngp, and each closed map was
    # compared on at least 10 of the 45 grid points (skipped: infinities and values below 1e-280,
    # e.g. step(t=0.5) at variance 1e-4, where most of its ntk underflows)
    assert "nngp" in checked and min(checked.values()) >= 10, checked


def test_module_is_deterministic_and_documented():
    first, second = generate_source("sign", "gaussian"), generate_source("sign", "gaussian")
    assert first == second
    assert "import numpy\nimport scipy.special" in first
    assert "kernelalg" not in first.split('"""', 2)[2].split("def ")[0].replace("kernelalg.codegen.runtime", "")
    assert "Formula: 1/(pi*sqrt(a*b + a - c**2))" in first  # sg of sign with the Gaussian surrogate
    assert "Route:" in first and "Status:  closed form" in first


def test_generated_module_runs_standalone(tmp_path):
    path = tmp_path / "maps.py"
    path.write_text(generate_source("sign", "superspike(k=25)"))
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # the module itself, as written
    lib = kernelalg.layer_maps("sign", "superspike(k=25)")
    A, B, C = np.array([1.0, 2.0]), np.array([1.0, 0.5]), np.array([0.3, -0.9])
    for name in ("nngp", "sg", "ntk"):
        np.testing.assert_allclose(namespace[name](A, B, C), getattr(lib, name)(A, B, C), rtol=1e-14)


def test_fallback_quadrature_is_labelled_and_accurate():
    """sg of sign with SuperSpike is a reduced 1-D integral; check it against mpmath directly."""
    import mpmath

    maps = kernelalg.layer_maps("sign", "superspike(k=25)")
    assert maps.sg.result.status == "reduced integral"
    for va, vb, rho in [(1.0, 1.0, 0.3), (0.01, 100.0, 0.9), (100.0, 0.01, -0.99)]:
        vc = rho * np.sqrt(va * vb)
        var = (va * vb - vc**2) / va
        sd = mpmath.sqrt(var)
        mean = mpmath.quad(lambda t: mpmath.npdf(t, 0, sd) / (1 + 25 * abs(t)) ** 2, [-mpmath.inf, 0, mpmath.inf])  # noqa: B023
        want = 2 * mpmath.npdf(0, 0, mpmath.sqrt(va)) * mean
        assert float(maps.sg(va, vb, vc)) == pytest.approx(float(want), rel=1e-9)


def test_module_source_titles():
    maps = dict(kernelalg.derive("relu").items())
    text = module_source(maps, TITLES, "header")
    assert all(f"def {name}(a, b, c):" in text for name in maps)
    assert "def nngp_sg(a, b, c):" not in text  # joint functions only when asked


def test_angles_of_signed_zeros_and_the_edges():
    """relu's derivative map is acos(-rho)/(2 pi): 1/4 at c = +0 and -0, 1/2 and 0 at rho = +-1,
    and the antipodal value of relu's NNGP is 0 (no cancellation of pi/2 + asin)."""
    maps = kernelalg.layer_maps("relu")
    assert maps.ntk(1.0, 1.0, np.array([0.0, -0.0, 1.0, -1.0])).tolist() == [0.25, 0.25, 0.5, 0.0]
    assert maps.nngp(2.0, 8.0, -4.0) == 0.0


@pytest.mark.parametrize("expr", [(25 * sp.Symbol("x") + 1) ** -2, (sp.Symbol("x") ** 2 + 3) ** -3,
                                  1 / (2 * sp.Symbol("x") - 7), sp.Symbol("x") ** -4 + sp.Symbol("x") ** -1,
                                  sp.Piecewise((1 / (25 * sp.Symbol("x") - 1) ** 2, sp.Symbol("x") < 0),
                                               ((25 * sp.Symbol("x") + 1) ** -2, True))])
def test_printed_negative_powers_and_two_piece_functions(expr):
    """x**(-k) prints as 1/x**k (no float pow) and a two-piece Piecewise as numpy.where; both
    evaluate as the expression does in 30-digit arithmetic."""
    from kernelalg.codegen.printer import compile_function, source

    x = sp.Symbol("x")
    text = source(expr)
    assert "**(-" not in text and "select" not in text, text
    fn = compile_function(expr, (x,))
    points = np.array([-3.5, -0.2, 0.3, 1.0, 2.75, 40.0])
    want = [float(expr.subs(x, sp.Float(p, 30)).evalf(30)) for p in points]
    np.testing.assert_allclose(fn(points), want, rtol=4e-16)
