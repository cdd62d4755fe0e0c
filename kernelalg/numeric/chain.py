"""Kernels of a fully connected chain on flat inputs: Dense, then (activation, Dense) repeated.

    S1 = sw0^2 <x, y>/n0 + sb0^2,       S(l+1) = sw_l^2 nngp_l(Lambda_l) + sb_l^2
    I1 = S1,                            I(l+1) = S(l+1) + sw_l^2 sg_l(Lambda_l) I_l        (SG-NTK)
    T1 = S1,                            T(l+1) = S(l+1) + sw_l^2 ntk_l(Lambda_l) T_l       (naive NTK)

with Lambda_l(x, y) = [[S_l(x, x), S_l(x, y)], [S_l(x, y), S_l(y, y)]] and each layer's own
pair and sigmas (the MLP of ``Kernel`` has the same ones everywhere).  ``sg`` is applied with
phi' on x and psi on y, so I(X, Y) is not I(Y, X)^T in general.  This is the recursion of
:mod:`kernelalg.layers` specialised to one pixel, and the single implementation behind both
``Kernel`` and a layers network of this form on flat inputs: rows of X are processed in blocks
(optionally on several threads; NumPy releases the GIL), the joint generated maps update work
arrays in place, so the work arrays stay small and peak memory stays near the size of the outputs.
Only the maps the requested outputs need are evaluated.

K(X, X) is computed on its upper triangle only (each pair once) and mirrored in cache-sized tiles:
S and T are symmetric, and so is I when every layer's sg is symmetric in (a, b); otherwise
I(y, x) is carried along by a second SG recursion on the same S with the variances swapped (one
joint generated function gives nngp, sg and the swapped sg).  A row band (:meth:`Chain.rows`)
takes its entries left of the diagonal from the same upper-triangle computation, so blocked,
threaded and distributed results agree bit for bit.

Every variance S_l(x, x) must be positive and finite (a zero input row needs a bias); outputs
that would not fit into the available memory are refused up front; a NaN, or an infinity other
than a divergence of a derivative map (a product of deltas), is a
:class:`~kernelalg.errors.NumericalError`.  Entries with variances beyond the float64 range of
the generated code are evaluated from the closed forms in mpmath (:mod:`kernelalg.numeric.widerange`,
inside :func:`~kernelalg.numeric.layermaps.evaluate_valid`); entries within 1 - |rho| < 2^-22 of
the edge at some layer are put on it exactly or recomputed in mpmath from the exact input
products (:mod:`kernelalg.numeric.nearedge`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, cached_property, partial
from numbers import Integral

import numpy as np
from threadpoolctl import ThreadpoolController

from kernelalg.codegen.module import SWAPPED
from kernelalg.errors import InputError, NumericalError
from kernelalg.numeric import nearedge
from kernelalg.numeric.arrays import check_memory, first_bad
from kernelalg.numeric.layermaps import CompiledMaps, evaluate_valid

OUTPUTS = ("nngp", "sgntk", "ntk")
_EXACT_DIM = 16  # input dimension up to which S1 is summed in a fixed order
BLOCK_ELEMENTS = 1 << 17  # elements of one row block (rows x columns): fits in cache
_TILE = 256  # side of the square tiles in which a symmetric result is mirrored


@dataclass(frozen=True)
class KernelResult:
    """Kernel matrices (or diagonals) of the network output; absent ones are None."""

    nngp: np.ndarray | None = None
    sgntk: np.ndarray | None = None
    ntk: np.ndarray | None = None


def check_outputs(outputs) -> None:
    unknown = set(outputs) - set(OUTPUTS)
    if unknown or not outputs:
        raise InputError(f"unknown kernel output(s) {sorted(unknown)}; choose from {OUTPUTS}")


def check_count(name: str, value) -> None:
    """InputError unless ``value`` is None or a positive integer (a number of workers, rows, ...)."""
    if value is not None and (not isinstance(value, Integral) or isinstance(value, bool) or value < 1):
        raise InputError(f"{name} must be a positive integer, got {value!r}")


def run_blocks(block, items, workers: int) -> None:
    """block(item) for each item, on ``workers`` threads when there is more than one item, their
    matrix products on one BLAS thread each: the BLAS library's own threads would compete with the
    workers for the cores (small products in two workers beside two BLAS threads on two cores
    took about five times as long)."""
    if workers > 1 and len(items) > 1:
        with _blas().limit(limits=1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
            list(pool.map(block, items))
    else:
        for item in items:
            block(item)


def _chunks(n: int, workers: int, least: int = 256) -> list[slice]:
    """n rows in ``workers`` contiguous chunks of about equal size, at least ``least`` rows each
    (one chunk for fewer rows)."""
    bounds = np.linspace(0, n, max(1, min(workers, n // least)) + 1).astype(int)
    return [slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:])]


@cache
def _blas() -> ThreadpoolController:
    """The BLAS libraries loaded in this process (found once)."""
    return ThreadpoolController()


@dataclass(frozen=True)
class Step:
    """One hidden layer of the chain: the activation's maps and the following Dense layer's sigmas."""

    maps: CompiledMaps
    w2: float
    b2: float


@dataclass(frozen=True)
class Chain:
    """Dense(sw0, sb0), then (Activation_l, Dense_l) for l = 1..L."""

    sigma_w: float
    sigma_b: float
    steps: tuple[Step, ...]

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

    def _variances(self, X: np.ndarray, workers: int = 1) -> list[np.ndarray]:
        """Diagonal S_l(x, x) for l = 1..L+1, each positive and finite; in chunks of rows on
        ``workers`` threads where there are enough rows (what the maps keep per variance is then
        computed on all cores)."""
        chunks = _chunks(X.shape[0], workers)
        if len(chunks) == 1:
            return self._diagonal(X)
        parts = [None] * len(chunks)

        def chunk(k: int) -> None:
            parts[k] = self._diagonal(X[chunks[k]], chunks[k].start)

        run_blocks(chunk, range(len(chunks)), workers)
        return [np.concatenate(layer) for layer in zip(*parts)]

    def _diagonal(self, X: np.ndarray, first: int = 0) -> list[np.ndarray]:
        """_variances of the rows X (the first of them row ``first`` of the points)."""
        with np.errstate(over="ignore", under="ignore"):
            s = self.sigma_w**2 * np.einsum("ij,ij->i", X, X) / X.shape[1] + self.sigma_b**2
        out = [s]
        for layer in range(len(self.steps) + 1):
            bad = ~(np.isfinite(s) & (s > 0))
            if bad.any():
                i = int(np.argmax(bad))
                if layer == 0 and not np.any(X[i]):
                    raise InputError(f"row {first + i} of the points is zero and sigma_b = 0: its pre-activations have "
                                     "variance 0, where the kernel is undefined; use sigma_b > 0 or drop the row")
                raise NumericalError(f"the variance S{layer + 1}(x, x) of row {first + i} is {s[i]:g} (it must be positive "
                                     f"and finite): the input norm {np.linalg.norm(X[i]):g} is out of range")
            if layer < len(self.steps):
                step = self.steps[layer]
                s = step.w2 * evaluate_valid(step.maps.nngp.function, step.maps.derived.nngp, s, s, s) + step.b2
                out.append(s)
        return out

    @cached_property
    def _refinable(self) -> tuple[str, ...]:
        """The outputs that can be recomputed exactly near the edge |rho| = 1 (closed-form maps)."""
        return nearedge.refinable(self.steps, OUTPUTS)

    @cached_property
    def _lipschitz(self) -> bool:
        return nearedge.lipschitz(self.steps)

    @cached_property
    def _sg_symmetric(self) -> bool:
        """Whether every layer's sg is symmetric in (a, b) as written (psi = phi', or both even alike)."""
        return all(step.maps.sg_symmetric for step in self.steps)

    def _recursion(self, c: np.ndarray, va: list[np.ndarray], vb: list[np.ndarray], want: tuple[str, ...],
                   diagonal: tuple[np.ndarray, np.ndarray] | None = None,
                   out: dict[str, np.ndarray] | None = None, image: bool = False,
                   inputs: tuple[np.ndarray, np.ndarray] | None = None):
        """Run the layer recursion on a block; c = S1 of the block, va/vb the row/column variances.

        ``diagonal`` indexes the block's entries S(x, x) (when X is Y): they are set to the
        variances exactly, so c^2 = ab holds there bit for bit and the maps take their edge values.
        ``out`` holds views of the output arrays that the last layer writes into directly.
        ``image``: also return the SG-NTK of the swapped pairs, I(y, x) at the place of (x, y)
        (sg with the variances swapped, on the same symmetric S); otherwise None.
        Only the maps that ``want`` needs are evaluated.  ``inputs``: the rows (X, Y) of the block;
        given, entries whose covariance comes within nearedge.GAP of the edge |rho| = 1 at some
        layer are settled on the edge or recomputed exactly (:mod:`kernelalg.numeric.nearedge`).
        """
        out = out or {}
        if diagonal is not None:
            c[diagonal] = va[0][diagonal[0], 0]
        s = sg_ntk = naive = swapped = c  # I1 = T1 = S1 (never modified in place)
        with_sg = "sgntk" in want or image
        exact = [name for name in self._refinable if name in want] if inputs is not None else []
        edge = settled = None
        for layer, step in enumerate(self.steps):
            w2, b2, maps = step.w2, step.b2, step.maps
            a, b = va[layer], vb[layer]
            last = layer == len(self.steps) - 1
            if exact:
                if layer == 0:
                    edge, settled = np.zeros(c.shape, bool), np.zeros(c.shape, bool)
                    if diagonal is not None:
                        settled[diagonal] = True  # S(x, x) = a exactly
                    if nearedge.flag(a, b, s, settled, edge):
                        nearedge.settle(*inputs, self.sigma_w**2 / inputs[0].shape[1], self.sigma_b**2, a, b, c,
                                        edge, settled, self._lipschitz)
                else:
                    nearedge.flag(a, b, s, settled, edge)
            # S is a covariance by construction; entries that rounding pushed past |c| = sqrt(ab)
            # and came out non-finite are evaluated on the clipped edge by the generated code.
            sg_t = None
            if "ntk" in want:
                nngp, sg, ntk = maps.joint(("nngp", "sg", "ntk"), a, b, s)
                with np.errstate(invalid="ignore"):
                    ntk *= naive  # fresh arrays from the generated code: updated in place
                naive = _scaled(ntk, w2)
            elif image:
                nngp, sg, sg_t = maps.joint(("nngp", "sg", "sg" + SWAPPED), a, b, s)
            elif with_sg:
                nngp, sg = maps.joint(("nngp", "sg"), a, b, s)
            else:
                nngp = evaluate_valid(maps.nngp.function, maps.derived.nngp, a, b, s)
            if with_sg:
                sg *= sg_ntk
                sg_ntk = _scaled(sg, w2)
            if image:
                if sg_t is None:  # the pairs (y, x)
                    sg_t = evaluate_valid(maps.sg.function, maps.derived.sg, b, a, s)
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
        if edge is not None and (edge & ~settled).any():
            i, j = np.nonzero(edge & ~settled)
            values = nearedge.recompute(self.steps, self.sigma_w, self.sigma_b, *inputs, (i, j),
                                        (va[0][:, 0], vb[0][0]), exact, image and "sgntk" in exact)
            for name, array in (("nngp", s), ("sgntk", sg_ntk), ("ntk", naive), ("sgntk_swapped", swapped)):
                if name in values:
                    array[i, j] = values[name]
        return s, sg_ntk, naive, (swapped if image else None)

    def _pairs(self, X: np.ndarray, va: list[np.ndarray], rows: slice, cols: slice, outputs: tuple[str, ...],
               out: dict[str, np.ndarray] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """K(x_i, x_j) for i in rows, j in cols of X with itself: per output the values and the
        values of the swapped pairs (x_j, x_i) at the same places (the same array unless the
        SG-NTK is asymmetric), checked.  ``out``: views the last layer writes the values into."""
        c = self._input_cov(X[rows], X[cols])
        k = np.arange(max(rows.start, cols.start), min(rows.stop, cols.stop))
        diagonal = (k - rows.start, k - cols.start) if k.size else None
        image = "sgntk" in outputs and not self._sg_symmetric
        s, sg_ntk, naive, swapped = self._recursion(c, [v[rows, None] for v in va], [v[None, cols] for v in va],
                                                    outputs, diagonal, out, image, (X[rows], X[cols]))
        values = {"nngp": (s, s), "sgntk": (sg_ntk, swapped if image else sg_ntk), "ntk": (naive, naive)}
        for name in outputs:
            value, swapped = values[name]
            check_finite(name, value, (rows.start, cols.start), self._may_diverge(name))
            if swapped is not value:
                check_finite(name, swapped.T, (cols.start, rows.start), self._may_diverge(name))
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

    def kernels(self, X: np.ndarray, Y: np.ndarray, outputs: tuple[str, ...] = OUTPUTS, workers: int = 2,
                block_rows: int | None = None) -> KernelResult:
        """Kernels of the network output between the rows of X (N x d) and of Y (M x d; ``Y is X``
        for the kernel of X with itself, computed on its upper triangle), validated (N, d) arrays."""
        if X.shape[1] != Y.shape[1]:
            raise InputError(f"X and Y must have the same number of columns, got {X.shape[1]} and {Y.shape[1]}")
        check_outputs(outputs)
        check_count("workers", workers)
        check_count("block_rows", block_rows)
        N, M = X.shape[0], Y.shape[0]
        check_memory((N, M), outputs)
        va = self._variances(X, workers)
        vb = va if Y is X else self._variances(Y, workers)
        result = {name: np.empty((N, M)) for name in outputs}
        if Y is X:  # upper triangle, in bands of about BLOCK_ELEMENTS entries
            bounds, start = [], 0
            while start < N:
                stop = min(N, start + (block_rows or max(1, BLOCK_ELEMENTS // (N - start))))
                bounds.append((start, stop))
                start = stop

            def block(bound: tuple[int, int]) -> None:
                self._upper(X, va, *bound, outputs, result)

            symmetric = [name for name in outputs if name != "sgntk" or self._sg_symmetric]
            finish = [partial(_mirror, result[name], start) for name in symmetric for start in range(0, N, _TILE)]
        else:
            side = block_rows or max(1, BLOCK_ELEMENTS // M)
            bounds = [(start, min(start + side, N)) for start in range(0, N, side)]

            def block(bound: tuple[int, int]) -> None:
                rows = slice(*bound)
                self._rows(X[rows], Y, [v[rows] for v in va], vb, outputs, rows.start,
                           {name: value[rows] for name, value in result.items()})

            finish = []
        if workers > 1 and len(bounds) > 1:
            self._prepare([va] if Y is X else [va, vb], outputs, workers)
        run_blocks(block, bounds, workers)
        run_blocks(lambda task: task(), finish, workers)
        return KernelResult(**result)

    def _prepare(self, variances: list[list[np.ndarray]], outputs: tuple[str, ...], workers: int) -> None:
        """Evaluate the maps the blocks use once on the diagonal c = a = b of each list of layer
        variances, before the blocks run: what the generated maps keep per variance (the
        coefficients of a Hermite series) is then computed for all of the variances in a few
        calls, one per chunk of rows on each of the ``workers`` threads, not block by block, where
        each block waits for the first to compute the columns' coefficients.  The values are not
        used.  (A single block or thread gains nothing from it, and a few rows against many points
        would pay for them twice.)"""
        image = "sgntk" in outputs and not self._sg_symmetric

        def chunk(task: tuple[list[np.ndarray], slice]) -> None:
            va, rows = task
            va = [v[rows] for v in va]
            self._recursion(va[0].copy(), va, va, outputs, image=image)

        run_blocks(chunk, [(va, rows) for va in variances for rows in _chunks(va[0].size, workers)], workers)

    def rows(self, X_rows: np.ndarray, Y: np.ndarray, start: int | None = None,
             outputs: tuple[str, ...] = OUTPUTS) -> KernelResult:
        """Rows of K(X, Y) for a slice ``X_rows`` of X, in one block (no threads): the unit of work
        of distributed computations.  ``start``: the slice's first row index when X is Y; the
        band then equals the same rows of the dense computation bit for bit (entries left of the
        diagonal come from the upper-triangle pairs, the diagonal entries are exact)."""
        check_outputs(outputs)
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
        self._recursion(c, [v[:, None] for v in va], [v[None, :] for v in vb], outputs, out=out, inputs=(X_rows, Y))
        for name, values in out.items():
            check_finite(name, values, (first_row, 0), self._may_diverge(name))

    def diagonal(self, X: np.ndarray, outputs: tuple[str, ...] = OUTPUTS) -> KernelResult:
        """K(x_i, x_i) for each row of X, without forming the N x N matrices."""
        check_outputs(outputs)
        va = self._variances(X)
        s, sg_ntk, naive, _ = self._recursion(va[0].copy(), va, va, tuple(outputs) + ("sgntk",))
        values = {name: value for name, value in (("nngp", s), ("sgntk", sg_ntk), ("ntk", naive)) if name in outputs}
        for name, value in values.items():
            check_finite(name, value[:, None], (0, 0), self._may_diverge(name))
        return KernelResult(**values)

    def _may_diverge(self, name: str) -> bool:
        """Whether output ``name`` is legitimately infinite somewhere: a layer's derivative map is a
        product of deltas (the naive NTK of a jump activation; the SG-NTK too when psi = phi')."""
        return name != "nngp" and any(getattr(step.maps.derived, {"sgntk": "sg", "ntk": "ntk"}[name]).diverges
                                      for step in self.steps)


def check_finite(name: str, values: np.ndarray, origin: tuple[int, int], may_diverge: bool) -> None:
    """NumericalError at a NaN, or at an infinity unless the output may diverge; ``values`` is a
    block of the kernel with the input pair (row, column) on its first two axes, its first entry
    at the pair ``origin``."""
    index = first_bad(values, may_diverge)
    if index is not None:
        i, j = index[:2]
        raise NumericalError(f"the {name} kernel came out {values[index]} at ({origin[0] + i}, {origin[1] + j}): the "
                             "covariances left the range where the layer maps can be evaluated in float64 (check "
                             "the input norms and sigma_w, sigma_b)")


def _mirror(matrix: np.ndarray, start: int) -> None:
    """Copy the upper triangle of the columns start:start + _TILE of a square matrix to its lower
    triangle, in square tiles (a cache-friendly transpose)."""
    stop = min(start + _TILE, matrix.shape[0])
    lower = np.tril_indices(stop - start, -1)
    square = matrix[start:stop, start:stop]
    square[lower] = square.T[lower]
    for row in range(stop, matrix.shape[0], _TILE):
        matrix[row:row + _TILE, start:stop] = matrix[start:stop, row:row + _TILE].T


def _scaled(values: np.ndarray, factor: float) -> np.ndarray:
    """factor * values, in place (values is a fresh work array)."""
    if factor != 1:
        values *= factor
    return values
