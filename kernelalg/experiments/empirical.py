"""Experiment 2: the empirical SG-NTK J f J~ f^T of finite erf_m networks converges to the
analytic SG-NTK as the width n grows, at initialisation and after SGL training, with a relative
Frobenius error falling like n^(-1/2)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from kernelalg.experiments.figures import pyplot, save
from kernelalg.numeric.kernels import Kernel, circle
from kernelalg.numeric.networks import Network
from kernelalg.numeric.pointwise import Pointwise
from kernelalg.progress import progress


@dataclass(frozen=True)
class EmpiricalResult:
    widths: list[int]
    ms: list[float]
    psi: str
    error_init: dict[str, list[float]]     # per m: mean relative Frobenius error per width
    error_trained: dict[str, list[float]]  # the same after SGL training
    empirical_slope: float                 # fitted slope of log error (at init) against log width

    def as_dict(self) -> dict:
        return asdict(self)


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def run(widths=(64, 256, 1024, 4096, 8192), ms=(1, 3), psi: str = "gaussian", depth: int = 2,
        seeds: int = 2, steps: int = 200, lr: float = 0.05, points: int = 8,
        show_progress: bool = True) -> EmpiricalResult:
    X = circle(points)
    train_x = circle(15)
    train_y = np.sin(2 * np.arctan2(train_x[:, 1], train_x[:, 0]))
    init_err: dict[str, list[float]] = {}
    trained_err: dict[str, list[float]] = {}
    jobs = [(m, n) for m in ms for n in widths]
    for m, n in progress(jobs, desc="empirical SG-NTK", enabled=show_progress):
        phi = f"erf(m={m})"
        analytic = Kernel(phi, psi, depth=depth)(X, outputs=("sgntk",)).sgntk
        net = Network(2, (n,) * depth, Pointwise.of(phi, psi))
        errs0, errs1 = [], []
        for seed in range(seeds if n <= 4096 else 1):
            params = net.init(1, seed=seed)
            errs0.append(_relative(net.empirical_kernel(params, X)[0], analytic))
            params, _ = net.train(params, train_x, train_y, steps, lr)
            errs1.append(_relative(net.empirical_kernel(params, X)[0], analytic))
        init_err.setdefault(str(m), []).append(float(np.mean(errs0)))
        trained_err.setdefault(str(m), []).append(float(np.mean(errs1)))
    logs = [np.polyfit(np.log(widths), np.log(e), 1)[0] for e in init_err.values()]
    return EmpiricalResult(list(widths), list(map(float, ms)), psi, init_err, trained_err, float(np.mean(logs)))


def figure(result: EmpiricalResult, path: str | Path, overwrite: bool = False) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    widths = np.asarray(result.widths, dtype=float)
    for i, m in enumerate(result.error_init):
        ax.loglog(widths, result.error_init[m], "o-", color=f"C{i}", label=f"erf(m={m}), initialisation")
        ax.loglog(widths, result.error_trained[m], "s--", color=f"C{i}", label=f"erf(m={m}), after SGL")
    first = result.error_init[next(iter(result.error_init))][0]
    ax.loglog(widths, first * (widths / widths[0]) ** -0.5, "k:", label="n^(-1/2)")
    ax.set_xlabel("width n")
    ax.set_ylabel("||I^ - I||_F / ||I||_F")
    ax.set_title(f"Empirical vs analytic SG-NTK (psi = {result.psi}), slope {result.empirical_slope:.2f}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, path, overwrite, dpi=120)
