"""Layer maps at variances beyond the range of their float64 code, from the closed form in mpmath.

The generated code forms products such as a*b and (ab - c^2)^(3/2), which under- or overflow
in float64 long before the map's value does: inputs of norm 1e-150 give a ~ 1e-300 and
ab ~ 1e-600, which reads as 0.  Entries with a variance outside [LOW, HIGH] are therefore
evaluated from the derived closed form in mpmath (unbounded exponent range) and rounded to
float64.  On the edge c^2 = ab the value is the formula there where it is finite (an arcsine
at 1, a vanishing square root), else the limit from inside: |c| shrunk by 10^-(30 + 2 D)
relative, where D is the number of decades of a and b away from 1, so that the change of
ab - c^2 (about 2e-30 ab 10^-2D) is negligible next to a, b and 1 alike, and a square-root corner
moves by under 1e-15; the working precision is 80 + 2 D digits.  A map flagged as divergent is
+inf there when shrinking 10^4 times less grows the value (a (ab - c^2)^(-1/2) divergence
grows it 100-fold).  Maps without a closed form (reduced integrals, quadrature) cannot be evaluated
there: a :class:`~kernelalg.errors.NumericalError` says so.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import mpmath
import numpy as np
import sympy as sp

from kernelalg.errors import NumericalError
from kernelalg.symbolic.expectation.result import Expectation
from kernelalg.symbolic.expectation.result import a as A
from kernelalg.symbolic.expectation.result import b as B
from kernelalg.symbolic.expectation.result import c as C

LOW, HIGH = 2.0**-100, 2.0**100
_EDGE = 30  # the edge value is the limit at |c| = sqrt(ab) (1 - 10^-(_EDGE + 2 D)), D = decades of a, b
_DIGITS = _EDGE + 50  # working digits, plus 2 D
#: mpmath's working precision is global to the process: kernel blocks on several threads take
#: turns in their mpmath sections
MPMATH = threading.Lock()


def outside(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """Mask (broadcast shape) of the entries with a variance outside [LOW, HIGH], or None if none is."""
    wide_a, wide_b = (a < LOW) | (a > HIGH), (b < LOW) | (b > HIGH)
    if not (wide_a.any() or wide_b.any()):
        return None
    return np.broadcast_to(wide_a | wide_b, np.broadcast_shapes(a.shape, b.shape, ()))


def _owen_t(h, t):
    """Owen's T(h, t) by its defining integral."""
    return mpmath.quad(lambda s: mpmath.exp(-h**2 * (1 + s**2) / 2) / (1 + s**2), [0, t]) / (2 * mpmath.pi)


@lru_cache(maxsize=256)
def _mp_function(expr: sp.Expr):
    return sp.lambdify((A, B, C), expr, modules=[{"OwenT": _owen_t}, "mpmath"])


def values(result: Expectation, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The map at the given entries (1-D arrays of a valid covariance), in mpmath, as float64."""
    if not result.closed_form:
        i = int(np.argmax(decades(a, b)))
        raise NumericalError(f"the variances {a[i]:g}, {b[i]:g} are outside {LOW:.0e}..{HIGH:.0e}, where only "
                             f"maps in closed form can be evaluated (in mpmath); this map is a {result.status}: "
                             "rescale the inputs or sigma_w, sigma_b")
    out = np.empty(a.shape)
    with MPMATH:
        for k, (va, vb, vc, wide) in enumerate(zip(a, b, c, decades(a, b))):
            edge = _EDGE + 2 * int(wide)
            with mpmath.workdps(digits(edge)):
                out[k] = float(value(result, *(mpmath.mpf(float(v)) for v in (va, vb, vc)), edge))
    return out


def digits(edge: int) -> int:
    """Working digits for edge values at |c| = sqrt(ab) (1 - 10^-edge)."""
    return edge + _DIGITS - _EDGE


def value(result: Expectation, va, vb, vc, edge: int):
    """A closed-form map at one covariance (mpf numbers, at the working precision ``digits(edge)``).

    Within a relative 10^-edge of the edge c^2 = ab the covariance counts as on the edge, where
    the map is its formula at |c| = sqrt(ab) if that is finite, else its value at
    |c| = sqrt(ab) (1 - 10^-edge) (+inf for a divergent map that grows toward the edge)."""
    function = _mp_function(result.expr)
    shrink = mpmath.mpf(10) ** -edge
    edge_c = mpmath.sign(vc) * mpmath.sqrt(va * vb)
    if abs(vc) < abs(edge_c) * (1 - shrink):
        return mpmath.re(function(va, vb, vc))
    try:
        on_edge = mpmath.re(function(va, vb, edge_c))
    except (ZeroDivisionError, ValueError):
        on_edge = mpmath.nan
    if mpmath.isfinite(on_edge):
        return on_edge
    near = mpmath.re(function(va, vb, edge_c * (1 - shrink)))
    nearer = mpmath.re(function(va, vb, edge_c * (1 - shrink / 10**4)))
    return mpmath.inf if result.diverges and abs(nearer) > 1.5 * abs(near) else near


def decades(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Decimal exponent range spanned by the variances, max |log10| of a and b."""
    return np.ceil(np.maximum(np.abs(np.log10(a)), np.abs(np.log10(b)))).astype(int)
