"""`demo`: deterministic synthetic series, no network. The same (seed, series, instant) always gives the
same value, so partitions fetched apart or twice agree."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from resources.sources.base import TS, TS_DTYPE, VALUE, SeriesRef, Source

_DAY_S = 86_400.0


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: a well-spread 64-bit hash of each element."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class DemoSource(Source):
    """A daily cycle plus a slow trend plus noise, per series, every `cadence`."""

    seed: int = 0
    cadence: str = "10m"
    DURATIONS = ("cadence",)

    def read(
        self, series: SeriesRef, *, start: datetime, end: datetime, forwarded: Mapping[str, str] | None = None
    ) -> pl.DataFrame:
        step = self.duration("cadence") // timedelta(microseconds=1)
        start_us = int(start.timestamp() * 1_000_000)
        end_us = int(end.timestamp() * 1_000_000)
        first = -(-start_us // step) * step
        stamps = np.arange(first, end_us, step, dtype=np.int64)
        key = hashlib.blake2b(f"{self.seed}:{series.entity}:{series.column}".encode(), digest_size=8)
        series_hash = np.uint64(int.from_bytes(key.digest(), "little"))
        with np.errstate(over="ignore"):
            noise = _mix(stamps.astype(np.uint64) ^ series_hash).astype(np.float64) / 2.0**64 - 0.5
        base = 10.0 + float(series_hash % np.uint64(90))
        seconds = stamps / 1e6
        values = base * (1.0 + 0.3 * np.sin(2 * np.pi * seconds / _DAY_S)) + 0.1 * base * noise
        return pl.DataFrame({TS: pl.Series(stamps).cast(TS_DTYPE), VALUE: values})
