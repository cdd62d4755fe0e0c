"""A network of layers: its infinite-width kernels, their hyperparameter gradients, and its finite version.

``serial(*layers)`` returns a :class:`Network`.  Called on inputs X (N, *spatial, C) and
optionally Y, it returns the kernels of the network output like ``Kernel``: NNGP S, SG-NTK I
(J f on X, J~ f on Y) and naive NTK T, of shape (N, M) for a flat output or
(N, M, *spatial, *spatial) otherwise.  ``initialize``/``apply``/``empirical_kernel`` run a
finite network of the same layers (widths given at initialisation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernelalg.errors import InputError
from kernelalg.layers.activation import Activation
from kernelalg.layers.core import Serial
from kernelalg.layers.evaluate import BLOCK_ELEMENTS, cross_pass, self_pass
from kernelalg.layers.linear import Dense
from kernelalg.layers.record import Request
from kernelalg.numeric.arrays import check_memory
from kernelalg.numeric.chain import (
    OUTPUTS,
    Chain,
    KernelResult,
    Step,
    check_finite,
    check_outputs,
)
from kernelalg.numeric.kernels import as_inputs


def _request(outputs, wrt=()) -> Request:
    check_outputs(outputs)
    return Request(sgntk="sgntk" in outputs, ntk="ntk" in outputs, wrt=tuple(wrt))


@dataclass(frozen=True)
class Network(Serial):
    """Layers in series, with kernel evaluation and a finite implementation."""

    # --- kernels -------------------------------------------------------------------------

    def _pair(self, X, Y):
        X = as_inputs(X, "X")
        Y = X if Y is None else as_inputs(Y, "Y")
        if X.shape[1:] != Y.shape[1:]:
            raise InputError(f"X and Y must have the same shape per input, got {X.shape[1:]} and {Y.shape[1:]}")
        return X, Y

    def _evaluate(self, X, Y, request: Request, outputs, workers: int, same_offset: int | None = None,
                  block_elements: int | None = None):
        budget = block_elements or BLOCK_ELEMENTS
        kept_x, _ = self_pass(self, X, request, budget)
        kept_y = kept_x if Y is X else self_pass(self, Y, request, budget)[0]
        out_spatial = self.spatial_out(X.shape[1:-1])
        shape = (X.shape[0], Y.shape[0], *out_spatial, *out_spatial)
        check_memory((X.shape[0], int(np.prod(shape[1:]))), tuple(outputs) * (1 + len(request.wrt)))
        results = {name: np.empty(shape) for name in outputs}
        gradients = {name: {o: np.empty(shape) for o in outputs} for name in request.wrt}
        if same_offset is None and Y is X:
            same_offset = 0
        cross_pass(self, X, Y, request, kept_x, kept_y, same_offset, results, gradients, workers, budget)
        _check_results(results, same_offset or 0)
        return KernelResult(**results), {name: KernelResult(**g) for name, g in gradients.items()}

    def chain(self) -> Chain | None:
        """The network as a fully connected chain (the recursion of ``Kernel``, with each layer's
        own pair and sigmas), or None unless its layers are Dense, then (Activation, Dense)+."""
        layers = self.layers
        if len(layers) < 3 or len(layers) % 2 == 0 or not all(type(layer) is Dense for layer in layers[::2]) \
                or not all(type(layer) is Activation for layer in layers[1::2]):
            return None
        steps = tuple(Step(act.maps, dense.sigma_w**2, dense.sigma_b**2)
                      for act, dense in zip(layers[1::2], layers[2::2]))
        return Chain(layers[0].sigma_w, layers[0].sigma_b, steps)

    def _fast(self, X: np.ndarray) -> Chain | None:
        """The chain, for flat inputs (N, d)."""
        return self.chain() if X.ndim == 2 else None

    def __call__(self, X, Y=None, outputs: tuple[str, ...] = OUTPUTS, workers: int = 2,
                 block_elements: int | None = None) -> KernelResult:
        """Kernels between the inputs X (N, *spatial, C) and Y (M, *spatial, C; default X).

        Input pairs are processed in blocks whose pixel-pair arrays have at most
        ``block_elements`` entries (default 2**20; for a fully connected chain on flat inputs,
        the MLP's row blocks of 2**17 entries), on ``workers`` threads."""
        X, Y = self._pair(X, Y)
        chain = self._fast(X)
        if chain is not None:
            rows = None if block_elements is None else max(1, block_elements // Y.shape[0])
            return chain.kernels(X, Y, outputs, workers, rows)
        return self._evaluate(X, Y, _request(outputs), outputs, workers, block_elements=block_elements)[0]

    def rows(self, X_rows, Y, start: int | None = None, outputs: tuple[str, ...] = OUTPUTS) -> KernelResult:
        """Rows of K(X, Y) for a slice ``X_rows`` of X (one thread): the unit of work of the Dask
        adapter.  ``start``: the slice's first index when X is Y (entries of equal inputs exact)."""
        X_rows, Y = self._pair(X_rows, Y)
        chain = self._fast(X_rows)
        if chain is not None:
            return chain.rows(X_rows, Y, start, outputs)
        return self._evaluate(X_rows, Y, _request(outputs), outputs, 1, start)[0]

    def diagonal(self, X, outputs: tuple[str, ...] = OUTPUTS) -> KernelResult:
        """K(x_i, x_i) for each input, without forming the N x M kernels."""
        X = as_inputs(X, "X")
        chain = self._fast(X)
        if chain is not None:
            return chain.diagonal(X, outputs)
        _, final = self_pass(self, X, _request(outputs))
        values = {name: final[name] for name in outputs}
        _check_results({name: value[:, None] for name, value in values.items()}, 0)
        return KernelResult(**values)

    def value_and_gradient(self, X, Y=None, wrt: tuple[str, ...] = ("sigma_w", "sigma_b"),
                           outputs: tuple[str, ...] = ("nngp", "sgntk"), workers: int = 2,
                           block_elements: int | None = None):
        """(kernels, {name: their derivatives}) with respect to the hyperparameters ``wrt``:
        "sigma_w" / "sigma_b" (shared by every Dense and Conv layer: the derivative moves all of
        them together) and "psi.<parameter>" (a catalog parameter of the surrogates, e.g.
        "psi.sigma" for the Gaussian's width).  Derivatives of the NNGP and SG-NTK only."""
        if "ntk" in outputs:
            raise InputError("hyperparameter derivatives are available for the nngp and sgntk outputs only")
        known = self.hyperparameters()
        unknown = [name for name in wrt if name not in known]
        if unknown:
            raise InputError(f"unknown hyperparameter(s) {unknown}; this network has {sorted(known)}")
        X, Y = self._pair(X, Y)
        return self._evaluate(X, Y, _request(outputs, wrt), outputs, workers, block_elements=block_elements)

    # --- finite network ------------------------------------------------------------------

    def initialize(self, input_shape: tuple[int, ...], width: int, seed: int | None = 0):
        """Parameters of a finite network for inputs of shape (*spatial, C); hidden layers
        without an explicit ``out`` get ``width`` channels."""
        if not (isinstance(width, (int, np.integer)) and width >= 1):
            raise InputError(f"width must be a positive integer, got {width!r}")
        params, _ = self.init(np.random.default_rng(seed), tuple(input_shape), int(width))
        return params

    def apply(self, params, X) -> np.ndarray:
        """The finite network's outputs on X."""
        return self.forward(params, as_inputs(X, "X"))[0]

    def empirical_kernel(self, params, X, Y=None) -> np.ndarray:
        """J f(x) J~ f(y)^T of the first output unit, shape (N, M): the empirical SG-NTK."""
        X, Y = self._pair(X, Y)
        out_x, cache_x = self.forward(params, X)
        out_y, cache_y = (out_x, cache_x) if Y is X else self.forward(params, Y)
        if out_x.ndim != 2:
            raise InputError(f"the empirical kernel needs a flat network output, got shape {out_x.shape[1:]}")
        return self.backward_pair(params, cache_x, cache_y, _unit(out_x), _unit(out_y))[2]

    def jacobian(self, params, X, surrogate: bool) -> np.ndarray:
        """Per-sample gradients of the first output unit w.r.t. all parameters, (N, P): J f,
        or J~ f with ``surrogate``.  For small networks (tests)."""
        X = as_inputs(X, "X")
        out, cache = self.forward(params, X)
        grads = self.parameter_gradients(params, cache, _unit(out), surrogate)
        return np.concatenate([g.reshape(X.shape[0], -1) for g in grads], axis=1)


def _check_results(results: dict[str, np.ndarray], first_row: int) -> None:
    """NumericalError at a NaN, or at an infinite NNGP (the SG-NTK and naive NTK may diverge)."""
    for name, values in results.items():
        check_finite(name, values, (first_row, 0), name != "nngp")


def _unit(out: np.ndarray) -> np.ndarray:
    delta = np.zeros_like(out)
    delta[:, 0] = 1.0
    return delta


def serial(*layers) -> Network:
    """Compose layers (or tuples of layers) into a network."""
    return Network(layers)


def mlp(phi, psi=None, depth: int = 1, sigma_w: float = 1.0, sigma_b: float = 0.0) -> Network:
    """The fully connected network of ``Kernel``: Dense, then ``depth`` times (phi/psi, Dense)."""
    if not isinstance(depth, (int, np.integer)) or depth < 1:
        raise InputError(f"depth (number of hidden layers) must be an integer >= 1, got {depth!r}")
    dense = Dense(sigma_w=sigma_w, sigma_b=sigma_b)
    return Network((dense, *(layer for _ in range(depth) for layer in (Activation(phi, psi), dense))))
