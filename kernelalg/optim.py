"""Small first-order optimisers over lists of NumPy arrays (no autodiff framework needed).

Each optimiser is a frozen specification with ``init(params) -> state`` and
``step(params, grads, state) -> (params, state)``; states are plain tuples of arrays, so runs
are reproducible and easy to checkpoint.  Learning rates decay exponentially:
``lr_t = lr * decay**t``.  Gradients may be clipped by global norm first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Params = list[np.ndarray]


def clip_by_norm(grads: Params, max_norm: float | None) -> Params:
    """Scale the gradients so that their joint Euclidean norm is at most ``max_norm``."""
    if max_norm is None:
        return grads
    norm = np.sqrt(sum(float(np.sum(g * g)) for g in grads))
    if not np.isfinite(norm):
        raise FloatingPointError("non-finite gradient")
    return grads if norm <= max_norm else [g * (max_norm / norm) for g in grads]


@dataclass(frozen=True)
class SGD:
    """theta <- theta - lr_t * clip(g); ``clip`` bounds the global norm, ``clip_value`` each
    component (|g_i| <= clip_value, as optax.clip)."""

    lr: float
    decay: float = 1.0
    clip: float | None = None
    clip_value: float | None = None

    def init(self, params: Params) -> tuple:
        return (0,)

    def step(self, params: Params, grads: Params, state: tuple) -> tuple[Params, tuple]:
        (t,) = state
        lr = self.lr * self.decay**t
        grads = clip_by_norm(grads, self.clip)
        if self.clip_value is not None:
            grads = [g.clip(-self.clip_value, self.clip_value) for g in grads]
        return [p - lr * g for p, g in zip(params, grads)], (t + 1,)


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma and Ba); with ``belief=True`` AdaBelief (Zhuang et al.): the second moment
    tracks (g - m)^2 instead of g^2."""

    lr: float
    decay: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    clip: float | None = None
    belief: bool = False

    def init(self, params: Params) -> tuple:
        return (0, [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params])

    def step(self, params: Params, grads: Params, state: tuple) -> tuple[Params, tuple]:
        t, m, v = state
        grads = clip_by_norm(grads, self.clip)
        m = [self.beta1 * mi + (1 - self.beta1) * g for mi, g in zip(m, grads)]
        second = [(g - mi) ** 2 if self.belief else g * g for g, mi in zip(grads, m)]
        v = [self.beta2 * vi + (1 - self.beta2) * s + (self.eps if self.belief else 0.0) for vi, s in zip(v, second)]
        lr = self.lr * self.decay**t
        c1, c2 = 1 - self.beta1 ** (t + 1), 1 - self.beta2 ** (t + 1)
        new = [p - lr * (mi / c1) / (np.sqrt(vi / c2) + self.eps) for p, mi, vi in zip(params, m, v)]
        return new, (t + 1, m, v)


def AdaBelief(lr: float, **kwargs) -> Adam:  # noqa: N802 - reads like a class at call sites
    """AdaBelief: Adam whose second moment is the variance of the gradient around its mean.
    ``eps`` defaults to 1e-16 (optax's eps and eps_root): a larger value added to the second
    moment at every step would swamp gradients below about sqrt(eps / (1 - beta2))."""
    kwargs.setdefault("eps", 1e-16)
    return Adam(lr, belief=True, **kwargs)
