"""Helpers shared by several test files: IDX files for the MNIST readers, and for the spiking tests
a relative comparison, random networks of every neuron model, and one run of a network on a
backend (simulation, outputs with tangents, reverse pass) with an element-wise agreement check."""

from __future__ import annotations

import struct

import numpy as np

from kernelalg.spiking.backward import backward
from kernelalg.spiking.models import LIF, QIF, Theta
from kernelalg.spiking.outputs import output_times, output_vjp, rate_inputs, rate_inputs_vjp
from kernelalg.spiking.simulate import Layout, simulate


def idx_bytes(shape, data: bytes, code=0x08) -> bytes:
    return bytes([0, 0, code, len(shape)]) + b"".join(struct.pack(">I", s) for s in shape) + data


REL = 1e-10


def close(got, want, rel=REL):
    want = float(want)
    return abs(got - want) <= rel * abs(want) + 1e-300


def random_network(model, seed, N=4, Nin=3, S=6, T=4.0):
    rng = np.random.default_rng(seed)
    scale = 4.0 if model.D == 2 else 1.0
    W_in = rng.uniform(0.3, 1.2, (N, Nin)) * scale * rng.choice([1, 1, -0.5], (N, Nin))
    W_net = rng.normal(0, 0.5 * scale, (N, N))
    np.fill_diagonal(W_net, 0)
    t_in = np.sort(rng.uniform(0, 0.8 * T, S))
    sources = rng.integers(0, Nin, S)
    if model.D == 2:
        x0 = np.stack([rng.uniform(-0.5, 0.5, N), np.where(rng.random(N) < 0.5, 0.0, rng.normal(0, 1, N))])
    else:
        x0 = rng.uniform(0.2, 0.8, (1, N)) * model.period
    layout = Layout(N, Nin, S, model.D)
    p = np.concatenate([W_in.ravel(), W_net.ravel(), t_in, x0.ravel()])
    return p, layout, {"sources": sources}, T


MODELS = {"qif": QIF(), "theta": Theta(tau=6 / np.pi), "lif": LIF()}


TOL = 1e-13


def agree(a, b, what: str) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, what
    if a.dtype.kind in "bi":
        np.testing.assert_array_equal(a, b, err_msg=what)
        return
    np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b), err_msg=what)
    np.testing.assert_array_equal(a[~np.isfinite(a)], b[~np.isfinite(b)], err_msg=what)
    finite = np.isfinite(a)
    err = np.abs(a[finite] - b[finite]) / np.maximum(1.0, np.abs(a[finite]))
    assert err.max(initial=0.0) <= TOL, f"{what}: {err.max()}"


def network(name: str, seed: int, layered: bool, B: int = 3):
    """A random network of 5 neurons (3 inputs, 7 input spikes per trial, B trials): recurrent,
    or layered 2-2-1 (inputs feed the first layer only).  IF models start with zero current in
    about half of the neurons; QIF neuron 0 receives nothing and starts above the separatrix,
    so it fires from exactly I = 0 (the limits dflow/dI and dt*/dI at I = 0)."""
    model = MODELS[name]
    rng = np.random.default_rng(seed)
    N, Nin, S, T = 5, 3, 7, 4.0
    scale = 1.0 if name == "theta" else 4.0
    W_in = rng.uniform(0.3, 1.2, (N, Nin)) * scale * rng.choice([1, 1, -0.5], (N, Nin))
    W_net = rng.normal(0, 0.5 * scale, (N, N))
    np.fill_diagonal(W_net, 0)
    if layered:
        W_in[2:] = 0.0
        mask = np.zeros((N, N), bool)
        mask[2:4, :2] = mask[4, 2:4] = True
        W_net = np.where(mask, np.abs(W_net) + 0.5 * scale, 0.0)
    if name == "theta":
        x0 = rng.uniform(0.2, 0.8, (1, N)) * model.period
    else:
        x0 = np.stack([rng.uniform(-0.5, 1.5, N), np.where(rng.random(N) < 0.5, 0.0, rng.normal(0, 1, N))])
    if name == "qif":
        x0[:, 0], W_in[0], W_net[0] = (1.3, 0.0), 0.0, 0.0
    times = rng.uniform(0, 0.8 * T, (B, S))
    times[:, -1] = np.inf  # a padded slot
    return model, W_in, W_net, x0, times, rng.integers(0, Nin, (B, S)), T


def run(backend: str, model, W_in, W_net, x0, times, sources, T, gradients: bool, passes: int = 3):
    trace = simulate(model, W_in, W_net, x0, times, sources, T, max_events=200, gradients=gradients,
                     backend=backend)
    inputs, d_inputs = rate_inputs(model, trace, W_net, passes=passes)
    outs = [output_times(model, trace, i, 3, inputs, d_inputs if gradients else None) for i in range(W_net.shape[0])]
    rng = np.random.default_rng(0)
    lam = [np.where(np.isfinite(o[0]), rng.normal(size=o[0].shape), 0.0) for o in outs]
    dL_dt, dL_dx, dL_din = 0.0, 0.0, 0.0
    for i, l in enumerate(lam):
        a, b, c = output_vjp(model, trace, i, 3, l, inputs)
        dL_dt, dL_dx, dL_din = dL_dt + a, dL_dx + b, dL_din + c
    dW, dx = rate_inputs_vjp(model, trace, W_net, dL_din, passes=passes)
    grads = backward(model, trace, W_in, W_net, dL_dt, dL_dx + dx)
    return trace, inputs, d_inputs, outs, (dL_dt, dL_dx, dL_din, dW, dx), grads
