"""Deep infinite-width kernels of an MLP: NNGP, SG-NTK and naive NTK (docs/maths.md section 3).

    S1 = sw^2 <x, y>/n0 + sb^2,       S(l+1) = sw^2 nngp(Lambda_l) + sb^2
    I1 = S1,                          I(l+1) = S(l+1) + sw^2 sg(Lambda_l) I_l        (SG-NTK)
    T1 = S1,                          T(l+1) = S(l+1) + sw^2 ntk(Lambda_l) T_l       (naive NTK)

with Lambda_l(x, y) = [[S_l(x, x), S_l(x, y)], [S_l(x, y), S_l(y, y)]].  ``sg`` is applied with
phi' on x and psi on y, so I(X, Y) is not I(Y, X)^T in general.  Rows of X are processed in
blocks (optionally on several threads; NumPy releases the GIL), so the work arrays stay small
and peak memory stays near the size of the outputs.

K(X, X) is computed on its upper triangle only (each pair once) and mirrored: S and T are
symmetric, and so is I when sg is symmetric in (a, b); otherwise I(y, x) is carried along by a
second SG recursion on the same S with the variances swapped.  A row band (:meth:`Kernel.rows`)
takes its entries left of the diagonal from the same upper-triangle computation, so blocked,
threaded and distributed results agree bit for bit.

Limits: depth up to :data:`MAX_DEPTH`, weight and bias scales up to :data:`MAX_SCALE`; every
variance S_l(x, x) must be positive (a zero input row needs sigma_b > 0: at variance 0 the maps
of jump activations are undefined); outputs that would not fit into the available memory are
refused up front (the Dask adapter streams them to disk instead); a NaN, or an infinity other
than a divergence of the naive NTK, is a :class:`~kernelalg.errors.NumericalError`.  Entries
with variances beyond the float64 range of the generated code (inputs of norm 1e-150, 1e150)
are evaluated from the closed forms in mpmath (:mod:`kernelalg.numeric.widerange`).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, partial
from numbers import Integral

import numpy as np

from kernelalg.codegen.module import SWAPPED
from kernelalg.errors import InputError, MemoryLimitError, NumericalError
from kernelalg.numeric.arrays import first_bad, real, real_array
from kernelalg.numeric.layermaps import CompiledMaps, evaluate_valid, layer_maps
from kernelalg.symbolic.expectation.result import a as A, b as B
from kernelalg.symbolic.functions import Function

OUTPUTS = ("nngp", "sgntk", "ntk")
MAX_DEPTH = 1000
MAX_SCALE = 1e6
MAX_CIRCLE = 10**8
_EXACT_DIM = 16  # input dimension up to which S1 is summed in a fixed order
_BLOCK_ELEMENTS = 1 << 17  # elements of one row block (rows x columns): fits in cache
_TILE = 256  # side of the square tiles in which a symmetric result is mirrored


@dataclass(frozen=True)
class KernelResult:
    """Kernel matrices (or diagonals) of the network output; absent ones are None."""

    nngp: np.ndarray | None = None
    sgntk: np.ndarray | None = None
    ntk: np.ndarray | None = None


def as_points(X, name: str = "X") -> np.ndarray:
    """A finite float array of shape (N, d) (a 1-D array is N points of dimension 1)."""
    X = real_array(X, name)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise InputError(f"{name} must be a non-empty (N, d) array, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise InputError(f"{name} contains NaN or inf")
    return X


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux: MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(shape: tuple[int, int], outputs: tuple[str, ...]) -> None:
    """MemoryLimitError if the float64 output matrices of ``shape`` exceed the available memory."""
    need = len(outputs) * shape[0] * shape[1] * 8
    have = available_memory()
    if have is not None and need > have:
        raise MemoryLimitError(
            f"{len(outputs)} kernel matrices of {shape[0]} x {shape[1]} need {need / 1e9:.1f} GB, but only "
            f"{have / 1e9:.1f} GB of memory is available; request fewer outputs, or compute them in bands with "
            "kernelalg.adapters.dask.gram(kernel, X) and stream them to disk with to_disk(...)")


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
        """Pickled without the compiled maps (a module object): they are reloaded from the cache."""
        return {k: v for k, v in self.__dict__.items() if k != "maps"}

    @cached_property
    def maps(self) -> CompiledMaps:
        return layer_maps(self.phi, self.psi)

    def _map(self, name: str, a, b, c) -> np.ndarray:
        expectation = getattr(self.maps, name)
        return evaluate_valid(expectation.function, expectation.result, a, b, c)

    def _input_cov(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """S1 = sw^2 <x, y>/n0 + sb^2 (a fresh array).

        For inputs of dimension up to _EXACT_DIM the products are summed in a fixed order, so each
        entry is independent of how the rows are blocked (dense and Dask paths agree bit for bit);
        above it BLAS is used, whose rounding may depend on the block shape (a few ulps)."""
        Xs = X * (self.sigma_w**2 / X.shape[1])
        if X.shape[1] <= _EXACT_DIM:
            c = Xs[:, :1] * Y[:, 0]
            for k in range(1, X.shape[1]):
                c += Xs[:, k:k + 1] * Y[:, k]
        else:
            c = Xs @ Y.T
        if self.sigma_b:
            c += self.sigma_b**2
        return c

    def _variances(self, X: np.ndarray) -> list[np.ndarray]:
        """Diagonal S_l(x, x) for l = 1..L+1, each positive and finite."""
        with np.errstate(over="ignore", under="ignore"):
            s = self.sigma_w**2 * np.einsum("ij,ij->i", X, X) / X.shape[1] + self.sigma_b**2
        out = [s]
        for layer in range(self.depth + 1):
            bad = ~(np.isfinite(s) & (s > 0))
            if bad.any():
                i = int(np.argmax(bad))
                if layer == 0 and not np.any(X[i]):
                    raise InputError(f"row {i} of the points is zero and sigma_b = 0: its pre-activations have "
                                     "variance 0, where the kernel is undefined; use sigma_b > 0 or drop the row")
                raise NumericalError(f"the variance S{layer + 1}(x, x) of row {i} is {s[i]:g} (it must be positive "
                                     f"and finite): the input norm {np.linalg.norm(X[i]):g} is out of range")
            if layer < self.depth:
                s = self.sigma_w**2 * self._map("nngp", s, s, s) + self.sigma_b**2
                out.append(s)
        return out

    @cached_property
    def _sg_symmetric(self) -> bool:
        """sg(a, b, c) = sg(b, a, c) as written (psi = phi', or both even in the same way)."""
        expr = self.maps.derived.sg.expr
        return expr.xreplace({A: B, B: A}) == expr

    def _recursion(self, c: np.ndarray, va: list[np.ndarray], vb: list[np.ndarray], want: tuple[str, ...],
                   diagonal: tuple[np.ndarray, np.ndarray] | None = None,
                   out: dict[str, np.ndarray] | None = None, image: bool = False):
        """Run the layer recursion on a block; c = S1 of the block, va/vb the row/column variances.

        ``diagonal`` indexes the block's entries S(x, x) (when X is Y): they are set to the
        variances exactly, so c^2 = ab holds there bit for bit and the maps take their edge values.
        ``out`` holds views of the output arrays that the last layer writes into directly.
        ``image``: also return the SG-NTK of the swapped pairs, I(y, x) at the place of (x, y)
        (sg with the variances swapped, on the same symmetric S); otherwise None.
        Only the maps that ``want`` needs are evaluated.
        """
        w2, b2 = self.sigma_w**2, self.sigma_b**2
        out = out or {}
        if diagonal is not None:
            c[diagonal] = va[0][diagonal[0], 0]
        s = sg_ntk = naive = swapped = c  # I1 = T1 = S1 (never modified in place)
        with_sg = "sgntk" in want or image
        for layer in range(self.depth):
            a, b = va[layer], vb[layer]
            last = layer == self.depth - 1
            # S is a covariance by construction; entries that rounding pushed past |c| = sqrt(ab)
            # are clipped inside evaluate_valid.
            sg_t = None
            if "ntk" in want:
                nngp, sg, ntk = self.maps.joint(("nngp", "sg", "ntk"), a, b, s)
                with np.errstate(invalid="ignore"):
                    ntk *= naive  # fresh arrays from the generated code: updated in place
                naive = _scaled(ntk, w2)
            elif image:
                nngp, sg, sg_t = self.maps.joint(("nngp", "sg", "sg" + SWAPPED), a, b, s)
            elif with_sg:
                nngp, sg = self.maps.joint(("nngp", "sg"), a, b, s)
            else:
                nngp = self._map("nngp", a, b, s)
            if with_sg:
                sg *= sg_ntk
                sg_ntk = _scaled(sg, w2)
            if image:
                sg_t = self._map("sg", b, a, s) if sg_t is None else sg_t  # the pairs (y, x)
                sg_t *= swapped
                swapped = _scaled(sg_t, w2)
            target = out["nngp"] if last and "nngp" in out else nngp
            s = np.multiply(nngp, w2, out=target) if w2 != 1 or target is not nngp else nngp
            if b2:
                s += b2
            if diagonal is not None:
                s[diagonal] = va[layer + 1][diagonal[0], 0]
            if with_sg:
                sg_ntk = np.add(sg_ntk, s, out=out["sgntk"] if last and "sgntk" in out else sg_ntk)
            if image:
                swapped = np.add(swapped, s, out=swapped)
            if "ntk" in want:
                naive = np.add(naive, s, out=out["ntk"] if last and "ntk" in out else naive)
        return s, sg_ntk, naive, (swapped if image else None)

    def _pairs(self, X: np.ndarray, va: list[np.ndarray], rows: slice, cols: slice, outputs: tuple[str, ...],
               out: dict[str, np.ndarray] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """K(x_i, x_j) for i in rows, j in cols of X with itself: per output the values and the
        values of the swapped pairs (x_j, x_i) at the same places (the same array unless the
        SG-NTK is asymmetric).  ``out``: views the last layer writes the values into."""
        c = self._input_cov(X[rows], X[cols])
        k = np.arange(max(rows.start, cols.start), min(rows.stop, cols.stop))
        diagonal = (k - rows.start, k - cols.start) if k.size else None
        image = "sgntk" in outputs and not self._sg_symmetric
        s, sg_ntk, naive, swapped = self._recursion(c, [v[rows, None] for v in va], [v[None, cols] for v in va],
                                                    outputs, diagonal, out, image)
        values = {"nngp": (s, s), "sgntk": (sg_ntk, swapped if image else sg_ntk), "ntk": (naive, naive)}
        for name in outputs:
            value, swapped = values[name]
            _check_finite(name, value, (rows.start, cols.start), self._may_diverge(name))
            if swapped is not value:
                _check_finite(name, swapped.T, (cols.start, rows.start), self._may_diverge(name))
        return {name: values[name] for name in outputs}

    def _upper(self, X: np.ndarray, va: list[np.ndarray], start: int, stop: int, outputs: tuple[str, ...],
               out: dict[str, np.ndarray]) -> None:
        """Rows start:stop of K(X, X) from column ``start`` on (``out``: the full output matrices);
        for an asymmetric SG-NTK also the entries left of the diagonal these pairs determine (the
        lower part of the diagonal square and, transposed, the columns start:stop below it).
        Symmetric outputs are mirrored afterwards (_mirror)."""
        rows, cols, width = slice(start, stop), slice(start, X.shape[0]), stop - start
        values = self._pairs(X, va, rows, cols, outputs, {name: out[name][rows, cols] for name in outputs})
        for name, (value, swapped) in values.items():
            if swapped is not value:
                lower = np.tril_indices(width, -1)
                out[name][rows, start:stop][lower] = swapped[:, :width].T[lower]
                out[name][stop:, rows] = swapped[:, width:].T

    def __call__(self, X, Y=None, outputs: tuple[str, ...] = OUTPUTS, workers: int = 2,
                 block_rows: int | None = None) -> KernelResult:
        """Kernels of the network output between the rows of X (N x d) and of Y (M x d, default X)."""
        X = as_points(X, "X")
        Y = X if Y is None else as_points(Y, "Y")
        if X.shape[1] != Y.shape[1]:
            raise InputError(f"X and Y must have the same number of columns, got {X.shape[1]} and {Y.shape[1]}")
        _check_outputs(outputs)
        for name, value in (("workers", workers), ("block_rows", block_rows)):
            if value is not None and (not isinstance(value, Integral) or isinstance(value, bool) or value < 1):
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        N, M = X.shape[0], Y.shape[0]
        check_memory((N, M), outputs)
        va = self._variances(X)
        vb = va if Y is X else self._variances(Y)
        result = {name: np.empty((N, M)) for name in outputs}
        if Y is X:  # upper triangle, in bands of about _BLOCK_ELEMENTS entries
            bounds, start = [], 0
            while start < N:
                stop = min(N, start + (block_rows or max(1, _BLOCK_ELEMENTS // (N - start))))
                bounds.append((start, stop))
                start = stop

            def block(bound: tuple[int, int]) -> None:
                self._upper(X, va, *bound, outputs, result)

            symmetric = [name for name in outputs if name != "sgntk" or self._sg_symmetric]
            finish = [partial(_mirror, result[name], start) for name in symmetric for start in range(0, N, _TILE)]
        else:
            side = block_rows or max(1, _BLOCK_ELEMENTS // M)
            bounds = [(start, min(start + side, N)) for start in range(0, N, side)]

            def block(bound: tuple[int, int]) -> None:
                rows = slice(*bound)
                self._rows(X[rows], Y, [v[rows] for v in va], vb, outputs, rows.start,
                           {name: value[rows] for name, value in result.items()})

            finish = []
        if workers > 1 and len(bounds) > 1:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(block, bounds))
                list(pool.map(lambda task: task(), finish))
        else:
            for bound in bounds:
                block(bound)
            for task in finish:
                task()
        return KernelResult(**result)

    def rows(self, X_rows, Y, start: int | None = None, outputs: tuple[str, ...] = OUTPUTS) -> KernelResult:
        """Rows of K(X, Y) for a slice ``X_rows`` of X, in one block (no threads): the unit of work
        of distributed computations.  ``start``: the slice's first row index when X is Y; the
        band then equals the same rows of the dense computation bit for bit (entries left of the
        diagonal come from the upper-triangle pairs, the diagonal entries are exact)."""
        X_rows, Y = as_points(X_rows, "X"), as_points(Y, "Y")
        _check_outputs(outputs)
        check_memory((X_rows.shape[0], Y.shape[0]), outputs)
        n = X_rows.shape[0]
        result = {name: np.empty((n, Y.shape[0])) for name in outputs}
        if start is None:
            self._rows(X_rows, Y, self._variances(X_rows), self._variances(Y), outputs, 0, result)
            return KernelResult(**result)
        if not 0 <= start <= Y.shape[0] - n:
            raise InputError(f"rows start={start} with {n} rows does not lie within Y's {Y.shape[0]} rows")
        va, rows, lower = self._variances(Y), slice(start, start + n), np.tril_indices(n, -1)
        for name, (value, swapped) in self._pairs(Y, va, rows, slice(start, Y.shape[0]), outputs).items():
            result[name][:, start:] = value
            result[name][:, rows][lower] = swapped[:, :n].T[lower]
        if start:
            for name, (_, swapped) in self._pairs(Y, va, slice(0, start), rows, outputs).items():
                result[name][:, :start] = swapped.T
        return KernelResult(**result)

    def _rows(self, X_rows, Y, va, vb, outputs, first_row: int, out) -> None:
        """Kernel rows of X_rows (from row ``first_row`` of X) against a different Y, written into ``out``."""
        c = self._input_cov(X_rows, Y)
        self._recursion(c, [v[:, None] for v in va], [v[None, :] for v in vb], outputs, out=out)
        for name, values in out.items():
            _check_finite(name, values, (first_row, 0), self._may_diverge(name))

    def diagonal(self, X, outputs: tuple[str, ...] = OUTPUTS) -> KernelResult:
        """K(x_i, x_i) for each row of X, without forming the N x N matrices."""
        X = as_points(X, "X")
        _check_outputs(outputs)
        va = self._variances(X)
        s, sg_ntk, naive, _ = self._recursion(va[0].copy(), va, va, tuple(outputs) + ("sgntk",))
        values = {name: value for name, value in (("nngp", s), ("sgntk", sg_ntk), ("ntk", naive)) if name in outputs}
        for name, value in values.items():
            _check_finite(name, value[:, None], (0, 0), self._may_diverge(name))
        return KernelResult(**values)

    def _may_diverge(self, name: str) -> bool:
        """Whether output ``name`` is legitimately infinite somewhere: its derivative map is a product of
        deltas (the naive NTK of a jump activation; the SG-NTK too when psi = phi')."""
        return name != "nngp" and getattr(self.maps.derived, {"sgntk": "sg", "ntk": "ntk"}[name]).diverges


def _check_outputs(outputs) -> None:
    unknown = set(outputs) - set(OUTPUTS)
    if unknown:
        raise InputError(f"unknown kernel output(s) {sorted(unknown)}; choose from {OUTPUTS}")


def _mirror(matrix: np.ndarray, start: int) -> None:
    """Copy the upper triangle of the columns start:start + _TILE of a square matrix to its lower
    triangle, in square tiles (a cache-friendly transpose)."""
    stop = min(start + _TILE, matrix.shape[0])
    lower = np.tril_indices(stop - start, -1)
    square = matrix[start:stop, start:stop]
    square[lower] = square.T[lower]
    for row in range(stop, matrix.shape[0], _TILE):
        matrix[row:row + _TILE, start:stop] = matrix[start:stop, row:row + _TILE].T


def _check_finite(name: str, values: np.ndarray, origin: tuple[int, int], may_diverge: bool) -> None:
    """NumericalError at a NaN, or at an infinity unless the output may diverge; ``values`` is the
    block of the kernel matrix whose first entry is at ``origin``."""
    index = first_bad(values, may_diverge)
    if index is not None:
        i, j = index
        raise NumericalError(f"the {name} kernel came out {values[i, j]} at ({origin[0] + i}, {origin[1] + j}): the "
                             "covariances left the range where the layer maps can be evaluated in float64 (check "
                             "the input norms and sigma_w, sigma_b)")


def _scaled(values: np.ndarray, factor: float) -> np.ndarray:
    """factor * values, in place (values is a fresh work array)."""
    if factor != 1:
        values *= factor
    return values


def circle(n: int, radius: float = 1.0) -> np.ndarray:
    """n equally spaced points on the circle of the given radius, as an (n, 2) array."""
    if not isinstance(n, Integral) or not 1 <= n <= MAX_CIRCLE:
        raise InputError(f"number of circle points must be an integer from 1 to {MAX_CIRCLE:.0e}, got {n!r}")
    theta = 2 * np.pi * np.arange(n) / n
    return radius * np.stack([np.cos(theta), np.sin(theta)], axis=1)
