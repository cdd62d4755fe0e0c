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


def pseudospikes(model, x_end, dx_end, k, T: float, inputs=0.0, d_inputs=None):
    """Pseudospike number k (>= 1) of every neuron: times (B, N) and tangents (B, N, P).

    ``inputs`` (B, N) is the rate-network input after T, ``d_inputs`` its tangent."""
    k = np.asarray(k, float)
    P = 0 if dx_end is None else dx_end.shape[-1]
    inputs = np.broadcast_to(np.asarray(inputs, float), x_end[:, 0].shape)
    d_in = np.zeros(x_end[:, 0].shape + (P,)) if d_inputs is None else d_inputs
    if not model.pseudo:
        return np.full(inputs.shape, np.inf), np.zeros(inputs.shape + (P,))
    if model.D == 2:
        V, I = x_end[:, 0], x_end[:, 1] + inputs
        phase, p_V, p_I, period, q_I = model.pseudo_phase(V, I)
        times = T + k * period - phase
        if P:
            dI = dx_end[:, 1] + d_in
            return times, (k * q_I - p_I)[..., None] * dI - p_V[..., None] * dx_end[:, 0]
        return times, None
    H, H_phi, H_w = (a[:, 0] for a in model.receive(x_end, inputs))
    times = T + k * model.period - H
    if P:
        return times, -(H_phi[:, 0][..., None] * dx_end[:, 0] + H_w[..., None] * d_in)
    return times, None


def output_times(model, trace: Trace, neuron: int, n: int, inputs=0.0, d_inputs=None):
    """The first ``n`` output times of ``neuron`` in every trial, ordinary spikes first:
    times (B, n), tangents (B, n, P) (None without gradients), and a (B, n) pseudo mask."""
    B = trace.t.shape[0]
    mask = trace.spikes(neuron)
    counts = mask.sum(axis=1)
    slots = np.argsort(~mask, axis=1, kind="stable")[:, :n]  # positions of the first spikes
    pad = n - slots.shape[1]
    if pad > 0:
        slots = np.concatenate([slots, np.zeros((B, pad), int)], axis=1)
    m = np.arange(n)[None, :]
    pseudo = m >= counts[:, None]
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
    lay = trace.layout
    inputs, d_inputs = np.zeros((B, N)), np.zeros((B, N, P))
    if not model.pseudo:
        return inputs, d_inputs
    for _ in range(max(passes, 1) if model.D == 1 else 1):
        if model.D == 2:
            phase, p_V, _, period, _ = model.pseudo_phase(x[:, 0], np.zeros_like(x[:, 0]))
            r = phase / period
            dr = (p_V / period)[..., None] * dx[:, 0] if P else None
        else:
            H, H_phi, H_w = (a[:, 0] for a in model.receive(x, inputs))
            r = H / model.period
            dr = (H_phi[:, 0][..., None] * dx[:, 0] + H_w[..., None] * d_inputs) / model.period if P else None
        new = r @ W.T
        if P:
            d_new = np.einsum("ij,bjp->bip", W, dr)
            rows = lay.offset("W_net") + np.arange(N)[:, None] * N + np.arange(N)[None, :]  # W[i, j]
            d_new[:, np.arange(N)[:, None], rows] += r[:, None, :]
            d_inputs = d_new
        inputs = new
    return inputs, d_inputs


def output_vjp(model, trace: Trace, neuron: int, n: int, dL_dtimes, inputs=0.0):
    """Reverse mode of :func:`output_times`: pull dL/d(times) (B, n) back to the event times
    (B, K), the state at T (B, D, N) and the pseudo inputs (B, N)."""
    B, K = trace.t.shape
    lam = np.asarray(dL_dtimes, float)
    dL_dt, dL_dx, dL_din = np.zeros((B, K)), np.zeros(trace.x_end.shape), np.zeros(trace.x_end[:, 0].shape)
    mask = trace.spikes(neuron)
    counts = mask.sum(axis=1)
    slots = np.argsort(~mask, axis=1, kind="stable")[:, :n]
    m = np.arange(n)[None, :]
    ordinary = m < np.minimum(counts, slots.shape[1])[:, None]
    b, slot = np.nonzero(ordinary)
    np.add.at(dL_dt, (b, slots[b, slot]), lam[b, slot])
    if not model.pseudo:
        return dL_dt, dL_dx, dL_din
    inputs = np.broadcast_to(np.asarray(inputs, float), dL_din.shape)
    x = trace.x_end[:, :, neuron]
    u = inputs[:, neuron]
    for b, slot in zip(*np.nonzero(~ordinary)):
        k = slot + 1 - counts[b]
        if model.D == 2:
            _, p_V, p_I, _, q_I = model.pseudo_phase(x[b, 0], x[b, 1] + u[b])
            dL_dx[b, 0, neuron] -= lam[b, slot] * p_V
            d_current = lam[b, slot] * (k * q_I - p_I)
            dL_dx[b, 1, neuron] += d_current
            dL_din[b, neuron] += d_current
        else:
            _, H_phi, H_w = (a.ravel()[0] for a in model.receive(x[b][None, :, None], np.array([[u[b]]])))
            dL_dx[b, 0, neuron] -= lam[b, slot] * H_phi
            dL_din[b, neuron] -= lam[b, slot] * H_w
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
    if model.D == 2:
        phase, p_V, _, period, _ = model.pseudo_phase(x[:, 0], np.zeros_like(x[:, 0]))
        dW += lam.T @ (phase / period)
        dx[:, 0] += (lam @ W) * p_V / period
        return dW, dx
    inputs, stages = np.zeros((B, N)), []
    for _ in range(max(passes, 1)):
        H, H_phi, H_w = (a[:, 0] for a in model.receive(x, inputs))
        stages.append((H / model.period, H_phi[:, 0] / model.period, H_w / model.period))
        inputs = stages[-1][0] @ W.T
    for r, r_phi, r_in in reversed(stages):
        dW += lam.T @ r
        lam_r = lam @ W
        dx[:, 0] += lam_r * r_phi
        lam = lam_r * r_in
    return dW, dx
