"""Finite-network elementwise functions: phi, its derivative and the surrogate psi as NumPy callables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp

from kernelalg.errors import InputError
from kernelalg.symbolic.catalog import resolve
from kernelalg.symbolic.derive import derivative_function
from kernelalg.symbolic.functions import Function, x
from kernelalg.symbolic.piecewise import decompose, derivative

Array = np.ndarray


def pointwise(expr: sp.Expr) -> Callable[[Array], Array]:
    """A vectorised NumPy function of x for a (delta-free) SymPy expression."""
    fn = sp.lambdify(x, expr, modules=["numpy", "scipy"])
    return lambda z: np.broadcast_to(fn(z), np.shape(z)).astype(float)


@dataclass(frozen=True)
class Pointwise:
    """phi, its derivative (regular part: jumps contribute nothing almost everywhere) and psi."""

    phi: Callable[[Array], Array]
    dphi: Callable[[Array], Array]
    psi: Callable[[Array], Array]

    @classmethod
    def of(cls, phi: str | Function, psi: str | Function | None = None) -> "Pointwise":
        phi_fn = resolve(phi)
        dphi_expr = derivative(decompose(phi_fn.expr)).regular.as_expr()
        psi_expr = derivative_function(phi_fn).expr if psi is None else resolve(psi).expr
        if psi is None and psi_expr.has(sp.DiracDelta):
            raise InputError(f"psi = phi' of {phi_fn.name} has delta terms: give a surrogate")
        return cls(pointwise(phi_fn.expr), pointwise(dphi_expr), pointwise(psi_expr))
