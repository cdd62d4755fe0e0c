"""Deep infinite-width kernels of an MLP: NNGP, SG-NTK and naive NTK (docs/maths.md section 3).

    S1 = sw^2 <x, y>/n0 + sb^2,       S(l+1) = sw^2 nngp(Lambda_l) + sb^2
    I1 = S1,                          I(l+1) = S(l+1) + sw^2 sg(Lambda_l) I_l        (SG-NTK)
    T1 = S1,                          T(l+1) = S(l+1) + sw^2 ntk(Lambda_l) T_l       (naive NTK)

with Lambda_l(x, y) = [[S_l(x, x), S_l(x, y)], [S_l(x, y), S_l(y, y)]].  ``sg`` is applied with
phi' on x and psi on y, so I(X, Y) is not I(Y, X)^T in general.

:class:`Kernel` is the chain of :mod:`kernelalg.numeric.chain` with the same pair and sigmas in
every layer (rows of X in blocks, optionally on several threads; checked variances and outputs;
outputs beyond the available memory refused up front, where the Dask adapter streams them to
disk instead; entries with variances beyond the float64 range of the generated code, inputs of
norm 1e-150 or 1e150, taken from the closed forms in mpmath).  ``layers.mlp(phi, psi, depth,
sigma_w, sigma_b)`` is the same network as composed layers: on flat inputs it runs the same
chain, so the two give identical numbers.

Limits: depth up to :data:`MAX_DEPTH`, weight and bias scales up to :data:`MAX_SCALE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from numbers import Integral

import numpy as np

from kernelalg.errors import InputError
from kernelalg.numeric.arrays import real, real_array
from kernelalg.numeric.chain import OUTPUTS, Chain, KernelResult, Step
from kernelalg.numeric.layermaps import CompiledMaps, layer_maps
from kernelalg.symbolic.functions import Function

__all__ = ["OUTPUTS", "Kernel", "KernelResult", "as_inputs", "as_points", "circle"]

MAX_DEPTH = 1000
MAX_SCALE = 1e6
MAX_CIRCLE = 10**8


def as_inputs(X, name: str = "X") -> np.ndarray:
    """A finite float array (N, *spatial, C) of real numbers; a 1-D array is N scalar inputs."""
    X = real_array(X, name)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim < 2 or X.size == 0:
        raise InputError(f"{name} must be a non-empty array (N, ..., C), got shape {X.shape}")
    if not np.isfinite(X).all():
        raise InputError(f"{name} contains NaN or inf")
    return X


def as_points(X, name: str = "X") -> np.ndarray:
    """A finite float array of shape (N, d) (a 1-D array is N scalar inputs)."""
    X = as_inputs(X, name)
    if X.ndim != 2:
        raise InputError(f"{name} must be a non-empty (N, d) array, got shape {X.shape}")
    return X


@dataclass(frozen=True)
class Kernel:
    """Infinite-width kernels of an L-hidden-layer MLP with activation phi and surrogate psi."""

    phi: str | Function
    psi: str | Function | None = None
    depth: int = 1
    sigma_w: float = 1.0
    sigma_b: float = 0.0

    def __post_init__(self):
        depth = self.depth
        if not isinstance(depth, Integral) or isinstance(depth, (bool, np.bool_)) or not 1 <= depth <= MAX_DEPTH:
            raise InputError(f"depth (number of hidden layers) must be an integer from 1 to {MAX_DEPTH}, "
                             f"got {depth!r}")
        for name in ("sigma_w", "sigma_b"):
            value = getattr(self, name)
            if not real(value) or not 0 <= value <= MAX_SCALE:
                raise InputError(f"{name} must be a number from 0 to {MAX_SCALE:g}, got {value!r}")
        if self.sigma_w == 0:
            raise InputError("sigma_w must be positive")

    def __getstate__(self) -> dict:
        """Pickled without the compiled maps (module objects): they are reloaded from the cache."""
        return {k: v for k, v in self.__dict__.items() if k not in ("maps", "chain")}

    @cached_property
    def chain(self) -> Chain:
        step = Step(self.maps, self.sigma_w**2, self.sigma_b**2)
        return Chain(self.sigma_w, self.sigma_b, (step,) * self.depth)

    @cached_property
    def maps(self) -> CompiledMaps:
        return layer_maps(self.phi, self.psi)

    def __call__(self, X, Y=None, outputs: tuple[str, ...] = OUTPUTS, workers: int = 2,
                 block_rows: int | None = None) -> KernelResult:
        """Kernels of the network output between the rows of X (N x d) and of Y (M x d, default X)."""
        X = as_points(X, "X")
        Y = X if Y is None else as_points(Y, "Y")
        return self.chain.kernels(X, Y, outputs, workers, block_rows)

    def rows(self, X_rows, Y, start: int | None = None, outputs: tuple[str, ...] = OUTPUTS) -> KernelResult:
        """Rows of K(X, Y) for a slice ``X_rows`` of X, in one block (no threads): the unit of work
        of distributed computations.  ``start``: the slice's first row index when X is Y, so that
        the diagonal entries are exact (c^2 = ab bit for bit), as in the dense computation."""
        return self.chain.rows(as_points(X_rows, "X"), as_points(Y, "Y"), start, outputs)

    def diagonal(self, X, outputs: tuple[str, ...] = OUTPUTS) -> KernelResult:
        """K(x_i, x_i) for each row of X, without forming the N x N matrices."""
        return self.chain.diagonal(as_points(X, "X"), outputs)


def circle(n: int, radius: float = 1.0) -> np.ndarray:
    """n equally spaced points on the circle of the given radius, as an (n, 2) array; for even n
    the point n/2 places on is exactly the negative (a deep sign network tells a pair 1e-16 off
    antipodal from an antipodal one)."""
    if not isinstance(n, Integral) or not 1 <= n <= MAX_CIRCLE:
        raise InputError(f"number of circle points must be an integer from 1 to {MAX_CIRCLE:.0e}, got {n!r}")
    theta = 2 * np.pi * np.arange(n) / n
    points = radius * np.stack([np.cos(theta), np.sin(theta)], axis=1)
    if n % 2 == 0:  # antipodal points exactly opposite (cos and sin of theta + pi round otherwise)
        points[n // 2:] = -points[:n // 2]
    return points
