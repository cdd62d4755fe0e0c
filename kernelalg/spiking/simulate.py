"""Exact event-based simulation of spiking networks with forward-mode exact gradients.

Between events every neuron follows its closed-form flow; an event is the earliest of the
next input spike, the next network spike (``time_to_spike``) and the trial end T.  At an
in-trial event the source's weight column is transmitted (``receive``) and a spiking neuron
is reset; at T the state is recorded and nothing is transmitted or reset (as in the
reference).  Ties go to network spikes; among neurons the lowest index fires first.

Exact gradients: the event times and states are compositions of closed-form maps with the
discrete choices (which event, which branch) held fixed, so their derivatives with respect
to the parameters p = (W_in, W_net, input times, initial state) follow by the chain rule.
They are propagated forward as tangents d(.)/dp alongside the simulation (shape (..., P)),
using the models' generated partial derivatives.  Cost: O(B K N P) for B trials, K events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from itertools import accumulate

import numpy as np

from kernelalg.errors import InputError, SimulationError
from kernelalg.spiking.backend import resolve


@dataclass(frozen=True)
class Layout:
    """Positions of the parameters in the flat tangent axis: W_in, W_net, t_in, x0."""

    N: int
    Nin: int
    S: int
    D: int

    @cached_property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {"W_in": (self.N, self.Nin), "W_net": (self.N, self.N), "t_in": (self.S,), "x0": (self.D, self.N)}

    @cached_property
    def sizes(self) -> dict[str, int]:
        return {name: math.prod(shape) for name, shape in self.shapes.items()}

    @cached_property
    def offsets(self) -> dict[str, int]:
        return dict(zip(self.sizes, accumulate(self.sizes.values(), initial=0)))

    @property
    def P(self) -> int:
        return sum(self.sizes.values())

    def offset(self, name: str) -> int:
        return self.offsets[name]

    def part(self, grad: np.ndarray, name: str) -> np.ndarray:
        """The ``name`` part of a gradient (..., P) in its shape: W_in (..., N, Nin),
        W_net (..., N, N), t_in (..., S) or x0 (..., D, N)."""
        start = self.offsets[name]
        return grad[..., start: start + self.sizes[name]].reshape(grad.shape[:-1] + self.shapes[name])

    def split(self, grad: np.ndarray) -> dict[str, np.ndarray]:
        """A gradient (..., P) as its named parts (:meth:`part`)."""
        return {name: self.part(grad, name) for name in self.shapes}


@lru_cache(maxsize=64)
def _layout(N: int, Nin: int, S: int, D: int) -> Layout:
    return Layout(N, Nin, S, D)


@dataclass(frozen=True)
class Trace:
    """Result of :func:`simulate` for B trials; K is the number of events of the longest trial
    (trial end included).

    ``t`` (B, K) event times (inf after the trial end), ``index`` (B, K) the spiking neuron
    for network events, the input source for input events, -1 for the trial end and unused
    slots; ``is_input`` (B, K); ``x`` (B, K, D, N) states after each event; ``x_end`` (B, D, N)
    the state at T; with gradients, ``dt`` (B, K, P) and ``dx_end`` (B, D, N, P).
    """

    t: np.ndarray
    index: np.ndarray
    is_input: np.ndarray
    x: np.ndarray
    x_end: np.ndarray
    T: float
    layout: Layout
    dt: np.ndarray | None = field(default=None, repr=False)
    dx_end: np.ndarray | None = field(default=None, repr=False)
    x0: np.ndarray | None = field(default=None, repr=False)  # (B, D, N), for the reverse pass
    input_slot: np.ndarray | None = field(default=None, repr=False)  # (B, K) input's position in t_in
    imminent: np.ndarray | None = field(default=None, repr=False)  # (B, K, N) flowed onto their spike; None: none
    backend: str = "numpy"  # the implementation that produced it; outputs and gradients follow it

    def spikes(self, neuron: int) -> np.ndarray:
        """(B, K) mask of the ordinary (in-trial) spikes of ``neuron``."""
        return (self.index == neuron) & ~self.is_input

    def spike_counts(self) -> np.ndarray:
        """(B, N) number of ordinary spikes of every neuron in every trial."""
        B, N = self.x_end.shape[0], self.x_end.shape[-1]
        fired = (self.index >= 0) & ~self.is_input
        rows = np.broadcast_to(np.arange(B)[:, None], fired.shape)[fired]
        return np.bincount(rows * N + self.index[fired], minlength=B * N).reshape(B, N)


def _inputs(times, sources, B: int) -> tuple[np.ndarray, np.ndarray]:
    times = np.atleast_2d(np.asarray(times, dtype=float))
    sources = np.atleast_2d(np.asarray(sources))
    if times.shape[0] == 1 and B > 1:
        times = np.broadcast_to(times, (B, times.shape[1]))
    if sources.shape != times.shape:
        sources = np.broadcast_to(sources, times.shape)
    _check_times(times)
    return times, sources.astype(np.int64, copy=False)


def _check_times(times: np.ndarray) -> None:
    if not (times > -np.inf).all():  # catches nan and -inf
        raise InputError("input spike times must be numbers or +inf (no spike)")


def _check_finite(*arrays: np.ndarray) -> None:
    if not all(np.isfinite(a).all() for a in arrays):
        raise InputError("weights and initial states must be finite")


def sorted_inputs(times: np.ndarray, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The input spikes (B, S) of every trial in time order (stable): times (B, S + 1) ending
    with +inf, their sources and their positions in the given arrays (B, S + 1)."""
    B, S = times.shape
    t_in, src, slot = np.full((B, S + 1), np.inf), np.zeros((B, S + 1), np.int64), np.zeros((B, S + 1), np.int64)
    order = slot[:, :S] = np.argsort(times, axis=1, kind="stable")
    rows = np.arange(B)[:, None]
    t_in[:, :S], src[:, :S] = times[rows, order], sources[rows, order]
    return t_in, src, slot


