"""Kernel entries of nearly parallel or antipodal input pairs: settled on the edge or recomputed exactly.

Near the edge of the covariance cone, |rho| = |c|/sqrt(ab) -> 1, float64 loses the gap
ab - c^2 = ab (1 - rho^2): rounding c (and the input products it is summed from) moves 1 - |rho|
by about 1e-16, so a map with a square-root corner there (sign's arcsine, the angle of relu's
derivative map) is off by about 1e-16 / sqrt(1 - |rho|), and a pair at angle pi - 1e-9
(1 + rho = 5e-19) has no correct digit of the gap at all.  The chain flags the entries whose
covariance comes within GAP of the edge at some layer (:func:`flag`).  At the first layer the
pairs that lie on the edge (repeated or mirrored inputs; for Lipschitz activations also pairs
within 1e-30 of it) are put on it exactly and need nothing more (:func:`settle`).  The others
are recomputed (:func:`recompute`):

    S1 = sw^2 <x, y>/n0 + sb^2      from the exact products of the float64 inputs,
    S(l+1), I(l+1), T(l+1)          the recursion of :mod:`kernelalg.numeric.chain`,

in mpmath with each layer's derived closed form (:func:`kernelalg.numeric.widerange.value`,
which also takes the limit on the edge itself), then rounded to float64: about 4 ms per entry.
An output is recomputed only where every map it needs is a closed form (the NNGP: nngp; the
SG-NTK: nngp and sg; the NTK: nngp and ntk); otherwise its float64 value stands.
"""

from __future__ import annotations

from collections.abc import Sequence

import mpmath
import numpy as np

from kernelalg.numeric import widerange

#: 1 - |rho| below which an entry is settled or recomputed.  Above it float64 was measured within
#: 4e-14 of the exact kernel for erf and relu, and within 7e-13 for sign at depth 2 (2.4e-12 at
#: depth 3), whose arcsine corners amplify the rounding of the input products layer after layer.
GAP = 2.0**-22
#: The variances S_l(x, x) lie on the edge: their maps are the formula there where it is finite,
#: else taken at |c| = sqrt(ab) (1 - 10^-(_EDGE + 2 D)), where a square-root corner moves by
#: 10^-(_EDGE/2 + D), far below the smallest gap 1 - |rho| of the next layer that distinct
#: float64 inputs can produce (about 1e-32 at the first layer).
_EDGE = 120
#: The pairs themselves are off the edge (or on it with unequal variances, such as x and 3x): their
#: maps at 10^-(_PAIR_EDGE + 2 D), a corner moved by 1e-20, at fewer digits.
_PAIR_EDGE = 40
SETTLED = 1e-30  # exact 1 - rho^2 below which a pair of equal variances is put on the edge (Lipschitz phi)
_SPLIT = 134217729.0  # 2^27 + 1: Dekker's splitting constant
_NEEDS = {"nngp": ("nngp",), "sgntk": ("nngp", "sg"), "ntk": ("nngp", "ntk")}


def flag(a: np.ndarray, b: np.ndarray, c: np.ndarray, settled: np.ndarray, out: np.ndarray) -> bool:
    """out |= the entries of the block (n x m, variances a: n x 1, b: 1 x m) within GAP of the
    edge, rho^2 > (1 - GAP)^2, except ``settled`` pairs that float64 keeps on the edge (c^2 >= ab
    to a few ulps: the layers carry the edge pair along, as they carry the diagonal); whether
    any entry was."""
    from kernelalg.numeric.compiled import loops  # Numba: loaded with the generated maps

    return bool(loops.near_edge(a, b, c, settled, out, (1 - GAP) ** 2, 1 - 4 * np.finfo(float).eps))


