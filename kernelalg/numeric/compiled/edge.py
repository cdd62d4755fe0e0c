"""Compiled (Numba) loops of the near-edge treatment (:mod:`kernelalg.numeric.nearedge`).

:func:`flag` marks the entries of a covariance block within a gap of the edge c^2 = ab in
one pass (no temporary arrays).  :func:`relative_gaps` computes the exact gap 1 - rho^2 of
first-layer covariances in double-double arithmetic: for inputs x, y (float64 rows) and S1(x, y) = w <x, y> + beta, the variances a = S1(x, x),
b = S1(y, y) and the covariance c = S1(x, y) are accumulated as unevaluated sums hi + lo of
float64 numbers (Dekker's exact products, Knuth's exact sums), and ab - c^2 is formed in the
same arithmetic, so the relative gap (ab - c^2)/(ab) carries an error of about 1e-31 where
float64 has none of its digits left (near-parallel and near-antipodal pairs).
"""

from __future__ import annotations

import numba
import numpy as np

_SPLIT = 134217729.0  # 2^27 + 1: Dekker's splitting constant


def _jit(fn):
    return numba.njit(cache=True, nogil=True, error_model="numpy")(fn)


@_jit
def _two_sum(p, q):
    s = p + q
    r = s - p
    return s, (p - (s - r)) + (q - r)


@_jit
def _two_prod(p, q):
    x = p * q
    t = _SPLIT * p
    ph = t - (t - p)
    pl = p - ph
    t = _SPLIT * q
    qh = t - (t - q)
    ql = q - qh
    return x, ((ph * qh - x) + ph * ql + pl * qh) + pl * ql


@_jit
def _mul(xh, xl, yh, yl):
    p, e = _two_prod(xh, yh)
    return _two_sum(p, e + (xh * yl + xl * yh))


@_jit
def _dot(x, y, w, beta):
    """w <x, y> + beta as a double-double (hi, lo)."""
    h, lo = 0.0, 0.0
    for k in range(x.shape[0]):
        p, e = _two_prod(x[k], y[k])
        h, r = _two_sum(h, p)
        lo += r + e
    h, lo = _two_sum(h, lo)
    p, e = _two_prod(h, w)
    h, lo = _two_sum(p, e + lo * w)
    s, r = _two_sum(h, beta)
    return _two_sum(s, r + lo)


@_jit
def _gaps(X, Y, rows, cols, w, beta, out):
    for k in range(rows.shape[0]):
        x, y = X[rows[k]], Y[cols[k]]
        ah, al = _dot(x, x, w, beta)
        bh, bl = _dot(y, y, w, beta)
        ch, cl = _dot(x, y, w, beta)
        ph, pl = _mul(ah, al, bh, bl)
        qh, ql = _mul(ch, cl, ch, cl)
        g, r = _two_sum(ph, -qh)
        out[k] = (g + (r + (pl - ql))) / ph


def relative_gaps(X: np.ndarray, Y: np.ndarray, rows: np.ndarray, cols: np.ndarray, w: float,
                  beta: float) -> np.ndarray:
    """(ab - c^2)/(ab) of S1 at the pairs (X[rows[k]], Y[cols[k]]); NaN or inf where the products
    leave the float64 range (|x|^2 beyond about 1e290)."""
    out = np.empty(rows.shape[0])
    _gaps(np.ascontiguousarray(X, dtype=float), np.ascontiguousarray(Y, dtype=float), rows.astype(np.int64),
          cols.astype(np.int64), float(w), float(beta), out)
    return out


@_jit
def _flag(a, b, c, bound, settled, out):
    found = False
    for i in range(c.shape[0]):
        for j in range(c.shape[1]):
            r = c[i, j] / a[i] * c[i, j]
            if r > bound * b[j] and not (settled[i, j] and r >= b[j]):
                out[i, j] = True
                found = True
    return found


def flag(a: np.ndarray, b: np.ndarray, c: np.ndarray, bound: float, settled: np.ndarray, out: np.ndarray) -> bool:
    """out |= (c^2/(ab) > bound), except settled entries with c^2 >= ab; whether any was flagged.

    ``a``: the rows' variances (n, 1), ``b``: the columns' (1, m), ``c``: the block (n, m)."""
    return _flag(a[:, 0], b[0], c, bound, settled, out)
