"""Output spike times of a simulated trial: ordinary spikes, then pseudospikes.

After the trial end every neuron follows its model's pseudodynamics, which fire regularly, so
a missing spike has a continuous, differentiable time.  Output slot m of a neuron with K
ordinary spikes is its m-th ordinary spike if m < K, else pseudospike k = m + 1 - K
(``model.pseudospike``; +inf for a model without pseudodynamics), driven by the rate
network's input (:func:`rate_inputs`).  Every function follows the backend that produced the
trace unless ``backend`` says otherwise; the NumPy code here is the specification.
"""

from __future__ import annotations

import numpy as np

from kernelalg.spiking.backend import resolve
from kernelalg.spiking.simulate import Trace


def _compiled(trace: Trace, backend: str | None) -> bool:
    return resolve(backend or trace.backend) == "numba"


def pseudospikes(model, x_end, dx_end, k, T: float, inputs=0.0, d_inputs=None):
    """Pseudospike number k (>= 1) of every neuron: times (B, N) and tangents (B, N, P)
    (None without gradients).  ``inputs`` (B, N) is the rate-network input after T,
    ``d_inputs`` its tangent."""
    inputs = np.broadcast_to(np.asarray(inputs, float), x_end[:, 0].shape)
    times, d_x, d_in = model.pseudospike(x_end, np.asarray(k, float), inputs, T)
    if dx_end is None:
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


def output_times(model, trace: Trace, neuron: int, n: int, inputs=0.0, d_inputs=None, backend: str | None = None):
    """The first ``n`` output times of ``neuron`` in every trial, ordinary spikes first:
    times (B, n), tangents (B, n, P) (None without gradients), and a (B, n) pseudo mask."""
    if _compiled(trace, backend):
        from kernelalg.spiking import compiled

        return compiled.output_times(model, trace, neuron, n, inputs, d_inputs)
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


def _rates(model, x_end, inputs, compiled: bool):
    """Pseudo rates r (B, N) with their partials in the state (B, D, N) and the input (B, N)."""
    if compiled:
        from kernelalg.spiking import compiled as backend

        return backend.rates(model, x_end, inputs)
    return model.pseudo_rate(x_end, np.broadcast_to(inputs, x_end[:, 0].shape))


def rate_inputs(model, trace: Trace, W_net, passes: int = 1, backend: str | None = None):
    """Input of the pseudodynamics from the network's pseudo rates, input_i = sum_j W_ij r_j,
    and its tangent: what keeps pseudospikes continuous when a presynaptic spike leaves the
    trial (its lost transmission reappears as a rate of about 1).  The rates r_j depend on the
    model (``pseudo_rate``) and may depend on the input itself; the map is iterated ``passes``
    times (the depth minus one for a layered network, so that every layer sees its
    predecessors' final rates).
    """
    W = np.asarray(W_net, float)
    x, dx = trace.x_end, trace.dx_end
    P = 0 if dx is None else dx.shape[-1]
    B, N = x.shape[0], x.shape[-1]
    compiled = _compiled(trace, backend)
    inputs, d_inputs = np.zeros((B, N)), np.zeros((B, N, P))
    if compiled and not P:
        from kernelalg.spiking import compiled as backend_module

        return backend_module.rate_inputs(model, trace, W, max(passes, 1)), d_inputs
    for _ in range(max(passes, 1)):
        r, r_x, r_in = _rates(model, x, inputs, compiled)
        if P:
            dr = np.einsum("bdn,bdnp->bnp", r_x, dx) + r_in[..., None] * d_inputs
            d_inputs = np.einsum("ij,bjp->bip", W, dr)
            rows = trace.layout.offset("W_net") + np.arange(N)[:, None] * N + np.arange(N)[None, :]  # W[i, j]
            d_inputs[:, np.arange(N)[:, None], rows] += r[:, None, :]
        inputs = r @ W.T
    return inputs, d_inputs


def output_vjp(model, trace: Trace, neuron: int, n: int, dL_dtimes, inputs=0.0, backend: str | None = None):
    """Reverse mode of :func:`output_times`: pull dL/d(times) (B, n) back to the event times
    (B, K), the state at T (B, D, N) and the pseudo inputs (B, N)."""
    if _compiled(trace, backend):
        from kernelalg.spiking import compiled

        return compiled.output_vjp(model, trace, neuron, dL_dtimes, inputs)
    B, K = trace.t.shape
    lam = np.asarray(dL_dtimes, float)
    dL_dt, dL_dx, dL_din = np.zeros((B, K)), np.zeros(trace.x_end.shape), np.zeros(trace.x_end[:, 0].shape)
    slots, counts, pseudo = _slots(trace, neuron, n)
    ordinary = ~pseudo
    b, slot = np.nonzero(ordinary)
    np.add.at(dL_dt, (b, slots[b, slot]), lam[b, slot])
    inputs = np.broadcast_to(np.asarray(inputs, float), dL_din.shape)[:, [neuron]]
    x = trace.x_end[:, :, [neuron]]
    for slot in range(n):
        weight = np.where(ordinary[:, slot], 0.0, lam[:, slot])
        if weight.any():
            k = (slot + 1 - counts)[:, None].astype(float)
            t, d_x, d_in = model.pseudospike(x, k, inputs, trace.T)
            weight = np.where(np.isfinite(t[:, 0]), weight, 0.0)
            dL_dx[:, :, neuron] += weight[:, None] * d_x[:, :, 0]
            dL_din[:, neuron] += weight * d_in[:, 0]
    return dL_dt, dL_dx, dL_din


def rate_inputs_vjp(model, trace: Trace, W_net, dL_dinputs, passes: int = 1, backend: str | None = None):
    """Reverse mode of :func:`rate_inputs`: dL/dW_net (N, N, summed over trials) and
    dL/d(state at T) (B, D, N) from dL/d(inputs) (B, N)."""
    W = np.asarray(W_net, float)
    x = trace.x_end
    B, N = x.shape[0], x.shape[-1]
    if _compiled(trace, backend):
        from kernelalg.spiking import compiled

        return compiled.rate_inputs_vjp(model, trace, W, dL_dinputs, max(passes, 1))
    dW, dx = np.zeros_like(W), np.zeros(x.shape)
    lam = np.asarray(dL_dinputs, float)
    inputs, stages = np.zeros((B, N)), []
    for _ in range(max(passes, 1)):
        stages.append(model.pseudo_rate(x, inputs))
        inputs = stages[-1][0] @ W.T
    for r, r_x, r_in in reversed(stages):
        dW += lam.T @ r
        lam_r = lam @ W
        dx += lam_r[:, None, :] * r_x
        lam = lam_r * r_in
    return dW, dx
