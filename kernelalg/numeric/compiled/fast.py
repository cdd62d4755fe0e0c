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


def _table1_loop(v, out, e_lo, split, coef, log, v_lo, g_lo, p_lo, v_hi, g_hi, p_hi):
    n, m = coef.shape  # cells, degree + 1
    for j in range(v.size):
        x = v[j]
        if x < v_lo:
            out[j] = g_lo * (x / v_lo) ** p_lo if p_lo != 0.0 else g_lo
        elif x >= v_hi:
            out[j] = g_hi * (x / v_hi) ** p_hi if p_hi != 0.0 else g_hi
        else:
            mantissa, e = math.frexp(x)
            s = min(int((mantissa - 0.5) * (2 * split)), split - 1)
            i = min(max((e - e_lo) * split + s, 0), n - 1)
            t = 4.0 * split * mantissa - 2.0 * split - 2.0 * s - 1.0
            t2 = 2.0 * t
            b1 = 0.0
            b2 = 0.0
            for k in range(m - 1, 0, -1):
                b1, b2 = coef[i, k] + t2 * b1 - b2, b1
            y = coef[i, 0] + t * b1 - b2
            out[j] = math.exp(y) if log else y


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
