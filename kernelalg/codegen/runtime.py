"""Numerical helpers that generated modules carry with them (their source is copied in).

They depend on numpy and scipy.special only, so a generated module imports without
kernelalg installed.  Where the library loads a module it replaces the elementwise ones that
closed forms spend their time in (_arctan, _angle, _det2, _det_product) by compiled loops of the
same formulas (:func:`kernelalg.numeric.compiled.accelerate`).
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


def _det_sum(a, b, c, k, p, q, r):
    """k (ab - c**2) + p a + q b + r, given k r = p q, r > 0, p, q >= 0.

    As (p a + r)(q b + r)/r - k c**2 = k ab + p a + q b + r - k c**2 (cheap: its factors are
    vectors in the kernel recursion) where that is accurate: its relative rounding error is about
    1 + k ab / (p a + q b + r) ulps, and it is used for the entries where that is at most 1000
    (for all at once when the extreme a and b bound it so: one pass), the others from the exact
    _det2.  Each entry's value depends on its own a, b, c only, not on the rest of the block."""
    u, v = p * a + r, q * b + r
    product = _det_product(u, v, r, k, c)
    lowest = p * numpy.min(a, initial=numpy.inf) + q * numpy.min(b, initial=numpy.inf) + r
    if k * numpy.max(a, initial=0.0) * numpy.max(b, initial=0.0) <= 1e3 * lowest:
        return product
    return numpy.where(k * a * b <= 1e3 * (p * a + q * b + r), product, k * _det2(a, b, c) + (u + q * b))


def _det_product(u, v, r, k, c):
    """u v / r - k c**2 (the product form of _det_sum, elementwise over the block)."""
    return u * v / r - k * (c * c)


def _arctan(x):
    """atan(x), as numpy.arctan."""
    return numpy.arctan(x)


def _root_ab(a, b):
    """sqrt(ab): exact for a = b (the root of a square, so the edge c = a = b stays exact), and as
    sqrt(a) sqrt(b) where a*b would under- or overflow."""
    with numpy.errstate(over="ignore", under="ignore"):
        p = a * b
        return numpy.where((p >= numpy.finfo(float).tiny) & numpy.isfinite(p), numpy.sqrt(p),
                           numpy.sqrt(a) * numpy.sqrt(b))


_NEAR, _NEARER = 8, 64  # ulps inside the edge where its limit is taken, and where divergence is checked


def _on_edge(formula, diverges, a, b, c):
    """The maps ``formula(a, b, c)`` (a tuple of arrays, one per flag of ``diverges``) at a valid
    covariance, with the edge c**2 = ab evaluated.

    Where every value is finite (one cheap pass each) they are returned as computed.  Entries
    that come out non-finite are evaluated again with c clipped to +-sqrt(ab) (rounding can push
    |c| past it); where the formula still reads 0/0 or inf * 0 there, the value is its continuous
    limit: the values just inside (c shrunk by _NEAR and _NEARER ulps) extrapolated linearly in
    sqrt(ab - c**2) to the edge (exact to O(ab - c**2) where the map approaches the edge like
    sqrt(ab - c**2), as it does at a kink or step of the integrand; 0 where that line crosses 0
    between the inside values and the edge: the map vanishes there faster than sqrt(ab - c**2)).
    A map flagged in
    ``diverges`` (a product of deltas) is +inf where that limit grows like (ab - c**2)**(-1/2)
    (c shrunk by _NEAR versus _NEARER ulps), i.e. where the delta locations lie on the
    degenerate support."""
    a, b, c = (numpy.asarray(v, dtype=float) for v in (a, b, c))
    eps = numpy.finfo(float).eps
    with numpy.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        outs = list(formula(a, b, c))
        if all(numpy.isfinite(numpy.add.reduce(o, axis=None)) for o in outs):
            return tuple(outs)
        bad = [~numpy.isfinite(o) for o in outs]
        anywhere = numpy.logical_or.reduce(bad)
        a, b, c = (numpy.broadcast_to(v, anywhere.shape)[anywhere] for v in (a, b, c))
        root = _root_ab(a, b)
        c = numpy.clip(c, -root, root)
        edge = formula(a, b, c)
        inside = c * (1 - _NEAR * eps), c * (1 - _NEARER * eps)
        near, nearer = formula(a, b, inside[0]), formula(a, b, inside[1])
        s, t = (numpy.sqrt(_det2(a, b, ci)) for ci in inside)
        for i, flag in enumerate(diverges):
            # linear in s = sqrt(ab - c**2) through the two inside values, at s = 0: exact to
            # O(s**2) for maps that approach the edge like s (a kink or step on the support)
            limit = near[i] - s * (nearer[i] - near[i]) / (t - s)
            limit = numpy.where(numpy.isfinite(limit), limit, near[i])
            # past 0 from both inside values: the map vanishes faster than s there (like s^3)
            limit = numpy.where(limit * near[i] < 0, 0.0, limit)
            if flag:
                limit = numpy.where(near[i] > 1.5 * nearer[i], numpy.inf, limit)
            fix = numpy.where(numpy.isfinite(edge[i]), edge[i], limit)
            outs[i] = numpy.array(outs[i], dtype=float)
            outs[i][anywhere] = numpy.where(bad[i][anywhere], fix, outs[i][anywhere])
    return tuple(outs)


