"""Compiled (Numba) evaluation of tables, Hermite series and the closed forms' elementwise helpers, substituted into the generated modules the library loads.

Generated modules evaluate their tables and helpers with NumPy (:mod:`kernelalg.codegen.tableruntime`,
:mod:`kernelalg.codegen.runtime`), so that they run anywhere.  These loops compute the same
formulas element by element in one pass (no temporary arrays, the GIL released); results agree
with the NumPy helpers to rounding (a few ulps): _det2 and _det_product bit for bit (the same
operations in the same order, without fused multiply-adds), the arctangent to 1 ulp (Cephes'
rational approximation, which the compiler vectorises, where NumPy calls libm element by
element).  Imported when the library loads a generated module (Numba itself takes a second to
import); see :func:`kernelalg.numeric.compiled.accelerate`.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from kernelalg.codegen import hermiteruntime, runtime


def _jit(fn):
    return numba.njit(cache=True, nogil=True)(fn)


def _ufunc(signature: str):
    """A NumPy ufunc compiled from a scalar function (broadcasting, ``out=`` and scalars as NumPy's own)."""
    return numba.vectorize([signature], nopython=True, cache=True)


def _inline(fn):
    return numba.njit(inline="always", error_model="numpy")(fn)


#: Cephes' atan: arguments reduced to |z| <= tan(pi/8) (z = x, (x - 1)/(x + 1) or -1/x, adding
#: pi/4 or pi/2), then z + z^3 P(z^2)/Q(z^2); the low part of pi/2 (_MOREBITS) restores the
#: rounding of that constant.  Max. error 0.8 ulp (numpy.arctan: 0.5 ulp).
_ATAN_P = (-8.750608600031904122785e-1, -1.615753718733365076637e1, -7.500855792314704667340e1,
           -1.228866684490136173410e2, -6.485021904942025371773e1)
_ATAN_Q = (2.485846490142306297962e1, 1.650270098316988542046e2, 4.328810604912902668951e2,
           4.853903996359136964868e2, 1.945506571482613964425e2)
_TAN_3PI_8 = 2.41421356237309504880
_MOREBITS = 6.123233995736765886130e-17
_EPS = float(np.finfo(float).eps)


@_inline
def _atan(x):
    """atan(x) without branches (selects): the loops over it vectorise.  atan(+-inf) = +-pi/2,
    atan(+-0) = +-0, NaN stays NaN.  The reductions not taken are computed too, so x = 0, inf or
    subnormal raises a spurious floating-point flag (NumPy's divide, invalid or overflow warning)
    outside np.errstate; the generated code calls it under errstate(all="ignore") (_on_edge)."""
    y = abs(x)
    big, mid = y > _TAN_3PI_8, y > 0.66
    z = -1.0 / y if big else ((y - 1.0) / (y + 1.0) if mid else y)
    base = math.pi / 2 if big else (math.pi / 4 if mid else 0.0)
    low = _MOREBITS if big else (0.5 * _MOREBITS if mid else 0.0)
    zz = z * z
    p = (((_ATAN_P[0] * zz + _ATAN_P[1]) * zz + _ATAN_P[2]) * zz + _ATAN_P[3]) * zz + _ATAN_P[4]
    q = ((((zz + _ATAN_Q[0]) * zz + _ATAN_Q[1]) * zz + _ATAN_Q[2]) * zz + _ATAN_Q[3]) * zz + _ATAN_Q[4]
    return math.copysign(base + (z * zz * p / q + z + low), x)


_two_product_error = _inline(runtime._two_product_error)  # the same arithmetic, on scalars


@_ufunc("float64(float64)")
def arctan(x):
    """runtime._arctan: atan(x) (see _atan)."""
    return _atan(x)


@_inline
def angle_value(y, x):
    """runtime._angle of one entry: atan(y/x), plus pi where x is negative (or -0)."""
    value = _atan(y / x)
    return value + math.pi if math.copysign(1.0, x) < 0 else value


angle = _ufunc("float64(float64, float64)")(angle_value.py_func)  # runtime._angle


@_inline
def near_edge_value(value, angle, t0, series, a, b):
    """runtime._near_edge of one entry: series(a, b, angle) where the angle to the edge is below t0."""
    return series(a, b, angle) if angle < t0 else value


@_inline
def near_edge_marked(value, angle, t0, series, a, b):
    """near_edge_value with NaN where the series is due (see fused._marked)."""
    return math.nan if angle < t0 else value


@_inline
def shaped_value(value, a, b, c):
    """runtime._shaped of one entry: the value itself."""
    return value


@_inline
def det2_value(a, b, c):
    """runtime._det2 of one entry: ab - c^2, the products' rounding errors restored where the
    difference lost more than three digits, 0 below 8 ulps of ab."""
    p, q = a * b, c * c
    d = p - q
    if d < 1e-3 * p:
        exact = (p - q) + (_two_product_error(a, b, p) - _two_product_error(c, c, q))
        d = 0.0 if exact < 8 * _EPS * p else exact
    return d


det2 = _ufunc("float64(float64, float64, float64)")(det2_value.py_func)  # runtime._det2


det_product = _ufunc("float64(float64, float64, float64, float64, float64)")(runtime._det_product)  # u v / r - k c^2
_det_product_value = _inline(runtime._det_product)


@_inline
def det_sum_value(a, b, c, k, p, q, r):
    """runtime._det_sum of one entry: k (ab - c^2) + p a + q b + r as (p a + r)(q b + r)/r - k c^2
    where k ab <= 1000 (p a + q b + r), else from ab - c^2 (det2_value)."""
    u = p * a + r
    if k * a * b <= 1e3 * (p * a + q * b + r):
        return _det_product_value(u, q * b + r, r, k, c)
    return k * det2_value(a, b, c) + (u + q * b)


@intrinsic
def _bits(typingctx, x):
    """The bits of a float64 as an int64."""
    return types.int64(types.float64), lambda context, builder, signature, args: builder.bitcast(args[0], ir.IntType(64))


@intrinsic
def _from_bits(typingctx, n):
    """The float64 with the bits of an int64."""
    return types.float64(types.int64), lambda context, builder, signature, args: builder.bitcast(args[0], ir.DoubleType())


def _cell(x, e_lo, split, cells):
    """Cell index and series variable t of V = x (see tableruntime._table1); frexp's mantissa
    and exponent read off the bits of a normal x (frexp itself, a library call, took most of
    the time of a table's value), frexp for the others."""
    bits = _bits(x)
    field = (bits >> 52) & 0x7FF
    if 0 < field < 0x7FF:
        mantissa, e = _from_bits((bits & ~0x7FF0000000000000) | 0x3FE0000000000000), field - 1022
    else:
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
    overlaps: the recurrence of one element is a chain of dependent multiply-adds), each step
    (c_k - b_{k+2}) + 2t b_{k+1} as tableruntime._chebyshev: the subtraction is off the chain.
    The coefficients are read from the flat (C-contiguous) array at unsigned offsets (no
    negative-index wraparound to test)."""
    cells, m = coef.shape  # cells, degree + 1
    flat = coef.reshape(-1)
    size = v.size
    j = 0
    while j < size:
        lanes = min(4, size - j)
        i0, t0 = _cell(v[j], e_lo, split, cells)
        i1, t1 = _cell(v[j + 1], e_lo, split, cells) if lanes > 1 else (i0, t0)
        i2, t2 = _cell(v[j + 2], e_lo, split, cells) if lanes > 2 else (i0, t0)
        i3, t3 = _cell(v[j + 3], e_lo, split, cells) if lanes > 3 else (i0, t0)
        o0, o1, o2, o3 = numba.uint64(i0 * m), numba.uint64(i1 * m), numba.uint64(i2 * m), numba.uint64(i3 * m)
        u0, u1, u2, u3 = 2.0 * t0, 2.0 * t1, 2.0 * t2, 2.0 * t3
        a0 = a1 = a2 = a3 = 0.0
        b0 = b1 = b2 = b3 = 0.0
        for step in range(m - 1, 0, -1):
            k = numba.uint64(step)
            a0, b0 = (flat[o0 + k] - b0) + u0 * a0, a0
            a1, b1 = (flat[o1 + k] - b1) + u1 * a1, a1
            a2, b2 = (flat[o2 + k] - b2) + u2 * a2, a2
            a3, b3 = (flat[o3 + k] - b3) + u3 * a3, a3
        ends = (log, v_lo, g_lo, p_lo, v_hi, g_hi, p_hi)
        out[j] = _finish(v[j], (flat[o0] - b0) + t0 * a0, *ends)
        if lanes > 1:
            out[j + 1] = _finish(v[j + 1], (flat[o1] - b1) + t1 * a1, *ends)
        if lanes > 2:
            out[j + 2] = _finish(v[j + 2], (flat[o2] - b2) + t2 * a2, *ends)
        if lanes > 3:
            out[j + 3] = _finish(v[j + 3], (flat[o3] - b3) + t3 * a3, *ends)
        j += lanes


def _hermite_theta_loop(coef, rho, cells, out):
    """hermiteruntime._hermite_theta one entry at a time: the cell of theta = acos(rho) and
    Clenshaw's recurrence in it (same operations in the same order)."""
    for e in range(rho.size):
        x = math.acos(rho[e]) * (cells / math.pi)
        cell = min(int(x), cells - 1)
        t = 2 * (x - cell) - 1
        b1, b2 = 0.0, 0.0
        for k in range(coef.shape[1] - 1, 0, -1):
            b1, b2 = coef[cell, k] + 2 * t * b1 - b2, b1
        out[e] = coef[cell, 0] + t * b1 - b2


