"""The file source on real exports: TransnetBW (`;`, decimal comma, German local time, DST) and Tetouan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from resources.sources.base import SeriesRef, SourceError
from resources.sources.file import FileSource

EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))
ACTUAL = SeriesRef("urn:transnetbw:wind", "actual", "Ist-Wert (MW)")
FORECAST = SeriesRef("urn:transnetbw:wind", "forecast", "Prognose (MW)")
QUARTER = timedelta(minutes=15)


def transnetbw(path: Path | str, *, interval_end: bool = True) -> FileSource:
    """Readings are stamped by interval start; the end columns are the reliable ones around DST changes."""
    columns = ["Datum bis", "Uhrzeit bis"] if interval_end else ["Datum von", "Uhrzeit von"]
    return FileSource(
        name="transnetbw", path=str(path), timestamp_column=columns, timestamp_format="%d.%m.%Y %H:%M:%S",
        timezone="Europe/Berlin", delimiter=";", decimal=",",
        timestamp_offset="-15m" if interval_end else "0s",
    )


def read(source: FileSource, series: SeriesRef = ACTUAL) -> pl.DataFrame:
    return source.read(series, start=EVER[0], end=EVER[1])


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("months", "first"),
    [(["2015-03_corrected", "2015-04"], utc(2015, 2, 28, 23)),  # 01.03.2015 00:00 CET, across the spring change
     (["2015-10", "2015-11"], utc(2015, 9, 30, 22))],  # 01.10.2015 00:00 CEST, across the autumn change
)
def test_months_are_a_regular_quarter_hour_series_in_utc(real_data: Path, months: list[str], first: datetime) -> None:
    files = [real_data / "transnetbw" / f"wind_{m}.csv" for m in months]
    frame = pl.concat([read(transnetbw(p)) for p in files])
    steps = frame["ts"].diff().drop_nulls().unique().to_list()
    assert steps == [QUARTER], "every reading sits 15 min after the one before, across the DST change"
    assert frame["ts"][0] == first
    lines = sum(len(p.read_text().splitlines()) - 1 for p in files)
    assert frame.height == lines


def test_repeated_hour_keeps_both_readings_in_order(real_data: Path) -> None:
    frame = read(transnetbw(real_data / "transnetbw" / "wind_2015-10.csv"))
    local_day = frame.filter(pl.col("ts").is_between(utc(2015, 10, 24, 22), utc(2015, 10, 25, 23), closed="left"))
    assert local_day.height == 100  # a 25-hour day
    at = dict(zip(local_day["ts"].to_list(), local_day["value"].to_list(), strict=True))
    # File rows: "25.10.2015;02:45:00;..;02:00:00;238,00;131" (02:45 summer time) and
    # "25.10.2015;02:00:00;..;02:15:00;238,00;134" (02:00 winter time), "..03:45:00;..03:00:00;241,00;134".
    assert at[utc(2015, 10, 25, 0, 45)] == 131
    assert at[utc(2015, 10, 25, 1, 0)] == 134
    assert at[utc(2015, 10, 25, 1, 45)] == 134


def test_skipped_hour_has_no_reading(real_data: Path) -> None:
    frame = read(transnetbw(real_data / "transnetbw" / "wind_2015-03_corrected.csv"))
    local_day = frame.filter(pl.col("ts").is_between(utc(2015, 3, 28, 23), utc(2015, 3, 29, 22), closed="left"))
    assert local_day.height == 92  # a 23-hour day
    # "29.03.2015;01:45:00;29.03.2015;03:00:00;;224" is the last reading before the skipped hour.
    assert local_day.filter(pl.col("ts") == utc(2015, 3, 29, 0, 45))["value"].to_list() == [224]
    assert local_day.filter(pl.col("ts") == utc(2015, 3, 29, 1, 0))["value"].to_list() == [222]


def test_interval_start_columns_follow_the_same_dst_rules(real_data: Path) -> None:
    """Localizing the start columns: the first 02:xx of 25 Oct is summer time, the second winter time."""
    frame = read(transnetbw(real_data / "transnetbw" / "wind_2015-10.csv", interval_end=False))
    by_end = read(transnetbw(real_data / "transnetbw" / "wind_2015-10.csv"))
    assert frame.filter(pl.col("ts") == utc(2015, 10, 25, 0, 0))["value"].to_list() == [137]  # 02:00 CEST
    assert frame.filter(pl.col("ts") == utc(2015, 10, 25, 1, 0))["value"].to_list() == [134]  # 02:00 CET
    # Away from the changes both stampings agree row for row.
    assert frame.head(2000).equals(by_end.head(2000))
    corrected = read(transnetbw(real_data / "transnetbw" / "wind_2015-03_corrected.csv", interval_end=False))
    assert corrected.equals(read(transnetbw(real_data / "transnetbw" / "wind_2015-03_corrected.csv")))


def test_corrupted_march_export_reads_like_the_corrected_one_by_interval_end(real_data: Path) -> None:
    folder = real_data / "transnetbw"
    assert read(transnetbw(folder / "wind_2015-03.csv")).equals(read(transnetbw(folder / "wind_2015-03_corrected.csv")))


def test_decimal_comma_and_empty_values(real_data: Path) -> None:
    actual = read(transnetbw(real_data / "transnetbw" / "wind_2015-11.csv"), ACTUAL)
    assert actual["value"].null_count() == 122  # empty fields stay null (the raw asset drops them)
    frame = read(transnetbw(real_data / "transnetbw" / "wind_2015-11.csv"), FORECAST)
    assert frame["value"].null_count() == 0
    first = frame.row(0, named=True)
    assert first["value"] == pytest.approx(float((real_data / "transnetbw" / "wind_2015-11.csv")
                                                 .read_text().splitlines()[1].split(";")[4].replace(",", ".")))


def test_glob_reads_files_in_path_order(real_data: Path) -> None:
    frame = read(transnetbw(real_data / "transnetbw" / "wind_2015-0[3-4]*.csv"))
    # wind_2015-03.csv, wind_2015-03_corrected.csv, wind_2015-04.csv: March twice, the corrected one last.
    assert frame.height == 2972 * 2 + 2880


def test_a_reading_inside_the_skipped_hour_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "gap.csv"
    path.write_text("Datum von;Uhrzeit von;Wert\n29.03.2015;01:45:00;1,5\n29.03.2015;02:15:00;2,5\n")
    source = FileSource(name="gappy", path=str(path), timestamp_column=["Datum von", "Uhrzeit von"],
                        timestamp_format="%d.%m.%Y %H:%M:%S", timezone="Europe/Berlin", delimiter=";", decimal=",")
    with pytest.raises(SourceError, match=r"gappy.*2015-03-29 02:15:00.*data row 2.*does not exist"):
        source.read(SeriesRef("e", "a", "Wert"), start=EVER[0], end=EVER[1])


def test_non_numbers_and_unknown_columns_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("ts,v\n2020-01-01T00:00:00Z,1\n2020-01-01T00:10:00Z,oops\n")
    source = FileSource(name="bad", path=str(path), timestamp_column=["ts"])
    with pytest.raises(SourceError, match=r"column 'v' at file #1, data row 2 is not a number"):
        source.read(SeriesRef("e", "a", "v"), start=EVER[0], end=EVER[1])
    with pytest.raises(SourceError, match=r"no column 'w'"):
        source.read(SeriesRef("e", "a", "w"), start=EVER[0], end=EVER[1])
    with pytest.raises(SourceError, match="no file matches"):
        FileSource(name="none", path=str(tmp_path / "*.nothing"), timestamp_column=["ts"]).load()


def test_offsets_epochs_and_parquet(tmp_path: Path) -> None:
    iso = tmp_path / "iso.csv"
    iso.write_text("ts,v\n2020-01-01T01:00:00+01:00,1\n2020-01-01T00:10:00Z,2\n")
    frame = FileSource(name="iso", path=str(iso), timestamp_column=["ts"]).read(
        SeriesRef("e", "a", "v"), start=EVER[0], end=EVER[1])
    assert frame["ts"].to_list() == [utc(2020, 1, 1, 0, 0), utc(2020, 1, 1, 0, 10)]
    epoch = tmp_path / "epoch.csv"
    epoch.write_text("ts,v\n1577836800000,1\n1577837400500,2\n")
    frame = FileSource(name="ms", path=str(epoch), timestamp_column=["ts"], timestamp_unit="ms").read(
        SeriesRef("e", "a", "v"), start=EVER[0], end=EVER[1])
    assert frame["ts"].to_list() == [utc(2020, 1, 1), utc(2020, 1, 1, 0, 10, 0, 500_000)]
    parquet = tmp_path / "p.parquet"
    pl.DataFrame({"when": [utc(2020, 1, 1)], "v": [3]}).write_parquet(parquet)
    frame = FileSource(name="pq", path=str(parquet), timestamp_column=["when"]).read(
        SeriesRef("e", "a", "v"), start=EVER[0], end=EVER[1])
    assert frame.to_dicts() == [{"ts": utc(2020, 1, 1), "value": 3.0}]


def test_tetouan_stamps_keep_one_offset_all_year(real_data: Path) -> None:
    """The Tetouan export is regular all year: its clock skips no hour, so it is not Moroccan wall time."""
    path = str(real_data / "tetouan" / "tetouan_city_power_2017-01_03.csv")
    source = FileSource(name="tetouan", path=path, timestamp_column=["DateTime"], timestamp_format="%m/%d/%y %H:%M")
    day = source.read(SeriesRef("urn:tetouan:zone3", "power", "Zone 3 Power Consumption"),
                      start=utc(2017, 1, 1), end=utc(2017, 1, 2))
    assert day.height == 144
    assert day.row(0) == (utc(2017, 1, 1), pytest.approx(20240.96386))
    assert source.load()["ts"].diff().drop_nulls().unique().to_list() == [timedelta(minutes=10)]
    # Read as Africa/Casablanca wall time, 2017-03-26 02:00 fell in the hour Morocco skipped: an error.
    local = source.model_copy(update={"timezone": "Africa/Casablanca"})
    with pytest.raises(SourceError, match=r"2017-03-26 02:00:00 at file #1, data row 12109 does not exist"):
        local.load()
