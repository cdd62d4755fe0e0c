"""Experiment 1: the naive NTK of erf_m diverges, the SG-NTK converges (docs/maths.md section 4).

For phi_m(x) = erf(m x) the naive NTK T (psi = phi_m') has diagonal entries growing like m^L
for L hidden layers (each layer's ntk_m(a, a, a) ~ (2 m / pi) / sqrt(a)), while off-diagonal
entries converge to those of the ill-posed limit; the SG-NTK with a fixed surrogate converges
to the SG-NTK of sign.  All kernels here are analytic (derived and generated).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from kernelalg.experiments.figures import pyplot, save
from kernelalg.numeric.kernels import Kernel, circle
from kernelalg.progress import progress


@dataclass(frozen=True)
class DivergenceResult:
    ms: list[float]
    depth: int
    ntk_diagonal: list[float]          # T(x, x) per m
    ntk_offdiagonal: list[float]       # T(x, y) at a fixed angle per m
    sgntk_distance: list[float]        # ||I_m - I_sign||_F / ||I_sign||_F per m
    divergence_exponent: float         # slope of log T(x, x) against log m for m >= 10
    offdiagonal_relative_change: float  # |T_last - T_previous| / |T_last| off the diagonal

    def as_dict(self) -> dict:
        return asdict(self)


def run(ms=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000), depth: int = 2, points: int = 16,
        psi: str = "gaussian", show_progress: bool = True) -> DivergenceResult:
    X = circle(points)
    sign = Kernel("sign", psi, depth=depth)(X, outputs=("sgntk",)).sgntk
    diag, off, dist = [], [], []
    for m in progress(ms, desc="erf_m kernels", enabled=show_progress):
        naive = Kernel(f"erf(m={m})", None, depth=depth)(X[:2], outputs=("ntk",)).ntk
        sg = Kernel(f"erf(m={m})", psi, depth=depth)(X, outputs=("sgntk",)).sgntk
        diag.append(float(naive[0, 0]))
        off.append(float(naive[0, 1]))
        dist.append(float(np.linalg.norm(sg - sign) / np.linalg.norm(sign)))
    ms_arr = np.asarray(ms, dtype=float)
    large = ms_arr >= 10
    exponent = float(np.polyfit(np.log(ms_arr[large]), np.log(np.asarray(diag)[large]), 1)[0])
    change = abs(off[-1] - off[-2]) / abs(off[-1])
    return DivergenceResult(list(map(float, ms)), depth, diag, off, dist, exponent, change)


def figure(result: DivergenceResult, path: str | Path, overwrite: bool = False) -> None:
    """Naive NTK diagonal/off-diagonal and SG-NTK distance to sign against m (log-log)."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    ms = np.asarray(result.ms)
    left.loglog(ms, result.ntk_diagonal, "o-", label="naive NTK, diagonal T(x, x)")
    left.loglog(ms, np.abs(result.ntk_offdiagonal), "s-", label="naive NTK, off-diagonal |T(x, y)|")
    ref = result.ntk_diagonal[-1] * (ms / ms[-1]) ** result.depth
    left.loglog(ms, ref, "k--", lw=1, label=f"m^{result.depth} (fitted slope {result.divergence_exponent:.2f})")
    left.set_xlabel("m in erf(m x)")
    left.set_ylabel("analytic naive NTK")
    left.set_title(f"Naive NTK of erf_m, L = {result.depth}")
    left.legend(fontsize=8)
    right.loglog(ms, result.sgntk_distance, "o-", color="C2")
    right.set_xlabel("m in erf(m x)")
    right.set_ylabel("||I_m - I_sign||_F / ||I_sign||_F")
    right.set_title("SG-NTK of erf_m -> SG-NTK of sign")
    fig.tight_layout()
    save(fig, path, overwrite, dpi=120)
