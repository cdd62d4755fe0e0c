"""1-D tables of G(V) = E[g(sqrt(V) z)], z ~ N(0, 1), over the whole range V >= 0.

With a jump activation, delta conditioning leaves the mixed map as a closed prefactor times
such a mean at the conditional variance V = (ab - c^2)/a.  G is smooth in V > 0 and follows
power laws at both ends (G -> g(0) as V -> 0; G ~ (int g) / sqrt(2 pi V) for an integrable g
as V -> infinity; the exponents are read off the node values and snapped to multiples of
1/2).  G is tabulated on the octaves 2**(e - 1) <= V < 2**e from 2**-133 (1e-40) to 2**133, each
cut into equal cells of the mantissa V / 2**e (found by frexp, so evaluation needs no
logarithm), as Chebyshev series of G itself, or of log G where G varies by more than a factor 4
over a cell; beyond, the power laws continue it (their corrections, O(V^(1/2)) at 0 and
O(V^(-1/2)) at infinity, are below 1e-16 of G; checked).  The series interpolate at degree 16
and are cut after the degree where the dropped coefficients sum below the tolerance (the
evaluation cost is the degree); cells are halved until the interpolants resolve G.  Node values come from the generated modules' graded Gauss-Legendre
rule; the table is checked against that rule between the nodes and beyond the ends, and the
rule against a refined one.  For a g that oscillates on a scale w away from its centers (sin,
cos) the rule resolves sqrt(V) up to w * 64 only: the octaves stop there and G is continued
by its value there (such means tend to the average of g, reached exponentially fast).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from kernelalg.codegen import runtime, tableruntime
from kernelalg.codegen.features import features
from kernelalg.codegen.printer import compile_function
from kernelalg.codegen.tables import Table1
from kernelalg.numeric.compiled import chebyshev

E_LO, E_HI = -132, 134  # octaves 2**(e - 1) <= V < 2**e for e in [E_LO, E_HI)
DEGREE = 16  # interpolation degree on each cell; the stored series is truncated where it may be
SPLITS = (4, 8, 16)  # cells per octave, tried in turn until the series resolve G
TOLERANCE = 3e-15
RESOLVED = 64  # sqrt(V) / w up to which the rule resolves a g oscillating on the scale w
CHECKS = 600  # random check points with log2 V in [E_LO - 60, E_HI + 60]


@dataclass(frozen=True)
class Built:
    """A table with its measured errors (relative): against the rule between the nodes and
    beyond the ends (``fit``), and of the rule against a refined rule (``rule``)."""

    table: Table1
    fit: float
    rule: float


def mean_function(g: sp.Expr, var: sp.Symbol, found=None):
    """V -> (E[g(sqrt(V) z)], E[|g(sqrt(V) z)|]) by the generated modules' quadrature rule."""
    fn = compile_function(g, (var,))
    found = found or features(g, var)
    centers = tuple((_constant(t), _constant(w)) for t, w in found.centers)
    spec = (centers, _constant(found.far))

    def mean(V: np.ndarray, refine: int = 1) -> tuple[np.ndarray, np.ndarray]:
        V = np.asarray(V, dtype=float)
        negative = []

        def integrand(x, a, b, c):
            values = fn(x)
            negative.append(bool((values < 0).any()))
            return values

        with np.errstate(over="ignore"):  # e.g. cosh(k x)**2 -> inf in the tails: g -> 0 there
            value = runtime._gaussian_mean(integrand, spec, 0.0, V, 1.0, 1.0, 0.0, refine)
            if not any(negative):  # g >= 0 at every node: the same sums give E|g|
                return value, value
            scale = runtime._gaussian_mean(lambda x, a, b, c: np.abs(fn(x)), spec, 0.0, V, 1.0, 1.0, 0.0, refine)
        return value, scale

    return mean


def _constant(value: float):
    return lambda a, b, c: value


