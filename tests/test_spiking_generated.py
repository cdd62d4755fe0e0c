"""kernelalg.spiking.generated: the committed neuron modules are exactly the derivation's output,
and valid Numba code with the values of their NumPy evaluation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def test_generated_modules_are_the_derivation_output():
    """The committed NumPy modules are exactly what the derivation script writes now."""
    run = subprocess.run([sys.executable, str(ROOT / "derivations" / "spiking_models.py"), "--check"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_generated_formula_compiles_in_numba_unchanged():
    """The generated neuron modules are valid Numba code as they are (scalars), with the values
    of their NumPy evaluation."""
    import inspect

    from numba import njit

    from kernelalg.spiking import generated
    from kernelalg.symbolic.neurons import MODELS as DERIVED

    rng = np.random.default_rng(0)
    checked = 0
    for name in DERIVED:
        module = __import__(f"{generated.__name__}.{name}", fromlist=["_"])
        for fname, fn in inspect.getmembers(module, inspect.isfunction):
            args = rng.uniform(0.3, 2.0, len(inspect.signature(fn).parameters))
            with np.errstate(all="ignore"):  # the I < 0 branches at I > 0: nan in both
                want = np.atleast_1d(np.array(fn(*args), float))
            got = np.atleast_1d(np.array(njit(error_model="numpy")(fn)(*args), float))
            np.testing.assert_allclose(got, want, rtol=1e-13, err_msg=f"{name}.{fname}")
            checked += 1
    assert checked >= 30
