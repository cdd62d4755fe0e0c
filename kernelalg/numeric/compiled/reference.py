"""High-precision reference for derived formulas that contain unevaluated Gaussian means.

The formula is turned into an mpmath function of (a, b, c): elementary parts by SymPy's
mpmath printer, Owen's T by its defining integral, and every ``GaussianMean(mu, var, g)`` by
20-point Gauss-Legendre quadrature at DPS digits in the standardised variable z, on panels
that follow the Gaussian weight (edges 0, +-1, +-2, +-4, +-8, +-14) and are split at the
breakpoints of g and graded geometrically (ratio 4) toward its feature centers down to a
quarter of their widths; nested means are evaluated at every outer node.  It shares no code
with the float64 quadrature rule or the tables it checks.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import mpmath as mp
import sympy as sp
from sympy.printing.pycode import MpmathPrinter

from kernelalg.codegen.features import features
from kernelalg.symbolic.expectation.result import a, b, c
from kernelalg.symbolic.special import GaussianMean

DPS = 20
ORDER = 20
_Z = 14  # standard deviations integrated: tail below 1e-44


class _Printer(MpmathPrinter):
    def __init__(self, cuts: dict):
        super().__init__({"fully_qualified_modules": True, "inline": True, "allow_unknown_functions": True})
        self.cuts = cuts

    def _print_GaussianMean(self, expr):
        (var,) = expr.integrand.variables
        key = len(self.cuts)
        self.cuts[key] = _feature_cuts(expr.integrand.expr, var)
        body = self._print(expr.integrand.expr)
        return f"_mean({self._print(expr.mu)}, {self._print(expr.var)}, lambda {var}: {body}, _CUTS[{key}])"

    def _print_OwenT(self, expr):
        return f"_owen_t({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_Heaviside(self, expr):
        return f"_heaviside({self._print(expr.args[0])})"


def _feature_cuts(body: sp.Expr, var: sp.Symbol) -> tuple[tuple[float, float], ...]:
    """(center, width) of the factor of ``body`` that depends on ``var`` only."""
    own = sp.Mul(*(f for f in sp.Mul.make_args(body) if not f.has(a, b, c, GaussianMean)))
    return features(own, var).centers if own.has(var) else ()


def _owen_t(h, alpha):
    return mp.quad(lambda t: mp.exp(-h**2 * (1 + t**2) / 2) / (1 + t**2), [0, alpha]) / (2 * mp.pi)


def _heaviside(t):
    return mp.mpf(1) if t > 0 else mp.mpf(0) if t < 0 else mp.mpf(0.5)


@lru_cache(maxsize=4)
def _legendre(dps: int) -> tuple[list, list]:
    """Gauss-Legendre nodes and weights of order ORDER on [-1, 1] at ``dps`` digits."""
    with mp.workdps(dps + 10):
        nodes, weights = [], []
        for k in range(ORDER):  # Newton's method from the usual first guess, for P_n(t) = 0
            t = mp.cos(mp.pi * (k + mp.mpf(0.75)) / (ORDER + mp.mpf(0.5)))
            for _ in range(100):
                p, q = mp.legendre(ORDER, t), mp.legendre(ORDER - 1, t)
                slope = ORDER * (t * p - q) / (t * t - 1)
                step = p / slope
                t -= step
                if abs(step) < mp.mpf(10) ** (-dps - 8):
                    break
            p, q = mp.legendre(ORDER, t), mp.legendre(ORDER - 1, t)
            nodes.append(t)
            weights.append(2 / ((1 - t * t) * (ORDER * (t * p - q) / (t * t - 1)) ** 2))
    return nodes, weights


def _mean(mu, var, fn, cuts):
    """E[fn(X)], X ~ N(mu, var), by Gauss-Legendre quadrature on graded panels in z."""
    if var <= 0:
        return fn(mu)
    sd = mp.sqrt(var)
    points = {mp.mpf(v) for v in (-14, -8, -4, -2, -1, 0, 1, 2, 4, 8, 14)}
    for t, width in cuts:
        zc = (mp.mpf(t) - mu) / sd
        if abs(zc) > 60:
            continue
        points.add(zc)
        d = mp.mpf(2 * _Z)
        while d > mp.mpf(width) / sd / 4:
            points.update((zc - d, zc + d))
            d /= 4
    lo = min(min(points), -_Z)
    hi = max(max(points), _Z)
    edges = sorted(p for p in points if lo <= p <= hi)
    nodes, weights = _legendre(mp.mp.dps)
    total = mp.mpf(0)
    for left, right in itertools.pairwise(edges):
        half, mid = (right - left) / 2, (right + left) / 2
        total += half * mp.fsum(w * fn(mu + sd * (mid + half * t)) * mp.npdf(mid + half * t)
                                for t, w in zip(nodes, weights))
    return total


@lru_cache(maxsize=64)
def formula(expr: sp.Expr):
    """(a, b, c) -> the value of ``expr`` at DPS digits (an mpf)."""
    cuts: dict = {}
    text = _Printer(cuts).doprint(expr)
    namespace = {"mpmath": mp, "_mean": _mean, "_owen_t": _owen_t, "_heaviside": _heaviside, "_CUTS": cuts}
    exec(f"def _fn(a, b, c):\n    return {text}\n", namespace)  # noqa: S102 (our own printed code)
    fn = namespace["_fn"]

    def value(va: float, vb: float, vc: float):
        with mp.workdps(DPS):
            return mp.re(fn(mp.mpf(va), mp.mpf(vb), mp.mpf(vc)))

    return value
