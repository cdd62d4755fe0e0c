"""Derivations in a worker process, under an overall time budget.

SymPy gives no bound on the time (or memory) a simplification, root search or integral takes, and
some inputs would run for hours.  Every derivation is therefore sent to a worker process: a
plain subprocess of the same Python, started on first use and reused (it keeps SymPy's caches).
The caller waits at most the remaining *derivation budget* and kills the worker when it runs out
(the caller gets a :class:`~kernelalg.errors.DerivationBudgetError`; the next derivation starts a
fresh worker).  Nothing of the calling process is forked or signalled, so this works from any
thread and leaves its signal handlers alone.

The budget is ``derive(..., budget=SECONDS)``, else ``$KERNELALG_DERIVE_SECONDS``, else
:data:`DEFAULT_BUDGET`; it bounds the time spent deriving one pair (or one expectation).  A
budget of 0 derives in the calling process without a bound (for debugging).

Requests and replies are JSON lines: a task (``"module:function"`` inside kernelalg, taking and
returning JSON data) and its payload; the reply is the result or the error's class and message.
"""

from __future__ import annotations

import atexit
import importlib
import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from kernelalg import errors
from kernelalg.errors import DerivationBudgetError, DerivationError, InputError, KernelalgError
from kernelalg.symbolic.timelimit import die_with_parent

DEFAULT_BUDGET = 600.0
BUDGET_VARIABLE = "KERNELALG_DERIVE_SECONDS"
_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the kernelalg package
_LOCK = threading.Lock()  # one derivation at a time per process: they share the worker


@dataclass
class Budget:
    """Seconds a derivation may spend in the worker; ``used`` grows with every task."""

    seconds: float
    used: float = 0.0

    @classmethod
    def of(cls, seconds: float | None = None) -> "Budget":
        """``seconds``, else $KERNELALG_DERIVE_SECONDS, else DEFAULT_BUDGET (0: in process, no bound)."""
        if seconds is None:
            text = os.environ.get(BUDGET_VARIABLE, "").strip()
            try:
                seconds = float(text) if text else DEFAULT_BUDGET
            except ValueError:
                raise InputError(f"{BUDGET_VARIABLE} must be a number of seconds, got {text!r}") from None
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or math.isnan(seconds) or seconds < 0:
            raise InputError(f"the derivation budget must be a number of seconds >= 0, got {seconds!r}")
        return cls(float(seconds))


def run(task: str, payload: dict, budget: Budget, what: str) -> dict:
    """The result of ``task(payload)`` (a ``kernelalg...`` module function), in the worker within
    the budget's remaining time; ``what`` names the derivation in error messages."""
    if budget.seconds == 0:
        return _result(execute(task, payload))
    with _LOCK:
        remaining = budget.seconds - budget.used
        start = time.monotonic()
        try:
            if remaining <= 0:
                raise queue.Empty
            return _result(_Worker.get().call(task, payload, remaining))
        except queue.Empty:
            _Worker.stop()
            raise DerivationBudgetError(
                f"{what} exceeded the derivation time budget of {budget.seconds:g} s; give more time with "
                f"{BUDGET_VARIABLE}=SECONDS (or budget=...), or simplify the expression") from None
        finally:
            budget.used += time.monotonic() - start


def _result(reply: dict) -> dict:
    if "error" not in reply:
        return reply["result"]
    cls = getattr(errors, reply["error"], None)
    if not (isinstance(cls, type) and issubclass(cls, KernelalgError)):
        cls = DerivationError
    raise cls(reply["message"])


def execute(task: str, payload: dict) -> dict:
    """Run a task here; the reply as sent by the worker (result, or error class and message)."""
    module, _, name = task.partition(":")
    if not module.startswith("kernelalg."):
        return {"error": "DerivationError", "message": f"not a kernelalg task: {task!r}"}
    try:
        return {"result": getattr(importlib.import_module(module), name)(payload)}
    except KernelalgError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    except Exception as exc:  # SymPy's failures on odd input (RecursionError, ...), in one line
        text = " ".join(str(exc).split())[:300]
        return {"error": "DerivationError", "message": f"the symbolic engine failed ({type(exc).__name__}: {text})"}


class _Worker:
    """The worker process of this process, with a thread that queues its replies."""

    _current: "_Worker | None" = None

    def __init__(self):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(_ROOT), os.environ.get("PYTHONPATH"))
                                                          if p)}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from kernelalg.symbolic.worker import serve; serve()"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=_ROOT, env=env,
                text=True, encoding="utf-8", start_new_session=True)
        except OSError as exc:
            raise DerivationError(f"cannot start the derivation process ({exc}); set {BUDGET_VARIABLE}=0 to "
                                  "derive in this process without a time budget") from None
        self.replies: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True, name="kernelalg-derivation-replies").start()

    @classmethod
    def get(cls) -> "_Worker":
        if cls._current is None or cls._current.process.poll() is not None:
            cls._current = cls()
        return cls._current

    @classmethod
    def stop(cls) -> None:
        if cls._current is not None:
            cls._current.kill()
            cls._current = None

    def _read(self) -> None:
        for line in self.process.stdout:
            try:
                self.replies.put(json.loads(line))
            except ValueError:
                self.replies.put({"error": "DerivationError", "message": f"unreadable reply {line[:80]!r}"})
        self.replies.put(None)  # the worker ended

    def call(self, task: str, payload: dict, timeout: float) -> dict:
        """The worker's reply; queue.Empty when ``timeout`` seconds pass without one."""
        try:
            self.process.stdin.write(json.dumps({"task": task, "payload": payload}) + "\n")
            self.process.stdin.flush()
        except OSError:
            pass  # the worker is gone: its end is reported below
        reply = self.replies.get(timeout=timeout)
        if reply is None:
            code = self.process.wait()
            _Worker._current = None
            raise DerivationError(f"the derivation process stopped unexpectedly (exit code {code}); "
                                  "the expression may need more memory than is available")
        return reply

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # the worker and its time-limited children
        except (AttributeError, OSError):
            self.process.kill()
        self.process.wait()


atexit.register(_Worker.stop)


def serve() -> None:
    """The worker's loop: one JSON request per line on stdin, one reply per line on stdout."""
    die_with_parent()
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything else printed goes to stderr
    for line in sys.stdin:
        request = json.loads(line)
        replies.write(json.dumps(execute(request["task"], request["payload"])) + "\n")
        replies.flush()