def _near_edge(value, angle, t0, series, a, b):
    """value, with the entries where the angle t to an edge is below t0 replaced by
    series(a, b, t), the map's series in t at that edge (where the formula cancels)."""
    shape = numpy.broadcast_shapes(numpy.shape(value), numpy.shape(angle), numpy.shape(a), numpy.shape(b))
    near = numpy.broadcast_to(numpy.asarray(angle) < t0, shape)
    if not near.any():
        return value
    out = numpy.array(numpy.broadcast_to(value, shape), dtype=float)
    t, a, b = (numpy.broadcast_to(v, shape)[near] for v in (angle, a, b))
    out[near] = series(a, b, t)
    return out


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


def _owen_integral(integrand, h, u0, floor):
    """_owen_panels on blocks of rows (bounded work arrays)."""
    parts = [_owen_panels(integrand, h[i:i + 512], u0[i:i + 512], floor) for i in range(0, len(h), 512)]
    return numpy.concatenate([p for p, _ in parts]), numpy.concatenate([q for _, q in parts])


def _owen_panels(integrand, h, u0, floor):
    """(1/2 pi) int_lowest^u0 integrand(E(u)) du, E(u) = h^2 / (2 sin^2 u), row by row (h, u0 are
    columns): Owen's T integral in u = acot x.  12-point Gauss-Legendre on panels that each change
    E by at most 6 and u (and pi - u beyond pi/2) by at most a factor 2, from u0 down to ``lowest``,
    where E has grown by 60 over its least value on the interval (or u fallen to floor u0), and
    beyond pi/2 the same toward pi (E is symmetric about pi/2).  Returns (integral, lowest)."""
    with numpy.errstate(divide="ignore", over="ignore", invalid="ignore"):
        e0 = (h / numpy.sin(numpy.minimum(u0, numpy.pi / 2))) ** 2 / 2
        by_exponent = numpy.arcsin(numpy.minimum(1.0, h / numpy.sqrt(2 * (e0 + _OWEN_STEPS))))
        lowest = numpy.maximum(by_exponent[:, -1:], u0 * floor)
        beyond = numpy.maximum(numpy.pi - u0, lowest)  # u0 > pi/2 (x < 0): E grows again toward u = pi
        levels = max(numpy.nanmax(numpy.log2(u0 / lowest), initial=0.0),  # u0 = 0: 0/0
                     numpy.nanmax(numpy.log2(numpy.pi / beyond), initial=0.0))
    halvings = 2.0 ** -numpy.arange(1.0, min(numpy.ceil(levels), 1100.0) + 1)
    edges = numpy.concatenate([by_exponent, numpy.pi - by_exponent, u0 * halvings, numpy.pi - beyond / halvings, u0],
                              axis=1)
    edges = numpy.sort(numpy.clip(edges, lowest, u0), axis=1)
    half = (edges[:, 1:] - edges[:, :-1]) / 2
    u = (edges[:, :-1] + half)[..., None] + half[..., None] * _GL_NODES
    with numpy.errstate(divide="ignore", over="ignore", under="ignore"):
        values = integrand((h[..., None] / numpy.sin(u)) ** 2 / 2)
    return numpy.sum(half[..., None] * _GL_WEIGHTS * values, axis=(1, 2)) / (2 * numpy.pi), lowest[:, 0]


_OWEN_STEPS = numpy.arange(0.0, 61.0, 6.0)  # E(u) - E(u0) at panel edges of _owen_integral


def _owens_t_tail(h, a):
    """T(h, oo) - T(h, a) = erfc(h / sqrt 2) / 4 - T(h, a) (Owen's T; h >= 0) without the
    cancellation of that difference where T(h, a) is close to T(h, oo) (a large, or h large and
    a > 0).  There (more than two digits lost), with x = cot u in Owen's integral, it is
    (1/2 pi) int_0^u0 exp(-E(u)) du, E(u) = h^2 / (2 sin^2 u), u0 = acot(a): a positive integrand
    (below E(u0) + 60 it is negligible)."""
    if numpy.ndim(h) == numpy.ndim(a) == 0:
        return _owens_t_tail(numpy.atleast_1d(h), numpy.atleast_1d(a))[0]
    h, a = numpy.broadcast_arrays(numpy.asarray(h, dtype=float), numpy.asarray(a, dtype=float))
    whole = scipy.special.erfc(h / numpy.sqrt(2)) / 4
    out = whole - scipy.special.owens_t(h, a)
    hard = numpy.flatnonzero(out < 1e-2 * whole)
    if hard.size:
        u0 = numpy.arctan2(1.0, a.flat[hard])[:, None]
        out.flat[hard] = _owen_integral(lambda e: numpy.exp(-e), h.flat[hard][:, None], u0, 2.0**-50)[0]
    return out


