"""Piecewise-analytic functions with point masses, and their distributional derivatives.

A function ``f`` of ``x`` is decomposed into analytic pieces on the intervals between its
breakpoints (zeros of the arguments of Abs, sign, Heaviside, Max/Min, Piecewise) plus
delta terms ``w * DiracDelta(x - t)``.  The derivative of such a distribution is again one:

    f' = sum_pieces (piece)' on its interval  +  sum_breakpoints [f(t+) - f(t-)] delta(x - t)

so jumps become deltas and kinks become steps, without a table of known derivatives.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import mpmath
import sympy as sp

from kernelalg.errors import DerivationError, NotIntegrableError
from kernelalg.symbolic.functions import x

NONSMOOTH = (sp.Abs, sp.sign, sp.Heaviside, sp.Max, sp.Min, sp.Piecewise)


@dataclass(frozen=True)
class Piece:
    """``expr`` (analytic in x) on the open interval (lo, hi); lo may be -oo, hi may be +oo."""

    lo: sp.Expr
    hi: sp.Expr
    expr: sp.Expr


@dataclass(frozen=True)
class Distribution:
    """Sum of analytic pieces covering the real line and point masses ``weight * delta(x - loc)``."""

    pieces: tuple[Piece, ...]
    deltas: tuple[tuple[sp.Expr, sp.Expr], ...] = ()

    @property
    def regular(self) -> Distribution:
        return Distribution(self.pieces)

    @property
    def singular(self) -> Distribution:
        return Distribution((Piece(-sp.oo, sp.oo, sp.S.Zero),), self.deltas)

    @property
    def breakpoints(self) -> tuple[sp.Expr, ...]:
        return tuple(p.lo for p in self.pieces[1:])

    def is_zero(self) -> bool:
        return not self.deltas and all(p.expr == 0 for p in self.pieces)

    def constant(self) -> sp.Expr | None:
        """The value if this is a constant function (no deltas, one piece free of x)."""
        if self.deltas or len(self.pieces) != 1 or self.pieces[0].expr.has(x):
            return None
        return self.pieces[0].expr

    def is_step_function(self) -> bool:
        """Piecewise constant without deltas: the derivative consists of deltas only."""
        return not self.deltas and all(not p.expr.has(x) for p in self.pieces)

    def as_expr(self) -> sp.Expr:
        """A single SymPy expression (Piecewise + DiracDelta terms) equal to this distribution."""
        if len(self.pieces) == 1:
            body = self.pieces[0].expr
        else:
            body = sp.Piecewise(*[(p.expr, x < p.hi) for p in self.pieces[:-1]],
                                (self.pieces[-1].expr, True))
        return body + sum((w * sp.DiracDelta(x - t) for t, w in self.deltas), sp.S.Zero)


def _real_roots(arg: sp.Expr) -> list[sp.Expr]:
    if not arg.has(x):
        return []
    roots = sp.solveset(arg, x, domain=sp.S.Reals)
    if roots is sp.S.EmptySet:
        return []
    if not isinstance(roots, sp.FiniteSet):
        raise DerivationError(f"cannot locate the breakpoints of {arg} (roots: {roots})")
    return list(roots)


def breakpoints_of(expr: sp.Expr) -> list[sp.Expr]:
    """Sorted real points where a Abs/sign/Heaviside/Max/Min/Piecewise in expr switches branch."""
    points: set[sp.Expr] = set()
    for atom in expr.atoms(*NONSMOOTH):
        if isinstance(atom, (sp.Abs, sp.sign, sp.Heaviside)):
            points.update(_real_roots(atom.args[0]))
        elif isinstance(atom, (sp.Max, sp.Min)):
            args = atom.args
            for i, u in enumerate(args):
                for v in args[i + 1:]:
                    points.update(_real_roots(u - v))
        else:  # Piecewise: boundaries of its conditions
            for _, cond in atom.args:
                for rel in cond.atoms(sp.core.relational.Relational):
                    points.update(_real_roots(rel.lhs - rel.rhs))
    if any(not p.is_real for p in points):
        raise DerivationError(f"breakpoints of {expr} are not real numbers")
    return sorted(points, key=lambda p: float(p))


def _value(expr: sp.Expr, point: sp.Expr) -> float:
    return float(sp.N(expr.subs(x, point), 30))


def _branch(atom: sp.Basic, point: sp.Expr) -> sp.Expr:
    """The analytic expression that ``atom`` equals near ``point`` (not a breakpoint)."""
    if isinstance(atom, sp.Abs):
        arg = atom.args[0]
        return arg if _value(arg, point) > 0 else -arg
    if isinstance(atom, sp.sign):
        return sp.S.One if _value(atom.args[0], point) > 0 else sp.S.NegativeOne
    if isinstance(atom, sp.Heaviside):
        return sp.S.One if _value(atom.args[0], point) > 0 else sp.S.Zero
    if isinstance(atom, (sp.Max, sp.Min)):
        pick = max if isinstance(atom, sp.Max) else min
        return pick(atom.args, key=lambda e: _value(e, point))
    for expr, cond in atom.args:  # Piecewise
        if bool(cond.subs(x, point)):
            return expr
    raise DerivationError(f"{atom} is undefined at x = {point}")


def _resolve(expr: sp.Expr, point: sp.Expr) -> sp.Expr:
    return expr.replace(lambda e: isinstance(e, NONSMOOTH), lambda e: _branch(e, point))


def _split_deltas(expr: sp.Expr) -> tuple[sp.Expr, list[tuple[sp.Expr, sp.Expr]]]:
    """Separate ``sum w_i DiracDelta(alpha x + beta)`` terms from the rest."""
    if not expr.has(sp.DiracDelta):
        return expr, []
    regular, deltas = sp.S.Zero, []
    for term in sp.Add.make_args(sp.expand(expr)):
        found = term.atoms(sp.DiracDelta)
        if not found:
            regular += term
            continue
        if len(found) > 1 or len(next(iter(found)).args) > 1:
            raise DerivationError(f"unsupported distribution term {term} (products or derivatives of deltas)")
        delta = next(iter(found))
        arg = delta.args[0]
        poly = sp.Poly(arg, x) if arg.is_polynomial(x) else None
        if poly is None or poly.degree() != 1:
            raise DerivationError(f"DiracDelta argument {arg} must be linear in x")
        slope, offset = poly.all_coeffs()
        loc = -offset / slope
        weight = (term / delta).subs(x, loc) / sp.Abs(slope)
        if weight.has(sp.DiracDelta, x):
            raise DerivationError(f"unsupported distribution term {term}")
        deltas.append((sp.nsimplify(loc), sp.simplify(weight)))
    return regular, deltas


def _same(e1: sp.Expr, e2: sp.Expr) -> bool:
    return e1 == e2 or sp.simplify(e1 - e2) == 0


def _merge(pieces: list[Piece]) -> tuple[Piece, ...]:
    merged: list[Piece] = []
    for piece in pieces:
        if merged and _same(merged[-1].expr, piece.expr):
            merged[-1] = Piece(merged[-1].lo, piece.hi, merged[-1].expr)
        else:
            merged.append(piece)
    return tuple(merged)


def _collect(deltas: list[tuple[sp.Expr, sp.Expr]]) -> tuple[tuple[sp.Expr, sp.Expr], ...]:
    total: dict[sp.Expr, sp.Expr] = {}
    for loc, w in deltas:
        total[loc] = sp.simplify(total.get(loc, sp.S.Zero) + w)
    return tuple((loc, w) for loc, w in sorted(total.items(), key=lambda kv: float(kv[0])) if w != 0)


@lru_cache(maxsize=512)
def decompose(expr: sp.Expr) -> Distribution:
    """Split ``expr`` into analytic pieces between its breakpoints and delta terms."""
    regular, deltas = _split_deltas(expr)
    points = breakpoints_of(regular)
    edges = [-sp.oo, *points, sp.oo]
    pieces = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        if lo == -sp.oo and hi == sp.oo:
            probe = sp.S.Zero
        elif lo == -sp.oo:
            probe = hi - 1
        elif hi == sp.oo:
            probe = lo + 1
        else:
            probe = (lo + hi) / 2
        body = sp.simplify(_resolve(regular, probe)) if regular.has(*NONSMOOTH) else regular
        pieces.append(Piece(lo, hi, body))
    return Distribution(_merge(pieces), _collect(deltas))


def derivative(dist: Distribution) -> Distribution:
    """Distributional derivative: piecewise derivatives plus jump * delta at each breakpoint."""
    if dist.deltas:
        raise DerivationError("the derivative of a delta term is not supported")
    jumps = []
    for left, right in zip(dist.pieces[:-1], dist.pieces[1:]):
        t = right.lo
        jump = sp.simplify(sp.limit(right.expr, x, t, "+") - sp.limit(left.expr, x, t, "-"))
        if not jump.is_finite:
            raise NotIntegrableError(f"the function is unbounded at its breakpoint x = {t}")
        jumps.append((t, jump))
    pieces = [Piece(p.lo, p.hi, sp.diff(p.expr, x)) for p in dist.pieces]
    return Distribution(_merge(pieces), _collect(jumps))


#: Functions rewritten as sums of exponentials by gauss_terms: sin(z) = (e^(iz) - e^(-iz))/(2i), ...
EXPONENTIAL = (sp.sin, sp.cos, sp.sinh, sp.cosh)


def as_exponentials(expr: sp.Expr) -> sp.Expr:
    """``expr`` with sin, cos, sinh and cosh written as sums of (complex) exponentials."""
    return expr.replace(lambda e: isinstance(e, EXPONENTIAL), lambda e: e.rewrite(sp.exp))


def gauss_terms(expr: sp.Expr) -> list[tuple[sp.Expr, sp.Poly]] | None:
    """Write ``expr`` as ``sum_i p_i(x) exp(q_i(x))`` with polynomials p_i and deg q_i <= 2.

    Trigonometric and hyperbolic functions are first written as exponentials, so p_i and the
    linear and constant parts of q_i may be complex; the x^2 coefficient must be real and
    negative.  Returns ``[(p_i, q_i)]`` or None when ``expr`` is not of that form.
    """
    terms = []
    expanded = sp.expand(sp.powsimp(as_exponentials(expr)), power_base=False, log=False)
    for term in sp.Add.make_args(expanded):
        exponent, rest = sp.S.Zero, sp.S.One
        for factor in sp.Mul.make_args(term):
            if isinstance(factor, sp.exp):
                exponent += factor.args[0]
            elif factor.is_Pow and isinstance(factor.base, sp.exp):
                exponent += factor.base.args[0] * factor.exp
            else:
                rest *= factor
        if not (rest.is_polynomial(x) and exponent.is_polynomial(x)):
            return None
        q = sp.Poly(sp.expand(exponent), x)
        if q.degree() > 2 or (q.degree() == 2 and not q.LC().is_extended_negative):
            return None
        terms.append((sp.expand(rest), q))
    return terms


def parity(dist: Distribution) -> int:
    """+1 if even, -1 if odd, 0 otherwise (checked piecewise and on the deltas)."""
    reflected = decompose(dist.as_expr().subs(x, -x))
    for sgn in (1, -1):
        if len(reflected.pieces) == len(dist.pieces) and all(
            p.lo == q.lo and _same(p.expr, sgn * q.expr) for p, q in zip(dist.pieces, reflected.pieces)
        ) and _collect([(t, sgn * w) for t, w in reflected.deltas]) == dist.deltas:
            return sgn
    return 0


def check_integrable(dist: Distribution, label: str) -> None:
    """Reject functions without Gaussian moments: super-quadratic exponential growth or poles."""
    for piece in dist.pieces:
        expr = piece.expr
        if expr.has(sp.zoo, sp.nan, sp.oo):
            raise NotIntegrableError(f"{label} is not finite")
        fn = sp.lambdify(x, expr, "mpmath")
        for end, sgn in ((piece.hi, 1), (piece.lo, -1)):
            if end not in (sp.oo, -sp.oo):
                continue
            for far in (20, 100):
                with mpmath.workdps(30):
                    try:
                        value = abs(mpmath.mpf(fn(sgn * far)))
                    except (ZeroDivisionError, OverflowError, TypeError, ValueError):
                        raise NotIntegrableError(f"{label} cannot be evaluated at x = {sgn * far}") from None
                if value > 0 and mpmath.log(value) > 0.25 * far**2:
                    raise NotIntegrableError(
                        f"{label} grows like exp(x^2) or faster, so its Gaussian expectation diverges")
        interval = sp.Interval.open(piece.lo, piece.hi)
        try:
            poles = sp.singularities(expr, x, domain=interval)
        except (NotImplementedError, ValueError, TypeError):
            continue
        if poles:
            raise NotIntegrableError(f"{label} has a singularity at x = {sorted(poles, key=str)[0]}")
