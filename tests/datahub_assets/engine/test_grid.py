"""grid: epoch-aligned duration grids, bucket labels, point-count grids, the default tolerance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_series_equal

from datahub_assets.engine.grid import (
    bucket_labels,
    count_grid,
    count_step,
    default_tolerance,
    duration_grid,
    from_us,
    to_us,
)
from datahub_assets.engine.schema import TS, TS_DTYPE
from tests.datahub_assets.engine.reference import (
    at,
    ref_bucket_labels,
    ref_default_tolerance,
    ref_duration_grid,
)


def stamps(*values: datetime) -> pl.Series:
    return pl.Series(TS, list(values), dtype=TS_DTYPE)


def seconds(*values: int) -> pl.Series:
    return stamps(*(at(v) for v in values))


def assert_grid_invariants(grid: pl.Series, start: datetime, end: datetime) -> None:
    """Sorted, unique, inside [start, end), canonical dtype."""
    assert grid.dtype == TS_DTYPE
    assert grid.is_sorted()
    assert grid.n_unique() == grid.len()
    if grid.len():
        assert grid.min() >= start  # type: ignore[operator]
        assert grid.max() < end  # type: ignore[operator]


# --- duration grids ---------------------------------------------------------------------------------------


def test_duration_grid_start_not_aligned() -> None:
    grid = duration_grid(at(7), at(45), timedelta(seconds=10))
    assert_series_equal(grid, seconds(10, 20, 30, 40))


def test_duration_grid_includes_aligned_start_excludes_end() -> None:
    grid = duration_grid(at(10), at(40), timedelta(seconds=10))
    assert_series_equal(grid, seconds(10, 20, 30))


def test_duration_grid_counts_from_epoch_not_from_start() -> None:
    start = datetime(2024, 1, 1, 0, 7, tzinfo=UTC)
    grid = duration_grid(start, start + timedelta(hours=1), timedelta(minutes=15))
    expected = [datetime(2024, 1, 1, 0, m, tzinfo=UTC) for m in (15, 30, 45)] + [datetime(2024, 1, 1, 1, 0, tzinfo=UTC)]
    assert_series_equal(grid, stamps(*expected))


def test_duration_grid_empty_when_no_multiple_inside() -> None:
    assert duration_grid(at(11), at(19), timedelta(seconds=10)).len() == 0


def test_one_day_grid_is_utc_calendar_days() -> None:
    # a window given in Berlin time across the spring DST change: still UTC midnights
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2024, 3, 29, 12, tzinfo=berlin)
    end = datetime(2024, 4, 2, 0, 30, tzinfo=berlin)  # 2024-04-01 22:30 UTC
    grid = duration_grid(start, end, timedelta(days=1))
    assert_series_equal(grid, stamps(*(datetime(2024, 3, d, tzinfo=UTC) for d in (30, 31)),
                                     datetime(2024, 4, 1, tzinfo=UTC)))


def test_one_day_grid_naive_window_is_utc() -> None:
    grid = duration_grid(datetime(2024, 1, 1, 6), datetime(2024, 1, 3), timedelta(days=1))
    assert_series_equal(grid, stamps(datetime(2024, 1, 2, tzinfo=UTC)))


@pytest.mark.parametrize("every", [timedelta(0), timedelta(seconds=-5)])
def test_duration_grid_rejects_non_positive_step(every: timedelta) -> None:
    with pytest.raises(ValueError):
        duration_grid(at(0), at(100), every)


@pytest.mark.parametrize("end", [at(0), at(-1)])
def test_grids_reject_empty_window(end: datetime) -> None:
    with pytest.raises(ValueError):
        duration_grid(at(0), end, timedelta(seconds=1))
    with pytest.raises(ValueError):
        bucket_labels(at(0), end, timedelta(seconds=1))
    with pytest.raises(ValueError):
        count_grid(at(0), end, 3)


# --- bucket labels ----------------------------------------------------------------------------------------


def test_bucket_labels_first_label_may_precede_start() -> None:
    assert_series_equal(bucket_labels(at(7), at(45), timedelta(seconds=10)), seconds(0, 10, 20, 30, 40))


def test_bucket_labels_aligned_start() -> None:
    assert_series_equal(bucket_labels(at(10), at(40), timedelta(seconds=10)), seconds(10, 20, 30))


# --- point-count grids ------------------------------------------------------------------------------------


def test_count_grid_both_ends_included() -> None:
    assert_series_equal(count_grid(at(0), at(100), 5), seconds(0, 25, 50, 75, 100))
    assert_series_equal(count_grid(at(0), at(100), 2), seconds(0, 100))


def test_count_grid_uneven_span_floors_to_microseconds() -> None:
    grid = count_grid(at(0), at(1), 4)  # 1 s / 3
    assert grid.cast(pl.Int64).to_list() == [0, 333_333, 666_666, 1_000_000]


def test_count_step() -> None:
    assert count_step(at(0), at(100), 5) == timedelta(seconds=25)


@pytest.mark.parametrize("points", [1, 0, -3])
def test_count_grid_needs_two_points(points: int) -> None:
    with pytest.raises(ValueError):
        count_grid(at(0), at(100), points)


def test_count_grid_huge_span_does_not_overflow() -> None:
    start = datetime(1, 1, 1, tzinfo=UTC)
    end = datetime(9999, 12, 31, tzinfo=UTC)
    grid = count_grid(start, end, 100_001)
    assert grid.len() == 100_001
    assert grid[0] == start
    assert grid[-1] == end
    assert grid.is_sorted()


# --- default tolerance ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (timedelta(0), timedelta(minutes=15)),
        (timedelta(minutes=1), timedelta(minutes=15)),
        (timedelta(minutes=3, seconds=45), timedelta(minutes=15)),  # exactly the floor
        (timedelta(minutes=5), timedelta(minutes=20)),
        (timedelta(hours=1), timedelta(hours=4)),
        (timedelta(hours=6), timedelta(hours=24)),  # exactly the ceiling
        (timedelta(hours=7), timedelta(hours=24)),
        (timedelta(days=1), timedelta(hours=24)),
    ],
)
def test_default_tolerance(step: timedelta, expected: timedelta) -> None:
    assert default_tolerance(step) == expected


def test_to_us_round_trip() -> None:
    t = datetime(2024, 2, 29, 23, 59, 59, 123_456, tzinfo=UTC)
    assert from_us(to_us(t)) == t
    assert to_us(datetime(1970, 1, 1, 1)) == 3_600_000_000  # naive is UTC
    assert to_us(timedelta(days=-1, microseconds=5)) == -86_400_000_000 + 5


# --- properties -------------------------------------------------------------------------------------------

WINDOWS = st.tuples(st.integers(-10_000, 10_000), st.integers(1, 5_000), st.integers(1, 600)).filter(
    lambda w: w[1] // w[2] <= 2_000
)


@given(window=WINDOWS)
def test_duration_grid_matches_reference(window: tuple[int, int, int]) -> None:
    start, length, step = window
    lo, hi = at(start), at(start + length)
    grid = duration_grid(lo, hi, timedelta(seconds=step))
    assert_grid_invariants(grid, lo, hi)
    assert_series_equal(grid, seconds(*ref_duration_grid(start, start + length, step)))


@given(window=WINDOWS)
def test_bucket_labels_match_reference(window: tuple[int, int, int]) -> None:
    start, length, step = window
    labels = bucket_labels(at(start), at(start + length), timedelta(seconds=step))
    assert labels.is_sorted()
    assert_series_equal(labels, seconds(*ref_bucket_labels(start, start + length, step)))


@given(start=st.integers(-10**6, 10**6), length=st.integers(1, 10**7), points=st.integers(2, 500))
def test_count_grid_invariants(start: int, length: int, points: int) -> None:
    lo, hi = at(start), at(start + length)
    grid = count_grid(lo, hi, points)
    assert grid.len() == points
    assert grid[0] == lo
    assert grid[-1] == hi
    assert grid.is_sorted()
    assert grid.n_unique() == points  # every span here is >= 1 s, far more than points microseconds
    # evenly spaced: every step is the exact step floored or ceiled to a microsecond
    exact = length * 1_000_000 / (points - 1)
    diffs = grid.cast(pl.Int64).diff().drop_nulls()
    assert diffs.min() >= int(exact)  # type: ignore[operator]
    assert diffs.max() <= int(exact) + 1  # type: ignore[operator]


@given(step=st.integers(0, 10**6).map(lambda s: timedelta(seconds=s)))
def test_default_tolerance_matches_reference(step: timedelta) -> None:
    assert default_tolerance(step) == ref_default_tolerance(step)