def _owens_t_rest(h, a):
    """acot(a) / (2 pi) - T(h, oo) + T(h, a), i.e. (1/2 pi) int_0^u0 (1 - exp(-E(u))) du in the
    variables of _owens_t_tail, u0 = acot(a) in (0, pi): the part of Owen's T tail that vanishes
    as h -> 0.  Where the difference acot(a) / (2 pi) - _owens_t_tail cancels at all (below half
    of acot(a) / (2 pi); small h), integrated: the integrand is 1 below ``lowest``, positive above."""
    if numpy.ndim(h) == numpy.ndim(a) == 0:
        return _owens_t_rest(numpy.atleast_1d(h), numpy.atleast_1d(a))[0]
    h, a = numpy.broadcast_arrays(numpy.asarray(h, dtype=float), numpy.asarray(a, dtype=float))
    whole = numpy.arctan2(1.0, a) / (2 * numpy.pi)
    out = whole - _owens_t_tail(h, a)
    hard = numpy.flatnonzero(out < 0.5 * whole)
    if hard.size:
        u0 = numpy.arctan2(1.0, a.flat[hard])[:, None]
        part, lowest = _owen_integral(lambda e: -numpy.expm1(-e), h.flat[hard][:, None], u0, 0.0)
        out.flat[hard] = part + lowest / (2 * numpy.pi)
    return out


def _shaped(value, a, b, c):
    """value as a float array of the broadcast shape of a, b, c."""
    shape = numpy.broadcast_shapes(numpy.shape(a), numpy.shape(b), numpy.shape(c))
    value = numpy.asarray(value, dtype=float)
    return value if value.shape == shape else numpy.array(numpy.broadcast_to(value, shape))


_GL_NODES, _GL_WEIGHTS = numpy.polynomial.legendre.leggauss(12)
_Z = 9.0  # standard deviations covered; the Gaussian tail beyond is 2e-19
_TAIL = 5.0  # beyond a tail breakpoint at z: the mass past z + 5 is < 4e-6 of that past z
_ZMAX = 40.0  # widest window: exp(-40**2/2) underflows
_WIDENED = 33  # panel edges in each widened part of the window
_BASE = numpy.arange(-_Z, _Z + 0.5)  # unit panels: the Gaussian itself at 12 nodes per sigma
_MAX_SPLIT = 512  # at most this many sub-panels per unit panel for oscillating functions
_FINEST = 8 * _Z * 2.0**-20  # grading reaches an eighth of this: 2**-20 Z
_MAX_LEVELS = 100  # grading levels toward a center (feature widths down to 2**-97 sigma)
_BLOCK = 1 << 21  # elements x nodes per block: bounds the work arrays


