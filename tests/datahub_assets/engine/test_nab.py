"""Real data, Numenta Anomaly Benchmark (numenta/NAB, MIT): duplicates, time going backwards, irregular sampling.

The files hold naive local stamps; these tests take them as UTC (what `to_canonical` does with naive stamps).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from datahub_assets.engine.align import DEFAULT, Tolerance, align
from datahub_assets.engine.quality import quality
from datahub_assets.engine.schema import SERIES_SCHEMA, TS, VALUE, clean
from tests.datahub_assets.engine.reference import (
    at,
    frame,
    ref_clean,
    ref_default_tolerance,
    ref_duration_grid,
    ref_locf,
    ref_union,
    seconds_of,
    span,
)

FIVE_MIN = timedelta(minutes=5)


def read_nab(real_data: Path, name: str) -> pl.LazyFrame:
    """The file as published, rows in file order: ts naive, value as parsed."""
    return pl.scan_csv(real_data / "nab" / f"{name}.csv", try_parse_dates=True).rename({"timestamp": TS})


def pairs(lf: pl.LazyFrame) -> list[tuple[int, float]]:
    """(whole seconds since the epoch, value) in file order, naive stamps as UTC."""
    df = lf.collect()
    return [(int(seconds_of(t.replace(tzinfo=UTC))), float(v)) for t, v in df.iter_rows()]


@pytest.mark.parametrize(
    ("name", "rows", "stamp", "values"),
    [
        ("speed_t4013", 2_495, datetime(2015, 9, 10, 5, 33), (66.0, 62.0)),
        ("occupancy_t4013", 2_500, datetime(2015, 9, 10, 5, 33), (2.56, 8.94)),
    ],
)
def test_duplicate_stamp_last_row_wins(real_data: Path, name: str, rows: int, stamp: datetime,
                                       values: tuple[float, float]) -> None:
    raw = read_nab(real_data, name)
    dup = raw.filter(pl.col(TS) == stamp).collect()
    assert dup.get_column(VALUE).cast(pl.Float64).to_list() == list(values)
    assert raw.select(pl.len()).collect().item() == rows

    out = clean(raw).collect()
    assert out.schema == SERIES_SCHEMA
    assert out.height == rows - 1
    assert out.get_column(TS).is_sorted()
    assert out.filter(pl.col(TS) == stamp.replace(tzinfo=UTC)).get_column(VALUE).to_list() == [values[1]]
    expected = ref_clean(pairs(raw))
    assert_frame_equal(out, frame([t for t, _ in expected], {VALUE: [v for _, v in expected]}))

    first, last = span(out[TS])
    counts = quality(raw, start=first, end=last + FIVE_MIN).collect().row(0, named=True)
    assert (counts["rows"], counts["duplicates"], counts["backwards"], counts["nulls"]) == (rows, 1, 0, 0)


def test_machine_temperature_goes_backwards(real_data: Path) -> None:
    raw = read_nab(real_data, "machine_temperature_system_failure")
    stamps = raw.select(TS).collect().get_column(TS)
    assert not stamps.is_sorted()
    repeated = [datetime(2014, 1, 7, 2, m) for m in range(0, 60, 5)]
    assert stamps.filter(stamps.is_duplicated()).unique().sort().to_list() == repeated

    out = clean(raw).collect()
    assert out.get_column(TS).is_sorted()
    assert out.get_column(TS).n_unique() == out.height == stamps.len() - len(repeated)
    # the repeat comes later in the file, so its values are the ones kept
    second = raw.with_row_index().filter(pl.col(TS).is_in(repeated) & pl.col(TS).is_duplicated())
    later = second.group_by(TS).agg(pl.col(VALUE).last()).sort(TS).collect()
    kept = out.filter(pl.col(TS).is_in([t.replace(tzinfo=UTC) for t in repeated])).get_column(VALUE)
    assert kept.to_list() == later.get_column(VALUE).to_list()
    expected = ref_clean(pairs(raw))
    assert_frame_equal(out, frame([t for t, _ in expected], {VALUE: [v for _, v in expected]}))

    first, last = span(out[TS])
    start, end = datetime(2013, 12, 2, tzinfo=UTC), last + FIVE_MIN
    counts = quality(raw, start=start, end=end, max_gap=timedelta(hours=1)).collect().row(0, named=True)
    assert counts["rows"] == stamps.len()
    assert counts["backwards"] == 1
    assert counts["duplicates"] == len(repeated)
    assert counts["gaps"] >= 1  # the file has outages of hours
    assert (counts["first_ts"], counts["last_ts"]) == (first, last)


# --- two irregular series on one grid ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def traffic(real_data: Path) -> dict[str, Any]:
    """speed_6005 and TravelTime_387, clean, over the span where both report."""
    names = ["speed", "travel"]
    raws = [read_nab(real_data, "speed_6005"), read_nab(real_data, "TravelTime_387")]
    frames = [clean(r).collect() for r in raws]
    obs = [ref_clean(pairs(r)) for r in raws]
    shared = set.intersection(*({t for t, _ in o} for o in obs))
    spans = [span(f[TS]) for f in frames]
    start = max(first for first, _ in spans)
    end = min(last for _, last in spans)
    return {"names": names, "frames": frames, "obs": obs, "shared": shared, "start": start, "end": end}


def test_traffic_series_are_irregular(traffic: dict[str, Any]) -> None:
    assert len(traffic["shared"]) == 88
    for f in traffic["frames"]:
        steps = f.get_column(TS).diff().drop_nulls()
        assert steps.n_unique() > 30
        assert steps.max() > timedelta(days=1)


@pytest.mark.parametrize("tolerance", [DEFAULT, None, timedelta(minutes=7)], ids=["default", "none", "7min"])
@pytest.mark.parametrize("offset", [timedelta(0), timedelta(minutes=2, seconds=30)], ids=["aligned", "offset"])
def test_traffic_on_five_minute_grid(traffic: dict[str, Any], tolerance: Tolerance, offset: timedelta) -> None:
    start, end = traffic["start"] + offset, traffic["end"]
    lazy = [f.lazy() for f in traffic["frames"]]
    out = align(lazy, traffic["names"], start=start, end=end, resolution=FIVE_MIN, tolerance=tolerance).collect()

    lo, hi = int(seconds_of(start)), int(seconds_of(end))
    grid = ref_duration_grid(lo, hi, 300)
    tol = {DEFAULT: ref_default_tolerance(FIVE_MIN), None: None}.get(tolerance, tolerance)  # type: ignore[arg-type]
    tol_s = None if tol is None else tol.total_seconds()
    expected = frame(grid, {n: ref_locf(grid, o, tol_s) for n, o in zip(traffic["names"], traffic["obs"], strict=True)})
    assert_frame_equal(out, expected)
    assert out.height > 1_000
    if tolerance is None:
        assert out.null_count().sum_horizontal().item() == 0
    else:
        assert out.null_count().sum_horizontal().item() > 0  # the gaps longer than the tolerance


@pytest.mark.parametrize(
    ("tolerance", "cadences"),
    [(DEFAULT, (FIVE_MIN, timedelta(minutes=10))), (DEFAULT, ()), (None, ())],
    ids=["default-10min", "default-floor", "none"],
)
def test_traffic_on_raw_grid(traffic: dict[str, Any], tolerance: Tolerance, cadences: tuple[timedelta, ...]) -> None:
    start, end = traffic["start"], traffic["end"]
    lazy = [f.lazy() for f in traffic["frames"]]
    out = align(lazy, traffic["names"], start=start, end=end, resolution="raw", tolerance=tolerance,
                cadences=cadences).collect()

    lo, hi = int(seconds_of(start)), int(seconds_of(end))
    grid = ref_union(traffic["obs"], lo, hi)
    tol = ref_default_tolerance(max(cadences, default=timedelta(0))) if tolerance is DEFAULT else None
    tol_s = None if tol is None else tol.total_seconds()
    expected = frame(grid, {n: ref_locf(grid, o, tol_s) for n, o in zip(traffic["names"], traffic["obs"], strict=True)})
    assert_frame_equal(out, expected)
    # the union: nearly every stamp belongs to one series only
    in_window = [sum(1 for t, _ in o if lo <= t < hi) for o in traffic["obs"]]
    assert out.height == sum(in_window) - sum(1 for t in traffic["shared"] if lo <= t < hi)
    assert out.height > max(in_window)
    assert at(lo) == out[TS].min()
