"""Reverse-mode exact gradients through a recorded simulation (no autodiff framework).

One event step maps (x, tn, t) -> (x', tn', t') with the state x, the neurons' next spike
times tn and the time t:

    t'  = t_in[slot] (input) | tn[j] (network spike) | T (trial end),   dt = t' - t
    y   = flow(x, dt)                  (imminent neurons: flow_onto_spike)
    z   = receive(y, W[:, source])     (in-trial events only)
    x'  = reset of z[:, j]             (network spikes)
    tn' = t' + time_to_spike(x')       (imminent neurons keep tn)

and tn_0 = time_to_spike(x0).  Given adjoints of the event times and of the state at T, the
adjoints are pulled back through the steps in reverse, using the same generated partial
derivatives as the forward tangents: O(B K N D^2) work plus one weight column per event,
independent of the number of parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernelalg.errors import InputError
from kernelalg.spiking.backend import resolve
from kernelalg.spiking.simulate import Trace, flow_step


@dataclass(frozen=True)
class Gradients:
    """dL/dW_in (N, Nin) and dL/dW_net (N, N) summed over the batch, dL/dt_in (B, S) and
    dL/dx0 (B, D, N) per trial."""

    W_in: np.ndarray
    W_net: np.ndarray
    t_in: np.ndarray
    x0: np.ndarray


def backward(model, trace: Trace, W_in, W_net, dL_dt, dL_dx_end=None, backend: str | None = None,
             trainable: tuple[np.ndarray, np.ndarray] | None = None) -> Gradients:
    """Gradients of a loss L whose dependence on the simulation is through the event times
    (``dL_dt`` (B, K), matching ``trace.t``) and the state at the trial end (``dL_dx_end``
    (B, D, N)).  ``trainable``: boolean masks (N, Nin) and (N, N) of the weights whose
    gradient is wanted (the others are reported as 0 and need not be computed); default all.
    ``backend``: by default the one that produced the trace."""
    W_in, W_net = np.atleast_2d(np.asarray(W_in, float)), np.atleast_2d(np.asarray(W_net, float))
    B, K = trace.t.shape
    dL_dt = np.asarray(dL_dt, float)
    if dL_dt.shape != (B, K):
        raise InputError(f"dL_dt must have the shape of the event times {(B, K)}, got {dL_dt.shape}")
    seed_end = np.zeros(trace.x_end.shape) if dL_dx_end is None else np.asarray(dL_dx_end, float)
    masks = (np.ones(W_in.shape, bool), np.ones(W_net.shape, bool)) if trainable is None else trainable
    masks = tuple(np.ascontiguousarray(np.broadcast_to(np.asarray(m, bool), w.shape)) for m, w in zip(masks, (W_in, W_net)))
    if resolve(backend or trace.backend) == "numba":
        from kernelalg.spiking import compiled

        return Gradients(*compiled.backward(model, trace, W_in, W_net, dL_dt, seed_end, masks))
    gW_in, gW_net, g_tin, g_x0 = _backward_numpy(model, trace, W_in, W_net, dL_dt, seed_end)
    return Gradients(np.where(masks[0], gW_in, 0.0), np.where(masks[1], gW_net, 0.0), g_tin, g_x0)


def _backward_numpy(model, trace: Trace, W_in, W_net, dL_dt, seed_end):
    B, K = trace.t.shape
    D, N = trace.x_end.shape[1:]
    rows = np.arange(B)
    gW_in, gW_net = np.zeros_like(W_in), np.zeros_like(W_net)
    g_tin = np.zeros((B, trace.layout.S))
    lam_x, lam_tn, lam_t = np.zeros((B, D, N)), np.zeros((B, N)), np.zeros(B)
    used = np.isfinite(trace.t)
    ends = used & (trace.index < 0)
    for k in range(K - 1, -1, -1):
        live = used[:, k]
        if not live.any():
            continue
        x_prev = trace.x[:, k - 1] if k else trace.x0
        x_post = trace.x[:, k]
        t_prev = np.where(live, trace.t[:, k - 1], 0.0) if k else np.zeros(B)
        delta = np.where(live, trace.t[:, k], 0.0) - t_prev
        j = trace.index[:, k]
        in_trial = j >= 0
        is_input = trace.is_input[:, k] & in_trial
        fired = in_trial & ~is_input
        imminent = (np.zeros((B, N), bool) if trace.imminent is None else trace.imminent[:, k]) & live[:, None]
        keep = imminent.copy()
        keep[rows[fired], j[fired]] = False

        lam_x = lam_x + np.where(ends[:, k, None, None], seed_end, 0.0)
        lam_tp = lam_t + dL_dt[:, k] * live  # adjoint of t'
        # tn' = t' + ts(x') where not kept
        ts, g = model.time_to_spike(x_post)
        fresh = np.where(keep | ~np.isfinite(ts), 0.0, lam_tn)
        lam_x = lam_x + g * fresh[:, None, :]
        lam_tp = lam_tp + fresh.sum(axis=1)
        lam_tn_old = np.where(keep, lam_tn, 0.0)
        # reset
        if fired.any():
            lam_x[rows[fired], :, j[fired]] *= model.reset(x_post[:1])[1]
        # receive
        y, J, F_dt = flow_step(model, x_prev, delta, imminent)
        w = np.where(is_input[:, None], W_in[:, np.where(is_input, j, 0)].T, W_net[:, np.where(fired, j, 0)].T)
        w = w * in_trial[:, None]
        _, R, R_w = model.receive(y, w)
        lam_w = (R_w * lam_x).sum(axis=1) * in_trial[:, None]  # (B, N): dL/dW[:, source]
        if is_input.any():
            np.add.at(gW_in.T, j[is_input], lam_w[is_input])
        if fired.any():
            np.add.at(gW_net.T, j[fired], lam_w[fired])
        lam_y = _transpose_apply(R, lam_x)
        # flow
        lam_delta = (F_dt * lam_y).sum(axis=(1, 2)) * live
        lam_x_prev = _transpose_apply(J, lam_y)
        lam_tp = lam_tp + lam_delta
        # where t' came from
        if is_input.any():
            g_tin[rows[is_input], trace.input_slot[is_input, k]] += lam_tp[is_input]
        if fired.any():
            lam_tn_old[rows[fired], j[fired]] += lam_tp[fired]
        lam_x = np.where(live[:, None, None], lam_x_prev, lam_x)
        lam_tn = np.where(live[:, None], lam_tn_old, lam_tn)
        lam_t = np.where(live, -lam_delta, lam_t)
    # tn_0 = ts(x0)
    _, g = model.time_to_spike(trace.x0)
    return gW_in, gW_net, g_tin, lam_x + g * lam_tn[:, None, :]


def _transpose_apply(J: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """lam'_(e) = sum_d J[d, e] lam_(d), per neuron; J (B, D, D, N), lam (B, D, N)."""
    return np.einsum("bden,bdn->ben", J, lam)
