"""Neuron models over arrays: the generated closed forms combined per case, with partials.

A model works on a state ``x`` of shape (..., D, N) (D = 2: (V, I) for IF models; D = 1:
the phase for the theta neuron) and provides, elementwise over neurons,

* ``time_to_spike(x) -> (dt*, d dt*/dx)``  (+inf and zero derivative if it never spikes),
* ``flow(x, dt) -> (x', d x'/d x, d x'/d dt)``  valid for dt up to the next spike,
* ``receive(x, w) -> (x', d x'/d x, d x'/d w)``  an input of weight w,
* ``reset(x) -> x`` after an own spike, and ``initial(V)`` (a state at voltage V, zero current).

Jacobians have shape (..., D, D, N), derivative vectors (..., D, N).  Branches are chosen
with exact float tests as in the reference (I == 0 occurs: states that never received
input), and at the degenerate points the derivatives are the continuous limits derived
symbolically (``dflow_dI_zero``, ``dtspike_dI_zero``).  ``eps`` stands for infinity: reset to
V = -1/eps, clip at V = +1/eps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernelalg.errors import InputError
from kernelalg.spiking.generated import lif as _lif
from kernelalg.spiking.generated import qif as _qif
from kernelalg.spiking.generated import qif_pseudo as _pseudo
from kernelalg.spiking.generated import theta as _theta


def _check(**values: float) -> None:
    for name, value in values.items():
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"{name} must be a positive finite number, got {value!r}")


def _branch(pos, zero, p, z, n):
    """The I > 0, I == 0 or I < 0 value."""
    return np.where(pos, p, np.where(zero, z, n))


def _safe(mask: np.ndarray, value: np.ndarray, fallback: float) -> np.ndarray:
    return np.where(mask, value, fallback)


@dataclass(frozen=True)
class QIF:
    """QIF neuron with exponential synaptic current: tau V' = V(V - 1) + I, (tau/2) I' = -I.
    An input of weight w makes I jump by w."""

    tau: float = 1.0
    eps: float = 1e-6
    alpha: float = 10.0
    D = 2
    pseudo = True

    def __post_init__(self):
        _check(tau=self.tau, eps=self.eps, alpha=self.alpha)

    @property
    def min_weight_to_spike(self) -> float:
        """Smallest current jump that makes a neuron at rest (V = I = 0) spike: (pi/2)^2."""
        return (np.pi / 2) ** 2

    def initial(self, V, I=0.0):
        return np.stack(np.broadcast_arrays(np.asarray(V, float), np.asarray(I, float)), axis=-2)

    def time_to_spike(self, x):
        V, I = x[..., 0, :], x[..., 1, :]
        pos, neg, zero = I > 0, I < 0, I == 0
        tau = self.tau
        with np.errstate(all="ignore"):
            Ip, In = _safe(pos, I, 1.0), _safe(neg, I, -1.0)
            s_pos = _qif.sstar_pos(V, Ip)
            r = np.sqrt(-In)
            fires_neg = neg & (V > r)
            s_neg = _qif.sstar_neg(_safe(fires_neg, V, 2 * r), In)
            fires = (pos & (s_pos < 1)) | (fires_neg & (s_neg < 1)) | (zero & (V > 1))
            tp, tp_V, tp_I = _qif.tspike_pos_grad(_safe(fires & pos, V, 0.0), Ip, tau)
            tn, tn_V, tn_I = _qif.tspike_neg_grad(_safe(fires & neg, V, 2.0), In, tau)
            Vz = _safe(fires & zero, V, 2.0)
            tz, tz_V, _ = _qif.tspike_zero_grad(Vz, 0.0, tau)
            tz_I = _qif.dtspike_dI_zero(Vz, tau)
        pick = lambda p, z, n: np.where(fires, _branch(pos, zero, p, z, n), 0.0)  # noqa: E731
        dt = np.where(fires, _branch(pos, zero, tp, tz, tn), np.inf)
        return dt, np.stack([pick(tp_V, tz_V, tn_V), pick(tp_I, tz_I, tn_I)], axis=-2)

    def flow(self, x, dt):
        V, I = x[..., 0, :], x[..., 1, :]
        dt = np.asarray(dt, float)[..., None] * np.ones_like(V)
        pos, neg, zero = I > 0, I < 0, I == 0
        tau = self.tau
        with np.errstate(all="ignore"):
            fp = _qif.flow_pos_grad(V, _safe(pos, I, 1.0), dt, tau)
            fn = _qif.flow_neg_grad(V, _safe(neg, I, -1.0), dt, tau)
            fz = list(_qif.flow_zero_grad(V, 0.0, dt, tau))
            fz[2] = _qif.dflow_dI_zero(V, dt, tau)
        Vn, V_V, V_I, V_dt = (_branch(pos, zero, p, z, n) for p, z, n in zip(fp, fz, fn))
        clipped = Vn >= 1 / self.eps
        Vn = np.where(clipped, 1 / self.eps, Vn)
        V_V, V_I, V_dt = (np.where(clipped, 0.0, d) for d in (V_V, V_I, V_dt))
        return _with_current(Vn, V_V, V_I, V_dt, I, dt, tau)

    def receive(self, x, w):
        return _add_current(x, w)

    def reset(self, x):
        return np.stack([np.full_like(x[..., 0, :], -1 / self.eps), x[..., 1, :]], axis=-2)

    def pseudo_phase(self, V, I):
        """Phase and period of the pseudodynamics tau V' = V(V - 1) + 1/4 + softplus_alpha(I)."""
        phase, p_V, p_I = _pseudo.pseudo_phase_grad(V, I, self.alpha, self.tau)
        period, q_I = _pseudo.pseudo_period_grad(I, self.alpha, self.tau)
        return phase, p_V, p_I, period, q_I


