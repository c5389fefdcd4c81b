"""What every source kind shares: the series it is asked for and the frame it answers with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

import polars as pl

TS = "ts"
VALUE = "value"
TS_DTYPE = pl.Datetime("us", "UTC")
FRAME_SCHEMA = pl.Schema([(TS, TS_DTYPE), (VALUE, pl.Float64())])


class SourceError(RuntimeError):
    """A source could not be read; the message names the source, never a secret or a URL's query.

    `retryable` tells a transient failure (network, 5xx, timeout) from one that retrying cannot fix.
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class SourceTimeout(SourceError):
    """A source read stopped because the API request's deadline passed or its client went away."""

    def __init__(self, message: str, *, cancelled: bool = False) -> None:
        super().__init__(message)
        self.cancelled = cancelled


class SourceBusy(SourceError):
    """Too many fetches are already waiting for one source; ask again after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retryable=True)
        self.retry_after = retry_after


@dataclass(frozen=True)
class SeriesRef:
    """One series as a source sees it: the entity, the attribute and the source's selector (`column`)."""

    entity: str
    attribute: str
    column: str


@runtime_checkable
class SeriesSource(Protocol):
    """`read` returns the readings in [start, end) as `ts` (UTC, us) and `value` (Float64), in the order
    the source delivered them (not deduplicated, not sorted: the caller cleans and checks).

    `forwarded`: headers of the API request that asked (e.g. `Authorization`, `X-Tenant-ID`); a source sends
    on only those its catalog entry opts into (`forward_headers`), the others ignore them.
    """

    def read(
        self, series: SeriesRef, *, start: datetime, end: datetime, forwarded: Mapping[str, str] | None = None
    ) -> pl.DataFrame: ...


def in_window(frame: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    return frame.filter((pl.col(TS) >= start) & (pl.col(TS) < end))
