"""Every closed form of the issue list, derived by the engine, against the mpmath witness.

The witness values live in tests/data/witness.json (regenerate with
``python -m tests.witness.make_table``); the cheap cases are recomputed live here, the 2-D
quadratures on one point in CI and in full with ``--runslow``.  Tolerance: relative 1e-12 for
closed forms and 1e-10 for fallbacks, without an absolute floor, also where a closed form is a
difference of O(1) terms (Owen's T tails of shifted steps at rho -> -1, rectangle probabilities at
large variances: codegen's OwenTail and OwenRest).  The closed forms through complex
exponentials and Price's theorem are also checked against their published forms (mpmath, 40
digits, variances up to 1e4) and, where the adaptive 2-D witness would be slow, against a
Gauss-Hermite product rule.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

import kernelalg
from kernelalg.symbolic.expectation.result import a as A
from kernelalg.symbolic.expectation.result import b as B
from kernelalg.symbolic.expectation.result import c as C
from tests.witness import functions as F
from tests.witness.cases import CASES, grid, tolerance
from tests.witness.deep import gauss_hermite
from tests.witness.gaussian import DPS, expectation

TABLE = json.loads((Path(__file__).parent / "data" / "witness.json").read_text())
ROWS = defaultdict(list)
for row in TABLE:
    ROWS[row["case"]].append(row)
IDS = [case.name for case in CASES]


def _within(got, want, tol):
    """Relative error at most tol (so a value that rounds to 0 must be 0)."""
    got, want = np.asarray(got, float), np.asarray(want, float)
    return np.abs(got - want) <= tol * np.abs(want)


def test_table_covers_every_case_on_its_grid():
    for case in CASES:
        assert [(r["a"], r["b"], r["c"]) for r in ROWS[case.name]] == grid(case), case.name


def _compared(case, alone=False):
    """The map's rows, its generated values (all rows in one call, or each in a call of its own)
    and the witness's."""
    maps = kernelalg.layer_maps(case.phi, case.psi)
    result = getattr(maps.derived, case.map)
    if case.closed:
        assert result.closed_form, f"{case.name}: {result.status}"
    rows = ROWS[case.name]
    a, b, c = (np.array([r[k] for r in rows]) for k in "abc")
    want = np.array([float(r["value"]) for r in rows])
    function = getattr(maps, case.map)
    if alone:
        return rows, np.array([function(a[k:k + 1], b[k:k + 1], c[k:k + 1])[0] for k in range(len(rows))]), want
    return rows, function(a, b, c), want


