"""kernelalg: derive, generate and validate the kernels of binary and spiking networks."""

__version__ = "0.1.0"
