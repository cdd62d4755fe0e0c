"""Independent mpmath witnesses for the neuron models: high-precision ODE integration
(``mpmath.odefun``, Taylor series) and quadrature, sharing no code with kernelalg."""

from __future__ import annotations

import mpmath as mp

DPS = 30


def _qif_V(V0, I0, tau):
    return mp.odefun(lambda s, y: [(y[0] * (y[0] - 1) + y[1]) / tau, -2 * y[1] / tau], 0, [V0, I0])


def _qif_u(V0, I0, tau):
    """u = 1/V: tau u' = -(1 - u + I u^2), regular where V is large (through the blow-up)."""
    return mp.odefun(lambda s, y: [-(1 - y[0] + y[1] * y[0] ** 2) / tau, -2 * y[1] / tau], 0, [1 / V0, I0])


def _reach_two(V0, I0, tau, horizon):
    """First time V reaches 2 (V0 < 2), None if not before ``horizon``."""
    f = _qif_V(V0, I0, tau)
    grid = [mp.mpf(horizon) * k / 2000 for k in range(2001)]
    for lo, hi in zip(grid, grid[1:]):
        if f(hi)[0] >= 2:
            return mp.findroot(lambda x: f(x)[0] - 2, (lo, hi), solver="anderson")
    return None


def qif_voltage(V0, I0, t, tau=1.0):
    """V(t) of tau V' = V(V - 1) + I, (tau/2) I' = -I, from (V0, I0); once V >= 2 the u = 1/V
    equation is integrated instead (V grows too fast near the blow-up for a Taylor method)."""
    with mp.workdps(DPS):
        tau, V0, I0, t = mp.mpf(tau), mp.mpf(V0), mp.mpf(I0), mp.mpf(t)
        t1 = mp.mpf(0)
        if V0 < 2:
            t1 = _reach_two(V0, I0, tau, t)
            if t1 is None:
                return _qif_V(V0, I0, tau)(t)[0]
            V0, I0 = mp.mpf(2), I0 * mp.exp(-2 * t1 / tau)
        return 1 / _qif_u(V0, I0, tau)(t - t1)[0]


def qif_blowup(V0, I0, tau=1.0, horizon=50.0):
    """Time at which V reaches +infinity: the zero of u = 1/V after V = 2.  None if V stays
    below 2 until ``horizon``."""
    with mp.workdps(DPS):
        tau, V0, I0 = mp.mpf(tau), mp.mpf(V0), mp.mpf(I0)
        t1 = mp.mpf(0)
        if V0 < 2:
            t1 = _reach_two(V0, I0, tau, horizon)
            if t1 is None:
                return None
            V0, I0 = mp.mpf(2), I0 * mp.exp(-2 * t1 / tau)
        g = _qif_u(V0, I0, tau)
        # u decreases to 0 from 1/V0 <= 1/2 at rate about 1/tau: bracket the zero
        hi = mp.mpf("0.01")
        while g(hi)[0] > 0:
            hi *= 2
        return t1 + mp.findroot(lambda x: g(x)[0], (hi / 2, hi), solver="anderson")


def lif_voltage(V0, I0, t, tau=1.0):
    with mp.workdps(DPS):
        tau = mp.mpf(tau)
        f = mp.odefun(lambda s, y: [(-y[0] + y[1]) / tau, -2 * y[1] / tau], 0, [mp.mpf(V0), mp.mpf(I0)])
        return f(mp.mpf(t))[0]


def lif_crossing(V0, I0, vth=1.0, tau=1.0, horizon=20.0):
    """First time V reaches vth from V0 < vth (None if never): V rises while I > V, so the
    first crossing, if any, lies before the maximum of V, located as the zero of I - V."""
    with mp.workdps(DPS):
        tau = mp.mpf(tau)
        f = mp.odefun(lambda s, y: [(-y[0] + y[1]) / tau, -2 * y[1] / tau], 0, [mp.mpf(V0), mp.mpf(I0)])
        rising = lambda x: f(x)[1] - f(x)[0]  # noqa: E731
        if rising(0) <= 0:
            return None
        grid = [mp.mpf(horizon) * k / 400 for k in range(401)]
        top = next((mp.findroot(rising, (lo, hi), solver="anderson") for lo, hi in zip(grid, grid[1:])
                    if rising(hi) <= 0), None)
        if top is None or f(top)[0] < vth:
            return None
        return mp.findroot(lambda x: f(x)[0] - vth, (0, top), solver="anderson")


def theta_phase(V, drive=1.25, tau=1.0):
    """Phi(V) = tau int_-oo^V dx / (x^2 - x + drive)."""
    with mp.workdps(DPS):
        return mp.mpf(tau) * mp.quad(lambda x: 1 / (x * x - x + mp.mpf(drive)), [-mp.inf, mp.mpf("0.5"), mp.mpf(V)])


def theta_voltage(V0, t, drive=1.25, tau=1.0):
    """V(t) of tau V' = V(V - 1) + drive by ODE integration (before the blow-up)."""
    with mp.workdps(DPS):
        tau, drive = mp.mpf(tau), mp.mpf(drive)
        f = mp.odefun(lambda s, y: [(y[0] * (y[0] - 1) + drive) / tau], 0, [mp.mpf(V0)])
        return f(mp.mpf(t))[0]
