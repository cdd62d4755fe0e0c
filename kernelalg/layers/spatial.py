"""Array operations over spatial axes, shared by the kernels and the finite networks.

Kernel arrays of a layer with spatial shape (H, W) have the layout ``batch + (H, W) + (H, W)``:
the first spatial block indexes the pixel p of the first input, the second the pixel q of the
second (``batch`` is (n,) for an input with itself, (n, m) for two sets of inputs).  Finite
activations have the layout ``(N, H, W, C)``.  Each spatial axis has a :class:`Window`
(size, stride, zero padding) shared by a layer's finite and kernel versions.

* :func:`pair_conv`: the covariance after a convolution with infinitely many channels,
  ``out[p, q] = (1/K) sum_k in[s p + k, s q + k]`` (the same filter offset on both sides);
* :func:`window_sum`: ``out[p] = sum_k in[s p + k]`` along one axis, the finite average pool
  and, applied to both pixel blocks, the covariance after pooling; :func:`window_sum_adjoint`
  is its transpose (backpropagation);
* :func:`patches` / :func:`patches_adjoint`: the finite convolution's input patches.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from kernelalg.errors import InputError

PADDINGS = ("SAME", "VALID")
Array = np.ndarray


@dataclass(frozen=True)
class Window:
    """A sliding window along one axis of length ``length``: output length ``out``, zero padding (lo, hi)."""

    size: int
    stride: int
    lo: int
    hi: int
    out: int

    def taps(self, offset: int) -> slice:
        """Padded input positions s p + offset for p = 0..out-1."""
        return slice(offset, offset + self.stride * (self.out - 1) + 1, self.stride)


def windows(shape: tuple[int, ...], size: tuple[int, ...], strides: tuple[int, ...], padding: str) -> tuple[Window, ...]:
    """Windows of a filter/pool of ``size`` over spatial ``shape`` ("SAME": output length
    ceil(length / stride), the padding split with the extra pixel at the end, as in XLA)."""
    if len(size) != len(shape) or len(strides) != len(shape):
        raise InputError(f"window {size} / strides {strides} do not match the {len(shape)} spatial axes {shape}")
    if padding not in PADDINGS:
        raise InputError(f"padding must be one of {PADDINGS}, got {padding!r}")
    out = []
    for length, k, s in zip(shape, size, strides):
        if padding == "VALID":
            if k > length:
                raise InputError(f"window of size {k} does not fit an axis of length {length} (VALID padding)")
            out.append(Window(k, s, 0, 0, (length - k) // s + 1))
        else:
            n = -(-length // s)
            total = max((n - 1) * s + k - length, 0)
            out.append(Window(k, s, total // 2, total - total // 2, n))
    return tuple(out)


def _padded(arr: np.ndarray, axes: tuple[int, ...], window: Window) -> np.ndarray:
    if not (window.lo or window.hi):
        return arr
    widths = [(0, 0)] * arr.ndim
    for axis in axes:
        widths[axis] = (window.lo, window.hi)
    return np.pad(arr, widths)


def _index(ndim: int, axes: tuple[int, ...], taps: slice) -> tuple[slice, ...]:
    index = [slice(None)] * ndim
    for axis in axes:
        index[axis] = taps
    return tuple(index)


def pair_conv(arr: np.ndarray, wins: tuple[Window, ...]) -> np.ndarray:
    """Covariance after a convolution: per spatial axis, the mean over filter offsets k of
    arr[s p + k, s q + k] (zero padding; padded taps count in the mean, as zero inputs)."""
    nd = len(wins)
    for d, w in enumerate(wins):
        axes = (arr.ndim - 2 * nd + d, arr.ndim - nd + d)
        padded = _padded(arr, axes, w)
        total = padded[_index(arr.ndim, axes, w.taps(0))].copy()
        for k in range(1, w.size):
            total += padded[_index(arr.ndim, axes, w.taps(k))]
        if w.size > 1:
            total *= 1.0 / w.size
        arr = total
    return arr


def window_sum(arr: np.ndarray, axis: int, w: Window) -> np.ndarray:
    """out[p] = sum_k arr[s p + k] along ``axis`` (zero padding)."""
    padded = _padded(arr, (axis,), w)
    total = padded[_index(arr.ndim, (axis,), w.taps(0))].copy()
    for k in range(1, w.size):
        total += padded[_index(arr.ndim, (axis,), w.taps(k))]
    return total


def window_sum_adjoint(grad: np.ndarray, axis: int, w: Window, length: int) -> np.ndarray:
    """The transpose of :func:`window_sum`: each output's value added back to its window."""
    shape = list(grad.shape)
    shape[axis] = length + w.lo + w.hi
    padded = np.zeros(shape)
    for k in range(w.size):
        padded[_index(grad.ndim, (axis,), w.taps(k))] += grad
    return padded[_index(grad.ndim, (axis,), slice(w.lo, w.lo + length))]


