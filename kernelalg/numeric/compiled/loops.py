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
import threading

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
    """near_edge_value with NaN where the series is due or the angle is NaN (a marked
    determinant, see det2_marked and fused._marked)."""
    return value if angle >= t0 else math.nan


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


@_inline
def det2_marked(a, b, c):
    """det2_value with NaN where it restores the products' errors (see fused._marked): ab - c^2
    as a select, which keeps a loop over it a vector loop."""
    p, q = a * b, c * c
    d = p - q
    return math.nan if d < 1e-3 * p else d


det_product = _ufunc("float64(float64, float64, float64, float64, float64)")(runtime._det_product)  # u v / r - k c^2
_det_product_value = _inline(runtime._det_product)


@_inline
def _det_sum_by(det, a, b, c, k, p, q, r):
    """runtime._det_sum of one entry: k (ab - c^2) + p a + q b + r as (p a + r)(q b + r)/r - k c^2
    where k ab <= 1000 (p a + q b + r), else from ab - c^2 as ``det`` gives it."""
    u = p * a + r
    if k * a * b <= 1e3 * (p * a + q * b + r):
        return _det_product_value(u, q * b + r, r, k, c)
    return k * det(a, b, c) + (u + q * b)


@_inline
def det_sum_value(a, b, c, k, p, q, r):
    """runtime._det_sum of one entry (_det_sum_by with det2_value)."""
    return _det_sum_by(det2_value, a, b, c, k, p, q, r)


@_inline
def det_sum_marked(a, b, c, k, p, q, r):
    """det_sum_value with det2_marked in place of det2_value (see fused._marked)."""
    return _det_sum_by(det2_marked, a, b, c, k, p, q, r)


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


def _theta_positions_loop(rho, cells, x):
    """x = acos(rho) cells / pi: the positions of correlations among the cells of a table in theta."""
    scale = cells / math.pi
    for e in range(rho.size):
        x[e] = math.acos(rho[e]) * scale


@_inline
def _theta_cell(x, cells):
    """(cell, t) of a position x: cell floor(x) (the last one for theta = pi), t = 2 (x - cell) - 1."""
    cell = min(int(x), cells - 1)
    return cell, 2 * (x - cell) - 1


def _hermite_theta_loop(coef, x, cells, out):
    """hermiteruntime._hermite_theta at positions x (_theta_positions_loop) entry by entry:
    Clenshaw's recurrence in each one's cell (same operations in the same order), four entries
    at a time with their recurrences interleaved (each step of one waits for its step before)."""
    top, four = coef.shape[1] - 1, x.size - x.size % 4
    for e in range(0, four, 4):
        c0, t0 = _theta_cell(x[e], cells)
        c1, t1 = _theta_cell(x[e + 1], cells)
        c2, t2 = _theta_cell(x[e + 2], cells)
        c3, t3 = _theta_cell(x[e + 3], cells)
        p0 = q0 = p1 = q1 = p2 = q2 = p3 = q3 = 0.0
        for k in range(top, 0, -1):
            p0, q0 = coef[c0, k] + 2 * t0 * p0 - q0, p0
            p1, q1 = coef[c1, k] + 2 * t1 * p1 - q1, p1
            p2, q2 = coef[c2, k] + 2 * t2 * p2 - q2, p2
            p3, q3 = coef[c3, k] + 2 * t3 * p3 - q3, p3
        out[e], out[e + 1] = coef[c0, 0] + t0 * p0 - q0, coef[c1, 0] + t1 * p1 - q1
        out[e + 2], out[e + 3] = coef[c2, 0] + t2 * p2 - q2, coef[c3, 0] + t3 * p3 - q3
    for e in range(four, x.size):
        c, t = _theta_cell(x[e], cells)
        p, q = 0.0, 0.0
        for k in range(top, 0, -1):
            p, q = coef[c, k] + 2 * t * p - q, p
        out[e] = coef[c, 0] + t * p - q


@_jit
def _hermite_term(s, power, rr, a, b):
    """One term of a lane's sum whose bound is not tested: s + a b power and the next power."""
    return s + a * b * power, power * rr


