"""Event-based simulation of QIF, theta and LIF networks with exact gradients.

Public entry points::

    simulate(model, W_in, W_net, x0, times, sources, T)   # events, spikes and forward tangents
    output_times(model, trace, neuron, n)                  # first n spikes or pseudospikes
    backward(model, trace, W_in, W_net, dL_dt)             # reverse-mode gradients
    QIF(), Theta(), LIF(); Neuron (the model interface)
"""

from kernelalg.spiking.backward import Gradients, backward
from kernelalg.spiking.models import LIF, MODELS, QIF, Neuron, Theta
from kernelalg.spiking.outputs import output_times, pseudospikes
from kernelalg.spiking.simulate import Trace, simulate

__all__ = ["LIF", "MODELS", "QIF", "Gradients", "Neuron", "Theta", "Trace", "backward", "output_times",
           "pseudospikes", "simulate"]
