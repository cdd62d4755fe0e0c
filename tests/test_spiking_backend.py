"""kernelalg.spiking.backend: which implementation runs (argument, environment variable, default)."""

from __future__ import annotations

import pytest

from kernelalg.errors import InputError
from kernelalg.spiking.backend import ENVIRONMENT, resolve
from kernelalg.spiking.simulate import simulate
from tests.helpers import network


def test_backend_selection(monkeypatch):
    monkeypatch.delenv(ENVIRONMENT, raising=False)
    assert resolve() == "numba" and resolve("numpy") == "numpy"
    monkeypatch.setenv(ENVIRONMENT, "numpy")
    assert resolve() == "numpy" and resolve("numba") == "numba"
    model, *rest = network("theta", 0, True)
    assert simulate(model, *rest, gradients=False).backend == "numpy"
    monkeypatch.setenv(ENVIRONMENT, "fortran")
    with pytest.raises(InputError, match=ENVIRONMENT):
        resolve()
    with pytest.raises(InputError, match="backend"):
        simulate(model, *rest, backend="jax")
