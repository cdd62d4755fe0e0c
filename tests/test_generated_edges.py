"""The standalone module of `kernelalg generate` equals the library, also on the edge c^2 = ab.

For catalog pairs (phi, psi) the module text (`generate_source`) is executed in a fresh namespace
and every map and joint function is compared with the library (`layer_maps`) at random interior
covariances, on the edges c = +-sqrt(ab) and at c = 0, at variances 1e-8 .. 1e8 (the float64 range
of the generated code; beyond 2^-100 .. 2^100 only the library evaluates closed forms, in mpmath).
Both run the same generated code, edge handling included; only the library evaluates its tables,
arctangents and products ab - c^2 with compiled loops (:func:`kernelalg.numeric.compiled.accelerate`:
the arctangent to 1 ulp, the tables a few ulps from the module's NumPy helpers), so the module with
the library's loops substituted is compared bit for bit, and the module as written to STANDALONE.
"""

from __future__ import annotations

from types import ModuleType

import mpmath
import numpy as np
import pytest

from kernelalg.numeric.compiled import accelerate
from kernelalg.numeric.layermaps import JOINT, generate_source, layer_maps
from kernelalg.symbolic import catalog
from kernelalg.symbolic.derive import MAP_NAMES

#: Largest relative difference of the module as written from the library (an ulp of an arctangent
#: or of a table, through the formulas' cancellation).
STANDALONE = 1e-15
ACTIVATIONS = [e.name for e in catalog.entries(catalog.ACTIVATION)]
SURROGATES = [None] + [e.name for e in catalog.entries(catalog.SURROGATE)]
#: Pairs with a map that is not closed (reduced integrals, quadrature): their modules build tables
#: or run the quadrature rule, seconds to minutes each with a cold cache, so they run with
#: --runslow.  The surrogates whose sg or surrogate map is not closed for any activation, tanh
#: (no closed map), and the box surrogate with the smooth activations whose sg is a reduced integral.
NOT_CLOSED = {(phi, psi) for phi in ACTIVATIONS for psi in SURROGATES
              if psi in ("superspike", "atan", "logistic", "triangle", "laplace") or phi == "tanh"
              or (phi in ("erf", "sin", "rbf") and psi == "box")}
#: In CI all the same: the examples of issue 15; with --runslow also a jump activation with a
#: tabulated sg (the preset of snntorch) and a surrogate map by the quadrature rule (its module
#: against the library at the edge is in CI in test_compiled).
IN_CI = [pytest.param("sign", "snntorch.fast_sigmoid", marks=pytest.mark.slow), ("sign", "triangle"),
         ("sign", "laplace"), ("step(t=0.5)", None)]


