"""QIF neuron with exponential synaptic current: tau V' = V (V - 1) + I, (tau/2) I' = -I.

An input of weight w makes I jump by w; a spike is the blow-up of V, after which V is reset
to -1/eps (standing for -infinity); V is clipped at +1/eps.  Branches are chosen with exact
float tests (I == 0 occurs: states that never received input), and at I = 0 the derivatives
in I are the continuous limits derived symbolically (``dflow_dI_zero``, ``dtspike_dI_zero``).
A neuron whose spike is due within eps of an event is flowed onto it (V = 1/eps, no
dependence on V), never through the pole.  After the trial end the neuron follows the
pseudodynamics tau V' = V (V - 1) + 1/4 + softplus_alpha(I_T + input) (derived:
``qif_pseudo``): pseudospike k at T + k Theta_p - phi_p(V_T); its rate, evaluated at zero
pseudo current, is phi_p(V_T; 0) / Theta_p(0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernelalg.spiking.generated import qif as _qif
from kernelalg.spiking.generated import qif_pseudo as _pseudo
from kernelalg.spiking.models.base import Neuron, check_positive
from kernelalg.spiking.models.current import add_current, flow_outputs, k_add_current, k_flow_outputs


def _branch(pos, zero, p, z, n):
    """The I > 0, I == 0 or I < 0 value."""
    return np.where(pos, p, np.where(zero, z, n))


@dataclass(frozen=True)
class QIF(Neuron):
    """QIF neuron with exponential synaptic current (tau_m = tau = 2 tau_s); state (V, I)."""

    tau: float = 1.0
    eps: float = 1e-6
    alpha: float = 10.0
    D = 2

    def __post_init__(self):
        check_positive(tau=self.tau, eps=self.eps, alpha=self.alpha)

    @property
    def params(self) -> tuple[float, float, float]:
        return (float(self.tau), float(self.eps), float(self.alpha))

    @property
    def spike_tolerance(self) -> float:
        return self.eps

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
            Ip, In = np.where(pos, I, 1.0), np.where(neg, I, -1.0)
            s_pos = _qif.sstar_pos(V, Ip)
            r = np.sqrt(-In)
            fires_neg = neg & (V > r)
            s_neg = _qif.sstar_neg(np.where(fires_neg, V, 2 * r), In)
            fires = (pos & (s_pos < 1)) | (fires_neg & (s_neg < 1)) | (zero & (V > 1))
            tp, tp_V, tp_I = _qif.tspike_pos_grad(np.where(fires & pos, V, 0.0), Ip, tau)
            tn, tn_V, tn_I = _qif.tspike_neg_grad(np.where(fires & neg, V, 2.0), In, tau)
            Vz = np.where(fires & zero, V, 2.0)
            tz, tz_V, _ = _qif.tspike_zero_grad(Vz, 0.0, tau)
            tz_I = _qif.dtspike_dI_zero(Vz, tau)
        pick = lambda p, z, n: np.where(fires, _branch(pos, zero, p, z, n), 0.0)
        dt = np.where(fires, _branch(pos, zero, tp, tz, tn), np.inf)
        return dt, np.stack([pick(tp_V, tz_V, tn_V), pick(tp_I, tz_I, tn_I)], axis=-2)

    def flow(self, x, dt):
        V, I = x[..., 0, :], x[..., 1, :]
        dt = np.asarray(dt, float)[..., None] * np.ones_like(V)
        pos, neg, zero = I > 0, I < 0, I == 0
        tau = self.tau
        with np.errstate(all="ignore"):
            fp = _qif.flow_pos_grad(V, np.where(pos, I, 1.0), dt, tau)
            fn = _qif.flow_neg_grad(V, np.where(neg, I, -1.0), dt, tau)
            fz = list(_qif.flow_zero_grad(V, 0.0, dt, tau))
            fz[2] = _qif.dflow_dI_zero(V, dt, tau)
        Vn, V_V, V_I, V_dt = (_branch(pos, zero, p, z, n) for p, z, n in zip(fp, fz, fn))
        clipped = Vn >= 1 / self.eps
        Vn = np.where(clipped, 1 / self.eps, Vn)
        V_V, V_I, V_dt = (np.where(clipped, 0.0, d) for d in (V_V, V_I, V_dt))
        return flow_outputs(Vn, V_V, V_I, V_dt, _qif.current_grad(I, dt, tau))

    def flow_onto_spike(self, x, dt):
        I = x[..., 1, :]
        dt = np.asarray(dt, float)[..., None] * np.ones_like(I)
        zero = np.zeros_like(I)
        return flow_outputs(zero + 1 / self.eps, zero, zero, zero, _qif.current_grad(I, dt, self.tau))

    def receive(self, x, w):
        return add_current(x, w)

    def reset(self, x):
        return np.stack([np.full_like(x[..., 0, :], -1 / self.eps), x[..., 1, :]], axis=-2), np.array([0.0, 1.0])

    def pseudospike(self, x, k, inputs, T: float):
        V, I = x[..., 0, :], x[..., 1, :] + inputs
        phase, p_V, p_I = _pseudo.pseudo_phase_grad(V, I, self.alpha, self.tau)
        period, q_I = _pseudo.pseudo_period_grad(I, self.alpha, self.tau)
        d_current = k * q_I - p_I
        return T + k * period - phase, np.stack([-p_V, d_current], axis=-2), d_current

    def pseudo_rate(self, x, inputs):
        zero = np.zeros_like(x[..., 0, :])
        phase, p_V, _ = _pseudo.pseudo_phase_grad(x[..., 0, :], zero, self.alpha, self.tau)
        period, _ = _pseudo.pseudo_period_grad(zero, self.alpha, self.tau)
        return phase / period, np.stack([p_V / period, zero], axis=-2), zero

    # kernels

    @staticmethod
    def k_time_to_spike(p, x, n, g):
        tau = p[0]
        V, I = x[0, n], x[1, n]
        g[0, n], g[1, n] = 0.0, 0.0
        if I > 0:
            if _qif.sstar_pos(V, I) < 1:
                t, t_V, t_I = _qif.tspike_pos_grad(V, I, tau)
                g[0, n], g[1, n] = t_V, t_I
                return t
        elif I < 0:
            if V > np.sqrt(-I) and _qif.sstar_neg(V, I) < 1:
                t, t_V, t_I = _qif.tspike_neg_grad(V, I, tau)
                g[0, n], g[1, n] = t_V, t_I
                return t
        elif V > 1:
            t, t_V, _ = _qif.tspike_zero_grad(V, 0.0, tau)
            g[0, n], g[1, n] = t_V, _qif.dtspike_dI_zero(V, tau)
            return t
        return np.inf

    @staticmethod
    def k_flow(p, x, n, dt, y, J, F):
        tau, eps = p[0], p[1]
        V, I = x[0, n], x[1, n]
        if I > 0:
            Vn, V_V, V_I, V_dt = _qif.flow_pos_grad(V, I, dt, tau)
        elif I < 0:
            Vn, V_V, V_I, V_dt = _qif.flow_neg_grad(V, I, dt, tau)
        else:
            Vn, V_V, _, V_dt = _qif.flow_zero_grad(V, 0.0, dt, tau)
            V_I = _qif.dflow_dI_zero(V, dt, tau)
        if Vn >= 1 / eps:
            Vn, V_V, V_I, V_dt = 1 / eps, 0.0, 0.0, 0.0
        In, I_I, I_dt = _qif.current_grad(I, dt, tau)
        k_flow_outputs(n, y, J, F, Vn, V_V, V_I, V_dt, In, I_I, I_dt)

    @staticmethod
    def k_flow_onto_spike(p, x, n, dt, y, J, F):
        In, I_I, I_dt = _qif.current_grad(x[1, n], dt, p[0])
        k_flow_outputs(n, y, J, F, 1 / p[1], 0.0, 0.0, 0.0, In, I_I, I_dt)

    @staticmethod
    def k_receive(p, y, n, w, partials, z, R, Rw):
        k_add_current(y, n, w, z, R, Rw)

    @staticmethod
    def k_reset(p, x, n, keep):
        x[0, n] = -1 / p[1]
        keep[0], keep[1] = 0.0, 1.0

    @staticmethod
    def k_pseudospike(p, x, n, k, inputs, T, g):
        tau, alpha = p[0], p[2]
        V, I = x[0, n], x[1, n] + inputs
        phase, p_V, p_I = _pseudo.pseudo_phase_grad(V, I, alpha, tau)
        period, q_I = _pseudo.pseudo_period_grad(I, alpha, tau)
        d_current = k * q_I - p_I
        g[0, n], g[1, n] = -p_V, d_current
        return T + k * period - phase, d_current

    @staticmethod
    def k_rate(p, x, n, inputs, g):
        tau, alpha = p[0], p[2]
        phase, p_V, _ = _pseudo.pseudo_phase_grad(x[0, n], 0.0, alpha, tau)
        period, _ = _pseudo.pseudo_period_grad(0.0, alpha, tau)
        g[0, n], g[1, n] = p_V / period, 0.0
        return phase / period, 0.0
