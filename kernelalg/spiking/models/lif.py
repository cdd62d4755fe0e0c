"""Current-based LIF neuron: tau V' = -V + I, (tau/2) I' = -I, spike at V = vth, reset to 0.

Inputs make I jump by w.  The spike time is the first crossing of vth, -tau log y* with y*
the larger root in y = exp(-t/tau) of V(t) = vth; it exists iff I > 0, the discriminant is
positive (a tangential touch is no spike) and 0 < y* < 1.  The model has no pseudodynamics:
its pseudospikes are +inf with zero derivatives (rate 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernelalg.spiking.generated import lif as _lif
from kernelalg.spiking.models.base import Neuron, check_positive
from kernelalg.spiking.models.current import add_current, flow_outputs, k_add_current, k_flow_outputs


@dataclass(frozen=True)
class LIF(Neuron):
    """Current-based LIF neuron (tau_m = tau = 2 tau_s); state (V, I)."""

    tau: float = 1.0
    vth: float = 1.0
    D = 2

    def __post_init__(self):
        check_positive(tau=self.tau, vth=self.vth)

    @property
    def params(self) -> tuple[float, float]:
        return (float(self.tau), float(self.vth))

    @property
    def min_weight_to_spike(self) -> float:
        return 4 * self.vth

    def initial(self, V, I=0.0):
        return np.stack(np.broadcast_arrays(np.asarray(V, float), np.asarray(I, float)), axis=-2)

    def time_to_spike(self, x):
        V, I = x[..., 0, :], x[..., 1, :]
        pos = I > 0
        with np.errstate(all="ignore"):
            Ip = np.where(pos, I, 1.0)
            disc = (V + I) ** 2 - 4 * I * self.vth
            y = _lif.ystar(V, Ip, self.vth)
            fires = pos & (disc > 0) & (y > 0) & (y < 1)
            t, t_V, t_I = _lif.tspike_grad(np.where(fires, V, 0.0), np.where(fires, I, 1.0), self.vth, self.tau)
        return np.where(fires, t, np.inf), np.stack([np.where(fires, t_V, 0.0), np.where(fires, t_I, 0.0)], axis=-2)

    def flow(self, x, dt):
        V, I = x[..., 0, :], x[..., 1, :]
        dt = np.asarray(dt, float)[..., None] * np.ones_like(V)
        Vn, V_V, V_I, V_dt = _lif.flow_grad(V, I, dt, self.tau)
        one = np.ones_like(V)
        return flow_outputs(Vn, V_V * one, V_I * one, V_dt, _lif.current_grad(I, dt, self.tau))

    def receive(self, x, w):
        return add_current(x, w)

    def reset(self, x):
        return np.stack([np.zeros_like(x[..., 0, :]), x[..., 1, :]], axis=-2), np.array([0.0, 1.0])

    def pseudospike(self, x, k, inputs, T: float):
        shape = np.broadcast_shapes(x[..., 0, :].shape, np.shape(inputs), np.shape(k))
        return np.full(shape, np.inf), np.zeros(x.shape), np.zeros(shape)

    def pseudo_rate(self, x, inputs):
        shape = np.broadcast_shapes(x[..., 0, :].shape, np.shape(inputs))
        return np.zeros(shape), np.zeros(x.shape), np.zeros(shape)

    # kernels; p = (tau, vth)

    @staticmethod
    def k_time_to_spike(p, x, n, g):
        tau, vth = p
        V, I = x[0, n], x[1, n]
        g[0, n], g[1, n] = 0.0, 0.0
        if I > 0 and (V + I) ** 2 - 4 * I * vth > 0:
            y = _lif.ystar(V, I, vth)
            if 0 < y < 1:
                t, t_V, t_I = _lif.tspike_grad(V, I, vth, tau)
                g[0, n], g[1, n] = t_V, t_I
                return t
        return np.inf

    @staticmethod
    def k_flow(p, x, n, dt, y, J, F):
        tau = p[0]
        V, I = x[0, n], x[1, n]
        Vn, V_V, V_I, V_dt = _lif.flow_grad(V, I, dt, tau)
        In, I_I, I_dt = _lif.current_grad(I, dt, tau)
        k_flow_outputs(n, y, J, F, Vn, V_V, V_I, V_dt, In, I_I, I_dt)

    k_flow_onto_spike = k_flow

    @staticmethod
    def k_receive(p, y, n, w, partials, z, R, Rw):
        k_add_current(y, n, w, z, R, Rw)

    @staticmethod
    def k_reset(p, x, n, keep):
        x[0, n] = 0.0
        keep[0], keep[1] = 0.0, 1.0

    @staticmethod
    def k_pseudospike(p, x, n, k, inputs, T, g):
        g[0, n], g[1, n] = 0.0, 0.0
        return np.inf, 0.0

    @staticmethod
    def k_rate(p, x, n, inputs, g):
        g[0, n], g[1, n] = 0.0, 0.0
        return 0.0, 0.0
