"""Regenerate tests/data/deep_witness.json: sampled entries of the depth-2 and depth-3 NNGP and
SG-NTK of smooth activations with a kinked surrogate, by the layer-by-layer mpmath recursion.

    python -m tests.witness.make_deep

Every layer map is a value of the conditioning witness (tests/witness/gaussian.py): a 2-D
Gauss-Hermite rule does not reach 1e-10 for tanh at variances of a few units, nor at all for
fast_sigmoid's kink.  Each off-diagonal map takes about a minute, so the values are stored and
``tests/test_deep_witness.py`` compares the engine with them (recomputed with ``--runslow``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from kernelalg.files import write_text
from tests.witness import functions as F
from tests.witness.deep import deep_kernels, witness_maps

TABLE = Path(__file__).resolve().parent.parent / "data" / "deep_witness.json"

#: name -> (phi spec, psi spec, witness refs of phi, witness ref of psi)
PAIRS = {
    "tanh / fast_sigmoid": ("tanh", "snntorch.fast_sigmoid", F.tanh(1.0), F.superspike(25.0)),
    "softplus / fast_sigmoid": ("log(1 + exp(x))", "snntorch.fast_sigmoid", F.softplus(), F.superspike(25.0)),
}
#: pairs of inputs in R^3 of unequal norms (I(x, y) != I(y, x)), at moderate and large angles
X = ((1.0, 0.0, 0.5), (0.3, -2.0, 0.1), (-0.5, 0.4, 1.5))
Y = ((0.8, 0.6, -0.3), (2.0, 1.0, 0.2), (0.1, -0.4, -0.9))
SW, SB = 1.3, 0.2
DEPTHS = (2, 3)


def reference(name: str, verbose: bool = False) -> list[dict]:
    """Rows {x, y, depth, nngp, sgntk} for the pairs (X[k], Y[k]); the maps are memoised across
    pairs and depths (the depth-2 chain is the start of the depth-3 one)."""
    _, _, phi_refs, psi_ref = PAIRS[name]
    maps, memo = witness_maps(phi_refs, psi_ref), {}

    def cached(*key):
        if key not in memo:
            memo[key] = maps(*key)
            if verbose:
                print(name, len(memo), key, file=sys.stderr, flush=True)
        return memo[key]

    rows = []
    for x, y in zip(X, Y):
        for depth in DEPTHS[::-1]:
            S, I = deep_kernels(cached, np.array([x]), np.array([y]), depth, SW, SB)
            rows.append({"x": list(x), "y": list(y), "depth": depth, "nngp": repr(float(S[0, 0])),
                         "sgntk": repr(float(I[0, 0]))})
    return sorted(rows, key=lambda r: r["depth"])


def main() -> None:
    """Computes the pairs missing from the stored table (delete it to recompute everything)."""
    old = json.loads(TABLE.read_text())["pairs"] if TABLE.exists() else {}
    pairs = {}
    for name, (phi, psi, _, _) in PAIRS.items():
        pairs[name] = old.get(name) or {"phi": phi, "psi": psi, "rows": reference(name, verbose=True)}
        table = {"sigma_w": SW, "sigma_b": SB, "pairs": pairs}
        write_text(TABLE, json.dumps(table, indent=1) + "\n", overwrite=True)  # atomic, after each pair: resumable
    print(f"-> {TABLE}")


if __name__ == "__main__":
    main()
