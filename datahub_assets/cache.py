"""Closed-day partitions decoded once: a bounded in-memory cache of lake partitions, by URI and version.

A partition's version token changes whenever its file is rewritten (by the raw asset, read-through or a
revision, in this process or another), so a stale entry is never served: a lookup with a new token misses and
replaces it. Bounded in bytes (`DATAHUB_PARTITION_CACHE_BYTES`), least recently used first out. Used by the
API and by the assets' window reader alike.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import polars as pl

DEFAULT_BYTES = 256 * 2**20


class PartitionCache:
    def __init__(self, max_bytes: int = DEFAULT_BYTES, on_lookup: Callable[[bool], None] | None = None) -> None:
        self.max_bytes, self.on_lookup = max_bytes, on_lookup
        self.bytes = self.hits = self.misses = 0
        self._entries: OrderedDict[str, tuple[str, pl.DataFrame, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, uri: str, version: str) -> pl.DataFrame | None:
        with self._lock:
            entry = self._entries.get(uri)
            hit = entry is not None and entry[0] == version
            if hit:
                self._entries.move_to_end(uri)
                self.hits += 1
            else:
                self.misses += 1
        if self.on_lookup:
            self.on_lookup(hit)
        return entry[1] if hit and entry is not None else None

    def put(self, uri: str, version: str, frame: pl.DataFrame) -> None:
        size = int(frame.estimated_size())
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(uri, None)
            if old is not None:
                self.bytes -= old[2]
            self._entries[uri] = (version, frame, size)
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, (_, _, dropped) = self._entries.popitem(last=False)
                self.bytes -= dropped

    def __len__(self) -> int:
        return len(self._entries)


_shared: PartitionCache | None = None
_shared_lock = threading.Lock()


def shared_cache() -> PartitionCache:
    """This process's cache for the assets (sized by `DATAHUB_PARTITION_CACHE_BYTES`), made on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            from resources.settings import Settings

            _shared = PartitionCache(Settings().partition_cache_bytes)
        return _shared
