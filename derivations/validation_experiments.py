"""Full validation experiments of the SG-NTK (docs/maths.md section 7): figures and metrics JSON in
derivations/figures/.  Run from the repository root:

    python derivations/validation_experiments.py [divergence|empirical|sgl ...]

Timings on a 2-core machine: divergence ~10 s, empirical ~3 min, sgl ~15 min.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from kernelalg.experiments import divergence, empirical, sgl
from kernelalg.files import write_text

FIGURES = Path(__file__).resolve().parent / "figures"
EXPERIMENTS = {"divergence": divergence, "empirical": empirical, "sgl": sgl}


def main(names: list[str]) -> None:
    FIGURES.mkdir(exist_ok=True)
    for name in names or list(EXPERIMENTS):
        module = EXPERIMENTS[name]
        start = time.perf_counter()
        result = module.run()
        seconds = time.perf_counter() - start
        module.figure(result, FIGURES / f"{name}.png", overwrite=True)
        write_text(FIGURES / f"{name}.json", json.dumps({**result.as_dict(), "seconds": seconds}, indent=1) + "\n",
                   overwrite=True)
        print(f"{name}: {seconds:.1f} s -> {FIGURES / name}.png/.json")


if __name__ == "__main__":
    main(sys.argv[1:])
