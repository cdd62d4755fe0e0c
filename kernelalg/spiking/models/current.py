"""The exponentially decaying synaptic current of the integrate-and-fire models, state (V, I).

``(tau/2) I' = -I`` between events (its flow, ``current_grad``, is derived with each model) and
``I -> I + w`` at an input.  These helpers assemble the (V, I) outputs of a flow and of an
input, vectorised (arrays (..., N)) and for one neuron n (kernels).
"""

from __future__ import annotations

import numpy as np


def flow_outputs(V, V_V, V_I, V_dt, current):
    """(x', dx'/dx, dx'/ddt) from the new voltage with its partials and the generated
    ``current_grad`` values (I', dI'/dI, dI'/ddt); shapes (..., 2, N), (..., 2, 2, N), (..., 2, N)."""
    I, I_I, I_dt = current
    zero = np.zeros_like(I)
    jac = np.stack([np.stack([V_V, V_I], axis=-2), np.stack([zero, I_I], axis=-2)], axis=-3)
    return np.stack([V, I], axis=-2), jac, np.stack([V_dt, I_dt], axis=-2)


def add_current(x, w):
    """I += w: identity Jacobian, d/dw = (0, 1)."""
    xn = x.copy()
    xn[..., 1, :] += np.asarray(w, float)
    jac = np.zeros(x.shape[:-2] + (2, 2, x.shape[-1]))
    jac[..., 0, 0, :] = jac[..., 1, 1, :] = 1.0
    dw = np.zeros_like(x)
    dw[..., 1, :] = 1.0
    return xn, jac, dw


def k_flow_outputs(n, y, J, F, V, V_V, V_I, V_dt, I, I_I, I_dt):
    """Kernel form of :func:`flow_outputs` for neuron n."""
    y[0, n], y[1, n] = V, I
    J[0, 0, n], J[0, 1, n], J[1, 0, n], J[1, 1, n] = V_V, V_I, 0.0, I_I
    F[0, n], F[1, n] = V_dt, I_dt


def k_add_current(y, n, w, z, R, Rw):
    """Kernel form of :func:`add_current` for neuron n."""
    z[0, n], z[1, n] = y[0, n], y[1, n] + w
    R[0, 0, n], R[0, 1, n], R[1, 0, n], R[1, 1, n] = 1.0, 0.0, 0.0, 1.0
    Rw[0, n], Rw[1, n] = 0.0, 1.0
