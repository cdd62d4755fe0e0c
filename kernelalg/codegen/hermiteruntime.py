"""Mehler's expansion of a 2-D Gaussian mean (source copied into generated modules).

For (u, v) ~ N(0, [[a, c], [c, b]]), rho = c / sqrt(ab) and the orthonormal Hermite functions
h_n = He_n / sqrt(n!) (h_0 = 1, h_1 = z, h_{n+1} = (z h_n - sqrt(n) h_{n-1}) / sqrt(n + 1)),

    E[f(u) g(v)] = sum_n rho^n alpha_n(a) beta_n(b),
    alpha_n(a) = E[f(sqrt(a) Z) h_n(Z)],  beta_n(b) = E[g(sqrt(b) Z) h_n(Z)],  Z ~ N(0, 1).

The coefficients are means of one variable, computed once per distinct variance (composite
Gauss-Legendre in z on [-13, 13], graded toward 0) and kept for the next calls.  Where the
generator proved a parity, f(-x) = +-f(x), only the coefficients of that parity are not 0: they
are computed from f on the positive nodes alone, and only those terms are summed, with the tails
A_N, B_N below taken over those terms.  The tail after
term N splits into the terms up to the last coefficient K - 1 and those beyond; by
Cauchy-Schwarz on each part it is at most

    |rho|^(N+1) A_N B_N + |rho|^K sqrt(R_f R_g),
    A_N^2 = sum_{N<m<K} alpha_m^2,  R_f = E[(f(sqrt(a) Z) - sum_{m<K} alpha_m h_m(Z))^2],

R_f measured on the coefficients' nodes as a mean of squares, without the cancellation of
Parseval's E[f^2] - sum alpha_m^2 (which must agree with it: rows that break Parseval's identity
are not used), and taken at least (16 eps)^2 E[f^2].
An entry is summed until that bound is below HERMITE_TOL of the partial sum (or of
HERMITE_FLOOR sqrt(E[f^2] E[g^2]) where the mean nearly vanishes), tested after every fourth of
the first HERMITE_CHECKED terms and after each term beyond; entries that do not reach it
within the K = HERMITE_TERMS coefficients (slowly decaying coefficients at |rho| near 1) are
summed again with K = HERMITE_LONG, computed for their variances only; those that still do not
are evaluated by a product rule where one of f, g is smooth (no breakpoints): for smooth f,

    E[f(u) g(v)] = E_Z1[ g(sqrt(b) Z1) E_Z2[ f(sqrt(a) (rho Z1 + sqrt(1 - rho^2) Z2)) ] ],

Z1 on the graded nodes above, Z2 by Gauss-Hermite (32 nodes, accepted where 48 change the value by
at most HERMITE_TOL of it; else 192 against 256: HERMITE_INNER); at |rho| = 1 (to 4 ulps) it is the mean of
one variable E[f(sqrt(a) Z) g(+-sqrt(b) Z)] (kept per variances: every call meets the
diagonal of its kernel again).  What remains is left to the caller's
quadrature rule.  A call with one variance pair (a, b) (to 8 ulps) and many entries (points on a sphere)
interpolates a table instead: piecewise Chebyshev in the angle theta = acos(rho) on [0, pi]
(the map is smooth in theta also where a kink makes it singular in rho at |rho| = 1), its node
values from the evaluation above (the caller's rule for the rest), accepted where the interpolant agrees with the map at the
cells' midpoints to HERMITE_TABLE_TOL; tables are kept per (pair, a, b) for the next calls.
Depends on numpy only.
"""

import threading

import numpy

COPIED_FROM = "# --- copied into generated modules from here ---\n"
# --- copied into generated modules from here ---

