"""NumPy/SciPy source for derived expressions, including kernelalg's own functions."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy
import scipy.special
import sympy as sp
from sympy.printing.numpy import SciPyPrinter
from sympy.printing.precedence import PRECEDENCE

from kernelalg.codegen import runtime
from kernelalg.codegen.rewrite import logistic
from kernelalg.symbolic.special import GaussianMean


@dataclass(frozen=True)
class Names:
    """Names of the generated helpers: quadrature integrands and tables of Gaussian means
    (name and table spec with a ``call(name, mu, var, exact)`` method), series at an edge
    (their Lambda -> function name), and nested means summed by Mehler's expansion (name and
    :class:`kernelalg.codegen.hermite.Pair`)."""

    integrands: dict
    tables: dict
    series: dict = field(default_factory=dict)
    hermite: dict = field(default_factory=dict)


class KernelPrinter(SciPyPrinter):
    """SciPy printer that knows Owen's T, erfcx, expm1, angles, exp differences, Det2 and the Gaussian-mean placeholders.

    ``means`` maps each GaussianMean to the name of the generated integrand that evaluates it
    by quadrature, or is a :class:`Names` that also holds tables.  With ``helpers`` (the kernel
    modules) it also prints the logistic forms of :func:`kernelalg.codegen.rewrite.logistic`,
    x**(-k) as 1/x**k and a two-piece Piecewise as numpy.where; without (the neuron formulas of
    the checked-in spiking modules) SymPy's own printing.
    """

    def __init__(self, means: dict[GaussianMean, str] | Names | None = None, helpers: bool = True):
        super().__init__({"fully_qualified_modules": True, "inline": True, "allow_unknown_functions": False})
        names = means if isinstance(means, Names) else Names(means or {}, {})
        self.means, self.tables, self.hermite = names.integrands, names.tables, names.hermite
        self.helpers = helpers

    def _print_atan(self, expr):
        """The runtime's _arctan (which the library compiles) in code that carries the helpers."""
        return f"_arctan({self._print(expr.args[0])})" if self.helpers else super()._print_atan(expr)

    def doprint(self, expr, assign_to=None):
        careful = self.helpers and isinstance(expr, sp.Basic)
        return super().doprint(logistic(expr) if careful else expr, assign_to)

    def _print_Expit(self, expr):
        return f"scipy.special.expit({self._print(expr.args[0])})"

    def _print_Softplus(self, expr):
        return f"numpy.logaddexp(0.0, {self._print(expr.args[0])})"

    def _print_OwenT(self, expr):
        return f"scipy.special.owens_t({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_OwenTail(self, expr):
        return f"_owens_t_tail({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_OwenRest(self, expr):
        return f"_owens_t_rest({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_Erfc(self, expr):
        return f"scipy.special.erfc({self._print(expr.args[0])})"

    def _print_ExpErfc(self, expr):
        return f"_exp_erfc({', '.join(self._print(arg) for arg in expr.args)})"

    def _print_Erfcx(self, expr):
        return f"scipy.special.erfcx({self._print(expr.args[0])})"

    def _print_Angle(self, expr):
        return f"_angle({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_ExpSub(self, expr):
        return f"_exp_sub({', '.join(self._print(arg) for arg in expr.args)})"

    def _print_Expm1(self, expr):
        return f"numpy.expm1({self._print(expr.args[0])})"

    def _print_Det2(self, expr):
        return f"_det2({', '.join(self._print(arg) for arg in expr.args)})"

    def _print_NearEdge(self, expr):
        value, angle, t0, _, series = expr.args
        return f"_near_edge({self._print(value)}, {self._print(angle)}, {t0}, {self._print(series)}, a, b)"

    def _print_DetSum(self, expr):
        return f"_det_sum({', '.join(self._print(arg) for arg in expr.args)})"

    def _print_GaussianMean(self, expr):
        mu, var = self._print(expr.mu), self._print(expr.var)
        name = self.means.get(expr)
        exact = None if name is None else f"_gaussian_mean({name}, {name}_FEATURES, {mu}, {var}, a, b, c)"
        if expr in self.tables:
            table, spec = self.tables[expr]
            return spec.call(table, mu, var, exact)
        if expr in self.hermite:
            pair_name, pair = self.hermite[expr]
            return f"_hermite_mean({pair_name}, a, b, c, lambda a, b, c: {exact}, {pair.swapped})"
        return exact

    def _print_Infinity(self, expr):
        return "numpy.inf"

    def _print_Pi(self, expr):
        return "numpy.pi"

    def _print_Exp1(self, expr):
        return "numpy.e"

    def _print_Pow(self, expr, rational=False):
        """x**(-k) for a small integer k as 1/x**k, and x**3 as x**2*x: numpy squares and
        multiplies where its pow with another exponent calls the C library (six times slower; and
        a compiled loop can evaluate the product for several entries at once, see
        :mod:`kernelalg.numeric.compiled.fused`)."""
        if not self.helpers:
            return super()._print_Pow(expr, rational)
        if expr.exp == 3:
            base = self.parenthesize(expr.base, PRECEDENCE["Pow"], strict=True)
            return f"({base}**2*{base})"
        if expr.exp == -1:
            return f"1/{self._print(expr.base)}" if expr.base.is_Atom else f"1/({self._print(expr.base)})"
        if expr.exp.is_Integer and -4 <= expr.exp < -1:
            return f"1/{self._print(expr.base ** -expr.exp)}"
        return super()._print_Pow(expr, rational)

    def _print_Piecewise(self, expr):
        if self.helpers and len(expr.args) == 2 and expr.args[1].cond == sp.true:
            (value, cond), (otherwise, _) = expr.args
            return f"numpy.where({self._print(cond)}, {self._print(value)}, {self._print(otherwise)})"
        conditions = ", ".join(self._print(cond) for _, cond in expr.args)
        values = ", ".join(self._print(val) for val, _ in expr.args)
        return f"numpy.select([{conditions}], [{values}], default=numpy.nan)"


def source(expr: sp.Expr, means: dict[GaussianMean, str] | None = None, helpers: bool = True) -> str:
    """NumPy source of ``expr``; ``helpers``: the code carries the runtime helpers (else only
    NumPy and SciPy functions are printed, where an equivalent exists)."""
    return KernelPrinter(means, helpers).doprint(expr)


def compile_function(expr: sp.Expr, args: tuple[sp.Symbol, ...]):
    """A NumPy function of ``args`` evaluating ``expr`` (printed like generated modules)."""
    names = ", ".join(str(a) for a in args)
    namespace = {"numpy": numpy, "scipy": scipy, "functools": functools, **vars(runtime)}
    exec(f"def _fn({names}):\n    return {source(expr)}\n", namespace)  # noqa: S102 (our own printed code)
    return namespace["_fn"]
