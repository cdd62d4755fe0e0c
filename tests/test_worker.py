"""Derivations under a time budget in a worker process (kernelalg.symbolic.worker) and SymPy
integrals under a time limit in forked children (kernelalg.symbolic.timelimit): no signals, any
thread, a clear error when the budget runs out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from kernelalg.errors import DerivationBudgetError, InputError, NotIntegrableError
from kernelalg.symbolic.derive import derive, expectation
from kernelalg.symbolic.worker import Budget

SLOW = "exp(exp(exp(exp(exp(x)))))"  # SymPy runs for hours on this one
ROOT = str(Path(__file__).resolve().parent.parent)


def test_budget_exceeded_is_a_clear_error_and_the_next_derivation_works():
    with pytest.raises(DerivationBudgetError, match="time budget of 2 s"):
        derive(SLOW, budget=2, use_cache=False)
    assert str(derive("sign", "gaussian", use_cache=False).sg.expr) == "1/(pi*sqrt(a*b + a - c**2))"


def test_budget_works_off_the_main_thread_and_leaves_signal_handlers_alone():
    def handler(signum, frame):  # a host program's own alarm handler
        pass

    previous = signal.signal(signal.SIGALRM, handler)
    caught: list[BaseException] = []

    def work():
        try:
            derive(SLOW, budget=2, use_cache=False)
        except BaseException as exc:  # handed to the main thread
            caught.append(exc)

    try:
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        assert len(caught) == 1 and isinstance(caught[0], DerivationBudgetError)
        assert signal.getsignal(signal.SIGALRM) is handler
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_worker_errors_keep_their_class():
    with pytest.raises(NotIntegrableError, match="grows like exp"):
        expectation("exp(x**3)", "sign", use_cache=False)


def test_in_process_derivation_equals_the_worker_one():
    assert expectation("erf", "sign", use_cache=False, budget=0) == expectation("erf", "sign", use_cache=False)


@pytest.mark.parametrize("text", ["soon", "-1", "nan"])
def test_bad_budget_settings(monkeypatch, text):
    monkeypatch.setenv("KERNELALG_DERIVE_SECONDS", text)
    with pytest.raises(InputError, match="seconds"):
        Budget.of()
    with pytest.raises(InputError):
        Budget.of(-1.0)


def test_default_budget_and_setting(monkeypatch):
    monkeypatch.delenv("KERNELALG_DERIVE_SECONDS", raising=False)
    assert Budget.of().seconds == 600
    monkeypatch.setenv("KERNELALG_DERIVE_SECONDS", "42")
    assert Budget.of().seconds == 42 and Budget.of(3).seconds == 3


LIMITED = textwrap.dedent("""
    import json, threading, time
    from kernelalg.symbolic.timelimit import TimeLimitExceeded, can_limit, limited, recording

    def fail():
        raise ValueError("inside")

    out = {"single_threaded": can_limit(), "value": limited(pow, (2, 10), 5)}
    try:
        limited(fail, (), 5)
    except ValueError as exc:
        out["error"] = str(exc)
    with recording() as hits:
        try:
            limited(time.sleep, (30,), 0.5)
        except TimeLimitExceeded:
            out["stopped"] = True
    out["hits"] = hits
    threading.Thread(target=time.sleep, args=(2,), daemon=True).start()
    out["threaded_can_limit"] = can_limit()
    out["threaded_value"] = limited(pow, (3, 3), 5)  # runs in this process, without a limit
    print(json.dumps(out))
""")


def test_time_limited_calls_in_a_forked_child():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)}
    out = json.loads(subprocess.run([sys.executable, "-c", LIMITED], capture_output=True, text=True, env=env,
                                    check=True, timeout=120).stdout)
    assert out == {"single_threaded": True, "value": 1024, "error": "inside", "stopped": True, "hits": [0.5],
                   "threaded_can_limit": False, "threaded_value": 27}