@_jit
def _hermite_lane(s, power, r, rr, far, fl, v, live, a, b, tail, tol):
    """One term of a lane's sum (hermiteruntime._hermite_sum's operations): s + a b power, its
    bound |rho|^(N+1) tail + far against tol max(|s|, fl), and the sum where the bound first
    holds kept in v (live then drops to 0); (s, the next power, v, live)."""
    s = s + a * b * power
    stop = abs(power * r) * tail + far <= tol * max(abs(s), fl)
    return s, power * rr, (s if (live != 0) & stop else v), (0 if stop else live)


#: Terms of a Hermite sum read from columns packed for the call (_hermite_pack): most sums stop
#: within them.  They are the terms whose bounds are tested after every fourth one only.
HERMITE_NEAR = hermiteruntime.HERMITE_CHECKED
#: Entries of a Hermite sum summed side by side: consecutive entries of a row (or a column) of a block.
HERMITE_LANES = 256


@_jit
def _hermite_pack(alpha, tail, root_r, root_e, rows, first, step, width):
    """The coefficients and the tails of the terms n = first, first + step, ... (``width`` of
    them) of each row in ``rows``, term-major (two (width, rows) arrays), and the roots of R and
    of E[f^2] of these rows: a run of entries on consecutive rows then reads them from
    consecutive places."""
    coef, tails = np.empty((width, rows.size)), np.empty((width, rows.size))
    for k in range(rows.size):
        i = rows[k]
        for q in range(width):
            coef[q, k] = alpha[i, first + q * step]
            tails[q, k] = tail[i, first + q * step]
    return coef, tails, root_r[rows], root_e[rows]


@_jit
def _hermite_powers(x, base, count, k):
    """x[l] = x[l]^k for l < count by _hermite_power's squarings, each a pass over the lanes
    (``base`` a work array)."""
    for l in range(count):
        base[l] = x[l]
    k -= 1
    while k:
        if k & 1:
            for l in range(count):
                x[l] = x[l] * base[l]
        for l in range(count):
            base[l] = base[l] * base[l]
        k >>= 1


@_jit
def _hermite_packed(s, power, r, rr, far, fl, v, live, count, ka, kb, ca, ta, cb, tb, width, tol):
    """Terms 0, 1, ... of the lanes l < count (entries (ka, kb + l)) from the packed columns, four
    at a time (the bound tested after the fourth), while more than 1/8 of the lanes are live; the
    number of terms summed and of the lanes still live."""
    q, left = 0, count
    while q + 4 <= width and 8 * left > count:
        u0, u1, u2, u3, k = numba.uint64(q), numba.uint64(q + 1), numba.uint64(q + 2), numba.uint64(q + 3), numba.uint64(ka)
        a0, a1, a2, a3 = ca[u0, k], ca[u1, k], ca[u2, k], ca[u3, k]
        t3 = ta[u3, k]
        b0, b1, b2, b3 = cb[u0, kb:kb + count], cb[u1, kb:kb + count], cb[u2, kb:kb + count], cb[u3, kb:kb + count]
        c3 = tb[u3, kb:kb + count]
        left = 0
        for l in range(count):
            sl, pl, rl, rrl, fa, fla, vl, on = s[l], power[l], r[l], rr[l], far[l], fl[l], v[l], live[l]
            sl, pl = _hermite_term(sl, pl, rrl, a0, b0[l])
            sl, pl = _hermite_term(sl, pl, rrl, a1, b1[l])
            sl, pl = _hermite_term(sl, pl, rrl, a2, b2[l])
            sl, pl, vl, on = _hermite_lane(sl, pl, rl, rrl, fa, fla, vl, on, a3, b3[l], t3 * c3[l], tol)
            s[l], power[l], v[l], live[l] = sl, pl, vl, on
            left += on
        q += 4
    return q, left


@_jit
def _hermite_settle(e0, count, v, live, lane, out, done):
    """out and done of the entries e0 + lane[l] of the lanes l < count: v and True where the lane
    stopped, v = 0 and False where it is still live."""
    for l in range(count):
        e = numba.uint64(e0 + lane[l])
        out[e], done[e] = v[l], live[l] == 0


