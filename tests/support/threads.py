"""Threads in tests that always report: a thread's exception fails the test (in the test's
own thread, with the original traceback chained), and so does a thread that never finishes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["ReportingThread", "run_threads"]


class ReportingThread(threading.Thread, Generic[T]):
    """A thread running ``target()``; :meth:`result` joins it and returns what it returned, or
    raises what it raised."""

    def __init__(self, target: Callable[[], T], name: str | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self._target_call = target
        self._value: T | None = None
        self._error: BaseException | None = None
        self._returned = False

    def run(self) -> None:
        try:
            self._value = self._target_call()
            self._returned = True
        except BaseException as exc:  # handed to the test's thread by result()
            self._error = exc

    def result(self, timeout: float = 120) -> T:
        self.join(timeout)
        if self.is_alive():
            raise AssertionError(f"thread {self.name} did not finish within {timeout} s")
        if self._error is not None:
            raise AssertionError(f"thread {self.name} failed: {self._error!r}") from self._error
        assert self._returned, f"thread {self.name} did not report"
        return self._value  # type: ignore[return-value]


def run_threads(calls: Sequence[Callable[[], T]], *, timeout: float = 120) -> list[T]:
    """Run each call in its own thread, all at once; their results, in order. Any thread's
    exception, or any thread still running after ``timeout``, fails the caller."""
    threads = [ReportingThread(call, name=f"worker-{i}") for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    return [thread.result(timeout) for thread in threads]
