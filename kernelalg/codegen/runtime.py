"""Numerical helpers that generated modules carry with them (their source is copied in).

They depend on numpy and scipy.special only, so a generated module imports without
kernelalg installed.
"""

import numpy
import scipy.special


def _two_product_error(u, v, p):
    """Rounding error of p = u*v (Dekker/Veltkamp splitting): u*v = p + error exactly."""
    split = 134217729.0  # 2**27 + 1
    tu, tv = split * u, split * v
    uh, vh = tu - (tu - u), tv - (tv - v)
    ul, vl = u - uh, v - vh
    return ((uh * vh - p) + uh * vl + ul * vh) + ul * vl


def _det2(a, b, c):
    """a*b - c**2 without cancellation near c**2 = ab: where the plain difference lost more
    than three digits, the products' rounding errors are restored (Dekker's two-product).
    Results below 8 ulps of ab are within the rounding of c itself (a dot product rounded to
    just inside or outside |c| = sqrt(ab)) and are set to 0: the edge value."""
    if numpy.ndim(a) == numpy.ndim(b) == numpy.ndim(c) == 0:
        return _det2(*(numpy.atleast_1d(v) for v in (a, b, c)))[0]
    p = a * b
    d = p - c * c
    close = numpy.flatnonzero(d < 1e-3 * p)  # flat indices: much cheaper than 2-D nonzero
    if close.size:
        index = numpy.unravel_index(close, d.shape)
        a, b, c = (numpy.broadcast_to(v, d.shape)[index] for v in (a, b, c))
        p, q = a * b, c * c
        exact = (p - q) + (_two_product_error(a, b, p) - _two_product_error(c, c, q))
        d.flat[close] = numpy.where(exact < 8 * numpy.finfo(float).eps * p, 0.0, exact)
    return d


def _exp_erfc(e, e_scaled, z):
    """exp(e) erfc(z), with e_scaled = e - z**2: as exp(e_scaled) erfcx(z) where z >= 0 (erfc
    underflows there) and as exp(e) erfc(z) where z < 0 (erfcx overflows there)."""
    return numpy.where(z >= 0, numpy.exp(e_scaled) * scipy.special.erfcx(numpy.maximum(z, 0.0)),
                       numpy.exp(e) * scipy.special.erfc(numpy.minimum(z, 0.0)))


def _angle(y, x):
    """atan2(y, x) for y >= 0, as atan(y/x), plus pi where x is negative (or -0): numpy's
    arctan2 costs about 1.7 arctans."""
    with numpy.errstate(divide="ignore", invalid="ignore"):
        angle = numpy.arctan(y / x)
    if numpy.ndim(angle) == 0:
        return angle + numpy.pi * numpy.signbit(x)
    return numpy.add(angle, numpy.pi, out=angle, where=numpy.signbit(x))


def _exp_sub(x, y, d):
    """exp(x) - exp(y) with d = y - x: sign(d) exp(max(x, y)) expm1(-|d|), which neither
    overflows where both exponentials do nor cancels where x and y are close."""
    return numpy.sign(d) * numpy.exp(numpy.maximum(x, y)) * numpy.expm1(-numpy.abs(d))


def _shaped(value, a, b, c):
    """value as a float array of the broadcast shape of a, b, c."""
    shape = numpy.broadcast_shapes(numpy.shape(a), numpy.shape(b), numpy.shape(c))
    value = numpy.asarray(value, dtype=float)
    return value if value.shape == shape else numpy.array(numpy.broadcast_to(value, shape))


_GL_NODES, _GL_WEIGHTS = numpy.polynomial.legendre.leggauss(8)
_Z = 8.5  # standard deviations covered; the Gaussian tail beyond is 2e-17
_TAIL = 4.5  # beyond a tail breakpoint at z: the mass past z + 4.5 is < 1e-17 of that past z
_ZMAX = 40.0  # widest window: exp(-40**2/2) underflows
_WIDENED = 33  # panel edges in each widened part of the window
_BASE = numpy.arange(-_Z, _Z + 0.5)  # unit panels: the Gaussian itself at 8 nodes per sigma
_GRADING = numpy.exp2(-numpy.arange(0.0, 21.0))  # panels shrink to 2**-20 * Z at each center
_CHUNK = 2048  # elements per block, bounding the (elements x nodes) work arrays


