"""Regenerate tests/data/witness.json: the witness value of every case on its grid.

    python -m tests.witness.make_table [processes]

The 2-D quadratures (smooth cases) take most of the time, so cheap cases run first and every
value is appended to ``witness.partial.jsonl`` as it arrives; an interrupted run resumes from
there.  Values already in the table are kept: adding a case computes only its rows.  The table
is committed so that CI compares the engine with it, and ``tests/test_closed_forms.py``
recomputes a sample live.
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
PARTIAL = TABLE.with_name("witness.partial.jsonl")


def value(job):
    index, (a, b, c) = job
    f, g = CASES[index].refs
    with mp.workdps(DPS):
        return job, mp.nstr(expectation(f, g, a, b, c), 17)


def _done() -> dict:
    """Values already computed: the committed table's (a new case adds only its own rows; delete
    the table to recompute everything) and those of an interrupted run."""
    rows = json.loads(TABLE.read_text()) if TABLE.exists() else []
    if PARTIAL.exists():
        rows += [json.loads(line) for line in PARTIAL.read_text().splitlines() if line.strip()]
    return {(r["case"], r["a"], r["b"], r["c"]): r["value"] for r in rows}


def main(processes: int = 2) -> None:
    jobs = [(i, abc) for i, case in enumerate(CASES) for abc in grid(case)]
    done = _done()
    todo = sorted((j for j in jobs if (CASES[j[0]].name, *j[1]) not in done), key=lambda j: CASES[j[0]].smooth)
    TABLE.parent.mkdir(exist_ok=True)
    with Pool(processes) as pool, PARTIAL.open("a") as log:
        for k, ((i, (a, b, c)), v) in enumerate(pool.imap_unordered(value, todo, chunksize=1), 1):
            done[(CASES[i].name, a, b, c)] = v
            log.write(json.dumps({"case": CASES[i].name, "a": a, "b": b, "c": c, "value": v}) + "\n")
            log.flush()
            print(f"\r{k}/{len(todo)}", end="", file=sys.stderr, flush=True)
    rows = [{"case": CASES[i].name, "a": a, "b": b, "c": c, "value": done[(CASES[i].name, a, b, c)]}
            for i, (a, b, c) in jobs]
    tmp = TABLE.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows, indent=0) + "\n")
    tmp.replace(TABLE)  # atomic: an interrupted run leaves the old table and the partial log
    PARTIAL.unlink()
    print(f"\n{len(rows)} witness values -> {TABLE}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
