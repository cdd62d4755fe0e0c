"""Empirical SG-NTK of finite convolutional networks against the analytic conv SG-NTK.

Network: Conv 3x3 (SAME) -> phi -> Conv 3x3 (SAME) -> phi -> global average pooling -> Dense,
on a few 8x8 digit images, NTK parametrisation, surrogate psi in the backward pass.  For each
number of channels n the relative Frobenius error ||J f J~ f^T - I|| / ||I|| of independently
initialised networks is averaged over seeds; it falls like n^(-1/2).

The SG-NTK of sign is the limit m -> inf of that of erf_m (the true Jacobian of a finite sign
network vanishes before the readout: its derivative is a delta), so the finite networks use
phi = erf_m, and the analytic distance ||I_erf_m - I_sign|| / ||I_sign|| is reported alongside.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from kernelalg import layers as L
from kernelalg.datasets import digits
from kernelalg.experiments.figures import pyplot
from kernelalg.progress import progress

SIGMA_B = 0.1  # a bias keeps the all-zero corners of the digits at positive variance


def network(phi: str, psi: str) -> L.Network:
    return L.serial(L.Conv((3, 3), sigma_b=SIGMA_B), L.Activation(phi, psi), L.Conv((3, 3), sigma_b=SIGMA_B),
                    L.Activation(phi, psi), L.GlobalAvgPool(), L.Dense(out=1, sigma_b=SIGMA_B))


def images(count: int, size: int = 8) -> np.ndarray:
    """The first ``count`` digits of different classes, cropped to size x size, as (count, size, size, 1)."""
    data = digits()
    first = [int(np.flatnonzero(data.y == k)[0]) for k in range(count)]
    pictures = data.X[first].reshape(count, 8, 8)
    start = (8 - size) // 2
    return pictures[:, start:start + size, start:start + size, None]


@dataclass(frozen=True)
class ConvEmpiricalResult:
    widths: list[int]
    ms: list[float]
    psi: str
    images: int
    seeds: int
    error: dict[str, list[float]]       # per m: mean relative Frobenius error per width
    error_std: dict[str, list[float]]   # per m: standard deviation over seeds
    slope: dict[str, float]             # per m: fitted slope of log error against log width
    empirical_slope: float              # mean over m
    sign_distance: dict[str, float]     # analytic ||I_erf_m - I_sign|| / ||I_sign||

    def as_dict(self) -> dict:
        return asdict(self)


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def run(widths=(64, 128, 256, 512, 1024, 2048, 4096), ms=(1, 3), psi: str = "gaussian", count: int = 4,
        size: int = 8, seeds: int = 3, distance_ms=(1, 3, 10, 30, 100, 1000),
        show_progress: bool = True) -> ConvEmpiricalResult:
    X = images(count, size)
    sign = network("sign", psi)(X, outputs=("sgntk",)).sgntk
    distance = {str(m): _relative(network(f"erf(m={m})", psi)(X, outputs=("sgntk",)).sgntk, sign)
                for m in distance_ms}
    error: dict[str, list[float]] = {}
    spread: dict[str, list[float]] = {}
    for m in ms:
        net = network(f"erf(m={m})", psi)
        analytic = net(X, outputs=("sgntk",)).sgntk
        for n in progress(widths, desc=f"conv SG-NTK, erf(m={m})", enabled=show_progress):
            errs = [_relative(net.empirical_kernel(net.initialize(X.shape[1:], n, seed), X), analytic)
                    for seed in range(seeds)]
            error.setdefault(str(m), []).append(float(np.mean(errs)))
            spread.setdefault(str(m), []).append(float(np.std(errs)))
    slope = {m: float(np.polyfit(np.log(widths), np.log(e), 1)[0]) for m, e in error.items()}
    return ConvEmpiricalResult(list(widths), list(map(float, ms)), psi, count, seeds, error, spread, slope,
                               float(np.mean(list(slope.values()))), distance)


def figure(result: ConvEmpiricalResult, path: str | Path) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    widths = np.asarray(result.widths, dtype=float)
    for i, m in enumerate(result.error):
        left.errorbar(widths, result.error[m], yerr=result.error_std[m], fmt="o-", color=f"C{i}", capsize=3,
                      label=f"erf(m={m}), slope {result.slope[m]:.2f}")
    first = result.error[next(iter(result.error))][0]
    left.loglog(widths, first * (widths / widths[0]) ** -0.5, "k:", label="channels^(-1/2)")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("channels n")
    left.set_ylabel("||J f J~ f^T - I||_F / ||I||_F")
    left.set_title(f"Conv SG-NTK, finite vs analytic (psi = {result.psi})")
    left.legend(fontsize=8)
    ms = np.array([float(m) for m in result.sign_distance])
    right.loglog(ms, list(result.sign_distance.values()), "s-", color="C3")
    right.set_xlabel("m")
    right.set_ylabel("||I_erf_m - I_sign||_F / ||I_sign||_F")
    right.set_title("analytic conv SG-NTK of erf_m -> sign")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