def _graded_rule(mu, sd, centers):
    """Nodes x = mu + sd z and weights of E[g(X)], X ~ N(mu, sd^2), for a batch of (mu, sd).

    Composite 8-point Gauss-Legendre in z on [-Z, Z] over unit panels (the Gaussian weight),
    refined geometrically (ratio 2) toward every center of g (its breakpoints and scale
    centers), so that kinks and features of width down to 2**-20 Z standard deviations are
    integrated accurately (about 1e-12 relative for SuperSpike with k up to 100 and variances
    1e-4 .. 1e4).
    """
    with numpy.errstate(divide="ignore", invalid="ignore"):
        zc = [numpy.nan_to_num((t - mu) / sd, nan=0.0, posinf=_Z, neginf=-_Z) for t in centers]
    edges = [numpy.broadcast_to(_BASE, mu.shape + _BASE.shape)]
    for z in zc:
        edges.append(z[..., None] - _Z * _GRADING)
        edges.append(z[..., None] + _Z * _GRADING)
        edges.append(z[..., None])
    # a breakpoint in the tail moves that end of the window _TAIL beyond it, so that an
    # integrand supported only beyond the breakpoint keeps its relative accuracy
    lo, hi = numpy.full(mu.shape, -_Z), numpy.full(mu.shape, _Z)
    for z in zc:  # beyond _ZMAX the Gaussian weight underflows anyway
        lo = numpy.maximum(numpy.minimum(lo, z - _TAIL), -_ZMAX)
        hi = numpy.minimum(numpy.maximum(hi, z + _TAIL), _ZMAX)
    if (lo < -_Z).any() or (hi > _Z).any():  # unit-like panels in the widened parts as well
        steps = numpy.linspace(0.0, 1.0, _WIDENED)[1:-1]
        edges.append(-_Z + (lo + _Z)[..., None] * steps)
        edges.append(_Z + (hi - _Z)[..., None] * steps)
    edges = numpy.sort(numpy.clip(numpy.concatenate(edges, axis=-1), lo[..., None], hi[..., None]), axis=-1)
    half = (edges[..., 1:] - edges[..., :-1]) / 2
    mid = (edges[..., 1:] + edges[..., :-1]) / 2
    z = (mid[..., None] + half[..., None] * _GL_NODES).reshape(mu.shape + (-1,))
    w = (half[..., None] * _GL_WEIGHTS).reshape(mu.shape + (-1,)) * numpy.exp(-z * z / 2) / numpy.sqrt(2 * numpy.pi)
    return mu[..., None] + sd[..., None] * z, w


def _gaussian_mean(integrand, centers, mu, var, a, b, c):
    """E[integrand(X, a, b, c)] for X ~ N(mu, var), elementwise over broadcast arrays."""
    mu, var, a, b, c = numpy.broadcast_arrays(*(numpy.asarray(v, dtype=float) for v in (mu, var, a, b, c)))
    out = numpy.empty(mu.shape)
    flat = [v.reshape(-1) for v in (mu, var, a, b, c, out)]
    for start in range(0, flat[0].size, _CHUNK):
        m, v, ab, bb, cb = (arr[start:start + _CHUNK] for arr in flat[:5])
        x, w = _graded_rule(m, numpy.sqrt(numpy.maximum(v, 0.0)), [t(ab, bb, cb) for t in centers])
        values = integrand(x, ab[:, None], bb[:, None], cb[:, None])
        flat[5][start:start + _CHUNK] = numpy.sum(w * values, axis=-1)
    return out
