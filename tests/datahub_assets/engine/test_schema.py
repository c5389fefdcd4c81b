"""schema: the canonical series shape, and `clean` (nulls out first, sorted, last row wins)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from polars.testing.parametric import column, dataframes

from datahub_assets.engine.schema import SERIES_SCHEMA, TS, TS_DTYPE, VALUE, check_series, clean, to_canonical
from tests.datahub_assets.engine.reference import EPOCH, frame, ref_clean, series


def test_to_canonical_naive_is_utc_and_values_float() -> None:
    lf = pl.LazyFrame({TS: [datetime(2024, 1, 1, 12)], VALUE: [3]})
    expected = pl.DataFrame({TS: [datetime(2024, 1, 1, 12, tzinfo=UTC)], VALUE: [3.0]}, schema=SERIES_SCHEMA)
    assert_frame_equal(to_canonical(lf).collect(), expected)


def test_to_canonical_converts_other_zones_and_units() -> None:
    berlin = pl.LazyFrame({TS: [datetime(2024, 7, 1, 12)], VALUE: [1.5]}).with_columns(
        pl.col(TS).dt.cast_time_unit("ns").dt.replace_time_zone("Europe/Berlin")
    )
    expected = pl.DataFrame({TS: [datetime(2024, 7, 1, 10, tzinfo=UTC)], VALUE: [1.5]}, schema=SERIES_SCHEMA)
    out = to_canonical(berlin).collect()
    assert out.schema == SERIES_SCHEMA
    assert_frame_equal(out, expected)


def test_to_canonical_drops_extra_columns() -> None:
    lf = pl.LazyFrame({"extra": ["x"], VALUE: [1.0], TS: [datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC"))]})
    assert to_canonical(lf).collect_schema().names() == [TS, VALUE]


@pytest.mark.parametrize(
    "lf",
    [
        pl.LazyFrame({"time": [datetime(2024, 1, 1)], VALUE: [1.0]}),
        pl.LazyFrame({TS: ["2024-01-01"], VALUE: [1.0]}),
        pl.LazyFrame({TS: [datetime(2024, 1, 1)], "v": [1.0]}),
        pl.LazyFrame({TS: [datetime(2024, 1, 1)], VALUE: ["1.0"]}),
    ],
)
def test_check_series_rejects_wrong_shape(lf: pl.LazyFrame) -> None:
    with pytest.raises(ValueError):
        check_series(lf)


def test_clean_sorts_and_last_row_wins() -> None:
    lf = series([(30, 3.0), (10, 1.0), (20, 2.0), (10, 11.0), (30, 33.0)])
    assert_frame_equal(clean(lf).collect(), frame([10, 20, 30], {VALUE: [11.0, 2.0, 33.0]}))


def test_clean_null_never_hides_a_value() -> None:
    # the null and the NaN arrive after the real values: they must not win the duplicate
    lf = series([(10, 1.0), (10, None), (20, 2.0), (20, math.nan), (30, None), (40, math.nan)])
    assert_frame_equal(clean(lf).collect(), frame([10, 20], {VALUE: [1.0, 2.0]}))


def test_clean_keeps_last_real_value_around_nulls() -> None:
    lf = series([(10, None), (10, 1.0), (10, math.nan), (10, 2.0), (10, None)])
    assert_frame_equal(clean(lf).collect(), frame([10], {VALUE: [2.0]}))


def test_clean_empty() -> None:
    out = clean(series([])).collect()
    assert out.schema == SERIES_SCHEMA
    assert out.height == 0


# --- properties -------------------------------------------------------------------------------------------

VALUES = st.one_of(st.none(), st.just(math.nan), st.integers(-5, 5).map(float))
RAW_ROWS = st.lists(st.tuples(st.integers(-20, 20), VALUES), max_size=30)


def assert_clean_invariants(out: pl.DataFrame) -> None:
    """A clean series: canonical schema, ts sorted and unique, no null or NaN values."""
    assert out.schema == SERIES_SCHEMA
    ts = out.get_column(TS)
    assert ts.is_sorted()
    assert ts.n_unique() == out.height
    assert out.get_column(VALUE).null_count() == 0
    assert not out.get_column(VALUE).is_nan().any()


@given(rows=RAW_ROWS)
def test_clean_matches_reference(rows: list[tuple[int, float | None]]) -> None:
    out = clean(series(rows)).collect()
    assert_clean_invariants(out)
    expected = ref_clean(rows)
    assert_frame_equal(out, frame([t for t, _ in expected], {VALUE: [v for _, v in expected]}))


@given(
    df=dataframes(
        [
            column(
                TS,
                dtype=TS_DTYPE,
                strategy=st.integers(0, 40).map(lambda s: EPOCH + timedelta(seconds=s)),
                allow_null=False,
            ),
            column(VALUE, dtype=pl.Float64, allow_null=True),
        ],
        max_size=40,
        lazy=True,
    )
)
def test_clean_idempotent(df: pl.LazyFrame) -> None:
    once = clean(df).collect()
    assert_clean_invariants(once)
    assert_frame_equal(clean(once.lazy()).collect(), once)
    assert once.get_column(TS).dtype == TS_DTYPE
