"""Mehler's expansion of a 2-D Gaussian mean (source copied into generated modules).

For (u, v) ~ N(0, [[a, c], [c, b]]), rho = c / sqrt(ab) and the orthonormal Hermite functions
h_n = He_n / sqrt(n!) (h_0 = 1, h_1 = z, h_{n+1} = (z h_n - sqrt(n) h_{n-1}) / sqrt(n + 1)),

    E[f(u) g(v)] = sum_n rho^n alpha_n(a) beta_n(b),
    alpha_n(a) = E[f(sqrt(a) Z) h_n(Z)],  beta_n(b) = E[g(sqrt(b) Z) h_n(Z)],  Z ~ N(0, 1).

The coefficients are means of one variable, computed once per distinct variance of a call
(composite Gauss-Legendre in z on [-13, 13], graded toward 0).  The tail after term N splits into the terms up to the last coefficient K - 1 and those
beyond; by Cauchy-Schwarz on each part it is at most

    |rho|^(N+1) A_N B_N + |rho|^K sqrt(R_f R_g),
    A_N^2 = sum_{N<m<K} alpha_m^2,  R_f = E[f^2] - sum_{m<K} alpha_m^2 (Parseval's residual),

with each residual at least 16 ulps of E[f^2] (it is a difference of numbers of that size).
An entry is summed until that bound is below HERMITE_TOL of the partial sum (or of
HERMITE_FLOOR sqrt(E[f^2] E[g^2]) where the mean nearly vanishes); entries that do not reach it
within the K = HERMITE_TERMS coefficients (slowly decaying coefficients at |rho| near 1) are
evaluated by a product rule where one of f, g is smooth (no breakpoints): for smooth f,

    E[f(u) g(v)] = E_Z1[ g(sqrt(b) Z1) E_Z2[ f(sqrt(a) (rho Z1 + sqrt(1 - rho^2) Z2)) ] ],

Z1 on the graded nodes above, Z2 by Gauss-Hermite (HERMITE_INNER nodes, accepted where 16 more
nodes change the value by at most HERMITE_TOL of it); at |rho| = 1 (to 4 ulps) it is the mean of
one variable E[f(sqrt(a) Z) g(+-sqrt(b) Z)].  What remains is left to the caller's
quadrature rule.  A call with one variance pair (a, b) (to 8 ulps) and many entries (points on a sphere)
interpolates a table instead: piecewise Chebyshev in the angle theta = acos(rho) on [0, pi]
(the map is smooth in theta also where a kink makes it singular in rho at |rho| = 1), its node
values from the evaluation above (the caller's rule for the rest), accepted where the interpolant agrees with the map at the
cells' midpoints to HERMITE_TABLE_TOL; tables are kept per (pair, a, b) for the next calls.
Depends on numpy only.
"""

import numpy

COPIED_FROM = "# --- copied into generated modules from here ---\n"
# --- copied into generated modules from here ---

HERMITE_TERMS = 256  # coefficients alpha_0 .. alpha_255 at most
HERMITE_TOL = 2.0**-47  # accepted truncation bound, relative to the partial sum (7e-15)
HERMITE_FLOOR = 1e-18  # ... or to this fraction of sqrt(E[f^2] E[g^2]) where the mean nearly vanishes
_H_WINDOW = 13.0  # |h_n(z)| exp(-z^2/4) <= 1.09 for all n, and exp(-13^2/4) = 4e-19
_H_PANEL = 0.5  # base panels in z: 12 Gauss-Legendre nodes resolve h_n (wavelength 2 pi / sqrt(2n)) to n ~ 400
_H_GL_NODES, _H_GL_WEIGHTS = numpy.polynomial.legendre.leggauss(12)
HERMITE_INNER = 24  # Gauss-Hermite nodes of the product rule's inner mean (checked against 16 more)
HERMITE_TABLE_MIN = 2000  # entries of one variance pair from which a table in theta is used
HERMITE_TABLE_TOL = 2.0**-44  # accepted interpolation error of a table, relative to the map's scale (6e-14)
_H_CELLS, _H_DEGREE = 48, 15  # table cells in theta and Chebyshev degree per cell
_H_TABLES = {}  # (pair id, a, b) -> table, or None where none was accepted
_H_COEFFICIENTS = {}  # (function, width, sd bytes) -> coefficients, tails, residuals, E[f^2]


