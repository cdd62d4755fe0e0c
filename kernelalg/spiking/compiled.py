"""The compiled backend: :mod:`kernelalg.spiking.loops` specialised to a neuron model by Numba.

For a model class, every function of the loops module is re-created with the model's
kernels (``k_*``) bound to the kernel names and compiled with ``numba.njit`` (cached on
disk).  The kernels, and the generated closed forms they call, are registered as functions
Numba compiles inline, so the closed forms stay the generated ones.  The compiled functions
are named after the model and a fingerprint of every source file involved, so that an edited
model or regenerated formula never meets a stale cache entry.  The wrappers below allocate the
outputs and return the same objects as the NumPy specification.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import math
import sys
import threading
import types
from pathlib import Path

import numpy as np

from kernelalg.spiking import loops
from kernelalg.spiking.models.base import KERNELS
from kernelalg.spiking.simulate import Setup, Trace, exhausted

FUNCTIONS = ("simulate_batch", "_next_spike", "backward_batch", "outputs_batch", "_ordinary_spikes",
             "outputs_vjp_batch", "rates_batch", "rate_inputs_batch", "_rate_pass", "rate_inputs_vjp_batch")
_registered: set[int] = set()


def _register(fn, files: set[str]) -> None:
    """Make ``fn`` callable from compiled code, with every kernelalg function and generated
    module it refers to; collect their source files."""
    from numba.extending import register_jitable

    if id(fn) in _registered:
        files.add(inspect.getfile(fn))
        return
    register_jitable(error_model="numpy")(fn)
    _registered.add(id(fn))
    files.add(inspect.getfile(fn))
    for name in fn.__code__.co_names:
        value = fn.__globals__.get(name)
        if isinstance(value, types.FunctionType) and value.__module__.startswith("kernelalg."):
            _register(value, files)
        elif isinstance(value, types.ModuleType) and value.__name__.startswith("kernelalg.spiking.generated."):
            for member in vars(value).values():
                if isinstance(member, types.FunctionType) and member.__module__ == value.__name__:
                    _register(member, files)


@functools.cache
def specialise(cls) -> types.SimpleNamespace:
    """The compiled loop functions for the model class ``cls``."""
    import numba

    kernels = {name: getattr(cls, name) for name in KERNELS}
    files = {inspect.getfile(loops), inspect.getfile(sys.modules[cls.__module__])}
    for fn in kernels.values():
        _register(fn, files)
    digest = hashlib.sha256(b"".join(Path(f).read_bytes() for f in sorted(files))).hexdigest()[:12]
    namespace = {**vars(loops), **kernels, "D": cls.D}
    compiled = {}
    for name in FUNCTIONS:
        fn = getattr(loops, name)
        clone = types.FunctionType(fn.__code__, namespace, name, fn.__defaults__)
        clone.__qualname__ = f"{name}_{cls.__name__}_{digest}"
        clone.__module__ = loops.__name__
        namespace[name] = compiled[name] = numba.njit(cache=True, error_model="numpy")(clone)
    return types.SimpleNamespace(**compiled)


def simulate(model, problem: Setup, K: int, gradients: bool) -> Trace:
    """Compiled counterpart of :func:`kernelalg.spiking.simulate.simulate_numpy`."""
    layout = problem.layout
    B, D, N = problem.x0.shape
    P = layout.P if gradients else 0
    x_end, dx_end, counts = problem.x0.copy(), np.zeros((B, D, N, P)), np.zeros(B, np.int64)
    offsets = tuple(layout.offsets.values())  # W_in, W_net, t_in, x0
    imminent = model.spike_tolerance > 0
    shapes = ((), (), (), (), (D, N), (P,), (N,) if imminent else (0,))
    events = _records(K * B, shapes, reuse=B > 1)
    failed = specialise(type(model)).simulate_batch(
        model.params, float(model.spike_tolerance), problem.W_in, problem.W_net, problem.x0, problem.times,
        problem.sources, problem.T, K, P, offsets, x_end, dx_end, counts, *events)
    if failed:
        raise exhausted(K, failed, B)
    t, index, is_input, slot, x, dt, *imm = _by_trial(
        counts, events[:7 if imminent else 6], (np.inf, -1, False, -1, 0.0, 0.0, False), shapes)
    return Trace(t, index, is_input, x, x_end, problem.T, layout, dt if gradients else None,
                 dx_end if gradients else None, problem.x0, slot, imm[0] if imminent else None, "numba")


_local = threading.local()
_RECORD_TYPES = (float, np.int64, bool, np.int64, float, float, bool)


def _records(events: int, shapes, reuse: bool) -> list[np.ndarray]:
    """Arrays for the records of ``events`` events (times, indices, input flags, input slots,
    states, tangents, imminent flags; per event of the given shapes): new ones, or with
    ``reuse`` this thread's work arrays, where memory that is already mapped costs no page
    faults (for batches, whose records are then copied trial by trial)."""
    sizes = [events * math.prod(shape) for shape in shapes]
    if not reuse:
        return [np.empty(size, dtype) for size, dtype in zip(sizes, _RECORD_TYPES)]
    buffers = getattr(_local, "buffers", None)
    if buffers is None:
        buffers = _local.buffers = [np.empty(0, dtype) for dtype in _RECORD_TYPES]
    for i, size in enumerate(sizes):
        if buffers[i].size < size:
            buffers[i] = np.empty(size, _RECORD_TYPES[i])
    return [buffer[:size] for buffer, size in zip(buffers, sizes)]


def _by_trial(counts, events, fills, shapes):
    """Event records listed trial after trial as arrays (B, K, ...) with K the most events of a
    trial, padded with ``fills``; for one trial, views of its (new) records."""
    if len(counts) == 1:
        K = int(counts[0])
        return [values[:K * math.prod(shape)].reshape(1, K, *shape) for values, shape in zip(events, shapes)]
    B, K = len(counts), int(counts.max())
    ends = np.cumsum(counts).tolist()
    starts = [0, *ends[:-1]]
    out = []
    for values, fill, shape in zip(events, fills, shapes):
        values = values[:ends[-1] * math.prod(shape)].reshape(ends[-1], *shape)
        array = np.empty((B, K, *shape), dtype=values.dtype)
        for b, (start, end) in enumerate(zip(starts, ends)):
            array[b, :end - start] = values[start:end]
            array[b, end - start:] = fill
        out.append(array)
    return out


def backward(model, trace: Trace, W_in, W_net, dL_dt, seed_end, trainable):
    """Compiled reverse sweep: (dL/dW_in, dL/dW_net, dL/dt_in, dL/dx0)."""
    B = trace.t.shape[0]
    gW_in, gW_net = np.zeros(W_in.shape), np.zeros(W_net.shape)
    g_tin, lam_x0 = np.zeros((B, trace.layout.S)), np.zeros(trace.x0.shape)
    specialise(type(model)).backward_batch(
        model.params, np.ascontiguousarray(W_in), np.ascontiguousarray(W_net), *trainable, trace.t, trace.index,
        trace.is_input, trace.x, trace.x0, trace.input_slot, _imminent(trace), np.ascontiguousarray(dL_dt, dtype=float),
        np.ascontiguousarray(seed_end, dtype=float), gW_in, gW_net, g_tin, lam_x0)
    return gW_in, gW_net, g_tin, lam_x0


def output_times(model, trace: Trace, neuron: int, n: int, inputs, d_inputs):
    """Compiled counterpart of :func:`kernelalg.spiking.outputs.output_times`."""
    B, N = trace.x_end.shape[0], trace.x_end.shape[-1]
    P = 0 if trace.dt is None else trace.dt.shape[-1]
    times, grads, pseudo = np.empty((B, n)), np.empty((B, n, P)), np.empty((B, n), bool)
    d_inputs = np.zeros((B, N, P)) if d_inputs is None or not P else np.ascontiguousarray(d_inputs, dtype=float)
    specialise(type(model)).outputs_batch(
        model.params, trace.t, trace.index, trace.is_input, trace.dt if P else np.zeros((B, 0, 0)), trace.x_end,
        trace.dx_end if P else np.zeros((B, 0, 0, 0)), trace.T, neuron, _per_neuron(inputs, B, N), d_inputs,
        times, grads, pseudo)
    return times, (grads if P else None), pseudo


def output_vjp(model, trace: Trace, neuron: int, lam, inputs):
    """Compiled counterpart of :func:`kernelalg.spiking.outputs.output_vjp`."""
    B, K = trace.t.shape
    dL_dt, dL_dx, dL_din = np.zeros((B, K)), np.zeros(trace.x_end.shape), np.zeros(trace.x_end[:, 0].shape)
    specialise(type(model)).outputs_vjp_batch(
        model.params, trace.t, trace.index, trace.is_input, trace.x_end, trace.T, neuron,
        _per_neuron(inputs, B, dL_din.shape[1]), np.ascontiguousarray(lam, dtype=float), dL_dt, dL_dx, dL_din)
    return dL_dt, dL_dx, dL_din


def rates(model, x_end, inputs):
    """Compiled counterpart of ``model.pseudo_rate`` over (B, D, N) states."""
    B, N = x_end.shape[0], x_end.shape[-1]
    r, r_x, r_in = np.empty((B, N)), np.empty(x_end.shape), np.empty((B, N))
    specialise(type(model)).rates_batch(model.params, np.ascontiguousarray(x_end), _per_neuron(inputs, B, N),
                                        r, r_x, r_in)
    return r, r_x, r_in


def rate_inputs(model, trace: Trace, W_net, passes: int) -> np.ndarray:
    """Compiled rate-network input (values only) of :func:`kernelalg.spiking.outputs.rate_inputs`."""
    inputs = np.empty(trace.x_end[:, 0].shape)
    specialise(type(model)).rate_inputs_batch(model.params, trace.x_end, np.ascontiguousarray(W_net, dtype=float),
                                              passes, inputs)
    return inputs


def rate_inputs_vjp(model, trace: Trace, W_net, dL_dinputs, passes: int):
    """Compiled counterpart of :func:`kernelalg.spiking.outputs.rate_inputs_vjp`."""
    W = np.ascontiguousarray(W_net, dtype=float)
    dW, dx = np.zeros(W.shape), np.empty(trace.x_end.shape)
    specialise(type(model)).rate_inputs_vjp_batch(model.params, trace.x_end, W, passes,
                                                  np.ascontiguousarray(dL_dinputs, dtype=float), dW, dx)
    return dW, dx


def _imminent(trace: Trace) -> np.ndarray:
    return np.zeros((0, 0, 0), bool) if trace.imminent is None else trace.imminent


def _per_neuron(values, B: int, N: int) -> np.ndarray:
    array = np.empty((B, N))
    array[...] = values
    return array
