"""End to end on the embedded default: raw -> grid -> export for consecutive daily partitions."""

from __future__ import annotations

import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from datahub_assets.definitions import build_definitions
from datahub_assets.engine.align import align
from datahub_assets.materialize import materialize_partitions
from datahub_assets.window import read_many
from resources.catalog import load_catalog
from resources.registry import make_lake
from resources.settings import DEMO_CATALOG, Settings

DAYS = ["2017-01-01", "2017-01-02"]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dg.DagsterInstance]:
    lake = tmp_path_factory.mktemp("lake")
    defs = build_definitions(load_catalog(DEMO_CATALOG), Settings(lake=str(lake)))
    with dg.instance_for_test() as instance:
        failed = materialize_partitions("*", DAYS, defs=defs, instance=instance, echo=lambda _: None)
        assert failed == []
        yield lake, instance


def tetouan(real_data: Path, until: datetime = datetime(2017, 1, 3, tzinfo=UTC)) -> pl.DataFrame:
    """The published file read independently: naive stamps in UTC (one offset all year)."""
    return pl.read_csv(real_data / "tetouan" / "tetouan_city_power_2017-01_03.csv").select(
        pl.col("DateTime").str.strptime(pl.Datetime("us", "UTC"), "%m/%d/%y %H:%M").alias("ts"),
        pl.col("Zone 1 Power Consumption").alias("z1"),
        pl.col("Zone 2 Power Consumption").alias("z2"),
        pl.col(pl.String).exclude("DateTime").name.keep(),
        pl.col("Temperature").alias("temp"),
    ).filter(pl.col("ts") < until)


def test_hourly_export_holds_hourly_means_of_the_published_data(
    demo_run: tuple[Path, dg.DagsterInstance], real_data: Path
) -> None:
    lake, _ = demo_run
    export = pl.read_parquet(lake / "default/export/city_hourly_parquet/date=2017-01-02/data.parquet")
    assert export.columns == ["timestamp", "urn:tetouan:zone1.power", "urn:tetouan:zone2.power",
                              "urn:tetouan:zone3.power"]
    assert export.schema["timestamp"] == pl.Datetime("us", "UTC")
    assert export.height == 24
    truth = (tetouan(real_data).filter(pl.col("ts") >= datetime(2017, 1, 2, tzinfo=UTC))
             .group_by(pl.col("ts").dt.truncate("1h")).agg(pl.col("z1").mean(), pl.col("z2").mean()).sort("ts"))
    assert export["timestamp"].to_list() == truth["ts"].to_list()
    assert export["urn:tetouan:zone1.power"].to_list() == pytest.approx(truth["z1"].to_list(), rel=1e-12)
    assert export["urn:tetouan:zone2.power"].to_list() == pytest.approx(truth["z2"].to_list(), rel=1e-12)


def test_locf_csv_export_carries_readings_and_synthetic_source(
    demo_run: tuple[Path, dg.DagsterInstance], real_data: Path
) -> None:
    lake, _ = demo_run
    for day in DAYS:
        csv = pl.read_csv(lake / f"default/export/city_and_plant_csv/date={day}/data.csv")
        assert csv.height == 1440
        assert csv["timestamp"][0] == f"{day}T00:00:00Z"
        assert csv.null_count().sum_horizontal().item() == 0
    csv = pl.read_csv(lake / "default/export/city_and_plant_csv/date=2017-01-02/data.csv")
    truth = tetouan(real_data).filter(pl.col("ts") >= datetime(2017, 1, 2, tzinfo=UTC))
    # 00:00..00:09 all carry the 00:00 reading; 00:10 takes the next one.
    assert csv["urn:tetouan:zone1.power"][:10].to_list() == [truth["z1"][0]] * 10
    assert csv["urn:tetouan:zone1.power"][10] == truth["z1"][1]
    assert csv["urn:tetouan:weather.temperature"][15] == truth["temp"][1]


def test_partitions_materialized_with_metadata_and_checks(demo_run: tuple[Path, dg.DagsterInstance]) -> None:
    _, instance = demo_run
    key = dg.AssetKey(["raw", "tetouan", "urn_tetouan_zone1_power"])
    assert instance.get_materialized_partitions(key) == set(DAYS)
    event = instance.get_latest_materialization_event(key)
    assert event is not None and event.asset_materialization is not None
    meta = event.asset_materialization.metadata
    assert meta["dagster/row_count"].value == 144
    assert "preview" in meta and "dagster/column_schema" in meta and "first_ts" in meta
    grid = instance.get_latest_materialization_event(dg.AssetKey(["grid", "city_and_plant_1m"]))
    assert grid is not None and grid.asset_materialization is not None
    assert grid.asset_materialization.metadata["dagster/row_count"].value == 1440
    check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(key, "values_in_range")]
    )[dg.AssetCheckKey(key, "values_in_range")]
    assert check.status.value == "SUCCEEDED"


