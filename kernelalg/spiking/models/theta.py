"""Theta neuron: QIF with constant drive > 1/4 and delta-pulse input, tau V' = V (V - 1) + drive.

The state is the phase phi = Phi(V) in (0, Theta), which advances at rate one; an input of
weight w kicks V by w, i.e. phi -> H(phi, w) = Phi(Phi^-1(phi) + w), inside the guard band
eps < phi < Theta - eps only (a neuron just reset or about to fire ignores inputs), and an
input of weight 0 leaves the phase exactly as it is.  The spike is at phi = Theta, the reset
to phi = 0.  After the trial end the summed rate input acts as one kick and the neuron
oscillates freely: pseudospike k at T + k Theta - H(phi_T, input), rate H(phi_T, input) / Theta.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernelalg.errors import InputError
from kernelalg.spiking.generated import theta as _theta
from kernelalg.spiking.models.base import Neuron, check_positive


@dataclass(frozen=True)
class Theta(Neuron):
    """Theta neuron; state = the phase (D = 1)."""

    tau: float = 1.0
    drive: float = 1.25
    eps: float = 1e-6
    D = 1

    def __post_init__(self):
        check_positive(tau=self.tau, eps=self.eps)
        if not self.drive > 0.25:
            raise InputError(f"theta neuron needs drive > 1/4, got {self.drive!r}")

    @property
    def period(self) -> float:
        return float(_theta.period(self.drive, self.tau))

    @property
    def params(self) -> tuple[float, float, float, float]:
        return (float(self.tau), float(self.drive), float(self.eps), self.period)

    def initial(self, V):
        return np.asarray(_theta.phase(np.asarray(V, float), self.drive, self.tau))[..., None, :]

    def voltage(self, x):
        """V = Phi^-1(phi); +-inf at the ends of the phase range."""
        phi = x[..., 0, :]
        with np.errstate(all="ignore"):
            V = _theta.inverse(phi, self.drive, self.tau)
        return np.where(phi <= 0, -np.inf, np.where(phi >= self.period, np.inf, V))

    def time_to_spike(self, x):
        return self.period - x[..., 0, :], -np.ones_like(x)

    def flow(self, x, dt):
        dt = np.asarray(dt, float)[..., None, None] * np.ones_like(x)
        return x + dt, np.ones(x.shape[:-1] + (1, x.shape[-1])), np.ones_like(x)

    def _transfer(self, phi, w):
        """H(phi, w), dH/dphi, dH/dw over arrays, with the guard band and H(phi, 0) = phi."""
        w = np.asarray(w, float) * np.ones_like(phi)
        period = self.period
        inside = (phi > self.eps) & (phi < period - self.eps)
        with np.errstate(all="ignore"):
            H, H_phi, H_w = _theta.transfer_grad(np.where(inside, phi, period / 2), w, self.drive, self.tau)
        moves = inside & (w != 0)
        return np.where(moves, H, phi), np.where(moves, H_phi, 1.0), np.where(inside, H_w, 0.0)

    def receive(self, x, w):
        H, H_phi, H_w = self._transfer(x[..., 0, :], w)
        return H[..., None, :], H_phi[..., None, None, :], H_w[..., None, :]

    def reset(self, x):
        return np.zeros_like(x), np.array([0.0])

    def pseudospike(self, x, k, inputs, T: float):
        H, H_phi, H_w = self._transfer(x[..., 0, :], inputs)
        return T + k * self.period - H, -H_phi[..., None, :], -H_w

    def pseudo_rate(self, x, inputs):
        H, H_phi, H_w = self._transfer(x[..., 0, :], inputs)
        period = self.period
        return H / period, H_phi[..., None, :] / period, H_w / period

    # kernels; p = (tau, drive, eps, period)

    @staticmethod
    def k_time_to_spike(p, x, n, g):
        g[0, n] = -1.0
        return p[3] - x[0, n]

    @staticmethod
    def k_flow(p, x, n, dt, y, J, F):
        y[0, n], J[0, 0, n], F[0, n] = x[0, n] + dt, 1.0, 1.0

    k_flow_onto_spike = k_flow

    @staticmethod
    def k_receive(p, y, n, w, partials, z, R, Rw):
        z[0, n], R[0, 0, n], Rw[0, n] = _k_transfer(p, y[0, n], w, partials)

    @staticmethod
    def k_reset(p, x, n, keep):
        x[0, n] = 0.0
        keep[0] = 0.0

    @staticmethod
    def k_pseudospike(p, x, n, k, inputs, T, g):
        H, H_phi, H_w = _k_transfer(p, x[0, n], inputs, True)
        g[0, n] = -H_phi
        return T + k * p[3] - H, -H_w

    @staticmethod
    def k_rate(p, x, n, inputs, g):
        H, H_phi, H_w = _k_transfer(p, x[0, n], inputs, True)
        g[0, n] = H_phi / p[3]
        return H / p[3], H_w / p[3]


def _k_transfer(p, phi, w, partials):
    """Kernel form of ``Theta._transfer`` for one phase; without ``partials`` dH/dw of a zero
    input is left 0."""
    tau, drive, eps, period = p
    if not (phi > eps and phi < period - eps):
        return phi, 1.0, 0.0
    if w != 0:
        H, H_phi, H_w = _theta.transfer_grad(phi, w, drive, tau)
        return H, H_phi, H_w
    if partials:
        _, _, H_w = _theta.transfer_grad(phi, w, drive, tau)
        return phi, 1.0, H_w
    return phi, 1.0, 0.0