def settle(X: np.ndarray, Y: np.ndarray, w: float, beta: float, a: np.ndarray, b: np.ndarray, c: np.ndarray,
           near: np.ndarray, settled: np.ndarray, lipschitz: bool) -> None:
    """Put the flagged first-layer pairs that lie on the edge onto it exactly and mark them in ``settled``.

    ``near``: the entries of the block S1 = w <x_i, y_j> + beta (``c``, with the row and column
    variances ``a``, ``b``) within GAP of the edge.  Repeated rows (x = y), and mirrored rows
    (x = -y, beta = 0), are on it.  With ``lipschitz`` activations (E[phi'^2] finite, so a layer
    moves a gap 1 - rho^2 in proportion to it) so is a pair whose exact gap, computed in
    double-double arithmetic (error about 1e-31, :func:`relative_gaps`), is
    below SETTLED and whose variances agree to a few ulps: any map value moves by at most
    sqrt(SETTLED) = 1e-15 relative.  A jump activation turns a gap g into about sqrt(g) at each
    layer (g = 1e-32 is 1e-8 after two layers), so there only exact repeats and mirrors are
    settled.  Settled entries get c = +-sqrt(ab); the other flagged ones are recomputed."""
    i, j = np.unravel_index(np.flatnonzero(near), near.shape)  # flat indices: much cheaper than 2-D nonzero
    ai, bj = np.broadcast_to(a, c.shape)[i, j], np.broadcast_to(b, c.shape)[i, j]
    on_edge = np.all(X[i] == Y[j], axis=1)
    if beta == 0:
        on_edge |= np.all(X[i] == -Y[j], axis=1)
    if lipschitz:
        close = ~on_edge & (np.abs(ai - bj) <= 4 * np.spacing(np.maximum(ai, bj)))
        wide = widerange.outside(ai, bj)  # products of inputs there may leave the double-double range
        if wide is not None:
            close &= ~wide
        k = np.flatnonzero(close)
        if k.size:
            on_edge[k] = relative_gaps(X[i[k]], Y[j[k]], w, beta) < SETTLED
    i, j = i[on_edge], j[on_edge]
    settled[i, j] = True
    c[i, j] = np.copysign(np.sqrt(ai[on_edge]) * np.sqrt(bj[on_edge]), c[i, j])


def relative_gaps(X: np.ndarray, Y: np.ndarray, w: float, beta: float) -> np.ndarray:
    """(ab - c^2)/(ab) of S1 = w <x, y> + beta at the pairs (X[k], Y[k]), in double-double arithmetic.

    a = S1(x, x), b = S1(y, y) and c = S1(x, y) are accumulated as unevaluated sums hi + lo of
    float64 numbers (Dekker's exact products, Knuth's exact sums), and ab - c^2 is formed the
    same way: the result carries an error of about 1e-31 where float64 keeps none of its digits.
    NaN or inf where the products leave the float64 range (|x|^2 beyond about 1e290)."""
    with np.errstate(all="ignore"):
        a, b, c = (_dot(p, q, w, beta) for p, q in ((X, X), (Y, Y), (X, Y)))
        p, q = _mul(*a, *b), _mul(*c, *c)
        g, r = _two_sum(p[0], -q[0])
        return (g + (r + (p[1] - q[1]))) / p[0]


def _two_sum(p, q):
    s = p + q
    r = s - p
    return s, (p - (s - r)) + (q - r)


def _two_prod(p, q):
    x = p * q
    ph, qh = (_SPLIT * v - (_SPLIT * v - v) for v in (p, q))
    pl, ql = p - ph, q - qh
    return x, ((ph * qh - x) + ph * ql + pl * qh) + pl * ql


def _mul(xh, xl, yh, yl):
    p, e = _two_prod(xh, yh)
    return _two_sum(p, e + (xh * yl + xl * yh))


def _dot(X: np.ndarray, Y: np.ndarray, w: float, beta: float):
    """w <x, y> + beta per row pair as a double-double (hi, lo)."""
    h, lo = _two_prod(X[:, 0], Y[:, 0])
    for k in range(1, X.shape[1]):
        p, e = _two_prod(X[:, k], Y[:, k])
        h, r = _two_sum(h, p)
        lo = lo + (r + e)
    h, lo = _two_sum(h, lo)
    p, e = _two_prod(h, np.float64(w))
    h, lo = _two_sum(p, e + lo * w)
    s, r = _two_sum(h, np.float64(beta))
    return _two_sum(s, r + lo)


