"""The compiled backend's event loop, reverse sweep and outputs, one trial at a time.

Written in the subset of Python that Numba compiles and generic over the neuron model: the
names ``k_*`` below are the model's kernels (:mod:`kernelalg.spiking.models.base`), bound per
model class by :mod:`kernelalg.spiking.compiled`, which also compiles these functions.  They
follow the NumPy specification step for step (:mod:`kernelalg.spiking.simulate`,
:mod:`kernelalg.spiking.backward`, :mod:`kernelalg.spiking.outputs`); arrays are preallocated
by the caller and filled in place.  Two shortcuts that leave the numbers unchanged: the
reverse sweep skips neurons whose state adjoint is zero, and without tangents the kernels are
told that dx'/dw is not needed.
"""

import numpy as np

k_time_to_spike = k_flow = k_flow_onto_spike = k_receive = k_reset = k_pseudospike = k_rate = None
D = 0  # the model's number of state components (a compile-time constant)


def simulate_batch(p, tol, W_in, W_net, x0, times, sources, T, K, P, offsets, x_end, dx_end, counts,
                   ev_t, ev_i, ev_in, ev_slot, ev_x, ev_dt, ev_imm):
    """Simulate every trial b of the batch (at most K events each) with the input spikes at
    ``times[b]`` from ``sources[b]``, taken in time order (a stable sort, as
    :func:`kernelalg.spiking.simulate.sorted_inputs`).  The records of all events
    go trial after trial (trial b has ``counts[b]`` of them) into the ``ev_*`` arrays, room for
    K B events: times, indices, input flags, input slots, states (D N values each), time
    tangents (P each) and, if ``ev_imm`` is not empty, the imminent flags (N each).
    ``offsets`` = positions of W_in, W_net, t_in and x0 in the tangent axis of length P
    (P = 0: no tangents); the states and tangents at T go into x_end and dx_end.  Returns the
    number of trials that did not reach T."""
    B, _, N = x0.shape
    S = times.shape[1]
    record_imminent = ev_imm.size > 0
    t_in, src, slot = np.empty(S + 1), np.empty(S + 1, np.int64), np.empty(S + 1, np.int64)
    t_in[S], src[S], slot[S] = np.inf, 0, 0
    x, y, z = np.empty((D, N)), np.empty((D, N)), np.empty((D, N))
    J, R = np.empty((D, D, N)), np.empty((D, D, N))
    F, Rw, g = np.empty((D, N)), np.empty((D, N)), np.empty((D, N))
    keep = np.empty(D)
    tnext, imminent = np.empty(N), np.zeros(N, np.bool_)
    dx, dy, dz = np.empty((D, N, P)), np.empty((D, N, P)), np.empty((D, N, P))
    dtnext, dt_now, d_ev, d_delta = np.empty((N, P)), np.empty(P), np.empty(P), np.empty(P)
    used = 0
    failed = 0
    for b in range(B):
        slot[:S] = np.argsort(times[b], kind="mergesort")
        for i in range(S):
            t_in[i], src[i] = times[b, slot[i]], sources[b, slot[i]]
        dx.fill(0.0)
        for d in range(D):
            for n in range(N):
                x[d, n] = x0[b, d, n]
                if P:
                    dx[d, n, offsets[3] + d * N + n] = 1.0
        dt_now.fill(0.0)
        for n in range(N):
            tnext[n] = _next_spike(p, x, n, g, dx, 0.0, dt_now, P, dtnext)
        t = 0.0
        count = 0
        counts[b] = 0
        for _ in range(K):
            j = 0
            for n in range(1, N):
                if tnext[n] < tnext[j]:
                    j = n
            t_net, t_inp = tnext[j], t_in[count]
            is_input = t_inp < t_net
            t_ev = t_inp if is_input else t_net
            in_trial = t_ev < T
            if not in_trial:
                t_ev = T
            if P:
                for q in range(P):
                    d_ev[q] = dtnext[j, q] if in_trial and not is_input else 0.0
                if in_trial and is_input:
                    d_ev[offsets[2] + slot[count]] = 1.0
                for q in range(P):
                    d_delta[q] = d_ev[q] - dt_now[q]
            delta = t_ev - t
            for n in range(N):
                imminent[n] = abs(tnext[n] - t_ev) < tol
                if imminent[n]:
                    k_flow_onto_spike(p, x, n, delta, y, J, F)
                else:
                    k_flow(p, x, n, delta, y, J, F)
            source = src[count] if is_input else j
            W = W_in if is_input else W_net
            for n in range(N):
                w = W[n, source] if in_trial else 0.0
                k_receive(p, y, n, w, P > 0, z, R, Rw)
            if P:
                stride = W.shape[1]
                base = offsets[0] if is_input else offsets[1]
                for n in range(N):
                    for d in range(D):
                        for q in range(P):
                            s = 0.0
                            for e in range(D):
                                s += J[d, e, n] * dx[e, n, q]
                            dy[d, n, q] = s + F[d, n] * d_delta[q]
                    for d in range(D):
                        for q in range(P):
                            s = 0.0
                            for e in range(D):
                                s += R[d, e, n] * dy[e, n, q]
                            dz[d, n, q] = s
                        if in_trial:
                            dz[d, n, base + n * stride + source] += Rw[d, n]
            fired = in_trial and not is_input
            if fired:
                k_reset(p, z, j, keep)
                for d in range(D):
                    for q in range(P):
                        dz[d, j, q] *= keep[d]
            for n in range(N):
                if not (imminent[n] and not (fired and n == j)):
                    tnext[n] = _next_spike(p, z, n, g, dz, t_ev, d_ev, P, dtnext)
            ev_t[used] = t_ev
            ev_in[used] = is_input
            ev_i[used] = (src[count] if is_input else j) if in_trial else -1
            ev_slot[used] = slot[count] if in_trial and is_input else -1
            for d in range(D):
                for n in range(N):
                    ev_x[(used * D + d) * N + n] = z[d, n]
            if record_imminent:
                for n in range(N):
                    ev_imm[used * N + n] = imminent[n]
            for q in range(P):
                ev_dt[used * P + q] = d_ev[q]
                dt_now[q] = d_ev[q]
            used += 1
            counts[b] += 1
            x, z = z, x
            dx, dz = dz, dx
            t = t_ev
            if not in_trial:
                for d in range(D):
                    for n in range(N):
                        x_end[b, d, n] = x[d, n]
                        for q in range(P):
                            dx_end[b, d, n, q] = dx[d, n, q]
                break
            if is_input:
                count += 1
        if t < T:
            failed += 1
    return failed


