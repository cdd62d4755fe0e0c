"""Compiled (Numba) evaluation of tables and Hermite series, substituted into the generated modules the library loads.

Generated modules evaluate their tables with NumPy (:mod:`kernelalg.codegen.tableruntime`), so
that they run anywhere.  These loops compute the same formulas element by element in one pass
(no temporary arrays, the GIL released); results agree with the NumPy helpers to rounding (a
few ulps).  Imported only when a module with tables is loaded (Numba itself takes a second to
import); see :func:`kernelalg.numeric.compiled.accelerate`.
"""

from __future__ import annotations

import math

import numba
import numpy as np


def _jit(fn):
    return numba.njit(cache=True, nogil=True)(fn)


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


def _hermite_sum_loop(alpha, tail_a, beta, tail_b, ia, ib, rho, beyond, floor, tol, out, done):
    """The partial sums of hermiteruntime._hermite_sum, one entry at a time (same order of
    operations, so the same results)."""
    for e in range(rho.size):
        i, j, r = ia[e], ib[e], rho[e]
        s, power = 0.0, 1.0
        for n in range(alpha.shape[1]):
            s += alpha[i, n] * beta[j, n] * power
            power *= r
            if abs(power) * (tail_a[i, n] * tail_b[j, n]) + beyond[e] <= tol * max(abs(s), floor[e]):
                out[e] = s
                done[e] = True
                break


_cell = _jit(_cell)
_finish = _jit(_finish)
_table1_kernel = _jit(_table1_loop)
_hermite_sum_kernel = _jit(_hermite_sum_loop)


def table1(table, v):
    """Numba version of tableruntime._table1 (same arguments and result)."""
    e_lo, split, coef, log, (v_lo, g_lo, p_lo, v_hi, g_hi, p_hi) = table
    v = np.asarray(v, dtype=float)
    flat = np.ascontiguousarray(v).reshape(-1)
    out = np.empty(flat.size)
    _table1_kernel(flat, out, int(e_lo), int(split), np.ascontiguousarray(coef), bool(log), float(v_lo),
                   float(g_lo), float(p_lo), float(v_hi), float(g_hi), float(p_hi))
    return out.reshape(v.shape)


def hermite_sum(alpha, tail_a, beta, tail_b, ia, ib, rho, beyond, floor, tol):
    """Numba version of hermiteruntime._hermite_sum (same arguments, plus its HERMITE_TOL)."""
    out, done = np.zeros(rho.size), np.zeros(rho.size, dtype=bool)
    arrays = (alpha, tail_a, beta, tail_b)
    _hermite_sum_kernel(*(np.ascontiguousarray(v, dtype=float) for v in arrays), np.ascontiguousarray(ia, dtype=np.intp),
                        np.ascontiguousarray(ib, dtype=np.intp), *(np.ascontiguousarray(v, dtype=float) for v in (rho, beyond, floor)),
                        float(tol), out, done)
    return out, done
