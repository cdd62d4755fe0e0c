"""The layer protocol and the combinators: serial composition, sums of branches, identity.

Every layer has two faces that share their array operations:

* the kernel face, ``kernel(record, side)``: the infinite-width map of a :class:`Record`
  (covariances S, SG-NTK I, naive NTK T of a batch of input pairs, their hyperparameter
  tangents); ``spatial_out`` infers the spatial shape;
* the finite face: ``init`` (weights i.i.d. N(0, 1), NTK parametrisation), ``forward``,
  ``backward`` (the true Jacobian with phi', or the surrogate Jacobian with psi), ``gram``
  (the layer's own parameters' share of J f(x) J~ f(y)^T, from Gram matrices: no per-parameter
  Jacobian is formed) and ``parameter_gradients`` (per-sample gradients, for small networks).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from kernelalg.errors import InputError
from kernelalg.layers.record import Record

Array = np.ndarray


class Layer:
    """Base class: a layer without parameters that passes arrays through unchanged."""

    #: True if the output is linear in the layer's own last weights (a Dense or Conv layer, possibly
    #: followed by parameter-free linear layers): zero mean given everything else, hence
    #: uncorrelated with any other branch of a sum.
    ends_with_weights = False
    #: True for parameter-free linear layers (pooling, flattening, identity).
    linear = False

    def spatial_out(self, spatial: tuple[int, ...]) -> tuple[int, ...]:
        return spatial

    def pixels(self, spatial: tuple[int, ...]) -> int:
        """Largest number of pixels of any array inside the layer for inputs of this spatial shape."""
        return max(int(np.prod(spatial)), int(np.prod(self.spatial_out(spatial))))

    def kernel(self, record: Record, side) -> Record:
        return record

    def hyperparameters(self) -> set[str]:
        """Names of the hyperparameters the layer's kernel depends on (see :mod:`record`)."""
        return set()

    def with_hyperparameters(self, values: dict[str, float]) -> Layer:
        """The layer with the named hyperparameters set (shared names: every layer that has one)."""
        return self

    # --- finite network ------------------------------------------------------------------

    def init(self, rng: np.random.Generator, shape: tuple[int, ...], width: int):
        """(params, output shape) for per-sample input ``shape`` (spatial..., channels)."""
        return (), (*self.spatial_out(tuple(shape[:-1])), shape[-1])

    def forward(self, params, z: Array):
        """(output, cache) for a batch z of shape (N, *shape)."""
        return z, None

    def backward(self, params, cache, delta: Array, surrogate: bool) -> Array:
        """d f / d input from d f / d output; ``surrogate``: psi in place of phi'."""
        return delta

    def gram(self, params, cache_x, cache_y, delta_x: Array, delta_y: Array):
        """Share of the layer's own parameters in J f(x) J~ f(y)^T, shape (N, M) (0 without parameters)."""
        return 0.0

    def parameter_gradients(self, params, cache, delta: Array, surrogate: bool) -> list[Array]:
        """Per-sample gradients of the layer's parameters (of J f, or of J~ f with ``surrogate``),
        each (N, *parameter shape)."""
        return []

    def backward_pair(self, params, cache_x, cache_y, delta_x, delta_y):
        """Backward pass of J on x and of J~ on y at once, with the layer's share of J f(x) J~ f(y)^T."""
        return (self.backward(params, cache_x, delta_x, False), self.backward(params, cache_y, delta_y, True),
                self.gram(params, cache_x, cache_y, delta_x, delta_y))


@dataclass(frozen=True)
class Identity(Layer):
    """The identity (e.g. the skip branch of a residual block)."""

    linear = True


def _as_layer(item) -> Layer:
    if isinstance(item, Layer):
        return item
    if isinstance(item, (tuple, list)):
        return Serial(tuple(_as_layer(i) for i in item))
    raise InputError(f"not a layer: {item!r}")