def _with_current(Vn, V_V, V_I, V_dt, I, dt, tau):
    """Flow result of an IF model: the new voltage with its partials, and the synaptic current
    I exp(-2 dt/tau); returns (x', dx'/dx (..., 2, 2, N), dx'/ddt (..., 2, N))."""
    decay = np.exp(-2 * dt / tau)
    jac = np.stack([np.stack([V_V, V_I], axis=-2), np.stack([np.zeros_like(decay), decay], axis=-2)], axis=-3)
    return np.stack([Vn, I * decay], axis=-2), jac, np.stack([V_dt, -2 / tau * I * decay], axis=-2)


def _add_current(x, w):
    """I += w: identity Jacobian, d/dw = (0, 1)."""
    w = np.asarray(w, float)
    xn = x.copy()
    xn[..., 1, :] += w
    shape = x.shape[:-2] + (2, 2, x.shape[-1])
    jac = np.zeros(shape)
    jac[..., 0, 0, :] = jac[..., 1, 1, :] = 1.0
    dw = np.zeros_like(x)
    dw[..., 1, :] = 1.0
    return xn, jac, dw


@dataclass(frozen=True)
class LIF:
    """Current-based LIF: tau V' = -V + I, (tau/2) I' = -I, spike at V = vth, reset to 0."""

    tau: float = 1.0
    vth: float = 1.0
    D = 2
    pseudo = False

    def __post_init__(self):
        _check(tau=self.tau, vth=self.vth)

    @property
    def min_weight_to_spike(self) -> float:
        return 4 * self.vth

    initial = QIF.initial

    def time_to_spike(self, x):
        V, I = x[..., 0, :], x[..., 1, :]
        pos = I > 0
        with np.errstate(all="ignore"):
            disc = (V + I) ** 2 - 4 * I * self.vth
            y, y_V, y_I = _lif.ystar_grad(V, _safe(pos, I, 1.0), self.vth)
        fires = pos & (disc > 0) & (y > 0) & (y < 1)
        y = np.where(fires, y, 0.5)
        dt = np.where(fires, -self.tau * np.log(y), np.inf)
        grad = np.stack([np.where(fires, -self.tau / y * y_V, 0.0), np.where(fires, -self.tau / y * y_I, 0.0)], axis=-2)
        return dt, grad

    def flow(self, x, dt):
        V, I = x[..., 0, :], x[..., 1, :]
        dt = np.asarray(dt, float)[..., None] * np.ones_like(V)
        Vn, V_V, V_I, V_dt = _lif.flow_grad(V, I, dt, self.tau)
        return _with_current(Vn, V_V * np.ones_like(V), V_I * np.ones_like(V), V_dt, I, dt, self.tau)

    def receive(self, x, w):
        return _add_current(x, w)

    def reset(self, x):
        return np.stack([np.zeros_like(x[..., 0, :]), x[..., 1, :]], axis=-2)


@dataclass(frozen=True)
class Theta:
    """Theta neuron (QIF with constant drive > 1/4, delta-pulse input), state = phase in
    (0, period); inputs inside the guard band eps < phi < period - eps only."""

    tau: float = 1.0
    drive: float = 1.25
    eps: float = 1e-6
    D = 1
    pseudo = True

    def __post_init__(self):
        _check(tau=self.tau, eps=self.eps)
        if not self.drive > 0.25:
            raise InputError(f"theta neuron needs drive > 1/4, got {self.drive!r}")

    @property
    def period(self) -> float:
        return float(_theta.period(self.drive, self.tau))

    def initial(self, V):
        return np.asarray(_theta.phase(np.asarray(V, float), self.drive, self.tau))[..., None, :]

    def time_to_spike(self, x):
        return self.period - x[..., 0, :], -np.ones_like(x)

    def flow(self, x, dt):
        dt = np.asarray(dt, float)[..., None, None] * np.ones_like(x)
        return x + dt, np.ones(x.shape[:-1] + (1, x.shape[-1])), np.ones_like(x)

    def receive(self, x, w):
        phi = x[..., 0, :]
        w = np.asarray(w, float) * np.ones_like(phi)
        inside = (phi > self.eps) & (phi < self.period - self.eps)
        with np.errstate(all="ignore"):
            H, H_phi, H_w, _ = _theta.transfer_grad(_safe(inside, phi, self.period / 2), w, self.drive, self.tau)
        H = np.where(inside, H, phi)
        return (H[..., None, :], np.where(inside, H_phi, 1.0)[..., None, None, :],
                np.where(inside, H_w, 0.0)[..., None, :])

    def reset(self, x):
        return np.zeros_like(x)


MODELS = {"qif": QIF, "theta": Theta, "lif": LIF}
