"""Compiled (Numba) evaluation of tables, substituted into the generated modules the library loads.

Generated modules evaluate their tables with NumPy (:mod:`kernelalg.codegen.tableruntime`), so
that they run anywhere.  When Numba is available, :func:`accelerate` replaces those helpers in
a loaded module by loops that compute the same formulas element by element in one pass (no
temporary arrays, the GIL released); results agree with the NumPy helpers to rounding (a few
ulps).  Without Numba the module is used as generated.
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np

try:  # optional: a measured gain, not a requirement
    import numba
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None


def _jit(fn):
    return numba.njit(cache=True, nogil=True)(fn) if numba is not None else None


def _cell(x, e_lo, split, cells):
    """Cell index and series variable t of V = x (see tableruntime._table1)."""
    mantissa, e = math.frexp(x)
    s = min(int((mantissa - 0.5) * (2 * split)), split - 1)
    return min(max((e - e_lo) * split + s, 0), cells - 1), 4.0 * split * mantissa - 2.0 * split - 2.0 * s - 1.0


def _finish(x, y, log, v_lo, g_lo, p_lo, v_hi, g_hi, p_hi):
    """G from the series value y, or from the power laws beyond the cells."""
    if x < v_lo:
        return g_lo * (x / v_lo) ** p_lo if p_lo != 0.0 else g_lo
    if x >= v_hi:
        return g_hi * (x / v_hi) ** p_hi if p_hi != 0.0 else g_hi
    return math.exp(y) if log else y


def _table1_loop(v, out, e_lo, split, coef, log, v_lo, g_lo, p_lo, v_hi, g_hi, p_hi):
    """Clenshaw's recurrence for four elements at a time (independent chains, which the CPU
    overlaps: the recurrence of one element is a chain of dependent multiply-adds)."""
    cells, m = coef.shape  # cells, degree + 1
    size = v.size
    j = 0
    while j < size:
        lanes = min(4, size - j)
        i0, t0 = _cell(v[j], e_lo, split, cells)
        i1, t1 = _cell(v[j + 1], e_lo, split, cells) if lanes > 1 else (i0, t0)
        i2, t2 = _cell(v[j + 2], e_lo, split, cells) if lanes > 2 else (i0, t0)
        i3, t3 = _cell(v[j + 3], e_lo, split, cells) if lanes > 3 else (i0, t0)
        a0 = a1 = a2 = a3 = 0.0
        b0 = b1 = b2 = b3 = 0.0
        for k in range(m - 1, 0, -1):
            a0, b0 = coef[i0, k] + 2.0 * t0 * a0 - b0, a0
            a1, b1 = coef[i1, k] + 2.0 * t1 * a1 - b1, a1
            a2, b2 = coef[i2, k] + 2.0 * t2 * a2 - b2, a2
            a3, b3 = coef[i3, k] + 2.0 * t3 * a3 - b3, a3
        ends = (log, v_lo, g_lo, p_lo, v_hi, g_hi, p_hi)
        out[j] = _finish(v[j], coef[i0, 0] + t0 * a0 - b0, *ends)
        if lanes > 1:
            out[j + 1] = _finish(v[j + 1], coef[i1, 0] + t1 * a1 - b1, *ends)
        if lanes > 2:
            out[j + 2] = _finish(v[j + 2], coef[i2, 0] + t2 * a2 - b2, *ends)
        if lanes > 3:
            out[j + 3] = _finish(v[j + 3], coef[i3, 0] + t3 * a3 - b3, *ends)
        j += lanes


_cell = _jit(_cell) if numba is not None else _cell
_finish = _jit(_finish) if numba is not None else _finish
_table1_kernel = _jit(_table1_loop)


def table1(table, v):
    """Numba version of tableruntime._table1 (same arguments and result)."""
    e_lo, split, coef, log, (v_lo, g_lo, p_lo, v_hi, g_hi, p_hi) = table
    v = np.asarray(v, dtype=float)
    flat = np.ascontiguousarray(v).reshape(-1)
    out = np.empty(flat.size)
    _table1_kernel(flat, out, int(e_lo), int(split), np.ascontiguousarray(coef), bool(log), float(v_lo),
                   float(g_lo), float(p_lo), float(v_hi), float(g_hi), float(p_hi))
    return out.reshape(v.shape)


def accelerate(module: ModuleType) -> ModuleType:
    """Replace the table helpers of a generated ``module`` by their Numba versions (if any)."""
    if numba is not None and hasattr(module, "_table1"):
        module._table1 = table1
    return module