@dataclass(frozen=True)
class Serial(Layer):
    """Layers applied one after the other."""

    layers: tuple[Layer, ...]

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(_as_layer(layer) for layer in self.layers))

    @property
    def ends_with_weights(self) -> bool:
        for layer in reversed(self.layers):
            if not layer.linear:
                return layer.ends_with_weights
        return False

    @property
    def linear(self) -> bool:
        return all(layer.linear for layer in self.layers)

    def spatial_out(self, spatial):
        for layer in self.layers:
            spatial = layer.spatial_out(spatial)
        return spatial

    def pixels(self, spatial):
        most = int(np.prod(spatial))
        for layer in self.layers:
            most = max(most, layer.pixels(spatial))
            spatial = layer.spatial_out(spatial)
        return most

    def kernel(self, record, side):
        for layer in self.layers:
            record = layer.kernel(record, side)
        return record

    def hyperparameters(self):
        return set().union(*(layer.hyperparameters() for layer in self.layers))

    def with_hyperparameters(self, values):
        return replace(self, layers=tuple(layer.with_hyperparameters(values) for layer in self.layers))

    def init(self, rng, shape, width):
        params = []
        for layer in self.layers:
            p, shape = layer.init(rng, shape, width)
            params.append(p)
        return params, shape

    def forward(self, params, z):
        caches = []
        for layer, p in zip(self.layers, params):
            z, cache = layer.forward(p, z)
            caches.append(cache)
        return z, caches

    def backward(self, params, cache, delta, surrogate):
        for layer, p, c in reversed(list(zip(self.layers, params, cache))):
            delta = layer.backward(p, c, delta, surrogate)
        return delta

    def backward_pair(self, params, cache_x, cache_y, delta_x, delta_y):
        total = 0.0
        for layer, p, cx, cy in reversed(list(zip(self.layers, params, cache_x, cache_y))):
            delta_x, delta_y, share = layer.backward_pair(p, cx, cy, delta_x, delta_y)
            total = total + share
        return delta_x, delta_y, total

    def parameter_gradients(self, params, cache, delta, surrogate):
        grads: list[list[Array]] = []
        for layer, p, c in reversed(list(zip(self.layers, params, cache))):
            grads.append(layer.parameter_gradients(p, c, delta, surrogate))
            delta = layer.backward(p, c, delta, surrogate)
        return [g for layer_grads in reversed(grads) for g in layer_grads]


@dataclass(frozen=True)
class Sum(Layer):
    """Fan-out to independent branches and sum their outputs (kernels add).

    The kernels of a sum are the sums of the branches' kernels only when the branches are
    uncorrelated, so all branches but at most one must end with their own weights (a Dense or
    Conv layer, then at most pooling or flattening); the other may be the identity (a residual
    connection)."""

    branches: tuple[Layer, ...]

    def __post_init__(self):
        branches = tuple(_as_layer(b) for b in self.branches)
        if len(branches) < 2:
            raise InputError("a sum needs at least two branches")
        if sum(not b.ends_with_weights for b in branches) > 1:
            raise InputError("at most one branch of a sum may end without its own weights (Dense or Conv, then "
                             "at most pooling or flattening): otherwise the branches are correlated and their "
                             "kernels do not add")
        object.__setattr__(self, "branches", branches)

    @property
    def ends_with_weights(self) -> bool:
        return all(b.ends_with_weights for b in self.branches)

    def spatial_out(self, spatial):
        shapes = {b.spatial_out(spatial) for b in self.branches}
        if len(shapes) != 1:
            raise InputError(f"branches of a sum have different output shapes {sorted(shapes)}")
        return shapes.pop()

    def pixels(self, spatial):
        return max(b.pixels(spatial) for b in self.branches)

    def kernel(self, record, side):
        total = None
        for branch in self.branches:
            out = branch.kernel(record, side)
            total = out if total is None else total.plus(out)
        return total

    def hyperparameters(self):
        return set().union(*(b.hyperparameters() for b in self.branches))

    def with_hyperparameters(self, values):
        return replace(self, branches=tuple(b.with_hyperparameters(values) for b in self.branches))

    def init(self, rng, shape, width):
        params, shapes = zip(*(b.init(rng, shape, width) for b in self.branches))
        if len(set(shapes)) != 1:
            raise InputError(f"branches of a sum have different output shapes {sorted(set(shapes))}")
        return list(params), shapes[0]

    def forward(self, params, z):
        outs, caches = zip(*(b.forward(p, z) for b, p in zip(self.branches, params)))
        return sum(outs[1:], outs[0]), list(caches)

    def backward(self, params, cache, delta, surrogate):
        parts = [b.backward(p, c, delta, surrogate) for b, p, c in zip(self.branches, params, cache)]
        return sum(parts[1:], parts[0])

    def backward_pair(self, params, cache_x, cache_y, delta_x, delta_y):
        parts = [b.backward_pair(p, cx, cy, delta_x, delta_y)
                 for b, p, cx, cy in zip(self.branches, params, cache_x, cache_y)]
        dx, dy, share = zip(*parts)
        return sum(dx[1:], dx[0]), sum(dy[1:], dy[0]), sum(share[1:], share[0])

    def parameter_gradients(self, params, cache, delta, surrogate):
        return [g for b, p, c in zip(self.branches, params, cache)
                for g in b.parameter_gradients(p, c, delta, surrogate)]


def Residual(*layers) -> Sum:
    """x + block(x): the identity plus the serial block (which must end with Dense or Conv)."""
    return Sum((Identity(), Serial(layers)))
