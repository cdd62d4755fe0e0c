"""Experiment 3: an ensemble of finite sign networks trained by SGL against the SG-NTK Gaussian
process (docs/maths.md sections 5 and 7): regression on the unit circle, 15 training points, two
hidden layers; per width the distance of the ensemble mean to the GP mean, the ratio of the
ensemble's standard deviation to the GP's, and the fraction of test points where the ensemble
mean lies in the GP's 2-sigma band."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from kernelalg.experiments.figures import pyplot, save
from kernelalg.numeric.inference import predict
from kernelalg.numeric.kernels import Kernel
from kernelalg.numeric.networks import Network
from kernelalg.numeric.pointwise import Pointwise
from kernelalg.progress import progress


def target(theta: np.ndarray) -> np.ndarray:
    return np.sin(2 * theta) + 0.5 * np.cos(theta)


@dataclass(frozen=True)
class SGLResult:
    phi: str
    psi: str
    widths: list[int]
    steps: int
    lr: float
    networks: int
    test_theta: list[float]
    train_theta: list[float]
    train_y: list[float]
    gp_mean: list[float]
    gp_std: list[float]
    ensemble_mean: dict[str, list[float]]
    ensemble_std: dict[str, list[float]]
    final_loss: dict[str, float]
    sgl_mean_abs_dev: list[float]
    sgl_std_ratio: list[float]
    sgl_within_band: list[float]

    def as_dict(self) -> dict:
        return asdict(self)


def run(widths=(64, 256, 1024, 2048), phi: str = "sign", psi: str = "gaussian", steps: int = 10_000,
        lr: float = 0.05, networks: int = 10, depth: int = 2, sigma_w: float = 1.0, sigma_b: float = 0.1,
        test_points: int = 100, seed: int = 0, show_progress: bool = True) -> SGLResult:
    rng = np.random.default_rng(seed)
    train_theta = np.sort(rng.uniform(0, 2 * np.pi, 15))
    test_theta = np.linspace(0, 2 * np.pi, test_points, endpoint=False)
    on_circle = lambda t: np.stack([np.cos(t), np.sin(t)], axis=1)  # noqa: E731
    X, T = on_circle(train_theta), on_circle(test_theta)
    Y = target(train_theta)
    gp = predict(Kernel(phi, psi, depth, sigma_w, sigma_b), X, Y, T, t=steps, eta=lr)
    gp_mean, gp_std = gp.mean[:, 0], gp.std
    means, stds, losses, dev, ratio, within = {}, {}, {}, [], [], []
    functions = Pointwise.of(phi, psi)
    for n in widths:
        net = Network(2, (n,) * depth, functions, sigma_w, sigma_b)
        params = net.init(networks, seed=seed + n)
        bar = progress(range(steps), desc=f"SGL width {n}", enabled=show_progress)
        ticks = iter(bar)
        params, loss = net.train(params, X, Y, steps, lr, progress=lambda _: next(ticks, None))
        for _ in ticks:  # close the bar
            pass
        out = net.output(params, T)
        mean, std = out.mean(axis=0), out.std(axis=0, ddof=1)
        means[str(n)], stds[str(n)], losses[str(n)] = mean.tolist(), std.tolist(), float(loss[-1].mean())
        dev.append(float(np.mean(np.abs(mean - gp_mean))))
        ratio.append(float(np.mean(std) / np.mean(gp_std)))
        within.append(float(np.mean(np.abs(mean - gp_mean) <= 2 * gp_std)))
    return SGLResult(phi, psi, list(widths), steps, lr, networks, test_theta.tolist(), train_theta.tolist(),
                     Y.tolist(), gp_mean.tolist(), gp_std.tolist(), means, stds, losses, dev, ratio, within)


def figure(result: SGLResult, path: str | Path, overwrite: bool = False) -> None:
    """Per width: GP mean and 2-sigma band, ensemble mean and spread, training points."""
    plt = pyplot()
    k = len(result.widths)
    fig, axes = plt.subplots(1, k, figsize=(4 * k, 3.6), sharey=True, squeeze=False)
    theta = np.asarray(result.test_theta)
    mu, sd = np.asarray(result.gp_mean), np.asarray(result.gp_std)
    for ax, n, within in zip(axes[0], result.widths, result.sgl_within_band):
        ax.fill_between(theta, mu - 2 * sd, mu + 2 * sd, color="C0", alpha=0.2, label="SG-NTK GP, 2 sigma")
        ax.plot(theta, mu, color="C0", label="SG-NTK GP mean")
        m, s = np.asarray(result.ensemble_mean[str(n)]), np.asarray(result.ensemble_std[str(n)])
        ax.plot(theta, m, color="C3", label=f"mean of {result.networks} networks")
        ax.plot(theta, m - 2 * s, color="C3", ls=":", lw=1, label="ensemble 2 sigma")
        ax.plot(theta, m + 2 * s, color="C3", ls=":", lw=1)
        ax.plot(result.train_theta, result.train_y, "k.", label="training points")
        ax.set_title(f"width {n}: {100 * within:.0f}% in band")
        ax.set_xlabel("angle on the circle")
    axes[0][0].set_ylabel("network output")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"SGL with phi = {result.phi}, psi = {result.psi}, {result.steps} steps vs SG-NTK GP")
    fig.tight_layout()
    save(fig, path, overwrite, dpi=120)
