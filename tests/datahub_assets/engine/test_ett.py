"""Real data, ETDataset (zhouhaoyi/ETDataset, CC BY-ND 4.0): ETTh1 is ETTm1 sampled at each full hour.

So the 15-min signals carried forward (locf) onto an hourly grid must reproduce the hourly file, and hourly means
must not. Naive stamps in the files are taken as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from datahub_assets.engine.align import align
from datahub_assets.engine.schema import TS, VALUE, clean

COLUMNS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
H = timedelta(hours=1)


def read_ett(path: Path) -> pl.DataFrame:
    df = pl.read_csv(path, try_parse_dates=True).rename({"date": TS})
    assert df.columns == [TS, *COLUMNS]
    return df.with_columns(pl.col(TS).dt.replace_time_zone("UTC").dt.cast_time_unit("us"))


@pytest.fixture(scope="module")
def ett(real_data: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    return read_ett(real_data / "ett" / "ETTm1_2016-07_08.csv"), read_ett(real_data / "ett" / "ETTh1_2016-07_08.csv")


def hourly(minutes: pl.DataFrame, method: str) -> pl.DataFrame:
    frames = [clean(minutes.lazy().select(TS, pl.col(c).alias(VALUE))) for c in COLUMNS]
    start = minutes.get_column(TS).min()
    last = minutes.get_column(TS).max()
    assert isinstance(start, datetime)
    assert isinstance(last, datetime)
    return align(frames, COLUMNS, start=start, end=last + H, resolution=H, method=method).collect()  # type: ignore[arg-type]


def max_abs_diff(a: pl.DataFrame, b: pl.DataFrame) -> float:
    joined = a.join(b, on=TS, how="inner", suffix="_b")
    return max(float((joined[c] - joined[f"{c}_b"]).abs().max()) for c in COLUMNS)  # type: ignore[arg-type]


def test_files_as_described(ett: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    minutes, hours = ett
    assert minutes.height == 5_949  # 2016-07-01 00:00 to 2016-08-31 23:00, every 15 min
    assert hours.height == 1_488
    assert minutes.get_column(TS).diff().drop_nulls().unique().to_list() == [timedelta(minutes=15)]
    assert hours.get_column(TS).diff().drop_nulls().unique().to_list() == [H]
    assert minutes.get_column(TS).max() == datetime(2016, 8, 31, 23, tzinfo=UTC)


def test_locf_onto_hours_reproduces_ett_h1(ett: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    minutes, hours = ett
    out = hourly(minutes, "locf")
    assert out.columns == [TS, *COLUMNS]
    # every hour from 2016-07-01 00:00 to 2016-08-31 23:00, present in both
    overlap = hours.filter(pl.col(TS) <= minutes.get_column(TS).max())
    assert out.height == overlap.height == (5_949 - 1) // 4 + 1
    assert out.get_column(TS).to_list() == overlap.get_column(TS).to_list()
    assert out.null_count().sum_horizontal().item() == 0
    assert max_abs_diff(out, overlap) < 1e-9


def test_hourly_mean_does_not_reproduce_ett_h1(ett: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    """The check above would fail for an aggregate: hourly means are far from the hourly samples."""
    minutes, hours = ett
    means = hourly(minutes, "mean")
    assert means.height == hours.filter(pl.col(TS) <= minutes.get_column(TS).max()).height
    assert max_abs_diff(means, hours) > 1.0
