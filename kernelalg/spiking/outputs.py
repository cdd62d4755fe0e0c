"""Output spike times of a simulated trial: ordinary spikes, then pseudospikes.

After the trial end every neuron follows a pseudodynamics that fires regularly, so a missing
spike has a continuous, differentiable time.  Output slot m of a neuron with K ordinary
spikes is its m-th ordinary spike if m < K, else pseudospike k = m + 1 - K:

* QIF:   t = T + k Theta_p - phi_p(V_T),  phase and period of
  tau V' = V(V - 1) + 1/4 + softplus_alpha(I_T + input)  (derived: ``qif_pseudo``);
* theta: t = T + k Theta - H(phi_T, input);
* LIF has no pseudodynamics: missing spikes are +inf with zero derivative.
"""

from __future__ import annotations

import numpy as np

from kernelalg.spiking.simulate import Trace


def _pseudo_partials(model, x_end, k, T: float, inputs):
    """Pseudospike number k of every neuron (B, N) and its partial derivatives with respect
    to the state at T (B, D, N) and to the pseudo input (B, N); ``k`` broadcasts against (B, N)."""
    k = np.asarray(k, float)
    if model.D == 2:
        phase, p_V, p_I, period, q_I = model.pseudo_phase(x_end[:, 0], x_end[:, 1] + inputs)
        d_current = k * q_I - p_I
        return T + k * period - phase, np.stack([-p_V, d_current], axis=1), d_current
    H, H_phi, H_w = (a[:, 0] for a in model.receive(x_end, inputs))
    return T + k * model.period - H, -H_phi, -H_w


def pseudospikes(model, x_end, dx_end, k, T: float, inputs=0.0, d_inputs=None):
    """Pseudospike number k (>= 1) of every neuron: times (B, N) and tangents (B, N, P)
    (None without gradients).  ``inputs`` (B, N) is the rate-network input after T,
    ``d_inputs`` its tangent."""
    inputs = np.broadcast_to(np.asarray(inputs, float), x_end[:, 0].shape)
    P = 0 if dx_end is None else dx_end.shape[-1]
    if not model.pseudo:
        return np.full(inputs.shape, np.inf), np.zeros(inputs.shape + (P,))
    times, d_x, d_in = _pseudo_partials(model, x_end, k, T, inputs)
    if not P:
        return times, None
    tangent = np.einsum("bdn,bdnp->bnp", d_x, dx_end)
    if d_inputs is not None:
        tangent += d_in[..., None] * d_inputs
    return times, tangent


def _slots(trace: Trace, neuron: int, n: int):
    """Event positions of the first ``n`` ordinary spikes of ``neuron`` (B, n; padded), the
    spike counts (B,) and the (B, n) mask of slots that are pseudospikes."""
    mask = trace.spikes(neuron)
    counts = mask.sum(axis=1)
    slots = np.argsort(~mask, axis=1, kind="stable")[:, :n]
    pad = n - slots.shape[1]
    if pad > 0:
        slots = np.concatenate([slots, np.zeros((slots.shape[0], pad), int)], axis=1)
    return slots, counts, np.arange(n)[None, :] >= counts[:, None]


def output_times(model, trace: Trace, neuron: int, n: int, inputs=0.0, d_inputs=None):
    """The first ``n`` output times of ``neuron`` in every trial, ordinary spikes first:
    times (B, n), tangents (B, n, P) (None without gradients), and a (B, n) pseudo mask."""
    slots, counts, pseudo = _slots(trace, neuron, n)
    m = np.arange(n)[None, :]
    times = np.take_along_axis(trace.t, slots, 1)
    grads = None if trace.dt is None else np.take_along_axis(trace.dt, slots[..., None], 1)
    for kk in np.unique((m + 1 - counts[:, None])[pseudo]):
        sel = pseudo & (m + 1 - counts[:, None] == kk)
        pt, pd = pseudospikes(model, trace.x_end, trace.dx_end, kk, trace.T, inputs, d_inputs)
        b, slot = np.nonzero(sel)
        times[b, slot] = pt[b, neuron]
        if grads is not None:
            grads[b, slot] = pd[b, neuron]
    return times, grads, pseudo


