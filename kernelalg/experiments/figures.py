"""Lazy access to matplotlib (the optional ``plot`` extra) for experiment figures, and saving them."""

from __future__ import annotations

from pathlib import Path

from kernelalg.errors import InputError, OutputError
from kernelalg.files import check_target, replacing


def pyplot():
    """matplotlib.pyplot with a non-interactive backend, or a clear error if it is missing."""
    try:
        import matplotlib
    except ImportError:
        raise InputError("figures need matplotlib: pip install 'kernelalg[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def check_figure(path: str | Path, overwrite: bool = False) -> Path:
    """``path`` if a figure can be written there (a known format, see check_target), else an
    OutputError: called before long computations whose result is a figure."""
    pyplot()
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    if Path(path).suffix[1:].lower() not in formats:
        raise OutputError(f"cannot write the figure {path}: unknown format {Path(path).suffix or '(no suffix)'!r}; "
                          f"use one of .{', .'.join(sorted(formats))}")
    return check_target(path, overwrite)


def save(fig, path: str | Path, overwrite: bool = False, **options) -> Path:
    """``fig.savefig`` to ``path`` atomically (format from the suffix), then close the figure."""
    try:
        path = check_figure(path, overwrite)
        with replacing(path, overwrite) as tmp:
            fig.savefig(tmp, format=path.suffix[1:].lower(), **options)
    finally:
        pyplot().close(fig)
    return path
