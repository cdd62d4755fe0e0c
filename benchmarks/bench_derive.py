"""Derivation benchmark: every catalog activation with every catalog surrogate, cold and cached.

Cold runs in an empty cache folder (every expectation derived from scratch, in the derivation
worker process), then the same again from the disk cache.  Prints seconds, how many of the maps
came out closed form, and which were cut short by the time limit on a SymPy integral (cached
like the others: their cached derivation takes no longer).

    python benchmarks/bench_derive.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter

from kernelalg.symbolic.catalog import ACTIVATION, SURROGATE, entries
from kernelalg.symbolic.derive import LIMIT_NOTE, derive
from kernelalg.symbolic.expectation.engine import INTEGRATE_SECONDS


def derive_all() -> tuple[float, Counter, int, list[str]]:
    statuses: Counter = Counter()
    pairs = 0
    limited = []
    start = time.perf_counter()
    for phi in entries(ACTIVATION):
        for psi in entries(SURROGATE):
            maps = derive(phi.name, psi.name)
            statuses.update(e.status for _, e in maps.items())
            limited += [f"{phi.name}/{psi.name}: {name}" for name, e in maps.items()
                        if any(step.startswith(LIMIT_NOTE) for step in e.route)]
            pairs += 1
    return time.perf_counter() - start, statuses, pairs, limited


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.environ["KERNELALG_CACHE"] = folder
        cold, statuses, pairs, limited = derive_all()
        cached, _, _, _ = derive_all()
    maps = sum(statuses.values())
    closed = statuses["closed form"] + statuses["closed form (Owen's T)"]
    report = {"pairs": pairs, "maps": maps, "closed_form": closed, "statuses": dict(statuses), "time_limited": limited,
              "cold_seconds": cold, "cached_seconds": cached, "cached_ms_per_pair": 1000 * cached / pairs}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{pairs} pairs ({len(entries(ACTIVATION))} activations x {len(entries(SURROGATE))} surrogates), {maps} maps")
    print(f"cold   {cold:8.1f} s")
    print(f"cached {cached:8.3f} s   ({report['cached_ms_per_pair']:.1f} ms per pair)")
    print(f"closed form: {closed}/{maps}  " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    print(f"cut short by the {INTEGRATE_SECONDS} s limit on one SymPy integral: "
          + (", ".join(limited) or "none"))


if __name__ == "__main__":
    main()
