"""Arrays in and out: input of real numbers only (no silent casts of booleans, complex numbers,
dates), results without silent NaN, outputs that fit into memory."""

from __future__ import annotations

import os
from numbers import Real

import numpy as np

from kernelalg.errors import InputError, MemoryLimitError


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
    """Index of the first NaN in ``values`` (or infinity, unless the quantity may diverge), or None.
    A finite sum of all values (one pass) rules out both."""
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(values, axis=None)):
            return None
    bad = np.isnan(values) if may_diverge else ~np.isfinite(values)
    return tuple(int(i) for i in np.unravel_index(np.argmax(bad), bad.shape)) if bad.any() else None


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux: MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(shape: tuple[int, int], outputs: tuple[str, ...]) -> None:
    """MemoryLimitError if the float64 output matrices of ``shape`` exceed the available memory."""
    need = len(outputs) * shape[0] * shape[1] * 8
    have = available_memory()
    if have is not None and need > have:
        raise MemoryLimitError(
            f"{len(outputs)} kernel matrices of {shape[0]} x {shape[1]} need {need / 1e9:.1f} GB, but only "
            f"{have / 1e9:.1f} GB of memory is available; request fewer outputs, or compute them in bands with "
            "kernelalg.adapters.dask.gram(kernel, X) and stream them to disk with to_disk(...)")