def _covariances() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random interior covariances (variances 1e-4 .. 1e4, also unequal), and at the variances
    1e-8, 1e8, 1 and 2, 0.5 (also unequal): c = +-sqrt(ab), c = 0 and two interior correlations."""
    rng = np.random.default_rng(15)
    a, b = 10.0 ** rng.uniform(-4, 4, (2, 12))
    A, B, C = [a], [b], [rng.uniform(-1, 1, 12) * np.sqrt(a * b)]
    rho = np.array([1.0, -1.0, 0.0, 0.3, -0.999])
    for va, vb in ((1e-8, 1e-8), (1e8, 1e8), (1e-8, 1e8), (1e8, 1e-8), (1.0, 1.0), (2.0, 0.5), (1e-4, 1e4)):
        A.append(np.full(rho.size, va))
        B.append(np.full(rho.size, vb))
        C.append(rho * np.sqrt(va * vb))
    return np.concatenate(A), np.concatenate(B), np.concatenate(C)


def _module(text: str) -> ModuleType:
    module = ModuleType("standalone")
    exec(compile(text, "<generated>", "exec"), module.__dict__)  # the text as `generate` writes it
    return module


def _equal(got, want) -> bool:
    """Bit for bit (inf equals inf; -0.0 equals 0.0)."""
    return np.array_equal(np.asarray(got, dtype=float), np.asarray(want, dtype=float))


def _compare(phi: str, psi: str | None) -> None:
    text = generate_source(phi, psi)
    assert not any(f"{how} {name}" in text for how in ("import", "from") for name in ("kernelalg", "mpmath"))
    standalone = _module(text)
    same_code = accelerate(_module(text))  # what the library runs
    lib = layer_maps(phi, psi)
    A, B, C = _covariances()
    checked = 0
    for name in MAP_NAMES:
        want = getattr(lib, name)(A, B, C)
        assert _equal(getattr(same_code, name)(A, B, C), want), (phi, psi, name)
        np.testing.assert_allclose(getattr(standalone, name)(A, B, C), want, rtol=STANDALONE, atol=0)
        checked += int(np.isfinite(want).sum() > 0)
    for names in JOINT:
        want = lib.joint(names, A, B, C)
        got = getattr(same_code, "_".join(names))(A, B, C)
        assert len(got) == len(want) and all(_equal(g, w) for g, w in zip(got, want)), (phi, psi, names)
    assert checked == len(MAP_NAMES)


PAIRS = [(phi, psi) for phi in ACTIVATIONS for psi in SURROGATES]
CLOSED = [p for p in PAIRS if p not in NOT_CLOSED]
#: The closed pairs in CI: every activation with psi = phi', sign with every closed surrogate (each
#: closed route and every surrogate family that is closed); the others with --runslow (cold, the
#: 47 closed pairs take about two minutes to derive and generate).
CLOSED_IN_CI = [p for p in CLOSED if p[1] is None or p[0] == "sign"]


@pytest.mark.parametrize("phi,psi", [
    p if p in CLOSED_IN_CI else pytest.param(*p, marks=pytest.mark.slow) for p in CLOSED] + IN_CI)
def test_standalone_module_equals_library(phi, psi):
    _compare(phi, psi)


@pytest.mark.slow
@pytest.mark.parametrize("phi,psi", [p for p in PAIRS if p in NOT_CLOSED])
def test_standalone_module_equals_library_not_closed(phi, psi):
    _compare(phi, psi)


def _normal_sf(t: float) -> float:
    return float(mpmath.erfc(mpmath.mpf(t) / mpmath.sqrt(2)) / 2)


#: The edge value is the formula's limit, extrapolated linearly in s = sqrt(ab - c^2) from 8 and 64
#: ulps inside the edge: maps that approach the edge like s (a jump or kink smoothed by the
#: vanishing conditional variance) are exact to O(s^2) ~ 1e-14 there (taking the value 8 ulps
#: inside was off by sqrt(16 eps) ~ 6e-8).
SQRT_ULPS = 1e-13


@pytest.mark.parametrize("phi,psi,name,want,rel", [
    # E[2 delta(u) max(0, 1 - |v|)] at u = v ~ N(0, 1): 2 N(0; 0, 1) = sqrt(2/pi)
    ("sign", "triangle", "sg", float(mpmath.sqrt(2 / mpmath.pi)), SQRT_ULPS),
    # E[exp(-|u|)^2] = E[exp(-2|u|)] = 2 e^2 P(Z > 2)
    ("sign", "laplace", "surrogate", float(2 * mpmath.e**2 * mpmath.erfc(mpmath.sqrt(2)) / 2), 1e-14),
    # E[H(u - 1/2)^2] = P(Z > 1/2)
    ("step(t=0.5)", None, "nngp", _normal_sf(0.5), SQRT_ULPS),
    # E[delta(u - 1/2) delta(v - 1/2)] with u = v: a point mass on the line, infinite density
    ("step(t=0.5)", None, "ntk", np.inf, 0.0),
])
def test_edge_values_of_the_standalone_module(phi, psi, name, want, rel):
    """The values a generated module used to return as NaN at a = b = c = 1 (issue 15)."""
    standalone = _module(generate_source(phi, psi))
    got = getattr(standalone, name)(1.0, 1.0, 1.0)
    assert got == getattr(layer_maps(phi, psi), name)(1.0, 1.0, 1.0)
    assert got == pytest.approx(want, rel=rel) if np.isfinite(want) else got == want