def _next_spike(p, x, n, g, dx, t, dt, P, dtnext):
    """Absolute next spike time of neuron n, t + dt*(x), with its tangent into dtnext[n]."""
    ts = k_time_to_spike(p, x, n, g)
    finite = np.isfinite(ts)
    for q in range(P):
        s = 0.0
        for d in range(D):
            s += g[d, n] * dx[d, n, q]
        dtnext[n, q] = dt[q] + s if finite else 0.0
    return t + ts


def backward_batch(p, W_in, W_net, train_in, train_net, rec_t, rec_i, rec_in, rec_x, x0, rec_slot, rec_imm, dL_dt,
                   seed_end, gW_in, gW_net, g_tin, lam_x0):
    """Reverse sweep of every trial (see :func:`kernelalg.spiking.backward.backward`):
    accumulates dL/dW_in and dL/dW_net where ``train_in``/``train_net`` hold, writes dL/dt_in
    (B, S) and dL/dx0 (B, D, N)."""
    B, _, N = x0.shape
    y, z, scratch = np.empty((D, N)), np.empty((D, N)), np.empty((D, N))
    J, R = np.empty((D, D, N)), np.empty((D, D, N))
    F, Rw, g = np.empty((D, N)), np.empty((D, N)), np.empty((D, N))
    keep, lam_y = np.empty(D), np.empty(D)
    lam_x, lam_x_prev = np.empty((D, N)), np.empty((D, N))
    lam_tn, lam_tn_old = np.empty(N), np.empty(N)
    has_imminent = rec_imm.size > 0
    for b in range(B):
        lam_x.fill(0.0)
        lam_tn.fill(0.0)
        lam_t = 0.0
        for k in range(rec_t.shape[1] - 1, -1, -1):
            if not np.isfinite(rec_t[b, k]):
                continue
            x_prev = rec_x[b, k - 1] if k else x0[b]
            x_post = rec_x[b, k]
            delta = rec_t[b, k] - (rec_t[b, k - 1] if k else 0.0)
            j = rec_i[b, k]
            in_trial = j >= 0
            is_input = rec_in[b, k] and in_trial
            fired = in_trial and not is_input
            if not in_trial:
                for d in range(D):
                    for n in range(N):
                        lam_x[d, n] += seed_end[b, d, n]
            lam_tp = lam_t + dL_dt[b, k]
            fresh_sum = 0.0
            for n in range(N):
                kept = has_imminent and rec_imm[b, k, n] and not (fired and n == j)
                ts = k_time_to_spike(p, x_post, n, g)
                fresh = 0.0 if kept or not np.isfinite(ts) else lam_tn[n]
                for d in range(D):
                    lam_x[d, n] += g[d, n] * fresh
                fresh_sum += fresh
                lam_tn_old[n] = lam_tn[n] if kept else 0.0
            lam_tp += fresh_sum
            if fired:
                k_reset(p, scratch, j, keep)
                for d in range(D):
                    lam_x[d, j] *= keep[d]
            W, gW, train = (W_in, gW_in, train_in) if is_input else (W_net, gW_net, train_net)
            lam_delta = 0.0
            for n in range(N):
                active = False
                for d in range(D):
                    lam_x_prev[d, n] = 0.0
                    active = active or lam_x[d, n] != 0.0
                if not active:
                    continue
                if has_imminent and rec_imm[b, k, n]:
                    k_flow_onto_spike(p, x_prev, n, delta, y, J, F)
                else:
                    k_flow(p, x_prev, n, delta, y, J, F)
                wanted = in_trial and train[n, j]
                k_receive(p, y, n, W[n, j] if in_trial else 0.0, wanted, z, R, Rw)
                if wanted:
                    lam_w = 0.0
                    for d in range(D):
                        lam_w += Rw[d, n] * lam_x[d, n]
                    gW[n, j] += lam_w
                for e in range(D):
                    s = 0.0
                    for d in range(D):
                        s += R[d, e, n] * lam_x[d, n]
                    lam_y[e] = s
                for d in range(D):
                    lam_delta += F[d, n] * lam_y[d]
                for e in range(D):
                    s = 0.0
                    for d in range(D):
                        s += J[d, e, n] * lam_y[d]
                    lam_x_prev[e, n] = s
            lam_tp += lam_delta
            if is_input:
                g_tin[b, rec_slot[b, k]] += lam_tp
            if fired:
                lam_tn_old[j] += lam_tp
            lam_x, lam_x_prev = lam_x_prev, lam_x
            lam_tn, lam_tn_old = lam_tn_old, lam_tn
            lam_t = -lam_delta
        for n in range(N):
            k_time_to_spike(p, x0[b], n, g)
            for d in range(D):
                lam_x0[b, d, n] = lam_x[d, n] + g[d, n] * lam_tn[n]