def _exponent(mean, v: float, step: float) -> float:
    """The power law of |G| at v (from v and v * 2**step), snapped to a multiple of 1/2 (0 if
    not within 1e-6 of one)."""
    g = np.abs(mean(np.array([v, v * 2.0**step]))[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = float(np.log2(g[1] / g[0]) / step)
    snapped = round(2 * slope) / 2 if np.isfinite(slope) else 0.0
    return snapped if abs(slope - snapped) < 1e-6 else 0.0


def _nodes(e: np.ndarray, split: int) -> np.ndarray:
    """V at the Chebyshev points of every cell: (cells, DEGREE + 1)."""
    t = chebyshev.points(DEGREE + 1)
    s = np.arange(split)
    mantissa = 0.5 + (s[:, None] + (t[None, :] + 1) / 2) / (2 * split)  # (split, points)
    return (mantissa[None] * np.exp2(e.astype(float))[:, None, None]).reshape(-1, DEGREE + 1)


def _truncated(coef: np.ndarray, size: np.ndarray) -> np.ndarray | None:
    """The coefficients cut after the smallest degree whose dropped terms sum to at most
    TOLERANCE * size on every cell (None if even the full series does not resolve a cell: its
    last two coefficients are above that)."""
    if np.any(chebyshev.tail(coef) > TOLERANCE * size):
        return None
    dropped = np.cumsum(np.abs(coef[:, ::-1]), axis=1)[:, ::-1]  # dropped[:, d] = sum_{k >= d} |c_k|
    fits = np.all(dropped <= TOLERANCE * size[:, None], axis=0)
    degree = int(np.argmax(fits)) if fits.any() else coef.shape[1]
    return np.ascontiguousarray(coef[:, :max(degree, 1)])


def build(g: sp.Expr, var: sp.Symbol) -> Built:
    """The table of E[g(sqrt(V) z)] (``g`` an expression in ``var``) with its measured errors:
    node values on cells of SPLITS[0] per octave (more if they do not resolve G), their
    Chebyshev series truncated to the degree they need."""
    found = features(g, var)
    mean = mean_function(g, var, found)
    e_hi = E_HI if found.far == np.inf else min(E_HI, int(np.ceil(2 * np.log2(RESOLVED * found.far))))
    e = np.arange(E_LO, e_hi)
    for split in SPLITS:
        values, scale = mean(_nodes(e, split))
        ratio = np.abs(values).max(axis=1) / np.maximum(np.abs(values).min(axis=1), 1e-300)
        log = bool(np.all(values > 0) and ratio.max() > 4)
        coef = chebyshev.coefficients(np.log(values) if log else values, axis=-1)
        kept = _truncated(coef, np.ones(len(coef)) if log else np.abs(scale).max(axis=1))
        if kept is not None:
            break
    else:
        kept = coef
    v_lo, v_hi = 2.0 ** (E_LO - 1), 2.0 ** (e_hi - 1)
    g_lo, g_hi = (float(v) for v in mean(np.array([v_lo, v_hi]))[0])
    p_hi = _exponent(mean, v_hi, 8.0) if e_hi == E_HI else 0.0
    ends = (v_lo, g_lo, _exponent(mean, v_lo, -8.0), v_hi, g_hi, p_hi)
    table = Table1(E_LO, split, kept, log, ends)
    V = np.exp2(np.random.default_rng(0).uniform(E_LO - 60, e_hi + (60 if e_hi == E_HI else 0), CHECKS))
    want, scale = mean(V)
    fit = relative(runtime_table1(table, V), want, scale)
    nodes = np.exp2(np.linspace(E_LO, e_hi, 60))
    rule = relative(mean(nodes)[0], *mean(nodes, refine=2))
    return Built(table, fit, rule)


def runtime_table1(table: Table1, v: np.ndarray) -> np.ndarray:
    """The table evaluated exactly as generated modules do."""
    return tableruntime._table1((table.e_lo, table.split, table.coef, table.log, table.ends), v)


def relative(got: np.ndarray, want: np.ndarray, scale: np.ndarray) -> float:
    """Largest |got - want| / max(|want|, 1e-6 scale): relative error, counted against 1e-6 of
    E[|g|] where the mean nearly vanishes by cancellation."""
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.abs(got - want) / np.maximum(np.abs(want), 1e-6 * np.abs(scale))
    err = np.where(got == want, 0.0, err)
    return float(np.nanmax(err)) if err.size else 0.0
