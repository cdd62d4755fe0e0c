"""Evaluation of tabulated Gaussian means (their source is copied into generated modules).

Tables hold Chebyshev coefficients on uniform cells of a transformed variable and are stored
in the module as base64 text of their little-endian float64 bytes (exact).  Depends on numpy
only.
"""

import base64

import numpy

COPIED_FROM = "# --- copied into generated modules from here ---\n"
# --- copied into generated modules from here ---


def _unpack(text, shape):
    """A float64 array stored as base64 text of its little-endian bytes."""
    return numpy.frombuffer(base64.b64decode(text), dtype="<f8").reshape(shape)


def _chebyshev(coef, t):
    """sum_k coef[..., k] T_k(t) by Clenshaw's recurrence (the degree is coef's last axis), each
    step as (c_k - b_{k+2}) + 2t b_{k+1}: only the product and the sum wait for b_{k+1}."""
    b1 = numpy.zeros(numpy.shape(t))
    b2 = numpy.zeros(numpy.shape(t))
    for k in range(coef.shape[-1] - 1, 0, -1):
        b1, b2 = (coef[..., k] - b2) + 2 * t * b1, b1
    return (coef[..., 0] - b2) + t * b1


def _table1(table, v):
    """G(V) = E[g(sqrt(V) z)] from its table: V = m 2**e with the mantissa m in [1/2, 1) (frexp),
    each octave cut into ``split`` cells of m, on each a Chebyshev series in
    t = 4 split m - 2 split - 2 s - 1 (s the cell within the octave); G = exp(series) for ``log``
    tables, else the series itself; beyond the cells the power laws G_end (V / V_end)**p."""
    e_lo, split, coef, log, (v_lo, g_lo, p_lo, v_hi, g_hi, p_hi) = table
    v = numpy.asarray(v, dtype=float)
    with numpy.errstate(divide="ignore", invalid="ignore", over="ignore"):  # v = inf: replaced below
        m, e = numpy.frexp(v)
        s = numpy.clip(numpy.floor((m - 0.5) * (2 * split)), 0, split - 1)
        i = numpy.clip((e - e_lo) * split + s.astype(int), 0, coef.shape[0] - 1)
        y = _chebyshev(coef[i], 4 * split * m - 2 * split - 2 * s - 1)
        g = numpy.exp(y) if log else y
        g = numpy.where(v < v_lo, g_lo * (v / v_lo) ** p_lo if p_lo else g_lo, g)
        return numpy.where(v >= v_hi, g_hi * (v / v_hi) ** p_hi if p_hi else g_hi, g)