HERMITE_TERMS = 256  # coefficients alpha_0 .. alpha_255 for every entry
HERMITE_LONG = 1024  # ... and this many for the entries whose sum has not converged by then
HERMITE_TOL = 2.0**-47  # accepted truncation bound, relative to the partial sum (7e-15)
HERMITE_FLOOR = 1e-18  # ... or to this fraction of sqrt(E[f^2] E[g^2]) where the mean nearly vanishes
HERMITE_CHECKED = 32  # the bound is tested after every fourth of the first this many terms, then after each
_H_WINDOW = 13.0  # |h_n(z)| exp(-z^2/4) <= 1.09 for all n, and exp(-13^2/4) = 4e-19
_H_PANEL = 0.5  # base panels in z for K = 256 terms: 12 Gauss-Legendre nodes resolve h_n
# (wavelength 2 pi / sqrt(2n)) to n ~ 400; the panels shrink as 1 / sqrt(K) for more terms
_H_GL_NODES, _H_GL_WEIGHTS = numpy.polynomial.legendre.leggauss(12)
HERMITE_INNER = ((32, 48), (192, 256))  # Gauss-Hermite nodes of the product rule's inner mean, checked
# against the second count; the second pair for the entries that the first does not resolve
HERMITE_TABLE_MIN = 2000  # entries of one variance pair from which a table in theta is used
HERMITE_TABLE_TOL = 2.0**-44  # accepted interpolation error of a table, relative to the map's scale (6e-14)
_H_CELLS, _H_DEGREE = 48, 15  # table cells in theta and Chebyshev degree per cell
HERMITE_CACHE_SIZE = 2**21  # coefficients kept per function and number of terms (48 MB with the two tails)
_H_TABLES = {}  # (pair id, a, b) -> table, or None where none was accepted
_H_COEFFICIENTS = {}  # (side, terms) -> rows filled, (sd bits sorted, their rows), coefficients, tails, roots of R and E[f^2]
HERMITE_EDGE_CACHE = 2**16  # means at rho = +-1 kept per pair
_H_EDGES = {}  # pair -> {(sa bits, sb bits): E[f(sa Z) g(sb Z)]}
_H_NODES = {}  # (grading depth, terms) -> positive nodes, weights, even and odd h_n at the nodes
_H_LOCK = threading.Lock()


def _hermite_depth(scale):
    """Halvings of the 0.5 panels toward 0 that resolve a feature of width ``scale`` in z (the
    finest panel at most scale / 8, and at least 1e-12)."""
    finest = numpy.maximum(numpy.asarray(scale, dtype=float) / 8, 1e-12)
    with numpy.errstate(invalid="ignore"):
        depth = numpy.ceil(numpy.log2(_H_PANEL / finest))
    return numpy.where(depth > 0, depth, 0).astype(int)  # 0 also for a NaN scale


def _hermite_nodes(depth, terms=HERMITE_TERMS):
    """The positive nodes z and their weights w of E[h(Z)] = sum_k w_k (h(z_k) + h(-z_k)),
    Z ~ N(0, 1), and h_n(z) for the even and the odd n < terms, as (len(z), terms / 2) arrays:
    composite 12-point Gauss-Legendre on [0, 13] over panels of 0.5 sqrt(256 / terms), the one
    next to 0 halved ``depth`` times, mirrored to [-13, 0] (kept per depth and terms)."""
    found = _H_NODES.get((depth, terms))
    if found is None:
        panel = _H_PANEL * numpy.sqrt(HERMITE_TERMS / terms)
        edges = numpy.linspace(0.0, _H_WINDOW, int(round(_H_WINDOW / panel)) + 1)
        edges = numpy.union1d(edges, panel * 2.0 ** -numpy.arange(1, depth + 1))
        half, mid = numpy.diff(edges) / 2, (edges[1:] + edges[:-1]) / 2
        z = (mid[:, None] + half[:, None] * _H_GL_NODES).reshape(-1)
        w = (half[:, None] * _H_GL_WEIGHTS).reshape(-1) * numpy.exp(-z * z / 2) / numpy.sqrt(2 * numpy.pi)
        h = _hermite_functions(z, terms)
        found = _H_NODES[(depth, terms)] = (z, w, numpy.ascontiguousarray(h[:, 0::2]), numpy.ascontiguousarray(h[:, 1::2]))
    return found


def _hermite_rule(depth):
    """Nodes and weights of E[h(Z)] on both sides of 0 (_hermite_nodes mirrored), for means of one variable."""
    z, w = _hermite_nodes(depth)[:2]
    return numpy.concatenate([-z[::-1], z]), numpy.concatenate([w[::-1], w])


