"""Validation of a pair's generated layer maps (used by ``kernelalg run``).

Two independent checks per map:
* **float64 accuracy**: the generated NumPy code against the derived formula evaluated with
  50-digit arithmetic, on a grid of covariances including the hard corners (|rho| up to
  1 - 1e-9, variances 1e-4 .. 1e4);
* **derivation**: the derived formula against direct mpmath quadrature of the defining
  expectation (:mod:`kernelalg.numeric.crosscheck`), at moderate covariances.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp

from kernelalg.numeric import crosscheck
from kernelalg.numeric.layermaps import CompiledMaps
from kernelalg.symbolic.expectation.result import a, b, c
from kernelalg.symbolic.functions import x
from kernelalg.symbolic.maps import MAPS

CORNER_VARIANCES = (1e-4, 1e-2, 1.0, 1e2, 1e4)
CORNER_RHOS = (-(1 - 1e-9), -0.9, -0.3, 0.0, 0.5, 1 - 1e-6, 1 - 1e-9)
MODERATE = ((1.0, 1.0, 0.3), (2.0, 0.5, -0.9), (0.3, 3.0, 0.9))


@dataclass(frozen=True)
class MapCheck:
    name: str
    status: str                       # with the evaluation and measured bound of maps without closed form
    bound: float | None               # the bound measured when the map was compiled (None: closed form)
    float64_error: float | None      # max relative error of the generated code (closed forms)
    crosscheck_error: float           # max relative error against independent mpmath quadrature
    points: int


def _grid() -> list[tuple[float, float, float]]:
    return [(va, vb, r * np.sqrt(va * vb)) for va, vb in itertools.product(CORNER_VARIANCES, repeat=2)
            for r in CORNER_RHOS]


def _owen_t(h, a):
    """Owen's T by mpmath quadrature (at the working precision)."""
    return mpmath.quad(lambda t: mpmath.exp(-h**2 * (1 + t**2) / 2) / (1 + t**2), [0, a]) / (2 * mpmath.pi)


def _exact(expr: sp.Expr, dps: int = 50):
    """The derived formula as an mpmath function of (a, b, c) evaluated with ``dps`` digits."""
    fn = sp.lambdify((a, b, c), expr, modules=[{"OwenT": _owen_t}, "mpmath"])

    def value(va: float, vb: float, vc: float) -> float:
        with mpmath.workdps(dps):
            return float(mpmath.re(fn(mpmath.mpf(va), mpmath.mpf(vb), mpmath.mpf(vc))))

    return value


def _relative(got: float, want: float) -> float:
    if not np.isfinite(got) and not np.isfinite(want):
        return 0.0
    return abs(got - want) / max(abs(want), 1e-300)


def check_maps(maps: CompiledMaps, dps: int = 15) -> list[MapCheck]:
    """Validate the four maps of ``maps``; see the module docstring."""
    phi, psi = maps.derived.phi.expr, maps.derived.psi.expr
    sides = {"phi": phi, "dphi": sp.diff(phi, x), "psi": psi}
    results = []
    for spec in MAPS:
        name = spec.name
        compiled = getattr(maps, name)
        result = compiled.result
        float_error = None
        if result.closed_form:
            float_error = 0.0
            exact_fn = _exact(result.expr)
            for va, vb, vc in _grid():
                if result.diverges and abs(abs(vc) - np.sqrt(va * vb)) < 1e-6 * np.sqrt(va * vb):
                    continue
                exact = exact_fn(va, vb, vc)
                got = float(compiled(va, vb, vc))
                if abs(exact) > 1e-280:  # values beyond float range are not a float64 question
                    float_error = max(float_error, _relative(got, exact))
        f, g = spec.functions(sides)
        quad_error = max(_relative(float(compiled(*cov)), float(crosscheck.expectation(f, g, *cov, dps=dps)))
                         for cov in MODERATE)
        results.append(MapCheck(name, maps.status(name), maps.error_bound(name), float_error, quad_error,
                                len(_grid()) if result.closed_form else 0))
    return results