def _rates(model, x_end, inputs):
    """Pseudo rates r (B, N) of the neurons and their partials with respect to the first state
    component (V or the phase) and to the pseudo input.  QIF: at zero pseudo current, so
    independent of the input; theta: H(phi_T, input) / Theta."""
    if model.D == 2:
        phase, p_V, _, period, _ = model.pseudo_phase(x_end[:, 0], np.zeros_like(x_end[:, 0]))
        return phase / period, p_V / period, np.zeros_like(phase)
    H, H_phi, H_w = (a[:, 0] for a in model.receive(x_end, inputs))
    return H / model.period, H_phi[:, 0] / model.period, H_w / model.period


def _passes(model, passes: int) -> int:
    return max(passes, 1) if model.D == 1 else 1


def rate_inputs(model, trace: Trace, W_net, passes: int = 1):
    """Input of the pseudodynamics from the network's pseudo rates, input_i = sum_j W_ij r_j,
    and its tangent: what keeps pseudospikes continuous when a presynaptic spike leaves the
    trial (its lost transmission reappears as a rate of about 1).

    QIF: r_j = phi_p(V_T,j; I = 0) / Theta_p(0) (the rate at zero pseudo current, one pass).
    Theta: r_j = H(phi_T,j, input_j) / Theta, iterated ``passes`` times (the depth minus one
    for a layered network, so that every layer sees its predecessors' final rates).
    """
    W = np.asarray(W_net, float)
    x, dx = trace.x_end, trace.dx_end
    P = 0 if dx is None else dx.shape[-1]
    B, N = x.shape[0], x.shape[-1]
    inputs, d_inputs = np.zeros((B, N)), np.zeros((B, N, P))
    if not model.pseudo:
        return inputs, d_inputs
    for _ in range(_passes(model, passes)):
        r, r_x, r_in = _rates(model, x, inputs)
        if P:
            dr = r_x[..., None] * dx[:, 0] + r_in[..., None] * d_inputs
            d_inputs = np.einsum("ij,bjp->bip", W, dr)
            rows = trace.layout.offset("W_net") + np.arange(N)[:, None] * N + np.arange(N)[None, :]  # W[i, j]
            d_inputs[:, np.arange(N)[:, None], rows] += r[:, None, :]
        inputs = r @ W.T
    return inputs, d_inputs


def output_vjp(model, trace: Trace, neuron: int, n: int, dL_dtimes, inputs=0.0):
    """Reverse mode of :func:`output_times`: pull dL/d(times) (B, n) back to the event times
    (B, K), the state at T (B, D, N) and the pseudo inputs (B, N)."""
    B, K = trace.t.shape
    lam = np.asarray(dL_dtimes, float)
    dL_dt, dL_dx, dL_din = np.zeros((B, K)), np.zeros(trace.x_end.shape), np.zeros(trace.x_end[:, 0].shape)
    slots, counts, pseudo = _slots(trace, neuron, n)
    ordinary = ~pseudo
    b, slot = np.nonzero(ordinary)
    np.add.at(dL_dt, (b, slots[b, slot]), lam[b, slot])
    if not model.pseudo:
        return dL_dt, dL_dx, dL_din
    inputs = np.broadcast_to(np.asarray(inputs, float), dL_din.shape)[:, [neuron]]
    x = trace.x_end[:, :, [neuron]]
    for slot in range(n):
        weight = np.where(ordinary[:, slot], 0.0, lam[:, slot])
        if weight.any():
            k = (slot + 1 - counts)[:, None]
            _, d_x, d_in = _pseudo_partials(model, x, k, trace.T, inputs)
            dL_dx[:, :, neuron] += weight[:, None] * d_x[:, :, 0]
            dL_din[:, neuron] += weight * d_in[:, 0]
    return dL_dt, dL_dx, dL_din


def rate_inputs_vjp(model, trace: Trace, W_net, dL_dinputs, passes: int = 1):
    """Reverse mode of :func:`rate_inputs`: dL/dW_net (N, N, summed over trials) and
    dL/d(state at T) (B, D, N) from dL/d(inputs) (B, N)."""
    W = np.asarray(W_net, float)
    x = trace.x_end
    B, N = x.shape[0], x.shape[-1]
    dW, dx = np.zeros_like(W), np.zeros(x.shape)
    lam = np.asarray(dL_dinputs, float)
    if not model.pseudo:
        return dW, dx
    inputs, stages = np.zeros((B, N)), []
    for _ in range(_passes(model, passes)):
        stages.append(_rates(model, x, inputs))
        inputs = stages[-1][0] @ W.T
    for r, r_x, r_in in reversed(stages):
        dW += lam.T @ r
        lam_r = lam @ W
        dx[:, 0] += lam_r * r_x
        lam = lam_r * r_in
    return dW, dx
