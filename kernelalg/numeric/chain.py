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

Every variance S_l(x, x) must be positive and finite (a zero input row needs a bias); outputs
that would not fit into the available memory are refused up front; a NaN, or an infinity other
than a divergence of a derivative map (a product of deltas), is a
:class:`~kernelalg.errors.NumericalError`.  Entries with variances beyond the float64 range of
the generated code are evaluated from the closed forms in mpmath (:mod:`kernelalg.numeric.widerange`,
inside :func:`~kernelalg.numeric.layermaps.evaluate_valid`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from numbers import Integral

import numpy as np

from kernelalg.errors import InputError, NumericalError
from kernelalg.numeric.arrays import check_memory, first_bad
from kernelalg.numeric.layermaps import CompiledMaps, evaluate_valid

OUTPUTS = ("nngp", "sgntk", "ntk")
_EXACT_DIM = 16  # input dimension up to which S1 is summed in a fixed order
BLOCK_ELEMENTS = 1 << 17  # elements of one row block (rows x columns): fits in cache


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
    """block(item) for each item, on ``workers`` threads when there is more than one item."""
    if workers > 1 and len(items) > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(block, items))
    else:
        for item in items:
            block(item)


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

    def _variances(self, X: np.ndarray) -> list[np.ndarray]:
        """Diagonal S_l(x, x) for l = 1..L+1, each positive and finite."""
        with np.errstate(over="ignore", under="ignore"):
            s = self.sigma_w**2 * np.einsum("ij,ij->i", X, X) / X.shape[1] + self.sigma_b**2
        out = [s]
        for layer in range(len(self.steps) + 1):
            bad = ~(np.isfinite(s) & (s > 0))
            if bad.any():
                i = int(np.argmax(bad))
                if layer == 0 and not np.any(X[i]):
                    raise InputError(f"row {i} of the points is zero and sigma_b = 0: its pre-activations have "
                                     "variance 0, where the kernel is undefined; use sigma_b > 0 or drop the row")
                raise NumericalError(f"the variance S{layer + 1}(x, x) of row {i} is {s[i]:g} (it must be positive "
                                     f"and finite): the input norm {np.linalg.norm(X[i]):g} is out of range")
            if layer < len(self.steps):
                step = self.steps[layer]
                s = step.w2 * evaluate_valid(step.maps.nngp.function, step.maps.derived.nngp, s, s, s) + step.b2
                out.append(s)
        return out

    def _recursion(self, c: np.ndarray, va: list[np.ndarray], vb: list[np.ndarray], want: tuple[str, ...],
                   diagonal: tuple[np.ndarray, np.ndarray] | None = None,
                   out: dict[str, np.ndarray] | None = None):
        """Run the layer recursion on a block; c = S1 of the block, va/vb the row/column variances.

        ``diagonal`` indexes the block's entries S(x, x) (when X is Y): they are set to the
        variances exactly, so c^2 = ab holds there bit for bit and the maps take their edge values.
        ``out`` holds views of the output arrays that the last layer writes into directly.
        """
        out = out or {}
        if diagonal is not None:
            c[diagonal] = va[0][diagonal[0], 0]
        s = sg_ntk = naive = c  # I1 = T1 = S1 (never modified in place)
        for layer, step in enumerate(self.steps):
            w2, b2 = step.w2, step.b2
            a, b = va[layer], vb[layer]
            last = layer == len(self.steps) - 1
            # S is a covariance by construction; entries that rounding pushed past |c| = sqrt(ab)
            # are clipped inside evaluate_valid.
            if "ntk" in want:
                nngp, sg, ntk = step.maps.joint(("nngp", "sg", "ntk"), a, b, s)
                with np.errstate(invalid="ignore"):
                    ntk *= naive  # fresh arrays from the generated code: updated in place
                naive = _scaled(ntk, w2)
            else:
                nngp, sg = step.maps.joint(("nngp", "sg"), a, b, s)
            sg *= sg_ntk
            sg_ntk = _scaled(sg, w2)
            s = np.multiply(nngp, w2, out=out["nngp"] if last and "nngp" in out else nngp)
            if b2:
                s += b2
            if diagonal is not None:
                s[diagonal] = va[layer + 1][diagonal[0], 0]
            sg_ntk = np.add(sg_ntk, s, out=out["sgntk"] if last and "sgntk" in out else sg_ntk)
            if "ntk" in want:
                naive = np.add(naive, s, out=out["ntk"] if last and "ntk" in out else naive)
        return s, sg_ntk, naive

    def kernels(self, X: np.ndarray, Y: np.ndarray, outputs: tuple[str, ...] = OUTPUTS, workers: int = 2,
                block_rows: int | None = None) -> KernelResult:
        """Kernels of the network output between the rows of X (N x d) and of Y (M x d; ``Y is X``
        for the kernel of X with itself), validated (N, d) arrays."""
        if X.shape[1] != Y.shape[1]:
            raise InputError(f"X and Y must have the same number of columns, got {X.shape[1]} and {Y.shape[1]}")
        check_outputs(outputs)
        check_count("workers", workers)
        check_count("block_rows", block_rows)
        N, M = X.shape[0], Y.shape[0]
        check_memory((N, M), outputs)
        va = self._variances(X)
        vb = va if Y is X else self._variances(Y)
        result = {name: np.empty((N, M)) for name in outputs}
        side = block_rows or max(1, BLOCK_ELEMENTS // M)

        def block(start: int) -> None:
            rows = slice(start, min(start + side, N))
            self._rows(X[rows], Y, [v[rows] for v in va], vb, outputs, start if Y is X else None,
                       {name: value[rows] for name, value in result.items()})

        run_blocks(block, range(0, N, side), workers)
        return KernelResult(**result)

    def rows(self, X_rows: np.ndarray, Y: np.ndarray, start: int | None = None,
             outputs: tuple[str, ...] = OUTPUTS) -> KernelResult:
        """Rows of K(X, Y) for a slice ``X_rows`` of X, in one block (no threads): the unit of work
        of distributed computations.  ``start``: the slice's first row index when X is Y, so that
        the diagonal entries are exact (c^2 = ab bit for bit), as in the dense computation."""
        check_outputs(outputs)
        check_memory((X_rows.shape[0], Y.shape[0]), outputs)
        result = {name: np.empty((X_rows.shape[0], Y.shape[0])) for name in outputs}
        self._rows(X_rows, Y, self._variances(X_rows), self._variances(Y), outputs, start, result)
        return KernelResult(**result)

    def _rows(self, X_rows, Y, va, vb, outputs, start, out) -> None:
        """Kernel rows of X_rows against Y written into ``out``; diagonal entries exact when
        X_rows = Y[start:start + len(X_rows)]."""
        c = self._input_cov(X_rows, Y)
        diagonal = None
        if start is not None:
            k = np.arange(start, min(start + X_rows.shape[0], Y.shape[0]))
            diagonal = (k - start, k)
        self._recursion(c, [v[:, None] for v in va], [v[None, :] for v in vb], outputs, diagonal, out)
        for name, values in out.items():
            check_finite(name, values, start or 0, self._may_diverge(name))

    def diagonal(self, X: np.ndarray, outputs: tuple[str, ...] = OUTPUTS) -> KernelResult:
        """K(x_i, x_i) for each row of X, without forming the N x N matrices."""
        check_outputs(outputs)
        va = self._variances(X)
        s, sg_ntk, naive = self._recursion(va[0].copy(), va, va, tuple(outputs) + ("sgntk",))
        values = {name: value for name, value in (("nngp", s), ("sgntk", sg_ntk), ("ntk", naive)) if name in outputs}
        for name, value in values.items():
            check_finite(name, value[:, None], 0, self._may_diverge(name))
        return KernelResult(**values)

    def _may_diverge(self, name: str) -> bool:
        """Whether output ``name`` is legitimately infinite somewhere: a layer's derivative map is a
        product of deltas (the naive NTK of a jump activation; the SG-NTK too when psi = phi')."""
        return name != "nngp" and any(getattr(step.maps.derived, {"sgntk": "sg", "ntk": "ntk"}[name]).diverges
                                      for step in self.steps)


def check_finite(name: str, values: np.ndarray, first_row: int, may_diverge: bool) -> None:
    """NumericalError at a NaN, or at an infinity unless the output may diverge; ``values`` has
    the input pair (row, column) on its first two axes."""
    index = first_bad(values, may_diverge)
    if index is not None:
        i, j = index[:2]
        raise NumericalError(f"the {name} kernel came out {values[index]} at ({first_row + i}, {j}): the covariances "
                             "left the range where the layer maps can be evaluated in float64 (check the input "
                             "norms and sigma_w, sigma_b)")


def _scaled(values: np.ndarray, factor: float) -> np.ndarray:
    """factor * values, in place (values is a fresh work array)."""
    if factor != 1:
        values *= factor
    return values