def lipschitz(steps: Sequence) -> bool:
    """Whether no layer's activation jumps (or is otherwise outside E[phi'^2] < oo): no ntk map diverges."""
    return not any(step.maps.derived.ntk.diverges for step in steps)


def refinable(steps: Sequence, outputs: Sequence[str]) -> tuple[str, ...]:
    """The outputs whose maps are closed forms in every layer (``steps``: objects with .maps.derived)."""
    return tuple(name for name in outputs
                 if all(getattr(step.maps.derived, m).closed_form for step in steps for m in _NEEDS[name]))


def recompute(steps: Sequence, sigma_w: float, sigma_b: float, X: np.ndarray, Y: np.ndarray,
              pairs: tuple[np.ndarray, np.ndarray], variances: tuple[np.ndarray, np.ndarray],
              outputs: Sequence[str], swapped: bool = False) -> dict[str, np.ndarray]:
    """The outputs at the input pairs (X[i], Y[j]) for i, j in ``pairs``, in mpmath.

    ``steps``: the chain's layers (.maps.derived, .w2, .b2); ``variances``: the float64 S1(x, x)
    of the rows of X and S1(y, y) of the rows of Y (they set the working precision).  Returns
    per output an array of the values; with ``swapped`` also "sgntk_swapped", the SG-NTK of the
    pairs (Y[j], X[i])."""
    names = tuple(outputs) + (("sgntk_swapped",) if swapped else ())
    rows, cols = pairs
    result = {name: np.empty(rows.size) for name in names}
    sw2, sb2, n0 = mpmath.mpf(sigma_w) ** 2, mpmath.mpf(sigma_b) ** 2, X.shape[1]
    wide = widerange.decades(variances[0][rows], variances[1][cols]).max(initial=0)
    edge = _EDGE + 2 * int(wide)

    def dot(p: np.ndarray, q: np.ndarray):
        return sw2 * mpmath.fsum(mpmath.mpf(s) * mpmath.mpf(t) for s, t in zip(p.tolist(), q.tolist())) / n0 + sb2

    with widerange.MPMATH:
        with mpmath.workdps(widerange.digits(edge)):
            x_chains = {i: _variance_chain(X[i], steps, dot, edge) for i in set(rows.tolist())}
            y_chains = {j: _variance_chain(Y[j], steps, dot, edge) for j in set(cols.tolist())}
        edge = _PAIR_EDGE + 2 * int(wide)
        with mpmath.workdps(widerange.digits(edge)):
            for k, (i, j) in enumerate(zip(rows.tolist(), cols.tolist())):
                values = _pair(steps, x_chains[i], y_chains[j], dot(X[i], Y[j]), edge, names)
                for name in names:
                    result[name][k] = float(values[name])
    return result


def _variance_chain(x: np.ndarray, steps: Sequence, dot, edge: int) -> list:
    """S_l(x, x) for l = 1..L (mpf)."""
    chain = [dot(x, x)]
    for step in steps[:-1]:
        chain.append(step.w2 * widerange.value(step.maps.derived.nngp, *[chain[-1]] * 3, edge) + step.b2)
    return chain


def _pair(steps: Sequence, a_chain: list, b_chain: list, c, edge: int, names: Sequence[str]) -> dict:
    """S, I, T (and I of the swapped pair) of the network output at one pair, from S1 = c; only
    the maps that ``names`` need are evaluated (the others stay at c)."""
    s = sg_ntk = naive = image = c
    for step, a, b in zip(steps, a_chain, b_chain):
        derived = step.maps.derived
        nngp = widerange.value(derived.nngp, a, b, s, edge)
        if "sgntk" in names:
            sg_ntk = step.w2 * widerange.value(derived.sg, a, b, s, edge) * sg_ntk
        if "sgntk_swapped" in names:
            image = step.w2 * widerange.value(derived.sg, b, a, s, edge) * image
        if "ntk" in names:
            naive = step.w2 * widerange.value(derived.ntk, a, b, s, edge) * naive
        s = step.w2 * nngp + step.b2
        sg_ntk, naive, image = sg_ntk + s, naive + s, image + s
    return {"nngp": s, "sgntk": sg_ntk, "ntk": naive, "sgntk_swapped": image}
