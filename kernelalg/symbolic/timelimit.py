"""Calls with a time limit, run in a forked child process: no signals, any thread of the caller.

SymPy can integrate for minutes before giving up, so the engine bounds each integration.
:func:`limited` forks the calling process (the child shares its memory, copy-on-write: nothing is
imported or sent) and waits for the child's pickled result.  The limit is on the child's *CPU
time* (RLIMIT_CPU, whole seconds; the kernel kills the child when it is used up), so whether a
computation finishes does not depend on how busy the machine is; a wall-clock limit of
:data:`WALL_FACTOR` times the limit stops children that wait instead of computing.  The caller's
signal handlers are never touched.

Forking is safe only in a single-threaded process; derivations run in their own worker process
(:mod:`kernelalg.symbolic.worker`), which is.  Elsewhere (a threaded caller, or no ``fork``)
the function runs in the calling process without a limit.  Limits that were hit are collected by
:func:`recording`, so that a result obtained under a limit is marked as such in its route.
"""

from __future__ import annotations

import ctypes
import math
import os
import pickle
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

WALL_FACTOR = 10
_HITS: ContextVar[list[float] | None] = ContextVar("kernelalg_time_limits_hit", default=None)


class TimeLimitExceeded(Exception):
    """A limited call did not finish in time (the child process was killed)."""


def can_limit() -> bool:
    """True where :func:`limited` enforces its limit (POSIX fork from a single-threaded process)."""
    return hasattr(os, "fork") and threading.active_count() == 1


@contextmanager
def recording() -> Iterator[list[float]]:
    """Collect the limits (seconds) hit by :func:`limited` calls made inside the block."""
    hits: list[float] = []
    token = _HITS.set(hits)
    try:
        yield hits
    finally:
        _HITS.reset(token)


def limited(fn: Callable[..., Any], args: tuple, seconds: float) -> Any:
    """``fn(*args)`` computed in a forked child; TimeLimitExceeded after ``seconds`` of CPU time
    (or ``WALL_FACTOR * seconds`` of waiting).  An exception raised by ``fn`` is raised here; a child
    that dies otherwise without an answer is a ChildProcessError."""
    if not can_limit():
        return fn(*args)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, leave without running the parent's exit handlers
        os.close(read_fd)
        die_with_parent()
        import resource  # POSIX only, like fork

        cpu = max(1, math.ceil(seconds))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))  # the kernel kills the child at the limit
        try:
            try:
                payload = pickle.dumps((True, fn(*args)))
            except Exception as exc:  # handed to the parent, which raises it
                payload = pickle.dumps((False, exc))
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(payload)
        finally:
            os._exit(0)
    os.close(write_fd)
    chunks = _read_until(read_fd, time.monotonic() + WALL_FACTOR * seconds, pid)
    _, status = os.waitpid(pid, 0)
    if chunks is None or (not chunks and os.WIFSIGNALED(status)
                          and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL)):
        hits = _HITS.get()
        if hits is not None:
            hits.append(seconds)
        raise TimeLimitExceeded(f"stopped after {seconds:g} s")
    if not chunks:
        raise ChildProcessError("the time-limited computation ended without a result")
    ok, value = pickle.loads(b"".join(chunks))
    if not ok:
        raise value
    return value


def die_with_parent() -> None:
    """On Linux, have the kernel kill this process when the thread that started it ends, so that
    no derivation outlives its caller; elsewhere nothing."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _read_until(fd: int, deadline: float, pid: int) -> list[bytes] | None:
    """Everything the child writes to ``fd`` until it closes it, or None (child killed) at the deadline."""
    chunks: list[bytes] = []
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(1000 * remaining):
                os.kill(pid, signal.SIGKILL)
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return chunks
            chunks.append(chunk)
    finally:
        os.close(fd)
