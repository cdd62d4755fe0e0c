"""Where a one-variable function changes on a small scale: a numeric probe of its expression.

Quadrature panels and tables must resolve a function's features.  For g(x) the probe computes
the local scale

    s(x) = min( sqrt(M(x) / |g''(x)|),  M(x) / |g'(x)| ),   M(x) = max |g| on [x - 1, x + 1],

on a grid, and reports

* **centers** ``(t, w)``: the breakpoints of g, 0, and local minima of s where s is small,
  each with the smallest scale ``w`` within distance 1 (panels are graded toward t down to w);
* **far**: the smallest s(x) where s(x) < 0.15 dist(x, centers) and |g(x)| is not negligible
  (above 1e-4 of its largest value at the same distance), i.e. where panels graded
  geometrically away from the centers (width ~ distance) would not resolve g; ``inf`` when they
  do everywhere (decaying, growing or flattening functions), about 1 for sin and cos.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp

from kernelalg.codegen.printer import compile_function
from kernelalg.symbolic.functions import x
from kernelalg.symbolic.piecewise import breakpoints_of, decompose

_WINDOW = 40.0
_MIN_WIDTH = 1e-9


@dataclass(frozen=True)
class Features:
    """Feature centers ``(location, width)`` of a function and its scale away from them."""

    centers: tuple[tuple[float, float], ...]
    far: float
    breakpoints: tuple[float, ...] = ()

    def image_widths(self, t: float, w: float, spread) -> list:
        """Widths of the feature (t, w) after smoothing by a Gaussian of standard deviation
        ``spread``: a smooth feature widens to w + spread; a breakpoint keeps its scale w and
        its kink or jump is rounded on the scale spread (both need resolving)."""
        return [w, spread] if t in self.breakpoints else [w + spread]


def _grid(points: list[float]) -> np.ndarray:
    """A probe grid on [-WINDOW, WINDOW], geometrically refined toward ``points``."""
    parts = [np.linspace(-_WINDOW, _WINDOW, 8001), np.linspace(-2.0, 2.0, 4001)]
    offsets = np.geomspace(_MIN_WIDTH, 4.0, 120)
    for t in points:
        parts += [t - offsets, t + offsets]
    return np.unique(np.clip(np.concatenate(parts), -_WINDOW, _WINDOW))


def _numeric(expr: sp.Expr, var: sp.Symbol):
    expr = expr.replace(sp.DiracDelta, lambda *args: sp.S.Zero)  # derivatives at breakpoints
    fn = compile_function(expr, (var,))

    def value(t):
        with np.errstate(all="ignore"):  # probing far out: overflow to inf and 0 is expected
            return np.broadcast_to(np.asarray(fn(t), dtype=float), np.shape(t))

    return value


def local_scales(expr: sp.Expr, var: sp.Symbol, grid: np.ndarray) -> np.ndarray:
    """s(x) on ``grid`` (see the module docstring); inf where g is flat."""
    values, d1, d2 = (_numeric(e, var)(grid) for e in (expr, sp.diff(expr, var), sp.diff(expr, var, 2)))
    with np.errstate(all="ignore"):
        mag = np.abs(np.where(np.isfinite(values), values, 0.0))
        # M(x): running maximum of |g| over a window of +-1 (on the sorted grid)
        lo = np.searchsorted(grid, grid - 1.0)
        hi = np.searchsorted(grid, grid + 1.0, side="right")
        table = _sparse_max(mag)
        M = _range_max(table, lo, hi)
        s = np.minimum(np.sqrt(M / np.abs(d2)), M / np.abs(d1))
    return np.where(np.isfinite(s) & (s > 0), s, np.inf)


def _sparse_max(values: np.ndarray) -> list[np.ndarray]:
    """Sparse table of range maxima (powers of two)."""
    table = [values]
    k = 1
    while 2 * k <= values.size:
        prev = table[-1]
        table.append(np.maximum(prev[:-k], prev[k:]))
        k *= 2
    return table


def _range_max(table: list[np.ndarray], lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """max(values[lo:hi]) for each pair, from the sparse table."""
    length = np.maximum(hi - lo, 1)
    level = np.floor(np.log2(length)).astype(int)
    out = np.empty(lo.size)
    for k in np.unique(level):
        sel = level == k
        row = table[k]
        out[sel] = np.maximum(row[lo[sel]], row[hi[sel] - (1 << k)])
    return out


@lru_cache(maxsize=256)
def features(expr: sp.Expr, var: sp.Symbol) -> Features:
    """Centers and far scale of ``expr`` as a function of ``var`` (see the module docstring;
    cached: the table builder, the mpmath reference and the code generator probe the same
    integrands, at about a second per probe)."""
    if not expr.has(var):
        return Features((), np.inf)
    # analytic pieces between breakpoints (a Piecewise), whose derivatives print cleanly
    expr = decompose(expr.subs(var, x)).regular.as_expr().subs(x, var)
    points = [float(t) for t in breakpoints_of(expr.subs(var, x))]
    grid = _grid([0.0, *points])
    s = local_scales(expr, var, grid)
    # local minima of s that are small: smooth features (a bump of width 1/k, a logistic step)
    interior = (s[1:-1] < s[:-2]) & (s[1:-1] <= s[2:]) & (s[1:-1] < 0.25)
    candidates = [0.0, *points, *grid[1:-1][interior]]
    centers: list[tuple[float, float]] = []
    for t in sorted(set(candidates), key=lambda v: (abs(v), v)):
        near = np.abs(grid - t) <= 1.0
        width = float(np.clip(s[near].min(), _MIN_WIDTH, 1.0))
        if all(abs(t - c) > 4 * max(w, width) for c, w in centers) or t in points:
            centers.append((t, width))
    dist = np.min(np.abs(grid[:, None] - np.array([c for c, _ in centers])[None, :]), axis=1)
    widths = np.array([w for _, w in centers])
    reach = np.min(np.abs(grid[:, None] - np.array([c for c, _ in centers])[None, :]) / (8 * widths), axis=1)
    # significant: |g| above 1e-4 of its largest value within the same distance of x
    values = np.abs(_numeric(expr, var)(grid))
    order = np.argsort(dist)
    nearby = np.empty_like(values)
    nearby[order] = np.maximum.accumulate(np.where(np.isfinite(values), values, 0.0)[order])
    unresolved = (s < 0.15 * dist) & (reach >= 1.0) & (values > 1e-4 * nearby)
    far = float(min(s[unresolved].min(), 1.0)) if unresolved.any() else np.inf
    return Features(tuple(sorted(centers)), far, tuple(points))
