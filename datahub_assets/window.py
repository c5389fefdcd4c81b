"""Read series from the lake for a window, with the carry-in before `start` that alignment needs, and
read-through: days the lake does not hold are fetched from the series' source.

Shared by the grid assets and the API, so both see the same rows.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from datahub_assets.cache import PartitionCache
from datahub_assets.checks import Evidence, gather, passes_blocking, runless_events
from datahub_assets.engine.arrays import stamps
from datahub_assets.engine.grid import as_utc, to_us
from datahub_assets.engine.revisions import as_of as versions_at
from datahub_assets.engine.schema import SERIES_SCHEMA, TS, TS_DTYPE, clean
from datahub_assets.fetch import fetch_day, raw_dataset, store_day
from resources import deadline
from resources.catalog import Catalog, SeriesConfig
from resources.keys import raw_path
from resources.lake import HISTORY_FILE, ParquetLake
from resources.locks import machine_lock
from resources.registry import source_key
from resources.sources.base import Source, SourceBusy, SourceError, SourceTimeout

DEFAULT_MAX_DAYS = 31
DEFAULT_MAX_WAITING = 8
BUSY_RETRY_AFTER = 5  # seconds a caller is asked to wait when a source's queue is full


class TooManyMissingDays(Exception):
    """More unmaterialized days than read-through may fetch for one request."""

    def __init__(self, missing: dict[str, list[date]], limit: int) -> None:
        self.missing, self.limit = missing, limit
        count = sum(len(d) for d in missing.values())
        super().__init__(f"{count} days are not materialized (read-through fetches at most {limit})")


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


class ReadThrough:
    """Fetches the days a request needs that the lake does not hold, through the same source resources the
    raw assets use. Concurrent requests for one (tenant, series, day) share one fetch; fetches from one
    source run one at a time, at most `max_waiting` of them waiting (beyond: SourceBusy); every wait and
    fetch is bounded by the request's deadline (SourceTimeout). Whole closed days are written back unless
    caller credentials were forwarded.
    """

    def __init__(
        self,
        lake: ParquetLake,
        catalog: Catalog,
        resources: Any,
        *,
        max_days: int = DEFAULT_MAX_DAYS,
        max_waiting: int = DEFAULT_MAX_WAITING,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_fetch: Callable[[str], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_busy: Callable[[str], None] | None = None,
        on_stored: Callable[[SeriesConfig, Evidence, str], None] | None = None,
        on_lake_read: Callable[[str, int], None] | None = None,
    ) -> None:
        self.lake, self.catalog, self.resources = lake, catalog, resources
        self.max_days, self.max_waiting, self.clock = max_days, max_waiting, clock
        self.on_fetch, self.on_error, self.on_busy, self.on_lake_read = on_fetch, on_error, on_busy, on_lake_read
        self.on_stored = on_stored  # records a write-back in the instance; without it nothing is written back
        self._guard = threading.Lock()
        self._inflight: dict[tuple[str, ...], Future[pl.DataFrame]] = {}
        self._source_locks: dict[str, threading.Lock] = {}
        self._waiting: dict[str, int] = {}

    def fetch(self, series: SeriesConfig, day: date, forwarded: Mapping[str, str] | None) -> pl.DataFrame:
        source: Source = getattr(self.resources, source_key(series.source))
        sent = source.forwarded_for(forwarded)
        identity = hashlib.sha256(repr(sorted(sent.items())).encode()).hexdigest()[:16] if sent else ""
        key = (self.catalog.tenant_of(series), series.id, day.isoformat(), identity)
        with self._queued(series.source):
            while True:
                with self._guard:
                    future = self._inflight.get(key)
                    owner = future is None
                    if future is None:
                        future = self._inflight[key] = Future()
                if owner:
                    # Only days of catalog series are stored: a discovered series has no asset to record them under.
                    stored = not sent and series in self.catalog.series
                    return self._own(key, future, series, day, source, forwarded, write_back=stored)
                try:
                    return _result(future, series.source)
                except SourceTimeout as exc:
                    if not exc.cancelled or deadline.current().done():
                        raise
                    # The fetch's owner went away; this request still wants the day: fetch it itself.

    def _own(self, key: tuple[str, ...], future: Future[pl.DataFrame], series: SeriesConfig, day: date,
             source: Source, forwarded: Mapping[str, str] | None, *, write_back: bool) -> pl.DataFrame:
        try:
            frame = self._fetch(series, day, source, forwarded, write_back=write_back)
            future.set_result(frame)
            return frame
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            with self._guard:
                self._inflight.pop(key, None)

    @contextmanager
    def _queued(self, source: str) -> Iterator[None]:
        """A place among the fetches waiting for one source; none left: SourceBusy."""
        with self._guard:
            waiting = self._waiting.get(source, 0)
            if waiting >= self.max_waiting:
                if self.on_busy:
                    self.on_busy(source)
                raise SourceBusy(f"source {source!r}: {waiting} fetches are already waiting for it; "
                                 "try again shortly", retry_after=BUSY_RETRY_AFTER)
            self._waiting[source] = waiting + 1
        try:
            yield
        finally:
            with self._guard:
                self._waiting[source] -= 1

    def _fetch(
        self, series: SeriesConfig, day: date, source: Source, forwarded: Mapping[str, str] | None, *, write_back: bool
    ) -> pl.DataFrame:
        with self._guard:
            lock = self._source_locks.setdefault(series.source, threading.Lock())
        _acquire(lock, series.source)
        try:
            # The API's other worker processes fetch from the same source one at a time with this one.
            with machine_lock(self.lake.root, f"source_{series.source}"):
                return self._fetch_locked(series, day, source, forwarded, write_back=write_back)
        except deadline.DeadlineExceeded as exc:
            raise SourceTimeout(f"source {series.source!r}: busy with other fetches; {exc}",
                                cancelled=exc.cancelled) from None
        finally:
            lock.release()

    def _fetch_locked(self, series: SeriesConfig, day: date, source: Source, forwarded: Mapping[str, str] | None,
                      *, write_back: bool) -> pl.DataFrame:
        dataset = raw_dataset(self.lake, self.catalog, series)
        if self.lake.exists(dataset, day):  # materialized while we waited
            return self.lake.read(dataset, day)
        if self.on_fetch:
            self.on_fetch(series.source)
        try:
            fetched = fetch_day(self.lake, self.catalog, series, source, day, now=self.clock(),
                                forwarded=forwarded)
        except deadline.DeadlineExceeded as exc:  # a source that sleeps through the request's deadline
            raise SourceTimeout(f"source {series.source!r}: {exc}", cancelled=exc.cancelled) from None
        except SourceError:
            if self.on_error:
                self.on_error(series.source)
            raise
        # Written back only as the raw asset would write it: a whole closed day, not read with the caller's
        # credentials, passing the blocking checks; then recorded as that raw partition's materialization.
        if write_back and not fetched.open and self.on_stored is not None and passes_blocking(series, fetched):
            uri = store_day(self.lake, dataset, fetched)
            self.on_stored(series, gather(self.lake, self.catalog, series, fetched), uri)
        return fetched.frame


def stored_events(series: SeriesConfig, evidence: Evidence, uri: str) -> list[Any]:
    """What a read-through write-back records in the instance: the raw partition's materialization, marked as
    the API's, with the evaluations of its checks, exactly as the raw asset would record them."""
    import dagster as dg

    from datahub_assets.metadata import frame_metadata

    fetched = evidence.fetched
    metadata = {**frame_metadata(fetched.frame, TS), "fetched_rows": fetched.fetched.height,
                "materialized_by": "api read-through", "uri": dg.MetadataValue.path(uri)}
    return runless_events(dg.AssetKey(list(raw_path(series))), series, evidence, metadata)


