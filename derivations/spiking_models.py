"""Derive the spiking neuron models and write their generated NumPy modules.

    python derivations/spiking_models.py [--check]

Writes kernelalg/spiking/generated/<model>.py for every model of
kernelalg.symbolic.neurons.MODELS; with --check, only verifies that the committed modules are
exactly what the derivation produces now (exit 1 otherwise).
"""

from __future__ import annotations

import sys
from pathlib import Path

from kernelalg.files import write_text
from kernelalg.codegen.neurons import module_source
from kernelalg.symbolic.neurons import MODELS

TARGET = Path(__file__).resolve().parent.parent / "kernelalg" / "spiking" / "generated"


def main(check: bool = False) -> int:
    stale = []
    for name, derive in MODELS.items():
        text = module_source(derive())
        path = TARGET / f"{name}.py"
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            write_text(path, text, overwrite=True)
            print(f"{name}: {len(derive().formulas)} formulas -> {path}")
    if stale:
        print("stale generated modules: " + ", ".join(stale))
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main("--check" in sys.argv[1:]))
