"""Empirical SG-NTK of finite convolutional networks (channels 64..4096) against the analytic conv
SG-NTK: figure and metrics in derivations/figures/conv-empirical.{png,json}.  Run from the
repository root:

    python derivations/conv_sgntk.py [--quick]

About 15 minutes on 2 shared cores (the 4096-channel 3x3 convolution holds 151M weights, 1.2 GB);
``--quick`` (the CI version, seconds) uses 16..256 channels on 6x6 crops.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from kernelalg.experiments import conv_empirical
from kernelalg.files import write_text

FIGURES = Path(__file__).resolve().parent / "figures"
QUICK = {"widths": (16, 64, 256), "ms": (3,), "count": 3, "size": 6, "seeds": 4, "distance_ms": (1, 10, 100)}
FULL = {"widths": (64, 128, 256, 512, 1024, 2048, 4096), "ms": (1, 3), "count": 6, "size": 8, "seeds": 8}


def main(quick: bool, out_dir: Path = FIGURES) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = conv_empirical.run(**(QUICK if quick else FULL))
    seconds = time.perf_counter() - start
    name = "conv-empirical-quick" if quick else "conv-empirical"
    conv_empirical.figure(result, out_dir / f"{name}.png")
    metrics = {**result.as_dict(), "seconds": seconds}
    write_text(out_dir / f"{name}.json", json.dumps(metrics, indent=1) + "\n", overwrite=True)
    print(f"{name}: slope {result.empirical_slope:.2f} ({seconds:.0f} s) -> {out_dir / name}.png/.json")
    return metrics


if __name__ == "__main__":
    main("--quick" in sys.argv[1:])
