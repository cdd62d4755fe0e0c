"""Arrays in and out: input of real numbers only (no silent casts of booleans, complex numbers,
dates), results without silent NaN."""

from __future__ import annotations

from numbers import Real

import numpy as np

from kernelalg.errors import InputError


def real(value) -> bool:
    """True for a real number (int or float of any kind), False for booleans and everything else."""
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def real_array(values, name: str) -> np.ndarray:
    """A float array from real numbers: integers or floats; booleans, complex numbers, dates and
    text are refused rather than converted."""
    try:
        values = np.asarray(values)
        kind = values.dtype.kind
        if kind not in "iufO" or (kind == "O" and not all(real(v) for v in values.flat)):
            raise TypeError(f"its entries are of type {values.dtype if kind != 'O' else 'object'}, not real numbers")
        return values.astype(float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be an array of real numbers: {exc}") from None


def first_bad(values: np.ndarray, may_diverge: bool) -> tuple[int, ...] | None:
    """Index of the first NaN in ``values`` (or infinity, unless the quantity may diverge), or None."""
    bad = np.isnan(values) if may_diverge else ~np.isfinite(values)
    return tuple(int(i) for i in np.unravel_index(np.argmax(bad), bad.shape)) if bad.any() else None