@_inline
def _hermite_term(s, a, b, tail, power, r, far, fl, tol):
    """The partial sum with the term a b power added, and whether the bound stops there:
    |rho|^(N+1) tail + far <= tol max(|s|, fl), the far part added only where the near part
    alone meets the limit (the same test, as it is not negative, without waiting for far)."""
    s += a * b * power
    near = abs(power * r) * tail
    limit = tol * max(abs(s), fl)
    return s, near <= limit and near + far <= limit


#: Terms of a Hermite sum read from rows packed for the call (_hermite_near): most sums stop within them.
HERMITE_NEAR = 16


@_jit
def _hermite_near(alpha, tail, rows, first, step, width):
    """The coefficients and the tails of the terms n = first, first + step, ... (``width`` of
    them) of each row in ``rows``, interleaved: (rows, width, 2).  The stores' rows hold every
    term, 2 KB apart; a sum then reads its first terms from two or three consecutive cache lines."""
    near = np.empty((rows.size, width, 2))
    for k in range(rows.size):
        i = rows[k]
        for q in range(width):
            near[k, q, 0] = alpha[i, first + q * step]
            near[k, q, 1] = tail[i, first + q * step]
    return near


def _hermite_sum_loop(alpha, tail_a, root_ra, root_ea, rows_a, beta, tail_b, root_rb, root_eb, rows_b,
                      ia, ib, rho, first, step, tol, floor, out, done):
    """The partial sums of hermiteruntime._hermite_sum, one entry at a time (same operations in
    the same order, so the same results; unsigned indices: no negative-index wraparound).  The
    first HERMITE_NEAR terms are read from the rows packed by _hermite_near (most sums stop
    within them), the rest from the stores' rows."""
    terms = alpha.shape[1]
    width = min(HERMITE_NEAR, (terms - first + step - 1) // step)
    near_a = _hermite_near(alpha, tail_a, rows_a, first, step, width)
    near_b = _hermite_near(beta, tail_b, rows_b, first, step, width)
    for e in range(rho.size):
        ka, kb = numba.uint64(ia[e]), numba.uint64(ib[e])
        i, j, r = numba.uint64(rows_a[ka]), numba.uint64(rows_b[kb]), rho[e]
        far = _hermite_power(abs(r), terms) * (root_ra[i] * root_rb[j])
        fl = floor * (root_ea[i] * root_eb[j])
        s, power, rr = 0.0, (1.0 if first == 0 else r), (r * r if step == 2 else r)
        stop = False
        for k in range(width):
            q = numba.uint64(k)
            s, stop = _hermite_term(s, near_a[ka, q, 0], near_b[kb, q, 0], near_a[ka, q, 1] * near_b[kb, q, 1],
                                    power, r, far, fl, tol)
            power *= rr
            if stop:
                break
        if not stop:
            for k in range(first + width * step, terms, step):
                n = numba.uint64(k)
                s, stop = _hermite_term(s, alpha[i, n], beta[j, n], tail_a[i, n] * tail_b[j, n], power, r, far, fl,
                                        tol)
                power *= rr
                if stop:
                    break
        if stop:
            out[e] = s
            done[e] = True


_cell = _jit(_cell)
_finish = _jit(_finish)
_table1_kernel = _jit(_table1_loop)
_hermite_power = _inline(hermiteruntime._hermite_power)
_hermite_sum_kernel = _jit(_hermite_sum_loop)
_hermite_theta_kernel = _jit(_hermite_theta_loop)


@_jit
def table1_row(v, out, table):
    """out = the table at every element of v (a table as fused._table_argument gives it)."""
    e_lo, split, coef, log, (v_lo, g_lo, p_lo, v_hi, g_hi, p_hi) = table
    _table1_kernel(v, out, e_lo, split, coef, log, v_lo, g_lo, p_lo, v_hi, g_hi, p_hi)


@_jit
def table1_again(v, out, known, known_out, spare_in, spare_out, spare_index, table):
    """out = the table at v, taken from known_out where v equals known (the table at the same
    argument: sg and sg with a and b exchanged, at equal variances); the other elements gathered
    into the spare arrays (as long as v) and evaluated in one call."""
    n = 0
    for j in range(v.size):
        if v[j] == known[j]:
            out[j] = known_out[j]
        else:
            spare_index[n] = j
            spare_in[n] = v[j]
            n += 1
    table1_row(spare_in[:n], spare_out[:n], table)
    for k in range(n):
        out[spare_index[k]] = spare_out[k]


def table1(table, v):
    """Numba version of tableruntime._table1 (same arguments and result)."""
    e_lo, split, coef, log, (v_lo, g_lo, p_lo, v_hi, g_hi, p_hi) = table
    v = np.asarray(v, dtype=float)
    flat = np.ascontiguousarray(v).reshape(-1)
    out = np.empty(flat.size)
    _table1_kernel(flat, out, int(e_lo), int(split), np.ascontiguousarray(coef), bool(log), float(v_lo),
                   float(g_lo), float(p_lo), float(v_hi), float(g_hi), float(p_hi))
    return out.reshape(v.shape)


def hermite_theta(coef, rho, cells):
    """Numba version of hermiteruntime._hermite_theta (same arguments, plus its _H_CELLS)."""
    out = np.empty(rho.size)
    _hermite_theta_kernel(np.ascontiguousarray(coef, dtype=float), np.ascontiguousarray(rho, dtype=float),
                          int(cells), out)
    return out


@_jit
def _hermite_tails_loop(alpha, tail, tail_class, total):
    """The sums of hermiteruntime._hermite_tails, one row at a time (the same additions in the
    same order, so the same results)."""
    for k in range(alpha.shape[0]):
        every, even, odd = 0.0, 0.0, 0.0
        for n in range(alpha.shape[1] - 1, -1, -1):
            square = alpha[k, n] * alpha[k, n]
            tail[k, n] = math.sqrt(every)
            every += square
            if n % 2 == 0:
                tail_class[k, n] = math.sqrt(even)
                even += square
            else:
                tail_class[k, n] = math.sqrt(odd)
                odd += square
        total[k] = every


def hermite_tails(alpha):
    """Numba version of hermiteruntime._hermite_tails (same argument and results)."""
    alpha = np.ascontiguousarray(alpha, dtype=float)
    tail, tail_class, total = np.empty(alpha.shape), np.empty(alpha.shape), np.empty(alpha.shape[0])
    _hermite_tails_loop(alpha, tail, tail_class, total)
    return tail, tail_class, total


def hermite_sum(side_a, side_b, ia, ib, rho, first=0, step=1, *, tol, floor):
    """Numba version of hermiteruntime._hermite_sum (same arguments, plus its HERMITE_TOL and HERMITE_FLOOR)."""
    out, done = np.zeros(rho.size), np.zeros(rho.size, dtype=bool)
    sides = [np.ascontiguousarray(v, dtype=np.intp if k == 4 else float) for side in (side_a, side_b)
             for k, v in enumerate(side)]
    _hermite_sum_kernel(*sides, np.ascontiguousarray(ia, dtype=np.intp), np.ascontiguousarray(ib, dtype=np.intp),
                        np.ascontiguousarray(rho, dtype=float), int(first), int(step), float(tol), float(floor),
                        out, done)
    return out, done


@_jit
def near_edge(a, b, c, settled, out, inner, edge):
    """out[i, j] |= (c_ij (1/a_i)) c_ij > inner b_j, except ``settled`` entries where that ratio is
    at least edge b_j, in one pass (a: n x 1, b: 1 x m, c: n x m; c^2/a with a reciprocal per row,
    without forming ab, which under- or overflows at extreme variances); whether any entry was.
    The test of nearedge.flag."""
    found = False
    for i in range(c.shape[0]):
        inverse = 1.0 / a[i, 0]
        for j in range(c.shape[1]):
            ratio = c[i, j] * inverse * c[i, j]
            hit = (ratio > inner * b[0, j]) & ~(settled[i, j] & (ratio >= edge * b[0, j]))
            out[i, j] |= hit
            found |= hit
    return found