@pytest.mark.parametrize("alone", [False, True], ids=["one call", "a call per row"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_generated_map_matches_the_witness(case, alone):
    """Relative 1e-12 for closed forms, 1e-10 for fallbacks, with no absolute floor (a value that
    rounds to 0 in float64 must be 0); also with each covariance alone in its call (a value must
    not depend on the other entries of a call: the rules' node counts are per entry)."""
    rows, got, want = _compared(case, alone)
    ok = _within(got, want, tolerance(case))
    assert ok.all(), [(r["a"], r["b"], r["c"], g, r["value"]) for r, g, k in zip(rows, got, ok) if not k]


@pytest.mark.parametrize("case", [c for c in CASES if c.closed], ids=[c.name for c in CASES if c.closed])
def test_symbolic_closed_form_at_30_digits(case):
    """The SymPy expression itself (not the generated code) at 30 digits, away from the edge."""
    expr = getattr(kernelalg.derive(case.phi, case.psi), case.map).expr
    for row in ROWS[case.name][:3]:
        got = sp.N(expr.subs({A: sp.Float(row["a"], 30), B: sp.Float(row["b"], 30), C: sp.Float(row["c"], 30)}), 30)
        want = mp.mpf(row["value"])
        assert abs(mp.mpf(str(got)) - want) <= 1e-12 * abs(want) + mp.mpf(10) ** -300, (case.name, row)


@pytest.mark.parametrize("case", [c for c in CASES if not c.smooth], ids=[c.name for c in CASES if not c.smooth])
def test_table_is_the_witness_live(case):
    """Cheap (1-D) witness values recomputed now: the stored table is the witness's output."""
    for row in ROWS[case.name][::2]:
        value = expectation(*case.refs, row["a"], row["b"], row["c"])
        with mp.workdps(DPS):
            assert abs(value - mp.mpf(row["value"])) <= 1e-15 * abs(value) + mp.mpf(10) ** -300


SMOOTH = [c for c in CASES if c.smooth]


@pytest.mark.parametrize("case", SMOOTH[:1], ids=[c.name for c in SMOOTH[:1]])
def test_smooth_table_entry_live(case):
    """One 2-D witness value recomputed in CI (sign + x/2, about 30 s); the erf rows, 80 s each,
    run with --runslow below, and tests/test_witness.py checks the witness's erf in CI."""
    row = ROWS[case.name][0]
    value = expectation(*case.refs, row["a"], row["b"], row["c"])
    assert abs(value - mp.mpf(row["value"])) <= 1e-15 * abs(value)


@pytest.mark.slow
@pytest.mark.parametrize("case", SMOOTH, ids=[c.name for c in SMOOTH])
def test_smooth_table_is_the_witness_live(case):
    for row in ROWS[case.name]:
        value = expectation(*case.refs, row["a"], row["b"], row["c"])
        assert abs(value - mp.mpf(row["value"])) <= 1e-15 * abs(value) + mp.mpf(10) ** -300


@pytest.mark.parametrize("m", ["0.25", "0.5", "1.5", "2.5"])
def test_erf_m_nngp_is_the_arcsine_kernel(m):
    """Textbook check (Williams 1997) for non-integer slopes: the engine reaches the closed
    form (2/pi) asin(2 m^2 c / sqrt((1 + 2 m^2 a)(1 + 2 m^2 b)))."""
    result = kernelalg.derive(f"erf(m={m})").nngp
    assert result.closed_form, result.status
    k = 2 * float(m) ** 2
    a, b, c = np.array([1.0, 1e-3, 50.0]), np.array([2.0, 1e-3, 0.5]), np.array([0.7, -0.9e-3, 4.0])
    want = 2 / np.pi * np.arcsin(k * c / np.sqrt((1 + k * a) * (1 + k * b)))
    assert np.allclose(kernelalg.layer_maps(f"erf(m={m})").nngp(a, b, c), want, rtol=1e-12, atol=0)


# --- closed forms through complex exponentials and Price's theorem on erf factors ------------

def _gelu_nngp(a, b, c):
    """E[u Phi(u) v Phi(v)] as published (Tsuchida et al. 2021, GELU kernel)."""
    P = (1 + a) * (1 + b)
    K = P - c * c
    return c / 4 + c * mp.asin(c / mp.sqrt(P)) / (2 * mp.pi) + (a * b * K + c * c) / (2 * mp.pi * P * mp.sqrt(K))


#: (spec, map) -> textbook form; rbf(gamma) = sqrt(2) sin(sqrt(2 gamma) x + pi/4) has the RBF
#: kernel exp(-gamma (a + b - 2c)) as NNGP and 2 gamma times it as derivative map
PUBLISHED = {
    ("sin", "nngp"): lambda a, b, c: mp.exp(-(a + b) / 2) * mp.sinh(c),
    ("sin", "ntk"): lambda a, b, c: mp.exp(-(a + b) / 2) * mp.cosh(c),
    ("cos", "nngp"): lambda a, b, c: mp.exp(-(a + b) / 2) * mp.cosh(c),
    ("cos", "ntk"): lambda a, b, c: mp.exp(-(a + b) / 2) * mp.sinh(c),
    ("rbf(gamma=0.5)", "nngp"): lambda a, b, c: mp.exp(-(a + b) / 2 + c),
    ("rbf", "nngp"): lambda a, b, c: mp.exp(-(a + b - 2 * c)),
    ("rbf(gamma=2)", "ntk"): lambda a, b, c: 4 * mp.exp(-2 * (a + b - 2 * c)),
    ("gelu", "nngp"): _gelu_nngp,
}
PUBLISHED_IDS = [f"{s} {m}" for s, m in PUBLISHED]
BIG_VARIANCES = (1e-4, 1e-2, 1.0, 1e2, 1e3, 1e4)
BIG_RHOS = (-(1 - 1e-9), -0.5, 0.0, 0.3, 0.5, 1 - 1e-9)
TINY = 1e-290  # below it the value is at the edge of float64's range: only |got| <= TINY is asked


def _published_grid():
    return [(va, vb, rho * (va * vb) ** 0.5) for va in BIG_VARIANCES for vb in BIG_VARIANCES for rho in BIG_RHOS]


@pytest.mark.parametrize("spec,name", PUBLISHED, ids=PUBLISHED_IDS)
def test_derived_closed_form_is_the_published_one(spec, name):
    """The engine's formula (not the generated code) at 40 digits equals the published form,
    with its route: complex exponentials for the trigonometric ones, Stein's lemma and Price's
    theorem for GELU."""
    result = getattr(kernelalg.derive(spec), name)
    assert result.status == "closed form", result.status
    route = " ".join(result.route)
    assert ("complex exponentials" in route) if spec != "gelu" else ("Stein's lemma" in route and "Price" in route)
    with mp.workdps(40):
        for va, vb, vc in _published_grid()[::7]:
            point = {A: sp.Float(va, 40), B: sp.Float(vb, 40), C: sp.Float(vc, 40)}
            got = mp.mpf(str(sp.N(result.expr.subs(point), 40)))
            want = PUBLISHED[spec, name](mp.mpf(va), mp.mpf(vb), mp.mpf(vc))
            assert abs(got - want) <= 1e-13 * abs(want) + mp.mpf(10) ** -4000, (va, vb, vc, got, want)


@pytest.mark.parametrize("spec,name", PUBLISHED, ids=PUBLISHED_IDS)
def test_generated_closed_form_is_float64_careful(spec, name):
    """Generated code against the published form at variances 1e-4..1e4 and rho up to
    +-(1 - 1e-9): relative 1e-13 (GELU 5e-12: at rho -> -1 and variance 1e4 its value, -0.0019,
    is six digits below its terms, about 2500, so that their rounding alone is worth up to 1e-10;
    measured 2.5e-12), the right sign, no overflow where exp(-(a+b)/2) and sinh(c) alone
    would overflow, and an underflow to (near) 0 only where the value is below 1e-290."""
    f = getattr(kernelalg.layer_maps(spec), name)
    grid = np.array(_published_grid())
    got = f(*grid.T)
    tol = 5e-12 if spec == "gelu" else 1e-13
    with mp.workdps(30):
        want = [PUBLISHED[spec, name](*(mp.mpf(v) for v in row)) for row in grid]
    assert np.isfinite(got).all()
    for row, g, w in zip(grid, got, want):
        if abs(w) < TINY:
            assert abs(g) <= TINY, (row, g, w)
        else:
            assert np.sign(g) == mp.sign(w) and abs(g - w) <= tol * abs(w), (row, g, float(w))


#: Entire integrands at variances up to 2: a Gauss-Hermite product rule (float64 nodes) of 64
#: nodes per axis agrees with 96 nodes to 1e-14 at these points, except with the Gaussian
#: surrogate (a weight exp(-2.5 z^2) near rho = 1: 3e-9 at 64 nodes, 1e-15 at 128 vs 200); an
#: independent witness for the closed forms whose adaptive 2-D quadrature in the table is slow
HERMITE_NODES = 64
HERMITE_POINTS = [(va, vb, rho * (va * vb) ** 0.5) for va, vb in ((1.0, 1.0), (1e-4, 1e-4), (2.0, 0.5))
                  for rho in (0.3, -0.7, 1 - 1e-9, -(1 - 1e-9))]
#: four of them in CI (both edges, a tiny and an unequal variance), all with --runslow
HERMITE_SETS = [pytest.param([HERMITE_POINTS[i] for i in (2, 3, 4, 9)], id="ci"),
                pytest.param(HERMITE_POINTS, id="all", marks=pytest.mark.slow)]
HERMITE_CASES = {  # (spec, psi, map) -> (f, g) of E[f(u) g(v)], nodes per axis
    ("cos", None, "ntk"): (F.cos()[1], F.cos()[1], HERMITE_NODES),
    ("rbf", None, "nngp"): (F.rbf(1.0)[0], F.rbf(1.0)[0], HERMITE_NODES),
    ("rbf", None, "ntk"): (F.rbf(1.0)[1], F.rbf(1.0)[1], HERMITE_NODES),
    ("sin(2*x + 1)", "gaussian(sigma=0.5)", "sg"): (F.sin(2.0, 1.0)[1], F.gaussian(0.5), 128),
    ("gelu", None, "ntk"): (F.gelu()[1], F.gelu()[1], HERMITE_NODES),
}


@pytest.mark.parametrize("points", HERMITE_SETS)
def test_gelu_published_form_against_gauss_hermite(points):
    """The published GELU kernel itself, checked against the independent product rule."""
    gelu = F.gelu()[0].value
    for a_, b_, c_ in points:
        want = gauss_hermite(gelu, gelu, a_, b_, c_, HERMITE_NODES)
        got = _gelu_nngp(mp.mpf(a_), mp.mpf(b_), mp.mpf(c_))
        assert abs(got - want) <= 1e-14 * abs(want), (a_, b_, c_)


@pytest.mark.parametrize("points", HERMITE_SETS)
@pytest.mark.parametrize("spec,psi,name", HERMITE_CASES, ids=[" ".join(map(str, k)) for k in HERMITE_CASES])
def test_closed_forms_against_gauss_hermite(spec, psi, name, points):
    """Derived closed form (status and generated code) against the product rule, relative 1e-12."""
    result = getattr(kernelalg.derive(spec, psi), name)
    assert result.status == "closed form", result.status
    f, g, nodes = HERMITE_CASES[spec, psi, name]
    got = getattr(kernelalg.layer_maps(spec, psi), name)(*np.array(points).T)
    for (a_, b_, c_), value in zip(points, got):
        want = gauss_hermite(f.value, g.value, a_, b_, c_, nodes)
        assert abs(value - want) <= 1e-12 * abs(want), (a_, b_, c_, value, want)


@pytest.mark.parametrize("spec,name", [("sin", "nngp"), ("cos", "ntk")])
def test_trigonometric_maps_at_variance_100(spec, name):
    """E[sin u sin v] = exp(-(a+b)/2) sinh c where a quadrature fallback failed: at a = b = 100
    and rho = +-0.5 the value is +-exp(-50)/2 ~ +-9.6e-23 (the quadrature returned -+1.8e-10),
    at rho = 0.999999 its relative error was 1.9e-5."""
    c = np.array([50.0, -50.0, 99.9999])
    got = getattr(kernelalg.layer_maps(spec), name)(100.0, 100.0, c)
    with mp.workdps(30):
        want = [mp.exp(-100) * mp.sinh(v) for v in c]
    assert abs(want[0] - 9.64e-23) < 1e-25
    for g, w in zip(got, want):
        assert abs(g - w) <= 1e-14 * abs(w), (g, w)


# --- the ReLU family at both edges |rho| -> 1, relative error without absolute floors ---------

def _arc_cosine(n: int, a, b, c):
    """E[max(u, 0)^n max(v, 0)^n] = (ab)^(n/2) J_n(theta) / (2 pi), theta = acos(rho), with the
    arc-cosine kernels' J_n (Cho and Saul 2009); evaluated at 60 digits, where the cancellation
    of J_n near theta = pi costs at most 40 (written in p = pi - theta, exactly 0 at rho = -1)."""
    p = mp.acos(-c / mp.sqrt(a * b))
    s, k = mp.sin(p), -mp.cos(p)
    j = (p, s + p * k, 3 * s * k + p * (1 + 2 * k**2), 4 * s**3 + 15 * s * k**2 + p * (9 * s**2 * k + 15 * k**3))[n]
    return (a * b) ** (mp.mpf(n) / 2) * j / (2 * mp.pi)


def _leaky(alpha):
    """f = (1 - alpha) max(x, 0) + alpha x: E[f f] = (1 - alpha)^2 k_1 + alpha c, and with
    f' = alpha + (1 - alpha) H: E[f' f'] = alpha + (1 - alpha)^2 k_0."""
    return {"nngp": lambda a, b, c: (1 - alpha) ** 2 * _arc_cosine(1, a, b, c) + alpha * c,
            "ntk": lambda a, b, c: alpha + (1 - alpha) ** 2 * _arc_cosine(0, a, b, c)}


RELU_FAMILY = {  # spec -> map -> textbook value; |x| = 2 max(x, 0) - x, sign = 2 H - 1
    "Heaviside(x)": {"nngp": lambda a, b, c: _arc_cosine(0, a, b, c)},
    "Max(x, 0)": {"nngp": lambda a, b, c: _arc_cosine(1, a, b, c), "ntk": lambda a, b, c: _arc_cosine(0, a, b, c)},
    **{f"Max(x, 0)**{n}": {"nngp": lambda a, b, c, n=n: _arc_cosine(n, a, b, c),
                           "ntk": lambda a, b, c, n=n: n * n * _arc_cosine(n - 1, a, b, c)} for n in (2, 3)},
    "leaky_relu": _leaky(mp.mpf("0.01")),
    "leaky_relu(alpha=0.2)": _leaky(mp.mpf("0.2")),
    "Abs(x)": {"nngp": lambda a, b, c: 4 * _arc_cosine(1, a, b, c) - c,
               "ntk": lambda a, b, c: 4 * _arc_cosine(0, a, b, c) - 1},
}
RELU_IDS = [f"{spec} {name}" for spec, maps in RELU_FAMILY.items() for name in maps]
EDGE_RHOS = (0.3, -0.7, 1 - 1e-3, -(1 - 1e-3), 1 - 1e-6, -(1 - 1e-6), 1 - 1e-9, -(1 - 1e-9))


def _edge_grid():
    """Variances 1e-4..1e4 (also unequal), |rho| up to 1 - 1e-9, and the edges rho = +-1 exactly."""
    grid = [(va, vb, rho * (va * vb) ** 0.5) for va, vb in ((1.0, 1.0), (1e-4, 1e-4), (1e4, 1e4), (1e-4, 1e4),
                                                           (2.0, 0.5)) for rho in EDGE_RHOS]
    return grid + [(v, v, s * v) for v in (1.0, 1e-4, 1e4) for s in (1.0, -1.0)]


@pytest.mark.parametrize("spec,name", [(s, m) for s, maps in RELU_FAMILY.items() for m in maps], ids=RELU_IDS)
def test_relu_family_at_both_edges(spec, name):
    """Generated maps of the ReLU family against the arc-cosine kernels: relative 1e-12 for
    |rho| up to 1 - 1e-9 at both ends and on the edges, with no absolute floor (a value that is
    exactly 0, e.g. E[max(u, 0) max(v, 0)] at rho = -1, must come out 0)."""
    grid = _edge_grid()
    got = getattr(kernelalg.layer_maps(spec), name)(*np.array(grid).T)
    with mp.workdps(60):
        want = [RELU_FAMILY[spec][name](*(mp.mpf(v) for v in row)) for row in grid]
        bad = [(row, g, float(w)) for row, g, w in zip(grid, got, want) if not abs(g - w) <= 1e-12 * abs(w)]
    assert not bad, bad
