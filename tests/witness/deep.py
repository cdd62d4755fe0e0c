"""Independent layer-by-layer mpmath reference for the deep kernels (docs/maths.md section 3).

Each pair (x, y) is followed through the layers on its own: the 2x2 covariance
(a, b, c) = (S(x, x), S(y, y), S(x, y)), the SG-NTK I and the naive NTK T.  The layer maps
are given as a callable ``maps(name, a, b, c)``; ``hermite_maps`` builds one from a 2-D
Gauss-Hermite product rule for analytic functions, ``witness_maps`` from the conditioning
witness of tests/witness/gaussian.py (jumps and deltas).
"""

from __future__ import annotations

import mpmath as mp
import numpy as np

from tests.witness.gaussian import DPS, expectation

_GH_ORDER = 200  # 2e-9 for tanh at variance 4


def _hermite(n: int):
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return [mp.mpf(v) for v in z], [mp.mpf(v) / mp.sqrt(2 * mp.pi) for v in w]


def gauss_hermite(f, g, a, b, c, n: int = _GH_ORDER):
    """E[f(u) g(v)] with u = sqrt(a) z1, v = (c z1 + sqrt(ab - c^2) z2)/sqrt(a), z ~ N(0, I)."""
    with mp.workdps(DPS):
        a, b, c = mp.mpf(a), mp.mpf(b), mp.mpf(c)
        z, w = _hermite(n)
        ra, rd = mp.sqrt(a), mp.sqrt(a * b - c * c) / mp.sqrt(a)
        total = mp.mpf(0)
        for z1, w1 in zip(z, w):
            fu = f(ra * z1)
            mean = c / a * ra * z1
            total += w1 * fu * mp.fsum(w2 * g(mean + rd * z2) for z2, w2 in zip(z, w))
        return total


def hermite_maps(phi, dphi, psi):
    """Layer maps of analytic phi (mpmath callables) by Gauss-Hermite."""
    pairs = {"nngp": (phi, phi), "sg": (dphi, psi), "ntk": (dphi, dphi)}
    return lambda name, a, b, c: gauss_hermite(*pairs[name], a, b, c)


def witness_maps(phi_refs, psi_ref):
    """Layer maps from the conditioning witness (Refs with steps and deltas)."""
    phi, dphi = phi_refs
    pairs = {"nngp": (phi, phi), "sg": (dphi, psi_ref), "ntk": (dphi, dphi)}
    return lambda name, a, b, c: expectation(*pairs[name], a, b, c)


def deep_kernels(maps, X, Y, depth: int, sw: float, sb: float, naive: bool = False, dps: int = DPS):
    """(S, I[, T]) of the network output, as float arrays len(X) x len(Y); the recursion runs at
    ``dps`` digits (more where 1 - |rho| is tiny: at 1e-18 the default leaves two of them)."""
    sw2, sb2 = mp.mpf(sw) ** 2, mp.mpf(sb) ** 2
    n0 = X.shape[1]
    memo: dict = {}

    def cached(name, a, b, c):  # the diagonal chains repeat across pairs
        key = (name, a, b, c)
        if key not in memo:
            memo[key] = maps(name, a, b, c)
        return memo[key]

    shape = (len(X), len(Y))
    S, I, T = np.empty(shape), np.empty(shape), np.empty(shape)
    with mp.workdps(dps):
        def dot(p, q):
            return sw2 * mp.fsum(mp.mpf(float(s)) * mp.mpf(float(t)) for s, t in zip(p, q)) / n0 + sb2

        for i, x in enumerate(X):
            for j, y in enumerate(Y):
                a, b, c = dot(x, x), dot(y, y), dot(x, y)
                sg_ntk = naive_ntk = c
                for _ in range(depth):
                    nngp = cached("nngp", a, b, c)
                    sg = cached("sg", a, b, c)
                    if naive:
                        naive_ntk = sw2 * nngp + sb2 + sw2 * cached("ntk", a, b, c) * naive_ntk
                    sg_ntk = sw2 * nngp + sb2 + sw2 * sg * sg_ntk
                    a, b, c = (sw2 * cached("nngp", a, a, a) + sb2, sw2 * cached("nngp", b, b, b) + sb2,
                               sw2 * nngp + sb2)
                S[i, j], I[i, j], T[i, j] = float(c), float(sg_ntk), float(naive_ntk)
    return (S, I, T) if naive else (S, I)
