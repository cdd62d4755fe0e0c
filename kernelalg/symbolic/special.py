"""SymPy functions the engine's results may contain beyond SymPy's own.

* ``OwenT(h, a) = (1/2 pi) int_0^a exp(-h^2 (1 + t^2)/2) / (1 + t^2) dt``, the special
  function of bivariate normal orthant probabilities (``scipy.special.owens_t``).
* ``GaussianMean(mu, var, Lambda(x, g))``: the unevaluated mean ``E[g(X)]``, X ~ N(mu, var).
  It marks a reduced integral that had no closed form; the code generator turns it into a
  vectorised quadrature rule.
"""

from __future__ import annotations

from functools import lru_cache

import mpmath
import sympy as sp

_t = sp.Symbol("t", real=True)


@lru_cache(maxsize=1)
def _owen_t_at_zero() -> sp.Lambda:
    """T(0, a) by integrating the definition: (1/2 pi) int_0^a dt / (1 + t^2)."""
    upper = sp.Symbol("upper", real=True)
    return sp.Lambda(upper, sp.integrate(1 / (1 + _t**2), (_t, 0, upper)) / (2 * sp.pi))


class OwenT(sp.Function):
    """Owen's T function T(h, a); even in h, odd in a."""

    nargs = 2

    @classmethod
    def eval(cls, h, a):
        if a.is_zero:
            return sp.S.Zero
        if h.is_zero:
            return _owen_t_at_zero()(a)
        if h.could_extract_minus_sign():
            return cls(-h, a)
        if a.could_extract_minus_sign():
            return -cls(h, -a)
        return None

    def fdiff(self, argindex=1):
        h, a = self.args
        if argindex == 2:
            return sp.exp(-h**2 * (1 + a**2) / 2) / (2 * sp.pi * (1 + a**2))
        return -sp.exp(-h**2 / 2) * sp.erf(a * h / sp.sqrt(2)) / (2 * sp.sqrt(2 * sp.pi))

    def _eval_evalf(self, prec):
        h, a = (arg.evalf(prec) for arg in self.args)
        if not (h.is_number and a.is_number):
            return None
        dps = mpmath.libmp.prec_to_dps(prec) + 5
        with mpmath.workdps(dps):
            hm, am = mpmath.mpf(str(h)), mpmath.mpf(str(a))
            value = mpmath.quad(lambda t: mpmath.exp(-hm**2 * (1 + t**2) / 2) / (1 + t**2), [0, am])
            return sp.Float(value / (2 * mpmath.pi), dps)

    def _latex(self, printer):
        h, a = (printer._print(arg) for arg in self.args)
        return rf"T\left({h}, {a}\right)"


class GaussianMean(sp.Function):
    """E[g(X)] for X ~ N(mu, var), g = Lambda(x, ...): an integral without closed form."""

    nargs = 3

    @property
    def mu(self) -> sp.Expr:
        return self.args[0]

    @property
    def var(self) -> sp.Expr:
        return self.args[1]

    @property
    def integrand(self) -> sp.Lambda:
        return self.args[2]

    def _latex(self, printer):
        mu, var = printer._print(self.mu), printer._print(self.var)
        (var_x,) = self.integrand.variables
        body = printer._print(self.integrand.expr)
        return (rf"\mathbb{{E}}_{{{printer._print(var_x)} \sim \mathcal{{N}}\left({mu}, {var}\right)}}"
                rf"\left[{body}\right]")


#: Names a cache file may refer to when it is read back.
NAMESPACE = {"OwenT": OwenT, "GaussianMean": GaussianMean}
