"""The alignment engine: several clean series onto one time grid (DESIGN section 6).

Inputs are clean series frames (`schema.clean`): `ts` sorted and unique, `value` without nulls.
Pure: no I/O, no clock. Results are LazyFrames; LOCF and the aggregates collect their inputs once and run the
compiled kernels (`kernels`) on them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Final, Literal, get_args

import numpy as np
import polars as pl

from datahub_assets.engine.arrays import stamps, with_nulls
from datahub_assets.engine.buckets import edges, reduced
from datahub_assets.engine.downsample import minmax
from datahub_assets.engine.fill import FILLS, Fill, bucket_quality, carried, interpolated, quality_name
from datahub_assets.engine.grid import (
    as_utc,
    bucket_labels,
    count_grid,
    count_step,
    default_tolerance,
    duration_grid,
)
from datahub_assets.engine.kernels import each
from datahub_assets.engine.schema import TS, TS_DTYPE

Method = Literal["locf", "mean", "min", "max", "sum", "first", "last", "count", "minmax"]
METHODS: Final = frozenset(get_args(Method))
AGGREGATES: Final = METHODS - {"locf", "minmax"}  # one value per bucket; minmax gives two rows per bucket
Resolution = timedelta | int | Literal["raw"]
Frame = pl.LazyFrame | pl.DataFrame  # a clean series, lazy or in memory


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Final = _Default()
Tolerance = timedelta | None | _Default

def carry_forward(
    grid: pl.Series,
    frames: Sequence[Frame],
    names: Sequence[str],
    *,
    tolerance: timedelta | None,
    fill: Fill = "locf",
    max_gap: timedelta | None = None,
    quality: bool = False,
) -> pl.LazyFrame:
    """Each series onto the sorted grid `grid`.

    fill "locf": each cell at t holds the series' last observation with ts <= t and t - ts <= tolerance, else
    null (`tolerance=None` carries without limit). fill "linear": see `fill.interpolated` (`max_gap` bounds
    the readings' distance, no tolerance applies). quality: a `<name>__quality` column after each value column.
    """
    _check_names(frames, names, quality=quality)
    _check_fill(fill, max_gap)
    grid = grid.cast(TS_DTYPE).alias(TS).set_sorted()
    if fill == "linear":
        grid_lf = pl.LazyFrame([grid])
        linear = [interpolated(grid_lf, frame.lazy(), name, max_gap=max_gap, quality=quality)
                  for frame, name in zip(frames, names, strict=True)]
        return pl.concat([grid_lf, *linear], how="horizontal", strict=True)
    cells = stamps(grid)
    return side_by_side(grid, frames, names,
                        lambda frame, name: carried(cells, frame, name, tolerance=tolerance, quality=quality))


def aggregate(
    labels: pl.Series,
    frames: Sequence[Frame],
    names: Sequence[str],
    *,
    start: datetime,
    end: datetime,
    method: Method,
    quality: bool = False,
) -> pl.LazyFrame:
    """Bucket aggregates labelled by `labels` (sorted): bucket t holds the observations in [start, end)
    whose greatest label <= ts is t (for epoch-aligned labels of a width: ts floored to a multiple of it).
    Empty buckets are null (count: 0).
    quality: a `<name>__quality` column after each value column (0 where the bucket holds readings, else 3).
    """
    _check_names(frames, names, quality=quality)
    if method not in AGGREGATES:
        raise ValueError(f"unknown aggregate {method!r}; one of {sorted(AGGREGATES)}")
    labels = labels.cast(TS_DTYPE).alias(TS).set_sorted()
    at = stamps(labels)
    repeats = bool((at[1:] <= at[:-1]).any())  # a point grid finer than 1 us repeats labels
    distinct = labels.unique(maintain_order=True) if repeats else labels
    bounds = edges(distinct, start=start, end=end)
    back = None if len(distinct) == len(labels) else np.searchsorted(stamps(distinct), stamps(labels))

    def columns(frame: pl.DataFrame, name: str) -> list[pl.Series]:
        out, counts = reduced(frame, bounds, method)
        if back is not None:
            out, counts = out[back], counts[back]
        value = pl.Series(name, counts, dtype=pl.Float64) if method == "count" else \
            with_nulls(name, out, counts > 0)
        return [value, bucket_quality(counts, name, method=method)] if quality else [value]

    return side_by_side(labels, frames, names, columns)


def align(
    frames: Sequence[Frame],
    names: Sequence[str],
    *,
    start: datetime,
    end: datetime,
    resolution: Resolution,
    method: Method = "locf",
    tolerance: Tolerance = DEFAULT,
    cadences: Sequence[timedelta] = (),
    fill: Fill = "locf",
    max_gap: timedelta | None = None,
    quality: bool = False,
) -> pl.LazyFrame:
    """Align clean series frames onto one grid over [start, end); columns `ts`, then `names` in order.

    resolution: a duration (epoch-aligned grid), an int n (n points from start to end, both included)
    or "raw" (the union of all series' timestamps in the window, each carried forward).
    tolerance: for `locf` and `raw`; DEFAULT applies the default rule, None carries without limit.
    cadences: the catalog cadences of the series, for the default tolerance of `raw`.
    fill: for `locf` and `raw`: "locf" (carry the last reading) or "linear" (interpolate between readings
    at most `max_gap` apart, None: any distance; the tolerance does not apply).
    quality: add a UInt8 `<name>__quality` column after each value column (codes in `fill`).
    method "minmax" (charts): two rows per bucket holding its min and max in time order (`downsample.minmax`);
    an int resolution then counts buckets (e.g. pixel columns), not points; no tolerance applies.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; one of {sorted(METHODS)}")
    _check_fill(fill, max_gap)
    if fill != "locf" and method != "locf":
        raise ValueError(f"fill {fill!r} fills point samples; method {method!r} aggregates buckets")

    def carry(grid: pl.Series, step: timedelta) -> pl.LazyFrame:
        return carry_forward(grid, frames, names, tolerance=resolve_tolerance(tolerance, step), fill=fill,
                             max_gap=max_gap, quality=quality)

    if resolution == "raw":
        if method != "locf":
            raise ValueError(f"resolution 'raw' carries values forward; method {method!r} needs a grid step")
        step = max(cadences, default=timedelta(0))
        grid = union_grid(frames, start=start, end=end)
        return carry(grid, step)
    if isinstance(resolution, bool) or not isinstance(resolution, (int, timedelta)):
        raise ValueError(f"resolution must be a duration, a point count or 'raw', got {resolution!r}")
    if method == "minmax":
        _check_names(frames, names, quality=quality)
        return minmax([f.lazy() for f in frames], names, start=start, end=end, resolution=resolution, quality=quality)
    if isinstance(resolution, int):
        grid = count_grid(start, end, resolution)
        step = count_step(start, end, resolution)
        if method == "locf":
            return carry(grid, step)
        return aggregate(grid, frames, names, start=start, end=end, method=method, quality=quality)
    if method == "locf":
        return carry(duration_grid(start, end, resolution), resolution)
    labels = bucket_labels(start, end, resolution)
    return aggregate(labels, frames, names, start=start, end=end, method=method, quality=quality)


def resolve_tolerance(tolerance: Tolerance, step: timedelta) -> timedelta | None:
    if isinstance(tolerance, _Default):
        return default_tolerance(step)
    if tolerance is not None and tolerance < timedelta(0):
        raise ValueError(f"tolerance must not be negative, got {tolerance}")
    return tolerance


def union_grid(frames: Sequence[Frame], *, start: datetime, end: datetime) -> pl.Series:
    """The sorted union of all frames' timestamps in [start, end)."""
    start, end = as_utc(start), as_utc(end)
    stamps = [f.lazy().select(TS).filter((pl.col(TS) >= start) & (pl.col(TS) < end)) for f in frames]
    if not stamps:
        return pl.Series(TS, [], dtype=TS_DTYPE)
    return pl.concat(stamps).unique().sort(TS).collect().get_column(TS)


def carry_in(
    tolerance: Tolerance,
    resolution: Resolution,
    cadences: Sequence[timedelta] = (),
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    fill: Fill = "locf",
    max_gap: timedelta | None = None,
) -> timedelta | None:
    """How far before `start` a reader must look so the first cells can carry a value in (None: unlimited).
    A point-count grid needs the window (`start`, `end`) to know its step; without it: unlimited.
    With fill "linear" it is `max_gap` (the reading before the first cell)."""
    _check_fill(fill, max_gap)
    if fill == "linear":
        return max_gap
    if isinstance(resolution, timedelta):
        return resolve_tolerance(tolerance, resolution)
    if resolution == "raw":
        return resolve_tolerance(tolerance, max(cadences, default=timedelta(0)))
    if start is not None and end is not None:
        return resolve_tolerance(tolerance, count_step(start, end, resolution))
    return None


def carry_out(fill: Fill = "locf", max_gap: timedelta | None = None) -> timedelta | None:
    """How far from `end` on a reader must look so the last cells can be filled (None: unlimited): nothing
    for "locf"; `max_gap` for "linear" (the reading after the last cell; include a reading at `end`)."""
    _check_fill(fill, max_gap)
    return max_gap if fill == "linear" else timedelta(0)


def _check_fill(fill: str, max_gap: timedelta | None) -> None:
    if fill not in FILLS:
        raise ValueError(f"unknown fill {fill!r}; one of {sorted(FILLS)}")
    if max_gap is not None and fill != "linear":
        raise ValueError("max_gap applies to fill 'linear' only")
    if max_gap is not None and max_gap <= timedelta(0):
        raise ValueError(f"max_gap must be positive, got {max_gap}")


def side_by_side(grid: pl.Series, frames: Sequence[Frame], names: Sequence[str],
                 columns: Callable[[pl.DataFrame, str], list[pl.Series]]) -> pl.LazyFrame:
    """`grid`, then the columns of each series (computed on the cores' threads when the series are large)."""
    data = collected(frames)
    pairs = list(zip(data, names, strict=True))
    per_series = each(lambda pair: columns(*pair), pairs, sum(f.height for f in data))
    return pl.DataFrame([grid, *(c for cs in per_series for c in cs)]).lazy()


def collected(frames: Sequence[Frame]) -> list[pl.DataFrame]:
    """The frames in memory (lazy ones collected together)."""
    lazy = [f for f in frames if isinstance(f, pl.LazyFrame)]
    done = iter(pl.collect_all(lazy)) if lazy else iter(())
    return [next(done) if isinstance(f, pl.LazyFrame) else f for f in frames]


def _check_names(frames: Sequence[Frame], names: Sequence[str], *, quality: bool = False) -> None:
    if len(frames) != len(names):
        raise ValueError(f"{len(frames)} frames but {len(names)} names")
    columns = [*names, *(quality_name(n) for n in names)] if quality else list(names)
    if len(set(columns)) != len(columns):
        raise ValueError(f"column names must be unique, got {columns}")
    if TS in names:
        raise ValueError(f"{TS!r} is reserved for the grid column")