def patches(z: np.ndarray, wins: tuple[Window, ...]) -> np.ndarray:
    """Filter patches of finite activations z (N, *spatial, C): shape (N, *out, K, C), K = prod(sizes)."""
    nd = len(wins)
    widths = [(0, 0)] + [(w.lo, w.hi) for w in wins] + [(0, 0)]
    padded = np.pad(z, widths) if any(w.lo or w.hi for w in wins) else z
    taps = [padded[(slice(None), *(w.taps(k) for w, k in zip(wins, offset)), slice(None))]
            for offset in itertools.product(*(range(w.size) for w in wins))]
    return np.stack(taps, axis=1 + nd)


def patches_adjoint(grad: np.ndarray, wins: tuple[Window, ...], shape: tuple[int, ...]) -> np.ndarray:
    """The transpose of :func:`patches`: gradients (N, *out, K, C) summed back onto (N, *shape, C)."""
    padded = np.zeros((grad.shape[0], *(n + w.lo + w.hi for n, w in zip(shape, wins)), grad.shape[-1]))
    for i, offset in enumerate(itertools.product(*(range(w.size) for w in wins))):
        padded[(slice(None), *(w.taps(k) for w, k in zip(wins, offset)), slice(None))] += grad[(Ellipsis, i, slice(None))]
    return padded[(slice(None), *(slice(w.lo, w.lo + n) for n, w in zip(shape, wins)), slice(None))]


def pair_diagonal(arr: np.ndarray, nd: int) -> np.ndarray:
    """arr[..., p, p] of a self-covariance batch + spatial + spatial: shape batch + spatial."""
    if nd == 0:
        return arr
    spatial = arr.shape[arr.ndim - nd:]
    size = int(np.prod(spatial))
    flat = arr.reshape(*arr.shape[:arr.ndim - 2 * nd], size, size)
    return np.diagonal(flat, axis1=-2, axis2=-1).reshape(*flat.shape[:-2], *spatial)


def pair_trace(arr: np.ndarray, nd: int) -> np.ndarray:
    """Mean over p of arr[..., p, p]: the covariance after flattening (a Dense layer then sees
    every pixel's channels as inputs)."""
    if nd == 0:
        return arr
    return pair_diagonal(arr, nd).reshape(*arr.shape[:arr.ndim - 2 * nd], -1).mean(axis=-1)


def channel_gram(u: Array, v: Array) -> Array:
    """sum_c u[n, p, c] v[m, q, c] for u (N, *spatial, C), v (M, *spatial', C): shape (N, M, *spatial, *spatial')."""
    n, m = u.shape[0], v.shape[0]
    su, sv = u.shape[1:-1], v.shape[1:-1]
    g = u.reshape(-1, u.shape[-1]) @ v.reshape(-1, v.shape[-1]).T
    g = g.reshape(n, int(np.prod(su)), m, int(np.prod(sv))).transpose(0, 2, 1, 3)
    return g.reshape(n, m, *su, *sv)
