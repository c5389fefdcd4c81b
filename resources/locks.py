"""A lock shared by the processes of one machine (the API's workers): one file per name, `fcntl.flock`.

Waits are bounded by the API request's deadline (`resources.deadline`); outside a request they wait as long
as needed. Processes on other machines are not covered: there the per-source pools of the run queue bound the
runs, and an API read-through that races another is harmless (the same day written twice, atomically).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from resources import deadline

POLL_SECONDS = 0.05


def lock_folder(scope: str) -> Path:
    """The folder of the lock files of one lake (by its root)."""
    digest = hashlib.sha256(scope.encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"datahub-locks-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def machine_lock(scope: str, name: str) -> Iterator[None]:
    """Hold the lock `name` of `scope` across processes; DeadlineExceeded when the request's deadline passes."""
    limit = deadline.current()
    fd = os.open(lock_folder(scope) / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                limit.wait(limit.bound(POLL_SECONDS) if limit.remaining() is not None else POLL_SECONDS)
                limit.check()
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
