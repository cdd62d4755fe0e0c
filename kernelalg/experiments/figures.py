"""Lazy access to matplotlib (the optional ``plot`` extra) for experiment figures."""

from __future__ import annotations

from kernelalg.errors import InputError


def pyplot():
    """matplotlib.pyplot with a non-interactive backend, or a clear error if it is missing."""
    try:
        import matplotlib
    except ImportError:
        raise InputError("figures need matplotlib: pip install 'kernelalg[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