@dataclass(frozen=True)
class Setup:
    """A checked simulation problem of B trials: W_in (N, Nin), W_net (N, N), x0 (B, D, N),
    and the input spikes of every trial, ``times`` (B, S) in any order (+inf: none) with their
    ``sources`` (B, S); each backend takes them in time order (:func:`sorted_inputs`)."""

    W_in: np.ndarray
    W_net: np.ndarray
    x0: np.ndarray
    times: np.ndarray
    sources: np.ndarray
    T: float
    layout: Layout

    def with_inputs(self, W_in, times) -> Setup:
        """The same problem with other input weights (N, Nin) and input times (B, S) of the
        same sources: the update of a training loop between trials, which checks only the new
        values (the rest was checked once)."""
        W_in, times = np.asarray(W_in, float), np.asarray(times, float)
        if W_in.shape != self.W_in.shape or times.shape != self.times.shape:
            raise InputError(f"new inputs: W_in {W_in.shape} and times {times.shape} for {self.W_in.shape} "
                             f"and {self.times.shape}")
        _check_finite(W_in)
        _check_times(times)
        return Setup(np.ascontiguousarray(W_in), self.W_net, self.x0, np.ascontiguousarray(times), self.sources,
                     self.T, self.layout)


def setup(model, W_in, W_net, x0, times, sources, T: float, batch: int | None = None) -> Setup:
    """Check the arguments of :func:`simulate` and bring them into the shapes of :class:`Setup`."""
    W_in, W_net = np.atleast_2d(np.asarray(W_in, float)), np.atleast_2d(np.asarray(W_net, float))
    N, Nin = W_in.shape
    x0 = np.asarray(x0, float)
    if W_net.shape != (N, N) or x0.shape[-2:] != (model.D, N):
        raise InputError(f"shapes: W_in {W_in.shape}, W_net {W_net.shape}, x0 {x0.shape} for D = {model.D}")
    _check_finite(W_in, W_net, x0)
    if not (np.isfinite(T) and T > 0):
        raise InputError(f"trial length T must be positive and finite, got {T!r}")
    B = batch or (x0.shape[0] if x0.ndim == 3 else np.atleast_2d(np.asarray(times)).shape[0])
    times, sources = _inputs(times, sources, B)
    if times.shape[0] != B or (sources.size and (sources.min() < 0 or sources.max() >= Nin)):
        raise InputError(f"inputs: {times.shape[0]} trials for batch {B}, sources must lie in [0, {Nin})")
    x0 = x0 if x0.shape == (B, model.D, N) else np.broadcast_to(x0, (B, model.D, N))
    return Setup(np.ascontiguousarray(W_in), np.ascontiguousarray(W_net), np.ascontiguousarray(x0),
                 np.ascontiguousarray(times), np.ascontiguousarray(sources), float(T),
                 _layout(N, Nin, times.shape[1], model.D))


