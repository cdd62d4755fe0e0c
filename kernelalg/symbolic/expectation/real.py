"""The real value of a mean computed through complex exponentials.

Trigonometric functions enter the Gaussian integrals as ``exp(i k x)`` terms, so a derived
mean of a real function comes out as a sum of conjugate complex terms.  Its real part, with
``exp(X + iY) = exp(X) (cos Y + i sin Y)`` for real X, Y (all symbols of a covariance are
real), is the value; the imaginary part must cancel exactly.
"""

from __future__ import annotations

import sympy as sp

from kernelalg.errors import DerivationError


def real_value(expr: sp.Expr) -> sp.Expr:
    """``expr`` (known to be real) without the imaginary unit: its real part, checked."""
    if not expr.has(sp.I):
        return expr
    real, imag = sp.expand_complex(expr).as_real_imag()
    if sp.expand(imag) != 0 and sp.simplify(imag) != 0:
        raise DerivationError(f"the mean of a real function came out complex: imaginary part {imag}")
    return real


def is_complex(terms) -> bool:
    """Whether ``gauss_terms`` output has complex coefficients (came from sin/cos)."""
    return any(p.has(sp.I) or q.as_expr().has(sp.I) for p, q in terms)
