"""kernelalg: derive, generate and validate the kernels of binary and spiking networks.

Main entry points::

    kernelalg.derive(phi, psi)        # symbolic layer maps (SymPy expressions, routes, status)
    kernelalg.layer_maps(phi, psi)    # the same as validated vectorised NumPy functions
    kernelalg.expectation(f, g)       # E[f(u) g(v)] for any pair of functions
    kernelalg.tune_allocator()        # opt-in: faster kernels, changes malloc settings of the process
"""

__version__ = "0.1.0"

from kernelalg.numeric.allocator import tune_allocator  # noqa: E402
from kernelalg.numeric.layermaps import expectation, layer_maps  # noqa: E402
from kernelalg.symbolic.derive import derive  # noqa: E402

__all__ = ["derive", "expectation", "layer_maps", "tune_allocator", "__version__"]
