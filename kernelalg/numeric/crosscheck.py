"""High-precision cross-check of layer maps by mpmath quadrature (independent of the engine).

E[f(u) g(v)] over N(0, [[a, c], [c, b]]) is integrated directly: point masses are taken from
SymPy's own ``diff`` (DiracDelta terms), the rest by nested mpmath quadrature conditioned on u,

    E[f(u) g(v)] = int f(u) N(u; 0, a) E[g(v) | u] du,   v | u ~ N(c u / a, b - c^2/a),

split at the points where Abs/sign/Heaviside/Max/Min switch (found by ``solveset``).  None of
the engine's routes (piecewise decomposition, Price's theorem, closed-form means) is used.
"""

from __future__ import annotations

import mpmath
import sympy as sp

from kernelalg.symbolic.functions import x

_KINKS = (sp.Abs, sp.sign, sp.Heaviside, sp.Max, sp.Min)


def _split(expr: sp.Expr) -> tuple[sp.Expr, list[tuple[float, float]]]:
    """(regular part, [(location, weight)]) using SymPy's DiracDelta(x - t) terms."""
    regular, deltas = sp.S.Zero, []
    for term in sp.Add.make_args(sp.expand(expr)):
        atoms = term.atoms(sp.DiracDelta)
        if not atoms:
            regular += term
            continue
        (delta,) = atoms
        (t,) = sp.solve(delta.args[0], x)
        slope = abs(sp.diff(delta.args[0], x))
        deltas.append((mpmath.mpf(sp.N(t, 40)), mpmath.mpf(sp.N((term / delta).subs(x, t) / slope, 40))))
    return regular, deltas


def _points(expr: sp.Expr) -> list:
    pts = {sp.S.Zero}
    for atom in expr.atoms(*_KINKS):
        args = atom.args if isinstance(atom, (sp.Max, sp.Min)) else (atom.args[0],)
        diffs = [u - v for i, u in enumerate(args) for v in args[i + 1:]] if len(args) > 1 else args
        for d in diffs:
            roots = sp.solveset(d, x, sp.S.Reals)
            if isinstance(roots, sp.FiniteSet):
                pts.update(roots)
    return sorted(mpmath.mpf(sp.N(p, 40)) for p in pts)


def _mean(fn, kinks, mu, var):
    """E[fn(X)], X ~ N(mu, var), by tanh-sinh quadrature split at kinks and +-scale."""
    if var <= 0:
        return fn(mu)
    sd = mpmath.sqrt(var)
    nodes = sorted({mu - 12 * sd, mu, mu + 12 * sd, *[k for k in kinks if abs(k - mu) < 12 * sd]})
    return mpmath.quad(lambda t: fn(t) * mpmath.npdf(t, mu, sd), nodes)


def expectation(f: sp.Expr, g: sp.Expr, a: float, b: float, c: float, dps: int = 25) -> mpmath.mpf:
    """E[f(u) g(v)] to about ``dps`` digits (moderate variances; used as a cross-check)."""
    with mpmath.workdps(dps):
        a, b, c = (mpmath.mpf(v) for v in (a, b, c))
        f_reg, f_deltas = _split(f)
        g_reg, g_deltas = _split(g)
        fr, gr = (sp.lambdify(x, e, "mpmath") for e in (f_reg, g_reg))
        fk, gk = _points(f_reg), _points(g_reg)
        det = a * b - c * c
        total = mpmath.mpf(0)
        for t, w in f_deltas:
            total += w * mpmath.npdf(t, 0, mpmath.sqrt(a)) * (
                _mean(gr, gk, c * t / a, det / a) if g_reg != 0 else 0)
            for s, v in g_deltas:
                total += w * v * mpmath.exp(-(b * t * t - 2 * c * t * s + a * s * s) / (2 * det)) / (
                    2 * mpmath.pi * mpmath.sqrt(det))
        if f_reg != 0:
            for s, v in g_deltas:
                total += v * mpmath.npdf(s, 0, mpmath.sqrt(b)) * _mean(fr, fk, c * s / b, det / b)
            if g_reg != 0:
                total += _mean(lambda u: fr(u) * _mean(gr, gk, c * u / a, det / a), fk, 0, a)
        return total
