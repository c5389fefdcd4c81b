"""Running a request's blocking work: off the event loop, under the request's deadline, stopped when its
client goes away, and admitted only while the memory it needs is free (`MemoryBudget`)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import anyio
import anyio.to_thread
from fastapi import Request

from api.errors import ApiError
from resources import deadline

T = TypeVar("T")
WATCH_SECONDS = 0.25  # how often a waiting request looks whether its client is still there


async def offload(request: Request, seconds: float, work: Callable[[], T]) -> T:
    """`work()` in a worker thread within a `Deadline(seconds)`; the deadline is cancelled as soon as the
    client disconnects, so sources stop between attempts and pages and waits end."""
    limit = deadline.Deadline(seconds)

    def run() -> T:
        with deadline.within(limit):
            return work()

    async def watch() -> None:
        while not limit.done():
            if await request.is_disconnected():
                limit.cancel()
                return
            await anyio.sleep(WATCH_SECONDS)

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        return await anyio.to_thread.run_sync(run)
    finally:
        watcher.cancel()


class MemoryBudget:
    """Bytes that answers being computed or sent may hold at once. A request reserves its estimate before
    it reads: one larger than the whole budget is a 413 naming the limit; one that does not fit now waits,
    within its deadline, for others to finish (then a 503 with `Retry-After`)."""

    def __init__(self, total: int, setting: str = "DATAHUB_MAX_BYTES_IN_FLIGHT") -> None:
        self.total, self.setting, self.used = total, setting, 0
        self._free = threading.Condition()

    def reserve(self, size: int, field: str = "resolution") -> Callable[[], None]:
        """Wait for `size` bytes; returns the function that gives them back (idempotent)."""
        if size > self.total:
            raise ApiError(413, f"{field}: the answer needs about {size / 2**20:,.0f} MiB; at most "
                                f"{self.total / 2**20:,.0f} MiB may be in flight ({self.setting}); ask for fewer "
                                "cells")
        limit = deadline.current()
        with self._free:
            while self.used + size > self.total:
                if limit.done():
                    raise ApiError(503, f"{field}: the server is busy with other large answers; try again",
                                   headers={"Retry-After": "5"})
                self._free.wait(timeout=limit.bound(WATCH_SECONDS))
            self.used += size
        released = threading.Event()

        def release() -> None:
            if not released.is_set():
                released.set()
                with self._free:
                    self.used -= size
                    self._free.notify_all()

        return release


@contextmanager
def released_on_error(release: Callable[[], None]) -> Iterator[None]:
    try:
        yield
    except BaseException:
        release()
        raise


def guarded(chunks: Iterator[bytes], release: Callable[[], None]) -> Iterator[bytes]:
    """Stream `chunks`, giving the reservation back when the stream ends, fails or is dropped."""
    try:
        yield from chunks
    finally:
        release()