def _hermite_functions(z, terms):
    """h_n(z) for n < terms (orthonormal under N(0, 1)), as a (len(z), terms) array."""
    h = numpy.empty((terms, z.size))  # one contiguous row per n while recurring
    h[0] = 1.0
    if terms > 1:
        h[1] = z
    for n in range(1, terms - 1):
        h[n + 1] = (z * h[n] - numpy.sqrt(n) * h[n - 1]) / numpy.sqrt(n + 1)
    return h.T


def _hermite_coefficients(side, sd, terms=HERMITE_TERMS):
    """(alpha, tail, tail_class, root_r, root_e, rows): the arrays of _hermite_coefficients_of(side, .,
    terms) kept for the next calls (the columns of the next block of rows, the rows of a
    symmetric kernel), and the row of each sd (> 0) in them.  Rows are computed once per value,
    outside the lock (threads compute the rows of their own values at the same time), and added
    under it (_hermite_stored); a store is never changed where a reader can see it, so reading
    needs no lock.  At most HERMITE_CACHE_SIZE coefficients are kept per function and number
    of terms."""
    keys = numpy.ascontiguousarray(sd, dtype=float).view(numpy.int64)  # bit patterns: a NaN finds itself
    store = seen = _H_COEFFICIENTS.get((side, terms))
    distinct = numpy.unique(keys)
    missing = distinct if seen is None else distinct[_hermite_rows(seen[1], distinct) < 0]
    if missing.size:
        new = _hermite_coefficients_of(side, missing.view(float), terms)
        with _H_LOCK:
            store = _H_COEFFICIENTS[(side, terms)] = _hermite_stored(_H_COEFFICIENTS.get((side, terms)), seen,
                                                                     distinct, missing, new, terms)
    return (*store[2:], _hermite_rows(store[1], keys))


