"""Watches the files the test run opens: none may lie outside the clone (beside it, in a sibling folder).

An audit hook sees every `open`, `os.listdir` and `os.scandir` made from Python; readers in native code
(Polars) get their paths from the tests, which `test_self_contained.py` checks statically.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Found before the hook is installed: finding it opens files, which the hook would see (and wait for).
TEMP = os.path.abspath(tempfile.gettempdir())
_OUTSIDE: set[str] = set()
_EVENTS = {"open", "os.listdir", "os.scandir"}


def outside_clone(path: str, root: Path = ROOT) -> bool:
    """A path in the folder that holds the clone but not in the clone itself. Where the clone lies directly
    in the temp folder, the temp folder's other entries are the tests' own scratch space, not siblings."""
    full = os.path.abspath(path)
    holder, clone = str(root.parent), str(root)

    def inside(base: str) -> bool:
        return full == base or full.startswith(base.rstrip(os.sep) + os.sep)

    scratch = holder == TEMP and inside(TEMP)
    return inside(holder) and not inside(clone) and not inside(sys.prefix) and not scratch


def _hook(event: str, args: tuple[object, ...]) -> None:
    if event in _EVENTS and args and isinstance(args[0], str | bytes | os.PathLike):
        path = os.fsdecode(args[0])
        if outside_clone(path):
            _OUTSIDE.add(os.path.abspath(path))


def install() -> None:
    sys.addaudithook(_hook)


def outside_reads() -> list[str]:
    return sorted(_OUTSIDE)
