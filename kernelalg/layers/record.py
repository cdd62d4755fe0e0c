"""The record a layer's kernel function maps: covariances of a batch of input pairs and their tangents.

For inputs x (first set) and y (second set) and pixels p, q of the layer's output, a record holds

    nngp  = S(x, p; y, q)   forward covariance
    sgntk = I(x, p; y, q)   SG-NTK: J f(x, p) J~ f(y, q)^T, J with phi', J~ with psi
    ntk   = T(x, p; y, q)   naive NTK (phi' on both sides)

and, per hyperparameter name, the tangents dS and dI.  ``None`` stands for an array of zeros
(the inputs carry no parameters).  Activation layers need the variances S(x, p; x, p) and
S(y, q; y, q) of each side: a :class:`SelfSide` reads them off a record of inputs with
themselves (and keeps them), a :class:`CrossSide` serves the kept ones to a record of two
sets of inputs, in the order the activations are met.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from kernelalg.errors import CovarianceError, NumericalError
from kernelalg.layers.spatial import pair_diagonal

Array = np.ndarray
SIGMA_W, SIGMA_B = "sigma_w", "sigma_b"
PSI_PREFIX = "psi."


@dataclass(frozen=True)
class Request:
    """What a kernel evaluation computes: SG-NTK and/or naive NTK, and tangents in ``wrt``."""

    sgntk: bool = True
    ntk: bool = False
    wrt: tuple[str, ...] = ()


@dataclass(frozen=True)
class Record:
    """Covariances batch + spatial + spatial of one layer's outputs, with their tangents."""

    nngp: Array
    sgntk: Array | None
    ntk: Array | None
    spatial: tuple[int, ...]
    request: Request
    d_nngp: dict[str, Array | None] = field(default_factory=dict)
    d_sgntk: dict[str, Array | None] = field(default_factory=dict)

    @classmethod
    def inputs(cls, cov: Array, spatial: tuple[int, ...], request: Request) -> Record:
        zero = dict.fromkeys(request.wrt)
        return cls(cov, None, None, spatial, request, zero, dict(zero))

    def linear(self, op: Callable[[Array], Array], spatial: tuple[int, ...]) -> Record:
        """A parameter-free linear layer (pooling, flattening): ``op`` applied to every array."""
        apply = lambda v: None if v is None else op(v)
        return replace(self, nngp=op(self.nngp), sgntk=apply(self.sgntk), ntk=apply(self.ntk), spatial=spatial,
                       d_nngp={k: apply(v) for k, v in self.d_nngp.items()},
                       d_sgntk={k: apply(v) for k, v in self.d_sgntk.items()})

    def affine(self, op: Callable[[Array], Array], sw: float, sb: float, spatial: tuple[int, ...]) -> Record:
        """A weight layer (Dense, Conv) in NTK parametrisation, with L = op (its linear part):

            S' = sw^2 L(S) + sb^2,   I' = sw^2 L(I) + S',   T' = sw^2 L(T) + S'

        and tangents dS' = sw^2 L(dS) + [2 sw L(S)]_sigma_w + [2 sb]_sigma_b,
        dI' = sw^2 L(dI) + [2 sw L(I)]_sigma_w + dS'."""
        w2 = sw * sw
        base = op(self.nngp)
        with np.errstate(over="ignore"):  # an overflow is reported where the variances are checked
            nngp = w2 * base
        nngp += sb * sb
        grow = lambda v: nngp.copy() if v is None else w2 * op(v) + nngp
        sgntk = grow(self.sgntk) if self.request.sgntk else None
        ntk = grow(self.ntk) if self.request.ntk else None
        d_nngp, d_sgntk = {}, {}
        for name in self.request.wrt:
            ds = self._scaled_op(op, self.d_nngp[name], w2, nngp.shape)
            if name == SIGMA_W:
                ds += 2 * sw * base
            elif name == SIGMA_B:
                ds += 2 * sb
            d_nngp[name] = ds
            if self.request.sgntk:
                di = self._scaled_op(op, self.d_sgntk[name], w2, nngp.shape)
                if name == SIGMA_W and self.sgntk is not None:
                    di += 2 * sw * op(self.sgntk)
                di += ds
                d_sgntk[name] = di
        return replace(self, nngp=nngp, sgntk=sgntk, ntk=ntk, spatial=spatial, d_nngp=d_nngp, d_sgntk=d_sgntk)

    @staticmethod
    def _scaled_op(op, value: Array | None, factor: float, shape: tuple[int, ...]) -> Array:
        return np.zeros(shape) if value is None else factor * op(value)

    def plus(self, other: Record) -> Record:
        """The record of the sum of two independent branches (all kernels add)."""
        add = lambda u, v: v if u is None else u if v is None else u + v
        return replace(self, nngp=self.nngp + other.nngp, sgntk=add(self.sgntk, other.sgntk),
                       ntk=add(self.ntk, other.ntk),
                       d_nngp={k: add(v, other.d_nngp[k]) for k, v in self.d_nngp.items()},
                       d_sgntk={k: add(v, other.d_sgntk[k]) for k, v in self.d_sgntk.items()})


