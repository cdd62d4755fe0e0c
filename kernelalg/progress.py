"""A dependency-free progress bar for long runs (writes to stderr, silent when disabled)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], total: int | None = None, desc: str = "", enabled: bool = True,
             every: float = 0.5) -> Iterator[T]:
    """Yield ``items`` while drawing ``desc [#####.....] i/total  elapsed`` on stderr.

    The bar is redrawn at most every ``every`` seconds and only when stderr is a terminal or
    ``enabled`` is forced; the final state is always printed once so logs show completion.
    """
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    start = last = time.perf_counter()
    draw = enabled and sys.stderr.isatty()
    i = 0
    for i, item in enumerate(items, 1):
        yield item
        now = time.perf_counter()
        if draw and now - last >= every:
            last = now
            _draw(desc, i, total, now - start)
    if enabled:
        _draw(desc, i, total, time.perf_counter() - start, final=True)


def _draw(desc: str, i: int, total: int | None, elapsed: float, final: bool = False) -> None:
    if total:
        filled = int(30 * i / total)
        bar = f"[{'#' * filled}{'.' * (30 - filled)}] {i}/{total}"
    else:
        bar = f"{i} it"
    end = "\n" if final else "\r"
    sys.stderr.write(f"{desc} {bar} {elapsed:6.1f}s{end}")
    sys.stderr.flush()