def outputs_batch(p, rec_t, rec_i, rec_in, rec_dt, x_end, dx_end, T, neuron, inputs, d_inputs,
                  times, grads, pseudo):
    """The first ``times.shape[1]`` output times of ``neuron`` per trial: its ordinary spikes,
    then pseudospikes k = 1, 2, ...; tangents into ``grads`` when it has a tangent axis."""
    B, n_slots = times.shape
    P = grads.shape[2]
    g = np.empty(x_end.shape[1:])
    events = np.empty(n_slots, np.int64)
    for b in range(B):
        m = _ordinary_spikes(rec_i[b], rec_in[b], neuron, events)
        for slot in range(m):
            times[b, slot] = rec_t[b, events[slot]]
            pseudo[b, slot] = False
            for q in range(P):
                grads[b, slot, q] = rec_dt[b, events[slot], q]
        for slot in range(m, n_slots):
            t, d_in = k_pseudospike(p, x_end[b], neuron, float(slot + 1 - m), inputs[b, neuron], T, g)
            times[b, slot] = t
            pseudo[b, slot] = True
            for q in range(P):
                s = 0.0
                for d in range(D):
                    s += g[d, neuron] * dx_end[b, d, neuron, q]
                grads[b, slot, q] = s + d_in * d_inputs[b, neuron, q]