@_jit
def _hermite_run(e0, count, ka, kb, side_a, side_b, packed, rho, first, step, width, tol, floor, work, lanes, out, done):
    """The sums of the entries e0 + l, l < count, of rows ka and kb + l of the sides' rows
    (side = (coefficients, tails, rows); the roots of R and E[f^2] come with the packed columns),
    side by side: the packed terms four at a time (_hermite_packed), then term by term on the
    lanes still live, moved to the front whenever half of them have stopped (the packed terms,
    then the stores' rows).  A stopped lane goes on adding terms until the next move (its v is
    kept): no lane waits for a branch on another's bound."""
    alpha, tail_a, rows_a = side_a
    beta, tail_b, rows_b = side_b
    ca, ta, ra, ea, cb, tb, rb, eb = packed
    s, power, r, rr, far, fl, v, base = work
    live, lane, row = lanes
    terms = alpha.shape[1]
    i, x = numba.uint64(rows_a[numba.uint64(ka)]), numba.uint64(ka)
    r_a = ra[x]
    rho_run, rb_run, eb_run = rho[e0:e0 + count], rb[kb:kb + count], eb[kb:kb + count]
    for l in range(count):
        y = rho_run[l]
        s[l], power[l], r[l], rr[l] = 0.0, (1.0 if first == 0 else y), y, (y * y if step == 2 else y)
        far[l], fl[l], v[l], live[l], lane[l] = abs(y), floor * (ea[x] * eb_run[l]), 0.0, 1, l
    _hermite_powers(far, base, count, terms)
    for l in range(count):
        far[l] = far[l] * (r_a * rb_run[l])
    for l in range(count):
        row[l] = rows_b[numba.uint64(kb + l)]
    q, left = _hermite_packed(s, power, r, rr, far, fl, v, live, count, ka, kb, ca, ta, cb, tb, width, tol)
    for n in range(first + q * step, terms, step):
        if 2 * left <= count:  # the live lanes to the front, the others settled
            _hermite_settle(e0, count, v, live, lane, out, done)
            left = 0
            for l in range(count):
                if live[l]:
                    s[left], power[left], r[left], rr[left] = s[l], power[l], r[l], rr[l]
                    far[left], fl[left], lane[left], row[left] = far[l], fl[l], lane[l], row[l]
                    v[left], live[left] = 0.0, 1
                    left += 1
            count = left
            if count == 0:
                return
        k, left = numba.uint64(n), 0
        if q < width:  # a packed term: the lanes' columns kb + lane; every fourth one's bound tested
            u, x = numba.uint64(q), numba.uint64(ka)
            a, t = ca[u, x], ta[u, x]
            if q % 4 != 3:
                for l in range(count):
                    s[l], power[l] = _hermite_term(s[l], power[l], rr[l], a, cb[u, numba.uint64(kb + lane[l])])
                    left += live[l]
            else:
                for l in range(count):
                    c = numba.uint64(kb + lane[l])
                    s[l], power[l], v[l], live[l] = _hermite_lane(s[l], power[l], r[l], rr[l], far[l], fl[l], v[l],
                                                                  live[l], a, cb[u, c], t * tb[u, c], tol)
                    left += live[l]
            q += 1
        else:
            a, t = alpha[i, k], tail_a[i, k]
            for l in range(count):
                j = numba.uint64(row[l])
                s[l], power[l], v[l], live[l] = _hermite_lane(s[l], power[l], r[l], rr[l], far[l], fl[l], v[l], live[l],
                                                              a, beta[j, k], t * tail_b[j, k], tol)
                left += live[l]
    _hermite_settle(e0, count, v, live, lane, out, done)


