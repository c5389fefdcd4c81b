"""The one align path of the API: resolve series for a tenant, check limits, read (lake + read-through),
align with the engine. Every route that answers a grid goes through `align_request`."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import polars as pl

from api.errors import ApiError
from api.models import MIN_INSTANT, AlignRequest, Method, SeriesSelector
from api.work import MemoryBudget, released_on_error
from datahub_assets.cache import PartitionCache
from datahub_assets.engine.align import DEFAULT, Resolution, Tolerance, align, carry_in, carry_out
from datahub_assets.engine.grid import to_us
from datahub_assets.engine.schema import SERIES_SCHEMA, TS
from datahub_assets.window import ReadThrough, TooManyMissingDays, read_frames, read_many
from resources.catalog import Catalog, SeriesConfig, slugify
from resources.durations import parse_duration, quoted
from resources.lake import ParquetLake
from resources.registry import source_key
from resources.settings import Settings
from resources.sources.base import SourceBusy, SourceError, SourceTimeout

T = TypeVar("T")


def _noop() -> None:
    return None


@dataclass(frozen=True)
class Aligned:
    """An answer: the grid `frame` (`ts`, then value_0 .. value_{n-1} in request order), or, for an answer too
    large to hold (a long window), `stream`: the grid day by day, computed as it is sent."""

    frame: pl.DataFrame
    series: list[SeriesConfig]
    start: datetime
    end: datetime
    release: Callable[[], None] = _noop  # gives back the memory reserved for this answer
    quality: bool = False  # the frame holds `value_i__quality` beside each `value_i`
    stream: Callable[[], Iterator[pl.DataFrame]] | None = None
    rows: int = -1  # grid rows (of the stream, when streamed)

    @property
    def columns(self) -> list[str]:
        return [f"value_{i}" for i in range(len(self.series))]

    @property
    def height(self) -> int:
        return self.frame.height if self.stream is None else self.rows

    def pieces(self, rows: int) -> Iterator[pl.DataFrame]:
        """The grid in slices of at most `rows` rows (a stream's days cut the same way)."""
        parts = [self.frame] if self.stream is None else self.stream()
        empty = True
        for part in parts:
            for offset in range(0, part.height, rows):
                empty = False
                yield part.slice(offset, rows)
        if empty:
            yield self.frame.clear()


def tenant_series(catalog: Catalog, tenant: str) -> list[SeriesConfig]:
    return [s for s in catalog.series if catalog.tenant_of(s) == tenant]


def resolve_series(catalog: Catalog, tenant: str, selectors: Sequence[SeriesSelector],
                   discovered: Callable[[], list[SeriesConfig]] | None = None) -> list[SeriesConfig]:
    """Catalog series of this tenant, then those its sources discover; another tenant's series is a 404
    exactly like an unknown one."""
    owned = tenant_series(catalog, tenant)
    found: list[SeriesConfig] | None = None
    out: list[SeriesConfig] = []
    for i, sel in enumerate(selectors):
        if sel.source is not None and (
            sel.source not in catalog.sources or catalog.sources[sel.source].tenant != tenant
        ):
            raise ApiError(404, f"series[{i}].source: unknown source {quoted(sel.source)}")

        def matching(candidates: list[SeriesConfig], sel: SeriesSelector = sel) -> list[SeriesConfig]:
            return [s for s in candidates if s.entity == sel.entity_id and s.attribute == sel.attribute
                    and (sel.source is None or s.source == sel.source)]

        match = matching(owned)
        if not match and discovered is not None:
            found = discovered() if found is None else found
            match = matching(found)
        if not match:
            raise ApiError(404, f"series[{i}]: unknown series {sel.entity_id}.{sel.attribute}")
        if match[0] in out:
            raise ApiError(422, f"series[{i}]: {match[0].id} is listed twice (also series[{out.index(match[0])}])")
        out.append(match[0])
    return out


def discovered_series(ctx: Context, tenant: str, source: str | None = None) -> list[SeriesConfig]:
    """The series the tenant's sources report (`entities()`) that the catalog does not declare; they are read
    from their source on demand, never stored."""
    declared = {(s.source, s.entity, s.attribute) for s in ctx.catalog.series}
    out = []
    for name, entry in ctx.catalog.sources.items():
        if entry.tenant != tenant or (source is not None and name != source):
            continue
        try:
            refs = getattr(ctx.sources, source_key(name)).entities()
        except SourceTimeout as exc:
            raise ApiError(504, str(exc)) from None
        except SourceError as exc:
            raise ApiError(502, str(exc)) from None
        for ref in refs or []:
            if (name, ref.entity, ref.attribute) in declared or not slugify(f"{ref.entity}.{ref.attribute}"):
                continue
            out.append(SeriesConfig(entity=ref.entity, attribute=ref.attribute, source=name, column=ref.column))
    return out


_POINTS = re.compile(r"\s*\+?\d+\s*")


def parse_resolution(value: str | int, field: str = "resolution") -> Resolution:
    if isinstance(value, bool):
        raise ApiError(422, f"{field}: expected a duration, 'raw' or a number of points")
    if isinstance(value, str) and _POINTS.fullmatch(value):
        try:  # `\d` is any Unicode decimal digit, which int() reads; only absurd lengths fail
            value = int(value)
        except ValueError:
            raise ApiError(422, f"{field}: the number of points is too large") from None
    if isinstance(value, int):
        return value
    if value.strip().lower() == "raw":
        return "raw"
    return _duration(value, field, "; or 'raw', or a number of points")


def parse_tolerance(value: str | None) -> Tolerance:
    if value is None:
        return DEFAULT
    if value.strip().lower() == "none":
        return None
    return _duration(value, "tolerance", ", or 'none'")


def _duration(value: str, field: str, alternatives: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ApiError(422, f"{field}: {exc}{alternatives}") from None
    except OverflowError:  # more days than a timedelta holds
        raise ApiError(422, f"{field}: {quoted(value)} is too long") from None


# Memory an answer holds per grid cell and row while it is computed and streamed (the grid, its casts, one
# chunk of encoded text), for the budget of bytes in flight.
BYTES_PER_CELL = 24
BYTES_PER_ROW = 16


def answer_bytes(rows: int, n_series: int) -> int:
    return rows * (n_series * BYTES_PER_CELL + BYTES_PER_ROW)


def check_limits(
    settings: Settings, n_series: int, start: datetime, end: datetime, resolution: Resolution,
    streamed: bool = False,
) -> int | None:
    """Refuse windows and grids beyond the limits (a streamed answer's cells against
    `DATAHUB_MAX_STREAMED_CELLS`); the number of grid rows (None for `raw`: known after reading)."""
    if end <= start:
        raise ApiError(422, "end_time: must be after start_time")
    if end - start > timedelta(days=settings.max_window_days):
        raise ApiError(413, f"end_time: the window exceeds {settings.max_window_days} days; ask for less")
    if isinstance(resolution, int):
        most = settings.max_cells // n_series
        if not 2 <= resolution <= most:
            raise ApiError(422, f"resolution: a number of points must be between 2 and {most}")
        if to_us(end - start) < resolution - 1:
            raise ApiError(422, f"resolution: {resolution} points over this window are closer than 1 microsecond "
                                "apart; ask for fewer points or a longer window")
        return resolution
    if isinstance(resolution, timedelta):
        if resolution < timedelta(milliseconds=1):
            raise ApiError(422, "resolution: must be at least 1ms")
        if resolution > timedelta(days=settings.max_window_days):
            raise ApiError(422, f"resolution: a grid step must be at most {settings.max_window_days}d "
                                "(the longest window)")
        rows = math.ceil(to_us(end - start) / to_us(resolution) + 1)
        cap, name = (max(settings.max_streamed_cells, settings.max_cells), "DATAHUB_MAX_STREAMED_CELLS") \
            if streamed else (settings.max_cells, "DATAHUB_MAX_CELLS")
        if rows * n_series > cap:
            raise ApiError(413, f"resolution: {rows * n_series:,} grid cells requested; at most {cap:,} ({name})")
        return rows
    return None


@dataclass
class Context:
    """What a request needs, from the lifespan state."""

    catalog: Catalog
    lake: ParquetLake
    through: ReadThrough
    settings: Settings
    metrics: Any
    budget: MemoryBudget
    sources: Any = None  # the built resources: the catalog's source resources, for discovery
    cache: PartitionCache | None = None  # closed-day partitions, decoded once


def align_request(
    ctx: Context,
    tenant: str,
    req: AlignRequest,
    *,
    forwarded: Mapping[str, str] | None = None,
    resolution: Resolution | None = None,
    method: Method | None = None,
    streamable: bool = False,
) -> Aligned | None:
    """The aligned grid, or None when no requested series has a reading in [start - carry-in, end)."""
    most = ctx.settings.max_series
    if len(req.series) > most:
        raise ApiError(413, f"series: {len(req.series)} series requested; at most {most} per request")
    series = resolve_series(ctx.catalog, tenant, req.series, lambda: discovered_series(ctx, tenant))
    resolution = parse_resolution(req.resolution) if resolution is None else resolution
    method = method or req.method
    tolerance = parse_tolerance(req.tolerance)
    max_gap = None if req.max_gap is None else _duration(req.max_gap, "max_gap", "")
    check_options(req, method, resolution, max_gap, ctx.settings)
    start, end = req.start_time, req.end_time
    # A format that streams (Arrow, CSV) may ask for more cells than an answer held whole, when the grid can be
    # computed day by day (a step dividing a day).
    by_day = streamable and isinstance(resolution, timedelta) and timedelta(days=1) % resolution == timedelta(0)
    rows = check_limits(ctx.settings, len(series), start, end, resolution, streamed=by_day)
    if rows is not None and method == "minmax":
        rows *= 2  # two rows per bucket
        if isinstance(resolution, int) and to_us(end - start) < 2 * resolution:
            raise ApiError(422, f"resolution: {resolution} buckets over this window are narrower than 2 "
                                "microseconds; ask for fewer")
    cadences = [s.cadence for s in series if s.cadence is not None]
    if isinstance(tolerance, timedelta) and tolerance > timedelta(days=ctx.settings.max_window_days):
        raise ApiError(422, f"tolerance: at most {ctx.settings.max_window_days}d; 'none' carries without limit")
    carry = carry_in(tolerance, resolution, cadences, start=start, end=end, fill=req.fill, max_gap=max_gap) \
        if method == "locf" else timedelta(0)
    ahead = carry_out(req.fill, max_gap) or timedelta(0)
    if carry is not None and carry > start - MIN_INSTANT:
        first = MIN_INSTANT.isoformat().replace("+00:00", "Z")
        raise ApiError(422, f"tolerance: reaches back before {first}; ask for a shorter one or 'none'")
    if by_day and rows is not None and rows * len(series) > ctx.settings.max_cells:
        return _streamed(ctx, series, req, start, end, resolution, method, tolerance, cadences, max_gap,
                         carry, ahead, forwarded, rows)
    release = ctx.budget.reserve(answer_bytes(rows, len(series))) if rows is not None else _noop
    with released_on_error(release):
        frames = _read(ctx, series, start, end, carry, forwarded, ahead=ahead, as_of=req.as_of)
        if all(f.height == 0 for f in frames):
            release()
            return None
        names = [f"value_{i}" for i in range(len(series))]
        if resolution == "raw":
            rows = pl.concat([f.select(TS) for f in frames]).filter(
                (pl.col(TS) >= start) & (pl.col(TS) < end)).n_unique()
            if rows * len(series) > ctx.settings.max_cells:
                raise ApiError(413, f"resolution: 'raw' gives {rows * len(series):,} cells; "
                                    f"at most {ctx.settings.max_cells:,} (DATAHUB_MAX_CELLS)")
            release = ctx.budget.reserve(answer_bytes(rows, len(series)))
        with released_on_error(release):
            grid = align(frames, names, start=start, end=end, resolution=resolution,
                         method=method, tolerance=tolerance, cadences=cadences, fill=req.fill, max_gap=max_gap,
                         quality=req.quality).collect()
    return Aligned(grid, series, start, end, release, req.quality)


def _streamed(ctx: Context, series: list[SeriesConfig], req: AlignRequest, start: datetime, end: datetime,
              resolution: Resolution, method: Method, tolerance: Tolerance, cadences: list[timedelta],
              max_gap: timedelta | None, carry: timedelta | None, ahead: timedelta,
              forwarded: Mapping[str, str] | None, rows: int) -> Aligned | None:
    """A long window, computed and sent day by day: every source read (read-through included) happens now,
    before the answer starts; the stream then reads each day (plus its carry-in) and aligns it. Memory holds
    one day at a time, reserved once."""
    assert isinstance(resolution, timedelta)
    day_rows = math.ceil(timedelta(days=1) / resolution) * (2 if method == "minmax" else 1)
    release = ctx.budget.reserve(3 * answer_bytes(day_rows, len(series)))  # a day's grid, its input, a chunk
    with released_on_error(release):
        lazies = _read_lazy(ctx, series, start, end, carry, forwarded, ahead=ahead, as_of=req.as_of)
        probe = pl.collect_all([f.select(pl.len()) for f in lazies])
        if all(p.item() == 0 for p in probe):
            release()
            return None
    names = [f"value_{i}" for i in range(len(series))]
    first_day = datetime(start.year, start.month, start.day, tzinfo=start.tzinfo)

    def days() -> Iterator[pl.DataFrame]:
        moment = first_day
        while moment < end:
            lo, hi = max(start, moment), min(end, moment + timedelta(days=1))
            moment += timedelta(days=1)
            low = None if carry is None else lo - carry
            window = (pl.col(TS) < hi + ahead) & (pl.col(TS) >= low if low is not None else pl.lit(True))
            frames = pl.collect_all([f.filter(window) for f in lazies])
            yield align(frames, names, start=lo, end=hi, resolution=resolution, method=method,
                        tolerance=tolerance, cadences=cadences, fill=req.fill, max_gap=max_gap,
                        quality=req.quality).collect()

    empty = align([pl.LazyFrame(schema=SERIES_SCHEMA) for _ in series], names, start=start,
                  end=start + resolution, resolution=resolution, method=method, tolerance=tolerance,
                  fill=req.fill, max_gap=max_gap, quality=req.quality).collect().clear()
    return Aligned(empty, series, start, end, release, req.quality, stream=days, rows=rows)


def check_options(req: AlignRequest, method: Method, resolution: Resolution, max_gap: timedelta | None,
                  settings: Settings) -> None:
    """Options that do not fit the method or each other: 422 naming the field."""
    if req.tolerance is not None and method != "locf":
        raise ApiError(422, f"tolerance: applies to method 'locf' only, not {method!r}")
    if resolution == "raw" and method != "locf":
        raise ApiError(422, f"method: resolution 'raw' carries values forward; {method!r} needs a grid step")
    if req.fill == "linear":
        if method != "locf":
            raise ApiError(422, f"fill: 'linear' fills onto grid times; method {method!r} aggregates")
        if req.tolerance is not None:
            raise ApiError(422, "tolerance: applies to fill 'locf'; a linear fill is bounded by max_gap")
        if max_gap is None:
            raise ApiError(422, "max_gap: fill 'linear' needs the longest gap to fill, a duration like 2h")
    elif max_gap is not None:
        raise ApiError(422, "max_gap: bounds fill 'linear' only")
    if max_gap is not None and max_gap > timedelta(days=settings.max_window_days):
        raise ApiError(422, f"max_gap: at most {settings.max_window_days}d")


def _read(ctx: Context, series: list[SeriesConfig], start: datetime, end: datetime, carry: timedelta | None,
          forwarded: Mapping[str, str] | None, *, ahead: timedelta = timedelta(0),
          as_of: datetime | None = None) -> list[pl.DataFrame]:
    """Lake partitions (closed days from the cache) plus read-through, or the revision history with `as_of`."""
    return _sourced(lambda: read_frames(ctx.lake, ctx.catalog, series, start=start, end=end, carry=carry,
                                        carry_out=ahead, through=ctx.through, forwarded=forwarded, as_of=as_of,
                                        cache=ctx.cache))


def _read_lazy(ctx: Context, series: list[SeriesConfig], start: datetime, end: datetime, carry: timedelta | None,
               forwarded: Mapping[str, str] | None, *, ahead: timedelta = timedelta(0), as_of: datetime | None = None
               ) -> list[pl.LazyFrame]:
    """The series' readings as lazy frames, every source read done (a long window reads them day by day)."""
    return _sourced(lambda: read_many(ctx.lake, ctx.catalog, series, start=start, end=end, carry=carry,
                                      carry_out=ahead, through=ctx.through, forwarded=forwarded, as_of=as_of))


def _sourced(read: Callable[[], T]) -> T:
    """`read()`, its source failures as the API's 409, 502, 503 and 504."""
    try:
        return read()
    except TooManyMissingDays as exc:
        raise ApiError(409, missing_days_message(exc)) from None
    except SourceBusy as exc:
        raise ApiError(503, str(exc), headers={"Retry-After": str(exc.retry_after)}) from None
    except SourceTimeout as exc:
        raise ApiError(504, str(exc)) from None
    except SourceError as exc:
        raise ApiError(502, str(exc)) from None


def missing_days_message(exc: TooManyMissingDays) -> str:
    parts = []
    for series_id, days in exc.missing.items():
        span = days[0].isoformat() if len(days) == 1 else f"{days[0].isoformat()}..{days[-1].isoformat()}"
        parts.append(f"{series_id}: {len(days)} days ({span})")
    return (f"start_time/end_time: {exc}; not materialized: {'; '.join(parts)}. Materialize them first "
            "(Dagster UI backfill, `datahub materialize --select ... --partition DAY..DAY`, or "
            "POST /api/datahub/materializations), or ask for a shorter window")