def simulate(model, W_in, W_net, x0, times, sources, T: float, max_events: int = 100,
             gradients: bool = True, batch: int | None = None, backend: str | None = None) -> Trace:
    """Simulate B trials of a network of N ``model`` neurons.

    ``W_in`` (N, Nin) and ``W_net`` (N, N) with ``W[post, pre]``; ``x0`` (D, N) or (B, D, N);
    ``times`` and ``sources`` (B, S) or (S,): input spike times (+inf pads) and their source
    indices.  ``backend``: "numba" (compiled) or "numpy" (this module's specification); by
    default ``$KERNELALG_SPIKING_BACKEND``, else "numba".  Raises :class:`SimulationError`
    when ``max_events`` steps do not reach T.
    """
    return simulate_setup(model, setup(model, W_in, W_net, x0, times, sources, T, batch), max_events, gradients,
                          backend)


def simulate_setup(model, problem: Setup, max_events: int = 100, gradients: bool = True,
                   backend: str | None = None) -> Trace:
    """:func:`simulate` of a problem checked by :func:`setup` (or updated by :meth:`Setup.with_inputs`)."""
    if resolve(backend) == "numba":
        from kernelalg.spiking import compiled

        return compiled.simulate(model, problem, max_events, gradients)
    return simulate_numpy(model, problem, max_events, gradients)