@_jit
def _hermite_sum_kernel(alpha, tail_a, root_ra, root_ea, rows_a, beta, tail_b, root_rb, root_eb, rows_b,
                        ia, ib, rho, first, step, tol, floor, out, done):
    """The partial sums of hermiteruntime._hermite_sum (same operations in the same order, so the
    same results), in runs of up to HERMITE_LANES consecutive entries whose rows of one side are
    one and of the other consecutive (a row or a column of a block: _hermite_run; single entries
    are runs of one); the first HERMITE_NEAR terms are read from columns packed for the call."""
    terms = alpha.shape[1]
    width = min(HERMITE_NEAR, (terms - first + step - 1) // step)
    packed_a = _hermite_pack(alpha, tail_a, root_ra, root_ea, rows_a, first, step, width)
    packed_b = _hermite_pack(beta, tail_b, root_rb, root_eb, rows_b, first, step, width)
    side_a, side_b = (alpha, tail_a, rows_a), (beta, tail_b, rows_b)
    values, indices = np.empty((8, HERMITE_LANES)), np.empty((3, HERMITE_LANES), dtype=np.intp)
    work = (values[0], values[1], values[2], values[3], values[4], values[5], values[6], values[7])
    lanes = (indices[0], indices[1], indices[2])
    size, e = rho.size, 0
    while e < size:
        ka, kb, count = ia[e], ib[e], 1
        while count < HERMITE_LANES and e + count < size and ia[e + count] == ka and ib[e + count] == kb + count:
            count += 1
        if count > 1 or e + 1 == size or ib[e + 1] != kb or ia[e + 1] != ka + 1:
            _hermite_run(e, count, ka, kb, side_a, side_b, (*packed_a, *packed_b), rho, first, step, width, tol, floor, work,
                         lanes, out, done)
        else:  # a column: the same sums with the sides' roles exchanged (their products commute)
            while count < HERMITE_LANES and e + count < size and ib[e + count] == kb and ia[e + count] == ka + count:
                count += 1
            _hermite_run(e, count, kb, ka, side_b, side_a, (*packed_b, *packed_a), rho, first, step, width, tol, floor, work,
                         lanes, out, done)
        e += count


_cell = _jit(_cell)
_finish = _jit(_finish)
_table1_kernel = _jit(_table1_loop)
_hermite_theta_kernel = _jit(_hermite_theta_loop)
_theta_positions = _jit(_theta_positions_loop)
_THETA = threading.local()  # per thread: the correlations last looked up in a table and their positions


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
    """Numba version of hermiteruntime._hermite_theta (same arguments, plus its _H_CELLS).  The
    positions acos(rho) cells / pi of the correlations a thread looked up last are kept with a
    copy of them: the maps of a layer (nngp, sg and its swap) look up equal correlations one
    after another, and the arc cosine costs about as much as a table's sum."""
    rho = np.ascontiguousarray(rho, dtype=float).reshape(-1)
    last = getattr(_THETA, "last", None)
    if last is None or last[0].shape != rho.shape or not np.array_equal(last[0], rho):
        x = np.empty(rho.size)
        _theta_positions(rho, int(cells), x)
        last = _THETA.last = (rho.copy(), x)
    out = np.empty(rho.size)
    _hermite_theta_kernel(np.ascontiguousarray(coef, dtype=float), last[1], int(cells), out)
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


def _read_only(v, dtype):
    """v as a contiguous array of ``dtype`` that the kernels only read (a read-only view: the
    kernels' types are then the same whether the caller's array was writable or a broadcast view)."""
    v = np.ascontiguousarray(v, dtype=dtype).view()
    v.flags.writeable = False
    return v


def hermite_sum(side_a, side_b, ia, ib, rho, first=0, step=1, *, tol, floor):
    """Numba version of hermiteruntime._hermite_sum (same arguments, plus its HERMITE_TOL and
    HERMITE_FLOOR); one compiled kernel for every call (arrays passed read-only)."""
    out, done = np.zeros(rho.size), np.zeros(rho.size, dtype=bool)
    arrays = [_read_only(v, np.intp if k == 4 else float) for side in (side_a, side_b) for k, v in enumerate(side)]
    _hermite_sum_kernel(*arrays, _read_only(ia, np.intp), _read_only(ib, np.intp), _read_only(rho, float), int(first),
                        int(step), float(tol), float(floor), out, done)
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