def _hermite_nodes(width):
    """Nodes z and weights w of E[h(Z)], Z ~ N(0, 1): composite 12-point Gauss-Legendre on
    [-13, 13] over panels of 0.5, graded geometrically (ratio 2) toward 0 down to width / 8."""
    edges = numpy.linspace(-_H_WINDOW, _H_WINDOW, int(2 * _H_WINDOW / _H_PANEL) + 1)
    finest = max(width / 8, 1e-12)
    if finest < _H_PANEL:
        steps = _H_PANEL * 2.0 ** -numpy.arange(1, int(numpy.ceil(numpy.log2(_H_PANEL / finest))) + 1)
        edges = numpy.union1d(edges, numpy.concatenate([-steps, steps]))
    half, mid = numpy.diff(edges) / 2, (edges[1:] + edges[:-1]) / 2
    z = (mid[:, None] + half[:, None] * _H_GL_NODES).reshape(-1)
    w = (half[:, None] * _H_GL_WEIGHTS).reshape(-1) * numpy.exp(-z * z / 2) / numpy.sqrt(2 * numpy.pi)
    return z, w


def _hermite_functions(z, terms):
    """h_n(z) for n < terms (orthonormal under N(0, 1)), as a (len(z), terms) array."""
    h = numpy.empty((z.size, terms))
    h[:, 0] = 1.0
    if terms > 1:
        h[:, 1] = z
    for n in range(1, terms - 1):
        h[:, n + 1] = (z * h[:, n] - numpy.sqrt(n) * h[:, n - 1]) / numpy.sqrt(n + 1)
    return h


def _hermite_coefficients(fn, width, sd):
    """_hermite_coefficients_of(fn, width, sd), kept for the next calls with the same sd (e.g. the
    columns of the next block of rows); at most 16 sets."""
    key = (fn, width, sd.tobytes())
    found = _H_COEFFICIENTS.get(key)
    if found is None:
        found = _hermite_coefficients_of(fn, width, sd)
        if len(_H_COEFFICIENTS) >= 16:
            _H_COEFFICIENTS.clear()
        _H_COEFFICIENTS[key] = found
    return found


def _hermite_coefficients_of(fn, width, sd):
    """Coefficients alpha[k, n] = E[fn(sd_k Z) h_n(Z)], their tails tail[k, n] = the root of
    sum_{n<m<K} alpha[k, m]^2, Parseval's residuals and E[fn(sd_k Z)^2] for each sd_k > 0; rows
    whose coefficients are not finite or break Parseval's identity get infinite tails.
    ``width``: the smallest feature width of fn (its x scale), graded toward 0 at every sd."""
    z, w = _hermite_nodes(width / numpy.max(sd))
    with numpy.errstate(all="ignore"):
        values = fn(sd[:, None] * z[None, :])
        weighted = values * w
        alpha = weighted @ _hermite_functions(z, HERMITE_TERMS)
        energy = numpy.sum(weighted * values, axis=1)
        suffix = numpy.cumsum((alpha * alpha)[:, ::-1], axis=1)[:, ::-1]
        residual = energy - suffix[:, 0]
        bad = ~numpy.isfinite(residual) | (residual < -1e-12 * energy)
        residual = numpy.maximum(residual, 16 * numpy.finfo(float).eps * energy)
        tail = numpy.sqrt(numpy.concatenate([suffix[:, 1:], numpy.zeros((sd.size, 1))], axis=1))
    tail[bad] = numpy.inf
    return alpha, tail, residual, energy


def _hermite_sum(alpha, tail_a, beta, tail_b, ia, ib, rho, beyond, floor):
    """Partial sums s = sum_{n<=N} rho^n alpha[ia, n] beta[ib, n] of the flat entries, each
    stopped at the first N with |rho|^(N+1) tail_a[ia, N] tail_b[ib, N] + beyond <= HERMITE_TOL
    max(|s|, floor); returns (s, done), done False where no N met the bound."""
    out = numpy.zeros(rho.size)
    done = numpy.zeros(rho.size, dtype=bool)
    active = numpy.arange(rho.size)
    s, power = numpy.zeros(rho.size), numpy.ones(rho.size)
    i, j, r, far, fl = ia, ib, rho, beyond, floor
    for n in range(alpha.shape[1]):
        s += alpha[i, n] * beta[j, n] * power
        power *= r
        bound = numpy.abs(power) * (tail_a[i, n] * tail_b[j, n]) + far
        stop = bound <= HERMITE_TOL * numpy.maximum(numpy.abs(s), fl)
        if stop.any():
            out[active[stop]] = s[stop]
            done[active[stop]] = True
            keep = ~stop
            active, s, power, i, j, r, far, fl = (v[keep] for v in (active, s, power, i, j, r, far, fl))
            if active.size == 0:
                break
    return out, done


_H_INNER_RULES = {n: numpy.polynomial.hermite_e.hermegauss(n) for n in (HERMITE_INNER, HERMITE_INNER + 16)}


