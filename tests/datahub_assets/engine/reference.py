"""Naive pure-Python references for the engine (DESIGN section 6), and small frame helpers for the tests.

Times are whole integers in one unit (seconds unless said otherwise); a series is a list of (time, value)
pairs; a missing value is None. Everything here is deliberately plain loops, so it can be read against the
design text line by line.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import polars as pl

from datahub_assets.engine.schema import TS, TS_DTYPE, VALUE

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Pairs = Sequence[tuple[int, float | None]]


def at(seconds: int | float) -> datetime:
    """The UTC instant `seconds` after the epoch."""
    return EPOCH + timedelta(seconds=seconds)


def seconds_of(t: datetime) -> float:
    return (t - EPOCH).total_seconds()


def span(stamps: pl.Series) -> tuple[datetime, datetime]:
    """The first and last instant of a datetime column."""
    first, last = stamps.min(), stamps.max()
    assert isinstance(first, datetime)
    assert isinstance(last, datetime)
    return first, last


def series(pairs: Pairs, *, unit: timedelta = timedelta(seconds=1)) -> pl.LazyFrame:
    """A canonical series frame from (time in `unit`, value) pairs, rows kept as given."""
    return pl.LazyFrame(
        {TS: [EPOCH + t * unit for t, _ in pairs], VALUE: [v for _, v in pairs]},
        schema={TS: TS_DTYPE, VALUE: pl.Float64},
    )


def frame(times: Sequence[int], columns: dict[str, Sequence[float | None]], *, unit: timedelta = timedelta(seconds=1)
          ) -> pl.DataFrame:
    """An expected engine output: `ts` (from times in `unit`) then the given columns, all Float64."""
    data: dict[str, list[object]] = {TS: [EPOCH + t * unit for t in times]}
    schema: dict[str, pl.DataType] = {TS: TS_DTYPE}
    for name, values in columns.items():
        data[name] = list(values)
        schema[name] = pl.Float64()
    return pl.DataFrame(data, schema=schema)


# --- clean --------------------------------------------------------------------------------------------


def ref_clean(pairs: Pairs) -> list[tuple[int, float]]:
    """Drop null/NaN values, then for each stamp keep the last row in arrival order; sorted by time."""
    kept: dict[int, float] = {}
    for t, v in pairs:
        if v is None or math.isnan(v):
            continue
        kept[t] = v  # a later row overwrites an earlier one
    return sorted(kept.items())


# --- grids --------------------------------------------------------------------------------------------


def ref_duration_grid(start: int, end: int, step: int) -> list[int]:
    """Multiples of step (from 0, the epoch) in [start, end), by walking every multiple near the window."""
    out = []
    k = start // step - 1
    while k * step < end:
        if k * step >= start:
            out.append(k * step)
        k += 1
    return out


def ref_bucket_labels(start: int, end: int, step: int) -> list[int]:
    """Labels t of epoch-aligned buckets [t, t + step) that overlap [start, end)."""
    out = []
    k = start // step - 1
    while k * step < end:
        if k * step + step > start:
            out.append(k * step)
        k += 1
    return out


def ref_default_tolerance(step: timedelta) -> timedelta:
    tol = 4 * step
    if tol < timedelta(minutes=15):
        tol = timedelta(minutes=15)
    if tol > timedelta(hours=24):
        tol = timedelta(hours=24)
    return tol


# --- alignment ----------------------------------------------------------------------------------------


def ref_locf(grid: Sequence[int], obs: Pairs, tolerance: float | None) -> list[float | None]:
    """For each grid time t: the value of the last observation with ts <= t, if t - ts <= tolerance."""
    times = [t for t, _ in obs]
    out: list[float | None] = []
    for t in grid:
        i = bisect.bisect_right(times, t) - 1
        if i < 0:
            out.append(None)
            continue
        ts, v = obs[i]
        out.append(v if tolerance is None or t - ts <= tolerance else None)
    return out


def ref_locf_loop(grid: Sequence[int], obs: Pairs, tolerance: float | None) -> list[float | None]:
    """The same as ref_locf by a plain scan over all observations (for small inputs)."""
    out: list[float | None] = []
    for t in grid:
        best: tuple[int, float | None] | None = None
        for ts, v in obs:
            if ts <= t and (best is None or ts > best[0]):
                best = (ts, v)
        out.append(None if best is None or (tolerance is not None and t - best[0] > tolerance) else best[1])
    return out


def _agg(values: list[float], method: str) -> float | None:
    if method == "count":
        return float(len(values))
    if not values:
        return None
    if method == "mean":
        return sum(values) / len(values)
    if method == "sum":
        return float(sum(values))
    if method == "min":
        return min(values)
    if method == "max":
        return max(values)
    if method == "first":
        return values[0]
    if method == "last":
        return values[-1]
    raise ValueError(method)


def ref_aggregate(labels: Sequence[int], step: int, obs: Pairs, start: int, end: int, method: str
                  ) -> list[float | None]:
    """Bucket label t holds the observations with start <= ts < end and t <= ts < t + step."""
    out = []
    for label in labels:
        values = [v for ts, v in obs if start <= ts < end and label <= ts < label + step and v is not None]
        out.append(_agg(values, method))
    return out


def ref_aggregate_by_label(labels: Sequence[int], obs: Pairs, start: int, end: int, method: str
                           ) -> list[float | None]:
    """Label t holds the observations with start <= ts < end whose greatest label <= ts is t (point grids)."""
    groups: dict[int, list[float]] = {label: [] for label in labels}
    for ts, v in obs:
        if not start <= ts < end or v is None:
            continue
        below = [label for label in labels if label <= ts]
        if below:
            groups[max(below)].append(v)
    return [_agg(groups[label], method) for label in labels]


def ref_window(obs: Pairs, start: int, end: int) -> list[tuple[int, float | None]]:
    return [(ts, v) for ts, v in obs if start <= ts < end]


def ref_union(all_obs: Sequence[Pairs], start: int, end: int) -> list[int]:
    stamps: set[int] = set()
    for obs in all_obs:
        for ts, _ in obs:
            if start <= ts < end:
                stamps.add(ts)
    return sorted(stamps)


# --- quality codes and linear fill (DESIGN section 9b) ------------------------------------------------

MEASURED, CARRIED, INTERPOLATED, MISSING = 0, 1, 2, 3


def ref_locf_codes(grid: Sequence[int], obs: Pairs, tolerance: float | None) -> list[int]:
    """0 where a reading lies at t, 1 where an earlier one is carried (within tolerance), else 3."""
    codes = []
    for t in grid:
        earlier = [ts for ts, _ in obs if ts <= t]
        if not earlier or (tolerance is not None and t - max(earlier) > tolerance):
            codes.append(MISSING)
        else:
            codes.append(MEASURED if max(earlier) == t else CARRIED)
    return codes


def ref_linear(grid: Sequence[int], obs: Pairs, max_gap: float | None) -> tuple[list[float | None], list[int]]:
    """A reading at t: itself (0). Strictly between readings p < t < n with n - p <= max_gap: the straight
    line through them at t (2). Anything else: null (3)."""
    values: list[float | None] = []
    codes = []
    for t in grid:
        here = [v for ts, v in obs if ts == t]
        before = [(ts, v) for ts, v in obs if ts < t]
        after = [(ts, v) for ts, v in obs if ts > t]
        if here:
            values.append(here[0])
            codes.append(MEASURED)
        elif before and after and (max_gap is None or after[0][0] - before[-1][0] <= max_gap):
            (t0, v0), (t1, v1) = before[-1], after[0]
            assert v0 is not None and v1 is not None
            values.append(v0 + (v1 - v0) * (t - t0) / (t1 - t0))
            codes.append(INTERPOLATED)
        else:
            values.append(None)
            codes.append(MISSING)
    return values, codes


def ref_bucket_codes(counts: Sequence[float | None], method: str) -> list[int]:
    """Aggregates, from each bucket's count of readings: 0 where it holds readings, 3 where it is empty;
    a count is never missing."""
    if method == "count":
        return [MEASURED for _ in counts]
    return [MEASURED if c else MISSING for c in counts]


# --- min/max downsampling -----------------------------------------------------------------------------


def ref_pixel_starts(start: int, end: int, n: int) -> list[int]:
    """n bucket starts splitting [start, end) evenly, floored: start + floor(k * span / n)."""
    return [start + (k * (end - start)) // n for k in range(n)]


def ref_minmax(starts: Sequence[int], ends: Sequence[int], obs: Pairs, start: int, end: int
               ) -> tuple[list[int], list[float | None]]:
    """Two rows per bucket [s, e), at s and s + (e - s) // 2: the min and max of its readings in [start, end)
    in the order they occurred (the first occurrence of each), or two nulls when it has none."""
    times: list[int] = []
    values: list[float | None] = []
    for s, e in zip(starts, ends, strict=True):
        times += [s, s + (e - s) // 2]
        inside = [v for ts, v in obs if start <= ts < end and s <= ts < e and v is not None]
        if not inside:
            values += [None, None]
            continue
        lo, hi = min(inside), max(inside)
        values += [lo, hi] if inside.index(lo) <= inside.index(hi) else [hi, lo]
    return times, values