def simulate_numpy(model, problem: Setup, K: int, gradients: bool) -> Trace:
    """The event loop over arrays of all trials (the specification of the compiled loop)."""
    W_in, W_net, layout, T = problem.W_in, problem.W_net, problem.layout, problem.T
    B, D, N = problem.x0.shape
    Nin = layout.Nin
    P = layout.P if gradients else 0
    rows = np.arange(B)
    t_in, src, order_pad = sorted_inputs(problem.times, problem.sources)
    tin_index = layout.offset("t_in") + order_pad

    x = problem.x0.copy()
    dx = np.zeros((B, D, N, P))
    if P:
        dx[:, :, :, layout.offset("x0"):] = np.eye(D * N).reshape(D, N, D * N)
    t, dt_now = np.zeros(B), np.zeros((B, P))
    tnext, dtnext = _next_spikes(model, x, dx, t, dt_now)
    count = np.zeros(B, int)
    done = np.zeros(B, bool)

    rec_t, rec_i = np.full((B, K), np.inf), np.full((B, K), -1)
    rec_in, rec_x = np.zeros((B, K), bool), np.zeros((B, K, D, N))
    rec_dt = np.zeros((B, K, P))
    rec_slot, rec_imm = np.full((B, K), -1), np.zeros((B, K, N), bool)
    x_end, dx_end = x.copy(), dx.copy()
    for k in range(K):
        if done.all():
            break
        j = np.argmin(tnext, axis=1)
        t_net, t_inp = tnext[rows, j], t_in[rows, count]
        is_input = t_inp < t_net
        t_ev = np.where(is_input, t_inp, t_net)
        in_trial = (t_ev < T) & ~done
        t_ev = np.where(in_trial, t_ev, np.where(done, t, T))
        d_ev = np.where(is_input[:, None], 0.0, dtnext[rows, j])
        if P:
            d_ev[rows[is_input], tin_index[rows, count][is_input]] = 1.0
        d_ev[~in_trial] = 0.0
        d_ev[done] = dt_now[done]
        delta, d_delta = t_ev - t, d_ev - dt_now

        imminent = (np.abs(tnext - t_ev[:, None]) < model.spike_tolerance) & ~done[:, None]
        xn, J, F_dt = flow_step(model, x, delta, imminent)
        dxn = _apply(J, dx) + F_dt[..., None] * d_delta[:, None, None, :]

        w = np.where(is_input[:, None], W_in[:, src[rows, count]].T, W_net[:, j].T) * in_trial[:, None]
        xn, R, R_w = model.receive(xn, w)
        dxn = _apply(R, dxn)
        if P:
            base = np.where(is_input, layout.offset("W_in") + src[rows, count],
                            layout.offset("W_net") + j)
            stride = np.where(is_input, Nin, N)
            cols = base[:, None] + stride[:, None] * np.arange(N)[None, :]  # W[post, pre] flattened
            for d in range(D):
                np.add.at(dxn[:, d], (rows[:, None], np.arange(N)[None, :], cols),
                          R_w[:, d, :] * in_trial[:, None])
        fired = in_trial & ~is_input
        if fired.any():
            reset, keep = model.reset(xn[fired, :, j[fired]][..., None])
            xn[fired, :, j[fired]] = reset[..., 0]
            dxn[fired, :, j[fired]] *= keep[:, None]

        tn, dtn = _next_spikes(model, xn, dxn, t_ev, d_ev)
        keep_next = imminent.copy()
        keep_next[rows[fired], j[fired]] = False
        tn, dtn = np.where(keep_next, tnext, tn), np.where(keep_next[..., None], dtnext, dtn)

        live = ~done
        x[live], dx[live], t[live], dt_now[live] = xn[live], dxn[live], t_ev[live], d_ev[live]
        tnext[live], dtnext[live] = tn[live], dtn[live]
        rec_t[live, k], rec_in[live, k], rec_x[live, k], rec_dt[live, k] = t_ev[live], is_input[live], xn[live], d_ev[live]
        rec_i[live, k] = np.where(in_trial, np.where(is_input, src[rows, count], j), -1)[live]
        rec_slot[live, k] = np.where(in_trial & is_input, order_pad[rows, count], -1)[live]
        rec_imm[live, k] = imminent[live]
        ending = live & ~in_trial
        x_end[ending], dx_end[ending] = xn[ending], dxn[ending]
        count += is_input & in_trial
        done |= ending
    if not done.all():
        raise exhausted(K, int((~done).sum()), B)
    used = int(np.isfinite(rec_t).sum(axis=1).max())  # records of the longest trial
    rec_t, rec_i, rec_in, rec_x, rec_dt, rec_slot, rec_imm = (
        a[:, :used].copy() for a in (rec_t, rec_i, rec_in, rec_x, rec_dt, rec_slot, rec_imm))
    return Trace(rec_t, rec_i, rec_in, rec_x, x_end, T, layout, rec_dt if gradients else None,
                 dx_end if gradients else None, problem.x0, rec_slot,
                 rec_imm if model.spike_tolerance > 0 else None, "numpy")


def exhausted(K: int, failed: int, B: int) -> SimulationError:
    return SimulationError(f"event budget max_events={K} exhausted before T in {failed} of {B} trials; "
                           "increase max_events")


def flow_step(model, x, delta, imminent):
    """The flow of every neuron by delta, onto its spike for the ``imminent`` ones."""
    flowed = model.flow(x, delta)
    if not imminent.any():
        return flowed
    onto = model.flow_onto_spike(x, delta)
    return tuple(np.where(imminent.reshape(imminent.shape[:1] + (1,) * (a.ndim - 2) + imminent.shape[1:]), b, a)
                 for a, b in zip(flowed, onto))


def _apply(J: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Tangent map dx'_(d) = sum_e J[d, e] dx_(e), per neuron; J (B, D, D, N), dx (B, D, N, P)."""
    D = J.shape[1]
    return np.stack([sum(J[:, d, e, :, None] * dx[:, e] for e in range(D)) for d in range(D)], axis=1)


def _next_spikes(model, x, dx, t, dt):
    """Absolute next spike times t + dt*(x) and their tangents."""
    ts, g = model.time_to_spike(x)
    dts = dt[:, None, :] + sum(g[:, d, :, None] * dx[:, d] for d in range(model.D))
    return t[:, None] + ts, np.where(np.isfinite(ts)[..., None], dts, 0.0)
