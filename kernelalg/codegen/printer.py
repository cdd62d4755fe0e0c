"""NumPy/SciPy source for derived expressions, including kernelalg's own functions."""

from __future__ import annotations

import sympy as sp
from sympy.printing.numpy import SciPyPrinter

from kernelalg.symbolic.special import GaussianMean


class KernelPrinter(SciPyPrinter):
    """SciPy printer that knows Owen's T, erfcx, expm1, angles, exp differences, Det2 and the quadrature placeholders.

    ``means`` maps each GaussianMean to the name of the generated helper that evaluates it.
    """

    def __init__(self, means: dict[GaussianMean, str] | None = None):
        super().__init__({"fully_qualified_modules": True, "inline": True, "allow_unknown_functions": False})
        self.means = means or {}

    def _print_OwenT(self, expr):
        return f"scipy.special.owens_t({self._print(expr.args[0])}, {self._print(expr.args[1])})"

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

    def _print_GaussianMean(self, expr):
        name = self.means[expr]
        return f"_gaussian_mean({name}, {name}_CENTERS, {self._print(expr.mu)}, {self._print(expr.var)}, a, b, c)"

    def _print_Pi(self, expr):
        return "numpy.pi"

    def _print_Exp1(self, expr):
        return "numpy.e"

    def _print_Piecewise(self, expr):
        conditions = ", ".join(self._print(cond) for _, cond in expr.args)
        values = ", ".join(self._print(val) for val, _ in expr.args)
        return f"numpy.select([{conditions}], [{values}], default=numpy.nan)"


def source(expr: sp.Expr, means: dict[GaussianMean, str] | None = None) -> str:
    return KernelPrinter(means).doprint(expr)