def _ordinary_spikes(index, is_input, neuron, events):
    """Positions of the first ``len(events)`` ordinary spikes of ``neuron`` in one trial's
    records into ``events``; returns how many there are."""
    m = 0
    for k in range(index.shape[0]):
        if m == events.shape[0]:
            break
        if index[k] == neuron and not is_input[k]:
            events[m] = k
            m += 1
    return m


def outputs_vjp_batch(p, rec_t, rec_i, rec_in, x_end, T, neuron, inputs, lam, dL_dt, dL_dx, dL_din):
    """Reverse mode of :func:`outputs_batch`: adds lam (B, n) into the event-time, end-state and
    pseudo-input adjoints."""
    B, n_slots = lam.shape
    g = np.empty(x_end.shape[1:])
    events = np.empty(n_slots, np.int64)
    for b in range(B):
        m = _ordinary_spikes(rec_i[b], rec_in[b], neuron, events)
        for slot in range(m):
            dL_dt[b, events[slot]] += lam[b, slot]
        for slot in range(m, n_slots):
            if lam[b, slot] == 0.0:
                continue
            t, d_in = k_pseudospike(p, x_end[b], neuron, float(slot + 1 - m), inputs[b, neuron], T, g)
            if np.isfinite(t):
                for d in range(D):
                    dL_dx[b, d, neuron] += lam[b, slot] * g[d, neuron]
                dL_din[b, neuron] += lam[b, slot] * d_in


def rates_batch(p, x_end, inputs, r, r_x, r_in):
    """Pseudo rates of all neurons and their partials (the model's ``k_rate``)."""
    B, _, N = x_end.shape
    for b in range(B):
        for n in range(N):
            rate, rate_in = k_rate(p, x_end[b], n, inputs[b, n], r_x[b])
            r[b, n], r_in[b, n] = rate, rate_in


def rate_inputs_batch(p, x_end, W, passes, inputs):
    """The rate network's input after ``passes`` passes, inputs_i = sum_j W_ij r_j(input_j)
    (see :func:`kernelalg.spiking.outputs.rate_inputs`), per trial into ``inputs`` (B, N)."""
    B, _, N = x_end.shape
    r, r_x, r_in = np.empty(N), np.empty((D, N)), np.empty(N)
    for b in range(B):
        inputs[b].fill(0.0)
        for _ in range(passes):
            _rate_pass(p, x_end[b], W, inputs[b], r, r_x, r_in)


def _rate_pass(p, x, W, inputs, r, r_x, r_in):
    """One pass of the rate network of a trial: the rates r (N,) at ``inputs`` with their
    partials r_x (D, N) and r_in (N,), then inputs <- W r."""
    N = r.shape[0]
    for n in range(N):
        rate, rate_in = k_rate(p, x, n, inputs[n], r_x)
        r[n], r_in[n] = rate, rate_in
    for i in range(N):
        s = 0.0
        for j in range(N):
            s += W[i, j] * r[j]
        inputs[i] = s


def rate_inputs_vjp_batch(p, x_end, W, passes, lam_in, dW, dx):
    """Reverse mode of :func:`rate_inputs_batch`: accumulates dL/dW (N, N) and writes
    dL/d(state at T) (B, D, N) from dL/d(inputs) ``lam_in`` (B, N)."""
    B, _, N = x_end.shape
    r, r_x, r_in = np.empty((passes, N)), np.empty((passes, D, N)), np.empty((passes, N))
    inputs, lam, lam_r = np.empty(N), np.empty(N), np.empty(N)
    for b in range(B):
        inputs.fill(0.0)
        for stage in range(passes):
            _rate_pass(p, x_end[b], W, inputs, r[stage], r_x[stage], r_in[stage])
        for n in range(N):
            lam[n] = lam_in[b, n]
            for d in range(D):
                dx[b, d, n] = 0.0
        for stage in range(passes - 1, -1, -1):
            for i in range(N):
                if lam[i] != 0.0:
                    for j in range(N):
                        dW[i, j] += lam[i] * r[stage, j]
            for j in range(N):
                s = 0.0
                for i in range(N):
                    s += lam[i] * W[i, j]
                lam_r[j] = s
            for n in range(N):
                for d in range(D):
                    dx[b, d, n] += lam_r[n] * r_x[stage, d, n]
                lam[n] = lam_r[n] * r_in[stage, n]