@dataclass
class Variances:
    """Per-pixel variances S(x, p; x, p) of one side at one activation, and their tangents."""

    value: Array                  # (n, *spatial)
    tangents: dict[str, Array | None]


def _expand(v: Array | None, nd: int, first: bool, cross: bool) -> Array | None:
    """Variances (n, *spatial) shaped to broadcast against batch + spatial + spatial arrays."""
    if v is None:
        return None
    n, spatial = v.shape[0], v.shape[1:]
    ones = (1,) * nd
    batch = ((n, 1) if first else (1, n)) if cross else (n,)
    return v.reshape(*batch, *(spatial + ones if first else ones + spatial))


class SelfSide:
    """Serves a record of inputs with themselves: the variances are its own diagonal; kept in order."""

    def __init__(self):
        self.kept: list[Variances] = []

    def covariances(self, record: Record):
        """(a, b, da, db) of each entry of ``record``: the variances of its two units and their tangents."""
        nd = len(record.spatial)
        v = Variances(pair_diagonal(record.nngp, nd),
                      {k: None if t is None else pair_diagonal(t, nd) for k, t in record.d_nngp.items()})
        if not np.isfinite(v.value).all():
            raise NumericalError("a unit entering an activation has an infinite (or NaN) variance: the input norms "
                                 "or sigma_w, sigma_b are beyond the float64 range")
        if not (v.value > 0).all():
            raise CovarianceError("a unit entering an activation has variance 0 (e.g. an all-zero input patch "
                                  "with sigma_b = 0, or inputs so small that it underflows): the layer maps need "
                                  "positive variances; use sigma_b > 0")
        self.kept.append(v)
        a, b = _expand(v.value, nd, True, False), _expand(v.value, nd, False, False)
        da = {k: _expand(t, nd, True, False) for k, t in v.tangents.items()}
        db = {k: _expand(t, nd, False, False) for k, t in v.tangents.items()}
        return record, a, b, da, db


class CrossSide:
    """Serves a record of rows x against columns y with variances kept by their SelfSides.

    ``same``: (i, j) index pairs of the block's entries where x_i is y_j (X is Y); there the
    covariance is set to the kept variance before each activation, so that c^2 = ab holds bit
    for bit, as on the diagonal of the dense computation."""

    def __init__(self, x: list[Variances], y: list[Variances], same: tuple[Array, Array] | None = None):
        self.x, self.y, self.same = iter(x), iter(y), same

    def covariances(self, record: Record):
        nd = len(record.spatial)
        vx, vy = next(self.x), next(self.y)
        if self.same is not None and len(self.same[0]):
            record = replace(record, nngp=_exact_diagonal(record.nngp, vx.value, self.same, nd),
                             d_nngp={k: t if t is None else _exact_diagonal(t, vx.tangents[k], self.same, nd)
                                     for k, t in record.d_nngp.items()})
        a, b = _expand(vx.value, nd, True, True), _expand(vy.value, nd, False, True)
        da = {k: _expand(t, nd, True, True) for k, t in vx.tangents.items()}
        db = {k: _expand(t, nd, False, True) for k, t in vy.tangents.items()}
        return record, a, b, da, db


def _exact_diagonal(arr: Array, values: Array | None, same: tuple[Array, Array], nd: int) -> Array:
    """A copy of ``arr`` (n, m, *spatial, *spatial) with arr[i, j, p, p] = values[i, p] for (i, j) in ``same``."""
    if values is None:
        return arr
    n, m = arr.shape[:2]
    size = int(np.prod(arr.shape[2:2 + nd])) if nd else 1
    out = np.array(arr, dtype=float, copy=True).reshape(n, m, size, size)
    i, j = same
    p = np.arange(size)
    out[i[:, None], j[:, None], p[None, :], p[None, :]] = values.reshape(values.shape[0], size)[i[:, None], p[None, :]]
    return out.reshape(arr.shape)
