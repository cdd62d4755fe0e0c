"""Opt-in tuning of the C heap for the kernel recursion (glibc only): :func:`tune_allocator`.

The blocked kernel recursion allocates and frees thousands of ~1 MB temporaries (one per
NumPy operation on a row block).  With glibc's default thresholds such arrays are mapped
fresh from the OS and returned on every free, so each one page-faults again.  Raising the mmap
and trim thresholds lets malloc reuse the freed blocks.  This changes allocator settings for the
whole process (and keeps up to the trim threshold of freed memory), so the library never does it
by itself: a program opts in with ``kernelalg.tune_allocator()``.  The ``kernelalg`` command
does (its process is its own); ``benchmarks/bench_kernels.py`` does unless ``--default-allocator``.
It changes no results and is a no-op where glibc's ``mallopt`` is unavailable.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest dynamic threshold
TRIM_THRESHOLD = 128 << 20


@functools.cache
def tune_allocator() -> bool:
    """Raise glibc's mmap/trim thresholds for this process (once); True if applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