def _graded_rule(mu, sd, centers, widths, far, refine=1):
    """Nodes x = mu + sd z and weights of E[g(X)], X ~ N(mu, sd^2), for a batch of (mu, sd).

    Composite 12-point Gauss-Legendre in z on [-Z, Z] over unit panels (the Gaussian weight),
    each split into ceil(sd / far) parts where g oscillates on the scale ``far``, and refined
    geometrically (ratio 2) toward every center t of g (breakpoints and narrow features) from
    the window down to an eighth of its width w (in standard units w / sd): kinks, steep
    features and heavy tails are resolved at every variance.  A center in the tail widens the
    window so that an integrand supported only beyond it keeps its relative accuracy.
    ``refine`` splits every panel into that many (a finer rule, for error estimates).
    """
    with numpy.errstate(divide="ignore", invalid="ignore", over="ignore"):
        zc = [numpy.nan_to_num((t - mu) / sd, nan=0.0, posinf=2 * _ZMAX, neginf=-2 * _ZMAX) for t in centers]
        # every center is graded down to at least 2**-20 Z: a factor the probe did not see
        # (e.g. a narrow Gaussian merged into an exponential with covariance terms) stays resolved
        omega = [numpy.minimum(numpy.where(sd > 0, w / sd, numpy.inf), _FINEST) for w in widths]
        split = numpy.ceil(numpy.max(numpy.where(sd > 0, sd / far, 1.0))) if numpy.size(sd) else 1.0
    base = _BASE
    if split > 1:
        base = numpy.linspace(-_Z, _Z, int(2 * _Z * min(split, _MAX_SPLIT)) + 1)
    edges = [numpy.broadcast_to(base, mu.shape + base.shape)]
    for z, om in zip(zc, omega):
        finite = om[numpy.isfinite(om) & (om > 0)]
        levels = 0 if finite.size == 0 else int(numpy.clip(numpy.ceil(numpy.log2(4 * _ZMAX / finite.min())), 0,
                                                             _MAX_LEVELS))
        if levels:
            with numpy.errstate(over="ignore", invalid="ignore"):
                d = numpy.nan_to_num(om[..., None] * numpy.exp2(numpy.arange(-3.0, levels)), nan=numpy.inf)
            edges += [z[..., None] - d, z[..., None] + d]
        edges.append(z[..., None])
    lo, hi = numpy.full(mu.shape, -_Z), numpy.full(mu.shape, _Z)
    for z in zc:  # beyond _ZMAX the Gaussian weight underflows anyway
        near = numpy.abs(z) <= _ZMAX
        lo = numpy.where(near, numpy.maximum(numpy.minimum(lo, z - _TAIL), -_ZMAX), lo)
        hi = numpy.where(near, numpy.minimum(numpy.maximum(hi, z + _TAIL), _ZMAX), hi)
    if (lo < -_Z).any() or (hi > _Z).any():  # unit-like panels in the widened parts as well
        steps = numpy.linspace(0.0, 1.0, _WIDENED)[1:-1]
        edges.append(-_Z + (lo + _Z)[..., None] * steps)
        edges.append(_Z + (hi - _Z)[..., None] * steps)
    edges = numpy.sort(numpy.clip(numpy.concatenate(edges, axis=-1), lo[..., None], hi[..., None]), axis=-1)
    if refine > 1:
        steps = numpy.arange(refine) / refine
        edges = numpy.concatenate([(edges[..., :-1, None] + (edges[..., 1:] - edges[..., :-1])[..., None] * steps)
                                   .reshape(edges.shape[:-1] + (-1,)), edges[..., -1:]], axis=-1)
    half = (edges[..., 1:] - edges[..., :-1]) / 2
    mid = (edges[..., 1:] + edges[..., :-1]) / 2
    z = (mid[..., None] + half[..., None] * _GL_NODES).reshape(mu.shape + (-1,))
    w = (half[..., None] * _GL_WEIGHTS).reshape(mu.shape + (-1,)) * numpy.exp(-z * z / 2) / numpy.sqrt(2 * numpy.pi)
    return mu[..., None] + sd[..., None] * z, w


def _gaussian_mean(integrand, features, mu, var, a, b, c, refine=1):
    """E[integrand(X, a, b, c)] for X ~ N(mu, var), elementwise over broadcast arrays.

    ``features`` = (centers, far): ``centers`` a tuple of pairs of functions (location,
    width) of (a, b, c), ``far`` a function of (a, b, c); ``refine``: see _graded_rule."""
    centers, far = features
    mu, var, a, b, c = numpy.broadcast_arrays(*(numpy.asarray(v, dtype=float) for v in (mu, var, a, b, c)))
    out = numpy.empty(mu.shape)
    flat = [v.reshape(-1) for v in (mu, var, a, b, c, out)]
    with numpy.errstate(divide="ignore", invalid="ignore"):
        split = numpy.nanmax(numpy.sqrt(numpy.maximum(flat[1], 0.0)) / far(*flat[2:5]), initial=1.0)
    nodes = 12 * (2 * _Z * min(max(split, 1.0), _MAX_SPLIT) + 40 * (2 * len(centers) + 2))
    chunk = max(1, int(_BLOCK // nodes))
    for start in range(0, flat[0].size, chunk):
        m, v, ab, bb, cb = (arr[start:start + chunk] for arr in flat[:5])
        with numpy.errstate(divide="ignore", invalid="ignore"):  # e.g. a center t/c at c = 0: none
            where = [numpy.broadcast_to(numpy.asarray(t(ab, bb, cb), dtype=float), m.shape) for t, _ in centers]
            widths = [numpy.broadcast_to(numpy.asarray(w(ab, bb, cb), dtype=float), m.shape) for _, w in centers]
            scale = numpy.broadcast_to(numpy.asarray(far(ab, bb, cb), dtype=float), m.shape)
        x, w = _graded_rule(m, numpy.sqrt(numpy.maximum(v, 0.0)), where, widths, scale, refine)
        with numpy.errstate(over="ignore"):  # e.g. 1/cosh(k x)**2 far out: inf in a denominator, 0
            values = integrand(x, ab[:, None], bb[:, None], cb[:, None])
        flat[5][start:start + chunk] = numpy.sum(w * values, axis=-1)
    return out
