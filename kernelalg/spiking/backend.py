"""Which implementation runs the spiking simulations: compiled (Numba, the default) or NumPy.

``backend`` arguments take "numba" or "numpy"; without one, the environment variable
``KERNELALG_SPIKING_BACKEND`` decides, else "numba".  The NumPy implementation is the readable
specification; the compiled one runs the same steps per trial (:mod:`kernelalg.spiking.loops`)
and agrees with it to rounding.
"""

from __future__ import annotations

import functools
import importlib.util
import os

from kernelalg.errors import InputError

BACKENDS = ("numba", "numpy")
ENVIRONMENT = "KERNELALG_SPIKING_BACKEND"


def resolve(backend: str | None = None) -> str:
    """The backend to use: ``backend``, else ``$KERNELALG_SPIKING_BACKEND``, else "numba"."""
    name = backend or os.environ.get(ENVIRONMENT) or "numba"
    if name not in BACKENDS:
        source = "backend" if backend else ENVIRONMENT
        raise InputError(f"{source} must be one of {', '.join(BACKENDS)}, got {name!r}")
    if name == "numba" and not _numba_installed():
        raise InputError(f"the compiled spiking backend needs numba (pip install numba); "
                         f"or select the NumPy one: {ENVIRONMENT}=numpy")
    return name


@functools.cache
def _numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None
