"""Comparison plots (optional extra ``plot``): layer maps against the correlation rho and deep
kernels against the angle on the circle, for one or several activation/surrogate pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kernelalg.experiments.figures import check_figure, pyplot, save
from kernelalg.numeric.kernels import Kernel, circle
from kernelalg.numeric.layermaps import layer_maps
from kernelalg.progress import progress
from kernelalg.symbolic.maps import MAP_NAMES


def compare(pairs: list[tuple[str, str | None]], path: str | Path, depth: int = 2, sigma_w: float = 1.0,
            sigma_b: float = 0.1, points: int = 360, show_progress: bool = True, overwrite: bool = False) -> Path:
    """Top row: nngp, sg, ntk, surrogate at a = b = 1 against rho.  Bottom row: NNGP and SG-NTK of
    the network against the angle between two points on the unit circle.  Written atomically;
    an existing file is replaced only with ``overwrite``."""
    check_figure(path, overwrite)
    plt = pyplot()
    fig, axes = plt.subplots(2, 4, figsize=(16, 7.5))
    rho = np.linspace(-0.995, 0.995, 399)
    theta = np.linspace(0, np.pi, points // 2 + 1)
    X = circle(points)
    for i, (phi, psi) in enumerate(progress(pairs, desc="pairs", enabled=show_progress)):
        label = f"{phi} / {psi or 'phi'}"
        maps = layer_maps(phi, psi)
        for ax, name in zip(axes[0], MAP_NAMES):
            ax.plot(rho, getattr(maps, name)(1.0, 1.0, rho), color=f"C{i}", label=label)
        result = Kernel(phi, psi, depth, sigma_w, sigma_b)(X[:1], X[: len(theta)], outputs=("nngp", "sgntk"))
        axes[1][0].plot(theta, result.nngp[0], color=f"C{i}", label=label)
        axes[1][1].plot(theta, result.sgntk[0], color=f"C{i}", label=label)
        axes[1][2].plot(theta, result.sgntk[0] / result.sgntk[0, 0], color=f"C{i}", label=label)
    for ax, name in zip(axes[0], MAP_NAMES):
        ax.set_xlabel("correlation rho (a = b = 1)")
        ax.set_ylabel(name)
        ax.set_title(f"layer map {name}")
    titles = (f"NNGP S{depth + 1}", f"SG-NTK I{depth + 1}", "SG-NTK normalised I(theta)/I(0)")
    for ax, title in zip(axes[1][:3], titles):
        ax.set_xlabel("angle theta between the points (rad)")
        ax.set_title(f"{title}, L = {depth}")
    axes[1][3].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    axes[1][3].legend(handles, labels, loc="center", title="phi / psi")
    fig.tight_layout()
    return save(fig, path, overwrite, dpi=110)