_SLICE = 0.2  # seconds between looks at the deadline while waiting


def _acquire(lock: threading.Lock, source: str) -> None:
    """The source's lock, waited for no longer than the request's deadline (nor after its client left)."""
    limit = deadline.current()
    while not lock.acquire(timeout=limit.bound(_SLICE) if limit.remaining() is not None else _SLICE):
        if limit.done():
            raise SourceTimeout(f"source {source!r}: busy with other fetches; "
                                f"{deadline.DeadlineExceeded(limit.seconds, limit.cancelled)}",
                                cancelled=limit.cancelled)


def _result(future: Future[pl.DataFrame], source: str) -> pl.DataFrame:
    """Another request's fetch of the same day, waited for within this request's deadline."""
    limit = deadline.current()
    while True:
        try:
            return future.result(timeout=_SLICE)
        except FutureTimeout:
            if limit.done():
                raise SourceTimeout(f"source {source!r}: "
                                    f"{deadline.DeadlineExceeded(limit.seconds, limit.cancelled)}",
                                    cancelled=limit.cancelled) from None


def needed_days(
    lake: ParquetLake, dataset: str, *, start: datetime, end: datetime, carry: timedelta | None
) -> tuple[list[date], datetime | None]:
    """The partition days a window needs, and the lower time bound (None: no bound)."""
    last_day = (end - timedelta(microseconds=1)).date()
    if carry is None:
        earlier = [d for d in lake.days(dataset) if d < start.date()]
        return earlier[-1:] + days_between(start.date(), last_day), None
    lower = start - carry
    return days_between(lower.date(), last_day), lower