CARRY_CATALOG = """\
partitions: {start: "2024-03-01"}
sources:
  meter: {kind: file, path: meter.csv, timestamp_column: ts}
series:
  - {entity: m1, attribute: kwh, source: meter, column: m1, cadence: 10m, checks: {min: 0}}
  - {entity: m2, attribute: kwh, source: meter, column: m2, cadence: 10m}
grids:
  - {id: both, series: [m2.kwh, m1.kwh], resolution: 5m, method: locf, tolerance: 20m}
exports:
  - {id: both_parquet, grid: both}
"""

METER = """\
ts,m1,m2
2024-03-01T23:50:00Z,1.0,10
2024-03-01T23:55:00Z,,11
2024-03-02T00:07:00Z,2.0,
2024-03-02T00:07:00Z,3.0,
2024-03-02T00:30:00Z,-1.0,12
"""


def test_carry_in_crosses_the_partition_boundary_and_failing_range_check_blocks(tmp_path: Path) -> None:
    (tmp_path / "meter.csv").write_text(METER)
    (tmp_path / "catalog.yaml").write_text(textwrap.dedent(CARRY_CATALOG))
    defs = build_definitions(load_catalog(tmp_path / "catalog.yaml"), Settings(lake=str(tmp_path / "lake")))
    with dg.instance_for_test() as instance:
        failed = materialize_partitions("*", ["2024-03-01", "2024-03-02"], defs=defs, instance=instance,
                                        echo=lambda _: None)
        # Day 2 holds -1 kWh for m1: its blocking range check fails, so the grid and export of day 2 wait.
        assert failed == ["2024-03-02"]
        assert instance.get_materialized_partitions(dg.AssetKey(["grid", "both"])) == {"2024-03-01"}
    day2_m2 = pl.read_parquet(tmp_path / "lake/default/raw/meter/m2_kwh/date=2024-03-02/data.parquet")
    assert day2_m2["value"].to_list() == [12.0]
    day2_m1 = pl.read_parquet(tmp_path / "lake/default/raw/meter/m1_kwh/date=2024-03-02/data.parquet")
    assert day2_m1["value"].to_list() == [3.0, -1.0]  # the duplicate stamp: last wins

    # The grid's day-2 cells, aligned from the lake as the grid asset does: m2's carry-in comes from day 1.
    catalog = load_catalog(tmp_path / "catalog.yaml")
    lake = make_lake(Settings(lake=str(tmp_path / "lake")))
    start, end = datetime(2024, 3, 2, tzinfo=UTC), datetime(2024, 3, 2, 1, tzinfo=UTC)
    frames = read_many(lake, catalog, [catalog.series[1], catalog.series[0]], start=start, end=end,
                       carry=timedelta(minutes=20))
    grid = align(frames, ["m2", "m1"], start=start, end=end, resolution=timedelta(minutes=5),
                 tolerance=timedelta(minutes=20)).collect()
    # 00:15 - 23:55 = 20 min: the tolerance is inclusive.
    assert grid["m2"].to_list()[:8] == [11.0, 11.0, 11.0, 11.0, None, None, 12.0, 12.0]
    assert grid["m1"].to_list()[:4] == [1.0, 1.0, 3.0, 3.0]


@pytest.mark.integration
def test_demo_day_on_an_s3_lake(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, real_data: Path) -> None:
    """The same assets against S3 (a real endpoint over HTTP): secrets reach the run as EnvVars."""
    from tests.conftest import S3_BUCKET
    from tests.s3 import ACCESS_KEY, SECRET_KEY

    monkeypatch.setenv("S3_ACCESS_KEY", ACCESS_KEY)
    monkeypatch.setenv("S3_SECRET_KEY", SECRET_KEY)
    root = f"s3://{S3_BUCKET}/e2e-{uuid.uuid4().hex[:8]}"
    settings = Settings(lake=root, s3_endpoint=s3_endpoint, s3_access_key=ACCESS_KEY, s3_secret_key=SECRET_KEY)
    defs = build_definitions(load_catalog(DEMO_CATALOG), settings)
    with dg.instance_for_test() as instance:
        failed = materialize_partitions("key:raw/tetouan/* or key:grid/city_hourly or key:export/city_hourly_parquet",
                                        ["2017-01-03"], defs=defs, instance=instance, echo=lambda _: None)
    assert failed == []
    lake = make_lake(settings)
    with dg.build_resources({"lake": lake}) as built:
        options = built.lake.storage_options()
    export = pl.read_parquet(f"{root}/default/export/city_hourly_parquet/date=2017-01-03/data.parquet",
                             storage_options=options)
    day = tetouan(real_data, until=datetime(2017, 1, 4, tzinfo=UTC)).filter(
        pl.col("ts") >= datetime(2017, 1, 3, tzinfo=UTC))
    truth = day.group_by(pl.col("ts").dt.truncate("1h")).agg(pl.col("z1").mean()).sort("ts")
    assert export["timestamp"].to_list() == truth["ts"].to_list()
    assert export["urn:tetouan:zone1.power"].to_list() == pytest.approx(truth["z1"].to_list(), rel=1e-12)