def _hermite_rows(index, keys):
    """The rows of ``keys`` in a store's index (its keys sorted, their rows), -1 where absent."""
    sorted_keys, rows = index
    if sorted_keys.size == 0:
        return numpy.full(keys.shape, -1, dtype=numpy.intp)
    at = numpy.minimum(numpy.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return numpy.where(sorted_keys[at] == keys, rows[at], -1)


def _hermite_stored(store, seen, distinct, missing, new, terms):
    """A store (rows filled, index: sd bits sorted and their rows, arrays) with the rows of the
    call's values ``distinct`` (sorted): the current ``store`` and the rows it lacks, those of
    ``missing`` from ``new``, the others from ``seen`` (the store the call read: another thread
    may have started the store again since); where they do not fit in HERMITE_CACHE_SIZE, a
    store of the call's values alone.  Rows are written beyond those filled, into arrays that
    only grow (replaced when full), and the index is new: an older store reads what it always did."""
    none = (numpy.empty(0, dtype=numpy.int64), numpy.empty(0, dtype=numpy.intp))
    filled, index, arrays = (0, none, None) if store is None else (store[0], store[1], store[2:])
    add = distinct[_hermite_rows(index, distinct) < 0]
    if filled and (filled + add.size) * terms > HERMITE_CACHE_SIZE:
        filled, index, arrays, add = 0, none, None, distinct
    computed = numpy.isin(add, missing)
    fresh, kept = add[computed], add[~computed]
    if fresh.size == missing.size and not kept.size:  # no other thread added rows since: the new rows as they are
        values = new
    else:
        parts = [tuple(v[numpy.searchsorted(missing, fresh)] for v in new)]
        if kept.size:
            parts.append(tuple(v[_hermite_rows(seen[1], kept)] for v in seen[2:]))
        values = tuple(numpy.concatenate(p) for p in zip(*parts))
    if arrays is None or filled + add.size > arrays[0].shape[0]:
        size = max(min(2 * (filled + add.size), HERMITE_CACHE_SIZE // terms), filled + add.size, 64)
        grown = tuple(numpy.empty((size,) + v.shape[1:]) for v in values)
        for old, to in zip(arrays or (), grown):
            to[:filled] = old[:filled]
        arrays = grown
    for v, to in zip(values, arrays):
        to[filled:filled + add.size] = v
    keys = numpy.concatenate([index[0], fresh, kept])
    order = numpy.argsort(keys, kind="stable")
    rows = numpy.concatenate([index[1], filled + numpy.arange(add.size)])
    return (filled + add.size, (keys[order], rows[order]), *arrays)


def _hermite_coefficients_of(side, sd, terms):
    """Coefficients alpha[k, n] = E[fn(sd_k Z) h_n(Z)] (n < terms), their tails tail[k, n] = the root of
    sum_{n<m<K} alpha[k, m]^2 and tail_class[k, n], the same over the m of n's parity only, and
    the roots of the residual R and of E[fn(sd_k Z)^2] for each sd_k > 0; rows whose coefficients
    are not finite or break Parseval's identity get infinite tails.
    side = (fn, width, smooth, parity): ``width`` the smallest feature width of fn (its x
    scale), graded toward 0 by sd_k's own depth (so each row does not depend on the others);
    ``parity`` 1 or -1 where fn(-x) = fn(x) or -fn(x), else 0.  With f+- = fn(+-sd z) on the
    positive nodes, h_n(-z) = (-1)^n h_n(z) gives alpha_n = sum w h_n(z) (f+ + (-1)^n f-): the
    even and the odd coefficients from half of the nodes each (one of them 0 with a parity)."""
    fn, width, _, parity = side
    depth = _hermite_depth(width / sd)
    alpha, energy, residual = numpy.zeros((sd.size, terms)), numpy.empty(sd.size), numpy.empty(sd.size)
    with numpy.errstate(all="ignore"):
        for d in numpy.unique(depth):
            rows = depth == d
            z, w, h_even, h_odd = _hermite_nodes(int(d), terms)
            plus = fn(sd[rows][:, None] * z[None, :])
            if parity:  # f- = parity f+: one parity's coefficients, from f+ on the weights 2 w
                h, w2 = (h_even if parity == 1 else h_odd), 2 * w
                alpha[rows, (1 - parity) // 2::2] = coefficients = (plus * w2) @ h
                rest = plus - coefficients @ h.T  # fn less its expansion
                energy[rows], residual[rows] = (plus * plus) @ w2, (rest * rest) @ w2
                continue
            minus = fn(-sd[rows][:, None] * z[None, :])
            alpha[rows, 0::2] = ((plus + minus) * w) @ h_even
            even = alpha[rows, 0::2] @ h_even.T  # the expansion's even and odd parts at the positive nodes
            alpha[rows, 1::2] = ((plus - minus) * w) @ h_odd
            odd = alpha[rows, 1::2] @ h_odd.T
            energy[rows] = (plus * plus + minus * minus) @ w
            rest_plus, rest_minus = plus - even - odd, minus - even + odd  # fn less its expansion
            residual[rows] = (rest_plus * rest_plus + rest_minus * rest_minus) @ w
        tail, tail_class, total = _hermite_tails(alpha)
        parseval = energy - total
        bad = ~numpy.isfinite(parseval) | ~numpy.isfinite(residual) | (parseval < -1e-12 * energy)
        root_r = numpy.sqrt(numpy.maximum(residual, (16 * numpy.finfo(float).eps) ** 2 * energy))
    tail[bad] = tail_class[bad] = numpy.inf
    return alpha, tail, tail_class, root_r, numpy.sqrt(energy)


def _hermite_tails(alpha):
    """(tail, tail_class, total) of coefficient rows alpha: tail[k, n] the root of sum_{m>n}
    alpha[k, m]^2, tail_class[k, n] the same over the m > n of n's parity, total[k] =
    sum_m alpha[k, m]^2; each sum accumulated from the last term down."""
    square = alpha * alpha
    suffix = numpy.cumsum(square[:, ::-1], axis=1)[:, ::-1]  # sum over m >= n
    total = suffix[:, 0].copy()
    tail, tail_class = numpy.zeros(alpha.shape), numpy.zeros(alpha.shape)
    tail[:, :-1] = numpy.sqrt(suffix[:, 1:])
    for start in (0, 1):  # sum over m >= n of n's parity, then over m > n
        suffix[:, start::2] = numpy.cumsum(square[:, start::2][:, ::-1], axis=1)[:, ::-1]
    tail_class[:, :-2] = numpy.sqrt(suffix[:, 2:])
    return tail, tail_class, total


def _hermite_power(x, k):
    """x^k for an integer k >= 1 by repeated squaring (the same operations on arrays and scalars)."""
    result = x
    k -= 1
    while k:
        if k & 1:
            result = result * x
        x = x * x
        k >>= 1
    return result


def _hermite_sum(side_a, side_b, ia, ib, rho, first=0, step=1):
    """Partial sums s = sum_{n<=N} rho^n alpha[i, n] beta[j, n] of the flat entries (i =
    rows_a[ia], j = rows_b[ib]; side = (alpha, tail, root_r, root_e, rows) of
    _hermite_coefficients, with the tail over all terms or over one parity's), over n = first,
    first + step, ... (step 2 where the parities of the functions leave only the even or only the
    odd terms), each stopped at the first N with

        |rho|^(N+1) tail_a[i, N] tail_b[j, N] + |rho|^K sqrt(R_a[i]) sqrt(R_b[j])
            <= HERMITE_TOL max(|s|, HERMITE_FLOOR sqrt(E_a[i]) sqrt(E_b[j]))

    among the N tested: of the first HERMITE_CHECKED terms every fourth (the 4th, 8th, ...),
    then every term (a sum that stops early stops up to three terms later, with a smaller
    bound); returns (s, done), done False where no N met the bound."""
    alpha, tail_a, root_ra, root_ea, rows_a = side_a
    beta, tail_b, root_rb, root_eb, rows_b = side_b
    i, j = rows_a[ia], rows_b[ib]
    with numpy.errstate(invalid="ignore", under="ignore"):
        far = _hermite_power(numpy.abs(rho), alpha.shape[1]) * (root_ra[i] * root_rb[j])
        fl = HERMITE_FLOOR * (root_ea[i] * root_eb[j])
    out = numpy.zeros(rho.size)
    done = numpy.zeros(rho.size, dtype=bool)
    active = numpy.arange(rho.size)
    s, r = numpy.zeros(rho.size), rho
    rr = r * r if step == 2 else r  # rho^step: one product per term on the powers' chain
    power = numpy.ones(rho.size) if first == 0 else rho.copy()
    with numpy.errstate(invalid="ignore"):  # rows with infinite tails: inf * 0 = NaN never meets the bound
        for term, n in enumerate(range(first, alpha.shape[1], step)):
            s += alpha[i, n] * beta[j, n] * power
            if term < HERMITE_CHECKED and term % 4 != 3:
                power *= rr
                continue
            bound = numpy.abs(power * r) * (tail_a[i, n] * tail_b[j, n]) + far
            power *= rr
            stop = bound <= HERMITE_TOL * numpy.maximum(numpy.abs(s), fl)
            if stop.any():
                out[active[stop]] = s[stop]
                done[active[stop]] = True
                keep = ~stop
                active, s, power, i, j, r, rr, far, fl = (v[keep] for v in (active, s, power, i, j, r, rr, far, fl))
                if active.size == 0:
                    break
    return out, done


_H_INNER_RULES = {n: numpy.polynomial.hermite_e.hermegauss(n) for pair in HERMITE_INNER for n in pair}


def _hermite_inner(fn, mean, sd, nodes):
    """E[fn(mean + sd Z)], Z ~ N(0, 1), by Gauss-Hermite with ``nodes`` nodes (mean: (n, m), sd: (n, 1))."""
    z, w = _H_INNER_RULES[nodes]
    values = fn(mean[..., None] + sd[..., None] * z)
    return values @ (w / numpy.sqrt(2 * numpy.pi))


def _hermite_product(pair, sa, sb, rho):
    """The product rule (see the module docstring) on flat entries; (values, done).  The outer
    nodes must resolve g(sb Z1) and the inner mean, which is f at sa rho Z1 smoothed over
    sa sqrt(1 - rho^2): each entry is summed on the graded nodes of its own depth, and accepted
    where more inner nodes and the outer panels halved once more toward 0 both change its value
    by at most HERMITE_TOL of it.  The inner mean takes the first node counts of HERMITE_INNER,
    and the second for the entries that these do not resolve (f varies on a scale not much wider
    than the inner spread: the Gauss-Hermite error of an f analytic in a strip falls only as
    exp(-c sqrt(nodes)))."""
    (f, f_width, f_smooth, _), (g, g_width, g_smooth, _) = pair
    out, done = numpy.zeros(rho.size), numpy.zeros(rho.size, dtype=bool)
    if not (f_smooth or g_smooth):
        return out, done
    if not f_smooth:  # the smooth side inside: E[g(v) E[f(u) | v]] read the other way round
        f, f_width, g, g_width, sa, sb = g, g_width, f, f_width, sb, sa
    with numpy.errstate(all="ignore"):
        spread = numpy.sqrt(numpy.maximum(1.0 - rho * rho, 0.0))
        inner = numpy.maximum(f_width, sa * spread) / (sa * numpy.abs(rho))  # its width in Z1
        depth = _hermite_depth(numpy.minimum(g_width / sb, inner))
        for nodes, more in HERMITE_INNER:
            todo = numpy.flatnonzero(~done)
            chunk = max(64 * 48 // more, 1)  # entries at a time: (chunk, outer nodes, inner nodes) values
            for d in numpy.unique(depth[todo]):
                rows = todo[depth[todo] == d]
                for start in range(0, rows.size, chunk):
                    part = rows[start:start + chunk]
                    at = (f, g, sa[part], sb[part], rho[part], spread[part])
                    coarse = _hermite_outer(*at, int(d), nodes)[0]
                    fine, scale = _hermite_outer(*at, int(d), more)
                    finer = _hermite_outer(*at, int(d) + 1, more)[0]
                    limit = HERMITE_TOL * numpy.maximum(numpy.abs(finer), HERMITE_FLOOR * scale)
                    out[part] = finer
                    done[part] = numpy.isfinite(finer) & (numpy.abs(fine - coarse) <= limit) & (
                        numpy.abs(finer - fine) <= limit)
    return out, done


def _hermite_outer(f, g, sa, sb, rho, spread, depth, nodes):
    """E_Z1[g(sb Z1) E_Z2[f(sa (rho Z1 + spread Z2))]] on the graded nodes of ``depth`` (Z1) and
    ``nodes`` Gauss-Hermite nodes (Z2); (values, sums of the absolute terms: the scale where the
    mean nearly vanishes by cancellation)."""
    z, w = _hermite_rule(depth)
    terms = g(sb[:, None] * z[None, :]) * w * _hermite_inner(f, (sa * rho)[:, None] * z[None, :], (sa * spread)[:, None],
                                                             nodes)
    return numpy.sum(terms, axis=1), numpy.sum(numpy.abs(terms), axis=1)


def _hermite_series(pair, sa, sb, rho, ia, ib, terms):
    """The series with ``terms`` coefficients at flat entries (see _hermite_values); (values, done).
    Where f or g has a parity, only the terms n of that parity are not 0: they are summed, with
    the tails over those n alone."""
    parity = pair[0][3] or pair[1][3]
    first, step, tail = (0 if parity == 1 else 1, 2, 2) if parity else (0, 1, 1)
    sides = [_hermite_coefficients(side, sd, terms) for side, sd in ((pair[0], sa), (pair[1], sb))]
    return _hermite_sum(*((v[0], v[tail], *v[3:]) for v in sides), ia, ib, rho, first, step)


def _hermite_values(pair, sa, sb, rho, ia=None, ib=None):
    """The map at flat entries: standard deviations sa[ia], sb[ib] (ia, ib: indices into the
    distinct values; None: one per entry) and correlations rho; (values, done)."""
    ia = numpy.arange(rho.size) if ia is None else ia
    ib = numpy.arange(rho.size) if ib is None else ib
    out, done = _hermite_series(pair, sa, sb, rho, ia, ib, HERMITE_TERMS)
    pending = numpy.flatnonzero(~done)  # (few: the rest below only looks at these)
    on_edge = numpy.abs(rho[pending]) >= 1 - 4 * numpy.finfo(float).eps
    longer = pending[~on_edge]
    if longer.size:  # more terms, for the variances of these entries only
        ua, ja = numpy.unique(ia[longer], return_inverse=True)
        ub, jb = numpy.unique(ib[longer], return_inverse=True)
        out[longer], done[longer] = _hermite_series(pair, sa[ua], sb[ub], rho[longer], ja, jb, HERMITE_LONG)
    edge = pending[on_edge]
    if edge.size:  # v = +-sqrt(b / a) u: a mean of one variable (rho within 4 ulps: c = a = b rounded)
        out[edge] = _hermite_edge(pair, sa[ia[edge]], numpy.sign(rho[edge]) * sb[ib[edge]])
        done[edge] = numpy.isfinite(out[edge])
    rest = pending[~done[pending]]
    if rest.size:
        out[rest], done[rest] = _hermite_product(pair, sa[ia[rest]], sb[ib[rest]], rho[rest])
    return out, done


def _hermite_edge(pair, sa, sb):
    """E[f(sa Z) g(sb Z)] (sb signed: rho = +-1) for each entry, on the nodes of its own grading
    depth, kept per (pair, sa, sb) for the next calls (every call meets the diagonal again)."""
    (f, f_width, _, f_parity), (g, g_width, _, g_parity) = pair
    kept = _H_EDGES.setdefault(pair, {})
    keys = list(zip(sa.view(numpy.int64).tolist(), sb.view(numpy.int64).tolist()))
    out = numpy.array([kept.get(key, numpy.nan) for key in keys])
    new = numpy.flatnonzero(numpy.isnan(out))
    if new.size:
        with numpy.errstate(all="ignore"):
            depth = _hermite_depth(numpy.minimum(f_width / sa[new], g_width / numpy.abs(sb[new])))
            for d in numpy.unique(depth):
                rows = new[depth == d]
                z, w = _hermite_nodes(int(d))[:2]
                x, y = sa[rows][:, None] * z, sb[rows][:, None] * z
                same = g is f and numpy.array_equal(x, y)  # E[f(u)^2] (an NNGP's diagonal): f once
                if f_parity and g_parity:  # f(-x) g(-y) = f(x) g(y) f_parity g_parity
                    fx = f(x)
                    values = (1 + f_parity * g_parity) * (fx * (fx if same else g(y)))
                else:
                    fx, fm = f(x), f(-x)
                    values = fx * (fx if same else g(y)) + fm * (fm if same else g(-y))
                out[rows] = values @ w
        if len(kept) + new.size > HERMITE_EDGE_CACHE:
            kept.clear()
        kept.update(zip([keys[k] for k in new], out[new].tolist()))
    return out


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
    low = numpy.min(s)
    return low > 0 and numpy.max(s) <= low * (1 + 8 * numpy.finfo(float).eps)


def _distinct(v):
    """The distinct values of v in the order of their first appearance, and the index of each
    entry's value among them: a sum then reads the coefficients of a call's points in the
    points' order (consecutive columns of a block read consecutive rows)."""
    values, first, inverse = numpy.unique(v, return_index=True, return_inverse=True)
    order = numpy.argsort(first)
    rank = numpy.empty_like(order)
    rank[order] = numpy.arange(order.size)
    return values[order], rank[inverse.reshape(-1)]


def _hermite_mean(pair, a, b, c, rule, swapped=False):
    """E[f(u) g(v)] over N(0, [[a, c], [c, b]]) by Mehler's expansion, the product rule or a
    table in theta (see the module docstring), else ``rule(a, b, c)`` on the remaining entries
    (flat arrays); ``pair`` = ((f, width of f, f smooth, parity of f), (g, ...)); ``swapped``:
    u has variance b and v variance a (the rule still takes (a, b, c))."""
    a, b, c = (numpy.asarray(v, dtype=float) for v in (a, b, c))
    shape = numpy.broadcast_shapes(a.shape, b.shape, c.shape)
    if swapped:
        return _hermite_mean(pair, b, a, c, lambda b, a, c: rule(a, b, c))
    ua, ia = _distinct(a.reshape(-1))
    ub, ib = _distinct(b.reshape(-1))
    sa, sb = numpy.sqrt(ua), numpy.sqrt(ub)
    with numpy.errstate(invalid="ignore", divide="ignore"):  # sa[ia] sb[ib] by broadcasting: no gathers of every entry
        rho = numpy.clip(c / (sa[ia].reshape(a.shape) * sb[ib].reshape(b.shape)), -1.0, 1.0)
    rho = numpy.broadcast_to(rho, shape).reshape(-1)
    ia = numpy.broadcast_to(ia.reshape(a.shape), shape).reshape(-1)
    ib = numpy.broadcast_to(ib.reshape(b.shape), shape).reshape(-1)
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
