"""Chebyshev interpolation on cells: nodes, coefficients from values, tails.

On a cell [lo, hi] a smooth function is interpolated at the n Chebyshev points of the first
kind t_j = cos(pi (j + 1/2) / n) (mapped to the cell); its coefficients

    c_k = (2 - [k = 0]) / n  sum_j f(t_j) cos(pi k (j + 1/2) / n)

give f(t) = sum_k c_k T_k(t), and the size of the last coefficients measures how well the
degree n - 1 resolves f on the cell.
"""

from __future__ import annotations

import numpy as np


def points(n: int) -> np.ndarray:
    """The n Chebyshev points of the first kind on [-1, 1], in increasing order."""
    return -np.cos(np.pi * (np.arange(n) + 0.5) / n)


def coefficients(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Chebyshev coefficients along ``axis`` from values at ``points(n)`` (increasing order)."""
    values = np.moveaxis(np.asarray(values, dtype=float), axis, -1)
    n = values.shape[-1]
    j = np.arange(n)
    # points(n)[j] = cos(pi (n - 1 - j + 1/2)/n): reversed order of the usual nodes
    basis = np.cos(np.pi * np.outer(np.arange(n), (n - 1 - j) + 0.5) / n) * (2.0 / n)
    basis[0] /= 2
    return np.moveaxis(values @ basis.T, -1, axis)


def tail(coef: np.ndarray, axis: int = -1) -> np.ndarray:
    """Size of the two highest coefficients along ``axis``: the resolution of the cell."""
    coef = np.moveaxis(np.abs(coef), axis, -1)
    return np.maximum(coef[..., -1], coef[..., -2])