def _hermite_inner(fn, mean, sd, nodes):
    """E[fn(mean + sd Z)], Z ~ N(0, 1), by Gauss-Hermite with ``nodes`` nodes (mean: (n, m), sd: (n, 1))."""
    z, w = _H_INNER_RULES[nodes]
    values = fn(mean[..., None] + sd[..., None] * z)
    return values @ (w / numpy.sqrt(2 * numpy.pi))


def _hermite_product(pair, sa, sb, rho):
    """The product rule (see the module docstring) on flat entries; (values, done)."""
    f, f_width, f_smooth, g, g_width, g_smooth = pair
    out, done = numpy.zeros(rho.size), numpy.zeros(rho.size, dtype=bool)
    if not (f_smooth or g_smooth):
        return out, done
    if not f_smooth:  # the smooth side inside: E[g(v) E[f(u) | v]] read the other way round
        f, f_width, g, g_width, sa, sb = g, g_width, f, f_width, sb, sa
    z, w = _hermite_nodes(g_width / numpy.max(sb))
    with numpy.errstate(all="ignore"):
        spread = numpy.sqrt(numpy.maximum(1.0 - rho * rho, 0.0))
        for start in range(0, rho.size, 64):
            part = slice(start, start + 64)
            mean = (sa[part] * rho[part])[:, None] * z[None, :]
            sd = (sa[part] * spread[part])[:, None]
            outer = g(sb[part][:, None] * z[None, :]) * w
            coarse = numpy.sum(outer * _hermite_inner(f, mean, sd, HERMITE_INNER), axis=1)
            terms = outer * _hermite_inner(f, mean, sd, HERMITE_INNER + 16)
            fine = numpy.sum(terms, axis=1)
            out[part] = fine
            scale = numpy.sum(numpy.abs(terms), axis=1)  # where the mean nearly vanishes by cancellation
            done[part] = numpy.isfinite(fine) & (numpy.abs(fine - coarse) <= HERMITE_TOL * numpy.maximum(
                numpy.abs(fine), HERMITE_FLOOR * scale))
    return out, done


def _hermite_values(pair, sa, sb, rho, ia=None, ib=None):
    """The map at flat entries: standard deviations sa[ia], sb[ib] (ia, ib: indices into the
    distinct values; None: one per entry) and correlations rho; (values, done)."""
    f, f_width, _, g, g_width, _ = pair
    ia = numpy.arange(rho.size) if ia is None else ia
    ib = numpy.arange(rho.size) if ib is None else ib
    alpha, tail_a, residual_a, energy_a = _hermite_coefficients(f, f_width, sa)
    beta, tail_b, residual_b, energy_b = _hermite_coefficients(g, g_width, sb)
    with numpy.errstate(invalid="ignore", under="ignore"):
        beyond = numpy.abs(rho) ** HERMITE_TERMS * numpy.sqrt(residual_a[ia] * residual_b[ib])
        floor = HERMITE_FLOOR * numpy.sqrt(energy_a[ia] * energy_b[ib])
    out, done = _hermite_sum(alpha, tail_a, beta, tail_b, ia, ib, rho, beyond, floor)
    edge = numpy.flatnonzero(~done & (numpy.abs(rho) >= 1 - 4 * numpy.finfo(float).eps))
    if edge.size:  # v = +-sqrt(b / a) u: a mean of one variable (rho within 4 ulps: c = a = b rounded)
        z, w = _hermite_nodes(min(f_width / numpy.max(sa), g_width / numpy.max(sb)))
        with numpy.errstate(all="ignore"):
            values = f(sa[ia[edge]][:, None] * z) * g((numpy.sign(rho[edge]) * sb[ib[edge]])[:, None] * z)
            out[edge] = values @ w
        done[edge] = numpy.isfinite(out[edge])
    rest = numpy.flatnonzero(~done)
    if rest.size:
        out[rest], done[rest] = _hermite_product(pair, sa[ia[rest]], sb[ib[rest]], rho[rest])
    return out, done


