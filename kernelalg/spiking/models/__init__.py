"""Neuron models of the event-based simulator: the interface (:class:`Neuron`) and QIF,
theta and LIF.  Adding a model: derive its closed forms in :mod:`kernelalg.symbolic.neurons`,
generate them (``python derivations/spiking_models.py``) and write one :class:`Neuron`
subclass that combines them (vectorised methods and per-neuron kernels)."""

from kernelalg.spiking.models.base import Neuron
from kernelalg.spiking.models.lif import LIF
from kernelalg.spiking.models.qif import QIF
from kernelalg.spiking.models.theta import Theta

MODELS = {"qif": QIF, "theta": Theta, "lif": LIF}

__all__ = ["LIF", "MODELS", "QIF", "Neuron", "Theta"]
