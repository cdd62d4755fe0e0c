"""Regenerate tests/data/witness.json: the witness value of every case on its grid.

    python -m tests.witness.make_table [processes]

Runs for several minutes (the 2-D quadratures); the table is committed so that CI compares
the engine with it, and ``tests/test_closed_forms.py`` recomputes a sample live.
"""

from __future__ import annotations

import json
import sys
from multiprocessing import Pool
from pathlib import Path

import mpmath as mp

from tests.witness.cases import CASES, grid
from tests.witness.gaussian import DPS, expectation

TABLE = Path(__file__).resolve().parent.parent / "data" / "witness.json"


def value(job):
    index, (a, b, c) = job
    f, g = CASES[index].refs
    with mp.workdps(DPS):
        return mp.nstr(expectation(f, g, a, b, c), 17)


def main(processes: int = 2) -> None:
    jobs = [(i, abc) for i, case in enumerate(CASES) for abc in grid(case.smooth)]
    with Pool(processes) as pool:
        values = pool.map(value, jobs, chunksize=1)
    rows = [{"case": CASES[i].name, "a": a, "b": b, "c": c, "value": v} for (i, (a, b, c)), v in zip(jobs, values)]
    TABLE.parent.mkdir(exist_ok=True)
    TABLE.write_text(json.dumps(rows, indent=0) + "\n")
    print(f"{len(rows)} witness values -> {TABLE}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
