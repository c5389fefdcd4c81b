"""quality: the counts of one fetched partition (rows, nulls, duplicates, backwards, range, gaps)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import polars as pl
import pytest

from datahub_assets.engine.quality import quality
from tests.datahub_assets.engine.reference import Pairs, at, series

S = timedelta(seconds=1)
COLUMNS = ["rows", "nulls", "backwards", "duplicates", "out_of_range", "first_ts", "last_ts", "gaps", "largest_gap"]


def counts(pairs: Pairs, *, start: int = 0, end: int = 100, **kwargs: Any) -> dict[str, Any]:
    out = quality(series(pairs), start=at(start), end=at(end), **kwargs).collect()
    assert out.columns == COLUMNS
    assert out.height == 1
    return out.row(0, named=True)


def test_clean_input() -> None:
    c = counts([(10, 1.0), (20, 2.0), (30, 3.0)])
    assert c == {"rows": 3, "nulls": 0, "backwards": 0, "duplicates": 0, "out_of_range": 0, "first_ts": at(10),
                 "last_ts": at(30), "gaps": 0, "largest_gap": 70.0}


def test_nulls_and_nan_count_as_nulls() -> None:
    c = counts([(10, None), (20, math.nan), (30, 3.0)])
    assert (c["rows"], c["nulls"]) == (3, 2)
    assert c["first_ts"] == at(30)  # the readings that count are the real values


def test_duplicates_ignore_nulls() -> None:
    # 10: 1.0, null, 2.0 -> one duplicate; 20: NaN, 3.0 -> none; 30: 4.0, 4.0 -> one (same value still counts)
    c = counts([(10, 1.0), (10, None), (10, 2.0), (20, math.nan), (20, 3.0), (30, 4.0), (30, 4.0)])
    assert (c["rows"], c["nulls"], c["duplicates"], c["backwards"]) == (7, 2, 2, 0)


def test_backwards_counts_each_step_back() -> None:
    c = counts([(10, 1.0), (30, 2.0), (20, 3.0), (40, 4.0), (5, 5.0), (6, 6.0)])
    assert c["backwards"] == 2
    assert c["duplicates"] == 0
    assert (c["first_ts"], c["last_ts"]) == (at(5), at(40))


def test_backwards_repeat_of_a_block_is_one_step_back_and_duplicates() -> None:
    # like machine_temperature: 0, 10, 20, then 0, 10, 20 again
    c = counts([(0, 1.0), (10, 2.0), (20, 3.0), (0, 4.0), (10, 5.0), (20, 6.0)])
    assert (c["backwards"], c["duplicates"]) == (1, 3)


def test_backwards_with_a_null_value_still_counts_the_stamp() -> None:
    c = counts([(10, 1.0), (5, None), (20, 2.0)])
    assert (c["backwards"], c["nulls"]) == (1, 1)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, 0),
        ({"minimum": 2.0}, 1),  # 1.0 below; 2.0 on the bound is inside
        ({"maximum": 3.0}, 1),  # 4.0 above; 3.0 on the bound is inside
        ({"minimum": 2.0, "maximum": 3.0}, 2),
        ({"minimum": 5.0}, 4),
    ],
)
def test_out_of_range_bounds_inclusive(kwargs: dict[str, Any], expected: int) -> None:
    assert counts([(10, 1.0), (20, 2.0), (30, 3.0), (40, 4.0), (50, None)], **kwargs)["out_of_range"] == expected


def test_out_of_range_on_the_value_that_wins_a_duplicate() -> None:
    # the stored value at 10 is 2.0 (last wins); the bad 100.0 before it is not stored
    assert counts([(10, 100.0), (10, 2.0)], maximum=10.0)["out_of_range"] == 0
    assert counts([(10, 2.0), (10, 100.0)], maximum=10.0)["out_of_range"] == 1


@pytest.mark.parametrize(
    ("closed", "max_gap", "gaps", "largest"),
    [
        # edges 0 | 10 20 50 | 100: spaces 10, 10, 30, 50 (closed) or 10, 10, 30 (open)
        (True, 30 * S, 1, 50.0),  # 30 is not wider than 30; 50 is
        (False, 30 * S, 0, 30.0),
        (True, 9 * S, 4, 50.0),
        (False, 9 * S, 3, 30.0),
        (True, None, 0, 50.0),
        (False, None, 0, 30.0),
    ],
)
def test_gaps(closed: bool, max_gap: timedelta | None, gaps: int, largest: float) -> None:
    c = counts([(20, 2.0), (10, 1.0), (50, 3.0)], max_gap=max_gap, closed=closed)
    assert (c["gaps"], c["largest_gap"]) == (gaps, largest)


def test_gaps_use_real_values_only() -> None:
    # the null at 30 does not close the gap 10 -> 60
    c = counts([(10, 1.0), (30, None), (60, 2.0), (90, 3.0)], max_gap=40 * S)
    assert (c["gaps"], c["largest_gap"]) == (1, 50.0)


def test_reading_on_the_window_start_is_no_gap() -> None:
    c = counts([(0, 1.0), (50, 2.0)], max_gap=60 * S)
    assert (c["gaps"], c["largest_gap"]) == (0, 50.0)


@pytest.mark.parametrize(("closed", "gaps", "largest"), [(True, 1, 100.0), (False, 0, None)])
def test_empty_partition(closed: bool, gaps: int, largest: float | None) -> None:
    # open: the window's end is not an edge yet, and the start alone spans nothing
    c = counts([], max_gap=60 * S, closed=closed)
    assert (c["rows"], c["nulls"], c["duplicates"], c["backwards"], c["out_of_range"]) == (0, 0, 0, 0, 0)
    assert (c["first_ts"], c["last_ts"]) == (None, None)
    assert (c["gaps"], c["largest_gap"]) == (gaps, largest)


def test_only_nulls_is_one_gap_over_the_window() -> None:
    c = counts([(10, None), (20, math.nan)], max_gap=60 * S)
    assert (c["rows"], c["nulls"], c["gaps"], c["largest_gap"]) == (2, 2, 1, 100.0)


def test_naive_input_is_utc() -> None:
    lf = pl.LazyFrame({"ts": [at(10).replace(tzinfo=None)], "value": [1]})
    out = quality(lf, start=at(0), end=at(100)).collect().row(0, named=True)
    assert out["first_ts"] == at(10)
