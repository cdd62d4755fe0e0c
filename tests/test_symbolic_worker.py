"""kernelalg.symbolic.worker: derivations under a time budget in a worker process: no signals, any
thread, a clear error when the budget runs out."""

from __future__ import annotations

import signal
import threading

import pytest

from kernelalg.errors import DerivationBudgetError, InputError, NotIntegrableError
from kernelalg.symbolic.derive import derive, expectation
from kernelalg.symbolic.worker import Budget

SLOW = "exp(exp(exp(exp(exp(x)))))"  # SymPy runs for hours on this one


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
