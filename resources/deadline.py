"""A request's deadline and cancellation, seen by the sources through a context variable.

The API opens `within(Deadline(30))` around a request's work (and cancels it when the client goes away);
sources ask `current()` how long an attempt may take, sleep through `wait`, and `check` between pages and
retries. Outside a request (a Dagster run) there is no deadline: `current()` never expires.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class DeadlineExceeded(Exception):
    """The request's deadline passed, or its client went away, before the work was done."""

    def __init__(self, seconds: float | None, cancelled: bool) -> None:
        self.seconds, self.cancelled = seconds, cancelled
        super().__init__("the client went away" if cancelled else f"no answer within {seconds:g} s")


class Deadline:
    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = seconds
        self._expires = None if seconds is None else time.monotonic() + seconds
        self._cancelled = threading.Event()

    def remaining(self) -> float | None:
        """Seconds left (never negative); None without a deadline."""
        return None if self._expires is None else max(0.0, self._expires - time.monotonic())

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def done(self) -> bool:
        left = self.remaining()
        return self.cancelled or (left is not None and left <= 0)

    def check(self) -> None:
        if self.done():
            raise DeadlineExceeded(self.seconds, self.cancelled)

    def bound(self, seconds: float) -> float:
        """`seconds`, shortened to what is left."""
        left = self.remaining()
        return seconds if left is None else min(seconds, left)

    def wait(self, seconds: float) -> None:
        """Sleep `seconds`; raise at once when that would outlast the deadline, or on cancellation."""
        left = self.remaining()
        if left is not None and seconds > left:
            raise DeadlineExceeded(self.seconds, False)
        if self._cancelled.wait(max(0.0, seconds)):
            raise DeadlineExceeded(self.seconds, True)


_NONE = Deadline()
_CURRENT: ContextVar[Deadline] = ContextVar("datahub_deadline", default=_NONE)


def current() -> Deadline:
    return _CURRENT.get()


@contextmanager
def within(deadline: Deadline) -> Iterator[Deadline]:
    token = _CURRENT.set(deadline)
    try:
        yield deadline
    finally:
        _CURRENT.reset(token)
