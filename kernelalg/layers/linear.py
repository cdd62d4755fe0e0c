"""Linear layers: Dense and Conv (with weights), AvgPool, GlobalAvgPool, Flatten (without).

Weight layers use the NTK parametrisation with all weights and biases i.i.d. N(0, 1):

    Dense:  h[p, o] = sw / sqrt(C) sum_i W[i, o] z[p, i] + sb b[o]            (at every pixel p)
    Conv:   h[p, o] = sw / sqrt(K C) sum_{k, i} W[k, i, o] z[s p + k, i] + sb b[o]

(K pixels per filter, C input channels, zero padding).  With infinitely many channels the
covariance of h is S'[p, q] = sw^2 L(S)[p, q] + sb^2 with L the identity (Dense) or
L(S)[p, q] = (1/K) sum_k S[s p + k, s q + k] (Conv, the same offset on both sides), and the
tangent kernels I and T follow Record.affine.  The finite network's share of J f(x) J~ f(y)^T
from W is sw^2 / C sum_{p, q} G_delta[p, q] L(G_z)[p, q] with G_z, G_delta the Gram matrices
(over channels) of the layer inputs and of the backpropagated deltas: the same L.

Pooling averages over a window (zero padding, divided by the full window size), on the
finite arrays along each spatial axis and on a covariance along both pixel blocks; global
pooling averages all pixels; flattening keeps every pixel's channels, so that a following
Dense layer sees the covariance averaged over the pixel diagonal, mean_p S[p, p].
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from kernelalg.errors import InputError
from kernelalg.layers.core import Layer
from kernelalg.layers.record import SIGMA_B, SIGMA_W
from kernelalg.layers.spatial import (
    Window,
    channel_gram,
    pair_conv,
    pair_trace,
    patches,
    patches_adjoint,
    window_sum,
    window_sum_adjoint,
    windows,
)

Array = np.ndarray


def _positive_ints(value, name: str) -> tuple[int, ...]:
    values = (value,) if isinstance(value, (int, np.integer)) else tuple(value)
    if not values or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in values):
        raise InputError(f"{name} must be positive integers, got {value!r}")
    return tuple(int(v) for v in values)


@dataclass(frozen=True, kw_only=True)
class _Weights(Layer):
    """Shared part of Dense and Conv: weights of shape (*filter, C_in, C_out) and a bias."""

    sigma_w: float = 1.0
    sigma_b: float = 0.0
    out: int | None = None  # output channels of the finite network; None: the width given to init

    ends_with_weights = True

    def __post_init__(self):
        if not (np.isfinite(self.sigma_w) and self.sigma_w > 0):
            raise InputError(f"sigma_w must be a positive finite number, got {self.sigma_w!r}")
        if not (np.isfinite(self.sigma_b) and self.sigma_b >= 0):
            raise InputError(f"sigma_b must be a finite non-negative number, got {self.sigma_b!r}")
        if self.out is not None:
            _positive_ints(self.out, "out")

    def _windows(self, spatial: tuple[int, ...]) -> tuple[Window, ...] | None:
        return None  # Dense: every pixel on its own

    def _op(self, spatial):
        wins = self._windows(spatial)
        return (lambda v: v) if wins is None else (lambda v: pair_conv(v, wins))

    def kernel(self, record, side):
        return record.affine(self._op(record.spatial), self.sigma_w, self.sigma_b, self.spatial_out(record.spatial))

    def hyperparameters(self):
        return {SIGMA_W, SIGMA_B}

    def with_hyperparameters(self, values):
        return replace(self, sigma_w=values.get(SIGMA_W, self.sigma_w), sigma_b=values.get(SIGMA_B, self.sigma_b))

    def _filter(self) -> tuple[int, ...]:
        return ()

    def init(self, rng, shape, width):
        spatial, channels = shape[:-1], shape[-1]
        out = self.out or width
        W = rng.standard_normal((*self._filter(), channels, out))
        return (W, rng.standard_normal(out)), (*self.spatial_out(spatial), out)

    def _patches(self, z: Array) -> Array:
        """(N, *out, K, C) inputs of each output pixel."""
        wins = self._windows(z.shape[1:-1])
        return z[..., None, :] if wins is None else patches(z, wins)

    def _scale(self, W: Array) -> float:
        return self.sigma_w / np.sqrt(W[..., 0].size)  # K * C_in inputs per output

    def forward(self, params, z):
        W, b = params
        P = self._patches(z)
        h = (P.reshape(-1, W[..., 0].size) @ W.reshape(-1, W.shape[-1])).reshape(*P.shape[:-2], W.shape[-1])
        h *= self._scale(W)
        if self.sigma_b:
            h += self.sigma_b * b
        return h, z

    def backward(self, params, z, delta, surrogate):
        W, _ = params
        g = (delta.reshape(-1, W.shape[-1]) @ W.reshape(-1, W.shape[-1]).T).reshape(*delta.shape[:-1], -1)
        g *= self._scale(W)
        wins = self._windows(z.shape[1:-1])
        if wins is None:
            return g
        return patches_adjoint(g.reshape(*g.shape[:-1], -1, z.shape[-1]), wins, z.shape[1:-1])

    def gram(self, params, zx, zy, dx, dy):
        grams = channel_gram(dx, dy)
        inputs = self._op(zx.shape[1:-1])(channel_gram(zx, zy))
        inputs *= self.sigma_w**2 / zx.shape[-1]
        if self.sigma_b:
            inputs += self.sigma_b**2
        return np.einsum("nmi,nmi->nm", grams.reshape(*grams.shape[:2], -1), inputs.reshape(*inputs.shape[:2], -1))

    def parameter_gradients(self, params, z, delta, surrogate):
        W, _ = params
        P = self._patches(z)
        n = z.shape[0]
        dW = np.einsum("npkc,npo->nkco", P.reshape(n, -1, *P.shape[-2:]), delta.reshape(n, -1, delta.shape[-1]))
        return [self._scale(W) * dW.reshape(n, *W.shape), self.sigma_b * delta.reshape(n, -1, delta.shape[-1]).sum(1)]


@dataclass(frozen=True)
class Dense(_Weights):
    """Fully connected layer acting on the channels (at every pixel, if the input has pixels)."""


@dataclass(frozen=True)
class Conv(_Weights):
    """Convolution over 1 or 2 (or more) spatial axes with ``filter_shape``, ``strides`` and
    ``padding`` ("SAME" or "VALID"); infinitely many channels in the kernel."""

    filter_shape: tuple[int, ...] = (3, 3)
    strides: tuple[int, ...] | None = None
    padding: str = "SAME"

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "filter_shape", _positive_ints(self.filter_shape, "filter_shape"))
        strides = (1,) * len(self.filter_shape) if self.strides is None else _positive_ints(self.strides, "strides")
        if len(strides) != len(self.filter_shape):
            raise InputError(f"strides {strides} do not match filter_shape {self.filter_shape}")
        object.__setattr__(self, "strides", strides)
        windows((9,) * len(strides), (1,) * len(strides), strides, self.padding)  # checks the padding name

    def _windows(self, spatial):
        return windows(spatial, self.filter_shape, self.strides, self.padding)

    def _filter(self):
        return self.filter_shape

    def spatial_out(self, spatial):
        return tuple(w.out for w in self._windows(spatial))


@dataclass(frozen=True)
class AvgPool(Layer):
    """Average over windows of ``window`` pixels (divided by the full window size; zero padding)."""

    linear = True

    window: tuple[int, ...] = (2, 2)
    strides: tuple[int, ...] | None = None
    padding: str = "VALID"

    def __post_init__(self):
        object.__setattr__(self, "window", _positive_ints(self.window, "window"))
        strides = self.window if self.strides is None else _positive_ints(self.strides, "strides")
        if len(strides) != len(self.window):
            raise InputError(f"strides {strides} do not match window {self.window}")
        object.__setattr__(self, "strides", strides)
        windows((9,) * len(strides), (1,) * len(strides), strides, self.padding)

    def _windows(self, spatial):
        return windows(spatial, self.window, self.strides, self.padding)

    def spatial_out(self, spatial):
        return tuple(w.out for w in self._windows(spatial))

    def kernel(self, record, side):
        wins = self._windows(record.spatial)
        nd = len(wins)
        scale = 1.0 / float(np.prod(self.window)) ** 2

        def op(v: Array) -> Array:
            for d, w in enumerate(wins):
                v = window_sum(window_sum(v, v.ndim - 2 * nd + d, w), v.ndim - nd + d, w)
            return v * scale

        return record.linear(op, self.spatial_out(record.spatial))

    def forward(self, params, z):
        wins = self._windows(z.shape[1:-1])
        out = z
        for d, w in enumerate(wins):
            out = window_sum(out, 1 + d, w)
        return out / float(np.prod(self.window)), z.shape

    def backward(self, params, shape, delta, surrogate):
        wins = self._windows(shape[1:-1])
        for d, w in enumerate(wins):
            delta = window_sum_adjoint(delta, 1 + d, w, shape[1 + d])
        return delta / float(np.prod(self.window))


@dataclass(frozen=True)
class GlobalAvgPool(Layer):
    """Average over all pixels: (N, *spatial, C) -> (N, C)."""

    linear = True

    def spatial_out(self, spatial):
        return ()

    def kernel(self, record, side):
        nd = len(record.spatial)
        axes = tuple(range(-2 * nd, 0))
        return record.linear(lambda v: v.mean(axis=axes) if nd else v, ())

    def forward(self, params, z):
        return z.mean(axis=tuple(range(1, z.ndim - 1))), z.shape

    def backward(self, params, shape, delta, surrogate):
        pixels = int(np.prod(shape[1:-1]))
        return np.broadcast_to(delta.reshape(shape[0], *(1,) * (len(shape) - 2), shape[-1]) / pixels, shape).copy()


@dataclass(frozen=True)
class Flatten(Layer):
    """All pixels' channels in one vector: (N, *spatial, C) -> (N, prod(spatial) C)."""

    linear = True

    def spatial_out(self, spatial):
        return ()

    def kernel(self, record, side):
        nd = len(record.spatial)
        return record.linear(lambda v: pair_trace(v, nd), ())

    def init(self, rng, shape, width):
        return (), (int(np.prod(shape)),)

    def forward(self, params, z):
        return z.reshape(z.shape[0], -1), z.shape

    def backward(self, params, shape, delta, surrogate):
        return delta.reshape(shape)
