"""The neuron-model interface: everything the event-based simulator asks of a model.

A model acts on states ``x`` of shape (..., D, N) (D state components of N neurons) and
provides every event map twice, from the same generated closed forms:

* **vectorised methods** over all neurons at once (NumPy; the readable specification and the
  NumPy backend), returning values with their partial derivatives;
* **kernels** ``k_*``: static methods for one neuron ``n`` of the same arrays, written in the
  subset of Python that Numba compiles (scalars, loops, writes into preallocated arrays); the
  compiled backend builds its event loop from them.  ``p`` is the model's :attr:`~Neuron.params`.

* time to the own spike: ``time_to_spike(x) -> (dt*, d dt*/dx)``;
  ``k_time_to_spike(p, x, n, g) -> dt*``;
* free flow by dt: ``flow(x, dt) -> (x', dx'/dx, dx'/ddt)``; ``k_flow(p, x, n, dt, y, J, F)``;
* flow onto the own spike: ``flow_onto_spike`` and ``k_flow_onto_spike``, the same outputs;
* an input of weight w: ``receive(x, w) -> (x', dx'/dx, dx'/dw)``;
  ``k_receive(p, y, n, w, partials, z, R, Rw)``;
* reset after the own spike: ``reset(x) -> (x', keep)``; ``k_reset(p, x, n, keep)``;
* pseudospike number k: ``pseudospike(x, k, inputs, T) -> (t, dt/dx, dt/dinputs)``;
  ``k_pseudospike(p, x, n, k, inputs, T, g) -> (t, dt/dinputs)``;
* pseudo rate: ``pseudo_rate(x, inputs) -> (r, dr/dx, dr/dinputs)``;
  ``k_rate(p, x, n, inputs, g) -> (r, dr/dinputs)``.

Shapes: ``dt*`` (..., N), Jacobians dx'/dx (..., D, D, N), derivative vectors (..., D, N);
kernels write column n of g (D, N), y and z (D, N), J and R (D, D, N), F and Rw (D, N).
``keep`` (D,) is the derivative of the reset state with respect to the old one (0: the
component is set, 1: kept).  A spike time is +inf (zero derivative) when the neuron never
fires from x.  ``flow_onto_spike`` is the flow of a neuron whose own spike is due within
:attr:`~Neuron.spike_tolerance` of the event (0: no such treatment); it must not evaluate the
closed form at its pole.  After the trial end T each neuron follows a pseudodynamics whose
k-th spike (k >= 1) is the pseudospike, driven by ``inputs`` (the rate network's input); a
model without pseudodynamics returns +inf and zero derivatives.  ``k_receive`` with
``partials=False`` may leave dx'/dw at 0 (the caller does not need it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from kernelalg.errors import InputError

KERNELS = ("k_time_to_spike", "k_flow", "k_flow_onto_spike", "k_receive", "k_reset", "k_pseudospike", "k_rate")


def check_positive(**values: float) -> None:
    for name, value in values.items():
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"{name} must be a positive finite number, got {value!r}")


class Neuron(ABC):
    """A neuron model for the event-based simulator (see the module docstring)."""

    D: ClassVar[int]

    @property
    @abstractmethod
    def params(self) -> tuple[float, ...]:
        """The parameters passed to the kernels as ``p``."""

    @property
    def spike_tolerance(self) -> float:
        """Neurons whose own spike is due within this time of an event are flowed onto it."""
        return 0.0

    @abstractmethod
    def initial(self, V) -> np.ndarray:
        """A state (D, N) at the voltages ``V`` (N,) at rest otherwise."""

    def voltage(self, x) -> np.ndarray:
        """The membrane potential V (..., N) of states x (..., D, N) (for figures)."""
        return x[..., 0, :]

    @abstractmethod
    def time_to_spike(self, x): ...

    @abstractmethod
    def flow(self, x, dt): ...

    def flow_onto_spike(self, x, dt):
        return self.flow(x, dt)

    @abstractmethod
    def receive(self, x, w): ...

    @abstractmethod
    def reset(self, x): ...

    @abstractmethod
    def pseudospike(self, x, k, inputs, T: float): ...

    @abstractmethod
    def pseudo_rate(self, x, inputs): ...

    # kernels (one neuron; compiled by Numba)

    @staticmethod
    @abstractmethod
    def k_time_to_spike(p, x, n, g): ...

    @staticmethod
    @abstractmethod
    def k_flow(p, x, n, dt, y, J, F): ...

    @staticmethod
    @abstractmethod
    def k_flow_onto_spike(p, x, n, dt, y, J, F): ...

    @staticmethod
    @abstractmethod
    def k_receive(p, y, n, w, partials, z, R, Rw): ...

    @staticmethod
    @abstractmethod
    def k_reset(p, x, n, keep): ...

    @staticmethod
    @abstractmethod
    def k_pseudospike(p, x, n, k, inputs, T, g): ...

    @staticmethod
    @abstractmethod
    def k_rate(p, x, n, inputs, g): ...