def _hermite_table(pair, sa, sb, rule):
    """The table in theta of one variance pair (cached; None where it is not accepted): per
    cell, Chebyshev coefficients of the map in t in [-1, 1] (theta = cell start + (t + 1) h / 2).
    Node values that neither the series nor the product rule give are ``rule``'s."""
    key = (id(pair), float(f"{sa:.12e}"), float(f"{sb:.12e}"))  # variances a few ulps apart share it
    if key in _H_TABLES:
        return _H_TABLES[key]
    h = numpy.pi / _H_CELLS
    t = numpy.cos(numpy.pi * (numpy.arange(_H_DEGREE + 1) + 0.5) / (_H_DEGREE + 1))  # Chebyshev points
    theta = (numpy.arange(_H_CELLS)[:, None] + (t[None, :] + 1) / 2) * h
    mids = (numpy.arange(_H_CELLS) + 0.5) * h
    angles = numpy.concatenate([theta.reshape(-1), mids])
    one = numpy.zeros(angles.size, dtype=numpy.intp)
    rho = numpy.cos(angles)
    values, done = _hermite_values(pair, numpy.array([sa]), numpy.array([sb]), rho, one, one)
    rest = numpy.flatnonzero(~done)
    if rest.size:
        values[rest] = rule(numpy.full(rest.size, sa * sa), numpy.full(rest.size, sb * sb), rho[rest] * (sa * sb))
    table = None
    if numpy.isfinite(values).all():
        nodes = values[:theta.size].reshape(theta.shape)
        # coefficients by the discrete cosine transform at the Chebyshev points
        k = numpy.arange(_H_DEGREE + 1)
        basis = numpy.cos(numpy.pi * k[:, None] * (k[None, :] + 0.5) / (_H_DEGREE + 1))
        coef = nodes @ basis.T * (2.0 / (_H_DEGREE + 1))
        coef[:, 0] /= 2
        at_mids = _chebyshev_cells(coef, numpy.arange(_H_CELLS), numpy.zeros(_H_CELLS))
        scale = numpy.max(numpy.abs(values))
        if numpy.all(numpy.abs(at_mids - values[theta.size:]) <= HERMITE_TABLE_TOL * scale):
            table = coef
    _H_TABLES[key] = table
    return table


def _chebyshev_cells(coef, cell, t):
    """sum_k coef[cell, k] T_k(t) by Clenshaw's recurrence."""
    b1, b2 = numpy.zeros(t.shape), numpy.zeros(t.shape)
    for k in range(coef.shape[1] - 1, 0, -1):
        b1, b2 = coef[cell, k] + 2 * t * b1 - b2, b1
    return coef[cell, 0] + t * b1 - b2


def _hermite_theta(coef, rho):
    """A table's values at correlations rho (flat)."""
    x = numpy.arccos(rho) * (_H_CELLS / numpy.pi)
    cell = numpy.minimum(x.astype(numpy.intp), _H_CELLS - 1)
    return _chebyshev_cells(coef, cell, 2 * (x - cell) - 1)


def _one_value(s):
    """Whether the positive values s agree to 8 ulps (one variance, rounded differently)."""
    return s[0] > 0 and s[-1] <= s[0] * (1 + 8 * numpy.finfo(float).eps)


def _hermite_mean(pair, a, b, c, rule, swapped=False):
    """E[f(u) g(v)] over N(0, [[a, c], [c, b]]) by Mehler's expansion, the product rule or a
    table in theta (see the module docstring), else ``rule(a, b, c)`` on the remaining entries
    (flat arrays); ``pair`` = (f, width of f, f smooth, g, width of g, g smooth); ``swapped``:
    u has variance b and v variance a (the rule still takes (a, b, c))."""
    a, b, c = (numpy.asarray(v, dtype=float) for v in (a, b, c))
    shape = numpy.broadcast_shapes(a.shape, b.shape, c.shape)
    if swapped:
        return _hermite_mean(pair, b, a, c, lambda b, a, c: rule(a, b, c))
    ua, ia = numpy.unique(a.reshape(-1), return_inverse=True)
    ub, ib = numpy.unique(b.reshape(-1), return_inverse=True)
    ia = numpy.broadcast_to(ia.reshape(a.shape), shape).reshape(-1)
    ib = numpy.broadcast_to(ib.reshape(b.shape), shape).reshape(-1)
    sa, sb = numpy.sqrt(ua), numpy.sqrt(ub)
    with numpy.errstate(invalid="ignore", divide="ignore"):
        rho = numpy.clip(numpy.broadcast_to(c, shape).reshape(-1) / (sa[ia] * sb[ib]), -1.0, 1.0)
    table = None
    if rho.size >= HERMITE_TABLE_MIN and _one_value(sa) and _one_value(sb) and numpy.isfinite(rho).all():
        table = _hermite_table(pair, sa[0], sb[0], rule)
    if table is not None:
        out, done = _hermite_theta(table, rho), numpy.ones(rho.size, dtype=bool)
    else:
        out, done = _hermite_values(pair, sa, sb, rho, ia, ib)
    rest = numpy.flatnonzero(~done)
    if rest.size:
        flat = [numpy.broadcast_to(v, shape).reshape(-1)[rest] for v in (a, b, c)]
        out[rest] = rule(*flat)
    return out.reshape(shape)