def read_many(lake: ParquetLake, catalog: Catalog, series: Sequence[SeriesConfig], **window: Any
              ) -> list[pl.LazyFrame]:
    """Each series' readings in a window (see `_read` for the window's terms), as lazy frames."""
    return [f.lazy() if isinstance(f, pl.DataFrame) else f for f in _read(lake, catalog, series, **window)]


def read_frames(lake: ParquetLake, catalog: Catalog, series: Sequence[SeriesConfig], **window: Any
                ) -> list[pl.DataFrame]:
    """`read_many`'s frames collected: those already in memory (slices of cached days) as they are, the
    others collected together."""
    frames = _read(lake, catalog, series, **window)
    lazy = [f for f in frames if isinstance(f, pl.LazyFrame)]
    collected = iter(pl.collect_all(lazy) if lazy else [])
    return [f if isinstance(f, pl.DataFrame) else next(collected) for f in frames]


def _read(
    lake: ParquetLake,
    catalog: Catalog,
    series: Sequence[SeriesConfig],
    *,
    start: datetime,
    end: datetime,
    carry: timedelta | None,
    carry_out: timedelta = timedelta(0),
    through: ReadThrough | None = None,
    forwarded: Mapping[str, str] | None = None,
    as_of: datetime | None = None,
    cache: PartitionCache | None = None,
    today: date | None = None,
) -> list[pl.LazyFrame | pl.DataFrame]:
    """Each series' stored readings in [start - carry, end + carry_out), clean; `carry=None` reaches back to
    the last stored reading however old. Without `through` an unmaterialized day reads as empty; with it,
    missing days up to today are fetched (at most `through.max_days` per call, else TooManyMissingDays).
    With `as_of`, the readings known at that instant, from the partitions' revision history (nothing is
    fetched: a day never stored was not known). With `cache`, closed days (before `today`) are decoded once and
    served from it while their file is unchanged."""
    start, end = as_utc(start), as_utc(end)
    today = today or (through.clock() if through is not None else datetime.now(UTC)).astimezone(UTC).date()
    upper = end + carry_out
    through = None if as_of is not None else through
    plans = []
    missing: dict[str, list[date]] = {}
    for s in series:
        dataset = raw_dataset(lake, catalog, s)
        days, lower = needed_days(lake, dataset, start=start, end=upper, carry=carry)
        stored = lake.versions(dataset, days)  # one look per needed day, never a listing of all days
        absent = []
        if through is not None:
            window_days = [d for d in days if d >= (lower or start).date()]
            # nothing is fetched outside the catalog's partitions
            absent = [d for d in window_days if d not in stored and catalog.partitions.holds(d, today)]
            if absent:
                missing[s.id] = absent
        plans.append((s, dataset, stored, absent, lower))
    if through is not None and sum(len(d) for d in missing.values()) > through.max_days:
        raise TooManyMissingDays(missing, through.max_days)
    frames: list[pl.LazyFrame | pl.DataFrame] = []
    for s, dataset, stored, absent, lower in plans:
        fetched = [through.fetch(s, d, forwarded).lazy() for d in absent] if through is not None else []
        if through is not None and through.on_lake_read and stored:
            through.on_lake_read(s.source, len(stored))
        if cache is not None and as_of is None and not fetched:
            frames.append(cached(lake, dataset, stored, cache, today, lower, upper))
            continue
        if as_of is not None:
            scanned = known_at(lake, dataset, list(stored), as_of)
        elif cache is not None:
            scanned = cached(lake, dataset, stored, cache, today, None, None).lazy()
        else:
            scanned = lake.scan_existing(dataset, list(stored))
        window = pl.col(TS) < bound(upper)
        if lower is not None:
            window = window & (pl.col(TS) >= bound(lower))
        if scanned is not None and not fetched:
            frames.append(scanned.filter(window).set_sorted(TS))
        elif scanned is not None or fetched:
            parts = fetched + ([scanned] if scanned is not None else [])
            frames.append(clean(pl.concat(parts, how="vertical_relaxed").filter(window)))
        else:
            frames.append(pl.LazyFrame(schema=SERIES_SCHEMA))
    return frames


