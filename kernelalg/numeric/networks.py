"""Finite MLPs in the NTK parametrisation (docs/maths.md section 1), vectorised over an ensemble.

    h1 = (sw / sqrt(n0)) W1 x + sb b1,   h(l+1) = (sw / sqrt(nl)) W(l+1) phi(hl) + sb b(l+1),
    f = h(L+1) (one output), all weights and biases i.i.d. N(0, 1).

Backpropagation with ``deriv = phi'`` gives the true Jacobian J f, with ``deriv = psi`` the
surrogate quasi-Jacobian J~ f.  For a weight matrix the gradient is an outer product,

    d f / d W(l) = (sw / sqrt(n(l-1))) delta_l (x) phi(h(l-1)),   delta_l = d f / d h_l,

so the empirical SG-NTK J f(x) J~ f(y)^T is a sum over layers of products of two Gram
matrices (no per-parameter Jacobian is ever formed).  Arrays carry a leading ensemble axis E.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernelalg.errors import InputError
from kernelalg.numeric.kernels import as_points
from kernelalg.numeric.pointwise import Pointwise

Array = np.ndarray


@dataclass(frozen=True)
class Network:
    """Architecture: input dimension, hidden widths (L layers), sigma_w, sigma_b, the functions."""

    n0: int
    widths: tuple[int, ...]
    functions: Pointwise
    sigma_w: float = 1.0
    sigma_b: float = 0.0

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.n0, *self.widths, 1)

    def init(self, ensemble: int = 1, seed: int | None = 0) -> list[tuple[Array, Array]]:
        """[(W_l, b_l)], W_l of shape (E, n_l, n_(l-1)), i.i.d. N(0, 1)."""
        rng = np.random.default_rng(seed)
        return [(rng.standard_normal((ensemble, m, n)), rng.standard_normal((ensemble, m)))
                for n, m in zip(self.sizes[:-1], self.sizes[1:])]

    def forward(self, params, X) -> tuple[list[Array], list[Array]]:
        """Pre-activations h_1..h_(L+1) and layer inputs (x, phi(h_1), ..., phi(h_L)), each (E, N, n)."""
        X = as_points(X)
        if X.shape[1] != self.n0:
            raise InputError(f"inputs have {X.shape[1]} columns, the network expects {self.n0}")
        inputs = [np.broadcast_to(X, (params[0][0].shape[0], *X.shape))]
        hs = []
        for layer, (W, b) in enumerate(params):
            n = W.shape[-1]
            h = (self.sigma_w / np.sqrt(n)) * inputs[-1] @ W.transpose(0, 2, 1) + self.sigma_b * b[:, None, :]
            hs.append(h)
            if layer < len(params) - 1:
                inputs.append(self.functions.phi(h))
        return hs, inputs

    def output(self, params, X) -> Array:
        """f(X), shape (E, N)."""
        return self.forward(params, X)[0][-1][..., 0]

    def deltas(self, params, hs, surrogate: bool) -> list[Array]:
        """delta_l = d f / d h_l for l = 1..L+1 (E, N, n_l), backpropagated with psi or phi'."""
        deriv = self.functions.psi if surrogate else self.functions.dphi
        delta = np.ones_like(hs[-1])
        out = [delta]
        for layer in range(len(params) - 1, 0, -1):
            W = params[layer][0]
            delta = (self.sigma_w / np.sqrt(W.shape[-1])) * (delta @ W) * deriv(hs[layer - 1])
            out.append(delta)
        return out[::-1]

    def empirical_kernel(self, params, X, Y=None) -> Array:
        """I^(x, y) = J f(x) J~ f(y)^T for rows of X and Y: shape (E, N, M)."""
        hx, ix = self.forward(params, X)
        hy, iy = (hx, ix) if Y is None else self.forward(params, Y)
        dx, dy = self.deltas(params, hx, surrogate=False), self.deltas(params, hy, surrogate=True)
        total = 0.0
        for l, (W, _) in enumerate(params):
            grams = dx[l] @ dy[l].transpose(0, 2, 1)
            total = total + grams * (self.sigma_w**2 / W.shape[-1] * (ix[l] @ iy[l].transpose(0, 2, 1))
                                     + self.sigma_b**2)
        return total

    def gradients(self, params, X, surrogate: bool = True) -> list[tuple[Array, Array]]:
        """Per-sample parameter gradients [(dW_l (E, N, n_l, n_(l-1)), db_l (E, N, n_l))] of f:
        J~ f with ``surrogate``, J f without.  For small networks (tests)."""
        hs, inputs = self.forward(params, X)
        deltas = self.deltas(params, hs, surrogate)
        return [((self.sigma_w / np.sqrt(W.shape[-1])) * d[..., :, None] * i[..., None, :], self.sigma_b * d)
                for (W, _), d, i in zip(params, deltas, inputs)]

    def sgl_step(self, params, X, Y, lr: float) -> Array:
        """One full-batch SGL step on 1/2 sum |f - y|^2, theta -= lr J~^T (f - Y), updating
        ``params`` in place; returns the loss before the step (per network)."""
        hs, inputs = self.forward(params, X)
        residual = hs[-1][..., 0] - Y[None, :]
        deltas = self.deltas(params, hs, surrogate=True)
        for (W, b), d, i in zip(params, deltas, inputs):
            r = d * residual[..., None]  # (E, N, n_l)
            step = r.transpose(0, 2, 1) @ i
            step *= lr * self.sigma_w / np.sqrt(W.shape[-1])
            W -= step
            b -= (lr * self.sigma_b) * r.sum(axis=1)
        return 0.5 * np.sum(residual**2, axis=1)

    def train(self, params, X, Y, steps: int, lr: float, progress=None) -> tuple[list, Array]:
        """Full-batch SGL for ``steps`` steps from ``params`` (not modified); returns the trained
        parameters and the loss per step, shape (steps, E)."""
        X = as_points(X)
        Y = np.asarray(Y, dtype=float).reshape(-1)
        if Y.shape[0] != X.shape[0]:
            raise InputError(f"{X.shape[0]} inputs but {Y.shape[0]} targets")
        if not (np.isfinite(lr) and lr > 0):
            raise InputError(f"learning rate must be positive, got {lr}")
        params = [(W.copy(), b.copy()) for W, b in params]
        losses = np.empty((steps, params[0][0].shape[0]))
        for step in range(steps):
            losses[step] = self.sgl_step(params, X, Y, lr)
            if progress is not None:
                progress(step + 1)
        return params, losses
