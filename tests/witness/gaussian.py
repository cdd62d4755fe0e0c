"""Independent mpmath witness for E[f(u) g(v)], (u, v) ~ N(0, [[a, c], [c, b]]).

Shares no code with kernelalg.  Functions are described by hand (``Ref``): a regular part
(an mpmath callable) with its kinks, or a piecewise-constant part given by its jumps, plus
point masses (deltas).  The expectation is computed by conditioning on u,

    E[f(u) g(v)] = int f(u) N(u; 0, a) E[g(v) | u] du,   v | u ~ N(c u / a, (ab - c^2)/a).

The conditional mean of a piecewise-constant g is a sum of normal CDFs; otherwise it is a
Gauss-Legendre quadrature in the standardised variable on panels split at the kinks, at
+-1, +-3 standard deviations and geometrically toward the centres of steep features.  A
delta is handled by conditioning on its location, two deltas by the bivariate density.  All
arithmetic is at ``DPS`` digits, so ab - c^2 is exact for float inputs and |rho| -> 1 is
harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mpmath as mp

DPS = 20
Z = 14  # standard deviations integrated (tail mass below 1e-44)
FAR = 60  # split points beyond FAR standard deviations carry Gaussian weight below 1e-780: ignored


@dataclass(frozen=True)
class Ref:
    """A function for the witness.

    ``regular``: mpmath callable (None if absent); ``kinks``: where it is not smooth;
    ``steps``: alternatively ``(left, ((t, jump), ...))`` for a piecewise-constant part;
    ``deltas``: point masses ``(loc, weight)``; ``scales``: steep features ``(centre, width)``.
    """

    regular: Callable | None = None
    kinks: tuple = ()
    deltas: tuple = ()
    scales: tuple = ()
    steps: tuple | None = None

    def value(self, x):
        """The regular (or piecewise-constant) part at x."""
        if self.steps is not None:
            left, jumps = self.steps
            return left + sum(j for t, j in jumps if x > t)
        return self.regular(x) if self.regular is not None else mp.mpf(0)

    @property
    def has_part(self) -> bool:
        return self.regular is not None or self.steps is not None

    @property
    def cuts(self) -> tuple:
        return (*self.kinks, *(t for t, _ in (self.steps[1] if self.steps else ())))

    @property
    def features(self) -> tuple:
        """Where the part changes quickly: (centre, width); a jump has width 0."""
        return (*self.scales, *((t, 0) for t in self.cuts))


def _panels(points, mu, sd, grade) -> list:
    """Sorted split points in w = (x - mu)/sd: the window ends (+-Z, or 10 beyond the farthest
    point), 0, +-1, +-3, the given points, and around each steep feature (centre, width) in
    ``grade`` at distances 10^-k down to its width.  Points beyond FAR are ignored."""
    ws = [(mp.mpf(t) - mu) / sd for t in (*points, *(t for t, _ in grade))]
    ws = [w for w in ws if abs(w) <= FAR]
    # a split point in the tail widens the window 10 standard units beyond it
    lo, hi = min([-Z, *(w - 10 for w in ws)]), max([Z, *(w + 10 for w in ws)])
    cuts = {mp.mpf(v) for v in (lo, -3, -1, 0, 1, 3, hi)}
    cuts.update(w for w in ws if lo < w < hi)
    # in a widened window: unit panels (the Gaussian times a far-off feature peaks in between)
    # and the Gaussian's decay length 1/|w| resolved next to tail points
    if lo < -Z or hi > Z:
        cuts.update(mp.mpf(k) for k in range(int(lo), int(hi) + 1))
    cuts.update(w + s * m / abs(w) for w in ws if abs(w) > 3 for m in (0.25, 0.5, 1, 2) for s in (-1, 1))
    cuts = {w for w in cuts if lo <= w <= hi}
    for t, width in grade:
        w = (mp.mpf(t) - mu) / sd
        if abs(w) > FAR:
            continue
        depth = 0 if width == 0 else int(mp.ceil(-mp.log10(mp.mpf(width) / sd))) + 1
        for k in range(min(max(depth, 0), 12) + 1):
            for side in (-1, 1):
                p = w + side * mp.mpf(10) ** -k
                if lo < p < hi:
                    cuts.add(p)
    return sorted(cuts)


def _mean(ref: Ref, mu, sd):
    """E[part(X)], X ~ N(mu, sd^2), for the regular or piecewise-constant part of ``ref``."""
    if not ref.has_part:
        return mp.mpf(0)
    if sd == 0:
        return ref.value(mu)
    if ref.steps is not None:
        left, jumps = ref.steps
        return left + sum(j * mp.ncdf((mu - t) / sd) for t, j in jumps)
    nodes = _panels((*ref.kinks, *(t for t, _ in ref.scales)), mu, sd, ref.scales)

    def integrand(w):
        return ref.regular(mu + sd * w) * mp.npdf(w)

    # mpmath's quadrature stops on an absolute error of eps: scale the integrand to order one
    # (its largest magnitude at the panel ends and midpoints) so that the accuracy is relative
    probes = [*nodes, *((p + q) / 2 for p, q in zip(nodes, nodes[1:]))]
    scale = max(abs(integrand(w)) for w in probes)
    if scale == 0:
        return mp.mpf(0)
    return scale * mp.quad(lambda w: integrand(w) / scale, nodes, method="gauss-legendre")


def expectation(f: Ref, g: Ref, a, b, c):
    """E[f(u) g(v)] at DPS digits; +inf for two deltas on a degenerate covariance's support.
    At c = 0 it is E[f(u)] E[g(v)]: conditioning would integrate f(u) E[g(v)] numerically, whose
    residue (about 10^-DPS of the largest partial integral) can exceed a value that is tiny
    because E[f(u)] is (2 sign(u) - 3 H(u - 1/2) at a = 1e-4: E = -3 Q(50) ~ 1e-545)."""
    if c == 0:
        return product_of_means(f, g, a, b)
    with mp.workdps(DPS):
        a, b, c = mp.mpf(a), mp.mpf(b), mp.mpf(c)
        det = a * b - c * c
        total = mp.mpf(0)
        for t, w in f.deltas:
            t = mp.mpf(t)
            for s, v in g.deltas:
                s = mp.mpf(s)
                if det == 0:
                    if s == c * t / a:
                        return mp.inf
                    continue
                quad = (b * t * t - 2 * c * t * s + a * s * s) / (2 * det)
                total += w * v * mp.exp(-quad) / (2 * mp.pi * mp.sqrt(det))
            total += w * mp.npdf(t, 0, mp.sqrt(a)) * _mean(g, c * t / a, mp.sqrt(det / a))
        for s, v in g.deltas:
            s = mp.mpf(s)
            total += v * mp.npdf(s, 0, mp.sqrt(b)) * _mean(f, c * s / b, mp.sqrt(det / b))
        if f.has_part and g.has_part:
            sd = mp.sqrt(det / a)
            # g's features seen from u: centre t a / c, width (width + sd) a / |c|
            images = tuple((t * a / c, (w + sd) * a / abs(c)) for t, w in g.features) if c else ()
            outer = Ref(lambda u: f.value(u) * _mean(g, c * u / a, sd), f.cuts, (),
                        (*f.scales, *images))
            total += _mean(outer, mp.mpf(0), mp.sqrt(a))
        return total


def product_of_means(f: Ref, g: Ref, a, b):
    """E[f(u)] E[g(v)] for independent u ~ N(0, a), v ~ N(0, b) (the value at c = 0)."""
    with mp.workdps(DPS):
        def full(ref, var):
            sd = mp.sqrt(mp.mpf(var))
            return _mean(ref, mp.mpf(0), sd) + sum(w * mp.npdf(mp.mpf(t), 0, sd) for t, w in ref.deltas)
        return full(f, a) * full(g, b)