@functools.lru_cache(maxsize=256)
def bound(moment: datetime) -> pl.Expr:
    """A time literal, built once: a zoned datetime literal costs Polars a Series each time."""
    return pl.lit(moment, dtype=TS_DTYPE)


def cached(lake: ParquetLake, dataset: str, stored: Mapping[date, str], cache: PartitionCache, today: date,
           lower: datetime | None, upper: datetime | None) -> pl.DataFrame:
    """The stored days' readings in [lower, upper) (None: unbounded): closed days from the cache, today's read
    as it is. Days are sorted and follow each other, so the window is a slice, found by binary search. The
    frame may be one the cache holds, shared with other threads: it is never changed in place."""
    closed = {day: version for day, version in stored.items() if day < today}
    parts = [closed_days(lake, dataset, closed, cache)] if closed else []
    parts += [flagged(lake.read(dataset, day)) for day in stored if day >= today]
    parts = [part for part in (within(p, lower, upper) for p in parts) if part.height]
    if not parts:
        return pl.DataFrame(schema=SERIES_SCHEMA)
    return parts[0] if len(parts) == 1 else flagged(pl.concat(parts, rechunk=True))


def flagged(frame: pl.DataFrame) -> pl.DataFrame:
    """A new frame whose `ts` is flagged sorted (stored partitions are clean and in day order; a slice keeps
    the flag), so the engine never checks it again."""
    return frame.with_columns(pl.col(TS).set_sorted())


def closed_days(lake: ParquetLake, dataset: str, closed: Mapping[date, str], cache: PartitionCache) -> pl.DataFrame:
    """Closed days joined in one frame, kept whole: each day decoded once (read and kept on a miss), and the
    join of several kept too, under the days' versions together, so a repeated window is a slice of it."""
    if len(closed) > 1:
        key = f"{dataset}@{','.join(day.isoformat() for day in closed)}"
        versions = ",".join(closed.values())
        joined = cache.get(key, versions)
        if joined is None:
            joined = flagged(pl.concat([closed_days(lake, dataset, {day: v}, cache) for day, v in closed.items()],
                                       rechunk=True))
            cache.put(key, versions, joined)
        return joined
    ((day, version),) = closed.items()
    uri = lake.partition(dataset, day)
    frame = cache.get(uri, version)
    if frame is None:
        frame = flagged(lake.read(dataset, day).rechunk())
        cache.put(uri, version, frame)
    return frame


def within(frame: pl.DataFrame, lower: datetime | None, upper: datetime | None) -> pl.DataFrame:
    """The rows of a frame sorted by `ts` with lower <= ts < upper, as a zero-copy slice."""
    ts = stamps(frame)
    first = 0 if lower is None else int(np.searchsorted(ts, to_us(lower)))
    last = len(ts) if upper is None else int(np.searchsorted(ts, to_us(upper)))
    return frame if first == 0 and last == len(ts) else frame.slice(first, max(0, last - first))


def known_at(lake: ParquetLake, dataset: str, days: Sequence[date], at: datetime) -> pl.LazyFrame | None:
    """The stored days' readings as known at `at`: from each day's revision history; a day stored before
    histories were kept counts as learned when its file was written."""
    parts = []
    for day in days:
        history = lake.read_file(dataset, day, HISTORY_FILE)
        if history is None:
            written = lake.modified(dataset, day)
            if written is None or written > at:
                continue
            parts.append(lake.read(dataset, day).lazy())
        else:
            parts.append(versions_at(history.lazy(), at))
    return pl.concat(parts) if parts else None
